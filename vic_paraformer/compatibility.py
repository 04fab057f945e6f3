"""Is a surrogate fit for a strategy and a region? Bounds, parameter names, simulator.

:func:`check_surrogate` compares what the surrogate was trained on with what the strategy and the
region say and returns the parameter space to calibrate in plus a record of every adoption, which
the strategy stores in its result (``info["surrogate_checks"]``):

* parameter names differ: an error naming both lists;
* bounds differ: an error with both sets of bounds when the strategy's parameter space was given
  explicitly; otherwise the strategy adopts the surrogate's bounds, logs it and records it (a
  surrogate evaluated outside its training bounds extrapolates, and scaling with other bounds than
  the surrogate's gives wrong parameters);
* the strategy's ``simulator`` option names another simulator than the surrogate imitates: an
  error naming both;
* the region records the simulator it was made with (synthetic twins, VIC imports) and it is not
  the surrogate's: a logged warning, recorded.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .errors import SurrogateError
from .parameters import ParameterSpace
from .region import Region

log = logging.getLogger(__name__)


def region_simulator(region: Region) -> str | None:
    """The simulator a region was made with or for, when it records one (else None)."""
    attrs = region.ds.attrs
    if "vic_parameters_file" in attrs:
        return "vic"
    sim = attrs.get("simulator")
    if isinstance(sim, str) and sim.strip():
        return sim.split()[0].strip()
    return None


def _bounds(space: ParameterSpace) -> str:
    return ", ".join(f"{n} {lo:g}..{hi:g}" for n, lo, hi in zip(space.names, space.lower, space.upper))


def check_surrogate(surrogate: Any, space: ParameterSpace, *, explicit_space: bool, strategy: str,
                    region: Region | None = None, simulator: str | None = None, source: str = "surrogate",
                    rtol: float = 1e-6) -> tuple[ParameterSpace, dict[str, Any]]:
    """Check ``surrogate`` (its ``parameter_space`` and ``simulator``) against a strategy and a region.

    Returns ``(space to use, record)``; raises :class:`~vic_paraformer.errors.SurrogateError` naming both
    values on a mismatch that cannot be adopted. ``explicit_space`` says whether the user chose
    ``space`` (then differing bounds are an error) or it is the default (then the surrogate's bounds
    are adopted). ``simulator`` is the strategy's ``simulator`` option, if any.
    """
    record: dict[str, Any] = {}
    sur_space: ParameterSpace = surrogate.parameter_space
    if list(sur_space.names) != list(space.names):
        raise SurrogateError(f"{source}: surrogate parameters {list(sur_space.names)} differ from strategy "
                             f"{strategy!r}'s {list(space.names)}")
    same = (np.allclose(sur_space.lower, space.lower, rtol=rtol, atol=0.0)
            and np.allclose(sur_space.upper, space.upper, rtol=rtol, atol=0.0))
    if not same:
        if explicit_space:
            raise SurrogateError(f"{source}: surrogate trained on bounds {_bounds(sur_space)}; strategy {strategy!r} "
                                 f"calibrates within {_bounds(space)}; give the surrogate's parameter space or "
                                 "train a surrogate on these bounds")
        log.warning("%s: strategy %r adopts the surrogate's bounds (%s) instead of the default (%s)", source, strategy,
                    _bounds(sur_space), _bounds(space))
        record["adopted_parameter_space"] = {"from": space.to_dict(), "to": sur_space.to_dict(),
                                             "reason": "surrogate trained on other bounds"}
        space = sur_space
    sur_sim = str(getattr(surrogate, "simulator", "unknown") or "unknown")
    record["surrogate_simulator"] = sur_sim
    if simulator is not None and sur_sim != "unknown" and str(simulator) != sur_sim:
        raise SurrogateError(f"{source}: surrogate imitates simulator {sur_sim!r}; strategy {strategy!r} was given "
                             f"simulator={simulator!r}")
    if region is not None:
        reg_sim = region_simulator(region)
        if reg_sim is not None and sur_sim != "unknown" and reg_sim != sur_sim:
            where = region.source or "the region"
            log.warning("%s: surrogate imitates simulator %r but %s was made with %r", source, sur_sim, where, reg_sim)
            record["simulator_mismatch"] = {"surrogate": sur_sim, "region": reg_sim}
    return space, record
