"""The model-error term of a DL strategy's parameter intervals: :func:`error_halfwidth`.

A deep ensemble spreads by training run only: every member is trained through the same surrogate
against the same observations, so a bias that the surrogate (or anything else the observations
disagree with) puts into the parameters is shared by all members and their spread misses it. The
error term estimates, per cell and parameter, how far the parameter can move before the change it
makes to the simulated soil moisture is as large as the mismatch between the model and the
observations:

* ``sigma``: the model-data mismatch, the root mean square of the training cells' residuals of
  the observations around a linear fit on the surrogate's soil moisture at the ensemble median
  (days after the warm-up; the linear fit stands in for any observation operator);
* ``s_j(c)``: the soil moisture's sensitivity to parameter ``j`` at cell ``c``, the root mean
  square over the days after the warm-up of the central difference of the surrogate's soil
  moisture for a step of :data:`STEP` of the normalised range around the ensemble median;
* the half-width, in normalised units, ``z * sigma / s_j(c)`` with ``z`` the standard normal
  quantile of the level (1.645 for 90 %).

The mismatch is treated as systematic (a shift of the whole series, not noise that averages
out over the days), which makes the term conservative for random errors and right for a
surrogate's bias; sensitivities are taken one parameter at a time, so parameters that compensate
for each other get no extra width from it. A parameter the soil moisture barely responds to
gets an interval over its whole range; an identifiable one an interval as wide as the mismatch
allows. :class:`~vic_paraformer.dl.strategy.DLCalibrator` adds it to the ensemble's spread in
quadrature around the median (``ensemble_error`` option).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The central-difference step, as a fraction of each parameter's normalised range.
STEP: float = 0.05


def _sm(sur, region, space, u: np.ndarray) -> np.ndarray:
    values = space.denormalize(np.clip(u, 0.0, 1.0))
    return np.asarray(sur.predict(region, values)["sm"].values, float)


def error_halfwidth(region, sur, space, median: np.ndarray, train_rows: np.ndarray, warmup: int,
                    level: float = 0.90) -> tuple[np.ndarray, dict[str, Any]]:
    """Half-widths ``(cell, p)`` of the error term in normalised units, and facts for the result's info.

    ``region``: the calibration's region (every cell); ``median``: the ensemble median ``(cell, p)``
    in physical units; ``train_rows``: positions of the training cells (those with observations);
    ``warmup``: days left out at the start.
    """
    from scipy.stats import norm

    u = np.clip(np.asarray(space.normalize(np.asarray(median, float)), float), 0.0, 1.0)
    days = slice(int(warmup), None)
    base = _sm(sur, region, space, u)[:, days]
    obs = region.observations("obs_sm")[:, days]
    res = []
    for r in np.asarray(train_rows, int):
        ok = np.isfinite(obs[r]) & np.isfinite(base[r])
        if ok.sum() < 3:
            continue
        x, y = base[r][ok], obs[r][ok]
        if np.std(x) > 1e-9:
            slope, icpt = np.polyfit(x, y, 1)
            res.append(y - (slope * x + icpt))
        else:
            res.append(y - y.mean())
    sigma = float(np.sqrt(np.mean(np.concatenate(res) ** 2))) if res else float("nan")
    sens = np.empty_like(u)
    for j in range(space.n):
        up, dn = u.copy(), u.copy()
        up[:, j] = np.minimum(u[:, j] + STEP, 1.0)
        dn[:, j] = np.maximum(u[:, j] - STEP, 0.0)
        diff = (_sm(sur, region, space, up) - _sm(sur, region, space, dn))[:, days]
        sens[:, j] = np.sqrt(np.mean(diff ** 2, axis=1)) / np.maximum(up[:, j] - dn[:, j], 1e-12)
    z = float(norm.ppf(0.5 + level / 2.0))
    with np.errstate(divide="ignore"):
        half = np.where(sens > 0, z * sigma / sens, np.inf)
    if not np.isfinite(sigma):
        half = np.full_like(u, np.inf)
    info = {"sigma": round(sigma, 6), "z": round(z, 4), "step": STEP,
            "median_sensitivity": {n: round(float(np.median(sens[:, j])), 6) for j, n in enumerate(space.names)}}
    return half, info


def widen(quantiles_u: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Ensemble quantiles ``(3, cell, p)`` (normalised) widened by an error half-width ``(cell, p)`` in
    quadrature with the ensemble's own half-width, around the median; never narrower than the
    ensemble's interval; clipped to [0, 1]."""
    q = np.asarray(quantiles_u, float).copy()
    lo, med, hi = q
    total = np.sqrt(((hi - lo) / 2.0) ** 2 + np.asarray(half, float) ** 2)
    q[0] = np.clip(np.minimum(lo, med - total), 0.0, 1.0)
    q[2] = np.clip(np.maximum(hi, med + total), 0.0, 1.0)
    return q
