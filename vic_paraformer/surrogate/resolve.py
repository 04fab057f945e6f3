"""The one way strategies turn their ``surrogate`` option into a checked surrogate.

Both the DL strategies and the per-cell spotpy strategies take ``surrogate=`` as a checkpoint
path or an in-memory object. :func:`resolve_surrogate` loads a path (once per process, see
:func:`load_surrogate_cached`), checks that the object follows the surrogate contract
(:data:`SURROGATE_CONTRACT`) and settles the parameter space: a calibrator built without an
explicit ``parameter_space`` adopts the surrogate's; one built with a different space is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SurrogateError
from ..parameters import ParameterSpace
from .model import Surrogate

#: Attributes every surrogate object must have (``forward(x, a, theta_u)`` besides).
SURROGATE_CONTRACT: tuple[str, ...] = ("prepare", "check_region", "parameter_space", "warmup")

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
    """A checked surrogate, the path it came from (None: in memory) and the parameter space to use."""

    surrogate: Any
    path: str | None
    parameter_space: ParameterSpace


def resolve_surrogate(option: Any, parameter_space: ParameterSpace, *, space_given: bool) -> ResolvedSurrogate:
    """Load (if a path) and check the ``surrogate`` option of a strategy.

    Raises :class:`SurrogateError` when the option is missing, the file is missing or invalid,
    the object lacks part of :data:`SURROGATE_CONTRACT`, or ``space_given`` and the surrogate was
    trained on another parameter space.
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
    space = parameter_space
    if sur.parameter_space != parameter_space:
        if space_given:
            raise SurrogateError(
                f"the surrogate was trained on parameter space {sur.parameter_space.to_dict()}, but the calibrator "
                f"was given {parameter_space.to_dict()}; they must be equal")
        space = sur.parameter_space
    return ResolvedSurrogate(surrogate=sur, path=path, parameter_space=space)


def surrogate_file_problem(option: Any) -> str | None:
    """A preflight message when ``option`` names a checkpoint file that does not exist (else None)."""
    if isinstance(option, (str, Path)) and not Path(option).exists():
        return f"surrogate checkpoint {option} not found"
    return None
