"""ParaFormer-A: attribute tokens -> transformer encoder -> MLP head (paper eq. 4-8).

Registered in :mod:`vic_paraformer.dl.networks` as ``paraformer_a``; reads the static attributes only. Token pooling
(mean) and the head are ours (docs/paper-fidelity.md, row 16).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import AttributeEmbedding, check_heads, encoder, init_head


class ParaFormerA(nn.Module):
    """ParaFormer-A: attribute tokens -> N-layer transformer encoder -> MLP head -> ``u`` (B, p).

    Tokens are pooled by their mean after the encoder (self-attention has mixed them, and the
    identity embeddings keep attributes apart); the head is ``Linear-ReLU-Linear``.
    """

    def __init__(self, n_attr: int, n_params: int, d_model: int = 128, n_heads: int = 4, n_layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        check_heads(d_model, n_heads)
        self.embed = AttributeEmbedding(n_attr, d_model)
        self.encoder = encoder(d_model, n_heads, n_layers, dropout)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_model, n_params))
        init_head(self.head[-1])

    def encode(self, a: torch.Tensor) -> torch.Tensor:
        """Encoded attribute tokens ``(B, n_attr, d_model)``."""
        return self.encoder(self.embed(a))

    def forward(self, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encode(a).mean(dim=1))
