"""Check calibrated parameters with the real VIC: calibrated versus original, against observations.

:func:`verify` imports the VIC setup with the observations, writes the calibrated parameter file
(:func:`vic_paraformer.vic.params.write_parameters`), runs VIC with it and with the original
parameter file over the same period, and scores both runs with RMSE, PCC and NSE
(:mod:`vic_paraformer.metrics`) per cell and summarised over the cells with observations, for soil
moisture and, when ET observations are given, ET. The original run is the default-parameter
baseline. When the result carries an observation operator, soil moisture is also scored through
H (``sm_through_H``): the calibrated run through the stored operator, the original run through an
operator of the same kind fitted to it on the days outside ``score_period`` (or, with no such
days, on the scored days themselves, flagged ``in_sample``). ET is never passed through H. The
report's ``water_balance`` holds per-cell annual P, ET, runoff, baseflow, storage change and
closure of both runs over the scored days, and warnings naming suspect calibrated cells
(:mod:`vic_paraformer.budget`).

Files written to ``out_dir`` (each atomically):

``params.calibrated.nc``  the calibrated VIC parameter file
``sim_original.nc``       VIC outputs with the original parameters (cell, time)
``sim_calibrated.nc``     VIC outputs with the calibrated parameters
``report.json``           metrics per cell and summaries (NaN written as null)
``per_cell.csv``          one row per cell: ids, lat/lon, each metric for both runs
``water_balance.csv``     one row per cell: annual budget terms of both runs (mm/yr), first period

Periods
    Both runs cover ``start..end`` (default: the global file's period, widened to include the
    result's calibration period; the forcing must cover it). Scores are computed over
    ``score_start..score_end`` when given; otherwise over two periods, both reported: the period the
    result was calibrated on (its ``info["calibration_period"]``, clipped to the run) and the period
    after it up to the end of the run (days the calibration never saw). Days before a scoring period
    act as warm-up. A result without a recorded calibration period is scored over the whole run
    (with a warning). ``report["periods"]`` holds each period's metrics, observation counts and
    differences; the top-level ``metrics``/``difference``/``water_balance``/``score_period`` are
    those of the first period, and ``n_obs_unscored`` counts observations outside every period.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._io import to_netcdf_atomic, to_plain, write_text_atomic
from ..errors import VICError
from ..metrics import all_metrics, summarize
from .globalfile import GlobalParamFile
from .importer import region_from_vic
from .params import write_parameters

log = logging.getLogger(__name__)

#: Simulated variable -> observed variable of the Region.
SCORED = {"sm": "obs_sm", "et": "obs_et"}


def scoring_periods(result, times: pd.DatetimeIndex, score_start=None, score_end=None) -> dict[str, tuple]:
    """``{name: (first day, last day)}`` to score (see the module docstring)."""
    t0, t1 = times[0], times[-1]
    if score_start is not None or score_end is not None:
        s = pd.Timestamp(score_start) if score_start is not None else t0
        e = pd.Timestamp(score_end) if score_end is not None else t1
        if e < s:
            raise VICError(f"score end {e.date()} is before score start {s.date()}")
        if s < t0 or e > t1:
            raise VICError(f"scoring period {s.date()}..{e.date()} is not inside the run {t0.date()}..{t1.date()} "
                           "(set --start/--end)")
        return {"score": (s, e)}
    cal = (getattr(result, "info", None) or {}).get("calibration_period")
    if not cal:
        log.warning("the result records no calibration period; scoring the whole run %s..%s", t0.date(), t1.date())
        return {"run": (t0, t1)}
    cs, ce = pd.Timestamp(cal[0]), pd.Timestamp(cal[1])
    out: dict[str, tuple] = {}
    if ce >= t0 and cs <= t1:
        out["calibration"] = (max(cs, t0), min(ce, t1))
    if ce < t1:
        out["after_calibration"] = (max(ce + pd.Timedelta(days=1), t0), t1)
    if not out:
        raise VICError(f"the run {t0.date()}..{t1.date()} does not overlap the result's calibration period "
                       f"{cs.date()}..{ce.date()}; set --start/--end or --score-start/--score-end")
    return out


def verify(global_param_file: str | Path, result, observations: str | Path, out_dir: str | Path, *,
           variables: Mapping[str, str] | None = None, start=None, end=None, expt_layers=(0,),
           score_period: tuple | None = None, score_start=None, score_end=None, **simulator_options: Any) -> dict:
    """Run VIC with the original and the calibrated parameters and compare both with observations.

    ``result`` is a CalibrationResult or the path of a saved one; ``simulator_options`` go to
    :class:`~vic_paraformer.simulators.vic.VICSimulator` (exe, mpi_procs, timeout, workdir,
    keep_runs, spinup_years...). ``score_start``/``score_end`` (or ``score_period`` ``(start, end)``)
    restrict the scores and the water balance to those days (default: the calibration period and the
    period after it, see the module docstring). Returns the report (also written to
    ``out_dir/report.json``).
    """
    from ..calibrator import CalibrationResult
    from ..simulators.vic import VICSimulator

    out_dir = Path(out_dir)
    if isinstance(result, (str, Path)):
        result_path = str(result)
        result = CalibrationResult.open(result)
    else:
        result_path = None
    if start is None or end is None:
        # default run: the global file's period, widened to cover the period the result was calibrated on
        cal = (result.info or {}).get("calibration_period")
        gperiod = GlobalParamFile.read(global_param_file, variables).period()
        if cal:
            if start is None:
                start = min(pd.Timestamp(gperiod.start), pd.Timestamp(cal[0])).date()
            if end is None:
                end = max(pd.Timestamp(gperiod.end), pd.Timestamp(cal[1])).date()
            if (pd.Timestamp(start), pd.Timestamp(end)) != (pd.Timestamp(gperiod.start), pd.Timestamp(gperiod.end)):
                log.info("running VIC over %s..%s: the global file's period %s..%s widened to the result's "
                         "calibration period %s..%s", start, end, gperiod.start, gperiod.end, cal[0], cal[1])
    region = region_from_vic(global_param_file, observations, variables=variables, start=start, end=end)
    scored = [v for v, o in SCORED.items() if region.has(o)]
    if not scored:
        raise VICError(f"{observations}: no obs_sm or obs_et observations to verify against")
    if score_period is not None:
        score_start, score_end = score_period
    periods = scoring_periods(result, region.times, score_start, score_end)
    gf = GlobalParamFile.read(global_param_file, variables)
    template = gf.parameters_path
    cal_file = write_parameters(result, template, out_dir / "params.calibrated.nc", region=region,
                                expt_layers=expt_layers)
    sim = VICSimulator(variables=dict(variables or {}), expt_layers=expt_layers, **simulator_options)
    runs = {"original": sim.run_parameter_file(region, template),
            "calibrated": sim.run_parameter_file(region, cal_file)}
    for name, ds in runs.items():
        to_netcdf_atomic(ds, out_dir / f"sim_{name}.nc", kind="simulation")
    report: dict[str, Any] = {
        "global_param_file": str(Path(global_param_file).resolve()), "result": result_path,
        "observations": str(observations), "template_params": str(template), "calibrated_params": str(cal_file),
        "strategy": result.strategy, "period": [str(region.times[0].date()), str(region.times[-1].date())],
        "calibration_period": (result.info or {}).get("calibration_period"),
        "cells": region.cells.tolist(), "calibrated_cells": [int(c) for c in result.cells],
        "wall_time_s": {k: float(v.attrs.get("vic_wall_time_s", float("nan"))) for k, v in runs.items()},
        "metrics": {},
    }

    table = pd.DataFrame({"cell": region.cells, "lat": region.ds["lat"].values, "lon": region.ds["lon"].values})
    report["periods"] = {}
    times = region.times
    in_any = np.zeros(len(times), bool)
    for pname, (ps, pe) in periods.items():
        in_any |= (times >= ps) & (times <= pe)
        entry = _score(region, result, runs, scored, (str(ps.date()), str(pe.date())), table,
                       suffix="" if len(periods) == 1 else f"_{pname}")
        report["periods"][pname] = entry
    first = next(iter(report["periods"].values()))
    for key in ("metrics", "difference", "score_period", "water_balance", "obs_operator"):
        if key in first:
            report[key] = first[key]
    report["n_obs_unscored"] = {var: int(np.isfinite(region.observations(SCORED[var])[:, ~in_any]).sum())
                                for var in scored}
    write_text_atomic(out_dir / "water_balance.csv", pd.DataFrame(first["water_balance"]["cells"]).to_csv(index=False))
    report = to_plain(report)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=1))
    write_text_atomic(out_dir / "per_cell.csv", table.to_csv(index=False))
    log.info("verification report written to %s", out_dir)
    return report


def _score(region, result, runs, scored, period, table, suffix="") -> dict[str, Any]:
    """Metrics, differences, water balance of both runs over ``period`` (one entry of ``report["periods"]``)."""
    from ..evaluation import _baseline_operator, _baseline_rows, water_balance_report
    from ..simulators.base import select_period

    report: dict[str, Any] = {"metrics": {}}
    op = result.obs_operator
    scored_region = region.sel_time(*period) if period is not None else region
    sims = {name: select_period(ds, period) for name, ds in runs.items()}
    through = {}
    if "sm" in scored and not op.is_identity:
        rows = _baseline_rows(region, result)
        base_op, base_info = _baseline_operator(region, result, rows,
                                                np.asarray(runs["original"]["sm"].values, float)[rows],
                                                region.observations("obs_sm")[rows], period)
        through = {"original": base_op.apply_region(sims["original"]["sm"].values, region),
                   "calibrated": op.apply_region(sims["calibrated"]["sm"].values, region)}
        report["obs_operator"] = {"kind": op.kind, "description": op.describe(), "original_fitted": base_info}
    report["score_period"] = [str(scored_region.times[0].date()), str(scored_region.times[-1].date())]
    blocks = [(var, var, {n: ds[var].values for n, ds in sims.items()}) for var in scored]
    if through:
        blocks.insert(1, ("sm_through_H", "sm", through))
    for key, var, values in blocks:
        obs = scored_region.observations(SCORED[var])
        report["metrics"][key] = {}
        table[f"n_obs_{var}{suffix}"] = np.isfinite(obs).sum(axis=1)
        for name, sim_values in values.items():
            m = all_metrics(sim_values, obs)
            report["metrics"][key][name] = {k: {"per_cell": v, "summary": summarize(v)} for k, v in m.items()}
            for k, v in m.items():
                table[f"{key}_{k}_{name}{suffix}"] = v
    report["difference"] = {key: {k: report["metrics"][key]["calibrated"][k]["summary"]["median"]
                                  - report["metrics"][key]["original"][k]["summary"]["median"]
                                  for k in report["metrics"][key]["calibrated"]} for key in report["metrics"]}
    wb = water_balance_report(region, {"default": runs["original"], "calibrated": runs["calibrated"]}, period)
    report["water_balance"] = wb
    report["n_days"] = int(scored_region.n_days)
    report["n_obs"] = {var: int(np.isfinite(scored_region.observations(SCORED[var])).sum()) for var in scored}
    return report


def format_table(report: dict) -> str:
    """A short text table of the summarised metrics (median over cells) of a :func:`verify` report, per
    scored period: original (default parameters) and calibrated, soil moisture raw and through H; then
    the first period's water balance medians and warnings."""
    lines = [f"VIC run {report['period'][0]}..{report['period'][1]}"
             + (f"; result calibrated on {report['calibration_period'][0]}..{report['calibration_period'][1]}"
                if report.get("calibration_period") else "")]
    periods = report.get("periods") or {"score": {"score_period": report.get("score_period", report["period"]),
                                                  "metrics": report["metrics"]}}
    for pname, entry in periods.items():
        n_obs = ", ".join(f"{n} {v}" for v, n in (entry.get("n_obs") or {}).items())
        sp = entry["score_period"]
        lines.append(f"scored on {pname.replace('_', ' ')} {sp[0]}..{sp[1]}"
                     + (f" ({entry.get('n_days')} days; observations used: {n_obs})" if n_obs else ""))
        lines.append(f"  {'variable':<14}{'metric':<7}{'original':>12}{'calibrated':>12}   (median over cells, n cells)")
        for key, runs in entry["metrics"].items():
            var = {"sm": "sm raw", "sm_through_H": "sm through H"}.get(key, key)
            for metric in runs["original"]:
                o = runs["original"][metric]["summary"]
                c = runs["calibrated"][metric]["summary"]

                def fmt(s):
                    return "nan" if s.get("median") is None else f"{s['median']:.4f}"

                lines.append(f"  {var:<14}{metric:<7}{fmt(o):>12}{fmt(c):>12}   n={c.get('n')}")
    unscored = {v: n for v, n in (report.get("n_obs_unscored") or {}).items() if n}
    if unscored:
        lines.append("observations outside the scored periods (not scored): "
                     + ", ".join(f"{n} {v}" for v, n in unscored.items()))
    wb = report.get("water_balance")
    if wb:
        lines.append(f"water balance {wb['period'][0]}..{wb['period'][1]} (median over cells, mm/yr):")
        for name, m in wb["median"].items():
            lines.append(f"  {name:<11} " + "  ".join(f"{k} {'nan' if v is None else f'{v:.0f}'}" for k, v in m.items()))
        for w in wb["warnings"]:
            lines.append(f"WARNING: {w}")
    return "\n".join(lines)
