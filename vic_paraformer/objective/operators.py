r"""Observation operators H: what the simulated top layer looks like to the instrument.

A simulator's ``sm`` is the volumetric water content of its top soil layer (VIC: 0.1 m or more,
averaged over a grid cell). A 5 cm probe or a satellite retrieval (~0-5 cm) sees something else:
typically drier or wetter on average and with a different dynamic range. Calibrating the soil
parameters so that the raw top layer matches such observations forces the parameters to absorb
the mismatch (e.g. a drained column to match a dry probe). An observation operator ``H`` maps the
simulated ``sm`` to the observed quantity; a calibration then compares ``H(sim)`` with ``obs``.
Only soil moisture goes through ``H``; ET and the other fluxes are never transformed.

Operators (chosen by name, :data:`OPERATORS`)
---------------------------------------------
``identity`` (default)
    ``H(s) = s``. For observations of the same quantity as the simulated layer.
``linear``
    Per cell ``H(s) = a s + b``, regularised towards the identity: for a cell with valid pairs
    ``(s_t, o_t)``, ``t = 1..n``, ``(a, b)`` minimise::

        J(a, b) = mean_t (a s_t + b - o_t)^2 + l2 [(a - 1)^2 + b^2]

    (closed form, a 2 x 2 linear system; ``l2`` default :data:`DEFAULT_L2` in (m3 m-3)^2, so it only
    matters where the data say little, e.g. a cell with a handful of observations or a flat
    simulation). The result is then clipped to the documented bounds ``a`` in
    [:data:`A_BOUNDS`] and ``b`` in [:data:`B_BOUNDS`] m3 m-3. A cell without valid pairs gets the
    identity.
``cdf``
    Per-cell CDF matching (the usual practice for satellite soil moisture): ``H`` is the monotone
    piecewise-linear map that sends the ``k``-th quantile of the cell's simulation (over the times
    with a valid observation) to the ``k``-th quantile of its observations, for the
    ``n_quantiles`` (default :data:`DEFAULT_N_QUANTILES`) probabilities ``0, 1/(K-1), ..., 1``.
    Beyond the outermost quantiles ``H`` continues with slope 1. Equal simulated quantiles (a flat
    simulation) are spread by a tiny epsilon so the map stays a function. A cell with fewer than
    :data:`CDF_MIN_OBS` valid pairs gets the identity. CDF matching removes any difference in
    distribution, so only the timing of the observations informs the parameters.

Fitting
-------
Operators are *profiled*: for given simulations, the operator is the best one in closed form.
Each operator is one class (:class:`IdentityMap`, :class:`LinearMap`, :class:`CdfMap`) that owns
its options, its closed-form fit, its application and the names of its stored coefficients, all
written once in torch: gradient strategies fit and apply it differentiably (the parameters are
learned *through* the best operator for the current simulation), while :func:`fit`,
:func:`fit_apply` and :meth:`ObservationOperator.apply` run the same code on float64 tensors
without gradients for numpy callers (derivative-free strategies, evaluation). After calibration
the operator is refit on the whole calibration period at the calibrated parameters and stored
with the result (``CalibrationResult.obs_operator``; :meth:`ObservationOperator.to_dict` /
:meth:`from_dict`, which read the files of earlier versions unchanged).

A new operator is one subclass of :class:`OperatorMap` registered in :data:`OPERATOR_MAPS`;
its options become strategy options ``obs_operator_<option>`` where declared in
:mod:`vic_paraformer.objective.options`.

Applying to cells it was not fitted on
---------------------------------------
An operator knows the cells (ids and lat/lon) it was fitted on. :meth:`ObservationOperator.apply`
maps a cell at the location of a fitted cell (within :data:`SAME_PLACE_DEG`) with that cell's map;
any other cell uses the ``new_cells`` rule: ``"nearest"`` (default: the map of the nearest fitted
cell by great-circle distance, for a spatially smooth instrument bias such as a satellite product)
or ``"identity"`` (no correction: for point probes, whose mismatch is local).

Long module (over 400 lines): the three operator classes and the stored, located operator
belong together (each stored coefficient is named by its class).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # torch is imported by the functions that compute: results and metrics load without it
    import torch

from ..errors import VicParaformerError
from ..geo import great_circle_km

log = logging.getLogger(__name__)

__all__ = ["OPERATORS", "NEW_CELL_RULES", "OPERATOR_MAPS", "OperatorMap", "IdentityMap", "LinearMap", "CdfMap",
           "ObservationOperator", "ObservationOperatorError", "fit", "fit_apply", "fit_apply_torch", "apply_torch",
           "identity_operator", "operator_map", "DEFAULT_L2", "A_BOUNDS", "B_BOUNDS", "DEFAULT_N_QUANTILES",
           "CDF_MIN_OBS", "check_operator_name"]

#: Rules for cells an operator was not fitted on.
NEW_CELL_RULES: tuple[str, ...] = ("nearest", "identity")
#: Default ridge weight of the linear operator towards the identity ((m3 m-3)^2).
DEFAULT_L2: float = 1e-4
#: Bounds of the linear operator's scale ``a`` (-) and offset ``b`` (m3 m-3).
A_BOUNDS: tuple[float, float] = (0.05, 10.0)
B_BOUNDS: tuple[float, float] = (-0.5, 0.5)
#: Default number of quantiles of the CDF-matching operator.
DEFAULT_N_QUANTILES: int = 21
#: Fewest valid (sim, obs) pairs a cell needs for a CDF map (else identity).
CDF_MIN_OBS: int = 10
#: Two cells closer than this (degrees in lat and lon) are the same place.
SAME_PLACE_DEG: float = 1e-6
_EPS_SPREAD = 1e-9


class ObservationOperatorError(VicParaformerError, ValueError):
    """An observation operator is unknown, badly configured or stored in a broken form."""


def _torch():
    import torch

    return torch


# ---------------------------------------------------------------------- the operator classes
class OperatorMap:
    """One kind of observation operator: its options, closed-form fit and application, in torch.

    ``fit`` takes simulated and observed soil moisture ``(B, L)`` (NaN: no pair) and returns the
    coefficients per row (a dict of tensors named by :attr:`coefficients`) and the number of valid
    pairs each row was fitted on (0: that row is the identity); ``apply`` maps ``(B, L)`` through
    per-row coefficients. Both are differentiable with respect to the simulation.
    """

    name: ClassVar[str] = ""
    #: Names of the stored per-cell coefficient arrays (keys of :meth:`ObservationOperator.to_dict`).
    coefficients: ClassVar[tuple[str, ...]] = ()
    #: The operator's own options and their defaults.
    option_defaults: ClassVar[Mapping[str, Any]] = {}

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """This operator's options from ``options`` (defaults filled; other operators' options ignored)."""
        return {k: options.get(k, d) for k, d in self.option_defaults.items()}

    def fit(self, s: torch.Tensor, o: torch.Tensor, **options: Any) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        raise NotImplementedError

    def apply(self, s: torch.Tensor, coef: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def check_stored(self, coef: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Stored coefficients as arrays of the right shape (``n`` cells), or ObservationOperatorError."""
        return {}

    def describe(self, coef: Mapping[str, np.ndarray]) -> str:
        return ""


class IdentityMap(OperatorMap):
    """``H(s) = s``."""

    name = "identity"

    def fit(self, s, o, **options):
        torch = _torch()
        return {}, torch.zeros(s.shape[0], dtype=torch.long, device=s.device)

    def apply(self, s, coef):
        return s


class LinearMap(OperatorMap):
    """Per row ``H(s) = a s + b``, ridge-regularised towards the identity and clipped (module docstring)."""

    name = "linear"
    coefficients = ("a", "b")
    option_defaults = {"l2": DEFAULT_L2}

    def check_options(self, options):
        out = super().check_options(options)
        if not float(out["l2"]) >= 0:
            raise ObservationOperatorError(f"l2 must be >= 0, got {out['l2']!r}")
        return {"l2": float(out["l2"])}

    def fit(self, s, o, *, l2: float = DEFAULT_L2, **_: Any):
        torch = _torch()
        v = torch.isfinite(o) & torch.isfinite(s)
        n = v.sum(-1)
        nf = n.to(s.dtype)
        zero = torch.zeros((), dtype=s.dtype, device=s.device)
        sz = torch.where(v, s, zero)
        oz = torch.where(v, torch.nan_to_num(o), zero)
        nn_ = nf.clamp(min=1.0)
        mss, ms = (sz * sz).sum(-1) / nn_, sz.sum(-1) / nn_
        mso, mo = (sz * oz).sum(-1) / nn_, oz.sum(-1) / nn_
        # normal equations of J: [[mss + l2, ms], [ms, 1 + l2]] [a, b] = [mso + l2, mo]
        m11, m12, m22 = mss + l2, ms, 1.0 + l2
        none = n == 0
        det = torch.where(none, torch.ones_like(m11), m11 * m22 - m12 * m12)
        a = ((mso + l2) * m22 - m12 * mo) / det
        b = (m11 * mo - m12 * (mso + l2)) / det
        a = torch.where(none, torch.ones_like(a), a.clamp(*A_BOUNDS))
        b = torch.where(none, torch.zeros_like(b), b.clamp(*B_BOUNDS))
        return {"a": a, "b": b}, n

    def apply(self, s, coef):
        return coef["a"][:, None] * s + coef["b"][:, None]

    def check_stored(self, coef, n):
        if coef.get("a") is None or coef.get("b") is None:
            raise ObservationOperatorError("a linear operator needs coefficients 'a' and 'b'")
        a, b = np.asarray(coef["a"], float).ravel(), np.asarray(coef["b"], float).ravel()
        if a.size != n or b.size != n:
            raise ObservationOperatorError(f"linear operator: {n} cells but {a.size} 'a' / {b.size} 'b'")
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise ObservationOperatorError("linear operator has non-finite coefficients")
        return {"a": a, "b": b}

    def describe(self, coef):
        a, b = coef["a"], coef["b"]
        return f"; a {a.min():.3g}..{a.max():.3g}, b {b.min():.3g}..{b.max():.3g}" if a.size else ""


class CdfMap(OperatorMap):
    """Per-row CDF matching through ``n_quantiles`` paired quantiles, slope 1 outside (module docstring)."""

    name = "cdf"
    coefficients = ("sim_q", "obs_q")
    option_defaults = {"n_quantiles": DEFAULT_N_QUANTILES}

    def check_options(self, options):
        out = super().check_options(options)
        k = out["n_quantiles"]
        if isinstance(k, bool) or int(k) != k or int(k) < 2:
            raise ObservationOperatorError(f"n_quantiles must be an integer >= 2, got {k!r}")
        return {"n_quantiles": int(k)}

    def fit(self, s, o, *, n_quantiles: int = DEFAULT_N_QUANTILES, **_: Any):
        torch = _torch()
        k = int(n_quantiles)
        probs = torch.linspace(0.0, 1.0, k, dtype=s.dtype, device=s.device)
        v = torch.isfinite(o) & torch.isfinite(s)
        n = v.sum(-1)
        nan = torch.full((), float("nan"), dtype=s.dtype, device=s.device)
        sq = torch.nanquantile(torch.where(v, s, nan), probs, dim=-1).T  # (B, K)
        oq = torch.nanquantile(torch.where(v, o, nan), probs, dim=-1).T
        ramp = _EPS_SPREAD * torch.arange(k, dtype=s.dtype, device=s.device)
        sq = torch.cummax(torch.nan_to_num(sq), dim=-1).values + ramp
        ok = (n >= CDF_MIN_OBS)[:, None]
        eye = probs.expand_as(sq)  # the identity through (p, p)
        return ({"sim_q": torch.where(ok, sq, eye), "obs_q": torch.where(ok, torch.nan_to_num(oq), eye)},
                torch.where(ok[:, 0], n, torch.zeros_like(n)))

    def apply(self, s, coef):
        """Row-wise piecewise-linear map of ``s`` ``(B, L)`` through ``(sim_q, obs_q)`` ``(B, K)``; NaN stays NaN."""
        torch = _torch()
        xq, yq = coef["sim_q"], coef["obs_q"]
        k = xq.shape[-1]
        idx = torch.searchsorted(xq.contiguous(), s.detach().contiguous()).clamp(1, k - 1)
        x0, x1 = torch.gather(xq, -1, idx - 1), torch.gather(xq, -1, idx)
        y0, y1 = torch.gather(yq, -1, idx - 1), torch.gather(yq, -1, idx)
        inside = y0 + (y1 - y0) * (s - x0) / (x1 - x0)
        below = yq[:, :1] + (s - xq[:, :1])
        above = yq[:, -1:] + (s - xq[:, -1:])
        return torch.where(s < xq[:, :1], below, torch.where(s > xq[:, -1:], above, inside))

    def check_stored(self, coef, n):
        if coef.get("sim_q") is None or coef.get("obs_q") is None:
            raise ObservationOperatorError("a cdf operator needs quantiles 'sim_q' and 'obs_q'")
        sq = np.asarray(coef["sim_q"], float).reshape(n, -1)
        oq = np.asarray(coef["obs_q"], float).reshape(n, -1)
        if sq.shape != oq.shape or sq.shape[1] < 2:
            raise ObservationOperatorError(f"cdf operator: quantile tables {sq.shape} / {oq.shape}; "
                                           "expected equal shapes (cells, K >= 2)")
        if n and not np.all(np.diff(sq, axis=1) > 0):
            raise ObservationOperatorError("cdf operator: simulated quantiles must increase strictly per cell")
        return {"sim_q": sq, "obs_q": oq}


#: The operator classes by name, in the order documented above.
OPERATOR_MAPS: dict[str, OperatorMap] = {m.name: m for m in (IdentityMap(), LinearMap(), CdfMap())}
#: Operator names.
OPERATORS: tuple[str, ...] = tuple(OPERATOR_MAPS)
#: Every coefficient name of any operator (an operator answers None for the others').
_ALL_COEFFICIENTS = frozenset(c for m in OPERATOR_MAPS.values() for c in m.coefficients)


def check_operator_name(name: str) -> str:
    """``name`` lower-cased if it is a known operator, else ObservationOperatorError listing them."""
    key = str(name).strip().lower()
    if key not in OPERATOR_MAPS:
        raise ObservationOperatorError(f"unknown observation operator {name!r}; choose one of {list(OPERATORS)}")
    return key


def operator_map(name: str) -> OperatorMap:
    """The :class:`OperatorMap` of operator ``name``."""
    return OPERATOR_MAPS[check_operator_name(name)]


def _operator_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    known = {k for m in OPERATOR_MAPS.values() for k in m.option_defaults}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ObservationOperatorError(f"unknown observation-operator option(s) {unknown}; the operators take "
                                       f"{sorted(known)}")
    return operator_map(kind).check_options(options)


# ---------------------------------------------------------------------- the stored operator
class ObservationOperator:
    """A fitted observation operator at known cells (see the module docstring).

    Attributes
    ----------
    kind:
        An operator name (:data:`OPERATORS`).
    cells, lat, lon:
        Ids and locations of the fitted cells (length ``n``).
    coef:
        The operator's per-cell coefficients by name (linear: ``a``, ``b``; cdf: ``(n, K)`` paired
        quantiles ``sim_q``, strictly increasing, and ``obs_q``), also readable as attributes
        (``op.a``; None for another operator's coefficient).
    n_obs:
        Valid (sim, obs) pairs each cell was fitted on (0: identity for that cell).
    new_cells:
        Rule for cells at other locations (``"nearest"`` or ``"identity"``).
    options:
        Fitting options used (``l2``, ``n_quantiles``).
    """

    def __init__(self, kind: str = "identity", cells: Sequence[int] = (), lat: Sequence[float] = (),
                 lon: Sequence[float] = (), n_obs: Sequence[int] = (), new_cells: str = "nearest",
                 options: Mapping[str, Any] | None = None, **coefficients: Any) -> None:
        self.kind = check_operator_name(kind)
        self.map = OPERATOR_MAPS[self.kind]
        if new_cells not in NEW_CELL_RULES:
            raise ObservationOperatorError(f"new_cells must be one of {list(NEW_CELL_RULES)}, got {new_cells!r}")
        self.new_cells = new_cells
        stray = sorted(set(coefficients) - _ALL_COEFFICIENTS)
        if stray:
            raise ObservationOperatorError(f"unknown operator coefficient(s) {stray}")
        self.cells = np.asarray(cells, dtype=int).ravel()
        self.lat = np.asarray(lat, dtype=float).ravel()
        self.lon = np.asarray(lon, dtype=float).ravel()
        n = self.cells.size
        if self.lat.size != n or self.lon.size != n:
            raise ObservationOperatorError(f"operator has {n} cells but {self.lat.size} lat / {self.lon.size} lon values")
        self.n_obs = np.asarray(n_obs if np.size(n_obs) else np.zeros(n), dtype=int).ravel()
        self.coef: dict[str, np.ndarray] = self.map.check_stored(dict(coefficients), n)
        self.options: dict[str, Any] = dict(options or {})

    def __getattr__(self, name: str) -> Any:
        if name in _ALL_COEFFICIENTS and "coef" in self.__dict__:
            return self.__dict__["coef"].get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ObservationOperator):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"<ObservationOperator {self.describe()}>"

    # ------------------------------------------------------------------ basics
    @property
    def is_identity(self) -> bool:
        return self.kind == "identity"

    def describe(self) -> str:
        """One line: kind, cells, and the coefficient ranges (linear)."""
        if self.kind == "identity":
            return "identity (no observation operator)"
        return (f"{self.kind} operator on {self.cells.size} cell(s), new cells: {self.new_cells}"
                + self.map.describe(self.coef))

    def positions(self, lat: Sequence[float], lon: Sequence[float]) -> np.ndarray:
        """For each target location, the index of the fitted cell whose map it uses, or -1 (identity)."""
        lat = np.asarray(lat, float).ravel()
        lon = np.asarray(lon, float).ravel()
        if lat.size != lon.size:
            raise ObservationOperatorError(f"{lat.size} latitudes but {lon.size} longitudes")
        out = np.full(lat.size, -1, dtype=int)
        if self.kind == "identity" or self.cells.size == 0:
            return out
        same = (np.abs(lat[:, None] - self.lat[None]) <= SAME_PLACE_DEG) & \
               (np.abs(lon[:, None] - self.lon[None]) <= SAME_PLACE_DEG)
        has = same.any(axis=1)
        out[has] = np.argmax(same[has], axis=1)
        if self.new_cells == "nearest" and (~has).any():
            d = great_circle_km(lat[~has, None], lon[~has, None], self.lat[None], self.lon[None])
            out[~has] = np.argmin(d, axis=1)
        return out

    # ------------------------------------------------------------------ apply
    def apply(self, sim: np.ndarray, lat: Sequence[float], lon: Sequence[float]) -> np.ndarray:
        """``H(sim)`` for simulated soil moisture ``sim`` ``(..., cell, time)`` at locations ``lat``/``lon``.

        NaN in ``sim`` stays NaN. Never use on ET or other fluxes.
        """
        sim = np.asarray(sim, dtype=float)
        if sim.ndim < 2:
            raise ObservationOperatorError(f"apply needs sm of shape (..., cell, time), got {sim.shape}")
        pos = self.positions(lat, lon)
        if sim.shape[-2] != pos.size:
            raise ObservationOperatorError(f"sm has {sim.shape[-2]} cells, {pos.size} locations were given")
        if self.kind == "identity":
            return np.array(sim, dtype=float, copy=True)
        torch = _torch()
        rows = np.moveaxis(sim, -2, 0)
        shape = rows.shape
        with torch.no_grad():
            out = apply_torch(self, torch.as_tensor(rows.reshape(shape[0], -1), dtype=torch.float64), pos)
        return np.moveaxis(out.numpy().reshape(shape), 0, -2).copy()

    def apply_region(self, sim: np.ndarray, region) -> np.ndarray:
        """:meth:`apply` at the cells of a :class:`~vic_paraformer.region.Region` (``sim`` in its cell order)."""
        return self.apply(sim, region.ds["lat"].values, region.ds["lon"].values)

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly form (:meth:`from_dict` reads it back exactly)."""
        return {"kind": self.kind, "new_cells": self.new_cells, "cells": self.cells.tolist(),
                "lat": self.lat.tolist(), "lon": self.lon.tolist(), "n_obs": self.n_obs.tolist(),
                "options": dict(self.options), **{k: v.tolist() for k, v in self.coef.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "ObservationOperator":
        """Inverse of :meth:`to_dict`; None or ``{}`` give the identity."""
        if not d:
            return identity_operator()
        if not isinstance(d, Mapping):
            raise ObservationOperatorError(f"stored observation operator must be a mapping, got {type(d).__name__}")
        missing = [k for k in ("kind", "cells", "lat", "lon") if k not in d]
        if missing:
            raise ObservationOperatorError(f"stored observation operator lacks {missing} (keys {sorted(d)})")
        try:
            coef = {k: d[k] for k in operator_map(d["kind"]).coefficients if d.get(k) is not None}
            return cls(kind=d["kind"], cells=d["cells"], lat=d["lat"], lon=d["lon"], n_obs=d.get("n_obs", []),
                       new_cells=d.get("new_cells", "nearest"), options=dict(d.get("options", {})), **coef)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ObservationOperatorError):
                raise
            raise ObservationOperatorError(f"stored observation operator is malformed: {exc}") from None

    def subset_positions(self, idx: Sequence[int]) -> "ObservationOperator":
        """The operator restricted to fitted cells at positions ``idx``."""
        idx = np.asarray(idx, int)
        return ObservationOperator(kind=self.kind, cells=self.cells[idx], lat=self.lat[idx], lon=self.lon[idx],
                                   n_obs=self.n_obs[idx], new_cells=self.new_cells, options=dict(self.options),
                                   **{k: v[idx] for k, v in self.coef.items()})


def identity_operator() -> ObservationOperator:
    """The identity operator (no cells)."""
    return ObservationOperator(kind="identity")


# ---------------------------------------------------------------------- fitting and applying
def fit(kind: str, sim: np.ndarray, obs: np.ndarray, cells: Sequence[int], lat: Sequence[float],
        lon: Sequence[float], new_cells: str = "nearest", **options: Any) -> ObservationOperator:
    """Fit operator ``kind`` per cell from simulated ``sim`` and observed ``obs`` soil moisture ``(cell, time)``.

    Only times where both are finite count. ``cells``, ``lat``, ``lon`` identify the rows;
    ``new_cells`` is the rule for other cells; ``options`` are the operator's own options (``l2``
    of ``linear``, ``n_quantiles`` of ``cdf``; another operator's are ignored). This is THE
    function to fit an operator by name and options on given arrays (evaluation, the final
    operator of every strategy, refinement's default candidate).
    """
    kind = check_operator_name(kind)
    opts = _operator_options(kind, options)
    sim = np.asarray(sim, float)
    obs = np.asarray(obs, float)
    if sim.shape != obs.shape or sim.ndim != 2:
        raise ObservationOperatorError(f"fit needs sim and obs of the same shape (cell, time), got {sim.shape} and {obs.shape}")
    cells = np.asarray(cells, int)
    if cells.size != sim.shape[0]:
        raise ObservationOperatorError(f"{cells.size} cell ids for {sim.shape[0]} rows")
    common = dict(cells=cells, lat=lat, lon=lon, new_cells=new_cells)
    if kind == "identity":
        return ObservationOperator(kind="identity", **common)
    torch = _torch()
    with torch.no_grad():
        coef, n = OPERATOR_MAPS[kind].fit(torch.as_tensor(sim, dtype=torch.float64),
                                          torch.as_tensor(obs, dtype=torch.float64), **opts)
    return ObservationOperator(kind=kind, n_obs=n.numpy(), options=opts, **common,
                               **{k: v.numpy() for k, v in coef.items()})


def fit_apply_torch(kind: str, sim: torch.Tensor, obs: torch.Tensor, **options: Any) -> torch.Tensor:
    """Differentiable ``H(sim)`` with ``H`` the closed-form operator fitted on ``(sim, obs)`` ``(B, L)``.

    Gradients flow to ``sim`` through the fitted coefficients (linear) or the simulated quantiles (cdf).
    """
    kind = check_operator_name(kind)
    if sim.shape != obs.shape or sim.dim() != 2:
        raise ObservationOperatorError(f"fit_apply needs sim and obs of the same shape (B, L), got "
                                       f"{tuple(sim.shape)} and {tuple(obs.shape)}")
    if kind == "identity":
        return sim
    m = OPERATOR_MAPS[kind]
    coef, n = m.fit(sim, obs, **_operator_options(kind, options))
    return _torch().where((n > 0)[:, None], m.apply(sim, coef), sim)


def fit_apply(kind: str, sim: np.ndarray, obs: np.ndarray, **options: Any) -> np.ndarray:
    """``H(sim)`` with ``H`` fitted on ``(sim, obs)`` ``(cell, time)`` itself (the profiled operator), in numpy:
    :func:`fit_apply_torch` on float64 without gradients."""
    torch = _torch()
    with torch.no_grad():
        return fit_apply_torch(kind, torch.as_tensor(np.atleast_2d(np.asarray(sim, float))),
                               torch.as_tensor(np.atleast_2d(np.asarray(obs, float))), **options).numpy()


def apply_torch(op: ObservationOperator, sim: torch.Tensor, positions: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Differentiable ``H(sim)`` for a stored operator: row ``i`` of ``sim`` ``(B, L)`` uses fitted cell
    ``positions[i]`` (-1: identity)."""
    if op.kind == "identity":
        return sim
    torch = _torch()
    pos = torch.as_tensor(np.asarray(positions, int), device=sim.device)
    use = (pos >= 0)[:, None]
    p = pos.clamp(min=0)
    coef = {k: torch.as_tensor(v, dtype=sim.dtype, device=sim.device)[p] for k, v in op.coef.items()}
    return torch.where(use, op.map.apply(sim, coef), sim)
