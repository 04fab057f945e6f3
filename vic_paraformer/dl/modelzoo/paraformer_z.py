"""ParaFormer-Z: attribute-encoder queries cross-attend to an encoder of the (X, Z) series.

Registered in :mod:`vic_paraformer.dl.networks` as ``paraformer_z``; reads the attributes and a series window. The
paper describes a single cross-attention from attribute queries to the series encoding (eq. 9-12);
this network stacks ``n_layers`` cross-attention blocks, derives the queries from a ParaFormer-A
style attribute encoder, pools the attribute tokens by their mean and ends in an MLP head
(docs/paper-fidelity.md, row 17).

Series tokens: ``patch_days=1`` (default, the paper's setting) makes every day a token; with
``patch_days=P`` the series encoder reads one token per ``P`` consecutive days (their values
concatenated and embedded together; the ``L mod P`` earliest days of a window are dropped), so
its self-attention costs ``P**2`` and its linear layers ``P`` times less. ``attn_dropout`` is the
dropout on the attention weights of the series encoder and the cross-attention (default 0: a
non-zero value takes PyTorch's attention off its fused kernel, measured ~10x slower per layer,
without a measured accuracy gain); ``dropout`` still applies to the residual and feed-forward
paths. See docs/scaling.md for the speed and accuracy of both settings on the same twin.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import StrategyError
from .layers import AttributeEmbedding, SinusoidalPositionEncoding, check_heads, encoder, init_head


class ParaFormerZ(nn.Module):
    """ParaFormer-Z: queries from an attribute encoder meet keys/values of a series encoder.

    * series branch: ``H_Z = S W_em^Z + E_pos`` (linear embedding + sinusoidal positions, eq. 9),
      then an N-layer transformer encoder giving ``K_Z``/``V_Z``;
    * attribute branch: the ParaFormer-A encoder, projected to queries ``Q_A`` (eq. 10);
    * ``N`` cross-attention blocks ``O_Z = CrossAttention(Q_A, K_Z, V_Z)`` each followed by
      ``FFN(O_Z + Q_A) + O_Z + Q_A`` with layer normalisation (eq. 11-12 describe one block;
      stacking ``N`` of them is ours, docs/paper-fidelity.md row 17);
    * mean over the attribute tokens and an MLP head to ``u`` (B, p).
    """

    def __init__(self, n_attr: int, n_series: int, n_params: int, d_model: int = 256, n_heads: int = 8,
                 n_layers: int = 2, dropout: float = 0.1, attn_dropout: float = 0.0, patch_days: int = 1) -> None:
        super().__init__()
        check_heads(d_model, n_heads)
        if int(patch_days) < 1:
            raise StrategyError(f"patch_days must be >= 1 (days per series token), got {patch_days}")
        if not 0.0 <= float(attn_dropout) < 1.0:
            raise StrategyError(f"attn_dropout must be in [0, 1), got {attn_dropout}")
        self.patch_days = int(patch_days)
        self.embed_a = AttributeEmbedding(n_attr, d_model)
        self.encoder_a = encoder(d_model, n_heads, n_layers, dropout)
        self.query = nn.Linear(d_model, d_model)
        self.embed_z = nn.Linear(n_series * self.patch_days, d_model)
        self.pos = SinusoidalPositionEncoding(d_model)
        self.encoder_z = encoder(d_model, n_heads, n_layers, dropout)
        for layer in self.encoder_z.layers:
            layer.self_attn.dropout = float(attn_dropout)
        self.cross = nn.ModuleList(nn.MultiheadAttention(d_model, n_heads, dropout=float(attn_dropout), batch_first=True)
                                   for _ in range(n_layers))
        self.norm1 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.ffn = nn.ModuleList(nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Dropout(dropout),
                                               nn.Linear(4 * d_model, d_model)) for _ in range(n_layers))
        self.norm2 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_model, n_params))
        init_head(self.head[-1])

    def tokens(self, s: torch.Tensor) -> torch.Tensor:
        """The series window ``(B, L, f)`` as tokens ``(B, L // P, P * f)`` of ``P = patch_days`` days."""
        p = self.patch_days
        if p == 1:
            return s
        b, length, f = s.shape
        n = length // p
        if n < 1:
            raise StrategyError(f"a window of {length} days is shorter than patch_days={p}")
        return s[:, length - n * p:].reshape(b, n, p * f)

    def encode_series(self, s: torch.Tensor) -> torch.Tensor:
        """Encoded series ``(B, L / patch_days, d_model)`` (the keys and values of the cross-attention)."""
        return self.encoder_z(self.pos(self.embed_z(self.tokens(s))))

    def forward(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        mem = self.encode_series(s)
        q = self.query(self.encoder_a(self.embed_a(a)))
        for attn, n1, ffn, n2 in zip(self.cross, self.norm1, self.ffn, self.norm2):
            o, _ = attn(q, mem, mem, need_weights=False)
            q = n1(q + self.drop(o))
            q = n2(q + self.drop(ffn(q)))
        return self.head(q.mean(dim=1))
