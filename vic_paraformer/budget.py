r"""Per-cell long-term water balance of a simulation, and the checks a VIC modeller makes on it.

Soil moisture alone cannot tell a drained column from a right one: a calibration can match the
observed top layer while sending most of the rain to baseflow. :func:`annual_budget` turns a
simulator output (``et``, ``runoff``, ``baseflow``, ``dstorage`` and, where the simulator reports
it, ``prec``; otherwise the region's ``prec``) into totals per cell:

``P``          precipitation
``ET``         evapotranspiration
``runoff``     surface runoff
``baseflow``   baseflow
``dS``         storage change (soil, snow, canopy as the simulator reports it)
``closure``    ``P - ET - runoff - baseflow - dS`` (0 for a closed balance)

The window (:func:`budget_window`)
    Budgets are taken over the whole water years (1 October to 30 September,
    :data:`WATER_YEAR_START_MONTH`) inside the scored days, as mean annual totals in ``mm/yr``.
    When the scored days hold no whole water year, the budget is the total over the days
    themselves, in ``mm`` and labelled with their real span: a season is never annualised.

:func:`budget_warnings` flags, naming the cells, and each check labelled with what it compares:

* calibrated ET departing from the **default-parameter run** of the same simulator by more than
  ``et_tolerance`` (default :data:`ET_TOLERANCE` = 0.25, i.e. 25 % of the default run's ET);
* calibrated ET departing from **observed ET** (mean over the days with ``obs_et``, compared with
  the simulation on the same days, for cells with at least :data:`MIN_ET_OBS` of them) by more than
  ``et_tolerance`` *and further than the default run does*: a model that misses observed ET with
  any parameters is not a calibration problem, and unchanged parameters never raise it;
* runoff + baseflow above precipitation by more than ``1 %`` of P (the column is draining water it
  started with: a spin-up or a parameter problem), separately for cells where the default run
  drains as well (then not the calibration's doing).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

log = logging.getLogger(__name__)

__all__ = ["BUDGET_TERMS", "ET_TOLERANCE", "MIN_ET_OBS", "WATER_YEAR_START_MONTH", "annual_budget", "budget_table",
           "budget_warnings", "budget_window", "format_budget", "observed_et"]

BUDGET_TERMS: tuple[str, ...] = ("P", "ET", "runoff", "baseflow", "dS", "closure")
#: Relative departure of calibrated annual ET from its reference that raises a warning.
ET_TOLERANCE: float = 0.25
#: ET observations a cell needs before they, not the default run, are its ET reference.
MIN_ET_OBS: int = 30
DAYS_PER_YEAR = 365.25
#: First month of a water year (October: the northern-hemisphere convention of USGS and VIC studies).
WATER_YEAR_START_MONTH: int = 10
_RUNOFF_SLACK = 0.01


def budget_window(times) -> tuple[np.ndarray, dict[str, Any]]:
    """The days of ``times`` a budget covers and how it is expressed (see the module docstring).

    Returns ``(mask, info)`` with ``info`` = ``{"start", "end", "n_days", "water_years", "units",
    "label"}``: the whole water years inside ``times`` (``units`` ``mm/yr``), else every day
    (``units`` ``mm``, ``water_years`` 0).
    """
    t = pd.DatetimeIndex(times)
    mask = np.zeros(len(t), bool)
    years = 0
    if len(t):
        first = pd.Timestamp(t[0].year, WATER_YEAR_START_MONTH, 1)
        if first < t[0].normalize():
            first = pd.Timestamp(t[0].year + 1, WATER_YEAR_START_MONTH, 1)
        end = first
        while end + pd.DateOffset(years=1) - pd.Timedelta(days=1) <= t[-1].normalize():
            end = end + pd.DateOffset(years=1)
            years += 1
        if years:
            mask = np.asarray((t >= first) & (t < end))
            # a water year with missing days is not whole
            if mask.sum() < (end - first).days:
                mask[:], years = False, 0
    if years:
        d = t[mask]
        info = {"start": str(d[0].date()), "end": str(d[-1].date()), "n_days": int(mask.sum()), "water_years": years,
                "units": "mm/yr", "label": f"mean of {years} whole water year(s) {d[0].date()}..{d[-1].date()}, mm/yr"}
        return mask, info
    mask[:] = True
    info = {"start": str(t[0].date()) if len(t) else None, "end": str(t[-1].date()) if len(t) else None,
            "n_days": int(len(t)), "water_years": 0, "units": "mm",
            "label": (f"total over {len(t)} days {t[0].date()}..{t[-1].date()} (no whole water year), mm"
                      if len(t) else "no days")}
    return mask, info


def annual_budget(sim: xr.Dataset, cells: Sequence[int], prec: np.ndarray | None = None, *,
                  annualise: bool = True) -> dict[str, np.ndarray]:
    """Totals per cell of ``cells`` from a simulator output over ``(cell, time)``: mean annual (mm/yr)
    with ``annualise``, else the total over the output's days (mm).

    ``prec`` ``(cell, time)`` is used when the output carries no ``prec`` (it must cover the same days).
    """
    cells = np.asarray(cells)

    def get(name: str) -> np.ndarray:
        return np.asarray(sim[name].sel(cell=cells).values, dtype=float)

    if "prec" in sim:
        p = get("prec")
    elif prec is not None:
        p = np.asarray(prec, dtype=float)
    else:
        raise ValueError("annual_budget needs precipitation: the output has no 'prec' and none was given")
    out = {"P": p, "ET": get("et"), "runoff": get("runoff"), "baseflow": get("baseflow"), "dS": get("dstorage")}
    if out["P"].shape != out["ET"].shape:
        raise ValueError(f"precipitation of shape {out['P'].shape} does not match the output's {out['ET'].shape}")
    if annualise:
        ann = {k: np.nanmean(v, axis=-1) * DAYS_PER_YEAR for k, v in out.items()}
    else:
        ann = {k: np.nansum(v, axis=-1) for k, v in out.items()}
    ann["closure"] = ann["P"] - ann["ET"] - ann["runoff"] - ann["baseflow"] - ann["dS"]
    return ann


def budget_table(budgets: Mapping[str, Mapping[str, np.ndarray]], cells: Sequence[int]) -> list[dict[str, Any]]:
    """One row per cell: ``{"cell": id, "<run>_<term>": value, ...}`` for each named run (e.g. default, calibrated)."""
    rows = []
    for i, c in enumerate(np.asarray(cells)):
        row: dict[str, Any] = {"cell": int(c)}
        for run, b in budgets.items():
            for t in BUDGET_TERMS:
                row[f"{run}_{t}"] = float(b[t][i])
        rows.append(row)
    return rows


def observed_et(obs_et: np.ndarray, sim_et: np.ndarray, *, annualise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, observed and simulated ET over the days that have both, ``(cell, time)`` inputs: the
    mean daily value times 365.25 (mm/yr) with ``annualise``, else times the number of days in the
    window (mm, comparable with :func:`annual_budget`'s totals); NaN for cells with fewer than
    :data:`MIN_ET_OBS` such days. Per-cell values: the pieces of consecutive cell chunks concatenate."""
    obs_et = np.asarray(obs_et, float)
    sim_et = np.asarray(sim_et, float)
    ok = np.isfinite(obs_et) & np.isfinite(sim_et)
    n = ok.sum(axis=1)
    use = n >= MIN_ET_OBS
    scale = DAYS_PER_YEAR if annualise else obs_et.shape[1]
    ref, cal = np.full(len(n), np.nan), np.full(len(n), np.nan)
    with np.errstate(invalid="ignore"):
        ref[use] = np.where(ok, obs_et, 0).sum(1)[use] / n[use] * scale
        cal[use] = np.where(ok, sim_et, 0).sum(1)[use] / n[use] * scale
    return ref, cal


def budget_warnings(calibrated: Mapping[str, np.ndarray], cells: Sequence[int], *,
                    reference_et: np.ndarray | None = None, reference: str = "the default-parameter run",
                    observed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                    et_tolerance: float = ET_TOLERANCE, units: str = "mm/yr",
                    default: Mapping[str, np.ndarray] | None = None) -> list[str]:
    """Warnings naming the cells whose calibrated water balance is suspect (see the module docstring).

    ``reference_et`` is the default run's ET per cell (same window as ``calibrated``); ``observed``
    is ``(observed ET, calibrated ET, default ET)`` per cell on the days with ET observations, as
    :func:`observed_et` gives them (NaN for cells with too few); ``default`` (the default run's budget)
    tells a drain the calibration caused from one the default run shows as well.
    """
    cells = np.asarray(cells)
    warnings: list[str] = []
    cal = np.asarray(calibrated["ET"], float)

    def listing(idx, a, b) -> str:
        detail = ", ".join(f"{cells[i]} ({a[i]:.0f} vs {b[i]:.0f} {units})" for i in idx[:10])
        return detail + (f" and {idx.size - 10} more" if idx.size > 10 else "")

    if reference_et is not None:
        ref = np.asarray(reference_et, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (cal - ref) / ref
        bad = np.flatnonzero(np.isfinite(rel) & (np.abs(rel) > et_tolerance))
        if bad.size:
            warnings.append(f"calibrated ET departs from {reference}'s ET by more than {et_tolerance:.0%} in "
                            f"{bad.size} cell(s): {listing(bad, cal, ref)}")
    if observed is not None:
        obs, cal_o, def_o = (np.asarray(x, float) for x in observed)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (cal_o - obs) / obs
            further = np.abs(cal_o - obs) > np.abs(def_o - obs)
        bad = np.flatnonzero(np.isfinite(rel) & (np.abs(rel) > et_tolerance) & further)
        if bad.size:
            warnings.append(f"calibrated ET departs from observed ET by more than {et_tolerance:.0%}, and further than "
                            f"the default run's, in {bad.size} cell(s) (on the days with ET observations, "
                            f"{units} equivalent): {listing(bad, cal_o, obs)}")
    q = calibrated["runoff"] + calibrated["baseflow"]
    drains = q > calibrated["P"] * (1 + _RUNOFF_SLACK)
    both = np.zeros_like(drains)
    if default is not None:
        both = drains & (default["runoff"] + default["baseflow"] > default["P"] * (1 + _RUNOFF_SLACK))
    for idx, what in ((np.flatnonzero(drains & ~both), "(the soil column drains)"),
                      (np.flatnonzero(both), "as the default run's does too (a spin-up or forcing matter, not the "
                                             "calibration's)")):
        if idx.size:
            detail = ", ".join(f"{cells[i]} ({q[i]:.0f} > {calibrated['P'][i]:.0f} {units})" for i in idx[:10])
            more = f" and {idx.size - 10} more" if idx.size > 10 else ""
            warnings.append(f"calibrated runoff + baseflow exceeds precipitation in {idx.size} cell(s) {what}: "
                            f"{detail}{more}")
    for w in warnings:
        log.warning("%s", w)
    return warnings


def format_budget(rows: Sequence[Mapping[str, Any]], runs: Sequence[str] = ("default", "calibrated"),
                  max_rows: int = 20, label: str = "annual water balance (mm/yr)") -> str:
    """A text table of :func:`budget_table` rows, at most ``max_rows`` cells, under ``label`` (the
    window and units the budgets were taken over, :func:`budget_window`)."""
    head = f"{'cell':>6} {'run':<11}" + "".join(f"{t:>10}" for t in BUDGET_TERMS)
    lines = [label, head]
    for row in list(rows)[:max_rows]:
        for run in runs:
            if f"{run}_P" not in row:
                continue
            vals = "".join("       nan" if row[f"{run}_{t}"] is None or not np.isfinite(row[f"{run}_{t}"])
                           else f"{row[f'{run}_{t}']:10.1f}" for t in BUDGET_TERMS)
            lines.append(f"{row['cell']:>6} {run:<11}{vals}")
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more cell(s) in the report")
    return "\n".join(lines)
