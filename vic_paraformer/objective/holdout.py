"""Held-out blocks for early stopping (see :mod:`vic_paraformer.objective`, "Held-out blocks")."""

from __future__ import annotations

import numpy as np

from .options import ObjectiveError

__all__ = ["DEFAULT_BLOCK_DAYS", "holdout_blocks", "holdout_mask"]

DEFAULT_BLOCK_DAYS: int = 30


def holdout_blocks(n_days: int, fraction: float = 0.2, block_days: int = DEFAULT_BLOCK_DAYS,
                   skip: int = 0) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` day ranges (stop exclusive) of the held-out blocks (see the module docstring).

    Blocks are ``block_days`` long (shortened to fit a short period), their number is
    ``round(fraction * usable / block_days)`` (at least 1 when ``fraction > 0``) and they are spread
    evenly over the days after ``skip``, each centred in its share of the period.
    """
    if not 0.0 <= float(fraction) < 0.9:
        raise ObjectiveError(f"validation fraction must be in [0, 0.9), got {fraction!r}")
    usable = int(n_days) - int(skip)
    if fraction == 0 or usable <= 1:
        return []
    block = max(1, min(int(block_days), int(round(fraction * usable))))
    n_blocks = max(1, int(round(fraction * usable / block)))
    share = usable / n_blocks
    out = []
    for k in range(n_blocks):
        centre = skip + (k + 0.5) * share
        start = int(round(centre - block / 2))
        start = min(max(start, skip), n_days - block)
        out.append((start, start + block))
    return out


def holdout_mask(n_days: int, fraction: float = 0.2, block_days: int = DEFAULT_BLOCK_DAYS, skip: int = 0) -> np.ndarray:
    """Boolean ``(n_days,)``: True on the held-out days of :func:`holdout_blocks`."""
    m = np.zeros(int(n_days), bool)
    for a, b in holdout_blocks(n_days, fraction, block_days, skip):
        m[a:b] = True
    return m
