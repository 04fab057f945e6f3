"""The one way strategies turn their ``surrogate`` option into a checked surrogate.

Both the DL strategies and the per-cell spotpy strategies take ``surrogate=`` as a checkpoint
path or an in-memory object. :func:`resolve_surrogate` loads a path (once per process, see
:func:`load_surrogate_cached`), checks that the object follows the surrogate contract
(:data:`SURROGATE_CONTRACT`) and settles the parameter space: a calibrator built without an
explicit ``parameter_space`` adopts the surrogate's; one built with a subset of the surrogate's
parameters gets the surrogate wrapped so the others stay at each cell's own value
(:class:`~.fixed.FixedParameterSurrogate`); any other different space is an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SurrogateError
from ..parameters import ParameterSpace
from ..region import Region
from .model import Surrogate

#: Attributes every surrogate object must have (``forward(x, a, theta_u)`` besides).
SURROGATE_CONTRACT: tuple[str, ...] = ("prepare", "check_region", "parameter_space", "warmup")

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, float], Surrogate] = {}


def load_surrogate_cached(path: str | Path) -> Surrogate:
    """Load a surrogate checkpoint once per process (keyed by resolved path and mtime)."""
    p = Path(path).resolve()
    if not p.exists():
        raise SurrogateError(f"{path}: surrogate checkpoint not found")
    key = (str(p), p.stat().st_mtime)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Surrogate.load(p)
    return _CACHE[key]


@dataclass
class ResolvedSurrogate:
    """A checked surrogate, the path it came from (None: in memory), the parameter space to use and
    ``checks``: what was compared and adopted (strategies store it as ``info["surrogate_checks"]``)."""

    surrogate: Any
    path: str | None
    parameter_space: ParameterSpace
    checks: dict = field(default_factory=dict)


def region_simulator(region: Region) -> str | None:
    """The simulator a region was made with or for, when it records one (synthetic twins, VIC imports)."""
    attrs = region.ds.attrs
    if "vic_parameters_file" in attrs:
        return "vic"
    sim = attrs.get("simulator")
    if isinstance(sim, str) and sim.strip():
        return sim.split()[0].strip()
    return None


def _bounds(space: ParameterSpace) -> str:
    return ", ".join(f"{n} {lo:g}..{hi:g}" for n, lo, hi in zip(space.names, space.lower, space.upper))


def resolve_surrogate(option: Any, parameter_space: ParameterSpace, *, space_given: bool, strategy: str = "",
                      region: Region | None = None, simulator: str | None = None) -> ResolvedSurrogate:
    """Load (if a path) and check the ``surrogate`` option of a strategy.

    Raises :class:`SurrogateError` when the option is missing, the file is missing or invalid,
    the object lacks part of :data:`SURROGATE_CONTRACT`, the parameter names differ, ``space_given``
    and the surrogate was trained on other bounds (both are named), or the strategy's ``simulator``
    is not the one the surrogate imitates. Without ``space_given`` the surrogate's parameter set and bounds are adopted,
    logged and recorded in ``checks``; a region made with another simulator than the surrogate's is
    a logged warning, recorded too.
    """
    if option is None:
        raise SurrogateError("option 'surrogate' is required (a trained surrogate file or a Surrogate object); "
                             "train one with `vic-paraformer surrogate train`")
    if isinstance(option, (str, Path)):
        sur, path = load_surrogate_cached(option), str(Path(option).resolve())
    else:
        sur, path = option, getattr(option, "path", None)
    for attr in SURROGATE_CONTRACT:
        if not hasattr(sur, attr):
            raise SurrogateError(f"option 'surrogate' is a {type(sur).__name__}, not a Surrogate (it lacks {attr!r})")
    src = path or "the surrogate"
    who = f"strategy {strategy!r}" if strategy else "the calibrator"
    checks: dict = {}
    sur_space: ParameterSpace = sur.parameter_space
    if list(sur_space.names) != list(parameter_space.names) and not space_given:
        from ..parameters import parameter_set_label

        log.info("%s: calibrating the surrogate's parameter set %s", src, parameter_set_label(sur_space.names))
        checks["adopted_parameter_set"] = list(sur_space.names)
        parameter_space = sur_space
    if (space_given and list(sur_space.names) != list(parameter_space.names)
            and set(parameter_space.names) < set(sur_space.names)):
        from ..parameters import parameter_set_label
        from .fixed import FixedParameterSurrogate

        sur = FixedParameterSurrogate(sur, parameter_space)
        log.info("%s: surrogate of %s; %s calibrates %s, the others (%s) stay at each cell's own value", src,
                 parameter_set_label(sur_space.names), who, ", ".join(parameter_space.names),
                 ", ".join(sur.fixed_names))
        checks["fixed_parameters"] = list(sur.fixed_names)
        sur_space = sur.parameter_space
    if list(sur_space.names) != list(parameter_space.names):
        from ..parameters import parameter_set_label

        raise SurrogateError(f"{src}: surrogate covers the parameter set {parameter_set_label(sur_space.names)}; "
                             f"{who} calibrates {parameter_set_label(parameter_space.names)}; train a surrogate "
                             "on that set (surrogate train --parameters) or calibrate the surrogate's set")
    space = parameter_space
    bounds_differ = (tuple(sur_space.lower), tuple(sur_space.upper)) != (tuple(parameter_space.lower),
                                                                         tuple(parameter_space.upper))
    if bounds_differ and space_given:
        raise SurrogateError(f"{src}: surrogate trained on bounds {_bounds(sur_space)}; {who} was given "
                             f"{_bounds(parameter_space)}; they must be equal (give the surrogate's parameter "
                             "space, or train a surrogate on these bounds)")
    if bounds_differ:
        log.warning("%s: %s adopts the surrogate's bounds (%s) instead of the default (%s)", src, who,
                    _bounds(sur_space), _bounds(parameter_space))
        checks["adopted_parameter_space"] = {"from": parameter_space.to_dict(), "to": sur_space.to_dict()}
    if not space_given:
        space = sur_space
    sur_sim = str(getattr(sur, "simulator", None) or "unknown")
    checks["surrogate_simulator"] = sur_sim
    if simulator is not None and sur_sim != "unknown" and str(simulator) != sur_sim:
        raise SurrogateError(f"{src}: surrogate imitates simulator {sur_sim!r}; {who} was given "
                             f"simulator={simulator!r}")
    if region is not None:
        reg_sim = region_simulator(region)
        if reg_sim is not None and sur_sim != "unknown" and reg_sim != sur_sim:
            log.warning("%s: the surrogate imitates simulator %r but %s was made with %r", src, sur_sim,
                        region.source or "the region", reg_sim)
            checks["simulator_mismatch"] = {"surrogate": sur_sim, "region": reg_sim}
    return ResolvedSurrogate(surrogate=sur, path=path, parameter_space=space, checks=checks)


def surrogate_file_problem(option: Any) -> str | None:
    """A preflight message when ``option`` names a checkpoint file that does not exist (else None)."""
    if isinstance(option, (str, Path)) and not Path(option).exists():
        return f"surrogate checkpoint {option} not found"
    return None
