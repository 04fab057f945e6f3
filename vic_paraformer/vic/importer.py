"""Import a VIC 5 image-driver setup as a :class:`~vic_paraformer.region.Region`.

``region_from_vic(global_param_file, observations=None)`` reads the global parameter file
(:mod:`vic_paraformer.vic.globalfile`), the domain, parameter and forcing files it names, and
optionally observations, and returns a Region whose ``attrs["vic_global_param_file"]`` points back
at the global file (the ``vic`` simulator finds the setup through it).

Cells
    Grid cells with ``mask == 1`` in the domain file *and* ``run_cell == 1`` in the parameter file
    (the cells VIC simulates), in row-major order. ``row``/``col`` are the lat/lon indices and the
    cell id is ``row * n_lon + col`` (stable under :meth:`Region.subset`).

Forcing
    Daily values from the sub-daily ``FORCING1`` files (one per year, time step
    ``24 / SNOW_STEPS_PER_DAY`` h, variables named by the ``FORCE_TYPE`` lines): precipitation is
    summed (mm per step -> mm/day), every other variable averaged. VIC reads forcing in fixed units
    (AIR_TEMP degC, PREC mm per step, PRESSURE and VP kPa, SWDOWN and LWDOWN W m-2, WIND m s-1)
    whatever the files' ``units`` attributes say (the samples carry wrong ones, e.g. wind in
    "mm s-1"), and these are the Region's units, so no conversion beyond the daily aggregation is
    applied; values that look like another unit (air temperature above 100, i.e. Kelvin, or pressure
    above 200, i.e. Pa) are an error because VIC would misread them too.

Attributes (``attributes(cell, attribute)``), from the parameter file. ``k`` is the soil layer
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
finite value at the simulated cells (the samples' is NaN everywhere; VIC 5 does not use it in the
image driver's water balance), the attribute is the mean annual precipitation of the imported
forcing (mm/yr; a debug line says so), so it is always present and the import stays quiet.

Checks before anything else
    The global file's keys, every ``${NAME}`` on a used line
    (:meth:`~vic_paraformer.vic.globalfile.GlobalParamFile.check_placeholders`), and every variable
    and dimension the VIC image driver reads from the parameter file for the file's options
    (:mod:`vic_paraformer.vic.requirements`); errors name the user's files.

Parameters
    ``infilt``, ``Ds``, ``Dsmax``, ``Ws`` and ``expt`` (layer 1) over ``cell``: the values VIC
    currently uses.

Observations
    A netCDF file with variables ``obs_sm`` (m3 m-3) and/or ``obs_et`` (mm/day) over ``time`` and
    either the grid (``lat``, ``lon`` dims) or a site/cell dim with ``lat``/``lon`` (or ``cell`` ids)
    variables; or a CSV file with columns ``time`` (or ``date``), ``lat`` and ``lon`` (or ``cell``) and
    ``obs_sm`` and/or ``obs_et``. Points are matched to the nearest grid cell within half a grid
    spacing; a point outside the simulated cells is an error. Days outside the period are dropped;
    several values for the same cell and day are averaged.

Long module (over 400 lines): reading a VIC setup (global file, domain, parameters, forcing,
observations) into one Region, with the checks each file needs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import VICError
from ..region import FORCING_VARS, Region
from .globalfile import GlobalParamFile, Period
from .requirements import check_parameter_file

log = logging.getLogger(__name__)

#: Region forcing name -> VIC FORCE_TYPE name.
FORCE_TYPE_OF: dict[str, str] = {"prec": "PREC", "air_temp": "AIR_TEMP", "swdown": "SWDOWN", "lwdown": "LWDOWN",
                                 "pressure": "PRESSURE", "vp": "VP", "wind": "WIND"}
#: Calibrated parameter -> (variable in the parameter file, layer index or None).
PARAMETER_SOURCES: dict[str, tuple[str, int | None]] = {"infilt": ("infilt", None), "Ds": ("Ds", None),
                                                        "Dsmax": ("Dsmax", None), "Ws": ("Ws", None),
                                                        "expt": ("expt", 0)}
REQUIRED_PARAM_VARS: tuple[str, ...] = ("run_cell", "infilt", "Ds", "Dsmax", "Ws", "expt", "depth", "Ksat",
                                        "bulk_density", "soil_density", "Wcr_FRACT", "Wpwp_FRACT", "init_moist",
                                        "Cv", "root_depth", "root_fract", "LAI")
OBS_VARS = ("obs_sm", "obs_et")


# ---------------------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class VicGrid:
    """The VIC grid and its simulated cells.

    ``lat`` (ny,), ``lon`` (nx,) grid coordinates; ``mask`` (ny, nx) domain mask; ``run_cell``
    (ny, nx); ``rows``/``cols`` the lat/lon indices of the simulated cells (row-major order).
    """

    lat: np.ndarray
    lon: np.ndarray
    mask: np.ndarray
    run_cell: np.ndarray
    ydim: str = "lat"
    xdim: str = "lon"

    @property
    def active(self) -> np.ndarray:
        return (self.mask == 1) & (self.run_cell == 1)

    @property
    def rows(self) -> np.ndarray:
        return np.nonzero(self.active)[0]

    @property
    def cols(self) -> np.ndarray:
        return np.nonzero(self.active)[1]

    @property
    def cell_ids(self) -> np.ndarray:
        return self.rows * len(self.lon) + self.cols

    def _tol(self, coord: np.ndarray) -> float:
        return 0.5 * float(np.min(np.abs(np.diff(coord)))) if coord.size > 1 else 0.5

    def locate(self, lat, lon, *, what: str = "point", require_active: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Grid (row, col) of each (lat, lon), nearest within half a grid spacing.

        Raises VICError naming the first point outside the grid (or, with ``require_active``,
        outside the simulated cells).
        """
        lat = np.atleast_1d(np.asarray(lat, float))
        lon = np.atleast_1d(np.asarray(lon, float))
        r = np.abs(lat[:, None] - self.lat[None, :]).argmin(axis=1)
        c = np.abs(lon[:, None] - self.lon[None, :]).argmin(axis=1)
        bad = (np.abs(self.lat[r] - lat) > self._tol(self.lat) + 1e-9) | (np.abs(self.lon[c] - lon) > self._tol(self.lon) + 1e-9)
        bad |= ~np.isfinite(lat) | ~np.isfinite(lon)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VICError(f"{what} at lat {lat[i]:.5f}, lon {lon[i]:.5f} is outside the VIC domain "
                           f"(lat {self.lat.min():.4f}..{self.lat.max():.4f}, lon {self.lon.min():.4f}..{self.lon.max():.4f}; "
                           f"{int(bad.sum())} such point(s))")
        if require_active:
            inactive = ~self.active[r, c]
            if inactive.any():
                i = int(np.flatnonzero(inactive)[0])
                raise VICError(f"{what} at lat {lat[i]:.5f}, lon {lon[i]:.5f} falls in grid cell (row {r[i]}, col {c[i]}) "
                               f"which VIC does not simulate (domain mask {int(self.mask[r[i], c[i]])}, run_cell "
                               f"{int(self.run_cell[r[i], c[i]])}); {int(inactive.sum())} such point(s)")
        return r, c


def _open_nc(path: Path, what: str) -> xr.Dataset:
    try:
        return xr.open_dataset(path, decode_times=False, mask_and_scale=True)
    except FileNotFoundError:
        raise VICError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise VICError(f"{path}: cannot read {what} as netCDF ({exc})") from None


def read_grid(gf: GlobalParamFile, params: xr.Dataset | None = None) -> VicGrid:
    """The grid from the DOMAIN file plus ``run_cell`` from the PARAMETERS file (checked to agree)."""
    types = gf.domain_types()
    dpath = gf.domain_path
    ppath = gf.parameters_path
    with _open_nc(dpath, "domain file") as dom:
        for t in ("LAT", "LON", "MASK"):
            if types[t] not in dom.variables:
                raise VICError(f"{dpath}: domain file lacks variable {types[t]!r} (DOMAIN_TYPE {t} in {gf.path})")
        lat = np.asarray(dom[types["LAT"]].values, float)
        lon = np.asarray(dom[types["LON"]].values, float)
        mask = np.asarray(dom[types["MASK"]].fillna(0).values)
    if lat.ndim != 1 or lon.ndim != 1:
        lat2, lon2 = lat, lon
        lat = lat2[:, 0] if lat2.ndim == 2 else lat2
        lon = lon2[0, :] if lon2.ndim == 2 else lon2
    if mask.shape != (lat.size, lon.size):
        raise VICError(f"{dpath}: mask has shape {mask.shape}, expected (lat, lon) = ({lat.size}, {lon.size})")
    own = params is None
    p = _open_nc(ppath, "parameter file") if own else params
    try:
        if "run_cell" not in p.variables:
            raise VICError(f"{ppath}: parameter file lacks variable 'run_cell' (int over lat, lon; 1 = simulate)")
        for name, ref in (("lat", lat), ("lon", lon)):
            if name in p.variables:
                v = np.asarray(p[name].values, float)
                if v.shape != ref.shape or not np.allclose(v, ref, atol=1e-6):
                    raise VICError(f"{ppath}: {name} of the parameter file differs from the domain file {dpath}")
        run_cell = np.asarray(p["run_cell"].fillna(0).values)
    finally:
        if own:
            p.close()
    if run_cell.shape != mask.shape:
        raise VICError(f"{ppath}: run_cell has shape {run_cell.shape}; the domain grid is {mask.shape}")
    grid = VicGrid(lat=lat, lon=lon, mask=mask.astype(int), run_cell=run_cell.astype(int),
                   ydim=types["YDIM"], xdim=types["XDIM"])
    if not grid.active.any():
        raise VICError(f"{ppath}: no cell has run_cell == 1 inside the domain mask of {dpath}")
    return grid


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
        with _open_nc(path, "forcing file") as ds:
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
                if var.ndim != 3 or var.dims[0] != "time":
                    raise VICError(f"{path}: forcing variable {vname!r} has dims {var.dims}; expected (time, "
                                   f"{grid.ydim}, {grid.xdim})")
                if var.shape[1:] != grid.mask.shape:
                    raise VICError(f"{path}: forcing variable {vname!r} is on a {var.shape[1:]} grid; the domain is "
                                   f"{grid.mask.shape}")
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
        daily = data.sum(axis=1) if rname == "prec" else data.mean(axis=1)
        out[rname] = daily.T.copy()  # (cell, day)
    _check_units(out, names)
    return out


def _check_units(forcing: dict[str, np.ndarray], names: Mapping[str, str]) -> None:
    checks = {"air_temp": (-90.0, 70.0, "degC (Kelvin?)"), "pressure": (20.0, 120.0, "kPa (Pa or hPa?)"),
              "vp": (0.0, 15.0, "kPa (Pa or hPa?)"), "prec": (0.0, 2000.0, "mm per step"),
              "wind": (0.0, 100.0, "m s-1"), "swdown": (0.0, 1500.0, "W m-2"), "lwdown": (0.0, 1000.0, "W m-2")}
    for rname, (lo, hi, unit) in checks.items():
        v = forcing[rname]
        if v.min() < lo or v.max() > hi:
            raise VICError(f"forcing {names[FORCE_TYPE_OF[rname]]!r} (FORCE_TYPE {FORCE_TYPE_OF[rname]}) has daily values "
                           f"{v.min():g}..{v.max():g}, outside the plausible {lo:g}..{hi:g} {unit}; VIC reads this "
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


def _root_fractions_by_layer(root_depth: np.ndarray, root_fract: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Per tile and cell, root fraction in each soil layer: (veg, zone, cell) x (layer, cell) -> (veg, layer, cell)."""
    nveg, nzone, ncell = root_depth.shape
    nlay = depth.shape[0]
    bottoms = np.cumsum(depth, axis=0)  # (layer, cell)
    tops = bottoms - depth
    out = np.zeros((nveg, nlay, ncell))
    ztop = np.zeros((nveg, ncell))
    for z in range(nzone):
        thick = np.nan_to_num(root_depth[:, z, :])
        frac = np.nan_to_num(root_fract[:, z, :])
        zbot = ztop + thick
        for k in range(nlay):
            lo = np.maximum(ztop, tops[k][None, :])
            hi = np.minimum(zbot, bottoms[k][None, :] if k < nlay - 1 else np.inf)
            share = np.where(thick > 0, np.clip(hi - lo, 0, None) / np.where(thick > 0, thick, 1), 0)
            out[:, k, :] += frac * share
        ztop = zbot
    tot = out.sum(axis=1, keepdims=True)
    return np.where(tot > 0, out / np.where(tot > 0, tot, 1), 0)


def static_attributes(p: xr.Dataset, grid: VicGrid, ppath: Path, domain: xr.Dataset | None = None) -> dict[str, np.ndarray]:
    """The attributes documented in this module's docstring, each an array over the simulated cells."""
    def get(name, required=True):
        if name not in p.variables:
            if required:
                raise VICError(f"{ppath}: parameter file lacks variable {name!r}")
            return None
        return _cells(p, name, grid, ppath)

    def fin(name, required=True):
        v = get(name, required)
        if v is None:
            return None
        if not required and not np.all(np.isfinite(v) & (np.abs(v) < 1e30)):
            log.warning("%s: optional variable %r has missing values at simulated cells; attribute skipped", ppath, name)
            return None
        return _check_finite(v, name, grid, ppath)

    att: dict[str, np.ndarray] = {}
    depth = fin("depth")
    nlay = depth.shape[0]
    ksat, bulk, dens = fin("Ksat"), fin("bulk_density"), fin("soil_density")
    wcr, wpwp, expt, init = fin("Wcr_FRACT"), fin("Wpwp_FRACT"), fin("expt"), fin("init_moist")
    porosity = 1.0 - bulk / dens
    for k in range(nlay):
        att[f"soil_depth{k + 1}"] = depth[k]
    att["soil_depth_total"] = depth.sum(axis=0)
    for name, arr in (("ksat", ksat), ("bulk_density", bulk), ("porosity", porosity), ("wcr_fract", wcr),
                      ("wpwp_fract", wpwp)):
        for k in range(nlay):
            att[f"{name}{k + 1}"] = arr[k]
    att["porosity"] = porosity[0]
    att["ksat"] = ksat[0]
    att["field_capacity"] = np.minimum(porosity[0], wcr[0] / 0.7 * porosity[0])
    att["wilting_point"] = wpwp[0] * porosity[0]
    att["init_sm"] = init[0] / (depth[0] * 1000.0)
    for k in range(1, nlay):
        att[f"expt{k + 1}"] = expt[k]
    for name, key, layers in (("c", "c", None), ("quartz", "quartz", "all"), ("bubble", "bubble", 1)):
        v = fin(key, required=False)
        if v is None:
            continue
        if layers is None:
            att[name] = v
        else:
            for k in range(nlay if layers == "all" else layers):
                att[f"{name}{k + 1}"] = v[k]
    resid = fin("resid_moist", required=False)
    if resid is not None:
        att["residual_moisture"] = resid[0]
    # vegetation
    cv = np.nan_to_num(get("Cv"))  # (veg, cell)
    lai = np.nan_to_num(get("LAI"))  # (veg, month, cell)
    has_leaf = lai.max(axis=1) > 0
    cv_veg = np.where(has_leaf, cv, 0.0)
    vegf = cv_veg.sum(axis=0)
    att["veg_fraction"] = np.clip(vegf, 0, 1)
    att["bare_fraction"] = np.clip(1.0 - vegf, 0, 1)
    monthly = (cv[:, None, :] * lai).sum(axis=0)
    att["lai_mean"] = monthly.mean(axis=0)
    att["lai_max"] = monthly.max(axis=0)
    w = np.where(vegf > 0, cv_veg / np.where(vegf > 0, vegf, 1), 0.0)  # weights over vegetated tiles
    rf = _root_fractions_by_layer(get("root_depth"), get("root_fract"), depth)
    for k in range(nlay):
        att[f"root_fraction{k + 1}"] = (w * rf[:, k, :]).sum(axis=0)
    att["root_depth"] = (w * np.nan_to_num(get("root_depth")).sum(axis=1)).sum(axis=0)
    for name, key in (("overstory_fraction", "overstory"), ("rmin_mean", "rmin")):
        v = get(key, required=False)
        if v is not None:
            att[name] = (w * np.nan_to_num(np.where(np.abs(v) > 1e30, 0, v))).sum(axis=0)
    alb = get("albedo", required=False)
    if alb is not None:
        att["albedo_mean"] = (w * np.nan_to_num(alb).mean(axis=1)).sum(axis=0)
    # topography and climate
    elev = get("elev", required=False)
    if elev is None and domain is not None and "elev" in domain.variables:
        elev = np.asarray(domain["elev"].values, float)[grid.rows, grid.cols]
    if elev is not None and np.all(np.isfinite(elev)):
        att["elev"] = elev
    af, be = get("AreaFract", required=False), get("elevation", required=False)
    if af is not None and be is not None:
        af, be = np.nan_to_num(af), np.nan_to_num(be)
        tot = np.where(af.sum(axis=0) > 0, af.sum(axis=0), 1)
        mean = (af * be).sum(axis=0) / tot
        att["elev_band_std"] = np.sqrt((af * (be - mean) ** 2).sum(axis=0) / tot)
        used = af > 0
        att["elev_band_range"] = np.where(used.any(axis=0), np.where(used, be, -np.inf).max(axis=0)
                                          - np.where(used, be, np.inf).min(axis=0), 0.0)
    else:
        att["elev_band_std"] = np.zeros(len(grid.rows))
        att["elev_band_range"] = np.zeros(len(grid.rows))
    for key in ("avg_T", "rough", "dp"):
        v = fin(key, required=False)
        if v is not None:
            att[key] = v
    ap = get("annual_prec", required=False)
    if ap is not None and np.all(np.isfinite(ap) & (np.abs(ap) < 1e30)):
        att["annual_prec"] = ap
    return att


def current_parameters(p: xr.Dataset, grid: VicGrid, ppath: Path) -> dict[str, np.ndarray]:
    """infilt, Ds, Dsmax, Ws and expt (layer 1) at the simulated cells."""
    out = {}
    for name, (var, layer) in PARAMETER_SOURCES.items():
        v = _cells(p, var, grid, ppath)
        v = v if layer is None else v[layer]
        out[name] = _check_finite(v, var, grid, ppath)
    return out


# ---------------------------------------------------------------------------------------- observations
def _first_col(df: pd.DataFrame, *names: str) -> str | None:
    low = {c.lower(): c for c in df.columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def read_observations(path: str | Path, grid: VicGrid, days: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Observations ``(cell, day)`` per ``obs_sm``/``obs_et`` (see the module docstring for formats)."""
    path = Path(path)
    if not path.is_file():
        raise VICError(f"{path}: observation file not found")
    if path.suffix.lower() in (".csv", ".txt"):
        try:
            df = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError) as exc:
            raise VICError(f"{path}: cannot read as CSV ({exc})") from None
    else:
        try:
            with xr.open_dataset(path) as ds:
                vars_ = [v for v in OBS_VARS if v in ds.data_vars]
                if not vars_:
                    raise VICError(f"{path}: no observation variable; expected obs_sm (m3 m-3) and/or obs_et (mm/day), "
                                   f"found {sorted(map(str, ds.data_vars))}")
                extra = [v for v in ("lat", "lon", "cell") if v in ds.variables and v not in ds.dims]
                df = ds[vars_ + [v for v in extra if v in ds.data_vars]].load().to_dataframe().reset_index()
        except (OSError, ValueError) as exc:
            raise VICError(f"{path}: cannot read observations as netCDF ({exc})") from None
    tcol = _first_col(df, "time", "date")
    if tcol is None:
        raise VICError(f"{path}: observations need a 'time' (or 'date') column/coordinate; found {list(df.columns)}")
    vars_ = [v for v in OBS_VARS if v in df.columns]
    if not vars_:
        raise VICError(f"{path}: no observation column; expected obs_sm and/or obs_et, found {list(df.columns)}")
    df = df.dropna(subset=vars_, how="all")
    try:
        t = pd.DatetimeIndex(pd.to_datetime(df[tcol])).normalize()
    except (ValueError, TypeError) as exc:
        raise VICError(f"{path}: cannot parse the {tcol!r} column as dates ({exc})") from None
    latc, lonc = _first_col(df, "lat", "latitude"), _first_col(df, "lon", "longitude")
    cellc = _first_col(df, "cell")
    ids = grid.cell_ids
    if latc is not None and lonc is not None:
        r, c = grid.locate(df[latc].to_numpy(), df[lonc].to_numpy(), what=f"{path}: observation point")
        cid = r * len(grid.lon) + c
    elif cellc is not None:
        cid = df[cellc].to_numpy().astype(int)
        unknown = np.setdiff1d(cid, ids)
        if unknown.size:
            raise VICError(f"{path}: observation cell id(s) {unknown[:5].tolist()} are not simulated cells of the VIC "
                           f"domain (ids are row * n_lon + col; valid: {ids.min()}..{ids.max()})")
    else:
        raise VICError(f"{path}: observations need lat and lon (or cell) columns/coordinates; found {list(df.columns)}")
    index = {int(k): i for i, k in enumerate(ids)}
    ci = np.array([index[int(k)] for k in cid], dtype=int)
    ti = days.get_indexer(t)
    keep = ti >= 0
    if (~keep).any():
        log.info("%s: %d observation row(s) outside %s..%s dropped", path, int((~keep).sum()), days[0].date(), days[-1].date())
    out = {}
    for v in vars_:
        vals = df[v].to_numpy(dtype=float)
        ok = keep & np.isfinite(vals)
        s = np.zeros((len(ids), len(days)))
        n = np.zeros((len(ids), len(days)))
        np.add.at(s, (ci[ok], ti[ok]), vals[ok])
        np.add.at(n, (ci[ok], ti[ok]), 1)
        if (n > 1).any():
            log.info("%s: %d cell-day(s) of %s have several values; averaged", path, int((n > 1).sum()), v)
        out[v] = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
    return out


# ---------------------------------------------------------------------------------------- region
def region_from_vic(global_param_file: str | Path, observations: str | Path | None = None, *,
                    variables: Mapping[str, str] | None = None, start=None, end=None) -> Region:
    """Build a Region from a VIC 5 image-driver setup (see the module docstring).

    Parameters
    ----------
    global_param_file:
        The VIC global parameter file.
    observations:
        Optional netCDF or CSV observations (``obs_sm``/``obs_et``) to attach.
    variables:
        Values for ``${NAME}`` placeholders in the global file (the environment is used after).
    start, end:
        Optional sub-period (dates) instead of the global file's period.
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
    with _open_nc(ppath, "parameter file") as p, _open_nc(gf.domain_path, "domain file") as dom:
        for name in REQUIRED_PARAM_VARS:
            if name not in p.variables:
                raise VICError(f"{ppath}: parameter file lacks variable {name!r} (needed to import the setup)")
        check_parameter_file(gf, ppath, p)
        grid = read_grid(gf, p)
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
    if observations is not None:
        obs = read_observations(observations, grid, days)
        units = {"obs_sm": "m3 m-3", "obs_et": "mm/day"}
        for k, v in obs.items():
            data[k] = (("cell", "time"), v.astype(np.float32), {"units": units[k]})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({
        "title": "VIC image-driver setup imported by vic_paraformer",
        "vic_global_param_file": str(Path(global_param_file).resolve()),
        "vic_global_variables": json.dumps(dict(variables or {})),
        "vic_parameters_file": str(ppath),
        "vic_grid_shape": json.dumps(list(grid.mask.shape)),
    })
    return Region(ds, source=str(global_param_file))


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
