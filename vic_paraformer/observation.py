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
Operators are *profiled*: for given simulations, the operator is the best one in closed form
(:func:`fit`, numpy). The torch path :func:`fit_apply_torch` computes the same closed form
differentiably, so gradient strategies learn the parameters *through* the best operator for the
current simulation (the operator is fitted jointly with the parameters); derivative-free
strategies call :func:`fit_apply` inside their objective. After calibration the operator is refit
on the whole calibration period at the calibrated parameters and stored with the result
(``CalibrationResult.obs_operator``; :meth:`ObservationOperator.to_dict` / :meth:`from_dict`).

Applying to cells it was not fitted on
---------------------------------------
An operator knows the cells (ids and lat/lon) it was fitted on. :meth:`ObservationOperator.apply`
maps a cell at the location of a fitted cell (within :data:`SAME_PLACE_DEG`) with that cell's map;
any other cell uses the ``new_cells`` rule: ``"nearest"`` (default: the map of the nearest fitted
cell by great-circle distance, for a spatially smooth instrument bias such as a satellite product)
or ``"identity"`` (no correction: for point probes, whose mismatch is local).

Long module (over 400 lines): three operators, each with a closed-form numpy fit and a
differentiable torch path that must agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # torch is imported by the torch functions themselves: results and metrics load without it
    import torch

from .errors import VicParaformerError

log = logging.getLogger(__name__)

__all__ = ["OPERATORS", "NEW_CELL_RULES", "ObservationOperator", "ObservationOperatorError", "fit", "fit_apply",
           "fit_apply_torch", "apply_torch", "identity_operator", "DEFAULT_L2", "A_BOUNDS", "B_BOUNDS",
           "DEFAULT_N_QUANTILES", "CDF_MIN_OBS", "check_operator_name"]

#: Operator names, in the order documented above.
OPERATORS: tuple[str, ...] = ("identity", "linear", "cdf")
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
EARTH_RADIUS_KM = 6371.0


class ObservationOperatorError(VicParaformerError, ValueError):
    """An observation operator is unknown, badly configured or stored in a broken form."""


def check_operator_name(name: str) -> str:
    """``name`` lower-cased if it is a known operator, else ObservationOperatorError listing them."""
    key = str(name).strip().lower()
    if key not in OPERATORS:
        raise ObservationOperatorError(f"unknown observation operator {name!r}; choose one of {list(OPERATORS)}")
    return key


def _great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlmb = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass
class ObservationOperator:
    """A fitted observation operator (see the module docstring).

    Attributes
    ----------
    kind:
        ``"identity"``, ``"linear"`` or ``"cdf"``.
    cells, lat, lon:
        Ids and locations of the fitted cells (length ``n``).
    a, b:
        Linear coefficients per fitted cell (``linear`` only).
    sim_q, obs_q:
        ``(n, K)`` paired quantiles per fitted cell (``cdf`` only), ``sim_q`` strictly increasing.
    n_obs:
        Valid (sim, obs) pairs each cell was fitted on (0: identity for that cell).
    new_cells:
        Rule for cells at other locations (``"nearest"`` or ``"identity"``).
    options:
        Fitting options used (``l2``, ``n_quantiles``).
    """

    kind: str = "identity"
    cells: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    lat: np.ndarray = field(default_factory=lambda: np.array([], dtype=float))
    lon: np.ndarray = field(default_factory=lambda: np.array([], dtype=float))
    a: np.ndarray | None = None
    b: np.ndarray | None = None
    sim_q: np.ndarray | None = None
    obs_q: np.ndarray | None = None
    n_obs: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    new_cells: str = "nearest"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = check_operator_name(self.kind)
        if self.new_cells not in NEW_CELL_RULES:
            raise ObservationOperatorError(f"new_cells must be one of {list(NEW_CELL_RULES)}, got {self.new_cells!r}")
        self.cells = np.asarray(self.cells, dtype=int).ravel()
        self.lat = np.asarray(self.lat, dtype=float).ravel()
        self.lon = np.asarray(self.lon, dtype=float).ravel()
        n = self.cells.size
        if self.lat.size != n or self.lon.size != n:
            raise ObservationOperatorError(f"operator has {n} cells but {self.lat.size} lat / {self.lon.size} lon values")
        self.n_obs = np.asarray(self.n_obs if np.size(self.n_obs) else np.zeros(n), dtype=int).ravel()
        if self.kind == "linear":
            if self.a is None or self.b is None:
                raise ObservationOperatorError("a linear operator needs coefficients 'a' and 'b'")
            self.a = np.asarray(self.a, float).ravel()
            self.b = np.asarray(self.b, float).ravel()
            if self.a.size != n or self.b.size != n:
                raise ObservationOperatorError(f"linear operator: {n} cells but {self.a.size} 'a' / {self.b.size} 'b'")
            if not (np.all(np.isfinite(self.a)) and np.all(np.isfinite(self.b))):
                raise ObservationOperatorError("linear operator has non-finite coefficients")
        if self.kind == "cdf":
            if self.sim_q is None or self.obs_q is None:
                raise ObservationOperatorError("a cdf operator needs quantiles 'sim_q' and 'obs_q'")
            self.sim_q = np.asarray(self.sim_q, float).reshape(n, -1)
            self.obs_q = np.asarray(self.obs_q, float).reshape(n, -1)
            if self.sim_q.shape != self.obs_q.shape or self.sim_q.shape[1] < 2:
                raise ObservationOperatorError(f"cdf operator: quantile tables {self.sim_q.shape} / {self.obs_q.shape}; "
                                               "expected equal shapes (cells, K >= 2)")
            if n and not np.all(np.diff(self.sim_q, axis=1) > 0):
                raise ObservationOperatorError("cdf operator: simulated quantiles must increase strictly per cell")

    # ------------------------------------------------------------------ basics
    @property
    def is_identity(self) -> bool:
        return self.kind == "identity"

    def describe(self) -> str:
        """One line: kind, cells, and the coefficient ranges (linear)."""
        if self.kind == "identity":
            return "identity (no observation operator)"
        txt = f"{self.kind} operator on {self.cells.size} cell(s), new cells: {self.new_cells}"
        if self.kind == "linear" and self.cells.size:
            txt += f"; a {self.a.min():.3g}..{self.a.max():.3g}, b {self.b.min():.3g}..{self.b.max():.3g}"
        return txt

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
            d = _great_circle_km(lat[~has, None], lon[~has, None], self.lat[None], self.lon[None])
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
        out = np.array(sim, dtype=float, copy=True)
        if self.kind == "identity":
            return out
        for i, p in enumerate(pos):
            if p < 0:
                continue
            if self.kind == "linear":
                out[..., i, :] = self.a[p] * sim[..., i, :] + self.b[p]
            else:
                out[..., i, :] = _interp_np(sim[..., i, :], self.sim_q[p], self.obs_q[p])
        return out

    def apply_region(self, sim: np.ndarray, region) -> np.ndarray:
        """:meth:`apply` at the cells of a :class:`~vic_paraformer.region.Region` (``sim`` in its cell order)."""
        return self.apply(sim, region.ds["lat"].values, region.ds["lon"].values)

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly form (:meth:`from_dict` reads it back exactly)."""
        d: dict[str, Any] = {"kind": self.kind, "new_cells": self.new_cells, "cells": self.cells.tolist(),
                             "lat": self.lat.tolist(), "lon": self.lon.tolist(), "n_obs": self.n_obs.tolist(),
                             "options": dict(self.options)}
        if self.kind == "linear":
            d["a"], d["b"] = self.a.tolist(), self.b.tolist()
        if self.kind == "cdf":
            d["sim_q"], d["obs_q"] = self.sim_q.tolist(), self.obs_q.tolist()
        return d

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
            return cls(kind=d["kind"], cells=d["cells"], lat=d["lat"], lon=d["lon"], a=d.get("a"), b=d.get("b"), sim_q=d.get("sim_q"),
                       obs_q=d.get("obs_q"), n_obs=d.get("n_obs", []), new_cells=d.get("new_cells", "nearest"),
                       options=dict(d.get("options", {})))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ObservationOperatorError):
                raise
            raise ObservationOperatorError(f"stored observation operator is malformed: {exc}") from None

    def subset_positions(self, idx: Sequence[int]) -> "ObservationOperator":
        """The operator restricted to fitted cells at positions ``idx``."""
        idx = np.asarray(idx, int)
        kw: dict[str, Any] = {}
        if self.kind == "linear":
            kw = {"a": self.a[idx], "b": self.b[idx]}
        elif self.kind == "cdf":
            kw = {"sim_q": self.sim_q[idx], "obs_q": self.obs_q[idx]}
        return ObservationOperator(kind=self.kind, cells=self.cells[idx], lat=self.lat[idx], lon=self.lon[idx],
                                   n_obs=self.n_obs[idx], new_cells=self.new_cells, options=dict(self.options), **kw)


def identity_operator() -> ObservationOperator:
    """The identity operator (no cells)."""
    return ObservationOperator(kind="identity")


# ---------------------------------------------------------------------- numpy closed forms
def _interp_np(s: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> np.ndarray:
    """Piecewise-linear through ``(xq, yq)``, slope 1 outside."""
    out = np.interp(s, xq, yq)
    lo, hi = s < xq[0], s > xq[-1]
    out = np.where(lo, yq[0] + (s - xq[0]), out)
    out = np.where(hi, yq[-1] + (s - xq[-1]), out)
    return np.where(np.isfinite(s), out, np.nan)


def _linear_np(s: np.ndarray, o: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge-to-identity coefficients per row of ``s``/``o`` ``(cell, time)`` (NaN in o = no pair)."""
    v = np.isfinite(o) & np.isfinite(s)
    n = v.sum(-1).astype(float)
    sz, oz = np.where(v, s, 0.0), np.where(v, o, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        nn_ = np.maximum(n, 1.0)
        mss, ms, mso, mo = (sz * sz).sum(-1) / nn_, sz.sum(-1) / nn_, (sz * oz).sum(-1) / nn_, oz.sum(-1) / nn_
    # normal equations of J: [[mss + l2, ms], [ms, 1 + l2]] [a, b] = [mso + l2, mo]
    m11, m12, m22 = mss + l2, ms, 1.0 + l2
    r1, r2 = mso + l2, mo
    none = n == 0
    det = np.where(none, 1.0, m11 * m22 - m12 * m12)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (r1 * m22 - m12 * r2) / det
        b = (m11 * r2 - m12 * r1) / det
    a = np.where(none, 1.0, np.clip(a, *A_BOUNDS))
    b = np.where(none, 0.0, np.clip(b, *B_BOUNDS))
    return a, b, n.astype(int)


def _quantiles_np(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return np.quantile(x, probs)


def _cdf_np(s: np.ndarray, o: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    probs = np.linspace(0.0, 1.0, k)
    n_c = s.shape[0]
    sq = np.tile(probs, (n_c, 1)).astype(float)
    oq = sq.copy()
    n = np.zeros(n_c, int)
    ramp = _EPS_SPREAD * np.arange(k)
    for i in range(n_c):
        v = np.isfinite(o[i]) & np.isfinite(s[i])
        n[i] = int(v.sum())
        if n[i] < CDF_MIN_OBS:
            sq[i] = probs * 1.0  # identity through (p, p)
            oq[i] = probs * 1.0
            n[i] = 0
            continue
        sq[i] = np.maximum.accumulate(_quantiles_np(s[i][v], probs)) + ramp
        oq[i] = _quantiles_np(o[i][v], probs)
    return sq, oq, n


def fit(kind: str, sim: np.ndarray, obs: np.ndarray, *, cells: Sequence[int], lat: Sequence[float],
        lon: Sequence[float], l2: float = DEFAULT_L2, n_quantiles: int = DEFAULT_N_QUANTILES,
        new_cells: str = "nearest") -> ObservationOperator:
    """Fit operator ``kind`` per cell from simulated ``sim`` and observed ``obs`` soil moisture ``(cell, time)``.

    Only times where both are finite count. ``cells``, ``lat``, ``lon`` identify the rows.
    """
    kind = check_operator_name(kind)
    sim = np.asarray(sim, float)
    obs = np.asarray(obs, float)
    if sim.shape != obs.shape or sim.ndim != 2:
        raise ObservationOperatorError(f"fit needs sim and obs of the same shape (cell, time), got {sim.shape} and {obs.shape}")
    cells = np.asarray(cells, int)
    if cells.size != sim.shape[0]:
        raise ObservationOperatorError(f"{cells.size} cell ids for {sim.shape[0]} rows")
    if float(l2) < 0:
        raise ObservationOperatorError(f"l2 must be >= 0, got {l2!r}")
    if int(n_quantiles) < 2:
        raise ObservationOperatorError(f"n_quantiles must be >= 2, got {n_quantiles!r}")
    common = dict(cells=cells, lat=lat, lon=lon, new_cells=new_cells)
    if kind == "identity":
        return ObservationOperator(kind="identity", **common)
    if kind == "linear":
        a, b, n = _linear_np(sim, obs, float(l2))
        return ObservationOperator(kind="linear", a=a, b=b, n_obs=n, options={"l2": float(l2)}, **common)
    sq, oq, n = _cdf_np(sim, obs, int(n_quantiles))
    return ObservationOperator(kind="cdf", sim_q=sq, obs_q=oq, n_obs=n, options={"n_quantiles": int(n_quantiles)},
                               **common)


def fit_apply(kind: str, sim: np.ndarray, obs: np.ndarray, *, l2: float = DEFAULT_L2,
              n_quantiles: int = DEFAULT_N_QUANTILES) -> np.ndarray:
    """``H(sim)`` with ``H`` fitted on ``(sim, obs)`` ``(cell, time)`` itself (the profiled operator).

    What a derivative-free strategy compares with ``obs`` for each candidate parameter set.
    """
    sim = np.atleast_2d(np.asarray(sim, float))
    obs = np.atleast_2d(np.asarray(obs, float))
    n = sim.shape[0]
    op = fit(kind, sim, obs, cells=np.arange(n), lat=np.zeros(n), lon=np.arange(n, dtype=float),
             l2=l2, n_quantiles=n_quantiles)
    return _apply_rows(op, sim)


def _apply_rows(op: ObservationOperator, sim: np.ndarray) -> np.ndarray:
    """Apply fitted rows to the same rows (position i -> map i)."""
    if op.kind == "identity":
        return np.array(sim, float, copy=True)
    if op.kind == "linear":
        return op.a[:, None] * sim + op.b[:, None]
    return np.stack([_interp_np(sim[i], op.sim_q[i], op.obs_q[i]) for i in range(sim.shape[0])])


# ---------------------------------------------------------------------- torch (differentiable)
def _linear_torch(s: torch.Tensor, o: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    import torch
    v = torch.isfinite(o) & torch.isfinite(s)
    n = v.sum(-1).to(s.dtype)
    zero = torch.zeros((), dtype=s.dtype, device=s.device)
    sz = torch.where(v, s, zero)
    oz = torch.where(v, torch.nan_to_num(o), zero)
    nn_ = n.clamp(min=1.0)
    mss, ms = (sz * sz).sum(-1) / nn_, sz.sum(-1) / nn_
    mso, mo = (sz * oz).sum(-1) / nn_, oz.sum(-1) / nn_
    m11, m12, m22 = mss + l2, ms, 1.0 + l2
    none = n == 0
    det = torch.where(none, torch.ones_like(m11), m11 * m22 - m12 * m12)
    a = ((mso + l2) * m22 - m12 * mo) / det
    b = (m11 * mo - m12 * (mso + l2)) / det
    a = torch.where(none, torch.ones_like(a), a.clamp(*A_BOUNDS))
    b = torch.where(none, torch.zeros_like(b), b.clamp(*B_BOUNDS))
    return a, b


def _interp_torch(s: torch.Tensor, xq: torch.Tensor, yq: torch.Tensor) -> torch.Tensor:
    """Row-wise piecewise-linear map of ``s`` ``(B, L)`` through ``(xq, yq)`` ``(B, K)``, slope 1 outside."""
    import torch
    k = xq.shape[-1]
    idx = torch.searchsorted(xq.contiguous(), s.detach().contiguous()).clamp(1, k - 1)
    x0, x1 = torch.gather(xq, -1, idx - 1), torch.gather(xq, -1, idx)
    y0, y1 = torch.gather(yq, -1, idx - 1), torch.gather(yq, -1, idx)
    inside = y0 + (y1 - y0) * (s - x0) / (x1 - x0)
    below = yq[:, :1] + (s - xq[:, :1])
    above = yq[:, -1:] + (s - xq[:, -1:])
    return torch.where(s < xq[:, :1], below, torch.where(s > xq[:, -1:], above, inside))


def _cdf_torch(s: torch.Tensor, o: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch
    probs = torch.linspace(0.0, 1.0, k, dtype=s.dtype, device=s.device)
    v = torch.isfinite(o) & torch.isfinite(s)
    n = v.sum(-1)
    nan = torch.full((), float("nan"), dtype=s.dtype, device=s.device)
    sq = torch.nanquantile(torch.where(v, s, nan), probs, dim=-1).T  # (B, K)
    oq = torch.nanquantile(torch.where(v, o, nan), probs, dim=-1).T
    ramp = _EPS_SPREAD * torch.arange(k, dtype=s.dtype, device=s.device)
    sq = torch.cummax(torch.nan_to_num(sq), dim=-1).values + ramp
    ok = (n >= CDF_MIN_OBS)[:, None]
    eye = probs.expand_as(sq)
    return torch.where(ok, sq, eye), torch.where(ok, torch.nan_to_num(oq), eye), ok[:, 0]


def fit_apply_torch(kind: str, sim: torch.Tensor, obs: torch.Tensor, *, l2: float = DEFAULT_L2,
                    n_quantiles: int = DEFAULT_N_QUANTILES) -> torch.Tensor:
    """Differentiable ``H(sim)`` with ``H`` the closed-form operator fitted on ``(sim, obs)`` ``(B, L)``.

    The same numbers as :func:`fit_apply`; gradients flow to ``sim`` through the fitted
    coefficients (linear) or the simulated quantiles (cdf).
    """
    import torch
    kind = check_operator_name(kind)
    if sim.shape != obs.shape or sim.dim() != 2:
        raise ObservationOperatorError(f"fit_apply_torch needs sim and obs of the same shape (B, L), got "
                                       f"{tuple(sim.shape)} and {tuple(obs.shape)}")
    if kind == "identity":
        return sim
    if kind == "linear":
        a, b = _linear_torch(sim, obs, float(l2))
        return a[:, None] * sim + b[:, None]
    sq, oq, ok = _cdf_torch(sim, obs, int(n_quantiles))
    return torch.where(ok[:, None], _interp_torch(sim, sq, oq), sim)


def apply_torch(op: ObservationOperator, sim: torch.Tensor, positions: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Differentiable ``H(sim)`` for a stored operator: row ``i`` of ``sim`` ``(B, L)`` uses fitted cell
    ``positions[i]`` (-1: identity)."""
    import torch
    if op.kind == "identity":
        return sim
    pos = torch.as_tensor(np.asarray(positions, int), device=sim.device)
    use = (pos >= 0)[:, None]
    p = pos.clamp(min=0)
    if op.kind == "linear":
        a = torch.as_tensor(op.a, dtype=sim.dtype, device=sim.device)[p]
        b = torch.as_tensor(op.b, dtype=sim.dtype, device=sim.device)[p]
        return torch.where(use, a[:, None] * sim + b[:, None], sim)
    xq = torch.as_tensor(op.sim_q, dtype=sim.dtype, device=sim.device)[p]
    yq = torch.as_tensor(op.obs_q, dtype=sim.dtype, device=sim.device)[p]
    return torch.where(use, _interp_torch(sim, xq, yq), sim)
