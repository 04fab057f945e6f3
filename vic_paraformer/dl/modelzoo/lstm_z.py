"""LSTM-Z: an LSTM over (A, X, Z) windows whose final state gives theta (dPL baseline).

Registered in :mod:`vic_paraformer.dl.networks` as ``lstm_z``; reads the attributes and a series window.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import init_head


class LSTMZ(nn.Module):
    """LSTM-Z: an LSTM reads ``[A, X_t, Z_t, mask_t]`` day by day; its final hidden state (after
    dropout) gives ``theta`` through a linear layer (dPL baseline)."""

    def __init__(self, n_attr: int, n_series: int, n_params: int, hidden_size: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.inp = nn.Linear(n_attr + n_series, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, n_params)
        init_head(self.out)

    def forward(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = torch.cat([a.unsqueeze(1).expand(-1, s.shape[1], -1), s], dim=-1)
        _, (h, _) = self.lstm(torch.relu(self.inp(x)))
        return self.out(self.drop(h[-1]))
