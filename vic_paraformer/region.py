"""The Region: the one data model every simulator, strategy and adapter speaks.

A :class:`Region` wraps an :class:`xarray.Dataset` with this schema:

Dimensions
    ``cell`` (grid cells, any order), ``time`` (daily, consecutive days), ``attribute``.

Coordinates
    ``cell(cell)`` integer cell ids (kept through :meth:`Region.subset`);
    ``lat(cell)``, ``lon(cell)`` in degrees (lat in [-90, 90], lon in [-180, 360]);
    optional ``row(cell)``, ``col(cell)`` integer grid indices (maps, spatial sampling);
    ``time(time)`` daily timestamps; ``attribute(attribute)`` attribute names.

Forcing ``(cell, time)``, VIC names, daily values
    ``prec`` (mm/day, >= 0), ``air_temp`` (degC), ``swdown``, ``lwdown`` (W m-2),
    ``pressure``, ``vp`` (kPa), ``wind`` (m s-1).

Static attributes
    ``attributes(cell, attribute)``: soil, vegetation, topography and climate descriptors
    (the A of the paper). Names are free; the water-balance simulator documents the ones it reads.

Observations (optional at construction, required for calibration)
    ``obs_sm(cell, time)`` volumetric top-layer soil moisture (m3 m-3), NaN where not observed;
    ``obs_et(cell, time)`` evapotranspiration (mm/day), optional.

Parameters (optional)
    ``infilt``, ``Ds``, ``Dsmax``, ``Ws``, ``expt`` over ``cell``: current VIC values (e.g. from
    an imported VIC setup); ``true_<param>`` over ``cell`` for synthetic twins.

Training cells (optional)
    ``train_cell(cell)`` boolean: the cells a strategy may learn from. Without it, every cell with
    at least one observation is a training cell. A training cell whose observations are all NaN
    is an error.

Long module (over 400 lines): the one data model: schema, validation, selection, lazy chunks and
I/O of ``Region``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ._io import to_netcdf_atomic
from .cf import strip_added
from .errors import RegionError
from .formats import check_input_file, open_netcdf, strip_kind_attributes
from .parameters import CALIBRATABLE_BY_NAME, ParameterSpace
from .units import ANNUAL_PREC_RANGE, RANGES, UNITS, convert_units, likely_mistake

log = logging.getLogger(__name__)

FORCING_VARS: dict[str, str] = {
    "prec": "mm/day",
    "air_temp": "degC",
    "swdown": "W m-2",
    "lwdown": "W m-2",
    "pressure": "kPa",
    "vp": "kPa",
    "wind": "m s-1",
}
OBSERVATION_VARS: dict[str, str] = {"obs_sm": "m3 m-3", "obs_et": "mm/day"}
#: Kinds of netCDF file (:func:`vic_paraformer.outputs.file_kind`) that :meth:`Region.open` reads and validates
#: besides regions: files that do not record their kind may follow the schema whatever they look like.
REGION_LOOKALIKES: tuple[str, ...] = ("netcdf", "simulation", "vic-parameters", "training-runs")


@dataclass(frozen=True)
class SpatialSplit:
    """Cells of a DAS-Sk split: ``train`` (one per k x k block) and ``neighbours`` (the untrained
    cells adjacent to a training cell, the paper's DAS-S8NG spatial test set). Both hold cell ids."""

    k: int
    train: np.ndarray
    neighbours: np.ndarray


class Region:
    """A set of grid cells with daily forcing, static attributes and (optionally) observations.

    ``Region(ds)`` validates ``ds`` against the schema in this module's docstring and raises
    :class:`~vic_paraformer.errors.RegionError` naming the variable or cell at fault.
    """

    def __init__(self, ds: xr.Dataset, *, source: str | None = None, validate: bool = True) -> None:
        if not isinstance(ds, xr.Dataset):
            raise RegionError(f"a Region is built from an xarray.Dataset, got {type(ds).__name__}")
        self.source = source
        if "cell" in ds.dims and "cell" not in ds.coords:
            ds = ds.assign_coords(cell=np.arange(ds.sizes["cell"]))
        if validate:
            ds = convert_units(ds)
        self._ds = ds
        if validate:
            self.validate()

    # ------------------------------------------------------------------ I/O
    @classmethod
    def open(cls, path: str | Path, *, chunks: int | None = None, max_memory_gb: float | None = None) -> "Region":
        """Open a Region saved with :meth:`save` (or any netCDF following the schema).

        By default the file is read into memory. ``chunks=N`` opens it lazily instead (xarray
        with dask chunks of ``N`` cells over ``cell``): nothing but the coordinates is read until
        asked for, validation reads one chunk of cells at a time, and :meth:`iter_chunks` /
        :meth:`load_cells` give in-memory pieces, so a region larger than memory can be worked
        through in bounded memory (see :func:`cells_per_chunk` for sizing ``N`` from a budget).
        ``max_memory_gb`` opens lazily with chunks sized by :func:`cells_per_chunk` for the file's
        number of days. Values are identical either way.
        """
        if chunks is not None and int(chunks) < 1:
            raise RegionError(f"{path}: chunks must be a positive number of cells, got {chunks}")
        if chunks is None and max_memory_gb is not None:
            path = check_input_file(path, ("region",) + REGION_LOOKALIKES, RegionError, missing="region file",
                                    folder="a region netCDF file", not_a="a netCDF region")
            try:
                with xr.open_dataset(path) as probe:
                    chunks = cells_per_chunk(max_memory_gb, int(probe.sizes.get("time", 1)))
            except Exception:  # noqa: BLE001 - reported as a damaged file by open_netcdf below
                chunks = 1
        ds = open_netcdf(path, "region", "netCDF region", RegionError, accept=REGION_LOOKALIKES,
                         chunks=None if chunks is None else {"cell": int(chunks)}, missing="region file")
        strip_kind_attributes(ds.attrs)
        strip_added(ds)
        if "train_cell" in ds:
            ds["train_cell"] = ds["train_cell"].astype(bool)
        return cls(ds, source=str(path))

    def close(self) -> None:
        """Close the file behind a lazily opened region (nothing to do for one in memory); the
        region's data cannot be read afterwards."""
        self._ds.close()

    @property
    def lazy(self) -> bool:
        """True when the data variables are dask arrays (opened with ``Region.open(..., chunks=N)``)."""
        return any(getattr(v.variable, "chunks", None) is not None for v in self._ds.data_vars.values())

    @property
    def chunk_cells(self) -> int:
        """Cells per chunk of a lazy region (its first dask chunk over ``cell``); all cells otherwise."""
        for v in self._ds.data_vars.values():
            ch = v.chunks
            if ch is not None and "cell" in v.dims:
                return int(ch[v.dims.index("cell")][0])
        return self.n_cells

    def load_cells(self, index: slice | np.ndarray) -> "Region":
        """The cells at positions ``index`` read into memory, as a Region (not validated again:
        the pieces of a validated region are valid)."""
        ds = self._ds.isel(cell=index)
        return Region(ds.load() if self.lazy else ds, source=self.source, validate=False)

    def iter_chunks(self, n_cells: int | None = None) -> Iterator[tuple[slice, "Region"]]:
        """``(positions, in-memory Region)`` for consecutive pieces of ``n_cells`` cells (default:
        :attr:`chunk_cells`); at most one piece is held at a time by this iterator."""
        step = int(n_cells or self.chunk_cells)
        if step < 1:
            raise self._err(f"chunk size must be >= 1 cell, got {n_cells}")
        for start in range(0, self.n_cells, step):
            sl = slice(start, min(start + step, self.n_cells))
            yield sl, self.load_cells(sl)

    def save(self, path: str | Path) -> Path:
        """Write the Region to netCDF atomically (temporary file, then rename), with CF-1.8
        metadata (units and long names, ``Conventions``, ``history``: :mod:`vic_paraformer.cf`);
        :meth:`open` reads back exactly this region."""
        ds = self._ds.copy()
        if "train_cell" in ds:
            ds["train_cell"] = ds["train_cell"].astype("i1")
        return to_netcdf_atomic(ds, path, kind="region", call="Region.save")

    # ------------------------------------------------------------------ validation
    def _err(self, msg: str) -> RegionError:
        return RegionError(f"{self.source}: {msg}" if self.source else msg)

    def validate(self) -> None:
        """Check the schema; raise RegionError naming the variable or cell at fault.

        A lazy region is checked one chunk of cells at a time (every check is per cell, so the
        chunks together check exactly what one in-memory pass would).
        """
        if self.lazy:
            self._validate_chunks()
            return
        ds = self._ds
        for dim in ("cell", "time"):
            if dim not in ds.dims:
                raise self._err(f"missing dimension {dim!r}; a Region needs dims ('cell', 'time'), found {tuple(ds.dims)}")
        if ds.sizes["cell"] < 1 or ds.sizes["time"] < 1:
            raise self._err(f"a Region needs at least one cell and one day, got {ds.sizes['cell']} cells x {ds.sizes['time']} days")
        for name in ("lat", "lon"):
            if name not in ds.variables:
                raise self._err(f"missing coordinate {name!r} (degrees, over 'cell')")
            if ds[name].dims != ("cell",):
                raise self._err(f"coordinate {name!r} must have dims ('cell',), has {ds[name].dims}")
        lat, lon = ds["lat"].values, ds["lon"].values
        bad = np.flatnonzero(~np.isfinite(lat) | (lat < -90) | (lat > 90))
        if bad.size:
            raise self._err(f"lat of cell {self._cell_id(bad[0])} is {float(lat[bad[0]]):g}; expected -90..90 degrees")
        bad = np.flatnonzero(~np.isfinite(lon) | (lon < -180) | (lon > 360))
        if bad.size:
            raise self._err(f"lon of cell {self._cell_id(bad[0])} is {float(lon[bad[0]]):g}; expected -180..360 degrees")
        ids = ds["cell"].values
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            raise self._err(f"cell ids must be unique; {dup.size} id(s) appear more than once, e.g. "
                            f"{', '.join(str(x) for x in dup[:5].tolist())}")
        self._validate_time()
        for name, units in FORCING_VARS.items():
            self._require_var(name, ("cell", "time"), f"forcing in {units}")
            values = ds[name].values
            if not np.all(np.isfinite(values)):
                c, t = np.argwhere(~np.isfinite(values))[0]
                raise self._err(f"forcing {name!r} is not finite at cell {self._cell_id(c)}, {self._day(t)}")
            self._check_range(name, values, "forcing")
        self._check_annual_prec()
        self._require_var("attributes", ("cell", "attribute"), "static attributes")
        if "attribute" not in ds.coords:
            raise self._err("variable 'attributes' needs an 'attribute' coordinate with the attribute names")
        att = ds["attributes"].values
        if not np.all(np.isfinite(att)):
            c, a = np.argwhere(~np.isfinite(att))[0]
            raise self._err(f"attribute {str(ds['attribute'].values[a])!r} of cell {self._cell_id(c)} is not finite")
        if "obs_sm" in ds:
            self._require_var("obs_sm", ("cell", "time"), "observed soil moisture in m3 m-3")
            self._check_range("obs_sm", ds["obs_sm"].values, "observation")
            self._check_porosity()
        if "obs_et" in ds:
            self._require_var("obs_et", ("cell", "time"), "observed ET in mm/day")
            self._check_range("obs_et", ds["obs_et"].values, "observation")
        for name in CALIBRATABLE_BY_NAME:
            for var in (name, f"true_{name}"):
                if var in ds and ds[var].dims != ("cell",):
                    raise self._err(f"parameter variable {var!r} must have dims ('cell',), has {ds[var].dims}")
        if "train_cell" in ds:
            self._require_var("train_cell", ("cell",), "boolean training-cell flag")
            self.require_observations(self.training_cells)

    def _validate_chunks(self) -> None:
        ds = self._ds
        for dim in ("cell", "time"):
            if dim not in ds.dims:
                raise self._err(f"missing dimension {dim!r}; a Region needs dims ('cell', 'time'), found {tuple(ds.dims)}")
        for name, var in list(ds.data_vars.items()):  # the canonical dimension order, lazily
            want = tuple(d for d in ("cell", "time", "attribute") if d in var.dims)
            if set(var.dims) == set(want) and var.dims != want:
                self._ds[name] = var.transpose(*want)
        step = self.chunk_cells
        for start in range(0, self.n_cells, step):
            Region(self._ds.isel(cell=slice(start, start + step)).load(), source=self.source)
    def _check_range(self, name: str, values: np.ndarray, what: str) -> None:
        """Values outside :data:`vic_paraformer.units.RANGES` are an error naming the first cell and day
        and, when recognisable, the unit mistake (see :mod:`vic_paraformer.units`)."""
        lo, hi = RANGES[name]
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(values) & ((values < lo) | (values > hi))
        if not bad.any():
            return
        c, t = np.argwhere(bad)[0]
        hint = likely_mistake(name, np.asarray(values, dtype=float))
        where = f"cell {self._cell_id(c)}, {self._day(t)}"
        n = int(bad.sum())
        negative = lo == 0.0 and bool(np.nanmin(values) < 0)
        if negative:
            c, t = np.argwhere(np.isfinite(values) & (values < 0))[0]
            where = f"cell {self._cell_id(c)}, {self._day(t)}"
            what_neg = "precipitation" if name == "prec" else "values"
            extra = f" ({hint})" if hint and "negative" not in hint else ""
            raise self._err(f"negative {what_neg} in {what} {name!r} at {where}: {float(values[c, t]):g} "
                            f"{UNITS[name]}; expected >= 0 ({int((values < 0).sum())} value(s)){extra}")
        detail = f"{hint}; " if hint else ""
        msg = (f"{what} {name!r} {detail}value {float(values[c, t]):g} at {where} ({n} value(s)) is outside "
               f"the plausible {lo:g}..{hi:g} {UNITS[name]}")
        if hint or negative or name in ("obs_sm", "prec"):
            raise self._err(msg)
        # Outside the plausible range but no recognisable unit mistake: implausible, yet possible
        # in idealised experiments, so a warning rather than an error.
        log.warning("%s%s", f"{self.source}: " if self.source else "", msg)

    def _check_annual_prec(self) -> None:
        prec = np.asarray(self._ds["prec"].values, dtype=float)
        annual = float(prec.mean()) * 365.25
        lo, hi = ANNUAL_PREC_RANGE
        if annual == 0.0:
            log.warning("%sprecipitation is zero on every cell-day", f"{self.source}: " if self.source else "")
        elif annual < lo:
            raise self._err(f"forcing 'prec' mean annual total {annual:.3g} mm/year is below {lo:g} mm/year: looks "
                            f"like m/day or kg m-2 s-1; expected mm/day (set units='m/day' or 'kg m-2 s-1')")
        elif annual > hi:
            raise self._err(f"forcing 'prec' mean annual total {annual:.4g} mm/year is above {hi:g} mm/year; "
                            "expected daily totals in mm/day")

    def _check_porosity(self) -> None:
        """obs_sm above the cell's porosity attribute: a warning naming the cells (not an error)."""
        if "porosity" not in self.attribute_names:
            return
        por = self.attribute("porosity")
        with np.errstate(invalid="ignore"):
            above = np.nanmax(np.where(np.isfinite(self._ds["obs_sm"].values), self._ds["obs_sm"].values, -np.inf),
                              axis=1) > por + 0.02
        if above.any():
            ids = [str(c) for c in self.cells[above][:5]]
            log.warning("%sobs_sm exceeds the porosity attribute (+0.02) in %d cell(s), e.g. cell(s) %s",
                        f"{self.source}: " if self.source else "", int(above.sum()), ", ".join(ids))

    def _validate_time(self) -> None:
        t = self._ds["time"].values
        if not np.issubdtype(t.dtype, np.datetime64):
            raise self._err(f"time axis must be datetimes (daily), got dtype {t.dtype}")
        if t.size > 1:
            step = np.diff(t).astype("timedelta64[s]").astype(np.int64)
            bad = np.flatnonzero(step != 86400)
            if bad.size:
                raise self._err(
                    f"time axis is not daily: step of {step[bad[0]] / 3600:g} h between {self._day(bad[0])} and "
                    f"{self._day(bad[0] + 1)}; expected consecutive days (aggregate sub-daily data first)")

    def _require_var(self, name: str, dims: tuple[str, ...], what: str) -> None:
        if name not in self._ds:
            raise self._err(f"missing variable {name!r} ({what}, dims {dims})")
        if set(self._ds[name].dims) != set(dims):
            raise self._err(f"variable {name!r} has dims {self._ds[name].dims}; expected {dims}")
        if self._ds[name].dims != dims:
            self._ds[name] = self._ds[name].transpose(*dims)

    def _cell_id(self, i: int) -> str:
        ds = self._ds
        cid = ds["cell"].values[i]
        return f"{cid} (lat {float(ds['lat'].values[i]):.4f}, lon {float(ds['lon'].values[i]):.4f})"

    def _day(self, t: int) -> str:
        return str(pd.Timestamp(self._ds["time"].values[t]).date())

    def require_observations(self, cells: Iterable[int] | None = None, var: str = "obs_sm") -> None:
        """Raise RegionError unless every given cell (default: training cells) has some observations."""
        if var not in self._ds:
            raise self._err(f"missing variable {var!r}: calibration needs observations ({OBSERVATION_VARS.get(var, '')}, dims ('cell', 'time'))")
        cells = self.training_cells if cells is None else np.asarray(list(cells))
        obs = self._ds[var].sel(cell=cells)
        counts = np.isfinite(obs.values).sum(axis=1)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            i = int(np.flatnonzero(self.cells == cells[empty[0]])[0])
            raise self._err(f"training cell {self._cell_id(i)} has no valid {var} (all NaN); "
                            f"drop it from the training cells or provide observations ({len(empty)} such cell(s))")

    # ------------------------------------------------------------------ accessors
    @property
    def ds(self) -> xr.Dataset:
        """The underlying Dataset (treat as read-only; use the methods to derive new Regions)."""
        return self._ds

    @property
    def cells(self) -> np.ndarray:
        return self._ds["cell"].values

    @property
    def n_cells(self) -> int:
        return int(self._ds.sizes["cell"])

    @property
    def times(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self._ds["time"].values)

    @property
    def n_days(self) -> int:
        return int(self._ds.sizes["time"])

    @property
    def attribute_names(self) -> list[str]:
        return [str(a) for a in self._ds["attribute"].values]

    @property
    def forcing_names(self) -> list[str]:
        return list(FORCING_VARS)

    @property
    def has_grid(self) -> bool:
        return "row" in self._ds.variables and "col" in self._ds.variables

    @property
    def training_cells(self) -> np.ndarray:
        """Cell ids a strategy may train on (``train_cell`` flag, else cells with any obs_sm)."""
        if "train_cell" in self._ds:
            return self.cells[self._ds["train_cell"].values.astype(bool)]
        if "obs_sm" not in self._ds:
            return self.cells[:0]
        has = self._ds["obs_sm"].notnull().any("time").values
        return self.cells[has]

    def forcing(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Forcing as a float32 array ``(cell, time, variable)`` in :data:`FORCING_VARS` order."""
        names = list(names) if names is not None else self.forcing_names
        return np.stack([self._ds[n].values for n in names], axis=-1).astype(np.float32)

    def attributes(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Static attributes ``(cell, attribute)``; ``names`` selects and orders them."""
        att = self._ds["attributes"]
        if names is not None:
            missing = [n for n in names if n not in self.attribute_names]
            if missing:
                raise self._err(f"missing attribute(s) {missing}; the region has {self.attribute_names}")
            att = att.sel(attribute=list(names))
        return np.asarray(att.values, dtype=np.float32)

    def attribute(self, name: str, default: float | None = None) -> np.ndarray:
        """One attribute over cells; ``default`` (broadcast) when the region lacks it."""
        if name in self.attribute_names:
            return np.asarray(self._ds["attributes"].sel(attribute=name).values, dtype=float)
        if default is None:
            raise self._err(f"missing attribute {name!r}; the region has {self.attribute_names}")
        return np.full(self.n_cells, float(default))

    def observations(self, var: str = "obs_sm") -> np.ndarray:
        """Observations ``(cell, time)`` with NaN gaps."""
        if var not in self._ds:
            raise self._err(f"missing variable {var!r} ({OBSERVATION_VARS.get(var, 'observations')}, dims ('cell', 'time'))")
        return np.asarray(self._ds[var].values, dtype=float)

    def has(self, var: str) -> bool:
        return var in self._ds

    def parameters(self, space: ParameterSpace | None = None, prefix: str = "") -> np.ndarray | None:
        """Stored parameters ``(cell, p)`` (``prefix="true_"`` for a synthetic truth), or None."""
        space = ParameterSpace.resolve(space)
        if not all(prefix + n in self._ds for n in space.names):
            return None
        return space.from_dataset(self._ds, prefix=prefix)

    def fingerprint(self) -> str:
        """A short hash of the attribute names and forcing variables (for checkpoint compatibility)."""
        payload = json.dumps({"attributes": self.attribute_names, "forcing": self.forcing_names})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """``(row, col)`` integer indices per cell; raises if the region has no grid indices."""
        if not self.has_grid:
            raise self._err("this operation needs grid indices: coordinates 'row' and 'col' over 'cell'")
        return self._ds["row"].values.astype(int), self._ds["col"].values.astype(int)

    def __repr__(self) -> str:
        t = self.times
        return (f"<Region {self.n_cells} cells x {self.n_days} days ({t[0].date()}..{t[-1].date()}), "
                f"{len(self.attribute_names)} attributes, training cells: {len(self.training_cells)}>")

    # ------------------------------------------------------------------ derived regions
    def _derive(self, ds: xr.Dataset) -> "Region":
        return Region(ds, source=self.source)

    def sel_time(self, start=None, end=None) -> "Region":
        """Days from ``start`` to ``end`` inclusive (strings, datetimes or a slice as ``start``)."""
        sl = start if isinstance(start, slice) else slice(start, end)
        ds = self._ds.sel(time=sl)
        if ds.sizes["time"] == 0:
            raise self._err(f"no days between {sl.start} and {sl.stop}; the region covers "
                            f"{self.times[0].date()}..{self.times[-1].date()}")
        if "train_cell" in ds:
            ds = ds.drop_vars("train_cell")
            out = self._derive(ds)
            return out.with_training_cells(self.training_cells)
        return self._derive(ds)

    def subset(self, cells: Iterable[int]) -> "Region":
        """The given cell ids (in the given order)."""
        cells = np.asarray(list(cells))
        missing = np.setdiff1d(cells, self.cells)
        if missing.size:
            raise self._err(f"cell id(s) {missing[:5].tolist()} not in the region (ids {self.cells.min()}..{self.cells.max()})")
        return self._derive(self._ds.sel(cell=cells))

    def with_training_cells(self, cells: Iterable[int]) -> "Region":
        """A copy whose ``train_cell`` flag marks exactly ``cells`` (which must have observations)."""
        cells = np.asarray(list(cells))
        missing = np.setdiff1d(cells, self.cells)
        if missing.size:
            raise self._err(f"training cell id(s) {missing[:5].tolist()} not in the region")
        flag = np.isin(self.cells, cells)
        ds = self._ds.assign(train_cell=("cell", flag))
        return self._derive(ds)

    def with_parameters(self, params: xr.Dataset, prefix: str = "") -> "Region":
        """A copy with parameter variables (over ``cell``) added or replaced."""
        ds = self._ds.copy()
        for name in params.data_vars:
            ds[prefix + str(name)] = params[name].reindex(cell=self.cells)
        return self._derive(ds)

    def spatial_split(self, k: int, seed: int = 0) -> SpatialSplit:
        """The paper's DAS-Sk sampling: one training cell per k x k block, and its untrained neighbours.

        **Grids** (``row``/``col`` present): in each k x k block the cell nearest the block centre
        (row, col) = (r0 + k//2, c0 + k//2) is taken; blocks without cells are skipped.
        ``neighbours`` are the cells not trained on that touch a training cell (8-neighbourhood),
        the untrained spatial test set (DAS-SkNG). ``seed`` is not used.

        **Point sets** (stations; no ``row``/``col``): distances are great-circle distances between
        ``lat``/``lon``, and ``s`` is the median distance from a point to its nearest other point
        (the network's spacing, the analogue of one grid step). ``n_train = max(1, round(n / k**2))``
        training points (the share of a DAS-Sk grid) are chosen by seeded farthest-point sampling:
        the first point at random (``numpy`` Generator seeded with ``seed``), then repeatedly the point
        farthest from every point chosen so far (ties to the lowest index), which spreads them evenly
        like one per block. ``neighbours`` are the other points within ``1.5 s`` of a training point
        (the analogue of the 8-neighbourhood: one diagonal step is ``1.41`` steps) but farther than
        ``0.01 s`` from every training point (points at a training point's location are neither).
        Both sets are disjoint and sorted by cell id; the same region, ``k`` and ``seed`` give the
        same split.
        """
        if k < 1:
            raise self._err(f"spatial_split needs k >= 1, got {k}")
        if not self.has_grid:
            return self._point_split(k, seed)
        row, col = self.grid()
        cells = self.cells
        train: list[int] = []
        for br in np.unique(row // k):
            for bc in np.unique(col // k):
                inb = np.flatnonzero((row // k == br) & (col // k == bc))
                if inb.size == 0:
                    continue
                cr, cc = br * k + k // 2, bc * k + k // 2
                d = (row[inb] - cr) ** 2 + (col[inb] - cc) ** 2
                train.append(int(inb[np.argmin(d)]))
        train_idx = np.array(sorted(train), dtype=int)
        is_train = np.zeros(len(cells), bool)
        is_train[train_idx] = True
        near = np.zeros(len(cells), bool)
        for i in train_idx:
            near |= (np.abs(row - row[i]) <= 1) & (np.abs(col - col[i]) <= 1)
        neigh_idx = np.flatnonzero(near & ~is_train)
        return SpatialSplit(k=k, train=cells[train_idx], neighbours=cells[neigh_idx])

    def _point_split(self, k: int, seed: int) -> SpatialSplit:
        """:meth:`spatial_split` for regions without grid indices (see there)."""
        cells = self.cells
        n = len(cells)
        if n < 2:
            raise self._err(f"spatial_split of a point set needs at least 2 points, got {n}")
        lat = np.radians(self._ds["lat"].values.astype(float))
        lon = np.radians(self._ds["lon"].values.astype(float))
        dlat = lat[:, None] - lat[None, :]
        dlon = lon[:, None] - lon[None, :]
        h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
        dist = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))   # km
        off = dist + np.diag(np.full(n, np.inf))
        spacing = float(np.median(off.min(axis=1)))
        if spacing <= 0:
            raise self._err("spatial_split of a point set needs distinct locations: more than half the points "
                            "share their location with another point")
        n_train = max(1, int(round(n / k ** 2)))
        rng = np.random.default_rng(seed)
        chosen = [int(rng.integers(n))]
        nearest = dist[chosen[0]].copy()
        while len(chosen) < n_train:
            nxt = int(np.argmax(nearest))
            chosen.append(nxt)
            nearest = np.minimum(nearest, dist[nxt])
        train_idx = np.array(sorted(chosen), dtype=int)
        to_train = dist[:, train_idx].min(axis=1)
        is_train = np.zeros(n, bool)
        is_train[train_idx] = True
        neigh = (~is_train) & (to_train <= 1.5 * spacing) & (to_train > 0.01 * spacing)
        return SpatialSplit(k=k, train=cells[train_idx], neighbours=cells[np.flatnonzero(neigh)])


#: Bytes of memory per cell-day a command needs when it works through a region chunk by chunk
#: (forcing, observations and the working arrays of a simulation or a forward pass, measured on the
#: synthetic twin). :func:`cells_per_chunk` divides a memory budget by it.
BYTES_PER_CELL_DAY = 600


def cells_per_chunk(max_memory_gb: float, n_days: int, bytes_per_cell_day: float = BYTES_PER_CELL_DAY) -> int:
    """Cells per chunk so that a chunk of ``n_days`` days fits ``max_memory_gb`` (at least 1)."""
    if not max_memory_gb > 0:
        raise RegionError(f"the memory budget must be > 0 GB, got {max_memory_gb}")
    return max(1, int(max_memory_gb * 1e9 // (bytes_per_cell_day * max(1, n_days))))
class Period(NamedTuple):
    """An inclusive period of days: ``start`` and ``end`` as midnight timestamps.

    A plain 2-tuple too (``slice(*period)`` selects it from a time axis); ``str(period)`` is
    ``"YYYY-MM-DD..YYYY-MM-DD"`` and :meth:`iso` the two ISO dates (for metadata).
    """

    start: pd.Timestamp
    end: pd.Timestamp

    def __str__(self) -> str:
        return f"{self.start.date()}..{self.end.date()}"

    def iso(self) -> list[str]:
        """``[start, end]`` as ISO day strings."""
        return [str(self.start.date()), str(self.end.date())]


def parse_period(period, what: str = "period") -> Period | None:
    """The :class:`Period` of ``period``: two dates (strings, datetimes, timestamps) or a slice of
    them, both days included; a time of day is dropped. None stays None.

    RegionError naming ``what`` when it is not two values, a bound is not a date, or it starts
    after it ends.
    """
    if period is None:
        return None
    if isinstance(period, slice):
        period = (period.start, period.stop)
    if isinstance(period, str) or not isinstance(period, (list, tuple)) or len(period) != 2:
        raise RegionError(f"{what} must be two dates START END (YYYY-MM-DD), got {period!r}")
    out = []
    for label, value in zip(("start", "end"), period):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            ts = None
        if ts is None or ts is pd.NaT:
            raise RegionError(f"{what} {label} {value!r} is not a date; expected YYYY-MM-DD")
        out.append(ts.normalize())
    if out[0] > out[1]:
        raise RegionError(f"{what} starts {out[0].date()} after it ends {out[1].date()}")
    return Period(out[0], out[1])


def make_region(*, lat, lon, time, forcing: dict, attributes, attribute_names: Sequence[str],
                row=None, col=None, obs_sm=None, obs_et=None, extra: dict | None = None,
                source: str | None = None, coords: dict | None = None, attrs: dict | None = None,
                forcing_attrs: dict | None = None) -> Region:
    """A validated :class:`Region` from plain arrays: the public way to build one from your own data.

    Parameters
    ----------
    lat, lon:
        Degrees, one value per cell (a cell may be a grid cell or a station). Cells get ids
        ``0 .. n-1`` in this order.
    time:
        The daily time axis (anything :class:`pandas.DatetimeIndex` accepts), consecutive days.
    forcing:
        ``{name: array (cell, time)}`` for every variable of :data:`FORCING_VARS`, in its units
        (mm/day, degC, W m-2, kPa, m s-1), finite everywhere.
    attributes, attribute_names:
        Static attributes ``(cell, n_attributes)`` and their names (finite).
    row, col:
        Optional integer grid indices per cell (grids; leave out for a station network).
    obs_sm, obs_et:
        Optional observations ``(cell, time)`` in m3 m-3 and mm/day, NaN where not observed (or
        attach them later with :meth:`vic_paraformer.readers.Observations.attach`).
    extra:
        More data variables, as ``{name: (dims, values[, attrs])}`` (e.g. ``true_infilt``).
    coords:
        More coordinates, as ``{name: (dims, values)}``; e.g. ``station`` (names per cell, matched by
        the observation readers) and ``utc_offset`` (hours east of UTC per cell, with
        ``attrs={"time_convention": "local"}``: the days are local standard-time days).
    attrs:
        Global attributes of the dataset.
    forcing_attrs:
        Extra attributes per forcing variable (``{name: {key: value}}``), e.g. how it was estimated.
    source:
        Where the data came from, named in error messages.

    RegionError naming the variable, cell and day when the data break the schema (module docstring).
    """
    n = len(np.asarray(lat))
    coords_ = {"cell": np.arange(n), "lat": ("cell", np.asarray(lat, float)), "lon": ("cell", np.asarray(lon, float)),
               "time": pd.DatetimeIndex(time), "attribute": list(attribute_names)}
    if row is not None:
        coords_["row"] = ("cell", np.asarray(row, int))
        coords_["col"] = ("cell", np.asarray(col, int))
    coords_.update(coords or {})
    data = {k: (("cell", "time"), np.asarray(v, np.float32),
                {"units": FORCING_VARS.get(k, ""), **dict((forcing_attrs or {}).get(k, {}))})
            for k, v in forcing.items()}
    data["attributes"] = (("cell", "attribute"), np.asarray(attributes, np.float32))
    if obs_sm is not None:
        data["obs_sm"] = (("cell", "time"), np.asarray(obs_sm, np.float32), {"units": "m3 m-3"})
    if obs_et is not None:
        data["obs_et"] = (("cell", "time"), np.asarray(obs_et, np.float32), {"units": "mm/day"})
    for k, v in (extra or {}).items():
        data[k] = v
    return Region(xr.Dataset(data, coords=coords_, attrs=dict(attrs or {})), source=source)
