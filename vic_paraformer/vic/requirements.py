"""Which parameter-file variables the VIC 5.1 image driver reads for the options of a global file.

The image driver (``vic_init.c``, ``vic_start.c``, ``get_global_domain.c`` of VIC 5.1) reads some
variables always and others only for certain global-file options. :func:`parameter_requirements`
lists them for a :class:`~vic_paraformer.vic.globalfile.GlobalParamFile`;
:func:`check_parameter_file` raises a :class:`~vic_paraformer.errors.VICError` naming the user's
parameter file, the first missing variable or dimension and the option that needs it, so the
problem shows up before any run instead of as VIC's own error about a run copy.

Options are read as the image driver reads them: booleans ``TRUE``/``FALSE`` (default ``FALSE``),
``LAI_SRC`` / ``ALB_SRC`` default ``FROM_VEGLIB``, ``FCAN_SRC`` default ``FROM_DEFAULT``,
``SPATIAL_FROST TRUE n``, ``SNOW_BAND TRUE`` (the count comes from the ``snow_band`` dimension).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import xarray as xr

from ..errors import VICError
from .globalfile import GlobalParamFile
from .grid import open_netcdf

#: Read by the image driver whatever the options.
ALWAYS: tuple[str, ...] = (
    "run_cell", "Nveg",
    # vegetation library (per veg class)
    "overstory", "rarc", "rmin", "wind_h", "RGL", "rad_atten", "wind_atten", "trunk_ratio", "veg_rough",
    "displacement",
    # soil
    "infilt", "Ds", "Dsmax", "Ws", "c", "expt", "Ksat", "init_moist", "phi_s", "elev", "depth", "avg_T", "dp",
    "bubble", "quartz", "bulk_density", "soil_density", "Wcr_FRACT", "Wpwp_FRACT", "rough", "snow_rough",
    "annual_prec", "resid_moist", "fs_active",
    # vegetation tiles
    "Cv", "root_depth", "root_fract",
)
#: Dimensions the image driver takes its counts from.
ALWAYS_DIMS: tuple[str, ...] = ("nlayer", "veg_class", "root_zone")

_CONDITIONAL: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("MAX_SNOW_ALBEDO", "TRUE", ("max_snow_albedo",)),
    ("CARBON", "TRUE", ("Ctype", "MaxCarboxRate", "MaxiE_or_CO2Spec", "LUE", "Nscale", "Wnpp_inhib",
                        "NPPfactor_sat")),
    ("ORGANIC_FRACT", "TRUE", ("organic", "soil_density_org")),
    ("BULK_DENSITY_COMB", "TRUE", ("bulk_density_comb",)),
    ("SPATIAL_SNOW", "TRUE", ("max_snow_distrib_slope",)),
    ("SPATIAL_FROST", "TRUE", ("frost_slope",)),
    ("SNOW_BAND", "TRUE", ("AreaFract", "elevation", "Pfactor")),
    ("BLOWING", "TRUE", ("sigma_slope", "lag_one", "fetch")),
    ("LAKES", "TRUE", ("lake_idx", "numnod", "mindepth", "wfrac", "depth_in", "rpercent", "basin_depth",
                       "basin_area")),
)


def _flag(gf: GlobalParamFile, key: str) -> str:
    tok = gf.values(key, required=False)
    return tok[0].upper() if tok else ""


def parameter_requirements(gf: GlobalParamFile) -> dict[str, str]:
    """``{variable or dimension: why}`` for everything the image driver reads from PARAMETERS."""
    need: dict[str, str] = {v: "always read by the image driver" for v in ALWAYS}
    for d in ALWAYS_DIMS:
        need[f"dimension {d}"] = "always read by the image driver"
    for key, value, names in _CONDITIONAL:
        if _flag(gf, key) == value:
            for n in names:
                need[n] = f"{key} {value} in the global file"
    if _flag(gf, "SNOW_BAND") == "TRUE":
        need["dimension snow_band"] = "SNOW_BAND TRUE in the global file"
    if _flag(gf, "LAKES") == "TRUE":
        need["dimension lake_node"] = "LAKES TRUE in the global file"
    if _flag(gf, "ORGANIC_FRACT") == "TRUE" and _flag(gf, "BULK_DENSITY_COMB") != "TRUE":
        need["bulk_density_org"] = "ORGANIC_FRACT TRUE (without BULK_DENSITY_COMB) in the global file"
    lai = _flag(gf, "LAI_SRC") or "FROM_VEGLIB"
    if lai in ("FROM_VEGLIB", "FROM_VEGPARAM"):
        need["LAI"] = f"LAI_SRC {lai}"
    alb = _flag(gf, "ALB_SRC") or "FROM_VEGLIB"
    if alb in ("FROM_VEGLIB", "FROM_VEGPARAM"):
        need["albedo"] = f"ALB_SRC {alb}"
    fcan = _flag(gf, "FCAN_SRC") or "FROM_DEFAULT"
    if fcan in ("FROM_VEGLIB", "FROM_VEGPARAM"):
        need["fcanopy"] = f"FCAN_SRC {fcan}"
    return need


def missing_requirements(gf: GlobalParamFile, params: xr.Dataset) -> dict[str, str]:
    """The entries of :func:`parameter_requirements` that ``params`` lacks."""
    out = {}
    for name, why in parameter_requirements(gf).items():
        if name.startswith("dimension "):
            if name.split(" ", 1)[1] not in params.dims:
                out[name] = why
        elif name not in params.variables:
            out[name] = why
    return out


def check_parameter_file(gf: GlobalParamFile, path: str | Path, params: xr.Dataset | None = None) -> None:
    """Raise VICError naming ``path`` if it lacks anything the image driver reads for ``gf``'s options."""
    path = Path(path)
    own = params is None
    if own:
        params = open_netcdf(path, "parameter file")
    try:
        missing = missing_requirements(gf, params)
    finally:
        if own:
            params.close()
    if missing:
        items = [f"{n!r} ({why})" for n, why in missing.items()]
        raise VICError(f"{path}: parameter file (PARAMETERS of {gf.path}) lacks {len(items)} item(s) the VIC image "
                       f"driver reads: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}")


__all__: Sequence[str] = ("ALWAYS", "ALWAYS_DIMS", "parameter_requirements", "missing_requirements",
                          "check_parameter_file")
