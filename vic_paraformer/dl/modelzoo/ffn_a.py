"""FFN-A: a fully connected network A -> theta (dPL baseline, Tsai et al. 2021).

Registered in :mod:`vic_paraformer.dl.networks` as ``ffn_a``; reads the static attributes only.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import init_head


class FFNA(nn.Module):
    """FFN-A: ``A -> theta`` through two hidden ReLU layers with dropout (dPL baseline)."""

    def __init__(self, n_attr: int, n_params: int, hidden_size: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_attr, hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_size, n_params))
        init_head(self.net[-1])

    def forward(self, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(a)
