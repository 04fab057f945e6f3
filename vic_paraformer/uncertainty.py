"""Parameter uncertainty of a calibration: :class:`ParameterUncertainty` (per-cell quantiles, members).

Every strategy can hand back, beside its point values, a set of plausible parameter sets per cell:

* the DL strategies train an ensemble of networks (option ``ensemble``: members differing by seed
  and by a bootstrap of the training cells and windows, a deep ensemble);
* the per-cell spotpy strategies (SCE-UA, DDS) return, by default, the cell's **90 % confidence
  region** (option ``uncertainty="confidence"``, below); on request the older **tolerance set**
  (``uncertainty="tolerance"``): the candidates they evaluated anyway whose objective lies within
  a relative tolerance of the cell's best (option ``uncertainty_tolerance``);
* the mpr strategy keeps its transfer-coefficient candidates within the same kind of tolerance.

From that set the result stores the 5, 50 and 95 % quantiles per cell and parameter
(:data:`QUANTILES`), and the members themselves when there are at most
:data:`MAX_STORED_MEMBERS` of them (a deep ensemble; the tolerance sets differ in size from cell
to cell and are summarised by their quantiles and their size only).

**The confidence region** (the classical nonlinear-regression region of Beale, 1960; Bates &
Watts, *Nonlinear Regression Analysis*, 1988, ch. 6) is what the data cannot tell apart from the
best fit. With ``S(theta)`` the sum of squared errors of the objective's data-fit term (the RMSE of
soil moisture, through the operator when there is one; for objectives of several terms their
weighted sum of scaled RMSEs, read as one RMSE), ``p`` calibrated parameters and ``n``
observations, the parameter sets with

    S(theta) <= S_min * (1 + p / (n_eff - p) * F(p, n_eff - p; 0.90))

form a 90 % joint confidence region (:func:`confidence_ratio`). Serially correlated residuals carry
less information than ``n`` independent ones: ``n_eff = n (1 - r1) / (1 + r1)`` with ``r1`` the
lag-1 autocorrelation of the best fit's residuals (:func:`effective_sample_size`; ``r1 <= 0`` keeps
``n``). The threshold is set by the data-fit term alone, so penalties that are not a likelihood
(the water-balance term, a prior) move the point value but not the region. The region is sampled
beyond the optimiser's trajectory, whose candidates crowd around the optimum: from the best
candidate, line searches along each parameter's axis (both ways) and along random directions in
the normalised space (option ``uncertainty_directions``, default ``4 p``) bisect to the region's
edge or stop at the bounds, about six model runs each. Every evaluated candidate inside the
region joins the cell's set; the interval stored is the set's **projection** onto each parameter
(lowest and highest member, in the ``q05``/``q95`` slots; a calibration stores its point value,
the best candidate, in ``q50``): the
projection of a joint 90 % region is a conservative 90 % interval for each parameter. Its
assumptions: the model can reproduce the observations (a model error larger than the noise
shifts the optimum and the region with it), residuals of roughly constant variance, and a region
the line searches reach (a region of several separate pieces may be under-sampled).

**Two error terms** widen the intervals where those assumptions fail, by one rule for every
strategy (SCE-UA/DDS option ``uncertainty_model_error``, DL option ``ensemble_error``; both on by
default), each added in quadrature to the interval's own half-width around the point value:

* the **model-error term** (:func:`vic_paraformer.error_terms.model_error_halfwidth`), ``z * sigma / s_j``: ``sigma`` the
  model-data mismatch as the objective sees it (the SM RMSE through its observation operator),
  ``s_j`` the simulated SM's sensitivity to parameter ``j`` (central differences of
  :data:`~vic_paraformer.error_terms.SENSITIVITY_STEP`). A forcing error, a surrogate's bias or an operator the calibration
  does not know shift the optimum by up to about that much while the residuals look like noise;
* the **transfer term** (:func:`vic_paraformer.error_terms.transfer_halfwidth`), for cells without observations: the error of
  carrying calibrated values across the distance to the nearest training cell, from the training
  cells' own differences at that distance (an empirical variogram).

Measured on the quick realistic twin and the clean twin: see ``docs/benchmark.md`` ("Parameter
intervals").

In a result file (:meth:`vic_paraformer.result.CalibrationResult.save`) the quantiles are the
variables ``<param>_q05``, ``<param>_q50`` and ``<param>_q95`` over ``cell`` beside the point
variable ``<param>``, and the members ``<param>_members`` over ``(member, cell)``: a file without
them is a result without uncertainty, so older files stay readable unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .error_terms import CONFIDENCE_LEVEL  # the level of the confidence regions (option ``uncertainty_level``)
from .errors import ParameterError

#: The stored quantile levels (the 90 % interval and the median).
QUANTILES: tuple[float, float, float] = (0.05, 0.5, 0.95)
#: Variable-name suffixes of the quantiles in a result file.
SUFFIXES: tuple[str, str, str] = ("q05", "q50", "q95")
#: Members are stored (``<param>_members``) only up to this many; above it, only the quantiles.
MAX_STORED_MEMBERS: int = 16


@dataclass
class ParameterUncertainty:
    """Per-cell quantiles of a calibration's plausible parameter sets.

    Attributes
    ----------
    quantiles:
        ``(3, cell, p)`` in physical units, at the levels :data:`QUANTILES`, cells in the result's
        order and parameters in its parameter space's order.
    method:
        How the sets were made, e.g. ``"deep ensemble"`` or ``"tolerance set"``.
    members:
        ``(member, cell, p)`` when stored (deep ensembles of at most :data:`MAX_STORED_MEMBERS`).
    set_size:
        ``(cell,)`` number of parameter sets each cell's quantiles come from (None: unknown).
    info:
        Free-form description (tolerance, ensemble size, bootstrap...), JSON-serialisable.
    """

    quantiles: np.ndarray
    method: str
    members: np.ndarray | None = None
    set_size: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quantiles = np.asarray(self.quantiles, float)
        if self.quantiles.ndim != 3 or self.quantiles.shape[0] != len(QUANTILES):
            raise ParameterError(f"parameter quantiles must be (3, cell, parameter), got shape {self.quantiles.shape}")
        if self.members is not None:
            self.members = np.asarray(self.members, float)
            if self.members.shape[1:] != self.quantiles.shape[1:]:
                raise ParameterError(f"ensemble members have shape {self.members.shape}; expected "
                                     f"(member, {self.quantiles.shape[1]}, {self.quantiles.shape[2]})")
        if self.set_size is not None:
            self.set_size = np.asarray(self.set_size, int)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_members(cls, members: np.ndarray, method: str, *, keep_members: bool | None = None,
                     info: dict[str, Any] | None = None) -> "ParameterUncertainty":
        """From ``(member, cell, p)`` parameter sets; the members are kept when there are at most
        :data:`MAX_STORED_MEMBERS` (``keep_members`` None) or as ``keep_members`` says."""
        members = np.asarray(members, float)
        if members.ndim != 3 or members.shape[0] < 1:
            raise ParameterError(f"ensemble members must be (member, cell, parameter), got shape {members.shape}")
        q = np.quantile(members, QUANTILES, axis=0)
        keep = members.shape[0] <= MAX_STORED_MEMBERS if keep_members is None else keep_members
        return cls(quantiles=q, method=method, members=members if keep else None,
                   set_size=np.full(members.shape[1], members.shape[0]), info=dict(info or {}))

    @classmethod
    def from_sets(cls, sets: list[np.ndarray], method: str, *, info: dict[str, Any] | None = None
                  ) -> "ParameterUncertainty":
        """From one ``(n_i, p)`` array of parameter sets per cell (sizes may differ, each ``n_i >= 1``)."""
        if not sets:
            raise ParameterError("no parameter sets to summarise")
        q = np.stack([np.quantile(np.asarray(s, float), QUANTILES, axis=0) for s in sets], axis=1)
        return cls(quantiles=q, method=method, set_size=np.array([len(s) for s in sets]), info=dict(info or {}))

    @classmethod
    def from_regions(cls, sets: list[np.ndarray], method: str, *, info: dict[str, Any] | None = None
                     ) -> "ParameterUncertainty":
        """From one ``(n_i, p)`` sample of a confidence region per cell: the interval slots hold the region's
        projection (lowest and highest member per parameter), the middle one the members' median."""
        if not sets:
            raise ParameterError("no parameter sets to summarise")
        arrays = [np.asarray(s, float) for s in sets]
        q = np.stack([np.stack([a.min(0), np.median(a, 0), a.max(0)]) for a in arrays], axis=1)
        return cls(quantiles=q, method=method, set_size=np.array([len(a) for a in arrays]), info=dict(info or {}))

    # ------------------------------------------------------------------ reading
    @property
    def n_members(self) -> int:
        """Number of stored members (0 when only quantiles are stored)."""
        return 0 if self.members is None else int(self.members.shape[0])

    def median(self) -> np.ndarray:
        """The per-cell median ``(cell, p)``."""
        return self.quantiles[1].copy()

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-cell 90 % interval ``(lower, upper)``, each ``(cell, p)``."""
        return self.quantiles[0].copy(), self.quantiles[2].copy()

    def member(self, k: int) -> np.ndarray:
        """Member ``k`` (0-based) ``(cell, p)``; ParameterError when members are not stored or ``k`` is out of range."""
        if self.members is None:
            raise ParameterError(f"the result stores no ensemble members (only quantiles of a {self.method}); "
                                 "write the median instead")
        if not 0 <= int(k) < self.n_members:
            raise ParameterError(f"member {k} does not exist; the result stores members 0..{self.n_members - 1}")
        return self.members[int(k)].copy()

    def take(self, rows: np.ndarray) -> "ParameterUncertainty":
        """The same for the cells at positions ``rows``."""
        rows = np.asarray(rows, int)
        return ParameterUncertainty(quantiles=self.quantiles[:, rows], method=self.method,
                                    members=None if self.members is None else self.members[:, rows],
                                    set_size=None if self.set_size is None else self.set_size[rows], info=dict(self.info))

    def clip(self, lower: np.ndarray, upper: np.ndarray) -> "ParameterUncertainty":
        """Quantiles and members clipped to the bounds (physical units)."""
        lo, hi = np.asarray(lower, float), np.asarray(upper, float)
        return ParameterUncertainty(quantiles=np.clip(self.quantiles, lo, hi), method=self.method,
                                    members=None if self.members is None else np.clip(self.members, lo, hi),
                                    set_size=self.set_size, info=dict(self.info))

    # ------------------------------------------------------------------ files
    def variables(self, names: list[str] | tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict]]:
        """The result-file variables: ``<param>_q05/_q50/_q95`` over ``cell``, ``<param>_members`` over
        ``(member, cell)`` and ``parameter_set_size`` over ``cell``, each ``(dims, values, attrs)``."""
        out: dict[str, tuple[tuple[str, ...], np.ndarray, dict]] = {}
        for j, name in enumerate(names):
            for i, (level, suffix) in enumerate(zip(QUANTILES, SUFFIXES)):
                out[f"{name}_{suffix}"] = (("cell",), self.quantiles[i, :, j], {
                    "long_name": f"{name}: {level:.0%} quantile of the calibration's {self.method}"})
            if self.members is not None:
                out[f"{name}_members"] = (("member", "cell"), self.members[:, :, j], {
                    "long_name": f"{name}: members of the calibration's {self.method}"})
        if self.set_size is not None:
            out["parameter_set_size"] = (("cell",), self.set_size.astype("i4"), {
                "long_name": f"number of parameter sets behind each cell's quantiles ({self.method})"})
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready description kept in the result's metadata (what :meth:`from_dataset` needs besides the variables)."""
        return {"method": self.method, "quantiles": list(QUANTILES), "n_members": self.n_members, **self.info}

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, names: list[str] | tuple[str, ...], meta: dict[str, Any] | None,
                     source: str = "result") -> "ParameterUncertainty | None":
        """The uncertainty stored in a result file's dataset (None when it has no quantile variables)."""
        wanted = [f"{n}_{s}" for n in names for s in SUFFIXES]
        present = [v for v in wanted if v in ds]
        if not present:
            return None
        if len(present) != len(wanted):
            missing = sorted(set(wanted) - set(present))
            raise ParameterError(f"{source}: result has some parameter quantiles but lacks {', '.join(missing[:4])}")
        q = np.stack([np.stack([np.asarray(ds[f"{n}_{s}"].values, float) for n in names], axis=-1) for s in SUFFIXES])
        members = None
        if all(f"{n}_members" in ds for n in names):
            members = np.stack([np.asarray(ds[f"{n}_members"].transpose("member", "cell").values, float)
                                for n in names], axis=-1)
        size = np.asarray(ds["parameter_set_size"].values, int) if "parameter_set_size" in ds else None
        meta = dict(meta or {})
        method = str(meta.pop("method", "ensemble"))
        for k in ("quantiles", "n_members"):
            meta.pop(k, None)
        return cls(quantiles=q, method=method, members=members, set_size=size, info=meta)




def lag1_autocorrelation(residuals: np.ndarray) -> float:
    """Lag-1 autocorrelation of a residual series (non-finite values dropped; 0 with fewer than 3 values
    or no variance). Consecutive values are those of consecutive observations."""
    r = np.asarray(residuals, float)
    r = r[np.isfinite(r)]
    if r.size < 3:
        return 0.0
    r = r - r.mean()
    den = float(np.dot(r, r))
    return 0.0 if den <= 0 else float(np.dot(r[:-1], r[1:]) / den)


def effective_sample_size(n: int, r1: float) -> float:
    """``n (1 - r1) / (1 + r1)`` for a lag-1 autocorrelation ``r1 > 0`` (an AR(1) residual), else ``n``."""
    r1 = float(np.clip(r1, 0.0, 0.999))
    return float(n) * (1.0 - r1) / (1.0 + r1)


def confidence_ratio(n_eff: float, p: int, level: float = CONFIDENCE_LEVEL) -> float:
    """``1 + p / (n_eff - p) * F(p, n_eff - p; level)``: the factor on the best sum of squared errors that
    bounds the joint ``level`` confidence region of ``p`` parameters fitted to ``n_eff`` independent
    observations; ``inf`` when ``n_eff <= p + 1`` (the data cannot bound the region)."""
    from scipy.stats import f as f_dist

    if not 0 < level < 1:
        raise ParameterError(f"confidence level must lie in (0, 1), got {level!r}")
    dof = float(n_eff) - int(p)
    if int(p) < 1 or dof <= 1:
        return float("inf")
    return 1.0 + int(p) / dof * float(f_dist.ppf(level, int(p), dof))


def confidence_mask(fits: np.ndarray, ratio: float) -> np.ndarray:
    """Which candidates lie in the confidence region: ``fit**2 <= min(fit)**2 * ratio`` for RMSE-like data-fit
    values ``fits`` (non-finite never)."""
    fits = np.asarray(fits, float)
    ok = np.isfinite(fits)
    if not ok.any():
        return ok
    best = float(fits[ok].min())
    return ok & (fits ** 2 <= best ** 2 * float(ratio) + 1e-15)


def tolerance_mask(losses: np.ndarray, tolerance: float) -> np.ndarray:
    """Which candidates lie within ``tolerance`` of the best objective: ``loss <= best + tolerance * |best|``
    (a relative tolerance on the loss being minimised; non-finite losses never)."""
    losses = np.asarray(losses, float)
    ok = np.isfinite(losses)
    if not ok.any():
        return ok
    best = float(losses[ok].min())
    return ok & (losses <= best + float(tolerance) * abs(best) + 1e-15)


def interval_scores(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray, span: np.ndarray) -> dict[str, np.ndarray]:
    """Per-parameter coverage and normalised width of intervals ``(cell, p)`` against the true values.

    ``coverage[j]``: fraction of cells whose interval holds the truth; ``width[j]``: mean of
    ``(upper - lower) / span`` (0: a point, 1: the whole range between the bounds).
    """
    lower, upper, truth = (np.asarray(a, float) for a in (lower, upper, truth))
    tol = 1e-9 * np.asarray(span, float)
    inside = (truth >= lower - tol) & (truth <= upper + tol)
    return {"coverage": inside.mean(axis=0), "width": ((upper - lower) / np.asarray(span, float)).mean(axis=0),
            "inside": inside}
