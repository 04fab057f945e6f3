"""CF variables that hold soil moisture or evapotranspiration: recognising them and their units.

Recognised (see :mod:`~vic_paraformer.readers.cfgrid` for the reader):

* soil moisture as a volume fraction: ``standard_name`` ``volume_fraction_of_condensed_water_in_soil``
  (units m3 m-3, cm3 cm-3, ``1`` or percent), or, without a standard name, volume-fraction units,
  or percent with a name or long_name saying soil moisture;
* soil moisture content (kg m-2): ``soil_moisture_content``, ``mass_content_of_water_in_soil_layer``,
  ``mass_content_of_water_in_soil``, ``moisture_content_of_soil_layer``, converted with the layer
  thickness as ``theta = content / (1000 kg m-3 * thickness)``;
* evapotranspiration: ``water_evapotranspiration_flux`` or, without a standard name, a rate in
  mm/day, mm h-1 or kg m-2 s-1, converted to mm/day. Latent heat (W m-2) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ObservationError
from .base import ReadOptions

SM_VOLUME_NAMES = ("volume_fraction_of_condensed_water_in_soil",)
SM_MASS_NAMES = ("soil_moisture_content", "mass_content_of_water_in_soil_layer", "mass_content_of_water_in_soil",
                 "moisture_content_of_soil_layer")
ET_NAMES = ("water_evapotranspiration_flux",)
LATENT_HEAT_NAMES = ("surface_upward_latent_heat_flux", "surface_latent_heat_flux")
VOLUME_UNITS = {"m3m-3", "m3/m3", "m^3/m^3", "m**3/m**3", "m3.m-3", "cm3cm-3", "cm3/cm3", "cm**3/cm**3", "cm^3/cm^3"}
PERCENT_UNITS = {"%", "percent", "%vol", "vol%", "%(v/v)"}
MASS_UNITS = {"kgm-2", "kg/m2", "kg/m^2", "kgm**-2", "kgm^-2", "mm"}
ET_UNITS = {"mm/day": 1.0, "mmday-1": 1.0, "mmd-1": 1.0, "mm/d": 1.0, "kgm-2day-1": 1.0, "kgm-2d-1": 1.0,
            "mmday^-1": 1.0, "kgm-2s-1": 86400.0, "kg/m2/s": 86400.0, "kgm-2s^-1": 86400.0, "kgm**-2s**-1": 86400.0,
            "mms-1": 86400.0, "mm/s": 86400.0, "mm/h": 24.0, "mmh-1": 24.0, "mmhr-1": 24.0, "kgm-2h-1": 24.0}
RANGES = {"obs_sm": (0.0, 1.0), "obs_et": (0.0, 50.0)}


def _norm_units(u: Any) -> str:
    return str(u or "").strip().lower().replace(" ", "")


def classify(name: str, var: xr.DataArray) -> tuple[str, str] | None:
    """``(observation, kind)`` of a variable, kind one of volume, percent, mass, et; None if neither."""
    sn = str(var.attrs.get("standard_name", "")).strip().lower()
    units = _norm_units(var.attrs.get("units"))
    text = f"{name} {var.attrs.get('long_name', '')}".lower()
    if sn in LATENT_HEAT_NAMES:
        return None
    if sn in SM_VOLUME_NAMES:
        return ("obs_sm", "percent" if units in PERCENT_UNITS else "volume")
    if sn in SM_MASS_NAMES:
        return ("obs_sm", "mass")
    if sn in ET_NAMES:
        return ("obs_et", "et")
    if sn:
        return None
    if units in VOLUME_UNITS:
        return ("obs_sm", "volume")
    if units in PERCENT_UNITS and ("soil moisture" in text or "soil_moisture" in text):
        return ("obs_sm", "percent")
    if units in ET_UNITS and units not in ("mms-1", "mm/s"):
        return ("obs_et", "et")
    return None


def conversion_factor(f: Path, vname: str, var: xr.DataArray, kind: str, layer, options: ReadOptions) -> float:
    """The factor turning ``var`` (of ``kind``, see :func:`classify`) into m3 m-3 or mm/day; ``layer`` the
    layer's (top, bottom) depth in metres when known. ObservationError naming ``f`` and ``vname`` when
    the units cannot be converted."""
    units = _norm_units(var.attrs.get("units"))
    if kind == "volume":
        if units not in VOLUME_UNITS | {"", "1", "fraction", "m3m-3"}:
            raise ObservationError(f"{f}: variable {vname!r} is a volume fraction in {var.attrs.get('units')!r}; "
                                   f"expected m3 m-3, 1 or %")
        return 1.0
    if kind == "percent":
        return 0.01
    if kind == "mass":
        thick = options.extra.get("layer_thickness_m")
        if thick is None and layer is not None:
            thick = layer[1] - layer[0]
        if units not in MASS_UNITS:
            raise ObservationError(f"{f}: variable {vname!r} is soil moisture content in {var.attrs.get('units')!r}; "
                                   f"expected kg m-2")
        if not thick or float(thick) <= 0:
            raise ObservationError(f"{f}: variable {vname!r} is soil moisture content in kg m-2 and its layer "
                                   f"thickness is unknown; give the depth coordinate bounds or the option "
                                   f"layer_thickness_m")
        return 1.0 / (1000.0 * float(thick))
    if units in ("wm-2", "w/m2", "wm**-2"):
        raise ObservationError(f"{f}: variable {vname!r} is in W m-2 (latent heat); expected an evapotranspiration "
                               f"flux in kg m-2 s-1 or mm/day")
    if units not in ET_UNITS:
        raise ObservationError(f"{f}: variable {vname!r} is in {var.attrs.get('units')!r}; expected kg m-2 s-1 or "
                               f"mm/day")
    return ET_UNITS[units]


def valid_limits(var: xr.DataArray) -> tuple[float, float]:
    """``(valid_min, valid_max)`` of a decoded variable in its decoded units (+-inf when absent)."""
    attrs = {**var.encoding, **var.attrs}
    vr = attrs.get("valid_range")
    lo = attrs.get("valid_min", vr[0] if vr is not None else -np.inf)
    hi = attrs.get("valid_max", vr[1] if vr is not None else np.inf)
    scale = float(var.encoding.get("scale_factor", 1.0))
    offset = float(var.encoding.get("add_offset", 0.0))
    if "scale_factor" in var.encoding or "add_offset" in var.encoding:
        lo, hi = float(lo) * scale + offset, float(hi) * scale + offset
    return float(lo), float(hi)


__all__ = ("classify", "conversion_factor", "valid_limits", "RANGES", "LATENT_HEAT_NAMES")
