"""Building blocks shared by the networks of the model zoo.

:class:`AttributeEmbedding` (attribute tokens, paper eq. 4), :class:`SinusoidalPositionEncoding`
(paper eq. 9), a transformer-encoder factory and the output-layer initialisation that makes an
untrained network propose roughly the parameter-space midpoint.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...errors import StrategyError

__all__ = ["AttributeEmbedding", "SinusoidalPositionEncoding", "encoder", "check_heads", "init_head"]


def init_head(linear: nn.Linear) -> None:
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


def encoder(d_model: int, n_heads: int, n_layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=4 * d_model, dropout=dropout,
                                       activation="relu", batch_first=True)
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


def check_heads(d_model: int, n_heads: int) -> None:
    if d_model < 1 or n_heads < 1 or d_model % n_heads:
        raise StrategyError(f"d_model ({d_model}) must be a positive multiple of n_heads ({n_heads})")
