"""``vic-paraformer refine``: calibrate through the surrogate, then refine the surrogate against the simulator.

::

    vic-paraformer refine --region R --strategy S --surrogate sur.pt --simulator waterbalance|vic
                          --out-dir D [--rounds 3] [--local 8] [--sigma 0.05] [--store STORE]
                          [--option KEY=VALUE ...] [--simulator-option KEY=VALUE ...] [--spinup-years N]

Each round runs the simulator at the calibrated parameters and a seeded local ensemble around
them, fine-tunes the surrogate on those runs, and recalibrates, until the simulator-verified loss
stops improving (:mod:`vic_paraformer.refine`). The default parameters are scored too; when no
calibrated round beats them, ``best.nc`` holds the default parameters (with a warning). With
``--store`` every round's simulator runs are appended to the surrogate's training store. Writes
``D/round_<k>/result.nc`` (and the runs), ``D/best.nc``, ``D/surrogate.pt`` (the fine-tuned
surrogate) and ``D/refine_log.json``; prints one line per round and one for the defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import parse_options
from ._outputs import guard
from ._spinup import add_spinup_argument, with_spinup
from ._types import non_negative_float, non_negative_int, positive_int


def register(sub) -> None:
    p = sub.add_parser("refine", help="calibrate, then refine the surrogate against the simulator and recalibrate",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region", required=True, help="region netCDF (the calibration period and cells)")
    p.add_argument("--strategy", required=True, help="strategy that learns through the surrogate (sceua, paraformer_z..)")
    p.add_argument("--surrogate", required=True, help="surrogate checkpoint to start from (not modified)")
    p.add_argument("--simulator", default="waterbalance", help="simulator to check against (waterbalance, vic)")
    p.add_argument("--simulator-option", action="append", default=[], metavar="KEY=VALUE", help="simulator option")
    add_spinup_argument(p)
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE", help="strategy option")
    p.add_argument("--rounds", type=positive_int, default=3, help="refinement rounds at most (default 3)")
    p.add_argument("--local", type=non_negative_int, default=8, help="parameter sets around the calibrated ones per round (default 8)")
    p.add_argument("--sigma", type=non_negative_float, default=0.05, help="spread of the local sets in normalised units (default 0.05)")
    p.add_argument("--fine-tune-steps", type=non_negative_int, default=200, help="surrogate fine-tuning steps per round (default 200)")
    p.add_argument("--store", help="the surrogate's training store (replayed while fine-tuning, refinement runs "
                                   "appended to it; optional)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--out-dir", required=True, help="folder for every round's result and the log")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..refine import refine
    from ..region import Region

    out = Path(args.out_dir)
    guard(args, out, "directory", option="--out-dir", region=args.region, surrogate=args.surrogate, store=args.store)
    region = Region.open(args.region)
    options = parse_options(args.option)
    res = refine(region, args.strategy, args.surrogate, simulator=args.simulator,
                 simulator_options=with_spinup(parse_options(args.simulator_option), args, args.simulator),
                 options=options, rounds=args.rounds, n_local=args.local, sigma=args.sigma,
                 fine_tune_steps=args.fine_tune_steps, store=args.store, seed=args.seed, out_dir=out)
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
