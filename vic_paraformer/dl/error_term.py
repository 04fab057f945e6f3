"""The model-error term of a DL strategy's parameter intervals: :func:`error_halfwidth`.

A deep ensemble spreads by training run only: every member is trained through the same surrogate
against the same observations, so a bias that the surrogate (or anything else the observations
disagree with) puts into the parameters is shared by all members and their spread misses it. The
error term estimates, per cell and parameter, how far the parameter can move before the change it
makes to the simulated soil moisture is as large as the mismatch between the model and the
observations:

* ``sigma``: the model-data mismatch as the calibration's objective sees it, the root mean square
  of the training cells' residuals of the observations around the surrogate's soil moisture at the
  ensemble median, through the calibration's fitted observation operator (days after the warm-up);
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
allows (:func:`vic_paraformer.error_terms.model_error_halfwidth`, the rule the SCE-UA/DDS
confidence regions share). :class:`~vic_paraformer.dl.strategy.DLCalibrator` adds it to the ensemble's spread in
quadrature around the median (``ensemble_error`` option).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..error_terms import SENSITIVITY_STEP as STEP  # the central-difference step (fraction of the range)


def _sm(sur, region, space, u: np.ndarray) -> np.ndarray:
    values = space.denormalize(np.clip(u, 0.0, 1.0))
    return np.asarray(sur.predict(region, values)["sm"].values, float)


def error_halfwidth(region, sur, space, median: np.ndarray, train_rows: np.ndarray, warmup: int,
                    level: float = 0.90, operator=None, model_sigma: float = 0.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Half-widths ``(cell, p)`` of the error term in normalised units, and facts for the result's info.

    ``region``: the calibration's region (every cell); ``median``: the ensemble median ``(cell, p)``
    in physical units; ``train_rows``: positions of the training cells (those with observations);
    ``warmup``: days left out at the start; ``operator``: the calibration's fitted
    :class:`~vic_paraformer.observation.ObservationOperator` (None: identity), through which the
    mismatch is measured as the objective measures it; ``model_sigma``: the surrogate's own SM error
    against its simulator (:func:`vic_paraformer.error_terms.surrogate_sm_error`), added in quadrature.
    """
    from ..error_terms import model_error_halfwidth, sm_sensitivity, z_value

    u = np.clip(np.asarray(space.normalize(np.asarray(median, float)), float), 0.0, 1.0)
    days = slice(int(warmup), None)
    base = _sm(sur, region, space, u)
    seen = base if operator is None or operator.is_identity else operator.apply_region(base, region)
    obs = region.observations("obs_sm")[:, days]
    rows = np.asarray(train_rows, int)
    res = (obs[rows] - seen[rows][:, days]).ravel()
    res = res[np.isfinite(res)]
    sigma = float(np.sqrt(np.mean(res ** 2))) if res.size >= 3 else float("nan")
    sens = sm_sensitivity(lambda v: _sm(sur, region, space, v)[:, days], u, STEP)
    half = model_error_halfwidth(float(np.hypot(sigma, model_sigma)), sens, level)
    info = {"sigma": round(sigma, 6), "sigma_model": round(float(model_sigma), 6), "z": round(z_value(level), 4), "step": STEP,
            "median_sensitivity": {n: round(float(np.median(sens[:, j])), 6) for j, n in enumerate(space.names)}}
    return half, info
