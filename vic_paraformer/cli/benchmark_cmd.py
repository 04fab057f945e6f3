"""``vic-paraformer benchmark``: the paper's protocol end to end, with a report."""

from __future__ import annotations

import argparse
import shlex
import sys

from ._checks import SAMPLES_HELP, check_benchmark
from ._outputs import guard
from ._runconfig import add_config_argument, apply_config, write_settings
from ._types import non_negative_int, positive_int
from ._spinup import add_spinup_argument, with_spinup
from ._vic_options import add_vic_options, vic_simulator_options, workers


#: Settings of ``benchmark`` that are paths (relative ones in a --config file are relative to it).
BENCHMARK_PATHS = ("out", "region", "exe", "workdir")


def register(sub) -> None:
    p = sub.add_parser("benchmark", help="run the paper's protocol (Tables 2-3, Figs. 3, 5-6) and write a report",
                       description="Split a region in time (2 training years, 1 test year) and space (DAS-S4, DAS-S8, "
                                   "DAS-S8NG), train the surrogate once, run every strategy with every seed, evaluate "
                                   "with the simulator and write results.json, table.md, report.md and figures.")
    p.add_argument("--out", default=None, help="output folder (its config.yaml holds this run's settings)")
    p.add_argument("--quick", action="store_true", help="small settings (16 x 16 cells, one seed): minutes on 2 cores")
    p.add_argument("--region", help="region netCDF (default: the built-in synthetic twin)")
    p.add_argument("--simulator", default="waterbalance", help="simulator to train the surrogate on and evaluate with")
    p.add_argument("--strategies", nargs="+", help="strategy names (default: every installed strategy)")
    p.add_argument("--seeds", type=positive_int, default=None, help="number of seeds (default 4; 1 with --quick)")
    p.add_argument("--grid", type=positive_int, nargs=2, metavar=("NY", "NX"), help="synthetic grid size")
    p.add_argument("--difficulty", default="realistic", choices=("clean", "realistic"),
                   help="synthetic twin preset (default realistic: unknown observation operator, forcing error, "
                        "truth not fully explained by attributes, noisy attributes, ET at a few towers; clean: the "
                        "simulator's own top layer plus white noise). Ignored with --region")
    p.add_argument("--report-only", action="store_true",
                   help="calibrate nothing: rebuild the report in --out from the calibrations an earlier (e.g. "
                        "interrupted) run of the same configuration left there")
    p.add_argument("--parameters", default=None, metavar="SET|NAMES",
                   help="parameters calibrated (and the synthetic twin's truth): paper (default), vic-classic, all, "
                        "auto (with --region) or comma-separated names")
    p.add_argument("--objective", default=None, metavar="TERMS",
                   help="the strategies' objective (default: sm), e.g. sm+et; with q (sm+q, sm+et+q) every strategy "
                        "also runs without discharge, the twin gets --gauges gauged outlets, and the report compares "
                        "the recovery of Ds, Dsmax, Ws with and without discharge")
    p.add_argument("--gauges", type=positive_int, default=3, metavar="N",
                   help="gauged outlets of the synthetic twin with an objective holding q (default 3)")
    p.add_argument("--ensemble", type=non_negative_int, default=None, metavar="K",
                   help="members of the DL strategies' deep ensembles, for their interval rows (default 4; 0 with "
                        "--quick); each member is a full training run")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port) for the ensemble work")
    add_vic_options(p, workers_help="worker processes for ensembles and per-cell strategies (with --simulator vic: "
                                    "VIC runs at once)")
    add_spinup_argument(p)
    p.add_argument("--surrogate-samples", type=positive_int, default=None,
                   help="parameter samples per cell for the surrogate's simulator runs (default: the preset's; "
                        + SAMPLES_HELP + ")")
    add_config_argument(p)
    p.set_defaults(func=run, check=lambda args: check_benchmark(apply_config(args, BENCHMARK_PATHS)))


def run(args: argparse.Namespace) -> int:
    from ..benchmark import BenchmarkConfig, run_benchmark
    from ..region import Region

    args = apply_config(args, BENCHMARK_PATHS)
    guard(args, args.out, "directory", region=args.region)
    overrides = {"simulator": args.simulator, "difficulty": args.difficulty}
    if args.strategies:
        overrides["strategies"] = args.strategies
    if args.seeds:
        overrides["seeds"] = list(range(args.seeds))
    if args.grid:
        overrides["ny"], overrides["nx"] = args.grid
    if args.scheduler:
        overrides["scheduler"] = args.scheduler
    if args.ensemble is not None:
        overrides["ensemble"] = args.ensemble
    if args.parameters:
        overrides["parameters"] = args.parameters
    if args.objective:
        overrides["objective"] = args.objective
        overrides["gauges"] = args.gauges
    sim_options = with_spinup(vic_simulator_options(args, args.simulator, progress=False), args, args.simulator)
    if args.simulator != "waterbalance" or sim_options.get("spinup_years"):
        overrides["simulator_options"] = sim_options
    if args.workers is not None:
        overrides["n_workers"] = workers(args)
    config = BenchmarkConfig.quick(**overrides) if args.quick else BenchmarkConfig.full(**overrides)
    if args.surrogate_samples:
        config.surrogate_options = {**config.surrogate_options, "n_samples": args.surrogate_samples}
    region = Region.open(args.region) if args.region else None
    command = "vic-paraformer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_benchmark(config, args.out, region=region, command=command, progress=lambda m: print(m, flush=True),
                  report_only=args.report_only)
    write_settings(args, args.out, "benchmark", path_keys=BENCHMARK_PATHS)
    print(f"table:   {args.out}/table.md\nreport:  {args.out}/report.md\nresults: {args.out}/results.json")
    return 0
