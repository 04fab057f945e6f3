"""``vic-paraformer refine``: calibrate through the surrogate, then refine the surrogate against the simulator.

::

    vic-paraformer refine --region R --strategy S --surrogate sur.pt [--simulator waterbalance|vic]
                          --out-dir D [--rounds 3] [--local 8] [--sigma 0.05] [--store STORE]
                          [--option KEY=VALUE ...] [--simulator-option KEY=VALUE ...] [--spinup-years N]

The simulator is the one the surrogate imitates, run with the options (spin-up included) its
training runs were made with, unless ``--simulator``, ``--simulator-option`` or ``--spinup-years``
say otherwise; ``calibrate --refine-rounds`` checks the same way. Each round runs the simulator at
the calibrated parameters and a seeded local ensemble around
them, fine-tunes the surrogate on those runs, and recalibrates, until the simulator-verified loss
stops improving (:mod:`vic_paraformer.refine`). The default parameters are scored too; when no
calibrated round beats them, ``best.nc`` holds the default parameters (with a warning). With
``--store`` every round's simulator runs are appended to the surrogate's training store. Writes
``D/round_<k>/result.nc`` (and the runs), ``D/best.nc``, ``D/surrogate.pt`` (the fine-tuned
surrogate), ``D/refine_log.json`` and ``D/config.yaml``, the run's settings: ``--config
D/config.yaml`` repeats the run (with ``--store``, a replay appends to a store that has grown since,
so it fine-tunes on more data); prints one line per round and one for the defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import parse_options
from ._checks import check_refine
from ._outputs import guard
from ._runconfig import add_config_argument, apply_config, write_settings
from ._spinup import add_spinup_argument, with_spinup
from ._scratch import add_scratch_argument
from ._types import non_negative_float, non_negative_int, positive_int

#: Settings of ``refine`` that are paths (relative ones in a --config file are relative to it).
REFINE_PATHS = ("region", "surrogate", "store", "out_dir")


def register(sub) -> None:
    p = sub.add_parser("refine", help="calibrate, then refine the surrogate against the simulator and recalibrate",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region", help="region netCDF (the calibration period and cells); required")
    p.add_argument("--strategy", help="strategy that learns through the surrogate (sceua, paraformer_z..); required")
    p.add_argument("--surrogate", help="surrogate checkpoint to start from (not modified); required")
    p.add_argument("--simulator", default=None, help="simulator to check against (default: the one the surrogate "
                                                     "imitates)")
    p.add_argument("--simulator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="simulator option (default: those the surrogate's training runs were made with)")
    add_spinup_argument(p, "that of the surrogate's training runs")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="strategy option")
    p.add_argument("--rounds", type=positive_int, default=3, help="refinement rounds at most (default 3)")
    p.add_argument("--local", type=non_negative_int, default=8, help="parameter sets around the calibrated ones per round (default 8)")
    p.add_argument("--sigma", type=non_negative_float, default=0.05, help="spread of the local sets in normalised units (default 0.05)")
    p.add_argument("--fine-tune-steps", type=non_negative_int, default=200, help="surrogate fine-tuning steps per round (default 200)")
    p.add_argument("--store", help="the surrogate's training store (replayed while fine-tuning, refinement runs "
                                   "appended to it; optional)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--out-dir", help="folder for every round's result, the log and config.yaml; required")
    add_config_argument(p)
    add_scratch_argument(p, "VIC run directories (VIC's own options go through --simulator-option)")
    p.set_defaults(func=run, check=lambda args: check_refine(apply_config(args, REFINE_PATHS)))


def run(args: argparse.Namespace) -> int:
    from ..refine import refine, refine_simulator_options
    from ..region import Region
    from ..surrogate.resolve import load_surrogate_cached

    args = apply_config(args, REFINE_PATHS)
    out = Path(args.out_dir)
    guard(args, out, "directory", option="--out-dir", region=args.region, surrogate=args.surrogate, store=args.store,
          config=args.config)
    region = Region.open(args.region)
    options = parse_options(args.option)
    sur = load_surrogate_cached(args.surrogate)
    simulator = args.simulator or str(sur.simulator)
    given = with_spinup(parse_options(args.simulator_option), args, simulator) if args.spinup_years is not None \
        else parse_options(args.simulator_option)
    simulator_options = refine_simulator_options(sur, given) if simulator == sur.simulator else given
    simulator_options = with_spinup(simulator_options, argparse.Namespace(), simulator)
    args.simulator, args.spinup_years = simulator, simulator_options["spinup_years"]  # recorded as resolved
    res = refine(region, args.strategy, sur, simulator=simulator, simulator_options=simulator_options,
                 options=options, rounds=args.rounds, n_local=args.local, sigma=args.sigma,
                 fine_tune_steps=args.fine_tune_steps, store=args.store, seed=args.seed, out_dir=out)
    write_settings(args, out, "refine", path_keys=REFINE_PATHS)
    print(f"{'round':>5} {'verified loss':>14} {'sm rmse':>8} {'wb':>8} {'sur-sim sm':>11} {'sur-sim et':>11} {'runs':>5}")
    for r in res.log:
        print(f"{r['round']:>5} {r['verified_loss']:>14.5f} {r['verified_sm_rmse']:>8.4f} {r['verified_wb']:>8.4f} "
              f"{r['surrogate_vs_simulator_rmse_sm']:>11.4f} {r['surrogate_vs_simulator_rmse_et']:>11.3f} "
              f"{r['simulator_runs']:>5}")
    d = res.info["default_parameters"]
    print(f"{'default':>5} {d['verified_loss']:>14.5f} {d['verified_sm_rmse']:>8.4f} {d['verified_wb']:>8.4f}")
    best = ("the DEFAULT parameters (no calibrated round beat them in the simulator)" if res.info["default_kept"]
            else f"round {res.best_round}")
    print(f"best: {best}; written {out / 'best.nc'} and {out / 'refine_log.json'}")
    return 0
