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

Which parameters: ``--parameters``
----------------------------------
The five above are the ``paper`` set (the default). Any set of names from this table can be
calibrated instead (``--parameters NAME,NAME,...`` or a set name below); the bounds come from the
bound preset (``--parameter-space vic|paper``): ``paper`` gives Table 1's bounds to the five it
lists and the ``vic`` bounds to every other name (Table 1 lists no others).

==========  ======  ===============================================================  =============
name        units   meaning (VIC parameter-file variable, layer)                      ``vic`` bounds
==========  ======  ===============================================================  =============
infilt      1       variable infiltration curve shape (``infilt``)                    [0.001, 0.5]
Ds          1       fraction of Dsmax where non-linear baseflow begins (``Ds``)       [0.001, 1.0]
Dsmax       mm/day  maximum baseflow velocity (``Dsmax``)                             [0.1, 30.0]
Ws          1       fraction of max. moisture where non-linear baseflow begins        [0.1, 0.99]
expt        1       Brooks-Corey exponent, one value tied across every layer          [3.0, 20.0]
expt1..3    1       Brooks-Corey exponent of layer 1, 2 or 3 alone (``expt``)         [3.0, 20.0]
depth2      m       thickness of soil layer 2 (``depth``, layer 2)                    [0.1, 1.5]
depth3      m       thickness of soil layer 3 (``depth``, layer 3)                    [0.1, 1.5]
Ksat_mult   1       multiplier of the saturated conductivity of every layer (``Ksat``)  [0.1, 10.0]
==========  ======  ===============================================================  =============

``expt`` and ``expt1..3`` exclude each other in one set. Multipliers (names ending ``_mult``,
table :data:`MULTIPLIERS`) scale the setup's own value of a soil variable in every layer instead of
replacing it: a multiplier of 1 leaves the setup unchanged. To add one, add a row to
:data:`MULTIPLIERS` (the VIC variable it scales) and to :data:`CALIBRATABLE` (its bounds); the
``waterbalance`` simulator honours those of :data:`WATERBALANCE_MULTIPLIERS` only.

Named sets (:data:`PARAMETER_SETS`): ``paper`` (``infilt, Ds, Dsmax, Ws, expt``, the default),
``vic-classic`` (``infilt, Ds, Dsmax, Ws, depth2, depth3``: VIC's calibration guide), ``all``
(every name, ``expt`` per layer) and ``auto`` (the identifiable parameters of the region, chosen by
:func:`vic_paraformer.sensitivity.select_identifiable`). A parameter the set leaves out keeps the
setup's own value (the region's parameter or attribute; a typical VIC value when it has none).
Layer depths are rewritten with the moisture that depends on them kept consistent (the rule of
:func:`scale_init_moist`).

Long module (over 400 lines): the table of calibratable parameters, their named sets and bounds and
the space they make are one contract every layer reads; split, each part would import the others.
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


@dataclass(frozen=True)
class Calibratable:
    """One calibratable parameter: where it sits in a VIC parameter file and its ``vic`` bounds.

    ``vic_var`` is the parameter-file variable; ``layer`` the 0-based soil layer it sets (None: a
    variable without layers; ``"all"``: every layer); ``multiplier``: the value scales the setup's
    own value instead of replacing it.
    """

    name: str
    vic_var: str
    layer: int | str | None
    units: str
    description: str
    bounds: tuple[float, float]
    multiplier: bool = False


#: Every calibratable parameter (see the module docstring's table).
CALIBRATABLE: tuple[Calibratable, ...] = (
    Calibratable("infilt", "infilt", None, "1", PARAMETER_DESCRIPTIONS["infilt"], (0.001, 0.5)),
    Calibratable("Ds", "Ds", None, "1", PARAMETER_DESCRIPTIONS["Ds"], (0.001, 1.0)),
    Calibratable("Dsmax", "Dsmax", None, "mm day-1", PARAMETER_DESCRIPTIONS["Dsmax"], (0.1, 30.0)),
    Calibratable("Ws", "Ws", None, "1", PARAMETER_DESCRIPTIONS["Ws"], (0.1, 0.99)),
    Calibratable("expt", "expt", "all", "1", "Brooks-Corey exponent, tied across every soil layer (-)", (3.0, 20.0)),
    Calibratable("expt1", "expt", 0, "1", "Brooks-Corey exponent of soil layer 1 (-)", (3.0, 20.0)),
    Calibratable("expt2", "expt", 1, "1", "Brooks-Corey exponent of soil layer 2 (-)", (3.0, 20.0)),
    Calibratable("expt3", "expt", 2, "1", "Brooks-Corey exponent of soil layer 3 (-)", (3.0, 20.0)),
    Calibratable("depth2", "depth", 1, "m", "thickness of soil layer 2 (m)", (0.1, 1.5)),
    Calibratable("depth3", "depth", 2, "m", "thickness of soil layer 3 (m)", (0.1, 1.5)),
    Calibratable("Ksat_mult", "Ksat", "all", "1", "multiplier of the saturated hydraulic conductivity of every "
                 "soil layer (-)", (0.1, 10.0), multiplier=True),
)
CALIBRATABLE_BY_NAME: dict[str, Calibratable] = {c.name: c for c in CALIBRATABLE}

#: Multiplier name -> the VIC soil variable it scales (every layer).
MULTIPLIERS: dict[str, str] = {c.name: c.vic_var for c in CALIBRATABLE if c.multiplier}
#: Multipliers the ``waterbalance`` simulator honours (its ``ksat`` attribute).
WATERBALANCE_MULTIPLIERS: tuple[str, ...] = ("Ksat_mult",)

#: Named parameter sets of ``--parameters`` (``auto`` is resolved per region, see the module docstring).
PARAMETER_SETS: dict[str, tuple[str, ...]] = {
    "paper": PARAMETER_NAMES,
    "vic-classic": ("infilt", "Ds", "Dsmax", "Ws", "depth2", "depth3"),
    "all": ("infilt", "Ds", "Dsmax", "Ws", "expt1", "expt2", "expt3", "depth2", "depth3", "Ksat_mult"),
}
#: The value of ``--parameters`` that selects the identifiable parameters of the region.
AUTO = "auto"

for _c in CALIBRATABLE:
    PARAMETER_DESCRIPTIONS.setdefault(_c.name, _c.description)
    PARAMETER_UNITS.setdefault(_c.name, _c.units)
BOUND_PRESETS["vic"].update({c.name: c.bounds for c in CALIBRATABLE if c.name not in BOUND_PRESETS["vic"]})
BOUND_PRESETS["paper"].update({f"expt{k}": BOUND_PRESETS["paper"]["expt"] for k in (1, 2, 3)})


def _vic_valid(name: str) -> tuple[float, bool, float, bool] | None:
    c = CALIBRATABLE_BY_NAME.get(name)
    if c is None:
        return None
    if c.multiplier:
        return (0.0, False, float("inf"), True)
    r = RANGE_OF[c.vic_var]
    return (r.lower, r.lower_inclusive, r.upper, r.upper_inclusive)


# What VIC can use physically: (lower, lower_inclusive, upper, upper_inclusive), from the one table of
# plausible VIC values (:data:`vic_paraformer.plausibility.RANGES`); a multiplier must be > 0.
VIC_VALID: dict[str, tuple[float, bool, float, bool]] = {c.name: _vic_valid(c.name) for c in CALIBRATABLE}


def parameter_set_label(names: Sequence[str]) -> str:
    """``"paper (infilt, Ds, ...)"``: the named set ``names`` equals (any order), else ``"custom (...)"``."""
    names = tuple(names)
    label = next((k for k, v in PARAMETER_SETS.items() if set(v) == set(names) and len(v) == len(names)), "custom")
    return f"{label} ({', '.join(names)})"


#: Attribute of a parameter Dataset that declares it sets only these of the paper's five
#: (:meth:`ParameterSpace.to_dataset`); the simulators run the others at the region's own values.
PARAMETER_SET_ATTR = "parameter_set"


def parameter_set_attrs(names: Sequence[str]) -> dict[str, str]:
    """The attributes of a parameter Dataset setting ``names``: :data:`PARAMETER_SET_ATTR` when they are
    some but not all of the paper's five (empty otherwise)."""
    names = tuple(str(n) for n in names)
    return {PARAMETER_SET_ATTR: ",".join(names)} if set(names) < set(PARAMETER_NAMES) else {}


def resolve_parameter_names(spec: "str | Sequence[str] | None", *, region=None, surrogate=None, simulator=None,
                            space: "ParameterSpace | None" = None, objective_options=None, threshold=None,
                            seed: int = 0, option: str = "--parameters", selector=None) -> tuple[str, ...]:
    """The parameter names of ``--parameters`` ``spec``: None (the ``paper`` set), a set name of
    :data:`PARAMETER_SETS`, ``"auto"``, comma-separated names of :data:`CALIBRATABLE` or a sequence of them.

    ``auto`` calls ``selector`` -- :func:`vic_paraformer.sensitivity.select_identifiable`, which the
    layers above pass in (this core module does not import the sensitivity analysis) -- on ``region``
    (required) with ``space`` (the candidates; default: the paper's five, ``vic`` bounds) and the other
    keywords.
    Raises :class:`ParameterError` naming ``option`` and what was expected.
    """
    if spec is None:
        return PARAMETER_NAMES
    if isinstance(spec, str):
        text = spec.strip()
        if text in PARAMETER_SETS:
            return PARAMETER_SETS[text]
        if text == AUTO:
            return _auto_names(region, surrogate=surrogate, simulator=simulator, space=space,
                               objective_options=objective_options, threshold=threshold, seed=seed, option=option,
                               selector=selector)
        names = tuple(n.strip() for n in text.split(",") if n.strip())
    else:
        names = tuple(str(n) for n in spec)
    expected = (f"expected a set ({', '.join([*PARAMETER_SETS, AUTO])}) or comma-separated names from "
                f"{', '.join(c.name for c in CALIBRATABLE)}")
    if not names:
        raise ParameterError(f"{option} {spec!r}: no parameter named; {expected}")
    unknown = [n for n in names if n not in CALIBRATABLE_BY_NAME]
    if unknown:
        raise ParameterError(f"{option} {spec!r}: unknown parameter(s) {', '.join(unknown)}; {expected}")
    if len(set(names)) != len(names):
        raise ParameterError(f"{option} {spec!r}: a parameter is named twice")
    if "expt" in names and any(n in names for n in ("expt1", "expt2", "expt3")):
        raise ParameterError(f"{option} {spec!r}: expt (tied across layers) and expt1..expt3 (per layer) exclude "
                             "each other; name one or the other")
    return names


def _auto_names(region, *, surrogate, simulator, space, objective_options, threshold, seed, option,
                selector) -> tuple[str, ...]:
    if selector is None:
        raise ParameterError(f"{option} auto needs the sensitivity module (vic_paraformer.sensitivity."
                             "select_identifiable, passed as selector=)")
    select_identifiable = selector
    if region is None:
        raise ParameterError(f"{option} auto needs the region to choose the identifiable parameters of")
    # the candidates: the paper's five (what the sensitivity analysis can vary through the simulators)
    space = space if space is not None else ParameterSpace.preset("vic", names=PARAMETER_NAMES)
    names = tuple(select_identifiable(region, surrogate=surrogate, simulator=simulator, space=space,
                                      objective_options=objective_options, threshold=threshold, seed=seed))
    if not names:
        raise ParameterError(f"{option} auto: no parameter of {list(space.names)} is identifiable on this region")
    return resolve_parameter_names(list(names), option=option)


def build_space(parameters: "str | Sequence[str] | None" = None, bounds: "str | ParameterSpace | Mapping | None" = None,
                **auto: Any) -> "ParameterSpace":
    """The ParameterSpace of ``--parameters`` ``parameters`` with the bounds of ``--parameter-space`` ``bounds``.

    ``bounds`` is a bound preset name (default ``vic``), or a ParameterSpace / mapping whose bounds are
    used for the names it has (the others take ``vic`` bounds). ``auto`` keywords go to
    :func:`resolve_parameter_names` (``region=...`` for ``auto``).
    """
    names = resolve_parameter_names(parameters, **auto)
    if bounds is None or isinstance(bounds, str):
        return ParameterSpace.preset(bounds or "vic", names=names)
    given = ParameterSpace.resolve(bounds)
    vic = BOUND_PRESETS["vic"]
    lo = tuple(given.bounds(n)[0] if n in given.names else vic[n][0] for n in names)
    hi = tuple(given.bounds(n)[1] if n in given.names else vic[n][1] for n in names)
    return ParameterSpace(names, lo, hi, given.preset_name)


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
    if CALIBRATABLE_BY_NAME[name].multiplier:
        return (tiny, hi)
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
        table = {**BOUND_PRESETS["vic"], **BOUND_PRESETS[name]}   # names a preset lacks take the vic bounds
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
        the ``cell`` coordinate. A space of some of the paper's five (``--parameters expt``) marks the
        Dataset with the attribute ``parameter_set`` (its names), so that a simulator runs the others at
        the region's own values instead of rejecting the Dataset as incomplete.
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
        return xr.Dataset(data, coords=coords, attrs=parameter_set_attrs(self.names))

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

def scale_init_moist(init_moist, old_depth, new_depth, porosity):
    """The initial layer moisture (mm) of a layer whose thickness changes from ``old_depth`` to ``new_depth`` (m).

    The rule: the moisture keeps its volumetric content, ``init_moist * new_depth / old_depth``, and
    never exceeds the layer's pore space ``porosity * new_depth * 1000`` (mm; ``porosity`` in m3 m-3,
    VIC's ``1 - bulk_density / soil_density``). Arrays broadcast; a layer whose depth is unchanged
    keeps its moisture (up to the same cap).
    """
    init_moist = np.asarray(init_moist, float)
    old_depth, new_depth = np.asarray(old_depth, float), np.asarray(new_depth, float)
    scaled = init_moist * new_depth / np.where(old_depth > 0, old_depth, np.nan)
    scaled = np.where(np.isfinite(scaled), scaled, init_moist)
    return np.minimum(scaled, np.asarray(porosity, float) * new_depth * 1000.0)


#: Parameters used as the default baseline when a region carries none of its own (common VIC values;
#: the depths are the ``waterbalance`` simulator's default layer thicknesses, a multiplier's neutral 1).
TYPICAL_VIC_DEFAULTS: dict[str, float] = {"infilt": 0.2, "Ds": 0.001, "Dsmax": 10.0, "Ws": 0.9, "expt": 12.0,
                                          "expt1": 12.0, "expt2": 12.0, "expt3": 12.0, "depth2": 0.4,
                                          "depth3": 1.0, "Ksat_mult": 1.0}

#: Where a region keeps its own value of a parameter that is not a variable of its own: the attribute.
REGION_ATTRIBUTE: dict[str, str] = {"depth2": "soil_depth2", "depth3": "soil_depth3"}


def own_values(region, name: str) -> np.ndarray | None:
    """The region's own value ``(cell,)`` of parameter ``name`` (None when it has none).

    A variable of that name (``infilt`` .. ``expt``); ``expt1..3`` fall back on ``expt``; layer depths
    are the attributes of :data:`REGION_ATTRIBUTE`; a multiplier's own value is 1.
    """
    ds = region.ds
    for var in (name, "expt" if name in ("expt1", "expt2", "expt3") else None):
        if var and var in ds and ds[var].dims == ("cell",):
            return np.asarray(ds[var].values, float)
    if name in REGION_ATTRIBUTE and REGION_ATTRIBUTE[name] in region.attribute_names:
        return np.asarray(region.attribute(REGION_ATTRIBUTE[name]), float)
    if name in MULTIPLIERS:
        return np.ones(region.n_cells)
    return None


def default_parameters(region, space: "ParameterSpace | str | None" = None) -> tuple[np.ndarray, str]:
    """The default-parameter baseline ``(cell, p)`` of ``region`` and a sentence saying where it comes from.

    The region's own values (:func:`own_values`, e.g. imported from a VIC parameter file) when it has
    them for every parameter, else :data:`TYPICAL_VIC_DEFAULTS` clipped to ``space`` (its midpoint for a
    parameter not listed) for those it lacks.
    """
    space = ParameterSpace.resolve(space)
    own = [own_values(region, n) for n in space.names]
    if all(v is not None and np.all(np.isfinite(v)) for v in own):
        return np.clip(np.stack(own, axis=-1), space.lower, space.upper), OWN_PARAMETERS
    vals = np.array([TYPICAL_VIC_DEFAULTS.get(n, np.nan) for n in space.names], float)
    vals = np.where(np.isfinite(vals), vals, space.midpoint())
    vals = np.clip(vals, space.lower, space.upper)
    out = np.tile(vals, (region.n_cells, 1))
    mine = [j for j, v in enumerate(own) if v is not None and np.all(np.isfinite(v))]
    for j in mine:
        out[:, j] = np.clip(own[j], space.lower[j], space.upper[j])
    typical = [j for j in range(space.n) if j not in mine]
    return out, ("typical VIC defaults " + ", ".join(f"{space.names[j]}={vals[j]:g}" for j in typical)
                 + (" (the region has no parameters of its own)" if not mine else
                    ", the region's own " + ", ".join(space.names[j] for j in mine)))
