"""The calibrated VIC soil parameters and their bounds.

Five parameters are calibrated (paper Table 1):

========  ==========================================================  ==============  ==============
name      meaning                                                     ``vic`` preset  ``paper`` preset
========  ==========================================================  ==============  ==============
infilt    shape of the variable infiltration curve (-)                [0.001, 0.5]    [0, 1]
Ds        fraction of Dsmax where non-linear baseflow begins (-)      [0.001, 1.0]    [0, 7.6]
Dsmax     maximum baseflow velocity (mm/day)                          [0.1, 30.0]     [0, 10.8]
Ws        fraction of max. soil moisture where non-linear baseflow    [0.1, 0.99]     [0, 1]
          begins (-)
expt      Brooks-Corey exponent of the top layer (-)                  [3.0, 20.0]     [0, 4.6]
========  ==========================================================  ==============  ==============

VIC's image driver checks none of these and silently runs on with nonsense or NaN
(``../shared/docs/vic-io.md``): ``0 < infilt <= 1``, ``0 <= Ds <= 1``, ``Dsmax >= 0``,
``0 < Ws < 1`` and ``expt >= 3`` are what VIC can use physically (the table of
:mod:`vic_paraformer.plausibility`, ``docs/vic-parameter-ranges.md``). The ``vic`` preset
(the default) stays inside that; the ``paper`` preset reproduces Table 1 exactly and warns
where it leaves the valid range.

Normalised values ``u`` in [0, 1] map linearly to ``lower + u * (upper - lower)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ParameterError
from .plausibility import RANGE_OF

PARAMETER_NAMES: tuple[str, ...] = ("infilt", "Ds", "Dsmax", "Ws", "expt")

PARAMETER_DESCRIPTIONS: dict[str, str] = {
    "infilt": "variable infiltration curve shape parameter (-)",
    "Ds": "fraction of Dsmax where non-linear baseflow begins (-)",
    "Dsmax": "maximum baseflow velocity (mm/day)",
    "Ws": "fraction of maximum soil moisture where non-linear baseflow occurs (-)",
    "expt": "Brooks-Corey exponent of the top soil layer (-)",
}

PARAMETER_UNITS: dict[str, str] = {"infilt": "1", "Ds": "1", "Dsmax": "mm day-1", "Ws": "1", "expt": "1"}

#: Bound presets of :meth:`ParameterSpace.preset` (bounds only; the DL training presets are in
#: :mod:`vic_paraformer.dl.presets`, the surrogate's in ``surrogate.train.SURROGATE_PRESETS``).
BOUND_PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "vic": {
        "infilt": (0.001, 0.5),
        "Ds": (0.001, 1.0),
        "Dsmax": (0.1, 30.0),
        "Ws": (0.1, 0.99),
        "expt": (3.0, 20.0),
    },
    "paper": {
        "infilt": (0.0, 1.0),
        "Ds": (0.0, 7.6),
        "Dsmax": (0.0, 10.8),
        "Ws": (0.0, 1.0),
        "expt": (0.0, 4.6),
    },
}


# What VIC can use physically: (lower, lower_inclusive, upper, upper_inclusive), from the one table of
# plausible VIC values (:data:`vic_paraformer.plausibility.RANGES`).
VIC_VALID: dict[str, tuple[float, bool, float, bool]] = {
    n: (RANGE_OF[n].lower, RANGE_OF[n].lower_inclusive, RANGE_OF[n].upper, RANGE_OF[n].upper_inclusive)
    for n in PARAMETER_NAMES
}


def vic_valid_problems(name: str, lower: float, upper: float) -> list[str]:
    """Describe where ``[lower, upper]`` leaves the range VIC can use for ``name``."""
    if name not in VIC_VALID:
        return []
    lo, lo_inc, hi, hi_inc = VIC_VALID[name]
    problems = []
    if lower < lo or (lower == lo and not lo_inc):
        problems.append(f"{name} lower bound {lower:g} is below VIC's valid {'>=' if lo_inc else '>'} {lo:g}")
    if upper > hi or (upper == hi and not hi_inc):
        problems.append(f"{name} upper bound {upper:g} is above VIC's valid {'<=' if hi_inc else '<'} {hi:g}")
    return problems


def vic_clip_limits(name: str) -> tuple[float, float]:
    """Closed limits to clip ``name`` into before writing a VIC parameter file."""
    tiny = 1e-6
    lo, lo_inc, hi, hi_inc = VIC_VALID[name]
    return (lo if lo_inc else lo + tiny, hi if hi_inc else hi - tiny)


@dataclass(frozen=True)
class ParameterSpace:
    """Names and bounds of the calibrated parameters.

    Build one with :meth:`preset` (``"vic"``, the default, or ``"paper"``) or directly from
    names and bounds. All array methods accept numpy arrays or torch tensors whose last axis
    runs over the parameters in :attr:`names` order.
    """

    names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    preset_name: str = "custom"
    _warned: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        lower = tuple(float(x) for x in self.lower)
        upper = tuple(float(x) for x in self.upper)
        if not names:
            raise ParameterError("a ParameterSpace needs at least one parameter")
        if len(set(names)) != len(names):
            raise ParameterError(f"duplicate parameter names in {names}")
        if not (len(names) == len(lower) == len(upper)):
            raise ParameterError(
                f"names ({len(names)}), lower ({len(lower)}) and upper ({len(upper)}) bounds differ in length"
            )
        for n, lo, hi in zip(names, lower, upper):
            if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
                raise ParameterError(f"parameter {n}: bounds must be finite with lower < upper, got [{lo}, {hi}]")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    # ------------------------------------------------------------------ construction
    @classmethod
    def preset(cls, name: str = "vic", names: Sequence[str] | None = None) -> "ParameterSpace":
        """Return the ``vic`` (physically valid, default) or ``paper`` (Table 1) space.

        The ``paper`` preset warns for each bound VIC cannot use physically.
        """
        if name not in BOUND_PRESETS:
            raise ParameterError(f"unknown parameter preset {name!r}; expected one of {sorted(BOUND_PRESETS)}")
        table = BOUND_PRESETS[name]
        names = tuple(names) if names is not None else PARAMETER_NAMES
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ParameterError(f"preset {name!r} has no bounds for {unknown}; known: {list(table)}")
        space = cls(names, tuple(table[n][0] for n in names), tuple(table[n][1] for n in names), name)
        problems = space.vic_problems()
        if problems:
            warnings.warn(
                f"parameter preset {name!r} leaves the range VIC can use: " + "; ".join(problems)
                + ". Parameters written for VIC are clipped into the valid range.",
                UserWarning,
                stacklevel=2,
            )
        return space

    @classmethod
    def resolve(cls, space: "ParameterSpace | str | Mapping[str, Any] | None") -> "ParameterSpace":
        """Accept a ParameterSpace, a preset name, a :meth:`to_dict` mapping or None (the ``vic`` preset)."""
        if space is None:
            return cls.preset("vic")
        if isinstance(space, ParameterSpace):
            return space
        if isinstance(space, str):
            return cls.preset(space)
        if isinstance(space, Mapping):
            return cls.from_dict(space)
        raise ParameterError(f"cannot make a ParameterSpace from {type(space).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (stored in checkpoints and results)."""
        return {"names": list(self.names), "lower": list(self.lower), "upper": list(self.upper),
                "preset": self.preset_name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ParameterSpace":
        try:
            return cls(tuple(d["names"]), tuple(d["lower"]), tuple(d["upper"]), d.get("preset", "custom"))
        except KeyError as exc:
            raise ParameterError(f"parameter space description lacks {exc.args[0]!r}") from None

    # ------------------------------------------------------------------ properties
    @property
    def n(self) -> int:
        """Number of parameters p."""
        return len(self.names)

    def bounds(self, name: str) -> tuple[float, float]:
        try:
            i = self.names.index(name)
        except ValueError:
            raise ParameterError(f"unknown parameter {name!r}; this space has {list(self.names)}") from None
        return self.lower[i], self.upper[i]

    def vic_problems(self) -> list[str]:
        """Bounds that leave the range VIC can use physically (empty for the ``vic`` preset)."""
        out: list[str] = []
        for n, lo, hi in zip(self.names, self.lower, self.upper):
            out.extend(vic_valid_problems(n, lo, hi))
        return out

    # ------------------------------------------------------------------ transforms
    def _lu(self, like):
        lo, up = np.asarray(self.lower), np.asarray(self.upper)
        if _is_torch(like):
            import torch

            return (torch.as_tensor(lo, dtype=like.dtype, device=like.device),
                    torch.as_tensor(up, dtype=like.dtype, device=like.device))
        return lo, up

    def _check_last_axis(self, x) -> None:
        if x.shape[-1] != self.n:
            raise ParameterError(f"expected last axis of length {self.n} ({', '.join(self.names)}), got shape {tuple(x.shape)}")

    def normalize(self, x):
        """Physical values -> [0, 1] (values outside the bounds map outside [0, 1])."""
        x = x if _is_torch(x) else np.asarray(x, dtype=float)
        self._check_last_axis(x)
        lo, up = self._lu(x)
        return (x - lo) / (up - lo)

    def denormalize(self, u):
        """[0, 1] -> physical values."""
        u = u if _is_torch(u) else np.asarray(u, dtype=float)
        self._check_last_axis(u)
        lo, up = self._lu(u)
        return lo + u * (up - lo)

    def clip(self, x):
        """Clip physical values into the bounds."""
        x = x if _is_torch(x) else np.asarray(x, dtype=float)
        self._check_last_axis(x)
        lo, up = self._lu(x)
        if _is_torch(x):
            import torch

            return torch.minimum(torch.maximum(x, lo), up)
        return np.clip(x, lo, up)

    def contains(self, x, atol: float = 1e-9) -> bool:
        """True if every value lies inside the bounds (within ``atol``)."""
        x = np.asarray(x.detach().cpu() if _is_torch(x) else x, dtype=float)
        self._check_last_axis(x)
        lo, up = np.asarray(self.lower), np.asarray(self.upper)
        return bool(np.all(np.isfinite(x)) and np.all(x >= lo - atol) and np.all(x <= up + atol))

    def midpoint(self) -> np.ndarray:
        """The centre of the space (physical values, shape ``(p,)``)."""
        return (np.asarray(self.lower) + np.asarray(self.upper)) / 2.0

    def sample(self, n: int, seed: int = 0, method: str = "lhs") -> np.ndarray:
        """Draw ``n`` parameter sets (physical values, shape ``(n, p)``).

        ``method="lhs"``: Latin hypercube (each parameter's range cut into ``n`` equal strata,
        one draw per stratum, strata shuffled independently per parameter); ``"uniform"``:
        independent uniform draws. Seeded: the same seed gives the same samples.
        """
        if n < 1:
            raise ParameterError(f"sample size must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        if method == "lhs":
            u = (rng.random((n, self.n)) + np.arange(n)[:, None]) / n
            for j in range(self.n):
                u[:, j] = u[rng.permutation(n), j]
        elif method == "uniform":
            u = rng.random((n, self.n))
        else:
            raise ParameterError(f"unknown sampling method {method!r}; expected 'lhs' or 'uniform'")
        return self.denormalize(u)

    # ------------------------------------------------------------------ xarray helpers
    def to_dataset(self, values, cells, dims: tuple[str, ...] = ("cell",)):
        """Wrap an array ``(..., p)`` as an xarray Dataset with one variable per parameter.

        ``dims`` names the leading axes (``("cell",)`` or ``("sample", "cell")``); ``cells`` gives
        the ``cell`` coordinate.
        """
        import xarray as xr

        values = np.asarray(values.detach().cpu() if _is_torch(values) else values, dtype=float)
        self._check_last_axis(values)
        if values.ndim - 1 != len(dims):
            raise ParameterError(f"values of shape {values.shape} do not match dims {dims} + (parameter,)")
        coords = {"cell": np.asarray(cells)} if "cell" in dims else {}
        data = {
            name: (dims, values[..., j], {"long_name": PARAMETER_DESCRIPTIONS.get(name, name),
                                           "units": PARAMETER_UNITS.get(name, "1"),
                                           "lower_bound": lo, "upper_bound": hi})
            for j, (name, lo, hi) in enumerate(zip(self.names, self.lower, self.upper))
        }
        return xr.Dataset(data, coords=coords)

    def from_dataset(self, ds, prefix: str = "") -> np.ndarray:
        """Stack the parameter variables of ``ds`` into an array ``(..., p)``.

        ``prefix`` reads e.g. ``true_infilt`` with ``prefix="true_"``.
        """
        missing = [prefix + n for n in self.names if prefix + n not in ds]
        if missing:
            raise ParameterError(f"parameter dataset lacks variable(s) {missing}; expected {[prefix + n for n in self.names]}")
        return np.stack([np.asarray(ds[prefix + n].values, dtype=float) for n in self.names], axis=-1)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


#: How :func:`default_parameters` names its source when the region carries parameters of its own.
OWN_PARAMETERS: str = "the region's current parameters"

#: Parameters used as the default baseline when a region carries none of its own (common VIC values).
TYPICAL_VIC_DEFAULTS: dict[str, float] = {"infilt": 0.2, "Ds": 0.001, "Dsmax": 10.0, "Ws": 0.9, "expt": 12.0}


def default_parameters(region, space: "ParameterSpace | str | None" = None) -> tuple[np.ndarray, str]:
    """The default-parameter baseline ``(cell, p)`` of ``region`` and a sentence saying where it comes from.

    The region's own ``infilt .. expt`` (e.g. imported from a VIC parameter file) when it has them,
    else :data:`TYPICAL_VIC_DEFAULTS` clipped to ``space`` (its midpoint for a parameter not listed).
    """
    space = ParameterSpace.resolve(space)
    own = region.parameters(space)
    if own is not None and np.all(np.isfinite(own)):
        return np.clip(own, space.lower, space.upper), OWN_PARAMETERS
    vals = np.array([TYPICAL_VIC_DEFAULTS.get(n, np.nan) for n in space.names], float)
    vals = np.where(np.isfinite(vals), vals, space.midpoint())
    vals = np.clip(vals, space.lower, space.upper)
    return np.tile(vals, (region.n_cells, 1)), ("typical VIC defaults " + ", ".join(
        f"{n}={v:g}" for n, v in zip(space.names, vals)) + " (the region has no parameters of its own)")
