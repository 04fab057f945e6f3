"""Import a VIC 5 image-driver setup as a :class:`~vic_paraformer.region.Region`.

``region_from_vic(global_param_file, observations=None)`` reads the global parameter file
(:mod:`vic_paraformer.vic.globalfile`), the domain, parameter and forcing files it names, and
optionally observations, and returns a Region whose ``attrs["vic_global_param_file"]`` points back
at the global file (the ``vic`` simulator finds the setup through it).

Cells
    Grid cells with ``mask == 1`` in the domain file *and* ``run_cell == 1`` in the parameter file
    (the cells VIC simulates), in row-major order. ``row``/``col`` are the lat/lon indices and the
    cell id is ``row * n_lon + col`` (stable under :meth:`Region.subset`); see :mod:`vic_paraformer.vic.grid`.

Forcing
    Daily values from the sub-daily ``FORCING1`` files (one per year, time step
    ``24 / SNOW_STEPS_PER_DAY`` h, variables named by the ``FORCE_TYPE`` lines): precipitation is
    summed (mm per step -> mm/day), every other variable averaged. VIC reads forcing in fixed units
    (AIR_TEMP degC, PREC mm per step, PRESSURE and VP kPa, SWDOWN and LWDOWN W m-2, WIND m s-1)
    whatever the files' ``units`` attributes say (the samples carry wrong ones, e.g. wind in
    "mm s-1"), and these are the Region's units, so no conversion beyond the daily aggregation is
    applied. Names, units and aggregation come from :data:`vic_paraformer.vic.variables.FORCING`; daily
    values outside the Region's plausible ranges (:data:`vic_paraformer.units.RANGES`, e.g. air
    temperature in Kelvin or pressure in Pa) are an error because VIC would misread them too.

Attributes (``attributes(cell, attribute)``), from the parameter file through the table
:data:`vic_paraformer.vic.variables.ATTRIBUTES` (which the export reads too). ``k`` is the soil layer
(1 = top), one per layer of the file. Names shared with the ``waterbalance`` simulator
(``soil_depth1..3``, ``porosity``, ``field_capacity``, ``wilting_point``, ``residual_moisture``,
``ksat``, ``veg_fraction``, ``root_fraction1..3``) have the meaning and units it documents.

=======================  =====================================================================
``soil_depthk``          layer thickness ``depth`` (m)
``soil_depth_total``     total soil depth (m)
``ksatk``                saturated hydraulic conductivity ``Ksat`` (mm/day)
``bulk_densityk``        bulk density (kg m-3)
``porosityk``            ``1 - bulk_density / soil_density`` (m3 m-3)
``wcr_fractk``           ``Wcr_FRACT`` (fraction of maximum moisture)
``wpwp_fractk``          ``Wpwp_FRACT`` (fraction of maximum moisture)
``porosity``             top-layer porosity (m3 m-3)
``ksat``                 top-layer Ksat (mm/day)
``field_capacity``       top layer, volumetric: ``min(porosity, Wcr_FRACT / 0.7 * porosity)``
                         (VIC's Wcr is about 70 % of field capacity) (m3 m-3)
``wilting_point``        top layer, volumetric: ``Wpwp_FRACT * porosity`` (m3 m-3)
``residual_moisture``    top-layer ``resid_moist`` (m3 m-3, if present)
``init_sm``              top-layer initial moisture ``init_moist / (depth * 1000)`` (m3 m-3)
``exptk``                Brooks-Corey exponent of layers 2.. (layer 1 is calibrated, not an
                         attribute)
``c``                    baseflow curve exponent (if present)
``quartzk``              quartz content (if present)
``bubble1``              top-layer bubbling pressure (cm, if present)
``veg_fraction``         sum of ``Cv`` over tiles with some leaf area (annual max LAI > 0)
``bare_fraction``        ``1 - veg_fraction``
``lai_mean``             mean over months of the Cv-weighted LAI (cell average, bare = 0)
``lai_max``              largest monthly Cv-weighted LAI
``root_fractionk``       fraction of roots in soil layer k: each tile's ``root_depth`` /
                         ``root_fract`` zones spread uniformly over the zone and overlapped with
                         the soil layers (roots below the soil column count in the bottom layer),
                         Cv-weighted over the vegetated tiles (0 for an all-bare cell)
``root_depth``           Cv-weighted total rooting depth of the vegetated tiles (m)
``overstory_fraction``   Cv-weighted overstory flag of the vegetated tiles (if present)
``albedo_mean``          Cv-weighted mean vegetation albedo (if present)
``rmin_mean``            Cv-weighted minimum stomatal resistance (s m-1, if present)
``elev``                 elevation (m; parameter file, else domain file)
``elev_band_std``        area-weighted standard deviation of the snow-band elevations (m), a
                         slope/relief proxy (0 without snow bands)
``elev_band_range``      highest minus lowest snow-band elevation (m) among bands with area
``avg_T``                average soil temperature (degC, if present)
``annual_prec``          average annual precipitation (mm, if present)
``rough``                bare-soil roughness (m, if present)
``dp``                   thermal damping depth (m, if present)
=======================  =====================================================================

Optional variables ("if present") that are missing, or have missing values at simulated cells,
are skipped with a logged warning. ``annual_prec`` is the exception: when the parameter file has no
value at some simulated cell (NaN, fill or the no-data flag -99: the samples' is NaN or -99
everywhere; VIC 5 does not use it in the
image driver's water balance), the attribute is the mean annual precipitation of the imported
forcing (mm/yr; a debug line says so), so it is always present and the import stays quiet.

Checks before anything else
    The global file's keys, every ``${NAME}`` on a used line
    (:meth:`~vic_paraformer.vic.globalfile.GlobalParamFile.check_placeholders`), every variable
    and dimension the VIC image driver reads from the parameter file for the file's options
    (:mod:`vic_paraformer.vic.requirements`), and the physical plausibility of the parameter
    file's values at the simulated cells (:mod:`vic_paraformer.plausibility`,
    ``docs/vic-parameter-ranges.md``); errors name the user's files. With
    ``allow_out_of_range=True`` implausible values pass with a warning and are listed in the
    Region's ``vic_out_of_range`` attribute.

Parameters
    ``infilt``, ``Ds``, ``Dsmax``, ``Ws`` and ``expt`` (layer 1) over ``cell``: the values VIC
    currently uses.

Observations
    Any format an observation reader reads (:mod:`vic_paraformer.readers`; ``obs_format``), e.g.
    the generic table: a CSV with ``time``, ``lat``/``lon`` (or ``cell``) and ``obs_sm``/``obs_et``,
    or a netCDF with those variables. Points are matched to the grid cell that contains them; points
    outside the simulated cells are left out with a warning (all of them: an error). Values outside
    the period are not used (logged); several values for one cell and day are averaged.

Long module (over 400 lines): reading a VIC setup (global file, domain, parameters, forcing,
observations) into one Region, with the checks each file needs.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ObservationError, VICError
from .outofrange import check, enforce, read_cells
from ..region import FORCING_VARS, Region
from ..units import RANGES, UNITS, likely_mistake
from .dims import check_parameter_dims, check_variable
from .globalfile import GlobalParamFile, Period
from .grid import VicGrid, open_netcdf, read_grid
from .requirements import check_parameter_file
from .variables import ATTRIBUTES, CALIBRATED, FORCING, FORCING_BY_NAME

if TYPE_CHECKING:
    from ..readers import ReadOptions

log = logging.getLogger(__name__)

#: Region forcing name -> VIC FORCE_TYPE name (from :data:`vic_paraformer.vic.variables.FORCING`).
FORCE_TYPE_OF: dict[str, str] = {f.region: f.force_type for f in FORCING}
REQUIRED_PARAM_VARS: tuple[str, ...] = ("run_cell", "infilt", "Ds", "Dsmax", "Ws", "expt", "depth", "Ksat",
                                        "bulk_density", "soil_density", "Wcr_FRACT", "Wpwp_FRACT", "init_moist",
                                        "Cv", "root_depth", "root_fract", "LAI")


# ---------------------------------------------------------------------------------------- forcing
def _decode_time(var: xr.DataArray, path: Path) -> pd.DatetimeIndex:
    units = var.attrs.get("units")
    if not units:
        raise VICError(f"{path}: variable 'time' has no units attribute (VIC needs units and calendar)")
    try:
        decoded = xr.decode_cf(xr.Dataset(coords={"time": var}))["time"].values
        return pd.DatetimeIndex(decoded)
    except Exception as exc:  # noqa: BLE001 - reported with the file name
        raise VICError(f"{path}: cannot decode time units {units!r} ({exc})") from None


def read_daily_forcing(gf: GlobalParamFile, grid: VicGrid, period: Period) -> dict[str, np.ndarray]:
    """Daily forcing ``(cell, day)`` per Region forcing name over ``period`` (see module docstring)."""
    steps = gf.steps_per_day()["snow"]
    names = gf.force_types()
    files = gf.forcing_files(period.years)
    rows, cols = grid.rows, grid.cols
    days = pd.date_range(pd.Timestamp(period.start), pd.Timestamp(period.end), freq="D")
    expected = pd.date_range(days[0], periods=len(days) * steps, freq=pd.Timedelta(hours=24 / steps))
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in FORCE_TYPE_OF}
    got_times: list[pd.DatetimeIndex] = []
    for year, path in files.items():
        with open_netcdf(path, "forcing file") as ds:
            if "time" not in ds.variables:
                raise VICError(f"{path}: forcing file lacks a 'time' variable")
            t = _decode_time(ds["time"], path)
            if len(t) > 1:
                step = (t[1] - t[0]).total_seconds()
                if abs(step - 86400 / steps) > 1:
                    raise VICError(f"{path}: forcing time step is {step / 3600:g} h but SNOW_STEPS_PER_DAY is {steps} "
                                   f"in {gf.path} (VIC needs them equal: {24 / steps:g} h)")
            sel = np.flatnonzero((t >= expected[0]) & (t <= expected[-1]))
            got_times.append(t[sel])
            for rname, vic_name in FORCE_TYPE_OF.items():
                vname = names[vic_name]
                if vname not in ds.variables:
                    raise VICError(f"{path}: forcing file lacks variable {vname!r} (FORCE_TYPE {vic_name} in {gf.path})")
                var = ds[vname]
                check_variable(ds, vname, path, "forcing file", ("time", grid.ydim, grid.xdim),
                               {grid.ydim: grid.mask.shape[0], grid.xdim: grid.mask.shape[1],
                                "time": ds.sizes.get("time", var.shape[0] if var.ndim else 0)})
                # read in blocks of about a month of steps so large grids never sit in memory whole
                for lo in range(0, sel.size, 32 * steps):
                    part = sel[lo:lo + 32 * steps]
                    block = np.asarray(var[part[0]:part[-1] + 1].values, dtype=np.float64)[part - part[0]]
                    chunks[rname].append(block[:, rows, cols])
    times = got_times[0].append(got_times[1:]) if got_times else pd.DatetimeIndex([])
    if len(times) != len(expected) or not (times == expected).all():
        missing = expected.difference(times)
        first = missing[0] if len(missing) else expected[0]
        raise VICError(f"forcing files {', '.join(str(p) for p in files.values())} do not cover the period "
                       f"{period.start}..{period.end} at {24 / steps:g}-hourly steps ({len(missing)} step(s) "
                       f"missing, first {first})")
    out: dict[str, np.ndarray] = {}
    cell_ids = grid.cell_ids
    for rname, parts in chunks.items():
        data = np.concatenate(parts, axis=0)  # (step, cell)
        bad = ~np.isfinite(data)
        if bad.any():
            s, c = np.argwhere(bad)[0]
            raise VICError(f"forcing {names[FORCE_TYPE_OF[rname]]!r} (FORCE_TYPE {FORCE_TYPE_OF[rname]}) is missing or "
                           f"not finite at cell {cell_ids[c]} (lat {grid.lat[rows[c]]:.4f}, lon {grid.lon[cols[c]]:.4f}) "
                           f"at {expected[s]}")
        data = data.reshape(len(days), steps, -1)
        daily = data.sum(axis=1) if FORCING_BY_NAME[rname].daily == "sum" else data.mean(axis=1)
        out[rname] = daily.T.copy()  # (cell, day)
    _check_units(out, names)
    return out


def _check_units(forcing: dict[str, np.ndarray], names: Mapping[str, str]) -> None:
    """Daily forcing outside :data:`vic_paraformer.units.RANGES` (the Region's plausible ranges) is an
    error here: VIC reads forcing in fixed units, so such values are a unit mistake VIC would make too."""
    for f in FORCING:
        v = forcing[f.region]
        lo, hi = RANGES[f.region]
        if v.min() < lo or v.max() > hi:
            raise VICError(f"forcing {names[f.force_type]!r} (FORCE_TYPE {f.force_type}) has daily values "
                           f"{v.min():g}..{v.max():g}, outside the plausible {lo:g}..{hi:g} {f.hint}; VIC reads this "
                           "variable in fixed units, so convert the forcing files first")


# ---------------------------------------------------------------------------------------- attributes
def _cells(p: xr.Dataset, name: str, grid: VicGrid, ppath: Path) -> np.ndarray:
    """Variable ``name`` at the simulated cells: leading dims kept, last axis = cell."""
    if name not in p.variables:
        raise VICError(f"{ppath}: parameter file lacks variable {name!r}")
    var = p[name]
    if var.dims[-2:] != (grid.ydim, grid.xdim) and var.shape[-2:] != grid.mask.shape:
        raise VICError(f"{ppath}: variable {name!r} has dims {var.dims}; expected (..., {grid.ydim}, {grid.xdim})")
    return np.asarray(var.values, dtype=np.float64)[..., grid.rows, grid.cols]


def _check_finite(values: np.ndarray, name: str, grid: VicGrid, ppath: Path) -> np.ndarray:
    bad = ~np.isfinite(values) | (np.abs(values) > 1e30)
    if bad.any():
        c = int(np.argwhere(bad)[0][-1])
        raise VICError(f"{ppath}: {name} is missing (fill/NaN) at simulated cell {grid.cell_ids[c]} "
                       f"(lat {grid.lat[grid.rows[c]]:.4f}, lon {grid.lon[grid.cols[c]]:.4f})")
    return values


class _Cells:
    """Parameter-file (and domain-file) variables at the simulated cells, read once each: the
    :class:`~vic_paraformer.vic.variables.CellReader` the attribute table reads."""

    def __init__(self, p: xr.Dataset, grid: VicGrid, ppath: Path, domain: xr.Dataset | None) -> None:
        self.p, self.grid, self.ppath, self._domain = p, grid, ppath, domain
        self.cache: dict[str, Any] = {}
        self._read: dict[tuple[str, bool, bool], np.ndarray | None] = {}

    def get(self, name: str, required: bool = True) -> np.ndarray | None:
        key = (name, required, False)
        if key not in self._read:
            if name not in self.p.variables:
                if required:
                    raise VICError(f"{self.ppath}: parameter file lacks variable {name!r}")
                self._read[key] = None
            else:
                self._read[key] = _cells(self.p, name, self.grid, self.ppath)
        return self._read[key]

    def fin(self, name: str, required: bool = True) -> np.ndarray | None:
        key = (name, required, True)
        if key not in self._read:
            v = self.get(name, required)
            if v is not None and not required and not np.all(np.isfinite(v) & (np.abs(v) < 1e30)):
                log.warning("%s: optional variable %r has missing values at simulated cells; attribute skipped",
                            self.ppath, name)
                v = None
            self._read[key] = None if v is None else _check_finite(v, name, self.grid, self.ppath)
        return self._read[key]

    def domain(self, name: str) -> np.ndarray | None:
        if self._domain is None or name not in self._domain.variables:
            return None
        return np.asarray(self._domain[name].values, float)[self.grid.rows, self.grid.cols]


def static_attributes(p: xr.Dataset, grid: VicGrid, ppath: Path, domain: xr.Dataset | None = None) -> dict[str, np.ndarray]:
    """The attributes of :data:`vic_paraformer.vic.variables.ATTRIBUTES` (documented in this module's
    docstring) that the setup has, each an array over the simulated cells, in the table's order."""
    cells = _Cells(p, grid, ppath, domain)
    n_layers = cells.fin("depth").shape[0]
    att: dict[str, np.ndarray] = {}
    for entry in ATTRIBUTES:
        for name, k in entry.names(n_layers):
            value = entry.to_region(cells, k)
            if value is not None:
                att[name] = value
    return att


def current_parameters(p: xr.Dataset, grid: VicGrid, ppath: Path) -> dict[str, np.ndarray]:
    """infilt, Ds, Dsmax, Ws and expt (layer 1) at the simulated cells."""
    out = {}
    for c in CALIBRATED:
        v = _cells(p, c.vic_var, grid, ppath)
        v = v if c.layer is None else v[c.layer]
        out[c.name] = _check_finite(v, c.vic_var, grid, ppath)
    return out


# ---------------------------------------------------------------------------------------- observations
def read_observations(path: str | Path, grid: VicGrid, days: pd.DatetimeIndex, *, format: str = "auto",
                      options: "ReadOptions | None" = None) -> dict[str, np.ndarray]:
    """Observations ``(cell, day)`` per ``obs_sm``/``obs_et`` on the grid's simulated cells, read by
    the observation reader ``format`` (see :mod:`vic_paraformer.readers`)."""
    return _read_obs(path, grid, days, format=format, options=options).values


def _read_obs(path, grid: VicGrid, days: pd.DatetimeIndex, *, format: str = "auto", options=None):
    from ..readers import CellTarget, read_observations as read

    try:
        return read(path, CellTarget.from_grid(grid, days), format=format, options=options)
    except ObservationError as exc:
        raise VICError(str(exc)) from None


def _check_observation_units(path: Path, name: str, values: np.ndarray, times: pd.DatetimeIndex, grid: VicGrid,
                             cells: np.ndarray, what: str, lines: np.ndarray | None) -> None:
    """An error naming the observation file and its column (or variable) when ``values`` lie outside the
    plausible range of ``name`` (:data:`vic_paraformer.units.RANGES`) in a way that betrays a unit
    mistake (percent soil moisture, latent heat for ET), a sign error, or soil moisture above 1;
    the first such row is named (its line in a CSV file)."""
    lo, hi = RANGES[name]
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(values) & ((values < lo) | (values > hi))
    if not bad.any():
        return
    hint = likely_mistake(name, values)
    negative = bool(np.nanmin(values) < lo == 0.0)
    if not (hint or negative or name == "obs_sm"):
        return  # implausible but no recognisable mistake: the Region's check warns
    i = int(np.flatnonzero(values < 0)[0] if negative else np.flatnonzero(bad)[0])
    row, col = grid.rows[cells[i]], grid.cols[cells[i]]
    where = (f"line {int(lines[i])}: " if lines is not None else "") + (
        f"{times[i].date()}, cell {int(grid.cell_ids[cells[i]])} (lat {grid.lat[row]:.4f}, lon {grid.lon[col]:.4f})")
    # a CSV has no units attribute to set: only the conversion is advised
    advice = re.sub(r" \(set units='[^']*'\)|, or set units='[^']*'", "", hint or "")
    raise VICError(f"{path}: observation {what} {name!r} {advice + '; ' if advice else ''}value {values[i]:g} at {where} "
                   f"({int(bad.sum())} value(s)) is outside the plausible {lo:g}..{hi:g} {UNITS[name]}")


# ---------------------------------------------------------------------------------------- region
def region_from_vic(global_param_file: str | Path, observations: str | Path | None = None, *,
                    variables: Mapping[str, str] | None = None, start=None, end=None, obs_format: str = "auto",
                    obs_options: Any = None, allow_out_of_range: bool = False,
                    check_plausibility: bool = True) -> Region:
    """Build a Region from a VIC 5 image-driver setup (see the module docstring).

    Parameters
    ----------
    global_param_file:
        The VIC global parameter file.
    observations:
        Optional observations to attach, in any registered format (:mod:`vic_paraformer.readers`).
    obs_format, obs_options:
        The observations' format (``auto``: detected) and reader options (``ReadOptions``).
    variables:
        Values for ``${NAME}`` placeholders in the global file (the environment is used after).
    start, end:
        Optional sub-period (dates) instead of the global file's period.
    allow_out_of_range:
        Accept parameter-file values outside the physically plausible ranges
        (:mod:`vic_paraformer.plausibility`) with one warning, recording them in the Region's
        ``vic_out_of_range`` attribute (JSON), instead of raising VICError.
    check_plausibility:
        False skips that check (for setups this package wrote and checked itself).
    """
    gf = GlobalParamFile.read(global_param_file, variables)
    gf.validate()
    gf.check_placeholders()
    period = gf.period()
    if start is not None or end is not None:
        s = pd.Timestamp(start).date() if start is not None else period.start
        e = pd.Timestamp(end).date() if end is not None else period.end
        if e < s:
            raise VICError(f"end {e} is before start {s}")
        period = Period(s, e)
    if gf.baseflow != "ARNO":
        log.warning("%s: BASEFLOW %s: the parameter file's Ds, Dsmax, Ws hold D1..D3 of that scheme, not the ARNO "
                    "parameters this package calibrates", gf.path, gf.baseflow)
    ppath = gf.parameters_path
    with open_netcdf(ppath, "parameter file") as p, open_netcdf(gf.domain_path, "domain file") as dom:
        for name in REQUIRED_PARAM_VARS:
            if name not in p.variables:
                raise VICError(f"{ppath}: parameter file lacks variable {name!r} (needed to import the setup)")
        check_parameter_file(gf, ppath, p)
        grid = read_grid(gf, p)
        check_parameter_dims(p, ppath, grid.ydim, grid.xdim, grid.mask.shape)
        out_of_range: list[dict] = []
        if check_plausibility:
            found = check(read_cells(p, grid.rows, grid.cols, grid_dims=(grid.ydim, grid.xdim)),
                          grid.lat[grid.rows], grid.lon[grid.cols], file=str(ppath))
            out_of_range = enforce(found, allow=allow_out_of_range, what=f"parameter file {ppath}")
        att = static_attributes(p, grid, ppath, dom)
        params = current_parameters(p, grid, ppath)
    forcing = read_daily_forcing(gf, grid, period)
    if "annual_prec" not in att:
        att["annual_prec"] = forcing["prec"].mean(axis=1) * 365.25
        log.debug("%s: annual_prec has no values at the simulated cells; the attribute is the forcing's mean annual "
                 "precipitation (%s..%s)", ppath, period.start, period.end)
    days = pd.date_range(pd.Timestamp(period.start), pd.Timestamp(period.end), freq="D")
    rows, cols = grid.rows, grid.cols
    coords = {"cell": grid.cell_ids, "lat": ("cell", grid.lat[rows]), "lon": ("cell", grid.lon[cols]),
              "row": ("cell", rows.astype(int)), "col": ("cell", cols.astype(int)), "time": days,
              "attribute": list(att)}
    data = {k: (("cell", "time"), forcing[k].astype(np.float32), {"units": FORCING_VARS[k]}) for k in FORCING_VARS}
    data["attributes"] = (("cell", "attribute"), np.stack([att[k] for k in att], axis=1).astype(np.float32))
    for name, v in params.items():
        data[name] = (("cell",), v.astype(np.float64))
    obs = None
    if observations is not None:
        obs = _read_obs(observations, grid, days, format=obs_format, options=obs_options)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({
        "title": "VIC image-driver setup imported by vic_paraformer",
        "vic_global_param_file": str(Path(global_param_file).resolve()),
        "vic_global_variables": json.dumps(dict(variables or {})),
        "vic_parameters_file": str(ppath),
        "vic_grid_shape": json.dumps(list(grid.mask.shape)),
    })
    if out_of_range:
        ds.attrs["vic_out_of_range"] = json.dumps(out_of_range)
    region = Region(ds, source=str(global_param_file))
    return obs.attach(region) if obs is not None else region


def global_file_of(region: Region) -> tuple[Path, dict[str, str]]:
    """The global parameter file and placeholder values a Region was imported from."""
    attrs = region.ds.attrs
    if "vic_global_param_file" not in attrs:
        raise VICError("this Region was not imported from a VIC setup (attribute 'vic_global_param_file' missing); "
                       "build it with region_from_vic or pass global_param_file")
    variables = json.loads(attrs.get("vic_global_variables", "{}") or "{}")
    return Path(attrs["vic_global_param_file"]), variables


__all__: Sequence[str] = ("VicGrid", "read_grid", "read_daily_forcing", "static_attributes", "current_parameters",
                          "read_observations", "region_from_vic", "global_file_of")
