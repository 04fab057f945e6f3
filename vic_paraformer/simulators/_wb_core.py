"""Tensor core of the ``waterbalance`` simulator: a VIC-style stand-in, NOT VIC.

This module holds the differentiable daily soil water balance used by
:class:`~vic_paraformer.simulators.waterbalance.WaterBalanceSimulator`, by surrogate training
and by gradient-based strategies. Everything is vectorised over a batch ``B`` (cells times
parameter samples); only the days are looped over. See the docstring of
:mod:`vic_paraformer.simulators.waterbalance` for the equations and units.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import torch

from ..errors import SimulatorError
from .meteorology import potential_et

# ---------------------------------------------------------------- constants (documented in waterbalance.py;
# those of potential ET in .meteorology)
T_SNOW = -1.0              # all precipitation is snow below this air temperature (degC)
T_RAIN = 2.0               # all precipitation is rain above this air temperature (degC)
T_MELT = 0.0               # degree-day melt threshold (degC)
DDF = 3.0                  # degree-day melt factor (mm degC-1 day-1)
SNOW_COVER_SWE = 10.0      # SWE (mm) at which the snowpack fully covers the cell (suppresses ET)
WCR_FRACTION = 0.7         # critical moisture W_cr = 0.7 W_fc as in VIC (no transpiration stress above)
N_LAYERS = 3

#: The full parameter vector of the core, in order (:func:`run_waterbalance` also accepts the first
#: four plus one tied ``expt``): layer depths in m, ``Ksat_mult`` scales every layer's ``ksat``.
FULL_PARAMETERS = ("infilt", "Ds", "Dsmax", "Ws", "expt1", "expt2", "expt3", "depth2", "depth3", "Ksat_mult")

#: Order of the daily forcing variables along the last axis (``vic_paraformer.region.FORCING_VARS``).
FORCING_ORDER = ("prec", "air_temp", "swdown", "lwdown", "pressure", "vp", "wind")


@dataclass
class SoilInputs:
    """Static inputs of the water balance, one row per batch element (cell x sample).

    All layer quantities have shape ``(B, 3)`` and are in mm of water (depth times volumetric
    content), except ``depth_mm`` (mm of soil), ``ksat`` (mm/day); ``veg_fraction`` has shape
    ``(B,)`` and ``root_fraction`` ``(B, 3)`` (rows sum to 1).
    """

    depth_mm: torch.Tensor
    wmax: torch.Tensor       # porosity * depth: maximum layer water (mm)
    wfc: torch.Tensor        # field capacity water (mm)
    wwp: torch.Tensor        # wilting point water (mm)
    wres: torch.Tensor       # residual water (mm), drainage and bare-soil evaporation stop here
    ksat: torch.Tensor       # saturated hydraulic conductivity (mm/day)
    veg_fraction: torch.Tensor
    root_fraction: torch.Tensor

    @property
    def batch(self) -> int:
        return int(self.wmax.shape[0])

    def to(self, device=None, dtype=None) -> "SoilInputs":
        """A copy on ``device`` with floating dtype ``dtype``."""
        return SoilInputs(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)})

    def repeat(self, n: int) -> "SoilInputs":
        """Tile the batch ``n`` times (sample-major: row ``s * B + b``)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.repeat(n, *([1] * (v.dim() - 1)))
        return SoilInputs(**out)

    def index(self, idx) -> "SoilInputs":
        """Rows ``idx`` of every field."""
        return SoilInputs(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def coerce(cls, soil: "SoilInputs | Mapping[str, torch.Tensor]") -> "SoilInputs":
        """Accept a SoilInputs or a mapping with the same field names."""
        if isinstance(soil, SoilInputs):
            return soil
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in soil]
        if missing:
            raise SimulatorError(f"soil inputs lack {missing}; expected keys {names}")
        return cls(**{n: torch.as_tensor(soil[n]) for n in names})


def root_fractions_for_depths(root_fraction: torch.Tensor, old_mm: torch.Tensor, new_mm: torch.Tensor
                              ) -> torch.Tensor:
    """Root fractions ``(B, 3)`` of layers ``new_mm`` thick, from ``root_fraction`` of layers ``old_mm`` thick.

    VIC's rule (``calc_root_fractions``): roots are spread evenly within each root zone, a layer gets the
    roots of the depths it spans, and the bottom layer also gets any roots below the soil column. The
    root zones are the layers at their old thicknesses. Unchanged thicknesses give ``root_fraction``
    back; the fractions keep summing to 1."""
    top_old = torch.cumsum(old_mm, dim=1)
    bottom_new = torch.cumsum(new_mm, dim=1)
    density = root_fraction / old_mm                                   # roots per mm within each zone
    upper = bottom_new[:, :2].unsqueeze(2)                             # (B, new layer 1..2, zone)
    lower = (bottom_new - new_mm)[:, :2].unsqueeze(2)
    overlap = (torch.minimum(upper, top_old.unsqueeze(1)) - torch.maximum(lower, (top_old - old_mm).unsqueeze(1)))
    first_two = (overlap.clamp_min(0.0) * density.unsqueeze(1)).sum(dim=2)
    return torch.cat([first_two, (1.0 - first_two.sum(dim=1, keepdim=True)).clamp_min(0.0)], dim=1)


def _with_depths(soil: SoilInputs, depths_m: torch.Tensor, ksat_mult: torch.Tensor) -> SoilInputs:
    """``soil`` with layers 2 and 3 ``depths_m`` thick (m, ``(B, 2)``) and ``ksat`` times ``ksat_mult``.

    Every layer store is a volumetric content times the depth, so each is scaled by the new depth over
    the old one (layer 1 keeps its depth); the roots are redistributed over the new layers as VIC does
    (:func:`root_fractions_for_depths`)."""
    old = soil.depth_mm
    new = torch.cat([old[:, :1], depths_m * 1000.0], dim=1)
    factor = new / old
    return SoilInputs(depth_mm=new, wmax=soil.wmax * factor, wfc=soil.wfc * factor, wwp=soil.wwp * factor,
                      wres=soil.wres * factor, ksat=soil.ksat * ksat_mult.unsqueeze(1),
                      veg_fraction=soil.veg_fraction,
                      root_fraction=root_fractions_for_depths(soil.root_fraction, old, new))


def snowpack(forcing: torch.Tensor, swe0: torch.Tensor | None = None):
    """Degree-day snowpack. Returns ``(liquid_input, swe)`` each ``(B, T)`` in mm/day and mm.

    Rain fraction ramps linearly from 0 at ``T_SNOW`` to 1 at ``T_RAIN``; melt is
    ``min(SWE + snowfall, DDF * max(T - T_MELT, 0))``. Independent of the calibrated parameters.
    """
    prec = forcing[..., 0]
    t = forcing[..., 1]
    frac_rain = ((t - T_SNOW) / (T_RAIN - T_SNOW)).clamp(0.0, 1.0)
    rain = prec * frac_rain
    snowfall = prec - rain
    potmelt = DDF * (t - T_MELT).clamp_min(0.0)
    B, T = prec.shape
    swe = torch.zeros(B, dtype=prec.dtype, device=prec.device) if swe0 is None else swe0
    if not bool((snowfall > 0).any()) and swe0 is None:
        return prec.clone(), torch.zeros_like(prec)
    melts, swes = [], []
    snowfall_t = snowfall.t().contiguous()   # time-major: contiguous rows per day
    potmelt_t = potmelt.t().contiguous()
    for k in range(T):
        pack = swe + snowfall_t[k]
        melt = torch.minimum(pack, potmelt_t[k])
        swe = pack - melt
        melts.append(melt)
        swes.append(swe)
    melt = torch.stack(melts, dim=1)
    return rain + melt, torch.stack(swes, dim=1)


def initial_state(soil: SoilInputs) -> torch.Tensor:
    """Spin-up start: every layer halfway between wilting point and field capacity (mm, ``(B, 3)``)."""
    return soil.wwp + 0.5 * (soil.wfc - soil.wwp)


def run_waterbalance(forcing: torch.Tensor, soil: "SoilInputs | Mapping[str, torch.Tensor]", theta: torch.Tensor,
                     *, state0: torch.Tensor | None = None, return_state: bool = False,
                     return_layers: bool = False) -> dict[str, torch.Tensor]:
    """Run the VIC-style daily three-layer water balance (NOT VIC).

    Parameters
    ----------
    forcing
        ``(B, T, 7)`` daily forcing in :data:`FORCING_ORDER` (prec mm/day, air_temp degC, swdown,
        lwdown W m-2, pressure, vp kPa, wind m/s). Its dtype/device set those of the run.
    soil
        :class:`SoilInputs` (or mapping of its fields) with batch ``B``.
    theta
        ``(B, 5)`` physical parameter values ``infilt, Ds, Dsmax, Ws, expt`` (one exponent for every
        layer, the soil's own layer depths), or ``(B, 10)`` in :data:`FULL_PARAMETERS` order (an exponent
        per layer, the depths of layers 2 and 3 in m, a multiplier of ``ksat``); gradients flow back.
        Changed depths scale every layer store of ``soil`` (porosity, field capacity, wilting point and
        residual water are volumetric contents times the depth), so the initial state follows them.
    state0
        Optional initial layer water ``(B, 3)`` mm (default :func:`initial_state`).
    return_state
        Also return the final layer water ``(B, 3)`` mm under key ``"state"``.
    return_layers
        Also return the daily layer water ``(B, T, 3)`` mm (end of day) under key ``"layers"``.

    Returns
    -------
    dict with ``sm`` (top-layer volumetric m3/m3), ``et``, ``runoff``, ``baseflow``, ``dstorage``
    (mm/day), each ``(B, T)``; plus ``swe`` (mm) and ``pet`` (mm/day) diagnostics.
    """
    if forcing.dim() != 3 or forcing.shape[-1] != 7:
        raise SimulatorError(f"forcing must have shape (B, T, 7), got {tuple(forcing.shape)}")
    dtype, device = forcing.dtype, forcing.device
    soil = SoilInputs.coerce(soil).to(device=device, dtype=dtype)
    theta = theta.to(device=device, dtype=dtype)
    B, T, _ = forcing.shape
    if theta.shape not in ((B, 5), (B, len(FULL_PARAMETERS))):
        raise SimulatorError(f"theta must have shape ({B}, 5) (infilt, Ds, Dsmax, Ws, expt) or ({B}, "
                             f"{len(FULL_PARAMETERS)}) ({', '.join(FULL_PARAMETERS)}), got {tuple(theta.shape)}")
    if soil.batch != B:
        raise SimulatorError(f"soil inputs have batch {soil.batch}; forcing has {B}")
    if theta.shape[1] == 5:
        expt_layers = theta[:, 4:5].expand(B, N_LAYERS)
    else:
        expt_layers = theta[:, 4:7]
        soil = _with_depths(soil, theta[:, 7:9], theta[:, 9])

    with torch.no_grad():
        liquid, swe = snowpack(forcing)
        cover = (swe / SNOW_COVER_SWE).clamp(max=1.0)
        pet = potential_et(forcing) * (1.0 - cover)

    b = theta[:, 0]
    ds, dsmax, ws = theta[:, 1], theta[:, 2], theta[:, 3]

    # ---- per-run constants (B,) / (B, 3) and per-day inputs (T, B) precomputed outside the day loop
    wmax, wres, wwp = soil.wmax, soil.wres, soil.wwp
    wcr = torch.maximum(WCR_FRACTION * soil.wfc, wwp + 1e-6 * soil.depth_mm)
    inv_stress = 1.0 / (wcr - wwp)
    wmax_top = wmax[:, 0] + wmax[:, 1]
    inv_wmax_top = 1.0 / wmax_top
    b1 = 1.0 + b
    inv_b1 = 1.0 / b1
    inv_im = inv_wmax_top / b1                          # 1 / maximum point infiltration capacity i_m
    inv_range = 1.0 / (wmax - wres)                     # (B, 3)
    drain_range = (wmax - wres)[:, :2]                  # (B, 2)
    c1 = expt_layers[:, :2] - 1.0                       # Brooks-Corey exponent minus one, draining layers
    c1k = c1 * soil.ksat[:, :2] / drain_range           # (c - 1) Ksat / (Wmax - Wres), 1/day
    inv_c1 = -1.0 / c1
    wm3 = wmax[:, 2]
    lin_coef = ds * dsmax / ws                          # ARNO linear baseflow rate at S_3 = 1 (mm/day)
    nl_coef = dsmax - ds * dsmax / ws                   # ARNO non-linear part at saturation (mm/day)
    inv_nl_den = 1.0 / (1.0 - ws)
    inv_range3 = inv_range[:, 2]
    fv = soil.veg_fraction
    wres1 = wres[:, 0]
    inv_es = 1.0 / (soil.wfc[:, 0] - wres1).clamp_min(1e-9)
    wmax1, wmax2, wres3 = wmax[:, 0], wmax[:, 1], wres[:, 2]
    eps = 1e-12 if dtype == torch.float64 else 1e-7

    liquid_t = liquid.t().contiguous()                  # time-major: contiguous rows per day
    pet_t = pet.t().contiguous()
    p_over_im = liquid_t * inv_im                       # P / i_m
    p_minus_wm = liquid_t - wmax_top                    # P - Wm
    pet_tr = pet_t.unsqueeze(2) * (fv.unsqueeze(1) * soil.root_fraction)   # (T, B, 3) f_v r_i PET
    pet_bare = pet_t * (1.0 - fv)                       # (T, B) (1 - f_v) PET

    w = initial_state(soil) if state0 is None else state0.to(device=device, dtype=dtype)
    store0 = w.sum(dim=1)
    w1, w2, w3 = w.unbind(1)
    w1_l, st_l, et_l, ro_l, bf_l, lay_l = [], [], [], [], [], []
    for k in range(T):
        p = liquid_t[k]
        # 1) variable infiltration curve over the top two layers (Liang et al. 1994):
        #    R = P - (Wm - W) + Wm [1 - (i0 + P)/i_m]^(1+b), (i0 + P)/i_m = 1 - (1 - W/Wm)^(1/(1+b)) + P/i_m
        wt = w1 + w2
        d = (1.0 - wt * inv_wmax_top).clamp(eps, 1.0)
        x = (d ** inv_b1 - p_over_im[k]).clamp_min(eps)
        runoff = torch.minimum((p_minus_wm[k] + wt + wmax_top * x ** b1).clamp_min(0.0), p)
        # infiltration fills layer 1, then layer 2; what finds no room runs off (saturation excess)
        filled = w1 + (p - runoff)
        w1n = torch.minimum(filled, wmax1)
        filled2 = w2 + (filled - w1n)
        w2 = torch.minimum(filled2, wmax2)
        runoff = runoff + (filled2 - w2)
        # 2) evapotranspiration: transpiration by root fraction with moisture stress, bare-soil evaporation
        w = torch.stack((w1n, w2, w3), dim=1)
        avail = (w - wwp).clamp_min(0.0)
        tr = torch.minimum(pet_tr[k] * (avail * inv_stress).clamp(max=1.0), avail)
        w1, w2, w3 = (w - tr).unbind(1)
        esa = (w1 - wres1).clamp_min(0.0)
        es = torch.minimum(pet_bare[k] * (esa * inv_es).clamp(max=1.0), esa)
        w1 = w1 - es
        et = tr.sum(dim=1) + es
        # 3) gravity drainage 1->2, 2->3: exact daily solution of dW/dt = -Ksat S^c, scaled by the
        #    receiving layer's unfilled fraction 1 - S_recv (a smooth form of VIC's "a full layer takes no
        #    more water": a wet bottom layer backs water up into the upper layers), limited by its room
        s_all = ((torch.stack((w1, w2, w3), dim=1) - wres) * inv_range).clamp(0.0, 1.0)
        s0 = s_all[:, :2].clamp_min(1e-10)
        q = (s0 - s0 * (1.0 + c1k * s0 ** c1) ** inv_c1) * drain_range * (1.0 - s_all[:, 1:])
        q23 = torch.minimum(q[:, 1], wm3 - w3)
        q12 = torch.minimum(q[:, 0], wmax2 - w2 + q23)
        w1 = w1 - q12
        w2 = w2 + (q12 - q23)
        w3 = w3 + q23
        # 4) ARNO baseflow from the bottom layer
        avail3 = (w3 - wres3).clamp_min(0.0)
        rel = avail3 * inv_range3
        excess = (rel - ws).clamp_min(0.0) * inv_nl_den
        bf = torch.minimum((lin_coef * rel + nl_coef * excess * excess).clamp_min(0.0), avail3)
        w3 = w3 - bf
        if return_layers:
            lay_l.append(torch.stack((w1, w2, w3), dim=1))
        w1_l.append(w1)
        st_l.append(w1 + w2 + w3)
        et_l.append(et)
        ro_l.append(runoff)
        bf_l.append(bf)
    w = torch.stack((w1, w2, w3), dim=1)
    store = torch.stack(st_l, dim=1) + swe              # soil + snow water at the end of each day (mm)
    dstorage = torch.diff(store, dim=1, prepend=store0.unsqueeze(1))
    out = {
        "sm": torch.stack(w1_l, dim=1) / soil.depth_mm[:, :1],
        "et": torch.stack(et_l, dim=1),
        "runoff": torch.stack(ro_l, dim=1),
        "baseflow": torch.stack(bf_l, dim=1),
        "dstorage": dstorage,
        "swe": swe,
        "pet": pet,
    }
    if return_state:
        out["state"] = w
    if return_layers:
        out["layers"] = torch.stack(lay_l, dim=1)
    return out
