"""The VIC grid (simulator layer), shared by the importer and the export.

A VIC image-driver setup is a regular lat/lon grid: a domain file (``lat``, ``lon``, ``mask``,
``area``, ``frac``) and a parameter file with ``run_cell`` on the same grid. The simulated cells are
those with ``mask == 1`` and ``run_cell == 1``, in row-major order; ``row``/``col`` are their lat/lon
indices and the cell id is ``row * n_lon + col`` (:func:`cell_ids`), stable under
:meth:`Region.subset <vic_paraformer.region.Region.subset>`.

* :class:`VicGrid` and :func:`read_grid`: the grid of a setup (import, the ``vic`` simulator,
  parameter files);
* :func:`region_grid`: the grid of any Region (its ``row``/``col``, or its distinct lat/lon), for
  the export; grid cells without a Region cell are not simulated (``mask = 0``, ``run_cell = 0``);
* :func:`cell_mask` and :func:`cell_area`: the domain file's ``mask`` and ``area`` of such a grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import VICError
from ..formats import damaged, not_this_kind, truncation
from ..outputs import file_kind
from .dims import check_parameter_dims, check_variable

if TYPE_CHECKING:
    from ..region import Region
    from .globalfile import GlobalParamFile


def cell_ids(rows: np.ndarray, cols: np.ndarray, n_lon: int) -> np.ndarray:
    """Cell ids of grid positions: ``row * n_lon + col``."""
    return np.asarray(rows) * int(n_lon) + np.asarray(cols)


def cell_mask(rows: np.ndarray, cols: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """The ``(ny, nx)`` int mask with 1 at the given cells, 0 elsewhere."""
    mask = np.zeros((ny, nx), "i4")
    mask[rows, cols] = 1
    return mask


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
        return cell_ids(self.rows, self.cols, len(self.lon))

    def _tol(self, coord: np.ndarray) -> float:
        return 0.5 * float(np.min(np.abs(np.diff(coord)))) if coord.size > 1 else 0.5

    def outside(self, lat, lon) -> np.ndarray:
        """Boolean per point: farther than half a grid spacing from every grid cell (or not finite)."""
        lat = np.atleast_1d(np.asarray(lat, float))
        lon = np.atleast_1d(np.asarray(lon, float))
        r = np.abs(lat[:, None] - self.lat[None, :]).argmin(axis=1)
        c = np.abs(lon[:, None] - self.lon[None, :]).argmin(axis=1)
        with np.errstate(invalid="ignore"):
            bad = (np.abs(self.lat[r] - lat) > self._tol(self.lat) + 1e-9) | \
                (np.abs(self.lon[c] - lon) > self._tol(self.lon) + 1e-9)
        return bad | ~np.isfinite(lat) | ~np.isfinite(lon)

    def locate(self, lat, lon, *, what: str = "point", require_active: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Grid (row, col) of each (lat, lon), nearest within half a grid spacing.

        Raises VICError naming the first point outside the grid (or, with ``require_active``,
        outside the simulated cells).
        """
        lat = np.atleast_1d(np.asarray(lat, float))
        lon = np.atleast_1d(np.asarray(lon, float))
        r = np.abs(lat[:, None] - self.lat[None, :]).argmin(axis=1)
        c = np.abs(lon[:, None] - self.lon[None, :]).argmin(axis=1)
        bad = self.outside(lat, lon)
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


def check_netcdf_file(path: str | Path, what: str) -> Path:
    """``path`` once it is a whole netCDF file; else VICError naming it and ``what`` (``"domain file"``):
    missing, a folder, not netCDF (what it is instead), or damaged or truncated
    (:func:`vic_paraformer.formats.truncation`)."""
    path = Path(path)
    if not path.exists():
        raise VICError(f"{path}: {what} not found")
    if path.is_dir():
        raise VICError(f"{path}: is a folder, expected the {what} (netCDF)")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:3] != b"CDF" and head != b"\x89HDF\r\n\x1a\n":
        raise not_this_kind(path, file_kind(path), f"netCDF {what}", VICError)
    if truncation(path) is not None:
        raise damaged(path, f"the {what}", VICError)
    return path


def open_netcdf(path: str | Path, what: str, *, mask_and_scale: bool = True) -> xr.Dataset:
    """A VIC input file opened with xarray (times not decoded) after :func:`check_netcdf_file`; a reader
    failure is reported as a damaged file naming ``path`` and ``what``."""
    path = check_netcdf_file(path, what)
    try:
        return xr.open_dataset(path, decode_times=False, mask_and_scale=mask_and_scale)
    except Exception:  # noqa: BLE001 - the reader's own advice (extra IO back-ends) would mislead
        raise damaged(path, f"the {what}", VICError, "its netCDF reader fails on it") from None


def _grid_axis(dom: xr.Dataset, name: str, dpath: Path, ydim: str, xdim: str, axis: int) -> np.ndarray:
    """The 1-D coordinate of the domain's ``name`` (``lat``: axis 0, ``lon``: axis 1), from a 1-D or 2-D variable."""
    var = dom[name]
    own = ydim if axis == 0 else xdim
    if var.ndim == 1 and var.dims == (own,):
        return np.asarray(var.values, float)
    if var.ndim == 2 and var.dims == (ydim, xdim):
        values = np.asarray(var.values, float)
        return values[:, 0] if axis == 0 else values[0, :]
    raise VICError(f"{dpath}: domain file variable {name!r} has dims {tuple(map(str, var.dims))}; expected ({own},) "
                   f"or ({ydim}, {xdim})")


def read_grid(gf: GlobalParamFile, params: xr.Dataset | None = None) -> VicGrid:
    """The grid from the DOMAIN file plus ``run_cell`` from the PARAMETERS file (checked to agree)."""
    types = gf.domain_types()
    dpath = gf.domain_path
    ppath = gf.parameters_path
    ydim, xdim = types["YDIM"], types["XDIM"]
    with open_netcdf(dpath, "domain file") as dom:
        for t in ("LAT", "LON", "MASK"):
            if types[t] not in dom.variables:
                raise VICError(f"{dpath}: domain file lacks variable {types[t]!r} (DOMAIN_TYPE {t} in {gf.path})")
        for dim in (ydim, xdim):
            if dim not in dom.dims:
                raise VICError(f"{dpath}: domain file has no dimension {dim!r} (DOMAIN_TYPE {'YDIM' if dim == ydim else 'XDIM'} "
                               f"in {gf.path}); its dimensions are {tuple(map(str, dom.dims))}")
        lat = _grid_axis(dom, types["LAT"], dpath, ydim, xdim, 0)
        lon = _grid_axis(dom, types["LON"], dpath, ydim, xdim, 1)
        sizes = {ydim: lat.size, xdim: lon.size}
        check_variable(dom, types["MASK"], dpath, "domain file", (ydim, xdim), sizes)
        for t in ("AREA", "FRAC"):
            if types[t] in dom.variables:
                check_variable(dom, types[t], dpath, "domain file", (ydim, xdim), sizes)
        mask = np.asarray(dom[types["MASK"]].fillna(0).values)
    own = params is None
    p = open_netcdf(ppath, "parameter file") if own else params
    try:
        if "run_cell" not in p.variables:
            raise VICError(f"{ppath}: parameter file lacks variable 'run_cell' (int over lat, lon; 1 = simulate)")
        for name, ref in (("lat", lat), ("lon", lon)):
            if name in p.variables:
                v = np.asarray(p[name].values, float)
                if v.ndim == 2 and v.shape == mask.shape:
                    v = v[:, 0] if name == "lat" else v[0, :]
                if v.shape != ref.shape:
                    raise VICError(f"{ppath}: {name} of the parameter file has {v.size} values, the domain file "
                                   f"{dpath} {ref.size}: the two files are not on the same grid")
                if not np.allclose(v, ref, atol=1e-6):
                    raise VICError(f"{ppath}: {name} of the parameter file ({v.min():.4f}..{v.max():.4f}) differs "
                                   f"from the domain file {dpath} ({ref.min():.4f}..{ref.max():.4f})")
        check_parameter_dims(p, ppath, ydim, xdim, mask.shape, names=["run_cell"])
        run_cell = np.asarray(p["run_cell"].fillna(0).values)
    finally:
        if own:
            p.close()
    grid = VicGrid(lat=lat, lon=lon, mask=mask.astype(int), run_cell=run_cell.astype(int),
                   ydim=ydim, xdim=xdim)
    if not grid.active.any():
        raise VICError(f"{ppath}: no cell has run_cell == 1 inside the domain mask of {dpath}")
    return grid


def _axis(index: np.ndarray, values: np.ndarray, n: int, what: str) -> np.ndarray:
    out = np.full(n, np.nan)
    for i in np.unique(index):
        v = values[index == i]
        if np.ptp(v) > 1e-6:
            raise VICError(f"region cells of {what} index {i} have different coordinates ({v.min()}..{v.max()}); "
                           "the export needs a regular lat/lon grid")
        out[i] = v[0]
    have = np.isfinite(out)
    if not have.all():
        if have.sum() < 2:
            raise VICError(f"cannot place the grid's {what}s: fewer than two of them have cells")
        k, b = np.polyfit(np.flatnonzero(have), out[have], 1)
        out[~have] = k * np.flatnonzero(~have) + b
    return out


def region_grid(region: Region) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(lat (ny,), lon (nx,), rows, cols)`` of the Region's cells (see the module docstring)."""
    ds = region.ds
    lat = np.asarray(ds["lat"].values, float)
    lon = np.asarray(ds["lon"].values, float)
    if "row" in ds.coords and "col" in ds.coords:
        rows = np.asarray(ds["row"].values, int)
        cols = np.asarray(ds["col"].values, int)
    else:
        ulat, ulon = np.unique(np.round(lat, 6)), np.unique(np.round(lon, 6))
        rows = np.searchsorted(ulat, np.round(lat, 6))
        cols = np.searchsorted(ulon, np.round(lon, 6))
    ny, nx = int(rows.max()) + 1, int(cols.max()) + 1
    if "vic_grid_shape" in ds.attrs:
        shape = json.loads(ds.attrs["vic_grid_shape"])
        ny, nx = max(ny, int(shape[0])), max(nx, int(shape[1]))
    if len(set(zip(rows.tolist(), cols.tolist()))) != len(rows):
        raise VICError("several region cells share a grid position (row, col)")
    return _axis(rows, lat, ny, "row"), _axis(cols, lon, nx, "column"), rows, cols


def cell_area(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Area (m2) of each cell of a regular lat/lon grid ``(ny, nx)`` on a sphere of radius 6371 km."""
    r = 6371000.0
    dlat = np.deg2rad(abs(np.median(np.diff(lat)))) if lat.size > 1 else np.deg2rad(0.125)
    dlon = np.deg2rad(abs(np.median(np.diff(lon)))) if lon.size > 1 else np.deg2rad(0.125)
    return (r * r * dlat * dlon * np.cos(np.deg2rad(lat)))[:, None] * np.ones((1, lon.size))


__all__ = ["VicGrid", "cell_area", "cell_ids", "cell_mask", "check_netcdf_file", "open_netcdf", "read_grid",
           "region_grid"]
