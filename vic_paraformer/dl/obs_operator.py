"""The optional observation operator H of the paper (eq. 3): a learned per-cell linear map.

``sm_obs ~= a_c * sm_sim + b_c`` for each training cell ``c``, with ``a_c = 1`` and ``b_c = 0``
at the start (the identity). It accounts for a systematic difference between the simulated top
layer and the observed (e.g. satellite) soil moisture; the paper leaves H unspecified
(docs/paper-fidelity.md, row 23). When a DL strategy runs with ``obs_operator=True`` it is learned beside
the network; a small L2 pull towards the identity (``obs_operator_l2``) keeps ``a``/``b`` from
absorbing everything the parameters should explain. The fitted values are returned in
``CalibrationResult.info["obs_operator"] = {"cells": [...], "a": [...], "b": [...]}`` and stored in
the model file. Cells without a learned operator (untrained cells) use the identity.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["ObservationOperator"]


class ObservationOperator(nn.Module):
    """Per-cell ``a * sm + b`` for ``n_cells`` cells addressed by position ``0..n_cells-1``."""

    def __init__(self, n_cells: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(n_cells))
        self.b = nn.Parameter(torch.zeros(n_cells))

    def forward(self, sm: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Map simulated ``sm`` ``(B, L)`` of the cells at positions ``idx`` ``(B,)``."""
        return self.a[idx].unsqueeze(-1) * sm + self.b[idx].unsqueeze(-1)

    def penalty(self) -> torch.Tensor:
        """Mean squared distance from the identity map."""
        return ((self.a - 1.0) ** 2).mean() + (self.b ** 2).mean()

    def to_info(self, cells: Sequence[int]) -> dict[str, Any]:
        """JSON-friendly ``{"cells", "a", "b"}`` for ``CalibrationResult.info``."""
        return {"cells": [int(c) for c in cells], "a": self.a.detach().cpu().double().tolist(),
                "b": self.b.detach().cpu().double().tolist()}

    @staticmethod
    def apply_info(info: dict[str, Any], cells: Sequence[int], sm: np.ndarray) -> np.ndarray:
        """Apply stored coefficients to simulated ``sm`` ``(cell, time)`` of ``cells`` (identity elsewhere)."""
        lut = {int(c): (a, b) for c, a, b in zip(info["cells"], info["a"], info["b"])}
        out = np.array(sm, dtype=float, copy=True)
        for i, c in enumerate(cells):
            a, b = lut.get(int(c), (1.0, 0.0))
            out[i] = a * out[i] + b
        return out
