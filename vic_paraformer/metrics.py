"""Per-cell skill metrics (paper eq. 15-17): pure functions on numpy arrays or xarray objects.

Every metric compares a simulation with observations along the time axis (the last axis by
default) and returns one value per cell. Time steps where the observation (or the simulation)
is NaN are skipped, so gappy satellite records need no preprocessing. A cell with fewer than
``min_obs`` valid pairs gets NaN.

* ``rmse = sqrt(mean((obs - sim)^2))``
* ``pcc  = sum((sim - mean_sim)(obs - mean_obs)) / sqrt(sum((sim - mean_sim)^2) sum((obs - mean_obs)^2))``
* ``nse  = 1 - sum((obs - sim)^2) / sum((obs - mean_obs)^2)``
* ``log_nse`` = ``nse`` of ``log(sim + eps)`` against ``log(obs + eps)`` (low flows; ``eps`` = 1 % of
  the mean observation by default, so zero flows stay finite)
* ``kge  = 1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2)`` (Gupta et al. 2009, J. Hydrol. 377,
  80-91) with ``r`` = pcc, ``alpha = std_sim / std_obs`` and ``beta = mean_sim / mean_obs``
  (population standard deviations); :func:`kge_components` returns all four

Means are taken over each cell's valid time steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

METRICS = ("rmse", "pcc", "nse")


def _prepare(sim, obs, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sim_a = np.asarray(getattr(sim, "values", sim), dtype=float)
    obs_a = np.asarray(getattr(obs, "values", obs), dtype=float)
    if sim_a.shape != obs_a.shape:
        raise ValueError(f"simulation shape {sim_a.shape} differs from observation shape {obs_a.shape}")
    if sim_a.ndim == 0:
        raise ValueError("metrics need at least one time axis, got scalars")
    sim_a = np.moveaxis(sim_a, axis, -1)
    obs_a = np.moveaxis(obs_a, axis, -1)
    valid = np.isfinite(sim_a) & np.isfinite(obs_a)
    return sim_a, obs_a, valid


def _masked_mean(x: np.ndarray, valid: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, x, 0.0).sum(-1) / n


def rmse(sim, obs, axis: int = -1, min_obs: int = 1) -> np.ndarray:
    """Root mean squared error per cell over valid time steps."""
    s, o, v = _prepare(sim, obs, axis)
    n = v.sum(-1)
    out = np.sqrt(_masked_mean((o - s) ** 2, v, n))
    return np.where(n >= min_obs, out, np.nan)


def pcc(sim, obs, axis: int = -1, min_obs: int = 2) -> np.ndarray:
    """Pearson correlation coefficient per cell (NaN where either series is constant)."""
    s, o, v = _prepare(sim, obs, axis)
    n = v.sum(-1)
    ms = _masked_mean(s, v, n)[..., None]
    mo = _masked_mean(o, v, n)[..., None]
    ds = np.where(v, s - ms, 0.0)
    do = np.where(v, o - mo, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (ds * do).sum(-1) / np.sqrt((ds ** 2).sum(-1) * (do ** 2).sum(-1))
    return np.where(n >= min_obs, out, np.nan)


def nse(sim, obs, axis: int = -1, min_obs: int = 2) -> np.ndarray:
    """Nash-Sutcliffe efficiency per cell: 1 for a perfect match, < 0 when worse than the mean."""
    s, o, v = _prepare(sim, obs, axis)
    n = v.sum(-1)
    mo = _masked_mean(o, v, n)[..., None]
    num = np.where(v, (o - s) ** 2, 0.0).sum(-1)
    den = np.where(v, (o - mo) ** 2, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - num / den
    return np.where((n >= min_obs) & (den > 0), out, np.nan)


def kge_components(sim, obs, axis: int = -1, min_obs: int = 2) -> dict[str, np.ndarray]:
    """Kling-Gupta efficiency and its components per cell (or gauge): ``kge``, ``r``, ``alpha``
    (variability ratio) and ``beta`` (bias ratio), over the valid time steps (Gupta et al. 2009)."""
    s, o, v = _prepare(sim, obs, axis)
    n = v.sum(-1)
    ms = _masked_mean(s, v, n)
    mo = _masked_mean(o, v, n)
    ds = np.where(v, s - ms[..., None], 0.0)
    do = np.where(v, o - mo[..., None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.sqrt((ds ** 2).sum(-1) / n)
        so = np.sqrt((do ** 2).sum(-1) / n)
        r = (ds * do).sum(-1) / (ss * so * n)
        alpha = ss / so
        beta = ms / mo
        k = 1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2)
    ok = (n >= min_obs) & (so > 0) & (mo != 0)
    return {name: np.where(ok, val, np.nan) for name, val in (("kge", k), ("r", r), ("alpha", alpha), ("beta", beta))}


def kge(sim, obs, axis: int = -1, min_obs: int = 2) -> np.ndarray:
    """Kling-Gupta efficiency per cell (or gauge): 1 for a perfect match (see :func:`kge_components`)."""
    return kge_components(sim, obs, axis=axis, min_obs=min_obs)["kge"]


def log_nse(sim, obs, axis: int = -1, min_obs: int = 2, eps: float | None = None) -> np.ndarray:
    """NSE of the logarithms (``log(x + eps)``), weighting low flows; ``eps`` defaults to 1 % of each
    series' mean observation. Negative values (of either series) count as missing."""
    s, o, v = _prepare(sim, obs, axis)
    v = v & (s >= 0) & (o >= 0)
    n = v.sum(-1)
    if eps is None:
        e = 0.01 * _masked_mean(o, v, n)[..., None]
    else:
        e = np.full(o.shape[:-1] + (1,), float(eps))
    with np.errstate(invalid="ignore", divide="ignore"):
        ls = np.log(np.where(v, s, 1.0) + e)
        lo = np.log(np.where(v, o, 1.0) + e)
    ls = np.where(v, ls, np.nan)
    lo = np.where(v, lo, np.nan)
    return nse(ls, lo, axis=-1, min_obs=min_obs)


def nse_from_sums(n, so, soo, see, min_obs: int = 2) -> np.ndarray:
    """NSE from per-cell sums over the valid steps: count ``n``, ``sum o``, ``sum o^2`` and
    ``sum (s - o)^2`` (the form resampling needs: sums of resampled blocks add up)."""
    n, so, soo, see = (np.asarray(x, dtype=float) for x in (n, so, soo, see))
    with np.errstate(invalid="ignore", divide="ignore"):
        den = soo - so * so / n
        out = 1.0 - see / den
    return np.where((n >= min_obs) & (den > 0), out, np.nan)


def rmse_from_sums(n, see, min_obs: int = 1) -> np.ndarray:
    """RMSE from per-cell sums over the valid steps: count ``n`` and ``sum (s - o)^2``."""
    n, see = np.asarray(n, dtype=float), np.asarray(see, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(see / n)
    return np.where(n >= min_obs, out, np.nan)


METRIC_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {"rmse": rmse, "pcc": pcc, "nse": nse}


def all_metrics(sim, obs, axis: int = -1) -> dict[str, np.ndarray]:
    """RMSE, PCC and NSE per cell as a dict of arrays."""
    return {name: fn(sim, obs, axis=axis) for name, fn in METRIC_FUNCTIONS.items()}


def summarize(values) -> dict[str, float]:
    """Median, mean, 5th and 95th percentile and count of the finite per-cell values."""
    v = np.asarray(getattr(values, "values", values), dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": float("nan"), "mean": float("nan"), "p5": float("nan"), "p95": float("nan"), "n": 0}
    return {"median": float(np.median(v)), "mean": float(np.mean(v)), "p5": float(np.percentile(v, 5)),
            "p95": float(np.percentile(v, 95)), "n": int(v.size)}


def cdf(values) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of the finite per-cell values: sorted values and cumulative probabilities."""
    v = np.sort(np.asarray(getattr(values, "values", values), dtype=float).ravel())
    v = v[np.isfinite(v)]
    return v, np.arange(1, v.size + 1) / max(v.size, 1)
