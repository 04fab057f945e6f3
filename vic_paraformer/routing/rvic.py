"""Reading an RVIC parameter file (VIC 5's routing convention) onto a Region's cells.

RVIC parameter-file variables read here (RVIC documentation, "parameter file"; VIC 5
``rout_rvic`` extension): ``unit_hydrograph(timesteps, sources, tracers)``, ``unit_hydrograph_dt``
(seconds), ``source_lat``/``source_lon``, ``source2outlet_ind``, ``source_time_offset`` (leading
lags left out of the stored unit hydrograph), ``outlet_lat``/``outlet_lon``, ``outlet_name``
(optional), ``outlet_upstream_area`` (optional, informative).

RVIC stores each unit hydrograph scaled by ``area_source * fraction / area_outlet`` (so that VIC's
ring, multiplied by the outlet cell's area, gives m3/s). The reader undoes that: the normalised unit
hydrograph sums to 1 and the source's contributing area is ``sum(uh) * area_outlet``. A source's
stored sum must be positive and may not carry more than its cell's area (fraction <= 1 within
:data:`FRACTION_TOL`). A cell may drain to several outlets (nested basins each count it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import RoutingError
from .geometry import cell_areas, grid_spacing, match_cells, spherical_cell_area
from .kernel import RoutingKernel

log = logging.getLogger(__name__)

REQUIRED = ("unit_hydrograph", "unit_hydrograph_dt", "source_lat", "source_lon", "source2outlet_ind",
            "source_time_offset", "outlet_lat", "outlet_lon")
#: How far the summed fractions of a cell may exceed 1 (RVIC writes its unit hydrographs with ~4 digits).
FRACTION_TOL = 0.02


def _names(ds, n: int, lat: np.ndarray, lon: np.ndarray) -> list[str]:
    if "outlet_name" in ds.variables:
        raw = ds["outlet_name"].values
        if raw.ndim == 2:  # char array (outlets, nc_chars)
            names = [b"".join(bytes(c) if isinstance(c, bytes) else str(c).encode() for c in row).decode(errors="replace")
                     .strip("\x00 ") for row in raw]
        else:
            names = [(v.decode(errors="replace") if isinstance(v, bytes) else str(v)).strip("\x00 ") for v in raw]
        if len(names) == n and all(names):
            return names
    return [f"outlet_{a:.4f}_{b:.4f}" for a, b in zip(lat, lon)]


def _tolerance(cell_lat: np.ndarray, cell_lon: np.ndarray) -> float:
    spacing = [s for s in (grid_spacing(cell_lat), grid_spacing(cell_lon)) if s is not None]
    return 0.25 * min(spacing) if spacing else 1e-3


def read_rvic(path: str | Path, region, *, tol_deg: float | None = None) -> RoutingKernel:
    """The routing kernel of the RVIC parameter file ``path`` on the cells of ``region`` (a Region or
    its dataset). Sources are matched to cells by lat/lon within ``tol_deg`` (default a quarter of
    the grid spacing). RoutingError (one line naming the file and the source or outlet) when the file
    lacks a variable, a source is not a cell of the Region or a unit hydrograph is empty or carries
    more than its cell's area."""
    import xarray as xr

    path = Path(path)
    ds_region = getattr(region, "ds", region)
    if not path.exists():
        raise RoutingError(f"{path}: RVIC parameter file not found")
    if path.is_dir():
        raise RoutingError(f"{path}: is a folder, expected an RVIC parameter file (netCDF)")
    try:
        ds = xr.open_dataset(path, decode_times=False, mask_and_scale=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
        raise RoutingError(f"{path}: not a readable netCDF RVIC parameter file ({type(exc).__name__})") from None
    with ds:
        for name in REQUIRED:
            if name not in ds.variables:
                raise RoutingError(f"{path}: RVIC parameter file lacks variable {name!r}")
        uh_var = ds["unit_hydrograph"]
        if uh_var.ndim not in (2, 3):
            raise RoutingError(f"{path}: unit_hydrograph has dims {uh_var.dims}; expected (timesteps, sources, tracers)")
        uh_raw = np.asarray(uh_var.values, float)
        if uh_raw.ndim == 3:
            if uh_raw.shape[2] > 1:
                log.warning("%s: %d tracers; routing uses the first", path, uh_raw.shape[2])
            uh_raw = uh_raw[:, :, 0]
        uh_raw = uh_raw.T  # (sources, timesteps)
        s_lat = np.asarray(ds["source_lat"].values, float)
        s_lon = np.asarray(ds["source_lon"].values, float)
        s2o = np.asarray(ds["source2outlet_ind"].values).astype(int)
        offset = np.asarray(ds["source_time_offset"].values).astype(int)
        o_lat = np.asarray(ds["outlet_lat"].values, float)
        o_lon = np.asarray(ds["outlet_lon"].values, float)
        dt = float(np.asarray(ds["unit_hydrograph_dt"].values))
        names = _names(ds, o_lat.size, o_lat, o_lon)
    n_src = s_lat.size
    for name, arr in (("source_lon", s_lon), ("source2outlet_ind", s2o), ("source_time_offset", offset)):
        if arr.shape != (n_src,):
            raise RoutingError(f"{path}: {name} has {arr.size} values; expected one per source ({n_src})")
    if uh_raw.shape[0] != n_src:
        raise RoutingError(f"{path}: unit_hydrograph has {uh_raw.shape[0]} sources; source_lat has {n_src}")
    if (offset < 0).any():
        s = int(np.flatnonzero(offset < 0)[0])
        raise RoutingError(f"{path}: source_time_offset of source {s} at ({s_lat[s]:.4f}, {s_lon[s]:.4f}) is negative")
    bad = np.flatnonzero((s2o < 0) | (s2o >= o_lat.size))
    if bad.size:
        s = int(bad[0])
        raise RoutingError(f"{path}: source {s} at ({s_lat[s]:.4f}, {s_lon[s]:.4f}) drains to outlet index {s2o[s]}; "
                           f"the file has {o_lat.size} outlets")

    cell_lat = np.asarray(ds_region["lat"].values, float)
    cell_lon = np.asarray(ds_region["lon"].values, float)
    ids = np.asarray(ds_region["cell"].values)
    tol = _tolerance(cell_lat, cell_lon) if tol_deg is None else float(tol_deg)
    cells, dist = match_cells(s_lat, s_lon, cell_lat, cell_lon, tol)
    outside = np.flatnonzero(cells < 0)
    if outside.size:
        s = int(outside[0])
        near = int(np.argmin(np.hypot(cell_lat - s_lat[s], cell_lon - s_lon[s])))
        raise RoutingError(f"{path}: source {s} at ({s_lat[s]:.4f}, {s_lon[s]:.4f}) is not a cell of the Region "
                           f"(nearest cell {ids[near]} at ({cell_lat[near]:.4f}, {cell_lon[near]:.4f}), "
                           f"{dist[s]:.4f} deg away; tolerance {tol:g} deg)")
    area = cell_areas(ds_region, what=str(path))
    o_cells, _ = match_cells(o_lat, o_lon, cell_lat, cell_lon, tol)
    dlat = grid_spacing(cell_lat) or grid_spacing(cell_lon)
    dlon = grid_spacing(cell_lon) or dlat
    o_area = np.where(o_cells >= 0, area[np.maximum(o_cells, 0)],
                      spherical_cell_area(o_lat, dlat, dlon) if dlat else np.nan)

    sums = uh_raw.sum(axis=1)
    empty = np.flatnonzero(~(sums > 0))
    if empty.size:
        s = int(empty[0])
        raise RoutingError(f"{path}: unit hydrograph of source {s} at ({s_lat[s]:.4f}, {s_lon[s]:.4f}) sums to "
                           f"{sums[s]:g}; expected a positive sum (its contributing area over the outlet cell's)")
    src_area = sums * o_area[s2o]
    frac = src_area / area[cells]
    over = np.flatnonzero(frac > 1.0 + FRACTION_TOL)
    if over.size:
        s = int(over[0])
        raise RoutingError(f"{path}: unit hydrograph of source {s} at ({s_lat[s]:.4f}, {s_lon[s]:.4f}) sums to "
                           f"{sums[s]:.4g}, {frac[s]:.3f} times its cell's area over the outlet cell's; expected at "
                           f"most 1 (RVIC stores unit hydrographs summing to area_source * fraction / area_outlet)")
    n_lags = int((offset + uh_raw.shape[1]).max())
    uh = np.zeros((n_src, n_lags))
    for s in range(n_src):
        uh[s, offset[s]:offset[s] + uh_raw.shape[1]] = uh_raw[s] / sums[s]
    kernel = RoutingKernel(uh, cells, src_area, s2o, o_lat, o_lon, names, dt=dt, origin=str(path),
                           source_lat=s_lat, source_lon=s_lon,
                           info={"kind": "rvic", "file": str(path.resolve()), "fraction": frac})
    empty_outlets = kernel.outlets_without_sources()
    if empty_outlets.size:
        log.warning("%s: %d outlet(s) without sources (no discharge): %s", path, empty_outlets.size,
                    ", ".join(kernel.outlet_name[o] for o in empty_outlets[:5]))
    return kernel
