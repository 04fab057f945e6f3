r"""``waterbalance``: the embedded VIC-style soil water balance. A stand-in, NOT VIC.

This simulator borrows VIC's runoff and baseflow formulation (Liang et al. 1994) so that the five
calibrated parameters ``infilt, Ds, Dsmax, Ws, expt`` play the roles they play in VIC, but it is
a much simpler daily model written in torch: vectorised over cells and parameter samples,
differentiable with respect to the parameters, running on CPU or GPU. Use the ``vic`` simulator
for the real VIC 5 image driver.

State and units
---------------
Three soil layers ``i = 1, 2, 3`` hold water ``W_i`` (mm). With layer depth ``d_i`` (mm of soil)
and volumetric porosity / field capacity / wilting point / residual content of the cell:
``Wmax_i = porosity d_i``, ``Wfc_i = field_capacity d_i``, ``Wwp_i = wilting_point d_i``,
``Wres_i = residual_moisture d_i``. A snowpack holds ``SWE`` (mm). Output ``sm = W_1 / d_1``
(m3 m-3); fluxes in mm/day. One step = one day; within a day the processes run in this order:

1. **Snow** (degree-day, independent of the parameters): rain fraction ramps linearly from 0 at
   ``T_SNOW = -1 degC`` to 1 at ``T_RAIN = 2 degC``; melt ``M = min(SWE + snowfall, DDF max(T - 0, 0))``
   with ``DDF = 3 mm degC-1 day-1``. Liquid input ``P = rain + M``. No sublimation.
2. **Surface runoff** (variable infiltration curve over the top two layers, as in VIC):
   ``Wm = Wmax_1 + Wmax_2``, ``W = W_1 + W_2``, ``i_m = (1 + b) Wm`` with ``b = infilt``,
   ``i_0 = i_m [1 - (1 - W/Wm)^{1/(1+b)}]``;
   ``R = P - (Wm - W) + Wm [max(1 - (i_0 + P)/i_m, 0)]^{1+b}``, clipped to ``[0, P]``.
   Infiltration ``P - R`` fills layer 1, then layer 2; what finds no room is added to ``R``.
3. **Evapotranspiration** from potential ET (Priestley-Taylor):
   ``Rn = (1 - 0.23) swdown + 0.97 (lwdown - sigma (T + 273.15)^4)`` (W m-2),
   ``PET = 1.26 Delta/(Delta + gamma) Rn 0.0864 / 2.45`` (mm/day), ``Delta = 4098 e_s(T)/(T + 237.3)^2``,
   ``e_s`` Tetens (kPa), ``gamma = 0.000665 pressure`` (kPa K-1); PET is scaled by
   ``1 - min(SWE/10 mm, 1)`` under snow (``vp`` and ``wind`` are not used).
   Transpiration from layer ``i``: ``f_v r_i PET beta_i``, ``beta_i = min((W_i - Wwp_i)/(Wcr_i - Wwp_i), 1)``
   with VIC's critical point ``Wcr = 0.7 Wfc``, limited by ``W_i - Wwp_i``; bare-soil evaporation from
   layer 1: ``(1 - f_v) PET min((W_1 - Wres_1)/(Wfc_1 - Wres_1), 1)``, limited by ``W_1 - Wres_1``.
   The root fractions ``r_i`` are the region's for its own layer depths; with calibrated depths the
   roots are redistributed as VIC's ``calc_root_fractions`` does, the region's layers taken as the root
   zones: roots spread evenly within each zone, a layer gets the roots of the depths it spans and the
   bottom layer also those below the soil column (a thicker layer 2 takes roots from layer 3).
4. **Drainage** 1->2 and 2->3 by gravity with Brooks-Corey conductivity
   ``K(W) = Ksat S^c``, ``S = (W - Wres)/(Wmax - Wres)``, ``c = expt``. The layer's drainage over the day
   is the exact solution of ``dW/dt = -K(W)``: ``S_1 = S_0 [1 + (c-1) (Ksat/(Wmax-Wres)) S_0^{c-1}]^{-1/(c-1)}``,
   scaled by ``1 - S_recv`` (``S_recv`` the relative saturation of the receiving layer: percolation is
   proportional to the receiving layer's unfilled pore fraction, a smooth form of VIC's rule that a full
   layer takes no more water, through which a wet bottom layer, i.e. slow baseflow, backs water up into
   the upper layers; this coupling is a stand-in choice, not VIC's) and limited by the
   room in the receiving layer. Layers 2 and 3 use the same exponent as the top layer
   (VIC derives each layer's ``expt`` from its texture; with one calibrated value, one exponent for all
   layers is the simplest consistent choice). Layer 3 has no drainage out of its bottom.
5. **Baseflow** (ARNO form of VIC 5) from layer 3, with ``S_3 = (W_3 - Wres_3)/(Wmax_3 - Wres_3)``:
   ``Qb = Ds Dsmax S_3 / Ws + Dsmax (1 - Ds/Ws) [max(S_3 - Ws, 0)/(1 - Ws)]^2`` (mm/day), clipped at 0
   and limited by ``W_3 - Wres_3``. Higher ``Dsmax`` raises baseflow everywhere, higher ``Ds`` raises
   the linear (low-moisture) part, higher ``Ws`` delays the fast non-linear part.

Every flux is limited by the water available to it, so no store goes negative or overflows, and
``dstorage`` is the actual change of ``W_1 + W_2 + W_3 + SWE`` over the day: ``prec - et - runoff -
baseflow - dstorage = 0`` to rounding (float64 by default). Initial state (spin-up start): every
layer halfway between wilting point and field capacity, no snow. The model always runs from the
region's first day; use the first months as warm-up.

Static attributes read from the region (``Region.attribute(name, default)``)
--------------------------------------------------------------------------------
=====================  =========  =======  ===================================================
name                   units      default  meaning
=====================  =========  =======  ===================================================
soil_depth1..3         m          0.1, 0.4, 1.0  layer thicknesses
porosity               m3 m-3     0.45     saturated water content
field_capacity         m3 m-3     0.30     water content at field capacity
wilting_point          m3 m-3     0.12     water content at wilting point
residual_moisture      m3 m-3     0.03     residual content (capped at 0.9 wilting_point)
ksat                   mm/day     400      saturated hydraulic conductivity (all layers)
veg_fraction           -          0.7      vegetated fraction of the cell
root_fraction1..3      -          0.35, 0.45, 0.20  root fraction per layer (renormalised to sum 1)
=====================  =========  =======  ===================================================
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
import xarray as xr

from ..errors import SimulatorError
from ..parameters import (CALIBRATABLE_BY_NAME, MULTIPLIERS, PARAMETER_NAMES, PARAMETER_SET_ATTR,
                          TYPICAL_VIC_DEFAULTS, WATERBALANCE_MULTIPLIERS, ParameterSpace, own_values)
from ..region import Region
from ._wb_core import FULL_PARAMETERS, FORCING_ORDER, SoilInputs, initial_state, run_waterbalance, snowpack
from .base import SPINUP_DAYS, OUTPUT_VARS, Simulator, check_params, select_period, spinup_days, spinup_years_option
from .meteorology import potential_et

log = logging.getLogger(__name__)

#: Attribute names read by the water balance and their defaults (see module docstring).
SOIL_ATTRIBUTES: dict[str, float] = {
    "soil_depth1": 0.1, "soil_depth2": 0.4, "soil_depth3": 1.0,
    "porosity": 0.45, "field_capacity": 0.30, "wilting_point": 0.12, "residual_moisture": 0.03,
    "ksat": 400.0, "veg_fraction": 0.7,
    "root_fraction1": 0.35, "root_fraction2": 0.45, "root_fraction3": 0.20,
}

__all__ = ["WaterBalanceSimulator", "run_waterbalance", "soil_from_region", "SoilInputs", "SOIL_ATTRIBUTES",
           "potential_et", "snowpack", "initial_state", "FORCING_ORDER"]


def _check_soil(region: Region, vals: dict[str, np.ndarray]) -> None:
    def bad(mask: np.ndarray, what: str) -> None:
        idx = np.flatnonzero(mask)
        if idx.size:
            i = int(idx[0])
            raise SimulatorError(
                f"{region.source or 'region'}: cell {region.cells[i]}: {what} "
                f"(porosity {vals['porosity'][i]:g}, field_capacity {vals['field_capacity'][i]:g}, "
                f"wilting_point {vals['wilting_point'][i]:g}; {idx.size} such cell(s))")

    for k in ("soil_depth1", "soil_depth2", "soil_depth3", "ksat"):
        i = np.flatnonzero(~(vals[k] > 0))
        if i.size:
            raise SimulatorError(f"{region.source or 'region'}: attribute {k!r} of cell {region.cells[i[0]]} is "
                                 f"{vals[k][i[0]]:g}; expected > 0")
    for k in ("veg_fraction", "root_fraction1", "root_fraction2", "root_fraction3"):
        i = np.flatnonzero(~((vals[k] >= 0) & (vals[k] <= 1)))
        if i.size:
            raise SimulatorError(f"{region.source or 'region'}: attribute {k!r} of cell {region.cells[i[0]]} is "
                                 f"{vals[k][i[0]]:g}; expected a fraction in [0, 1]")
    bad(~(vals["porosity"] <= 1), "porosity must be <= 1")
    bad(~(vals["field_capacity"] < vals["porosity"]), "expected field_capacity < porosity")
    bad(~(vals["wilting_point"] < vals["field_capacity"]), "expected wilting_point < field_capacity")
    bad(~(vals["wilting_point"] > 0), "expected wilting_point > 0")


def soil_from_region(region: Region, cells: Sequence[int] | None = None, n_samples: int = 1,
                     dtype: torch.dtype = torch.float64, device: str | torch.device | None = None) -> SoilInputs:
    """Static water-balance inputs for ``cells`` (default: all) of ``region``, tiled ``n_samples`` times.

    The batch is sample-major: row ``s * n_cells + c``. Missing attributes take the defaults of
    :data:`SOIL_ATTRIBUTES`; inconsistent values raise :class:`SimulatorError` naming the cell.
    """
    sub = region if cells is None else region.subset(cells)
    vals = {k: sub.attribute(k, d) for k, d in SOIL_ATTRIBUTES.items()}
    _check_soil(sub, vals)
    depth = np.stack([vals["soil_depth1"], vals["soil_depth2"], vals["soil_depth3"]], axis=1) * 1000.0
    roots = np.stack([vals["root_fraction1"], vals["root_fraction2"], vals["root_fraction3"]], axis=1)
    rs = roots.sum(axis=1, keepdims=True)
    roots = np.where(rs > 0, roots / np.where(rs > 0, rs, 1.0), 1.0 / 3.0)
    resid = np.minimum(vals["residual_moisture"], 0.9 * vals["wilting_point"])
    col = lambda v: v[:, None] * depth  # noqa: E731
    soil = SoilInputs(
        depth_mm=torch.as_tensor(depth),
        wmax=torch.as_tensor(col(vals["porosity"])),
        wfc=torch.as_tensor(col(vals["field_capacity"])),
        wwp=torch.as_tensor(col(vals["wilting_point"])),
        wres=torch.as_tensor(col(resid)),
        ksat=torch.as_tensor(np.repeat(vals["ksat"][:, None], 3, axis=1)),
        veg_fraction=torch.as_tensor(vals["veg_fraction"]),
        root_fraction=torch.as_tensor(roots),
    ).to(device=device, dtype=dtype)
    return soil.repeat(n_samples) if n_samples > 1 else soil


class WaterBalanceSimulator(Simulator):
    """The embedded VIC-style water balance (a stand-in, NOT VIC); see the module docstring.

    Options
    -------
    device
        torch device (default ``"cuda"`` if available else ``"cpu"``).
    dtype
        ``"float64"`` (default; mass balance closes to ~1e-12) or ``"float32"`` (faster).
    max_batch
        Largest number of (sample, cell) series run at once (bounds memory); default 65536.
    spinup_years
        Repetitions of the region's first year (first 365 days, or all days of a shorter region)
        run before its first day, starting from the documented initial state; the region then starts
        from the state reached. Default 0: start from the initial state (the synthetic twins are
        generated that way).
    """

    name = "waterbalance"
    description = "embedded daily 3-layer VIC-style water balance (stand-in, not VIC), torch, differentiable"
    #: Training data in float32: measured 2.4x less CPU than float64; the store keeps float32 outputs
    #: anyway and the two differ by at most ~1e-6 m3 m-3 in sm. No spin-up by default (the synthetic
    #: twins are generated from the initial state) and no refinement (cheap enough to calibrate
    #: against directly).
    training_data_options = {"dtype": "float32"}

    def __init__(self, device: str | None = None, dtype: str | torch.dtype = "float64", max_batch: int = 65536,
                 spinup_years: int = 0, **options: Any) -> None:
        if options:
            raise SimulatorError(f"unknown option(s) {sorted(options)} for simulator 'waterbalance'; "
                                 "expected device, dtype, max_batch, spinup_years")
        self.spinup_years = spinup_years_option(spinup_years)
        super().__init__(device=device, dtype=dtype, max_batch=max_batch, spinup_years=self.spinup_years)
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if isinstance(dtype, str):
            if dtype not in ("float32", "float64"):
                raise SimulatorError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
            dtype = getattr(torch, dtype)
        self.dtype = dtype
        if int(max_batch) < 1:
            raise SimulatorError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = int(max_batch)

    def forcing_tensor(self, region: Region) -> torch.Tensor:
        """The region's forcing as ``(cell, time, 7)`` on this simulator's device/dtype."""
        return torch.as_tensor(region.forcing(list(FORCING_ORDER))).to(device=self.device, dtype=self.dtype)

    def spinup_forcing(self, forcing: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``forcing`` ``(cell, time, 7)`` with ``spinup_years`` copies of its first year in front, and
        the number of days put in front."""
        if not self.spinup_years:
            return forcing, 0
        n = spinup_days(forcing.shape[1])
        if n < SPINUP_DAYS:
            log.warning("waterbalance spin-up repeats the whole region (%d days): it is shorter than a year", n)
        pre = forcing[:, :n].repeat(1, self.spinup_years, 1)
        return torch.cat([pre, forcing], dim=1), n * self.spinup_years

    def run_arrays(self, region: Region, theta: np.ndarray, names: Sequence[str] = PARAMETER_NAMES
                   ) -> dict[str, np.ndarray]:
        """Run parameter sets ``theta`` of shape ``(cell, p)`` or ``(sample, cell, p)``, its last axis the
        parameters ``names`` (default the paper's five); a parameter not named keeps the region's own
        value (:func:`~vic_paraformer.parameters.own_values`, else the typical VIC value).

        Returns numpy arrays ``(cell, time)`` or ``(sample, cell, time)`` per output variable.
        """
        theta = np.asarray(theta, dtype=float)
        names = tuple(names)
        single = theta.ndim == 2
        th = theta[None] if single else theta
        p = len(names)
        if th.ndim != 3 or th.shape[1] != region.n_cells or th.shape[2] != p:
            raise SimulatorError(f"parameter array of shape {theta.shape} does not match (sample, {region.n_cells}, "
                                 f"{p}) ({', '.join(names)})")
        if names != PARAMETER_NAMES:
            th = _full_theta(region, th, names)
        n_s, n_c = th.shape[:2]
        forcing, n_pre = self.spinup_forcing(self.forcing_tensor(region))
        soil = soil_from_region(region, dtype=self.dtype, device=self.device)
        out = {k: np.empty((n_s, n_c, region.n_days), dtype=np.float32) for k in OUTPUT_VARS}
        flat = th.reshape(n_s * n_c, th.shape[2])
        chunk = self.max_batch
        with torch.no_grad():
            for start in range(0, n_s * n_c, chunk):
                idx = np.arange(start, min(start + chunk, n_s * n_c))
                cidx = torch.as_tensor(idx % n_c, device=self.device)
                res = run_waterbalance(forcing[cidx], soil.index(cidx),
                                       torch.as_tensor(flat[idx], dtype=self.dtype, device=self.device))
                s, c = idx // n_c, idx % n_c
                for k in OUTPUT_VARS:
                    out[k][s, c] = res[k][:, n_pre:].cpu().numpy()
        if single:
            out = {k: v[0] for k, v in out.items()}
        return out

    def simulate(self, region: Region, params: xr.Dataset, *, period: tuple | slice | None = None) -> xr.Dataset:
        """Run every cell of ``region`` with ``params`` over ``(cell)`` or ``(sample, cell)``."""
        names = simulated_names(params)
        space = check_params(region, params, ParameterSpace(names, (0,) * len(names), (1,) * len(names)))
        dims = params[space.names[0]].dims
        theta = np.stack([np.asarray(params[n].transpose(*dims).values, dtype=float) for n in names], axis=-1)
        _check_theta(theta, names)
        arrays = self.run_arrays(region, theta, names)
        out_dims = dims + ("time",)
        coords: dict[str, Any] = {"cell": region.cells, "time": region.times,
                                  "lat": ("cell", region.ds["lat"].values), "lon": ("cell", region.ds["lon"].values)}
        if "sample" in dims and "sample" in params.coords:
            coords["sample"] = params["sample"].values
        ds = xr.Dataset({k: (out_dims, v, {"units": OUTPUT_VARS[k]}) for k, v in arrays.items()}, coords=coords)
        ds.attrs.update(simulator="waterbalance", note="VIC-style stand-in, not VIC", dtype=str(self.dtype))
        return select_period(ds, period)


def simulated_names(params: xr.Dataset) -> tuple[str, ...]:
    """The calibratable parameters a parameter Dataset sets, in its order; the paper's five when it sets
    none of the others (so a Dataset lacking one of those five is an error naming it), unless it declares
    that it sets only some of them (attribute :data:`~vic_paraformer.parameters.PARAMETER_SET_ATTR`,
    written by ``ParameterSpace.to_dataset`` for such a space): the others then take the region's own values."""
    names = tuple(str(n) for n in params.data_vars if str(n) in CALIBRATABLE_BY_NAME)
    others = [n for n in names if n not in PARAMETER_NAMES]
    declared = params.attrs.get(PARAMETER_SET_ATTR)
    if not others and declared:
        return tuple(n for n in str(declared).split(",") if n)
    if not others:
        return PARAMETER_NAMES
    unknown = [n for n in names if n in MULTIPLIERS and n not in WATERBALANCE_MULTIPLIERS]
    if unknown:
        raise SimulatorError(f"parameter(s) {unknown} have no counterpart in the water balance; it honours "
                             f"the multipliers {list(WATERBALANCE_MULTIPLIERS)}")
    if "expt" in names and any(n in names for n in ("expt1", "expt2", "expt3")):
        raise SimulatorError("parameter set has both expt (tied across layers) and expt1..expt3 (per layer)")
    return names


def _full_theta(region: Region, th: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``th`` ``(sample, cell, p)`` over ``names`` as the core's full vector ``(sample, cell, 10)``: the
    parameters not named take the region's own values (the typical VIC values where it has none)."""
    n_s, n_c = th.shape[:2]
    full = np.empty((n_s, n_c, len(FULL_PARAMETERS)))
    given = dict(zip(names, np.moveaxis(th, -1, 0)))
    if "expt" in given:
        for k in (1, 2, 3):
            given[f"expt{k}"] = given["expt"]
    for j, name in enumerate(FULL_PARAMETERS):
        if name in given:
            full[..., j] = given[name]
            continue
        own = own_values(region, name)
        if name in ("depth2", "depth3"):
            own = np.asarray(region.attribute(f"soil_{name}", SOIL_ATTRIBUTES[f"soil_{name}"]), float)
        full[..., j] = own if own is not None else TYPICAL_VIC_DEFAULTS[name]
    return full


def _check_theta(theta: np.ndarray, names: Sequence[str] = PARAMETER_NAMES) -> None:
    """Reject parameter values the equations cannot use (named by parameter)."""
    need = {"infilt": (lambda v: v > 0, "> 0"), "Ds": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "Dsmax": (lambda v: v >= 0, ">= 0"), "Ws": (lambda v: (v > 0) & (v < 1), "in (0, 1)"),
            "expt": (lambda v: v > 1, "> 1"), "depth2": (lambda v: v > 0, "> 0 m"),
            "depth3": (lambda v: v > 0, "> 0 m"), "Ksat_mult": (lambda v: v > 0, "> 0")}
    for j, name in enumerate(names):
        ok_fn, text = need.get(name, need["expt"] if name.startswith("expt") else (lambda v: np.isfinite(v), ""))
        ok = ok_fn(theta[..., j])
        if not np.all(ok):
            idx = np.argwhere(~ok)[0]
            raise SimulatorError(f"parameter {name!r} = {theta[tuple(idx) + (j,)]:g} at index "
                                 f"{tuple(int(x) for x in idx)} is outside what the water balance can use ({text})")
