"""Network architectures of the deep-learning calibration strategies.

Every network maps its inputs to ``u``, the calibrated parameters in *normalised* units
(``u = 0`` at a parameter's lower bound, ``1`` at its upper bound). The output layer is linear,
so ``u`` is unbounded: training keeps it inside [0, 1] with the range-boundary loss (paper
eq. 13) and the surrogate only ever sees ``clamp(u, 0, 1)`` (see :mod:`._dl`). The last
layer's bias starts at 0.5 and its weights small, so an untrained network proposes roughly the
parameter-space midpoint.

Inputs (all normalised by the training loop):

``a``   ``(B, n_attr)`` static attributes of a cell (the paper's A)
``s``   ``(B, L, n_series)`` a window of the cell's time series: forcing X, the observed soil
        moisture Z with gaps filled by 0, and a mask channel (1 where Z was observed)

Architectures:

:class:`ParaFormerA`  attribute tokens -> transformer encoder -> MLP head (paper eq. 4-8)
:class:`ParaFormerZ`  attribute encoder queries cross-attend to an encoder of the (X, Z) series
                      (paper eq. 9-12)
:class:`FFNA`         fully connected A -> theta (dPL baseline, Tsai et al. 2021)
:class:`LSTMZ`        LSTM over (A, X, Z) windows, final state -> theta (dPL baseline)

:func:`build_network` makes any of them from a plain config dict (as stored in model files).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import StrategyError

__all__ = ["AttributeEmbedding", "SinusoidalPositionEncoding", "ParaFormerA", "ParaFormerZ", "FFNA", "LSTMZ",
           "NETWORKS", "build_network"]


def _init_head(linear: nn.Linear) -> None:
    """Small weights and bias 0.5: an untrained network starts near the parameter midpoint."""
    nn.init.normal_(linear.weight, std=1e-3)
    nn.init.constant_(linear.bias, 0.5)


class AttributeEmbedding(nn.Module):
    """Embed each attribute as a token: ``h_j = a_j * w_j + b_j`` (paper eq. 4, ``H = A W_em``).

    ``w_j`` (the value embedding) and ``b_j`` (an identity embedding telling the encoder which
    attribute a token stands for) are learned per attribute. Output ``(B, n_attr, d_model)``.
    """

    def __init__(self, n_attr: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_attr, d_model) / math.sqrt(d_model) * 2.0)
        self.identity = nn.Parameter(torch.randn(n_attr, d_model) * 0.1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a.unsqueeze(-1) * self.weight + self.identity


class SinusoidalPositionEncoding(nn.Module):
    """Fixed sine/cosine position encoding of Vaswani et al. (paper eq. 9, ``E_pos``)."""

    def __init__(self, d_model: int, max_len: int = 4096) -> None:
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        L = h.shape[1]
        if L > self.pe.shape[0]:
            raise StrategyError(f"window of {L} days is longer than the position encoding's {self.pe.shape[0]}")
        return h + self.pe[:L]


def _encoder(d_model: int, n_heads: int, n_layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=4 * d_model, dropout=dropout,
                                       activation="relu", batch_first=True)
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


def _check_heads(d_model: int, n_heads: int) -> None:
    if d_model < 1 or n_heads < 1 or d_model % n_heads:
        raise StrategyError(f"d_model ({d_model}) must be a positive multiple of n_heads ({n_heads})")


class ParaFormerA(nn.Module):
    """ParaFormer-A: attribute tokens -> N-layer transformer encoder -> MLP head -> ``u`` (B, p).

    Tokens are pooled by their mean after the encoder (self-attention has mixed them, and the
    identity embeddings keep attributes apart); the head is ``Linear-ReLU-Linear``.
    """

    def __init__(self, n_attr: int, n_params: int, d_model: int = 128, n_heads: int = 4, n_layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        _check_heads(d_model, n_heads)
        self.embed = AttributeEmbedding(n_attr, d_model)
        self.encoder = _encoder(d_model, n_heads, n_layers, dropout)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_model, n_params))
        _init_head(self.head[-1])

    def encode(self, a: torch.Tensor) -> torch.Tensor:
        """Encoded attribute tokens ``(B, n_attr, d_model)``."""
        return self.encoder(self.embed(a))

    def forward(self, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encode(a).mean(dim=1))


class ParaFormerZ(nn.Module):
    """ParaFormer-Z: queries from an attribute encoder meet keys/values of a series encoder.

    * series branch: ``H_Z = S W_em^Z + E_pos`` (linear embedding + sinusoidal positions, eq. 9),
      then an N-layer transformer encoder giving ``K_Z``/``V_Z``;
    * attribute branch: the ParaFormer-A encoder, projected to queries ``Q_A`` (eq. 10);
    * ``N`` cross-attention blocks ``O_Z = CrossAttention(Q_A, K_Z, V_Z)`` each followed by
      ``FFN(O_Z + Q_A) + O_Z + Q_A`` with layer normalisation (eq. 11-12);
    * mean over the attribute tokens and an MLP head to ``u`` (B, p).
    """

    def __init__(self, n_attr: int, n_series: int, n_params: int, d_model: int = 256, n_heads: int = 8,
                 n_layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        _check_heads(d_model, n_heads)
        self.embed_a = AttributeEmbedding(n_attr, d_model)
        self.encoder_a = _encoder(d_model, n_heads, n_layers, dropout)
        self.query = nn.Linear(d_model, d_model)
        self.embed_z = nn.Linear(n_series, d_model)
        self.pos = SinusoidalPositionEncoding(d_model)
        self.encoder_z = _encoder(d_model, n_heads, n_layers, dropout)
        self.cross = nn.ModuleList(nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
                                   for _ in range(n_layers))
        self.norm1 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.ffn = nn.ModuleList(nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Dropout(dropout),
                                               nn.Linear(4 * d_model, d_model)) for _ in range(n_layers))
        self.norm2 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_model, n_params))
        _init_head(self.head[-1])

    def encode_series(self, s: torch.Tensor) -> torch.Tensor:
        """Encoded series ``(B, L, d_model)`` (the keys and values of the cross-attention)."""
        return self.encoder_z(self.pos(self.embed_z(s)))

    def forward(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        mem = self.encode_series(s)
        q = self.query(self.encoder_a(self.embed_a(a)))
        for attn, n1, ffn, n2 in zip(self.cross, self.norm1, self.ffn, self.norm2):
            o, _ = attn(q, mem, mem, need_weights=False)
            q = n1(q + self.drop(o))
            q = n2(q + self.drop(ffn(q)))
        return self.head(q.mean(dim=1))


class FFNA(nn.Module):
    """FFN-A: ``A -> theta`` through two hidden ReLU layers with dropout (dPL baseline)."""

    def __init__(self, n_attr: int, n_params: int, hidden_size: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_attr, hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_size, n_params))
        _init_head(self.net[-1])

    def forward(self, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(a)


class LSTMZ(nn.Module):
    """LSTM-Z: an LSTM reads ``[A, X_t, Z_t, mask_t]`` day by day; its final hidden state (after
    dropout) gives ``theta`` through a linear layer (dPL baseline)."""

    def __init__(self, n_attr: int, n_series: int, n_params: int, hidden_size: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.inp = nn.Linear(n_attr + n_series, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, n_params)
        _init_head(self.out)

    def forward(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = torch.cat([a.unsqueeze(1).expand(-1, s.shape[1], -1), s], dim=-1)
        _, (h, _) = self.lstm(torch.relu(self.inp(x)))
        return self.out(self.drop(h[-1]))


NETWORKS: dict[str, type[nn.Module]] = {"paraformer_a": ParaFormerA, "paraformer_z": ParaFormerZ, "ffn_a": FFNA,
                                        "lstm_z": LSTMZ}


def build_network(config: Mapping[str, Any]) -> nn.Module:
    """Build a network from ``{"kind": name, **constructor kwargs}`` (the form stored in model files)."""
    config = dict(config)
    kind = config.pop("kind", None)
    if kind not in NETWORKS:
        raise StrategyError(f"unknown network kind {kind!r}; expected one of {sorted(NETWORKS)}")
    try:
        return NETWORKS[kind](**config)
    except TypeError as exc:
        raise StrategyError(f"invalid configuration for network {kind!r}: {exc}") from None
