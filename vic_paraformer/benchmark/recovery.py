"""Parameter-recovery and map-smoothness figures for synthetic twins (known true parameters)."""

from __future__ import annotations

import numpy as np

from ..parameters import ParameterSpace


def recovery_error(values: np.ndarray, truth: np.ndarray, space: ParameterSpace) -> dict[str, float]:
    """Mean absolute error per parameter between calibrated and true fields, as a fraction of the range.

    ``values`` and ``truth`` are ``(cell, p)`` in physical units; 0 is perfect, 1 is the whole range off.
    """
    err = np.abs(space.normalize(values) - space.normalize(truth))
    return {name: float(np.mean(err[:, j])) for j, name in enumerate(space.names)}


def roughness(values: np.ndarray, row: np.ndarray, col: np.ndarray, space: ParameterSpace,
              step: int = 1) -> dict[str, float]:
    """Mean absolute difference between grid neighbours ``step`` cells apart, per normalised parameter.

    With ``step=1`` and every cell, this is the roughness of the whole map; with the training cells of
    a DAS-Sk split and ``step=k`` it compares neighbouring *calibrated* cells, where per-cell
    optimisation noise shows (untrained cells copied from a neighbour would hide it). A smooth
    regional field scores low. Pairs where either cell is missing are skipped.
    """
    u = space.normalize(values)
    ny, nx = int(row.max()) + 1, int(col.max()) + 1
    out: dict[str, float] = {}
    for j, name in enumerate(space.names):
        grid = np.full((ny, nx), np.nan)
        grid[row, col] = u[:, j]
        diffs = np.concatenate([np.abs(grid[step:, :] - grid[:-step, :]).ravel(),
                                np.abs(grid[:, step:] - grid[:, :-step]).ravel()])
        diffs = diffs[np.isfinite(diffs)]
        out[name] = float(diffs.mean()) if diffs.size else float("nan")
    return out


def recovery_correlation(values: np.ndarray, truth: np.ndarray, space: ParameterSpace) -> dict[str, float]:
    """Pearson correlation per parameter between calibrated and true fields over the cells.

    NaN where either field is constant (e.g. the default row's midpoint). A negative value means the
    calibrated map is anti-correlated with the truth (equifinality: good scores, wrong parameters).
    """
    u, t = space.normalize(values), space.normalize(truth)
    out: dict[str, float] = {}
    for j, name in enumerate(space.names):
        a, b = u[:, j], t[:, j]
        if np.std(a) < 1e-12 or np.std(b) < 1e-12:
            out[name] = float("nan")
        else:
            out[name] = float(np.corrcoef(a, b)[0, 1])
    return out
