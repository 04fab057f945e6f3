"""The result of a calibration: :class:`CalibrationResult` (parameters per cell plus provenance).

It sits in the core layer (it needs only parameters, the observation operator, ``_io``, the
output guards and errors), so every layer can read and write results: strategies build them,
:mod:`vic_paraformer.evaluation` scores them and :func:`vic_paraformer.vic.params.write_parameters`
writes them into a VIC parameter file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._io import to_netcdf_atomic, to_plain
from ._version import __version__
from .cf import flat_attributes, strip_added
from .errors import ParameterError, StrategyError
from .formats import open_netcdf, strip_kind_attributes
from .observation import ObservationOperator, identity_operator
from .parameters import ParameterSpace
from .uncertainty import ParameterUncertainty


@dataclass
class CalibrationResult:
    """Calibrated parameters per cell and everything needed to judge and reproduce them.

    Attributes
    ----------
    params:
        Dataset over ``cell`` with one variable per calibrated parameter (physical units,
        inside the parameter space's bounds).
    strategy:
        Registered name of the strategy that produced it.
    parameter_space:
        The bounds the parameters were calibrated within.
    options:
        The strategy's options as used (JSON-serialisable).
    seed:
        Random seed of the run.
    history:
        Named series, e.g. ``train_loss``/``val_loss`` per epoch, or ``best_objective`` per cell.
    n_evaluations:
        Number of simulator or surrogate evaluations (cell-runs), counted by the strategy itself.
    wall_time:
        Seconds spent in :meth:`Calibrator.calibrate`.
    train_cells:
        Cell ids the strategy learned from.
    info:
        Free-form extras (library versions, model file path, evaluation kind...).
    obs_operator:
        The observation operator fitted with the parameters (:mod:`vic_paraformer.observation`);
        the identity when the strategy used none. ``evaluate``, ``vic verify`` and the benchmark
        score soil moisture raw and through it.
    warmup_days:
        Days at the start of the calibration period excluded from every loss (None: not recorded).
    spinup_years:
        Years of spin-up (first year repeated) before every simulator run of the calibration.
    uncertainty:
        Per-cell quantiles (5/50/95 %) of the calibration's plausible parameter sets, and the
        members of a small ensemble (:mod:`vic_paraformer.uncertainty`); None when the strategy
        made none. Saved as ``<param>_q05/_q50/_q95`` (and ``<param>_members``) beside ``<param>``.
    """

    params: xr.Dataset
    strategy: str
    parameter_space: ParameterSpace
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    n_evaluations: int = 0
    wall_time: float = 0.0
    train_cells: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    info: dict[str, Any] = field(default_factory=dict)
    obs_operator: ObservationOperator = field(default_factory=identity_operator)
    warmup_days: int | None = None
    spinup_years: int = 0
    uncertainty: ParameterUncertainty | None = None
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.obs_operator is None:
            self.obs_operator = identity_operator()
        elif not isinstance(self.obs_operator, ObservationOperator):
            self.obs_operator = ObservationOperator.from_dict(self.obs_operator)
        legacy = self.info.get("obs_operator") if isinstance(self.info, dict) else None
        if self.obs_operator.is_identity and isinstance(legacy, dict) and "a" in legacy and "kind" not in legacy:
            self.obs_operator = _legacy_operator(legacy, self.params)
        values = self.parameter_space.from_dataset(self.params)
        if not self.parameter_space.contains(values, atol=1e-6):
            lo, hi = np.asarray(self.parameter_space.lower), np.asarray(self.parameter_space.upper)
            bad = np.argwhere(~np.isfinite(values) | (values < lo - 1e-6) | (values > hi + 1e-6))
            c, j = bad[0]
            name = self.parameter_space.names[j]
            who = f"{self.source}: result file has" if self.source else f"strategy {self.strategy!r} returned"
            raise ParameterError(
                f"{who} {name}={float(values[c, j]):g} for cell {int(self.params['cell'].values[c])}, outside "
                f"[{lo[j]:g}, {hi[j]:g}] ({len(bad)} value(s) out of bounds)")
        if self.uncertainty is not None and self.uncertainty.quantiles.shape[1:] != values.shape:
            raise ParameterError(f"parameter quantiles have shape {self.uncertainty.quantiles.shape[1:]}; the result "
                                 f"has {values.shape[0]} cells x {values.shape[1]} parameters")

    @property
    def cells(self) -> np.ndarray:
        return self.params["cell"].values

    def values(self) -> np.ndarray:
        """Parameters as an array ``(cell, p)`` in parameter-space order."""
        return self.parameter_space.from_dataset(self.params)

    def choose(self, which: str | int = "point") -> "CalibrationResult":
        """This result with other per-cell values as its point values (and no uncertainty).

        ``which``: ``"point"`` (the values as calibrated), ``"median"`` (the per-cell median of the
        ensemble or tolerance set; the point values when the result has no uncertainty) or a member
        number ``k`` (0-based; ParameterError when the result stores no such member).
        """
        import dataclasses

        if which == "point" or (which == "median" and self.uncertainty is None):
            values = self.values()
        elif which == "median":
            values = self.uncertainty.median()
        elif isinstance(which, (int, np.integer)) and not isinstance(which, bool):
            if self.uncertainty is None:
                raise ParameterError(f"{self.source or 'the result'}: no ensemble members (the result has no "
                                     "parameter uncertainty)")
            values = self.uncertainty.member(int(which))
        else:
            raise ParameterError(f"choose() takes 'point', 'median' or a member number, got {which!r}")
        params = self.params.copy()
        for j, name in enumerate(self.parameter_space.names):
            params[name] = ("cell", self.parameter_space.clip(values)[:, j])
        info = dict(self.info)
        info["values"] = "point" if which == "point" else ("median" if which == "median" else f"member {int(which)}")
        return dataclasses.replace(self, params=params, uncertainty=None, info=info)

    def to_dataset(self) -> xr.Dataset:
        ds = self.params.copy()
        ds["train_cell"] = ("cell", np.isin(ds["cell"].values, self.train_cells).astype("i1"))
        meta = {
            "strategy": self.strategy,
            "parameter_space": self.parameter_space.to_dict(),
            "options": self.options,
            "seed": self.seed,
            "history": self.history,
            "n_evaluations": int(self.n_evaluations),
            "wall_time": float(self.wall_time),
            "info": self.info,
            "obs_operator": self.obs_operator.to_dict(),
            "warmup_days": self.warmup_days,
            "spinup_years": int(self.spinup_years),
        }
        if self.uncertainty is not None:
            meta["uncertainty"] = self.uncertainty.describe()
            for var, (dims, data, attrs) in self.uncertainty.variables(self.parameter_space.names).items():
                ds[var] = (dims, data, attrs)
        plain = to_plain(meta, nan_as_none=False)
        # the JSON attribute is what open() reads; the same metadata as individual attributes is for
        # netCDF tools (ncdump); the loss series ("history") stay in the JSON only, the name being
        # CF's processing history
        ds.attrs = {"title": "vic_paraformer calibration result",
                    "source": f"vic_paraformer {__version__}: strategy {self.strategy}",
                    **flat_attributes({k: v for k, v in plain.items() if k != "history"}),
                    "vic_paraformer_result": json.dumps(plain)}
        return ds

    def save(self, path: str | Path) -> Path:
        """Write to netCDF atomically with CF-1.8 metadata (:mod:`vic_paraformer.cf`): the metadata
        as one JSON attribute (``vic_paraformer_result``, what :meth:`open` reads back) and as
        individual attributes (``strategy``, ``seed``, ``options_<name>``...) for netCDF tools."""
        return to_netcdf_atomic(self.to_dataset(), path, kind="result", call="CalibrationResult.save")

    @classmethod
    def open(cls, path: str | Path) -> "CalibrationResult":
        """Read a result written by :meth:`save`; a damaged file, a file of another kind or of another
        format version is one :class:`~vic_paraformer.errors.StrategyError` naming it
        (:mod:`vic_paraformer.formats`)."""
        path = Path(path)
        ds = open_netcdf(path, "result", "calibration result", StrategyError, missing="calibration result")
        strip_kind_attributes(ds.attrs)
        strip_added(ds)
        if "vic_paraformer_result" not in ds.attrs:
            raise StrategyError(f"{path}: not a vic_paraformer calibration result (attribute 'vic_paraformer_result' missing)")
        try:
            meta = json.loads(ds.attrs["vic_paraformer_result"])
            space = ParameterSpace.from_dict(meta["parameter_space"])
            strategy = meta["strategy"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StrategyError(f"{path}: damaged result metadata (attribute 'vic_paraformer_result': "
                                f"{type(exc).__name__})") from None
        missing = [n for n in space.names if n not in ds]
        if missing:
            raise StrategyError(f"{path}: result lacks parameter variable(s) {', '.join(missing)}; "
                                f"expected {', '.join(space.names)} over 'cell'")
        bad_dims = [n for n in space.names if ds[n].dims != ("cell",)]
        if bad_dims:
            raise StrategyError(f"{path}: result variable {bad_dims[0]!r} has dims {ds[bad_dims[0]].dims}; "
                                "expected ('cell',)")
        cells = ds["cell"].values
        if len(np.unique(cells)) != len(cells):
            raise StrategyError(f"{path}: result has duplicated cell ids")
        train = cells[ds["train_cell"].values.astype(bool)] if "train_cell" in ds else np.array([], int)
        params = ds[list(space.names)]
        params.attrs = {}
        try:
            uncertainty = ParameterUncertainty.from_dataset(ds, space.names, meta.get("uncertainty"), str(path))
        except ParameterError as exc:
            raise StrategyError(str(exc)) from None
        return cls(params=params, strategy=strategy, parameter_space=space, options=meta.get("options", {}),
                   seed=meta.get("seed"), history=meta.get("history", {}), n_evaluations=meta.get("n_evaluations", 0),
                   wall_time=meta.get("wall_time", 0.0), train_cells=train, info=meta.get("info", {}),
                   obs_operator=ObservationOperator.from_dict(meta.get("obs_operator")),
                   warmup_days=meta.get("warmup_days"), spinup_years=int(meta.get("spinup_years") or 0),
                   uncertainty=uncertainty, source=str(path))

    def summary(self) -> str:
        v = self.values()
        parts = [f"{n}: median {np.median(v[:, j]):.4g} [{v[:, j].min():.4g}, {v[:, j].max():.4g}]"
                 for j, n in enumerate(self.parameter_space.names)]
        if self.uncertainty is not None:
            lo, hi = self.uncertainty.interval()
            span = np.asarray(self.parameter_space.upper) - np.asarray(self.parameter_space.lower)
            width = ", ".join(f"{n} {np.mean((hi[:, j] - lo[:, j]) / span[j]):.2f}"
                              for j, n in enumerate(self.parameter_space.names))
            parts.append(f"90 % interval width ({self.uncertainty.method}, fraction of the bounds): {width}")
        extra = "" if self.obs_operator.is_identity else f"; observation operator: {self.obs_operator.describe()}"
        return (f"{self.strategy}: {len(self.cells)} cells ({len(self.train_cells)} trained), "
                f"{self.n_evaluations} evaluations, {self.wall_time:.1f} s; " + "; ".join(parts) + extra)


def _legacy_operator(info: dict, params: xr.Dataset) -> ObservationOperator:
    """The older ``info["obs_operator"] = {"cells", "a", "b"}`` form as a linear operator (locations
    from the result's own lat/lon)."""
    cells = np.asarray(info["cells"], int)
    if "lat" in params.coords and "lon" in params.coords:
        sub = params.sel(cell=cells)
        lat, lon = sub["lat"].values, sub["lon"].values
    else:
        lat, lon = np.zeros(cells.size), cells.astype(float)
    return ObservationOperator(kind="linear", cells=cells, lat=lat, lon=lon, a=info["a"], b=info["b"],
                               n_obs=np.ones(cells.size, int), new_cells="identity")
