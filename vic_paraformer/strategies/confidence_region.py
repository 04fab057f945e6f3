"""Sampling a cell's confidence region beyond the optimiser's trajectory (spotpy strategies).

An optimiser's candidates crowd around the optimum it converges to, so the candidates it evaluated
describe the region of good fits only near that point. :func:`explore_region` adds line searches
from the best candidate: along each parameter's axis (both ways), then along random directions of
the normalised parameter space, each bisecting towards the edge of the region (or stopping at the
bounds when the edge lies beyond them). See :mod:`vic_paraformer.uncertainty` for the region itself.
:func:`confidence_region` runs them for one cell's finished search and, on request, the model-error
term's sensitivities at the point value.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..parameters import ParameterSpace

#: Bisection steps of one line search (after the first run at the bounds): the edge is then known to
#: 1/32 of the distance from the best candidate to the bounds.
BISECTION_STEPS = 5


def search_directions(p: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit directions in ``p`` dimensions: the ``2 p`` axis directions first (+e_1, -e_1, ...),
    then random directions (isotropic Gaussian, normalised)."""
    axes = np.concatenate([np.eye(p)[:, None, :], -np.eye(p)[:, None, :]], axis=1).reshape(2 * p, p)
    if n <= 2 * p:
        return axes[:n]
    extra = rng.standard_normal((n - 2 * p, p))
    extra /= np.maximum(np.linalg.norm(extra, axis=1, keepdims=True), 1e-12)
    return np.concatenate([axes, extra])


def _reach(u0: np.ndarray, d: np.ndarray) -> float:
    """The largest ``t >= 0`` with ``u0 + t d`` inside the unit box."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(d > 0, (1.0 - u0) / d, np.where(d < 0, -u0 / d, np.inf))
    return float(max(np.min(t_hi), 0.0))


def explore_region(fit: Callable[[np.ndarray], float], best_theta: np.ndarray, space: ParameterSpace,
                   inside: Callable[[float], bool], n_directions: int, rng: np.random.Generator,
                   steps: int = BISECTION_STEPS) -> int:
    """Run line searches from ``best_theta`` (physical units) towards the edge of the region.

    ``fit(theta)`` runs the model once and returns the candidate's data-fit value (the caller
    records it); ``inside(value)`` says whether a value lies in the region (judged against the best
    value known at that moment). Returns the number of model runs made (at most ``n_directions *
    (steps + 1)``).
    """
    u0 = np.clip(np.asarray(space.normalize(np.asarray(best_theta, float)), float), 0.0, 1.0)
    runs = 0
    for d in search_directions(space.n, int(n_directions), rng):
        t_max = _reach(u0, d)
        if t_max <= 1e-9:
            continue
        runs += 1
        if inside(fit(space.denormalize(u0 + t_max * d))):
            continue  # the region reaches the bounds in this direction
        lo, hi = 0.0, t_max
        for _ in range(int(steps)):
            mid = 0.5 * (lo + hi)
            runs += 1
            if inside(fit(space.denormalize(u0 + mid * d))):
                lo = mid
            else:
                hi = mid
    return runs


def confidence_region(task, setup) -> tuple[np.ndarray, dict[str, Any]]:
    """The confidence-region members of one cell's finished search (``task``: its
    :class:`~.spotpy_setup.CellTask`; ``setup``: its :class:`~.spotpy_setup.SpotpySetup`, every
    candidate evaluated; see :mod:`vic_paraformer.uncertainty`): line searches from the
    best candidate (extra model runs beyond the budget), then every candidate inside the region; with
    ``task.model_error`` also the model-error term's half-widths at the point value (``"half"``)."""
    from ..error_terms import linear_fit_residuals
    from ..uncertainty import confidence_mask, confidence_ratio, effective_sample_size, lag1_autocorrelation

    obs = setup.obs
    sim = setup.min_fit_sm
    res = linear_fit_residuals(sim, obs) if sim is not None else np.empty(0)
    r1 = lag1_autocorrelation(res) if sim is not None and np.std(sim) > 1e-9 else 0.0
    sigma = setup.min_fit_sm_rmse  # the mismatch as the objective sees it: SM RMSE through its operator
    n = int(obs.size)
    n_eff = effective_sample_size(n, r1)
    ratio = confidence_ratio(n_eff, task.space.n, task.level)
    before = setup.n_evaluations
    setup.max_evaluations = None  # the search is on top of the optimiser's budget

    def fit(theta: np.ndarray) -> float:
        setup.loss(task.space.clip(theta))
        return setup.fits[-1]

    def inside(value: float) -> bool:
        return bool(np.isfinite(value) and value ** 2 <= setup.min_fit ** 2 * ratio + 1e-15)

    point = task.space.clip(setup.best_theta)
    best = np.stack(setup.thetas)[int(np.nanargmin(np.asarray(setup.fits, float)))]
    explore_region(fit, best, task.space, inside, task.directions, np.random.default_rng(task.seed))
    info: dict[str, Any] = {"n": float(n), "r1": float(r1), "n_eff": float(n_eff), "ratio": float(ratio),
                            "sigma": sigma}
    if task.model_error:
        # the model's own error against the simulator it imitates (a surrogate's), in quadrature
        info["sigma_model"] = float(task.model_sigma)
        info["half"] = _model_error_half(task, setup, point, float(np.hypot(sigma, task.model_sigma)))
    keep = confidence_mask(np.asarray(setup.fits, float), ratio)
    kept = task.space.clip(np.stack(setup.thetas)[keep])
    info["runs"] = float(setup.n_evaluations - before)
    return kept, info


def _model_error_half(task, setup, point: np.ndarray, sigma: float) -> np.ndarray:
    """The model-error term's half-widths (normalised) at the point value: the observed days' soil
    moisture sensitivity to each parameter by central differences (2 p model runs, which join the
    candidates), then :func:`vic_paraformer.error_terms.model_error_halfwidth`."""
    from ..error_terms import model_error_halfwidth, sm_sensitivity

    def simulate(v: np.ndarray) -> np.ndarray:
        setup.loss(task.space.clip(task.space.denormalize(v)))
        return setup._last_sim

    u = np.clip(np.asarray(task.space.normalize(point), float), 0.0, 1.0)
    return model_error_halfwidth(sigma, sm_sensitivity(simulate, u), task.level)
