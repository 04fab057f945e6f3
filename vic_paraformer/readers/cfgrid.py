"""Any CF-convention netCDF grid of soil moisture or evapotranspiration, regridded by area.

Document: the NetCDF Climate and Forecast (CF) Metadata Conventions (https://cfconventions.org/,
sections 3 units and standard names, 4 coordinates, 4.4 time, 5.2 two-dimensional latitude and
longitude, 7.1 cell boundaries) and the CF standard-name table.

What is read
  One netCDF file, a folder of them (``*.nc``, ``*.nc4``) or a glob pattern. The variable:

  * soil moisture (``obs_sm``, m3 m-3): ``standard_name`` ``volume_fraction_of_condensed_water_in_soil``
    or units of a volume fraction (m3 m-3, m3/m3, cm3 cm-3, ``1`` with that standard name) or
    percent (%, only with a soil-moisture standard name, or a name/long_name saying soil
    moisture), divided by 100; ``soil_moisture_content`` / ``mass_content_of_water_in_soil_layer``
    (kg m-2) is converted with the layer thickness from the depth coordinate's bounds (or
    ``ReadOptions.extra["layer_thickness_m"]``) as ``theta = kg m-2 / (1000 kg m-3 * thickness)``,
    and refused without one;
  * evapotranspiration (``obs_et``, mm/day): ``standard_name`` ``water_evapotranspiration_flux``
    in kg m-2 s-1 (x 86400) or any variable in mm/day, mm d-1, kg m-2 day-1, mm h-1 (x 24) or
    mm s-1; latent heat (W m-2) is refused.

  When several variables qualify for one observation, ``ReadOptions.extra["variable"]`` names the
  one to read (a comma-separated list may name one per observation). Fill values, ``scale_factor``
  and ``add_offset`` follow CF (xarray's decoding); values outside ``valid_min``/``valid_max``/
  ``valid_range`` or the physical range (soil moisture 0..1, ET 0..50 mm/day) count as invalid.

Coordinates
  Latitude and longitude by ``standard_name`` (``latitude``/``longitude``), units
  (``degrees_north``/``degrees_east``) or name (lat, latitude, lon, longitude). 1-D coordinates, or
  2-D ones that vary along one axis each (a regular grid stored as 2-D arrays); a curvilinear grid
  (2-D coordinates varying along both axes) is refused. Cell edges come from the ``bounds``
  variables (``lat_bnds``/``lon_bnds``), else halfway between neighbouring centres. A further
  dimension of size one is dropped; a depth dimension with several layers is cut to the top layer
  (or the layer within ``ReadOptions.depth``).

Time
  Decoded by CF (``units`` "days since ...", calendars through cftime). With time bounds each value
  goes to the day (Region convention) containing the middle of its bounds; without bounds a daily
  grid's timestamp names the (UTC) date of its value, and a sub-daily grid's timestamps are taken
  as instants. Steps longer than a day (8-day, monthly composites) are refused.

Regridding and coverage follow :mod:`~vic_paraformer.readers.regrid` and
:mod:`~vic_paraformer.readers.griddays`: area-weighted means on the Region's cells; a cell-day whose
area (times the day's expected time steps) is covered less than ``ReadOptions.min_coverage`` by
valid values is NaN. Support recorded: the grid spacing (degrees and about km), the layer depth when
the file gives one.

Rejected, with one line naming the file and variable: an unreadable or damaged file; no soil-moisture
or evapotranspiration variable; several candidates without ``extra["variable"]``; unknown units; no
latitude/longitude or time; a curvilinear grid; a grid that does not overlap the Region's cells;
no value in the Region's days.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ObservationError
from .base import CellTarget, Observations, ReadOptions, Reader
from .cfvars import LATENT_HEAT_NAMES, RANGES, classify, conversion_factor, valid_limits
from .griddays import CellDays, build_qc, input_files, require_days
from .regrid import RectGrid, describe_boxes, describe_extent, overlap_matrix, target_boxes, window

log = logging.getLogger(__name__)

FILE_PATTERNS = ("*.nc", "*.nc4")
ONE_DAY = pd.Timedelta(days=1)


def _coord_name(ds: xr.Dataset, axis: str) -> str | None:
    sn, units, names = {"lat": ("latitude", ("degrees_north", "degree_north", "degrees_n"), ("lat", "latitude", "nav_lat")),
                        "lon": ("longitude", ("degrees_east", "degree_east", "degrees_e"),
                                ("lon", "longitude", "nav_lon"))}[axis]
    for n, v in ds.variables.items():
        if str(v.attrs.get("standard_name", "")).lower() == sn or str(v.attrs.get("units", "")).lower() in units:
            return str(n)
    for n in ds.variables:
        if str(n).lower() in names:
            return str(n)
    return None


class CfGridReader(Reader):
    """CF-convention netCDF grids of soil moisture or evapotranspiration (see the module docstring)."""

    name = "cf"
    description = "any CF netCDF grid of soil moisture (m3 m-3, %, kg m-2 with depth) or ET, regridded by area"
    suffixes = (".nc", ".nc4", ".cdf", ".netcdf")

    def sniff(self, path: Path) -> bool:
        files = sorted(path.glob("*.nc")) if path.is_dir() else [path]
        if not files or not files[0].is_file():
            return False
        try:
            with xr.open_dataset(files[0], decode_times=False) as ds:
                if any(v in ds.data_vars for v in ("obs_sm", "obs_et")):
                    return False
                if _coord_name(ds, "lat") is None or _coord_name(ds, "lon") is None:
                    return False
                return any(classify(str(n), v) for n, v in ds.data_vars.items())
        except (OSError, ValueError):
            return False

    def read(self, path: Path, target: CellTarget, options: ReadOptions) -> Observations:
        files = input_files(path, FILE_PATTERNS)
        boxes = target_boxes(target)
        accs: dict[str, CellDays] = {}
        chosen: dict[str, str] = {}
        support: dict[str, dict[str, Any]] = {}
        grids: list[RectGrid] = []
        overlapping = 0
        for f in files:
            with self._open(f) as ds:
                picks = self._pick(f, ds, options)
                lat_n, lon_n = _coord_name(ds, "lat"), _coord_name(ds, "lon")
                if lat_n is None or lon_n is None:
                    raise ObservationError(f"{f}: no latitude/longitude coordinates; expected CF coordinates with "
                                           f"standard_name latitude/longitude or units degrees_north/degrees_east")
                for obs, (vname, kind) in picks.items():
                    chosen[obs] = vname
                    grid, hit = self._read_var(f, ds, vname, kind, obs, lat_n, lon_n, boxes, target, options, accs,
                                               support)
                    overlapping += int(hit)
                    grids.append(grid)
        if not overlapping:
            raise ObservationError(f"{path}: the grid ({describe_extent(grids[0])}) does not overlap the region's "
                                   f"cells ({describe_boxes(boxes)})")
        values, coverage, rows = {}, {}, {}
        for obs, acc in accs.items():
            v, cov, low = acc.finish(options.min_coverage)
            values[obs], coverage[obs] = v, cov
            rows.update(acc.qc_rows(obs, low, chosen[obs], [f"variable {chosen[obs]}"]))
            support[obs]["format"] = self.name
            if acc.n_outside:
                log.info("%s: %d value(s) of %s lie outside the region's days and are not used", path, acc.n_outside,
                         chosen[obs])
        require_days(path, values, target, f"variables {', '.join(chosen.values())}")
        return Observations(values=values, qc=build_qc(values, rows, target), source=str(path), format=self.name,
                            support=support, coverage=coverage)

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _open(f: Path) -> xr.Dataset:
        try:
            return xr.open_dataset(f, decode_times=xr.coders.CFDatetimeCoder(use_cftime=None))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ObservationError(f"{f}: cannot read as netCDF ({str(exc).splitlines()[0]}); damaged or "
                                   f"truncated?") from None

    @staticmethod
    def _pick(f: Path, ds: xr.Dataset, options: ReadOptions) -> dict[str, tuple[str, str]]:
        named = [n.strip() for n in str(options.extra.get("variable", "")).split(",") if n.strip()]
        found: dict[str, list[tuple[str, str]]] = {}
        if named:
            for n in named:
                if n not in ds.data_vars:
                    raise ObservationError(f"{f}: option variable={n!r}: no such variable; the file has "
                                           f"{sorted(map(str, ds.data_vars))}")
                c = classify(n, ds[n])
                if c is None:
                    v = ds[n]
                    raise ObservationError(f"{f}: variable {n!r} (standard_name {v.attrs.get('standard_name')!r}, "
                                           f"units {v.attrs.get('units')!r}) is neither soil moisture (m3 m-3, %, "
                                           f"kg m-2) nor evapotranspiration (kg m-2 s-1, mm/day)")
                found.setdefault(c[0], []).append((n, c[1]))
        else:
            for n, v in ds.data_vars.items():
                c = classify(str(n), v)
                if c is not None and v.ndim >= 2:
                    found.setdefault(c[0], []).append((str(n), c[1]))
        found = {k: v for k, v in found.items() if k in options.variables}
        if not found:
            lh = [str(n) for n, v in ds.data_vars.items()
                  if str(v.attrs.get("standard_name", "")).lower() in LATENT_HEAT_NAMES]
            extra = f"; {lh[0]!r} is latent heat (W m-2): convert it to mm/day first" if lh else ""
            raise ObservationError(f"{f}: no soil moisture or evapotranspiration variable{extra}; expected "
                                   f"standard_name volume_fraction_of_condensed_water_in_soil or "
                                   f"water_evapotranspiration_flux, or units m3 m-3 / mm/day; found "
                                   f"{sorted(map(str, ds.data_vars))}")
        out = {}
        for obs, cands in found.items():
            if len(cands) > 1:
                raise ObservationError(f"{f}: several {obs} candidates {[c[0] for c in cands]}; name one with "
                                       f"the option variable=NAME")
            out[obs] = cands[0]
        return out

    @staticmethod
    def _grid(f: Path, ds: xr.Dataset, var: xr.DataArray, lat_n: str, lon_n: str) -> tuple[RectGrid, str, str]:
        """The source grid and the variable's (y, x) dimension names."""
        lat, lon = ds[lat_n], ds[lon_n]
        if lat.ndim == 1 and lon.ndim == 1:
            ydim, xdim = lat.dims[0], lon.dims[0]
            lat_c, lon_c = lat.values.astype(float), lon.values.astype(float)
            lat_b = _bounds(ds, lat_n, lat.ndim)
            lon_b = _bounds(ds, lon_n, lon.ndim)
        elif lat.ndim == 2 and lon.ndim == 2 and lat.dims == lon.dims:
            ydim, xdim = lat.dims
            la, lo = lat.values.astype(float), lon.values.astype(float)
            if np.allclose(la, la[:, :1], atol=1e-6) and np.allclose(lo, lo[:1, :], atol=1e-6):
                lat_c, lon_c = la[:, 0], lo[0, :]
            elif np.allclose(la, la[:1, :], atol=1e-6) and np.allclose(lo, lo[:, :1], atol=1e-6):
                ydim, xdim = xdim, ydim
                lat_c, lon_c = la[0, :], lo[:, 0]
            else:
                raise ObservationError(f"{f}: {lat_n}/{lon_n} describe a curvilinear grid (both vary along both "
                                       f"axes); expected a latitude-longitude grid (regrid it to one first)")
            lat_b = lon_b = None
        else:
            raise ObservationError(f"{f}: {lat_n}/{lon_n} have {lat.ndim}/{lon.ndim} dimensions; expected 1-D or "
                                   f"matching 2-D coordinates")
        if ydim not in var.dims or xdim not in var.dims:
            raise ObservationError(f"{f}: variable {var.name!r} has dimensions {var.dims}; expected {ydim!r} and "
                                   f"{xdim!r} of {lat_n}/{lon_n}")
        try:
            lat_b = lat_b if lat_b is not None else RectGrid.from_centres(lat_c, lon_c).lat_bounds
            lon_b = lon_b if lon_b is not None else RectGrid.from_centres(lat_c, lon_c).lon_bounds
        except ValueError as exc:
            raise ObservationError(f"{f}: {exc} ({lat_n}/{lon_n})") from None
        return RectGrid(lat_b, lon_b), str(ydim), str(xdim)

    def _read_var(self, f: Path, ds: xr.Dataset, vname: str, kind: str, obs: str, lat_n: str, lon_n: str,
                  boxes: np.ndarray, target: CellTarget, options: ReadOptions, accs: dict, support: dict
                  ) -> tuple[RectGrid, bool]:
        """Add one variable of one file to ``accs``; its grid and whether it overlaps the cells."""
        var = ds[vname]
        grid, ydim, xdim = self._grid(f, ds, var, lat_n, lon_n)
        tdim = _time_dim(ds, var)
        if tdim is None:
            raise ObservationError(f"{f}: variable {vname!r} has no time dimension; expected a CF time coordinate")
        var, layer = _select_layer(f, var, (tdim, ydim, xdim), options)
        var = var.transpose(tdim, ydim, xdim)
        times, bounded, step = _times(f, ds, tdim)
        if step > ONE_DAY + pd.Timedelta(hours=1):
            raise ObservationError(f"{f}: variable {vname!r} has a time step of {step}; expected daily or sub-daily "
                                   f"values (aggregate composites elsewhere)")
        win = window(grid, boxes)
        if win is None:
            return grid, False
        sub = grid.subset(*win)
        weights = overlap_matrix(sub, boxes)
        try:
            data = np.asarray(var[:, win[0], win[1]].values, float)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ObservationError(f"{f}: cannot read variable {vname!r} ({exc}); damaged or truncated?") from None
        present = np.isfinite(data)
        vmin, vmax = valid_limits(var)
        outside_valid = present & ((data < vmin) | (data > vmax))
        data = data * conversion_factor(f, vname, var, kind, layer, options)
        lo, hi = RANGES[obs]
        invalid = outside_valid | (present & ((data < lo) | (data > hi)))
        if present.any() and invalid.sum() > 0.5 * present.sum():
            bad = float(np.nanmax(np.where(invalid, data, np.nan)))
            raise ObservationError(f"{f}: variable {vname!r} holds {bad:g} and most values lie outside {lo:g}..{hi:g} "
                                   f"{'m3 m-3' if obs == 'obs_sm' else 'mm/day'}; check its units "
                                   f"({var.attrs.get('units')!r})")
        valid = present & ~invalid
        daily = step >= ONE_DAY - pd.Timedelta(hours=1) and not bounded
        if obs not in accs:
            per_day = 1.0 if daily else max(1.0, ONE_DAY / step)
            accs[obs] = CellDays(target, ("all",), expected_per_day=per_day)
            dlat = float(np.median(np.abs(np.diff(grid.lat_bounds, axis=1))))
            dlon = float(np.median(np.abs(np.diff(grid.lon_bounds, axis=1))))
            support[obs] = {"grid_deg": [dlat, dlon], "footprint_km": round(dlat * 111.2, 1), "variable": vname}
            if layer is not None:
                support[obs]["depth_m"] = list(layer)
        for k in range(data.shape[0]):
            accs[obs].add(weights, data[k], valid[k], times[k], invalid=invalid[k], day_labels=daily)
        return grid, True


def _bounds(ds: xr.Dataset, name: str, ndim: int) -> np.ndarray | None:
    b = ds[name].attrs.get("bounds")
    if b and b in ds.variables and ds[b].ndim == ndim + 1 and ds[b].shape[-1] == 2:
        return np.asarray(ds[b].values, float)
    return None


def _time_dim(ds: xr.Dataset, var: xr.DataArray) -> str | None:
    for d in var.dims:
        if d in ds.variables and (np.issubdtype(ds[d].dtype, np.datetime64) or ds[d].dtype == object):
            return str(d)
        if str(d).lower() == "time":
            return str(d)
    return None


def _times(f: Path, ds: xr.Dataset, tdim: str) -> tuple[list[pd.Timestamp], bool, pd.Timedelta]:
    """UTC times of each step (the middle of the bounds when given), whether bounded, and the step."""
    t = ds[tdim]
    try:
        idx = t.to_index()
        if not isinstance(idx, pd.DatetimeIndex):
            idx = xr.CFTimeIndex(idx).to_datetimeindex(time_unit="ns")
    except (TypeError, ValueError, AttributeError) as exc:
        raise ObservationError(f"{f}: cannot decode time {tdim!r} ({exc}); expected CF units such as "
                               f"'days since 2015-01-01'") from None
    bname = t.attrs.get("bounds") or t.encoding.get("bounds")
    if bname and bname in ds.variables:
        b = ds[bname].values
        lo = pd.DatetimeIndex(np.asarray(b[:, 0], "datetime64[ns]"))
        hi = pd.DatetimeIndex(np.asarray(b[:, 1], "datetime64[ns]"))
        mid = lo + (hi - lo) / 2
        step = (hi - lo).median() if len(lo) else ONE_DAY
        return [pd.Timestamp(m).tz_localize("UTC") for m in mid], True, pd.Timedelta(step)
    u = idx.unique().sort_values()
    step = pd.Timedelta(pd.Series(np.diff(u.asi8)).value_counts().index[0], unit="ns") if len(u) > 1 else ONE_DAY
    stamps = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return list(stamps), False, step


def _select_layer(f: Path, var: xr.DataArray, keep: tuple, options: ReadOptions):
    """``var`` with extra dimensions removed and the layer depth (m) when known."""
    layer = None
    for d in [d for d in var.dims if d not in keep]:
        coord = var[d] if d in var.coords else None
        if coord is not None and coord.size >= 1 and _is_depth(coord):
            depths = _layer_bounds(var, d)
            i = 0
            if options.depth is not None and depths is not None:
                top, bottom = options.depth
                inside = [k for k, (a, b) in enumerate(depths) if a >= top - 1e-9 and b <= bottom + 1e-9]
                if not inside:
                    raise ObservationError(f"{f}: variable {var.name!r}: no layer of {d!r} lies within the depth "
                                           f"{top:g}..{bottom:g} m; layers {depths}")
                i = inside[0]
            elif depths is not None:
                i = int(np.argmin([a for a, _ in depths]))
            layer = tuple(float(x) for x in depths[i]) if depths is not None else None
            var = var.isel({d: i})
        elif var.sizes[d] == 1:
            var = var.isel({d: 0})
        else:
            raise ObservationError(f"{f}: variable {var.name!r} has a dimension {d!r} of {var.sizes[d]}; expected "
                                   f"time, latitude, longitude (and a depth)")
    return var, layer


def _is_depth(coord: xr.DataArray) -> bool:
    return (str(coord.attrs.get("axis", "")).upper() == "Z" or str(coord.attrs.get("positive", "")) == "down"
            or str(coord.name).lower() in ("depth", "soil_depth", "layer", "level"))


def _layer_bounds(var: xr.DataArray, d: str) -> list[tuple[float, float]] | None:
    coord = var[d]
    b = coord.attrs.get("bounds")
    if b and b in var.coords:
        arr = np.asarray(var.coords[b].values, float)
        return [tuple(sorted(map(abs, r))) for r in arr]
    return None


__all__ = ("CfGridReader",)
