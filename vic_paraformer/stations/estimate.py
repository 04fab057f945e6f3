"""Forcing a station does not measure, estimated by documented formulas (numpy, daily values).

* **pressure** (kPa) from elevation ``z`` (m), the standard atmosphere (FAO-56 eq. 7):
  ``p = 101.3 ((293 - 0.0065 z) / 293) ** 5.26``.
* **vapour pressure** (kPa) from relative humidity (%) and air temperature (degC):
  ``vp = rh / 100 * e_s(T)`` with the Tetens saturation vapour pressure
  ``e_s(T) = 0.6108 exp(17.27 T / (T + 237.3))`` (FAO-56 eq. 11; the same as
  :func:`vic_paraformer.simulators.meteorology.saturation_vapour_pressure`).
* **longwave** (W m-2), only where no longwave is measured: Brutsaert (1975) clear-sky emissivity
  ``eps_clr = 1.24 (e_a / T_K) ** (1/7)`` (``e_a`` in hPa, ``T_K`` in K), corrected for cloud with the
  Crawford and Duchon (1999) cloud fraction ``c = 1 - s``, where ``s`` is the clearness ratio of the
  day's shortwave to the clear-sky shortwave ``R_so = (0.75 + 2e-5 z) R_a`` (FAO-56 eq. 37, ``R_a``
  the top-of-atmosphere radiation of
  :func:`~vic_paraformer.simulators.meteorology.extraterrestrial_radiation`), clipped to [0, 1]:
  ``eps = c + (1 - c) eps_clr`` and ``L = eps sigma T_K ** 4``.
"""

from __future__ import annotations

import numpy as np

from ..simulators.meteorology import STEFAN_BOLTZMANN, extraterrestrial_radiation

__all__ = ("standard_pressure", "saturation_vp", "vp_from_rh", "clear_sky_shortwave", "top_of_atmosphere",
           "longwave_brutsaert")


def standard_pressure(elevation_m) -> np.ndarray:
    """Surface pressure (kPa) of the standard atmosphere at ``elevation_m`` metres (FAO-56 eq. 7)."""
    z = np.asarray(elevation_m, float)
    return 101.3 * ((293.0 - 0.0065 * z) / 293.0) ** 5.26


def saturation_vp(t_c) -> np.ndarray:
    """Tetens saturation vapour pressure (kPa) at ``t_c`` degC."""
    t = np.asarray(t_c, float)
    return 0.6108 * np.exp(17.27 * t / (t + 237.3))


def vp_from_rh(rh_percent, t_c) -> np.ndarray:
    """Vapour pressure (kPa) from relative humidity (%) and air temperature (degC)."""
    return np.asarray(rh_percent, float) / 100.0 * saturation_vp(t_c)


def top_of_atmosphere(lat_deg, days) -> np.ndarray:
    """Daily top-of-atmosphere shortwave ``R_a`` (W m-2), ``(station, day)``, for latitudes and days."""
    doy = np.asarray([d.day_of_year for d in days], float)
    return np.asarray(extraterrestrial_radiation(np.asarray(lat_deg, float)[:, None], doy[None, :]), float)


def clear_sky_shortwave(ra, elevation_m) -> np.ndarray:
    """Clear-sky shortwave ``R_so = (0.75 + 2e-5 z) R_a`` (W m-2; FAO-56 eq. 37)."""
    return (0.75 + 2e-5 * np.asarray(elevation_m, float)[..., None]) * np.asarray(ra, float)


def longwave_brutsaert(t_c, vp_kpa, swdown, ra, elevation_m) -> np.ndarray:
    """Downward longwave (W m-2) by Brutsaert's clear sky and a clearness-index cloud factor (see
    the module docstring); arrays ``(station, day)``, ``elevation_m`` per station."""
    tk = np.asarray(t_c, float) + 273.15
    ea_hpa = np.maximum(np.asarray(vp_kpa, float), 1e-4) * 10.0
    eps_clr = 1.24 * (ea_hpa / tk) ** (1.0 / 7.0)
    rso = clear_sky_shortwave(ra, elevation_m)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(rso > 1.0, np.asarray(swdown, float) / rso, 1.0)
    c = 1.0 - np.clip(np.nan_to_num(s, nan=1.0), 0.0, 1.0)
    eps = np.clip(c + (1.0 - c) * eps_clr, 0.0, 1.0)
    return eps * STEFAN_BOLTZMANN * tk ** 4
