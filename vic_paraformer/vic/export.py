"""Write a complete VIC 5 image-driver setup (a VIC twin) from any :class:`~vic_paraformer.region.Region`.

:func:`export_vic` writes into ``out_dir``::

    domain.nc                 LAT/LON/MASK/AREA/FRAC (+ elev) on the Region's grid
    params.nc                 every variable of the template parameter file, per grid cell, with the
                              *default* five parameters (the Region's current values, else the
                              template cell's own): what the global file runs and ``vic import`` reads
    params_true.nc            the same with the twin's ``true_<param>`` (only when the Region has them);
                              the truth is kept apart so that the default row of a benchmark is not the
                              oracle
    forcing/forcing.YYYY.nc   one file per year, at SNOW_STEPS_PER_DAY steps (default 8: 3-hourly)
    global_param.txt          the global file (relative paths: run VIC from this folder, or anywhere
                              through this package, which resolves them against the file's folder)
    observations.nc           obs_sm / obs_et of the Region over (time, lat, lon), if it has any
    region.nc                 the Region imported back from this setup (``vic import``) plus the
                              source Region's ``true_<param>`` fields (the twin's truth)

:func:`vic_paraformer.vic.twin.twin_observations` then makes the twin's observations by running
the real VIC with the true parameters.

Grid
    Rows/columns from the Region's ``row``/``col`` (``vic_grid_shape`` of imported Regions), latitudes
    and longitudes from its cells (a row or column without cells is interpolated linearly). Cell ids
    are ``row * n_lon + col`` as the importer assigns them (both use :mod:`vic_paraformer.vic.grid`);
    grid cells without a Region cell get ``mask = 0`` and ``run_cell = 0``. The domain file and the
    forcing files carry ``units`` and ``long_name`` (and a CF ``standard_name`` where one exists) on
    every variable, from :mod:`vic_paraformer.vic.variables`; the parameter files keep the template's
    own attributes (VIC's conventions).

Parameters
    Each Region cell copies every template variable from a template cell: the template cell at the
    same lat/lon when every Region cell falls on an active template cell (re-exporting an imported
    setup), else the one ``template_cell`` (default: the first active cell). Then the Region's
    attributes overwrite what they describe, through the table the importer reads
    (:data:`vic_paraformer.vic.variables.ATTRIBUTES`; when two attributes describe one value, the
    first in the table wins):
    ``soil_depthk`` -> ``depth``; ``ksatk``/``ksat`` -> ``Ksat``; ``bulk_densityk`` or
    ``porosityk``/``porosity`` (``bulk_density = (1 - porosity) * soil_density``);
    ``wcr_fractk`` or ``field_capacity`` (``Wcr_FRACT = 0.7 * field_capacity / porosity``, top layer);
    ``wpwp_fractk`` or ``wilting_point`` (``Wpwp_FRACT = wilting_point / porosity``); ``residual_moisture``
    -> ``resid_moist`` (top); ``init_sm`` -> ``init_moist`` (top; otherwise ``init_moist`` keeps its
    volumetric value when ``depth`` changes; always at most the layer's porosity); ``exptk`` (k >= 2),
    ``c``, ``quartzk``, ``bubble1``, ``elev`` (or ``elevation``), ``avg_T`` (or ``mean_temp``),
    ``annual_prec`` (or ``mean_annual_prec``), ``rough``, ``dp``; ``veg_fraction`` scales the cover
    ``Cv`` of the vegetated tiles, the rest going to the bare-soil tile (the last ``veg_class``; its
    missing vegetation-library values are filled with the bare-soil values of the VIC samples:
    LAI 0, albedo 0.15, ...); ``root_fractionk`` sets each vegetated tile's root zones to the soil
    layers with those fractions. The five calibrated parameters of ``params.nc`` are the Region's
    current values when it has all five, else the template cell's own (``expt`` on the top layer);
    ``params_true.nc`` holds ``true_<param>``. Attributes the
    export cannot represent are listed in the returned :class:`ExportResult` (and a log line).

Forcing (the disaggregation VIC needs)
    VIC's image driver reads forcing at its snow/forcing step (at least 4 steps a day), the Region's
    forcing is daily. Each day is split into ``steps_per_day`` steps so that the importer's daily
    aggregation returns the Region's values: precipitation evenly (mm per step = daily / steps);
    air temperature the daily mean plus a zero-mean diurnal cosine of ``temp_amplitude`` degC
    (default 3) peaking at 15:00; shortwave the daily mean times a daylight cosine shape (zero at
    night, mean 1); longwave, pressure, vapour pressure and wind constant over the day.

Global file
    WalnutGulch-like options (``FULL_ENERGY TRUE``, ``QUICK_FLUX TRUE``, ``NODES 3``, ``SNOW_BAND`` as
    the template has bands, ``LAI_SRC``/``ALB_SRC FROM_VEGPARAM``, ``FCAN_SRC FROM_DEFAULT``), every
    option overridable through ``options``; one daily output stream in ``results/``.

Long module (over 400 lines): writing a complete VIC image-driver setup (domain, parameters,
forcing, global file) that ``vic import`` reads back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from .._io import atomic_path
from .._version import __version__
from ..errors import VICError
from ..region import Region
from ..plausibility import CHECKED_VARIABLES
from .grid import cell_area, cell_mask, check_netcdf_file, open_netcdf, region_grid
from .outofrange import Finding, check, enforce, message
from .variables import ATTRIBUTES, CALIBRATED, DOMAIN, FORCING, FORCING_BY_NAME, cf_attributes, porosity_of

log = logging.getLogger(__name__)

#: Forcing variable names written (VIC FORCE_TYPE -> netCDF variable) and the Region name of each
#: (from :data:`vic_paraformer.vic.variables.FORCING`).
FORCING_NAMES: dict[str, tuple[str, str]] = {f.force_type: (f.file_name, f.region) for f in FORCING}
PARAMS = tuple(c.name for c in CALIBRATED)
DEFAULT_OPTIONS: dict[str, str] = {
    "MODEL_STEPS_PER_DAY": "8", "SNOW_STEPS_PER_DAY": "8", "RUNOFF_STEPS_PER_DAY": "24",
    "CALENDAR": "PROLEPTIC_GREGORIAN", "FULL_ENERGY": "TRUE", "QUICK_FLUX": "TRUE", "FROZEN_SOIL": "FALSE",
    "AERO_RESIST_CANSNOW": "AR_406", "WIND_H": "10.0", "LAI_SRC": "FROM_VEGPARAM", "FCAN_SRC": "FROM_DEFAULT",
    "ALB_SRC": "FROM_VEGPARAM", "NODES": "3",
}
GLOBAL_NAME = "global_param.txt"
TRUE_PARAMS_NAME = "params_true.nc"


@dataclass
class ExportResult:
    """Paths written by :func:`export_vic` and what the attributes could not say."""

    out_dir: Path
    global_param_file: Path
    domain: Path
    params: Path
    forcing: list[Path]
    observations: Path | None
    region: Path
    parameters_from: str
    unmapped_attributes: list[str] = field(default_factory=list)
    true_params: Path | None = None
    out_of_range: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- forcing
def _diurnal_shapes(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean temperature shape (peak 15:00) and mean-1 shortwave shape for ``steps`` steps a day."""
    hours = (np.arange(steps) + 0.5) * 24.0 / steps
    temp = np.cos(2 * np.pi * (hours - 15.0) / 24.0)
    temp -= temp.mean()
    sw = np.clip(np.cos(2 * np.pi * (hours - 12.0) / 24.0), 0, None)
    sw = sw / sw.mean()
    return temp, sw


def disaggregate(daily: Mapping[str, np.ndarray], steps: int, temp_amplitude: float = 3.0) -> dict[str, np.ndarray]:
    """Sub-daily forcing ``(cell, day * steps)`` from daily ``(cell, day)`` (see the module docstring)."""
    t_shape, sw_shape = _diurnal_shapes(steps)
    out = {}
    for name, v in daily.items():
        v = np.asarray(v, np.float64)
        how = FORCING_BY_NAME[name].subdaily
        if how == "even":
            sub = np.repeat(v[..., None] / steps, steps, axis=-1)
        elif how == "diurnal":
            sub = v[..., None] + temp_amplitude * t_shape
        elif how == "daylight":
            sub = v[..., None] * sw_shape
        else:
            sub = np.repeat(v[..., None], steps, axis=-1)
        out[name] = sub.reshape(v.shape[0], -1)
    return out


def _write_forcing(region: Region, lat, lon, rows, cols, out: Path, steps: int, temp_amplitude: float) -> list[Path]:
    times = region.times
    sub = disaggregate({f.region: region.ds[f.region].values for f in FORCING}, steps, temp_amplitude)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    ny, nx = lat.size, lon.size
    for year in sorted(set(times.year)):
        days = np.flatnonzero(times.year == year)
        first = times[days[0]]
        path = out / f"forcing.{year}.nc"
        with atomic_path(path) as tmp:
            with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
                nc.createDimension("time", len(days) * steps)
                nc.createDimension("lat", ny)
                nc.createDimension("lon", nx)
                _global_attributes(nc, f"VIC forcing {year} written by vic_paraformer ({steps} steps a day)")
                t = nc.createVariable("time", "i4", ("time",))
                t.setncatts({**cf_attributes(f"hours since {year}-01-01", "time (start of the forcing step)", "time"),
                             "calendar": "proleptic_gregorian"})
                start_h = int((first - pd.Timestamp(f"{year}-01-01")).days) * 24
                t[:] = start_h + np.arange(len(days) * steps) * (24 // steps)
                _domain_variable(nc, "lat", "f8", ("lat",), lat)
                _domain_variable(nc, "lon", "f8", ("lon",), lon)
                _domain_variable(nc, "mask", "i4", ("lat", "lon"), cell_mask(rows, cols, ny, nx))
                steps_sel = (days[:, None] * steps + np.arange(steps)).ravel()
                for f in FORCING:
                    var = nc.createVariable(f.file_name, "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20))
                    var.setncatts(cf_attributes(f.step_units, f.long_name, f.standard_name))
                    grid = np.full((len(steps_sel), ny, nx), 1e20, np.float32)
                    grid[:, rows, cols] = sub[f.region][:, steps_sel].T
                    var[:] = grid
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------- parameters
def _template_cells(region: Region, tpl: xr.Dataset, template_cell) -> tuple[np.ndarray, np.ndarray, str]:
    tlat = np.asarray(tpl["lat"].values, float)
    tlon = np.asarray(tpl["lon"].values, float)
    run = np.asarray(tpl["run_cell"].fillna(0).values).astype(int) == 1
    lat = np.asarray(region.ds["lat"].values, float)
    lon = np.asarray(region.ds["lon"].values, float)
    r = np.abs(lat[:, None] - tlat[None]).argmin(axis=1)
    c = np.abs(lon[:, None] - tlon[None]).argmin(axis=1)
    tol_lat = 0.5 * float(np.min(np.abs(np.diff(tlat)))) if tlat.size > 1 else 0.5
    tol_lon = 0.5 * float(np.min(np.abs(np.diff(tlon)))) if tlon.size > 1 else 0.5
    on_grid = (np.abs(tlat[r] - lat) <= tol_lat + 1e-9) & (np.abs(tlon[c] - lon) <= tol_lon + 1e-9) & run[r, c]
    if template_cell is None and on_grid.all():
        return r, c, "the template cell at each cell's lat/lon"
    if template_cell is None:
        act = np.argwhere(run)
        if not len(act):
            raise VICError("the template parameter file has no cell with run_cell == 1")
        tr, tc = (int(x) for x in act[0])
    else:
        tr, tc = (int(x) for x in template_cell)
        if not (0 <= tr < tlat.size and 0 <= tc < tlon.size):
            raise VICError(f"template_cell {template_cell} is outside the template grid {(tlat.size, tlon.size)}")
    n = region.n_cells
    return np.full(n, tr), np.full(n, tc), f"template cell (row {tr}, col {tc})"


def _attr(region: Region, *names: str) -> np.ndarray | None:
    for n in names:
        if n in region.attribute_names:
            return np.asarray(region.attributes()[:, region.attribute_names.index(n)], float)
    return None


def _vic_consistency(v: dict[str, np.ndarray]) -> None:
    """What VIC requires of written soil values: ``Wpwp_FRACT <= Wcr_FRACT`` (else VIC stops) and an
    initial moisture below the layer's pore volume (at most 0.99 of it)."""
    bad = v["Wpwp_FRACT"] > v["Wcr_FRACT"]
    if bad.any():
        log.warning("Wpwp_FRACT > Wcr_FRACT at %d layer-cell(s) (VIC rejects that); Wpwp_FRACT set to Wcr_FRACT",
                    int(bad.sum()))
        v["Wpwp_FRACT"] = np.minimum(v["Wpwp_FRACT"], v["Wcr_FRACT"])
    v["init_moist"] = np.minimum(v["init_moist"], 0.99 * porosity_of(v) * v["depth"] * 1000.0)


def _apply_attributes(region: Region, v: dict[str, np.ndarray]) -> list[str]:
    """Overwrite the per-cell template values ``v[name][..., cell]`` from the Region's attributes,
    through :data:`vic_paraformer.vic.variables.ATTRIBUTES`; the attributes used."""
    used: set[str] = set()
    written: set[tuple] = set()
    n_layers = v["depth"].shape[0]

    def take(names: tuple[str, ...]) -> np.ndarray | None:
        for n in names:
            a = _attr(region, n)
            if a is not None:
                used.add(n)
                return a
        return None

    for entry in ATTRIBUTES:
        if entry.to_vic is None:
            continue
        if entry.group:
            entry.to_vic(v, [take((name,)) for name, _ in entry.names(n_layers)])
            continue
        for name, k in entry.names(n_layers):
            target = entry.target(k)
            names = (name, *entry.aliases)
            if target in written or not any(n in region.attribute_names for n in names):
                continue  # an earlier attribute wrote this value, or the Region has none
            written.add(target)
            entry.to_vic(v, take(names), k)
    _vic_consistency(v)
    return sorted(used)


def _write_params(region: Region, template: Path, lat, lon, rows, cols, out: Path,
                  template_cell, which: str = "default", allow_out_of_range: bool = False
                  ) -> tuple[str, str, list[str], list[Finding]]:
    with open_netcdf(template, "template parameter file", mask_and_scale=False) as tpl:
        tr, tc, source = _template_cells(region, tpl, template_cell)
        for name in ("lat", "lon", "run_cell", "depth", "Cv", "root_depth", "root_fract", "init_moist",
                     "bulk_density", "soil_density", "Wcr_FRACT", "Wpwp_FRACT", "Ksat", "expt", *PARAMS):
            if name not in tpl.variables:
                raise VICError(f"{template}: template parameter file lacks variable {name!r}")
        ny, nx = lat.size, lon.size
        n = region.n_cells
        grid_vars = [k for k, var in tpl.variables.items() if var.dims[-2:] == ("lat", "lon")]
        values: dict[str, np.ndarray] = {}
        fills: dict[str, Any] = {}
        for k in grid_vars:
            raw = np.asarray(tpl[k].values)
            fill = tpl[k].attrs.get("_FillValue", tpl[k].encoding.get("_FillValue"))
            fills[k] = fill
            a = raw[..., tr, tc].astype(np.float64)
            if fill is not None and np.issubdtype(raw.dtype, np.number):
                a = np.where(raw[..., tr, tc] == fill, np.nan, a)
            values[k] = a
        # the five parameters: the truth, the Region's current values, or the template cell's own
        if which == "truth":
            names = [f"true_{p}" for p in PARAMS]
            src = "true_<param>"
        elif all(p in region.ds for p in PARAMS):
            names = list(PARAMS)
            src = "the Region's current values"
        else:
            names = []
            src = "the template cell's own values (the Region has no parameters of its own)"
        for c, name in zip(CALIBRATED, names):
            if name not in region.ds:
                raise VICError(f"the Region has no {name}: cannot write the parameter {c.name}")
            val = np.asarray(region.ds[name].values, float)
            if c.layer is None:
                values[c.vic_var] = val
            else:
                values[c.vic_var][c.layer] = val
        used = _apply_attributes(region, values)
        unmapped = [a for a in region.attribute_names if a not in used]
        found = check({k: values[k] for k in CHECKED_VARIABLES if k in values}, region.ds["lat"].values,
                      region.ds["lon"].values, file=f"{template} (as written to {out.name})")
        if found and not allow_out_of_range:
            raise VICError(message(found))
        with atomic_path(out) as tmp:
            with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
                for d, size in tpl.sizes.items():
                    nc.createDimension(d, ny if d == "lat" else nx if d == "lon" else size)
                for k, var in tpl.variables.items():
                    dtype = var.dtype
                    if dtype.kind in "OSU":
                        continue
                    fill = fills.get(k, var.attrs.get("_FillValue", var.encoding.get("_FillValue")))
                    attrs = {a: val for a, val in var.attrs.items() if a != "_FillValue"}
                    nv = nc.createVariable(k, dtype, var.dims, fill_value=fill)
                    nv.set_auto_maskandscale(False)
                    for a, val in attrs.items():
                        nv.setncattr(a, val)
                    if k == "lat":
                        nv[:] = lat
                    elif k == "lon":
                        nv[:] = lon
                    elif k in values:
                        a = values[k]
                        if k == "run_cell":
                            a = np.ones_like(a)
                        shape = a.shape[:-1] + (ny, nx)
                        # cells outside the Region: the first Region cell's values, switched off
                        g = np.repeat(a[..., :1], ny * nx, axis=-1).reshape(shape).astype(np.float64)
                        g[..., rows, cols] = a
                        if k == "run_cell":
                            g[:] = 0
                            g[rows, cols] = 1
                        if fill is not None:
                            g = np.where(np.isfinite(g), g, fill)
                        elif np.issubdtype(dtype, np.integer):
                            g = np.nan_to_num(g)
                        nv[:] = g.astype(dtype)
                    else:
                        nv[:] = np.asarray(var.values)
                nc.setncattr("title", "VIC parameters written by vic_paraformer (template: %s)" % template)
                if found:
                    nc.setncattr("vic_paraformer_out_of_range", json.dumps([f.as_dict() for f in found]))
        return source, src, unmapped, found


def _global_attributes(nc: netCDF4.Dataset, title: str) -> None:
    nc.setncatts({"title": title, "Conventions": "CF-1.8", "source": f"vic_paraformer {__version__}"})


def _domain_variable(nc: netCDF4.Dataset, name: str, dtype: str, dims: tuple[str, ...], values: np.ndarray) -> None:
    """A domain variable (also the forcing files' lat, lon and mask), with units and long_name, no fill value."""
    var = nc.createVariable(name, dtype, dims, fill_value=False)
    var.setncatts(cf_attributes(*DOMAIN[name]))
    var[:] = values


def _write_domain(region: Region, lat, lon, rows, cols, out: Path) -> None:
    ny, nx = lat.size, lon.size
    elev = _attr(region, "elev", "elevation")
    mask = cell_mask(rows, cols, ny, nx)
    with atomic_path(out) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            _global_attributes(nc, "VIC domain written by vic_paraformer")
            nc.createDimension("lat", ny)
            nc.createDimension("lon", nx)
            _domain_variable(nc, "lat", "f8", ("lat",), lat)
            _domain_variable(nc, "lon", "f8", ("lon",), lon)
            _domain_variable(nc, "mask", "i4", ("lat", "lon"), mask)
            _domain_variable(nc, "area", "f8", ("lat", "lon"), cell_area(lat, lon))
            _domain_variable(nc, "frac", "f8", ("lat", "lon"), mask.astype(float))
            if elev is not None:
                e = np.zeros((ny, nx))
                e[rows, cols] = elev
                _domain_variable(nc, "elev", "f8", ("lat", "lon"), e)


def global_file_text(start: pd.Timestamp, end: pd.Timestamp, *, snow_bands: bool,
                     options: Mapping[str, str] | None = None) -> str:
    """The exported global file (relative paths; see the module docstring)."""
    opts = dict(DEFAULT_OPTIONS)
    opts["SNOW_BAND"] = "TRUE" if snow_bands else "FALSE"
    opts.update({k.upper(): str(v) for k, v in (options or {}).items()})
    lines = ["# VIC 5 image-driver setup written by vic_paraformer (a twin of a Region).",
             "# Relative paths are relative to this file's folder: run VIC from here.", ""]
    for k in ("MODEL_STEPS_PER_DAY", "SNOW_STEPS_PER_DAY", "RUNOFF_STEPS_PER_DAY"):
        lines.append(f"{k} {opts.pop(k)}")
    lines += ["", f"STARTYEAR {start.year}", f"STARTMONTH {start.month:02d}", f"STARTDAY {start.day:02d}",
              f"ENDYEAR {end.year}", f"ENDMONTH {end.month:02d}", f"ENDDAY {end.day:02d}",
              f"CALENDAR {opts.pop('CALENDAR')}", ""]
    lines += [f"{k} {v}" for k, v in opts.items() if k not in ("LAI_SRC", "FCAN_SRC", "ALB_SRC", "NODES",
                                                                  "SNOW_BAND", "WIND_H")]
    lines += ["", "DOMAIN domain.nc"] + [f"DOMAIN_TYPE {t} {n}" for t, n in (
        ("LAT", "lat"), ("LON", "lon"), ("MASK", "mask"), ("AREA", "area"), ("FRAC", "frac"), ("YDIM", "lat"),
        ("XDIM", "lon"))]
    lines += ["", "FORCING1 forcing/forcing."] + [f"FORCE_TYPE {t} {n}" for t, (n, _) in FORCING_NAMES.items()]
    lines += [f"WIND_H {opts['WIND_H']}", "", "PARAMETERS params.nc"]
    lines += [f"{k} {opts[k]}" for k in ("LAI_SRC", "FCAN_SRC", "ALB_SRC", "NODES", "SNOW_BAND")]
    lines += ["", "RESULT_DIR results/", "LOG_DIR logs/", "OUTFILE fluxes", "COMPRESS FALSE", "OUT_FORMAT NETCDF4",
              "AGGFREQ NDAYS 1", "HISTFREQ END"]
    lines += [f"OUTVAR {v}" for v in ("OUT_PREC", "OUT_EVAP", "OUT_RUNOFF", "OUT_BASEFLOW", "OUT_SOIL_MOIST",
                                      "OUT_SWE")]
    return "\n".join(lines) + "\n"


def _write_observations(region: Region, lat, lon, rows, cols, out: Path) -> Path | None:
    names = [n for n in ("obs_sm", "obs_et") if n in region.ds]
    if not names:
        return None
    ny, nx = lat.size, lon.size
    data = {}
    for n in names:
        g = np.full((region.n_days, ny, nx), np.nan, np.float32)
        g[:, rows, cols] = np.asarray(region.ds[n].transpose("cell", "time").values, np.float32).T
        data[n] = (("time", "lat", "lon"), g, {"units": region.ds[n].attrs.get("units", "")})
    ds = xr.Dataset(data, coords={"time": region.times, "lat": lat, "lon": lon})
    from .._io import to_netcdf_atomic

    to_netcdf_atomic(ds, out)
    return out


# ---------------------------------------------------------------------------------------- API
def export_vic(region: Region, template_params: str | Path, domain: str | Path | None, out_dir: str | Path, *,
               steps_per_day: int = 8, temp_amplitude: float = 3.0, template_cell: Sequence[int] | None = None,
               options: Mapping[str, str] | None = None, overwrite: bool = False,
               allow_out_of_range: bool = False) -> ExportResult:
    """Write a VIC 5 image-driver setup of ``region`` into ``out_dir`` (see the module docstring).

    ``domain`` is the template domain file (only read to check it is one; the exported grid is the
    Region's). ``out_dir`` must be empty or new unless ``overwrite``. The parameter values written
    must be physically plausible (:mod:`vic_paraformer.plausibility`); ``allow_out_of_range``
    writes them anyway with one warning and records the findings (``ExportResult.out_of_range``,
    the ``vic_out_of_range`` attribute of ``region.nc`` and ``vic_paraformer_out_of_range`` of the
    parameter files).
    """
    from .importer import region_from_vic

    template = check_netcdf_file(template_params, "template parameter file")
    if domain is not None:
        check_netcdf_file(domain, "template domain file")
    if steps_per_day < 4 or 24 % steps_per_day:
        raise VICError(f"steps_per_day {steps_per_day}: VIC needs at least 4 forcing steps a day dividing 24")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise VICError(f"{out}: folder exists and is not empty (choose a new folder)")
    for f in (template, Path(domain) if domain else None):
        if f is not None and out.resolve() in f.resolve().parents:
            raise VICError(f"{out}: would write over the template {f}")
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("results", "logs"):
        (out / sub).mkdir(exist_ok=True)
    lat, lon, rows, cols = region_grid(region)
    with open_netcdf(template, "template parameter file") as tpl:
        snow_bands = "snow_band" in tpl.dims and "AreaFract" in tpl.variables
    cell_src, par_src, unmapped, found = _write_params(region, template, lat, lon, rows, cols, out / "params.nc",
                                                       template_cell, allow_out_of_range=allow_out_of_range)
    true_params = None
    if all(f"true_{p}" in region.ds for p in PARAMS):
        true_params = out / TRUE_PARAMS_NAME
        seen = {f.variable for f in found}
        found += [f for f in _write_params(region, template, lat, lon, rows, cols, true_params, template_cell,
                                           which="truth", allow_out_of_range=allow_out_of_range)[3]
                  if f.variable not in seen]
    out_of_range = enforce(found, allow=True, what=f"VIC setup exported to {out}")
    _write_domain(region, lat, lon, rows, cols, out / "domain.nc")
    forcing = _write_forcing(region, lat, lon, rows, cols, out / "forcing", steps_per_day, temp_amplitude)
    opts = {"MODEL_STEPS_PER_DAY": str(steps_per_day), "SNOW_STEPS_PER_DAY": str(steps_per_day),
            "RUNOFF_STEPS_PER_DAY": "24", **dict(options or {})}
    gtext = global_file_text(region.times[0], region.times[-1], snow_bands=snow_bands, options=opts)
    gpath = out / GLOBAL_NAME
    with atomic_path(gpath) as tmp:
        Path(tmp).write_text(gtext)
    obs = _write_observations(region, lat, lon, rows, cols, out / "observations.nc")
    back = region_from_vic(gpath, obs, check_plausibility=False)  # its parameters were checked above
    ds = back.ds
    if out_of_range:
        ds.attrs["vic_out_of_range"] = json.dumps(out_of_range)
    for p in PARAMS:
        if f"true_{p}" in region.ds:
            ds[f"true_{p}"] = ("cell", np.asarray(region.ds[f"true_{p}"].values, float))
    ds.attrs["vic_export_template"] = str(template.resolve())
    back = Region(ds, source=str(gpath))
    back.save(out / "region.nc")
    if unmapped:
        log.info("exported %s: attribute(s) without a VIC parameter-file counterpart (template values kept): %s",
                 out, ", ".join(unmapped))
    log.info("exported %d cells x %d days to %s (parameters: %s; other variables from %s)", region.n_cells,
             region.n_days, out, par_src, cell_src)
    return ExportResult(out_dir=out, global_param_file=gpath, domain=out / "domain.nc", params=out / "params.nc",
                        forcing=forcing, observations=obs, region=out / "region.nc", parameters_from=par_src,
                        unmapped_attributes=unmapped, true_params=true_params, out_of_range=out_of_range)




__all__: Sequence[str] = ("ExportResult", "export_vic", "disaggregate", "global_file_text", "region_grid")
