"""The sampling design and the estimators of the sensitivity indices (SALib).

Two methods, both over the parameter space's bounds (uniform, independent parameters):

``sobol``
    Saltelli's extension of Sobol' sequences (``SALib.sample.sobol``, no second-order terms):
    ``N (p + 2)`` parameter sets for ``N`` base samples and ``p`` parameters. The estimators
    (``SALib.analyze.sobol``) give the first-order index ``S1`` (the share of the output's variance
    one parameter explains alone) and the total index ``ST`` (its share including every interaction),
    each with a bootstrap 95 % confidence half-width (``S1_conf``, ``ST_conf``).
``morris``
    Morris elementary effects (``SALib.sample.morris``, 4 levels): ``N (p + 1)`` parameter sets for
    ``N`` trajectories, a screening method for small budgets. ``mu_star`` is the mean absolute
    elementary effect in normalised parameter units (the output's unit per unit of the normalised
    range), ``sigma`` its standard deviation (non-linearity or interactions), and ``mu_star_norm``
    ``mu_star`` divided by the sum over parameters (a share comparable between cells and terms).

An output that does not vary over the samples (every parameter set gives the same value, to
:data:`FLAT_RELATIVE` of its magnitude) has no variance to share: every index of it is 0.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ..errors import VicParaformerError
from ..parameters import ParameterSpace

log = logging.getLogger(__name__)

#: The methods and the index kinds each writes (the ``index`` coordinate of the output).
METHODS: tuple[str, ...] = ("sobol", "morris")
INDEX_KINDS: dict[str, tuple[str, ...]] = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "morris": ("mu_star", "mu_star_conf", "sigma", "mu_star_norm"),
}
#: The index kind that measures a parameter's whole influence, per method.
TOTAL_KIND: dict[str, str] = {"sobol": "ST", "morris": "mu_star_norm"}
#: Default base samples (sobol: a power of two) or trajectories (morris).
DEFAULT_SAMPLES: dict[str, int] = {"sobol": 64, "morris": 16}
#: Morris grid levels.
MORRIS_LEVELS = 4
#: Bootstrap resamples of the confidence intervals.
NUM_RESAMPLES = 100
#: An output whose standard deviation over the samples is below this share of its mean magnitude is flat.
FLAT_RELATIVE = 1e-9


class SensitivityError(VicParaformerError, ValueError):
    """A sensitivity analysis that cannot run as asked (bad method, sample count or inputs)."""


def check_method(method: str) -> str:
    """``method`` when it is one of :data:`METHODS`, else a one-line error."""
    if method not in METHODS:
        raise SensitivityError(f"unknown sensitivity method {method!r}; expected one of {list(METHODS)}")
    return method


def problem(space: ParameterSpace) -> dict:
    """The SALib problem of ``space``: its names and bounds."""
    return {"num_vars": space.n, "names": list(space.names),
            "bounds": [[lo, hi] for lo, hi in zip(space.lower, space.upper)]}


def n_runs(method: str, samples: int, n_params: int) -> int:
    """Parameter sets :func:`sample` draws for ``samples`` base samples or trajectories."""
    return samples * (n_params + 2) if check_method(method) == "sobol" else samples * (n_params + 1)


def sample(space: ParameterSpace, method: str = "sobol", samples: int | None = None, seed: int = 0) -> np.ndarray:
    """Parameter sets ``(n_runs, p)`` in physical units (seeded: the same seed gives the same sets)."""
    check_method(method)
    n = DEFAULT_SAMPLES[method] if samples is None else int(samples)
    if n < 2:
        raise SensitivityError(f"the sensitivity analysis needs at least 2 samples, got {n}")
    prob = problem(space)
    if method == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SALib's advice to use a power of 2 (documented in the command)
            from SALib.sample import sobol

            x = sobol.sample(prob, n, calc_second_order=False, seed=seed)
    else:
        from SALib.sample import morris

        x = morris.sample(prob, n, num_levels=MORRIS_LEVELS, seed=seed)
    return np.asarray(x, dtype=float)


def _flat(y: np.ndarray) -> bool:
    scale = float(np.max(np.abs(y))) if y.size else 0.0
    return float(np.std(y)) <= FLAT_RELATIVE * max(scale, 1e-30)


def analyze(space: ParameterSpace, method: str, x: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices ``(p, len(INDEX_KINDS[method]))`` of the output values ``y`` ``(n_runs,)`` at the sets ``x``.

    NaN throughout when ``y`` has a non-finite value (the term is undefined there, e.g. a cell
    without observations); 0 throughout when ``y`` is flat.
    """
    y = np.asarray(y, dtype=float)
    kinds = INDEX_KINDS[check_method(method)]
    out = np.full((space.n, len(kinds)), np.nan)
    if y.size == 0 or not np.all(np.isfinite(y)):
        return out
    if _flat(y):
        out[:] = 0.0
        return out
    prob = problem(space)
    boot = int(seed) + 1  # SALib seeds its bootstrap only with a non-zero seed (else the global generator)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if method == "sobol":
            from SALib.analyze import sobol

            r = sobol.analyze(prob, y, calc_second_order=False, num_resamples=NUM_RESAMPLES, seed=boot)
            cols = [r["S1"], r["S1_conf"], r["ST"], r["ST_conf"]]
        else:
            from SALib.analyze import morris

            r = morris.analyze(prob, x, y, num_resamples=NUM_RESAMPLES, num_levels=MORRIS_LEVELS, seed=boot)
            # SALib's elementary effects are per step in the unit hypercube: per normalised unit already
            mu = np.asarray(r["mu_star"], float)
            total = float(np.sum(mu))
            cols = [mu, np.asarray(r["mu_star_conf"], float), np.asarray(r["sigma"], float),
                    mu / total if total > 0 else np.zeros_like(mu)]
    return np.stack([np.asarray(c, dtype=float) for c in cols], axis=-1)
