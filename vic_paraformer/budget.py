r"""Per-cell long-term water balance of a simulation, and the checks a VIC modeller makes on it.

Soil moisture alone cannot tell a drained column from a right one: a calibration can match the
observed top layer while sending most of the rain to baseflow. :func:`annual_budget` turns a
simulator output (``et``, ``runoff``, ``baseflow``, ``dstorage`` and, where the simulator reports
it, ``prec``; otherwise the region's ``prec``) into annual totals per cell (mm/yr: the mean over the
days times 365.25):

``P``          precipitation
``ET``         evapotranspiration
``runoff``     surface runoff
``baseflow``   baseflow
``dS``         storage change (soil, snow, canopy as the simulator reports it)
``closure``    ``P - ET - runoff - baseflow - dS`` (0 for a closed balance)

:func:`budget_warnings` flags, naming the cells:

* calibrated ET departing from the reference by more than ``et_tolerance`` (default
  :data:`ET_TOLERANCE` = 0.25, i.e. 25 % of the reference's annual ET); the reference is the
  observed ET (mean over the days with ``obs_et``, compared with the simulation on the same days)
  where a cell has at least :data:`MIN_ET_OBS` ET observations, else the default-parameter run;
* annual runoff + baseflow above annual precipitation by more than ``1 %`` of P (the column is
  draining water it started with: a spin-up or a parameter problem).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

log = logging.getLogger(__name__)

__all__ = ["BUDGET_TERMS", "ET_TOLERANCE", "MIN_ET_OBS", "annual_budget", "budget_table", "budget_warnings",
           "format_budget", "observed_et"]

BUDGET_TERMS: tuple[str, ...] = ("P", "ET", "runoff", "baseflow", "dS", "closure")
#: Relative departure of calibrated annual ET from its reference that raises a warning.
ET_TOLERANCE: float = 0.25
#: ET observations a cell needs before they, not the default run, are its ET reference.
MIN_ET_OBS: int = 30
DAYS_PER_YEAR = 365.25
_RUNOFF_SLACK = 0.01


def annual_budget(sim: xr.Dataset, cells: Sequence[int], prec: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Annual totals (mm/yr) per cell of ``cells`` from a simulator output over ``(cell, time)``.

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
    ann = {k: np.nanmean(v, axis=-1) * DAYS_PER_YEAR for k, v in out.items()}
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


def observed_et(obs_et: np.ndarray, sim_et: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, annual observed and simulated ET (mm/yr) over the days that have both, ``(cell, time)``
    inputs; NaN for cells with fewer than :data:`MIN_ET_OBS` such days (they keep the default run
    as their reference). Per-cell values: the pieces of consecutive cell chunks concatenate."""
    obs_et = np.asarray(obs_et, float)
    sim_et = np.asarray(sim_et, float)
    ok = np.isfinite(obs_et) & np.isfinite(sim_et)
    n = ok.sum(axis=1)
    use = n >= MIN_ET_OBS
    ref, cal = np.full(len(n), np.nan), np.full(len(n), np.nan)
    with np.errstate(invalid="ignore"):
        ref[use] = np.where(ok, obs_et, 0).sum(1)[use] / n[use] * DAYS_PER_YEAR
        cal[use] = np.where(ok, sim_et, 0).sum(1)[use] / n[use] * DAYS_PER_YEAR
    return ref, cal


def budget_warnings(calibrated: Mapping[str, np.ndarray], cells: Sequence[int], *,
                    reference_et: np.ndarray | None = None, reference: str = "default-parameter run",
                    obs_et: np.ndarray | None = None, sim_et: np.ndarray | None = None,
                    observed: tuple[np.ndarray, np.ndarray] | None = None,
                    et_tolerance: float = ET_TOLERANCE) -> list[str]:
    """Warnings naming the cells whose calibrated water balance is suspect (see the module docstring).

    ``reference_et`` is the default run's annual ET per cell; ``obs_et``/``sim_et`` ``(cell, time)``
    (daily, same days) make observed ET the reference wherever a cell has enough of it;
    ``observed`` is the same information already reduced by :func:`observed_et`.
    """
    cells = np.asarray(cells)
    warnings: list[str] = []
    ref = None if reference_et is None else np.asarray(reference_et, float).copy()
    cal = np.asarray(calibrated["ET"], float).copy()
    src = np.full(cells.size, reference, dtype=object)
    if observed is None and obs_et is not None and sim_et is not None:
        observed = observed_et(obs_et, sim_et)
    if observed is not None:
        ref_obs, cal_obs = (np.asarray(x, float) for x in observed)
        use = np.isfinite(ref_obs)
        if use.any():
            if ref is None:
                ref = np.full(cells.size, np.nan)
            ref[use] = ref_obs[use]
            cal[use] = cal_obs[use]
            src[use] = "observed ET"
    if ref is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (cal - ref) / ref
        bad = np.flatnonzero(np.isfinite(rel) & (np.abs(rel) > et_tolerance))
        if bad.size:
            detail = ", ".join(f"{cells[i]} ({cal[i]:.0f} vs {ref[i]:.0f} mm/yr, {src[i]})" for i in bad[:10])
            more = f" and {bad.size - 10} more" if bad.size > 10 else ""
            warnings.append(f"calibrated annual ET departs from its reference by more than {et_tolerance:.0%} "
                            f"in {bad.size} cell(s): {detail}{more}")
    q = calibrated["runoff"] + calibrated["baseflow"]
    bad = np.flatnonzero(q > calibrated["P"] * (1 + _RUNOFF_SLACK))
    if bad.size:
        detail = ", ".join(f"{cells[i]} ({q[i]:.0f} > {calibrated['P'][i]:.0f} mm/yr)" for i in bad[:10])
        more = f" and {bad.size - 10} more" if bad.size > 10 else ""
        warnings.append(f"calibrated runoff + baseflow exceeds precipitation in {bad.size} cell(s) "
                        f"(the soil column drains): {detail}{more}")
    for w in warnings:
        log.warning("%s", w)
    return warnings


def format_budget(rows: Sequence[Mapping[str, Any]], runs: Sequence[str] = ("default", "calibrated"),
                  max_rows: int = 20) -> str:
    """A text table of :func:`budget_table` rows (mm/yr), at most ``max_rows`` cells."""
    head = f"{'cell':>6} {'run':<11}" + "".join(f"{t:>10}" for t in BUDGET_TERMS)
    lines = ["annual water balance (mm/yr)", head]
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
