"""Sampling a cell's confidence region beyond the optimiser's trajectory (spotpy strategies).

An optimiser's candidates crowd around the optimum it converges to, so the candidates it evaluated
describe the region of good fits only near that point. :func:`explore_region` adds line searches
from the best candidate: along each parameter's axis (both ways), then along random directions of
the normalised parameter space, each bisecting towards the edge of the region (or stopping at the
bounds when the edge lies beyond them). See :mod:`vic_paraformer.uncertainty` for the region itself.
"""

from __future__ import annotations

from typing import Callable

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
