"""Daily meteorology formulas (simulator layer): potential evapotranspiration and top-of-atmosphere
radiation.

Public and shared: the ``waterbalance`` stand-in computes its potential ET with
:func:`potential_et`, and the synthetic twin (:mod:`vic_paraformer.synthetic`) uses the same
:func:`potential_et` for its aridity attribute and :func:`extraterrestrial_radiation` for its
shortwave forcing. Units follow the Region: air temperature degC, radiation W m-2, pressure kPa.
"""

from __future__ import annotations

import math

import numpy as np
import torch

PT_ALPHA = 1.26            # Priestley-Taylor coefficient (-)
ALBEDO = 0.23              # surface albedo used for net shortwave (-)
EMISSIVITY = 0.97          # surface emissivity (-)
STEFAN_BOLTZMANN = 5.670374419e-8  # W m-2 K-4
LAMBDA_V = 2.45            # latent heat of vaporisation (MJ kg-1)

__all__ = ["PT_ALPHA", "ALBEDO", "EMISSIVITY", "STEFAN_BOLTZMANN", "LAMBDA_V", "saturation_vapour_pressure",
           "potential_et", "extraterrestrial_radiation"]


def saturation_vapour_pressure(t):
    """Tetens saturation vapour pressure (kPa) at air temperature ``t`` (degC)."""
    return 0.6108 * torch.exp(17.27 * t / (t + 237.3))


def potential_et(forcing: torch.Tensor) -> torch.Tensor:
    """Priestley-Taylor potential evapotranspiration (mm/day) from forcing ``(..., 7)``.

    ``Rn = (1 - albedo) swdown + emissivity (lwdown - sigma (T + 273.15)^4)`` (W m-2, daily mean,
    ground heat flux neglected); ``PET = alpha Delta / (Delta + gamma) Rn 0.0864 / lambda``,
    ``Delta = 4098 e_s(T) / (T + 237.3)^2``, ``gamma = 0.000665 pressure`` (kPa K-1), clipped at 0.
    """
    t = forcing[..., 1]
    sw = forcing[..., 2]
    lw = forcing[..., 3]
    pres = forcing[..., 4]
    rn = (1.0 - ALBEDO) * sw + EMISSIVITY * (lw - STEFAN_BOLTZMANN * (t + 273.15) ** 4)
    delta = 4098.0 * saturation_vapour_pressure(t) / (t + 237.3) ** 2
    gamma = 0.000665 * pres
    pet = PT_ALPHA * delta / (delta + gamma) * rn * 0.0864 / LAMBDA_V
    return pet.clamp_min(0.0)


def extraterrestrial_radiation(lat_deg, doy):
    """Daily top-of-atmosphere shortwave (W m-2) for latitude (deg) and day of year (FAO-56 eq. 21)."""
    phi = np.deg2rad(lat_deg)
    dr = 1 + 0.033 * np.cos(2 * math.pi * doy / 365.0)
    dec = 0.409 * np.sin(2 * math.pi * doy / 365.0 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1.0, 1.0))
    ra = 24 * 60 / math.pi * 0.0820 * dr * (ws * np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.sin(ws))
    return ra / 0.0864  # MJ m-2 day-1 -> W m-2
