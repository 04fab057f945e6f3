"""``vic-paraformer evaluate``: score a calibration result with a real simulator.

::

    vic-paraformer evaluate --region R --result result.nc --simulator waterbalance|vic
                            [--test-period START END] [--variables sm et] [--max-memory GB] [--ensemble]
                            --out metrics.json

Runs the simulator (never the surrogate) with the result's parameters from the region's first
day, scores RMSE/PCC/NSE per cell against obs_sm (and obs_et if present) for the training and the
untrained cells, prints medians and verdicts and writes every per-cell value as JSON. By default
it scores the days after the span of observations the result was fitted on (held-out) and that
span itself (labelled in-sample); ``--test-period`` scores the given days instead, labelled by
their overlap with the fitting window.
The region is read, simulated and scored a chunk of cells at a time within ``--max-memory`` (only
per-cell scores and budgets are kept); the report does not depend on the budget.
Every row — calibrated, the region's default parameters, and at untrained cells the nearest
trained cell's parameters — is scored raw and through its own observation operator fitted by one
rule (``sm through H``; "default + H" is the do-nothing baseline), with a verdict per variable and
cell group: better / no detectable change / worse, with the 95 % interval of the median paired
difference (``--no-baseline`` skips the baselines), and the water balance of both runs over whole
water years with warnings naming cells whose calibrated ET or runoff look wrong.

``--ensemble`` also runs the result's parameter ensemble (every stored member, or the 5/50/95 %
quantile sets when only quantiles are stored: :mod:`vic_paraformer.spread`) and reports, per cell
and as medians over cells, the 5-95 % band of SM and ET across the runs and the 5/50/95 % of each
metric across them (``"ensemble"`` in the JSON), with a figure of the band for a few cells
(``<out>_ensemble_band.png``). A result without parameter uncertainty is an error.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..config import parse_options
from ._checks import check_evaluate
from ._outputs import add_overwrite, guard
from ._spinup import add_spinup_argument, with_spinup
from ._types import positive_float

log = logging.getLogger("vic_paraformer.cli")
from ._obs_options import add_obs_options, check_obs_options, obs_kwargs
from ._vic_options import add_vic_options, vic_simulator_options


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score a calibration result with a simulator (RMSE, PCC, NSE)",
                       description="Run a simulator with calibrated parameters and compare with the region's "
                                   "observations over a period, for training and untrained cells.")
    p.add_argument("--region", required=True, help="region netCDF with obs_sm (and optionally obs_et)")
    p.add_argument("--result", required=True, help="calibration result written by 'vic-paraformer calibrate'")
    p.add_argument("--simulator", default="waterbalance", help="registered simulator (waterbalance, vic)")
    p.add_argument("--simulator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="simulator option, repeatable (e.g. exe=/path/vic_image.exe)")
    p.add_argument("--test-period", "--period", dest="period", nargs=2, metavar=("START", "END"), default=None,
                   help="score only these days (inclusive, e.g. 2016-01-01 2016-12-31; earlier days are warm-up); "
                        "default: the days after the result's fitting window (held-out) and the window itself "
                        "(in-sample), else all days")
    p.add_argument("--variables", nargs="+", default=["sm", "et"], help="variables to score (default: sm et)")
    add_spinup_argument(p)
    p.add_argument("--no-baseline", action="store_true",
                   help="do not run the default parameters beside the calibrated ones (no water-balance table)")
    p.add_argument("--max-memory", type=positive_float, default=1.0, metavar="GB",
                   help="memory budget: the region is read, simulated and scored in chunks of cells that fit "
                        "(default 1; the scores do not depend on it)")
    p.add_argument("--out", required=True, help="metrics JSON to write")
    p.add_argument("--ensemble", action="store_true",
                   help="also run the result's parameter ensemble (its members, else its 5/50/95 %% quantile sets) "
                        "and report the spread of SM and ET and of the metrics across the runs, with a figure")
    p.add_argument("--hydrograph", default=None, metavar="PNG",
                   help="with a region that has gauges (obs_q and a routing kernel): draw the observed and routed "
                        "discharge of every row at each gauge into this PNG (the KGE, NSE and bias per gauge are in "
                        "the table and the metrics either way)")
    add_obs_options(p, obs_help="observations to score against, read and attached to the region first (replacing "
                                "its obs_sm / obs_et)")
    add_overwrite(p)
    add_vic_options(p, workers=False)
    p.set_defaults(func=run, check=check_evaluate)


class _InTable(logging.Filter):
    """Drops the water-balance warnings that the printed table lists."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def run(args: argparse.Namespace) -> int:
    from ..calibrator import CalibrationResult
    from ..evaluation import evaluate, format_table, write_metrics
    from ..region import Region

    check_obs_options(args)
    guard(args, args.out, "json", region=args.region, result=args.result, obs=args.obs)
    region = Region.open(args.region, max_memory_gb=args.max_memory)  # lazily: read chunk by chunk
    if args.obs:
        from ..readers import attach_observations

        region = attach_observations(region, args.obs, args.obs_format, obs_kwargs(args))
    result = CalibrationResult.open(args.result)
    if args.ensemble:
        from ..spread import ensemble_sets

        ensemble_sets(result, args.result)  # a result without an ensemble fails before any run
    period = tuple(args.period) if args.period else None
    window = result.info.get("calibration_period")
    if period is None and window:
        log.info("scoring the days after the fitting window %s..%s recorded in %s, and the window itself "
                 "(in-sample)", window[0], window[1], args.result)
    elif period is None:
        log.info("scoring every day of the region (the result records no fitting window; --test-period sets one)")
    # the water-balance warnings are printed once, in the table below (not also as log lines)
    budget_log = logging.getLogger("vic_paraformer.budget")
    in_table = _InTable()
    budget_log.addFilter(in_table)
    simulator_options = with_spinup({**parse_options(args.simulator_option, flag="--simulator-option"),
                                     **vic_simulator_options(args, args.simulator)}, args, args.simulator)
    band = None
    try:
        metrics = evaluate(region, result, simulator=args.simulator, period=period,
                           variables=tuple(args.variables), simulator_options=simulator_options,
                           baseline=not args.no_baseline, hydrograph=args.hydrograph)
        if args.ensemble:
            from ..evaluation import json_clean
            from ..spread import evaluate_ensemble

            block, band = evaluate_ensemble(region, result, args.simulator, period, tuple(args.variables),
                                            simulator_options=simulator_options, source=args.result)
            metrics["ensemble"] = json_clean(block)
            if band.data_vars:
                from ..spread import plot_band, plot_cells

                cells = plot_cells(region, result)
                figure = Path(args.out).with_name(Path(args.out).stem + "_ensemble_band.png")
                plot_band(region, band, cells, figure, title=f"{args.result}: {block['n_runs']} {block['kind']} "
                                                            f"through {args.simulator}",
                          train_cells=result.train_cells)
                metrics["ensemble"]["figure"] = str(figure)
    finally:
        budget_log.removeFilter(in_table)
        region.close()  # the lazily opened file
    write_metrics(metrics, args.out)
    print(format_table(metrics))
    if "water_balance" in metrics:
        from ..budget import format_budget

        wb = metrics["water_balance"]
        print(format_budget(wb["cells"], max_rows=10, label=f"water balance per cell, {wb['window']['label']}"))
    if "ensemble" in metrics:
        from ..spread import format_spread

        print(format_spread(metrics["ensemble"]))
        print(f"written {metrics['ensemble'].get('figure', '')}")
    print(f"written {args.out}")
    return 0
