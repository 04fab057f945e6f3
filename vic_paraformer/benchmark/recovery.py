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


#: The fields of :func:`interval_recovery` (each per parameter); the ``_identifiable`` /
#: ``_not_identifiable`` ones only when the result records identifiability.
INTERVAL_FIELDS: tuple[str, ...] = (
    "coverage", "width", "coverage_identifiable", "coverage_not_identifiable", "width_identifiable",
    "width_not_identifiable", "correlation_identifiable", "correlation_not_identifiable",
    "coverage_trained", "width_trained", "coverage_untrained", "width_untrained")


def identifiable_mask(info: dict, cells: np.ndarray, names: list[str] | tuple[str, ...]) -> np.ndarray | None:
    """The result's per-cell, per-parameter identifiability ``(cell, p)`` bool from
    ``info["identifiability"]`` (what ``calibrate --identifiability`` records, see
    :func:`vic_paraformer.sensitivity.identifiability_record`) or ``info["identifiable"]``.

    Read forms: ``{"cells": [...], "parameters": [...], "identifiable": [[bool, ...], ...]}`` (cells
    x parameters; a result cell not listed, e.g. one that was not a training cell, takes the
    parameter's majority over the listed cells), ``{parameter: [bool per result cell]}`` or
    ``{parameter: bool}`` for every cell. None when the result records none (or in another form).
    """
    rec = (info or {}).get("identifiability") or (info or {}).get("identifiable")
    if not isinstance(rec, dict):
        return None
    n = len(cells)
    try:
        if "identifiable" in rec and "parameters" in rec:
            params = [str(p) for p in rec["parameters"]]
            table = np.asarray(rec["identifiable"], bool)
            rows = {int(c): i for i, c in enumerate(rec.get("cells", cells))}
            out = np.zeros((n, len(names)), bool)
            for j, name in enumerate(names):
                if name not in params:
                    return None
                col = table[:, params.index(name)]
                majority = bool(col.mean() >= 0.5) if col.size else False
                for i, c in enumerate(cells):
                    out[i, j] = col[rows[int(c)]] if int(c) in rows else majority
            return out
        out = np.zeros((n, len(names)), bool)
        for j, name in enumerate(names):
            v = rec.get(name)
            if v is None:
                return None
            out[:, j] = np.broadcast_to(np.asarray(v, bool), (n,))
        return out
    except (TypeError, ValueError, KeyError, IndexError):
        return None


def interval_recovery(lower: np.ndarray, upper: np.ndarray, values: np.ndarray, truth: np.ndarray,
                      space: ParameterSpace, identifiable: np.ndarray | None = None,
                      trained: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Coverage of the truth by the 90 % intervals, their width and the recovery correlation, per parameter.

    ``lower``/``upper``/``values``/``truth`` are ``(cell, p)`` in physical units. ``coverage``: the
    fraction of cells whose interval holds the true value (an honest 90 % interval holds it in about
    90 % of the cells); ``width``: the mean interval width as a fraction of the bounds. With
    ``identifiable`` ``(cell, p)`` the same (and the correlation) are also given over the identifiable
    and the not identifiable cells of each parameter (NaN where a group is empty); with ``trained``
    ``(cell,)`` coverage and width over the training cells and over the others (``_trained`` /
    ``_untrained``), whose intervals also carry the transfer to cells without observations.
    """
    from ..uncertainty import interval_scores

    span = np.asarray(space.upper, float) - np.asarray(space.lower, float)
    sc = interval_scores(lower, upper, truth, span)
    width = (np.asarray(upper, float) - np.asarray(lower, float)) / span
    out: dict[str, dict[str, float]] = {
        "coverage": {n: float(sc["coverage"][j]) for j, n in enumerate(space.names)},
        "width": {n: float(width[:, j].mean()) for j, n in enumerate(space.names)}}
    if trained is not None:
        trained = np.asarray(trained, bool)
        for label, rows in (("trained", trained), ("untrained", ~trained)):
            out[f"coverage_{label}"] = {n: float(sc["inside"][rows, j].mean()) if rows.any() else float("nan")
                                        for j, n in enumerate(space.names)}
            out[f"width_{label}"] = {n: float(width[rows, j].mean()) if rows.any() else float("nan")
                                     for j, n in enumerate(space.names)}
    if identifiable is None:
        return out
    u, t = space.normalize(values), space.normalize(truth)
    for label, want in (("identifiable", True), ("not_identifiable", False)):
        cov, wid, cor = {}, {}, {}
        for j, n in enumerate(space.names):
            rows = identifiable[:, j] == want
            cov[n] = float(sc["inside"][rows, j].mean()) if rows.any() else float("nan")
            wid[n] = float(width[rows, j].mean()) if rows.any() else float("nan")
            a, b = u[rows, j], t[rows, j]
            cor[n] = (float(np.corrcoef(a, b)[0, 1]) if rows.sum() > 2 and np.std(a) > 1e-12 and np.std(b) > 1e-12
                      else float("nan"))
        out[f"coverage_{label}"], out[f"width_{label}"], out[f"correlation_{label}"] = cov, wid, cor
    return out
