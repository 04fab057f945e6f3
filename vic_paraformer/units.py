"""Units of forcing and observations: plausible ranges, likely mistakes, explicit conversion.

A Region holds daily values in fixed units (VIC's). :class:`~vic_paraformer.region.Region` checks
every variable against the table below when it is built; a variable outside its range is an error
that names the cell and day and, when the values match a common other unit, that unit::

    variable   unit      plausible range    typical mistake recognised (an error)
    ---------  --------  -----------------  --------------------------------------------------------
    prec       mm/day    0 .. 2000          m/day or kg m-2 s-1 (annual total below 5 mm), mm/h sums
    air_temp   degC      -90 .. 70          K (mean above 150)
    swdown     W m-2     0 .. 1500          J m-2 day-1 or hourly sums (above 1500), negative values
    lwdown     W m-2     40 .. 700          J m-2 day-1 (above 700), negative values
    pressure   kPa       20 .. 120          Pa (mean above 5000), hPa / mbar (mean 200 .. 5000)
    vp         kPa       0 .. 15            Pa (mean above 100), hPa / mbar (mean 15 .. 100)
    wind       m s-1     0 .. 100           negative speeds (components instead of speed?)
    obs_sm     m3 m-3    0 .. 1             percent (above 1); above the cell's porosity: warning
    obs_et     mm/day    0 .. 50            W m-2 latent heat (above 50), m/day (all below 0.05)

The same table (:data:`RANGES`) bounds the forcing a VIC import accepts. Annual precipitation
(mean over cells) must lie between 5 and 15000 mm/year. Negative values of a
non-negative variable, a recognised unit mistake, precipitation above 2000 mm/day and soil moisture
outside 0..1 are errors; other values outside the plausible range are logged as warnings (idealised
experiments may use them).

Data in other units is converted only when asked: give the variable a ``units`` attribute from
:data:`CONVERSIONS` (e.g. ``air_temp.attrs["units"] = "K"``) or call :func:`convert_units` with
``{"air_temp": "K"}``; each conversion is logged. Values are never rescaled by guessing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import logging
from typing import Callable, Mapping

import numpy as np

if TYPE_CHECKING:  # xarray is loaded by the callers that pass datasets: the CLI's listing stays light
    import xarray as xr

log = logging.getLogger(__name__)

#: Canonical unit of each variable, and the spellings accepted for it.
CANONICAL: dict[str, tuple[str, ...]] = {
    "prec": ("mm/day", "mm day-1", "mm d-1", "mm/d", "kg m-2 day-1", "kg m-2 d-1", "mm"),
    "air_temp": ("degC", "C", "°C", "deg C", "degrees_C", "degree_Celsius", "celsius", "Celsius"),
    "swdown": ("W m-2", "W/m2", "W m^-2", "W/m^2", "Wm-2"),
    "lwdown": ("W m-2", "W/m2", "W m^-2", "W/m^2", "Wm-2"),
    "pressure": ("kPa",),
    "vp": ("kPa",),
    "wind": ("m s-1", "m/s", "m s^-1", "ms-1"),
    "obs_sm": ("m3 m-3", "m3/m3", "m^3 m^-3", "m3m-3", "1", "", "fraction"),
    "obs_et": ("mm/day", "mm day-1", "mm d-1", "mm/d", "kg m-2 day-1", "kg m-2 d-1"),
}

#: Other units that :func:`convert_units` (and a ``units`` attribute) convert from.
CONVERSIONS: dict[str, dict[str, Callable[[np.ndarray], np.ndarray]]] = {
    "prec": {"m/day": lambda v: v * 1000.0, "kg m-2 s-1": lambda v: v * 86400.0, "mm/s": lambda v: v * 86400.0,
             "mm s-1": lambda v: v * 86400.0, "cm/day": lambda v: v * 10.0, "in/day": lambda v: v * 25.4},
    "air_temp": {"K": lambda v: v - 273.15, "degF": lambda v: (v - 32.0) * 5.0 / 9.0, "F": lambda v: (v - 32.0) * 5.0 / 9.0},
    "swdown": {"J m-2 day-1": lambda v: v / 86400.0, "MJ m-2 day-1": lambda v: v * 1e6 / 86400.0},
    "lwdown": {"J m-2 day-1": lambda v: v / 86400.0, "MJ m-2 day-1": lambda v: v * 1e6 / 86400.0},
    "pressure": {"Pa": lambda v: v / 1000.0, "hPa": lambda v: v / 10.0, "mbar": lambda v: v / 10.0,
                 "mb": lambda v: v / 10.0},
    "vp": {"Pa": lambda v: v / 1000.0, "hPa": lambda v: v / 10.0, "mbar": lambda v: v / 10.0, "mb": lambda v: v / 10.0},
    "wind": {"km/h": lambda v: v / 3.6, "km h-1": lambda v: v / 3.6},
    "obs_sm": {"%": lambda v: v / 100.0, "percent": lambda v: v / 100.0},
    "obs_et": {"m/day": lambda v: v * 1000.0, "kg m-2 s-1": lambda v: v * 86400.0, "mm/s": lambda v: v * 86400.0,
               "W m-2": lambda v: v * 86400.0 / 2.45e6},
}

#: Plausible range of each daily variable in its canonical unit: the Region's checks, and the VIC
#: importer's (:mod:`vic_paraformer.vic.importer` rejects VIC forcing outside it, a unit mistake VIC
#: would make too). ``lwdown`` 40..700 W m-2: daily-mean downward longwave at the surface runs from
#: about 60-100 W m-2 (Antarctic plateau in winter) to about 450-500 W m-2 (humid tropics); the
#: emission of a 50 degC black-body sky is 618 W m-2, so 700 leaves headroom, and a clear sky at
#: -80 degC (emissivity 0.6) still gives about 47 W m-2.
RANGES: dict[str, tuple[float, float]] = {
    "prec": (0.0, 2000.0), "air_temp": (-90.0, 70.0), "swdown": (0.0, 1500.0), "lwdown": (40.0, 700.0),
    "pressure": (20.0, 120.0), "vp": (0.0, 15.0), "wind": (0.0, 100.0), "obs_sm": (0.0, 1.0), "obs_et": (0.0, 50.0),
}
UNITS: dict[str, str] = {k: v[0] for k, v in CANONICAL.items()}
ANNUAL_PREC_RANGE = (5.0, 15000.0)


def likely_mistake(name: str, values: np.ndarray) -> str | None:
    """A hint naming the unit the values look like, or None."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    mean, vmin, vmax = float(v.mean()), float(v.min()), float(v.max())
    if name == "air_temp" and mean > 150:
        return f"mean {mean:.0f}: looks like K; expected degC (subtract 273.15, or set units='K')"
    if name == "pressure":
        if mean > 5000:
            return f"mean {mean:.0f}: looks like Pa; expected kPa (divide by 1000, or set units='Pa')"
        if mean > 200:
            return f"mean {mean:.0f}: looks like hPa (mbar); expected kPa (divide by 10, or set units='hPa')"
    if name == "vp":
        if mean > 100:
            return f"mean {mean:.0f}: looks like Pa; expected kPa (divide by 1000, or set units='Pa')"
        if mean > 15:
            return f"mean {mean:.1f}: looks like hPa (mbar); expected kPa (divide by 10, or set units='hPa')"
    if name in ("swdown", "lwdown"):
        if vmin < 0:
            return f"minimum {vmin:g}: radiation is never negative (a net flux, or the sign convention?)"
        if mean > 5000:
            return f"mean {mean:.3g}: looks like J m-2 per day; expected W m-2 (set units='J m-2 day-1')"
    if name == "wind" and vmin < 0:
        return f"minimum {vmin:g}: looks like a wind component; expected the speed (>= 0)"
    if name == "obs_sm" and vmax > 1 and vmax <= 100:
        return f"maximum {vmax:g}: looks like percent; expected m3 m-3 (divide by 100, or set units='%')"
    if name == "obs_et":
        if vmin < 0:
            return f"minimum {vmin:g}: ET is counted upward positive"
        if vmax > 50:
            return f"maximum {vmax:g}: looks like W m-2 of latent heat; expected mm/day (set units='W m-2')"
    if name == "prec" and vmin < 0:
        return f"negative precipitation (minimum {vmin:g}); expected >= 0"
    return None


def convert_units(ds: xr.Dataset, units: Mapping[str, str] | None = None) -> xr.Dataset:
    """Convert variables to the Region's units, from ``units`` (name -> unit) or their ``units`` attribute.

    Variables whose unit is canonical are left alone; a unit neither canonical nor in
    :data:`CONVERSIONS` raises :class:`~vic_paraformer.errors.RegionError`. Each conversion is logged
    and the variable's ``units`` attribute updated, so converting twice is harmless.
    """
    from .errors import RegionError

    out = ds
    for name in CANONICAL:
        if name not in ds:
            continue
        explicit = units is not None and name in units
        unit = units[name] if explicit else ds[name].attrs.get("units")
        if unit is None:
            continue
        unit = str(unit).strip()
        if unit in CANONICAL[name] or unit.lower() in {u.lower() for u in CANONICAL[name]}:
            continue
        conv = CONVERSIONS.get(name, {}).get(unit)
        if conv is None:
            if not explicit:
                log.warning("%s: units attribute %r not recognised; values are taken as %s and range-checked",
                            name, unit, UNITS[name])
                continue
            known = ", ".join(list(CANONICAL[name][:1]) + list(CONVERSIONS.get(name, {})))
            raise RegionError(f"cannot convert {name!r} from {unit!r}; known units: {known}")
        if out is ds:
            out = ds.copy()
        attrs = {**ds[name].attrs, "units": UNITS[name], "converted_from": unit}
        new = conv(ds[name].astype(np.float64)).astype(ds[name].dtype)  # lazy when ds is
        new.attrs = attrs
        out[name] = new
        log.info("converted %s from %s to %s", name, unit, UNITS[name])
    return out
