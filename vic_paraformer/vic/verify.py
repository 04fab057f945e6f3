"""Check calibrated parameters with the real VIC: calibrated versus original, against observations.

:func:`verify` imports the VIC setup with the observations, writes the calibrated parameter file
(:func:`vic_paraformer.vic.params.write_parameters`), runs VIC with it and with the original
parameter file over the same period (the default-parameter row) and, where untrained cells have
observations, with the calibrated parameters of the nearest trained cell; then scores the runs
with the evaluation code (:func:`vic_paraformer.evaluation.score_runs`): every row by the same
rule (:mod:`vic_paraformer.scoring`: raw and through its own operator fitted on the training cells
over the result's fitting window), the paired comparisons with intervals and verdicts
(:mod:`vic_paraformer.verdict`), and the water balance of both runs over whole water years
(:mod:`vic_paraformer.budget`). The report has the layout of ``evaluate``'s, plus the files and
VIC run times.

Files written to ``out_dir`` (each atomically):

``params.calibrated.nc``  the calibrated VIC parameter file
``sim_default.nc``        VIC outputs with the original (default) parameters (cell, time)
``params.nearest.nc``, ``sim_nearest.nc``  the nearest-trained-cell transfer, where it is run
``sim_calibrated.nc``     VIC outputs with the calibrated parameters
``report.json``           metrics per cell and summaries (NaN written as null); ``out_of_range``
                          lists values of the original parameter file outside the plausible
                          ranges that ``allow_out_of_range`` accepted (empty otherwise)
``per_cell.csv``          one row per cell: ids, lat/lon, each metric for both runs
``water_balance.csv``     one row per cell: annual budget terms of both runs (mm/yr), first period

With ``ensemble``, VIC also runs once per set of the result's parameter ensemble (every stored
member, else the 5/50/95 % quantile sets: :func:`vic_paraformer.spread.ensemble_sets`), each one
batched image-driver run over every cell, and the report gains ``"ensemble"``
(:func:`vic_paraformer.spread.spread_report`: the 5-95 % band of SM and ET across the runs and the
5/50/95 % of each metric across them, per cell and over cells), with the files

``params.<set>.nc``, ``ensemble_band.nc``  each set's parameter file; the 5/50/95 % of sm and et
                          across the runs over (cell, time)
``ensemble_per_cell.csv`` one row per cell: band width and median of SM and ET, metric quantiles
``ensemble_band.png``     the band of a few cells (training and untrained) with the observations

A result made for another region or grid than the setup (its cells' lat/lon, or cell ids, outside
the setup's grid) is an error naming both, before anything else is read or run.

Periods
    The runs cover ``start..end`` (default: the global file's period, widened to include the
    result's fitting window; the forcing must cover it). Scores are computed over
    ``score_start..score_end`` when given (labelled held-out or in-sample); otherwise over the days
    after the result's fitting window and the window itself (``report["periods"]``, each labelled;
    the top level repeats the first). Days before a scoring period act as warm-up.
    ``n_obs_unscored`` counts observations outside every scored period.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._io import to_netcdf_atomic, to_plain, write_text_atomic
from ..errors import VICError
from .globalfile import GlobalParamFile
from ..evaluation import score_runs
from .importer import region_from_vic
from .grid import read_grid
from .outofrange import summary
from .params import check_result_cells, write_parameters

log = logging.getLogger(__name__)

#: Simulated variable -> observed variable of the Region.
SCORED = {"sm": "obs_sm", "et": "obs_et"}


def verify(global_param_file: str | Path, result, observations: str | Path, out_dir: str | Path, *,
           variables: Mapping[str, str] | None = None, start=None, end=None, expt_layers=None,
           score_period: tuple | None = None, score_start=None, score_end=None, nearest: bool = True,
           allow_out_of_range: bool = False, obs_format: str = "auto", obs_options: Any = None,
           ensemble: bool = False, **simulator_options: Any) -> dict:
    """Run VIC with the original and the calibrated parameters and compare both with observations.

    ``result`` is a CalibrationResult or the path of a saved one; ``simulator_options`` go to
    :class:`~vic_paraformer.simulators.vic.VICSimulator` (exe, mpi_procs, timeout, workdir,
    keep_runs, spinup_years...). ``score_start``/``score_end`` (or ``score_period`` ``(start, end)``)
    restrict the scores and the water balance to those days (default: the period after the result's
    fitting window and the window itself, see the module docstring). ``nearest`` runs the
    nearest-trained-cell transfer where untrained cells have observations. The original parameter
    file must be physically plausible (:mod:`vic_paraformer.plausibility`) -- an impossible
    "original" would make any calibration look good -- unless ``allow_out_of_range``: then one
    warning, and the report's ``out_of_range`` lists the findings (variable, cells, an example).
    ``obs_format`` and ``obs_options`` (a :class:`~vic_paraformer.readers.ReadOptions`) choose how
    ``observations`` is read (:mod:`vic_paraformer.readers`). ``ensemble`` also runs the result's
    parameter ensemble (see the module docstring; a result without one is a ParameterError before
    anything runs). Returns the report (also written to ``out_dir/report.json``).
    """
    from ..calibrator import CalibrationResult
    from ..simulators.vic import VICSimulator

    out_dir = Path(out_dir)
    if isinstance(result, (str, Path)):
        result_path = str(result)
        result = CalibrationResult.open(result)
    else:
        result_path = None
    sets = None
    if ensemble:
        from ..spread import ensemble_sets

        sets = ensemble_sets(result, result_path)  # a result without an ensemble fails before anything runs
    # a result made for another region fails here, before any period is derived from it or VIC runs
    setup = GlobalParamFile.read(global_param_file, variables)
    setup.validate()
    check_result_cells(result, read_grid(setup), setup=f"the VIC setup {global_param_file}")
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
    region = region_from_vic(global_param_file, observations, variables=variables, start=start, end=end,
                             allow_out_of_range=allow_out_of_range, obs_format=obs_format,
                             obs_options=obs_options)
    out_of_range = json.loads(region.ds.attrs.get("vic_out_of_range", "[]"))
    scored = [v for v, o in SCORED.items() if region.has(o)]
    if not scored:
        raise VICError(f"{observations}: no obs_sm or obs_et observations to verify against")
    if score_period is not None:
        score_start, score_end = score_period
    period = None
    if score_start is not None or score_end is not None:
        t0, t1 = region.times[0], region.times[-1]
        s_ = pd.Timestamp(score_start) if score_start is not None else t0
        e_ = pd.Timestamp(score_end) if score_end is not None else t1
        if e_ < s_:
            raise VICError(f"score end {e_.date()} is before score start {s_.date()}")
        if s_ < t0 or e_ > t1:
            raise VICError(f"scoring period {s_.date()}..{e_.date()} is not inside the run {t0.date()}..{t1.date()} "
                           "(set --start/--end)")
        period = (str(s_.date()), str(e_.date()))
    gf = GlobalParamFile.read(global_param_file, variables)
    template = gf.parameters_path
    # the template was checked at import and calibrated values are clipped into the valid ranges
    cal_file = write_parameters(result, template, out_dir / "params.calibrated.nc", region=region,
                                expt_layers=expt_layers, check_plausibility=False)
    sim = VICSimulator(variables=dict(variables or {}), expt_layers=expt_layers, **simulator_options)
    runs = {"default": sim.run_parameter_file(region, template),
            "calibrated": sim.run_parameter_file(region, cal_file)}
    files = {"default": str(template), "calibrated": str(cal_file)}
    near = _nearest_result(region, result)
    if nearest and near is not None:
        files["nearest"] = str(write_parameters(near, template, out_dir / "params.nearest.nc", region=region,
                                                expt_layers=expt_layers, check_plausibility=False))
        runs["nearest"] = sim.run_parameter_file(region, files["nearest"])
    for name, ds in runs.items():
        to_netcdf_atomic(ds, out_dir / f"sim_{name}.nc", kind="simulation")
    report = score_runs(region, result, runs, period=period, variables=tuple(scored), simulator_name="vic",
                        default_source=f"the setup's parameter file {template}")
    if sets is not None:
        report["ensemble"] = _ensemble(region, result, sets, sim, template, out_dir, period, scored, expt_layers)
    report.update({
        "global_param_file": str(Path(global_param_file).resolve()), "result": result_path,
        "observations": str(observations), "parameter_files": files,
        "run_period": [str(region.times[0].date()), str(region.times[-1].date())],
        "cells": region.cells.tolist(), "calibrated_cells": [int(c) for c in result.cells],
        "wall_time_s": {k: float(v.attrs.get("vic_wall_time_s", float("nan"))) for k, v in runs.items()},
        "out_of_range": out_of_range,
    })
    times = region.times
    in_any = np.zeros(len(times), bool)
    for entry in report["periods"].values():
        in_any |= (times >= pd.Timestamp(entry["period"][0])) & (times <= pd.Timestamp(entry["period"][1]))
    report["n_obs_unscored"] = {var: int(np.isfinite(region.observations(SCORED[var])[:, ~in_any]).sum())
                                for var in scored}
    report = to_plain(report)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=1))
    write_text_atomic(out_dir / "per_cell.csv", per_cell_table(region, report).to_csv(index=False))
    if sets is not None:
        from ..spread import per_cell_table as spread_table

        write_text_atomic(out_dir / "ensemble_per_cell.csv",
                          spread_table(report["ensemble"], region).to_csv(index=False))
    wb = report.get("water_balance")
    if wb:
        write_text_atomic(out_dir / "water_balance.csv", pd.DataFrame(wb["cells"]).to_csv(index=False))
    log.info("verification report written to %s", out_dir)
    return report


def _ensemble(region, result, sets, sim, template, out_dir: Path, period, scored, expt_layers) -> dict:
    """Run VIC once per set of the parameter ensemble (one image-driver run over every cell each), write
    the parameter files, the band netCDF and figure; the :func:`~vic_paraformer.spread.spread_report`."""
    from ..spread import band_dataset, plot_band, plot_cells, spread_report

    labels, results, kind = sets
    runs, files, wall = [], {}, {}
    for label, res in zip(labels, results):
        name = label.replace(" ", "_")
        files[label] = str(write_parameters(res, template, out_dir / f"params.{name}.nc", region=region,
                                            expt_layers=expt_layers, check_plausibility=False))
        log.info("VIC run of the parameter ensemble's %s (%d of %d)", label, len(runs) + 1, len(labels))
        runs.append(sim.run_parameter_file(region, files[label]))
        wall[label] = float(runs[-1].attrs.get("vic_wall_time_s", float("nan")))
    block = spread_report(region, result, labels, runs, kind, period=period, variables=tuple(scored),
                          simulator_name="vic")
    band = band_dataset(region, runs)
    to_netcdf_atomic(band, out_dir / "ensemble_band.nc", kind="simulation")
    figure = plot_band(region, band, plot_cells(region, result), out_dir / "ensemble_band.png",
                       title=f"VIC, {len(runs)} {kind} of the parameter ensemble", train_cells=result.train_cells)
    block.update({"parameter_files": files, "wall_time_s": wall, "figure": str(figure)})
    return block


def _nearest_result(region, result):
    """The result with each untrained cell given its nearest trained cell's parameters, or None when no
    untrained cell has observations (the row would score nothing)."""
    from ..evaluation import nearest_transfer

    params = result.params.sel(cell=region.cells) if "cell" in result.params.coords else result.params
    untrained = ~np.isin(region.cells, result.train_cells)
    has_obs = np.zeros(region.n_cells, bool)
    for name in SCORED.values():
        if region.has(name):
            has_obs |= np.isfinite(region.observations(name)).any(axis=1)
    if not (untrained & has_obs).any() or untrained.all():
        return None
    space = result.parameter_space
    values = nearest_transfer(region, space.from_dataset(params), result.train_cells)
    out = copy.copy(result)
    out.params = space.to_dataset(values, region.cells).assign_coords(
        lat=("cell", region.ds["lat"].values), lon=("cell", region.ds["lon"].values))
    return out


def per_cell_table(region, report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per cell: ids, lat/lon, and every row's metrics per variable and scored period."""
    table = pd.DataFrame({"cell": region.cells, "lat": region.ds["lat"].values, "lon": region.ds["lon"].values})
    pos = {int(c): i for i, c in enumerate(region.cells)}
    for pname, entry in report["periods"].items():
        rows = {"calibrated": entry["variables"], "default": (entry.get("baseline") or {}).get("variables", {}),
                "nearest": (entry.get("nearest") or {}).get("variables", {})}
        for row, block in rows.items():
            for key, v in block.items():
                idx = [pos[c] for c in v["all"]["cells"]]
                for metric in ("rmse", "pcc", "nse"):
                    col = np.full(region.n_cells, np.nan)
                    col[idx] = [np.nan if x is None else x for x in v["all"][metric]]
                    table[f"{key}_{metric}_{row}_{pname}"] = col
    return table


def format_table(report: dict) -> str:
    """The verification report as text: the VIC run, then the evaluation table (every row, the verdicts,
    the water balance) of :func:`vic_paraformer.evaluation.format_table`."""
    from ..evaluation import format_table as evaluation_table

    head = f"VIC run {report['run_period'][0]}..{report['run_period'][1]}"
    unscored = {v: n for v, n in (report.get("n_obs_unscored") or {}).items() if n}
    tail = ("\nobservations outside the scored periods (not scored): "
            + ", ".join(f"{n} {v}" for v, n in unscored.items())) if unscored else ""
    if report.get("out_of_range"):
        tail += ("\nthe original parameters hold values outside the physically plausible ranges (accepted): "
                 + summary(report["out_of_range"]))
    if report.get("ensemble"):
        from ..spread import format_spread

        tail += "\n" + format_spread(report["ensemble"])
    return head + "\n" + evaluation_table(report) + tail
