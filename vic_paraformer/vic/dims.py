"""The dimensions of the variables of a VIC 5 image-driver setup, and the check that names a misshapen one.

The image driver reads every parameter-file variable over the domain grid (``lat``, ``lon``; the
names the global file's ``DOMAIN_TYPE YDIM`` / ``XDIM`` give), with leading dimensions by kind of
variable: soil layers (``nlayer``), vegetation classes (``veg_class``, with ``root_zone`` or
``month``), snow bands (``snow_band``), lake nodes (``lake_node``). :data:`PARAMETER_DIMS` lists them
(as the sample setups and VIC 5.1's ``vic_init.c`` have them); the domain file's ``mask``, ``area``,
``frac`` are over the grid and forcing variables over ``(time, lat, lon)``.

:func:`check_variable` raises :class:`~vic_paraformer.errors.VICError` naming the file, the variable,
its dims and shape and the expected ones, e.g. ``params.nc: parameter file variable 'expt' has dims
(lat, lon), shape (3, 5); expected (nlayer, lat, lon), shape (3, 3, 5)``, before numpy or xarray
would fail on it with a message about arrays. A leading dimension under another name is accepted
when its size is right (VIC takes the sizes by position); a grid dimension in the wrong place
(``(lon, lat)``) is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import xarray as xr

from ..errors import VICError

_SOIL = ("expt", "Ksat", "phi_s", "init_moist", "depth", "bubble", "quartz", "bulk_density", "soil_density",
         "Wcr_FRACT", "Wpwp_FRACT", "resid_moist", "organic", "bulk_density_org", "soil_density_org")
_VEG = ("Cv", "overstory", "rarc", "rmin", "wind_h", "RGL", "rad_atten", "wind_atten", "trunk_ratio")
_VEG_MONTH = ("LAI", "albedo", "veg_rough", "displacement", "fcanopy")
_GRID = ("run_cell", "gridcell", "Nveg", "infilt", "Ds", "Dsmax", "Ws", "c", "elev", "avg_T", "dp", "off_gmt",
         "rough", "snow_rough", "annual_prec", "fs_active", "July_Tavg", "max_snow_distrib_slope", "frost_slope",
         "lake_idx", "numnod", "mindepth", "depth_in", "rpercent", "wfrac")

#: Parameter-file variable -> its dimensions before the grid's two.
PARAMETER_DIMS: Mapping[str, tuple[str, ...]] = {
    **{v: () for v in _GRID},
    **{v: ("nlayer",) for v in _SOIL},
    **{v: ("veg_class",) for v in _VEG},
    **{v: ("veg_class", "month") for v in _VEG_MONTH},
    "root_depth": ("veg_class", "root_zone"), "root_fract": ("veg_class", "root_zone"),
    "AreaFract": ("snow_band",), "elevation": ("snow_band",), "Pfactor": ("snow_band",),
    "basin_depth": ("lake_node",), "basin_area": ("lake_node",),
}
#: Domain-file variables over the grid.
DOMAIN_GRID_VARS: tuple[str, ...] = ("mask", "area", "frac")


def _fmt(dims: Sequence[str]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + (",)" if len(dims) == 1 else ")")


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + (",)" if len(shape) == 1 else ")")


def check_variable(ds: xr.Dataset, name: str, path: str | Path, what: str, expected: Sequence[str],
                   sizes: Mapping[str, int]) -> None:
    """Raise VICError unless ``ds[name]`` has the dimensions ``expected`` with the sizes ``sizes`` (a
    leading dimension under another name passes when its size is right; see the module docstring).

    ``what`` names the file in the message (``"parameter file"``); ``sizes`` maps each expected
    dimension to its size (a size not known is taken from ``ds``).
    """
    var = ds[name]
    want = tuple(int(sizes[d]) if d in sizes else int(ds.sizes.get(d, -1)) for d in expected)
    dims, shape = tuple(str(d) for d in var.dims), tuple(int(n) for n in var.shape)
    same = len(dims) == len(expected) and shape == want and all(
        d == e or d not in expected for d, e in zip(dims, expected))
    if not same:
        raise VICError(f"{path}: {what} variable {name!r} has dims {_fmt(dims)}, shape {_shape(shape)}; expected "
                       f"{_fmt(expected)}, shape {_shape(want)}")


def check_parameter_dims(p: xr.Dataset, path: str | Path, ydim: str, xdim: str, grid_shape: tuple[int, int],
                         names: Sequence[str] | None = None) -> None:
    """Check every variable of :data:`PARAMETER_DIMS` the parameter file ``p`` has (or those of ``names``)."""
    sizes = {ydim: grid_shape[0], xdim: grid_shape[1]}
    for name in (names if names is not None else PARAMETER_DIMS):
        if name in p.variables and name in PARAMETER_DIMS:
            check_variable(p, name, path, "parameter file", PARAMETER_DIMS[name] + (ydim, xdim), sizes)


__all__ = ["DOMAIN_GRID_VARS", "PARAMETER_DIMS", "check_parameter_dims", "check_variable"]
