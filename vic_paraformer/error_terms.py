"""The error terms that widen parameter intervals beyond what the data-fit alone says (one rule for
every strategy; see :mod:`vic_paraformer.uncertainty` for the intervals themselves).

* :func:`model_error_halfwidth` -- ``z * sigma / s_j``: how far a parameter can move before its
  effect on the simulated soil moisture is as large as the model-data mismatch ``sigma``;
* :func:`transfer_halfwidth` -- the error of carrying calibrated values to a cell without
  observations, from the training cells' own differences at that distance;
* :func:`widen` -- an interval widened by such half-widths, in quadrature around its point value;
* :func:`sm_sensitivity`, :func:`linear_fit_residuals`, :func:`z_value` -- the pieces they are made of.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError

#: The confidence level of the intervals (the spotpy strategies' option ``uncertainty_level`` defaults to it).
CONFIDENCE_LEVEL: float = 0.90


#: The central-difference step of the model-error term's sensitivities, as a fraction of each
#: parameter's normalised range (:func:`model_error_halfwidth`).
SENSITIVITY_STEP: float = 0.05


def linear_fit_residuals(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Residuals of the observations around a least-squares line on the simulation (the line stands in
    for any observation operator); around their mean when the simulation has no variance. Only the
    days where both are finite; empty with fewer than 3 of them."""
    sim, obs = np.asarray(sim, float), np.asarray(obs, float)
    ok = np.isfinite(sim) & np.isfinite(obs)
    if ok.sum() < 3:
        return np.empty(0)
    x, y = sim[ok], obs[ok]
    if np.std(x) <= 1e-9:
        return y - y.mean()
    slope, icpt = np.polyfit(x, y, 1)
    return y - (slope * x + icpt)


def z_value(level: float) -> float:
    """The standard normal quantile of a two-sided ``level`` (1.645 for 0.90)."""
    from scipy.stats import norm

    if not 0 < level < 1:
        raise ParameterError(f"confidence level must lie in (0, 1), got {level!r}")
    return float(norm.ppf(0.5 + level / 2.0))


def model_error_halfwidth(sigma: float, sensitivity: np.ndarray, level: float = CONFIDENCE_LEVEL) -> np.ndarray:
    """Half-widths, in normalised units, of the **model-error term**: ``z * sigma / s_j``.

    ``sigma``: the model-data mismatch as the calibration's objective sees it (the root mean square
    of the observations' residuals around the simulated soil moisture through the objective's
    observation operator, m3/m3); ``sensitivity``: ``s_j``, the root mean square
    change of the simulated soil moisture per unit of parameter ``j``'s normalised range (any shape);
    ``z``: the standard normal quantile of ``level`` (1.645 for 90 %). The mismatch is treated as
    systematic (a shift that does not average out over the days: a forcing error, a surrogate's
    bias, a structural error of the model), so the term is how far a parameter can move before the
    change it makes is as large as that mismatch. A parameter the soil moisture does not respond to
    gets an infinite half-width (its whole range); a non-finite ``sigma`` gives infinity everywhere.
    """
    sens = np.asarray(sensitivity, float)
    z = z_value(level)
    if not np.isfinite(sigma):
        return np.full(sens.shape, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sens > 0, z * float(sigma) / sens, np.inf)


def sm_sensitivity(simulate, u: np.ndarray, step: float = SENSITIVITY_STEP) -> np.ndarray:
    """``s_j`` of :func:`model_error_halfwidth`: the root mean square change of the simulated soil
    moisture per unit of each parameter's normalised range, by central differences of ``step``
    around ``u`` (``(..., p)``, normalised; the step is cut at the bounds). ``simulate(v)`` gives the
    soil moisture ``(..., days)`` at normalised parameters ``v``; it is called at the upper, then the
    lower point of each parameter in turn. Returns ``(..., p)``."""
    u = np.asarray(u, float)
    sens = np.empty_like(u)
    for j in range(u.shape[-1]):
        up, dn = u.copy(), u.copy()
        up[..., j] = np.minimum(u[..., j] + step, 1.0)
        dn[..., j] = np.maximum(u[..., j] - step, 0.0)
        diff = np.asarray(simulate(up), float) - np.asarray(simulate(dn), float)
        sens[..., j] = np.sqrt(np.nanmean(diff ** 2, axis=-1)) / np.maximum(up[..., j] - dn[..., j], 1e-12)
    return sens


#: Training cells the transfer term's variogram uses at most (evenly spread when there are more).
TRANSFER_MAX_CELLS: int = 400


def transfer_halfwidth(values_u: np.ndarray, lat: np.ndarray, lon: np.ndarray, target_lat: np.ndarray,
                       target_lon: np.ndarray, level: float = CONFIDENCE_LEVEL) -> np.ndarray:
    """Half-widths ``(target, p)``, in normalised units, of the **transfer term** of cells without observations.

    A cell without observations gets its parameters from the calibrated ones (the nearest training
    cell's for a per-cell optimiser, the network's prediction from its attributes for a DL
    strategy), so besides the training cells' own uncertainty its value carries the error of that
    transfer, which grows with the distance to the cells that were calibrated. Estimated from the
    training cells ``values_u`` ``(n, p)`` at ``lat``/``lon`` as an empirical variogram: for a
    target cell whose nearest training cell lies ``d`` km away, ``z`` times the root mean square
    difference of the pairs of training cells whose distance is closest to ``d`` (the nearest
    ``max(3, 10 %)`` of the pairs in distance). That is the error of copying a value across ``d``; a
    network that transfers better than a copy is given the same, conservative, width; a target
    farther away than any pair gets the widest pairs' value. Infinite with fewer than two training
    cells (nothing to learn the transfer error from)."""
    from .geo import great_circle_km

    u = np.asarray(values_u, float)
    if u.ndim != 2:
        raise ParameterError(f"training-cell values must be (cell, parameter), got shape {u.shape}")
    t_lat, t_lon = np.asarray(target_lat, float), np.asarray(target_lon, float)
    if u.shape[0] < 2:
        return np.full((t_lat.size, u.shape[1]), np.inf)
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    if u.shape[0] > TRANSFER_MAX_CELLS:
        keep = np.linspace(0, u.shape[0] - 1, TRANSFER_MAX_CELLS).round().astype(int)
        u, lat, lon = u[keep], lat[keep], lon[keep]
    i, j = np.triu_indices(u.shape[0], k=1)
    pair_d = great_circle_km(lat[i], lon[i], lat[j], lon[j])
    pair_sq = (u[i] - u[j]) ** 2
    order = np.argsort(pair_d)
    pair_d, pair_sq = pair_d[order], pair_sq[order]
    k = max(3, pair_d.size // 10)
    d = great_circle_km(t_lat[:, None], t_lon[:, None], lat[None, :], lon[None, :]).min(axis=1)
    out = np.empty((t_lat.size, u.shape[1]))
    for r, dist in enumerate(d):
        lo = int(np.clip(np.searchsorted(pair_d, dist) - k // 2, 0, max(pair_d.size - k, 0)))
        out[r] = np.sqrt(pair_sq[lo:lo + k].mean(axis=0))
    return z_value(level) * out


def region_transfer_halfwidth(values_u: np.ndarray, lat: np.ndarray, lon: np.ndarray, train_rows: np.ndarray,
                              level: float = CONFIDENCE_LEVEL) -> np.ndarray:
    """:func:`transfer_halfwidth` for every cell of a region ``(cell, p)``: 0 at the training cells (rows
    ``train_rows``, whose normalised values ``values_u`` are ``(n_train, p)``), the transfer term at the others."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    rows = np.asarray(train_rows, int)
    half = np.zeros((lat.size, np.asarray(values_u).shape[-1]))
    untrained = np.ones(lat.size, bool)
    untrained[rows] = False
    if untrained.any():
        half[untrained] = transfer_halfwidth(values_u, lat[rows], lon[rows], lat[untrained], lon[untrained], level)
    return half


def widen(quantiles_u: np.ndarray, half: np.ndarray, centre_u: np.ndarray | None = None) -> np.ndarray:
    """Intervals ``(3, cell, p)`` in normalised units widened by a model-error half-width ``(cell, p)``.

    The interval's own half-width and ``half`` add in quadrature around ``centre_u`` (default the
    middle quantile: an ensemble's median; a calibration's point value otherwise); the result is
    never narrower than the interval it widens, and is clipped to [0, 1]. The middle slot is kept."""
    q = np.asarray(quantiles_u, float).copy()
    lo, mid, hi = q
    centre = mid if centre_u is None else np.asarray(centre_u, float)
    total = np.sqrt(((hi - lo) / 2.0) ** 2 + np.asarray(half, float) ** 2)
    q[0] = np.clip(np.minimum(lo, centre - total), 0.0, 1.0)
    q[2] = np.clip(np.maximum(hi, centre + total), 0.0, 1.0)
    return q


def surrogate_sm_error(surrogate) -> float:
    """A surrogate's own soil-moisture error against its simulator: the validation RMSE (m3/m3) it
    recorded when trained (held-out cells and parameter sets), 0 for a model that records none (a
    simulator, an older surrogate file). A calibration through the surrogate cannot place a parameter
    more finely than this error allows, so the model-error term adds it to the mismatch."""
    info = getattr(surrogate, "info", None) or {}
    value = (info.get("validation_rmse") or {}).get("sm")
    return float(value) if value is not None and np.isfinite(value) else 0.0
