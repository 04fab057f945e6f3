"""Wall time, model-run count and objective of the per-cell spotpy strategies (sceua, dds plugin).

Usage::

    python benchmarks/bench_spotpy_strategies.py [--surrogate SUR.pt | --simulator waterbalance]
        [--region REGION.nc] [--k 4] [--repetitions 500] [--strategies sceua,dds] [--n-workers 1]
        [--warmup DAYS] [--seed 0] [--evaluate]

Without ``--region`` an 8 x 8 x 3-year synthetic twin (seed 0) is built; ``--k K`` trains on the
DAS-SK cells (``Region.spatial_split``). Against ``--surrogate`` (default mode) or a simulator.
For each strategy it prints the wall time, the model runs counted by the strategy, runs per
second, and the median over training cells of the best objective (RMSE of sm vs obs_sm after the
warm-up) next to the same objective at the parameter-space midpoint. ``--evaluate`` also scores
the result with the waterbalance simulator (all days, :func:`vic_paraformer.evaluation.evaluate`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogate")
    ap.add_argument("--simulator")
    ap.add_argument("--region")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--repetitions", type=int, default=500)
    ap.add_argument("--strategies", default="sceua,dds")
    ap.add_argument("--n-workers", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--evaluate", action="store_true")
    args = ap.parse_args()
    if bool(args.surrogate) == bool(args.simulator):
        ap.error("give exactly one of --surrogate and --simulator")

    import vic_paraformer as vp
    from vic_paraformer.evaluation import evaluate
    from vic_paraformer.registry import get_calibrator
    from vic_paraformer.registry import strategies as installed
    from vic_paraformer.strategies.cell_models import SimulatorCellModel, SurrogateCellModel
    from vic_paraformer.strategies.spotpy_setup import CellTask, rmse_loss

    region = vp.Region.open(args.region) if args.region else vp.synthetic_region(ny=8, nx=8, years=3, seed=0)
    if args.k:
        region = region.with_training_cells(region.spatial_split(args.k).train)
    train = region.training_cells
    mode = {"surrogate": args.surrogate} if args.surrogate else {"simulator": args.simulator}
    print(f"region: {region}; {len(train)} training cells; {mode}; repetitions {args.repetitions}; "
          f"n_workers {args.n_workers}")

    # the objective at the midpoint, through the same cell models the strategies use
    space = vp.ParameterSpace.preset()
    obs = region.observations("obs_sm")
    pos = {int(c): i for i, c in enumerate(region.cells)}
    if args.surrogate:
        from vic_paraformer.surrogate import Surrogate

        sur = Surrogate.load(args.surrogate)
        warmup = sur.warmup if args.warmup is None else args.warmup
        x, a = sur.prepare(region)
        models = {c: SurrogateCellModel(x[pos[c]].numpy(), a[pos[c]].numpy(), space, surrogate=sur) for c in train}
    else:
        warmup = 365 if args.warmup is None else args.warmup
        models = {c: SimulatorCellModel(region.ds.isel(cell=[pos[c]]), args.simulator, space) for c in train}
    mid = []
    for c in train:
        mask = CellTask(cell=c, model=models[c], obs=obs[pos[c]], warmup=warmup, space=space, algorithm="", seed=0,
                        max_evaluations=0).mask
        mid.append(rmse_loss(models[c].simulate(space.midpoint())[mask], obs[pos[c]][mask]))
    print(f"midpoint objective: median {np.median(mid):.4f}")

    for name in args.strategies.split(","):
        if name not in installed():
            print(f"{name}: not installed, skipped")
            continue
        opts = dict(mode, repetitions=args.repetitions, n_workers=args.n_workers)
        if args.warmup is not None:
            opts["warmup"] = args.warmup
        cal = get_calibrator(name, seed=args.seed, **opts)
        cal.check(region)
        t0 = time.perf_counter()
        res = cal.calibrate(region)
        wall = time.perf_counter() - t0
        best = np.asarray(res.history["best_objective"])
        line = (f"{name}: wall {wall:.2f} s, {res.n_evaluations} model runs ({res.n_evaluations / wall:.0f}/s), "
                f"best objective median {np.median(best):.4f} [min {best.min():.4f}, max {best.max():.4f}]")
        if args.evaluate:
            m = evaluate(region, res, "waterbalance", variables=("sm",))["variables"]["sm"]
            line += (f"; waterbalance RMSE median train {m['train']['summary']['rmse']['median']:.4f}, "
                     f"untrained {m['untrained']['summary']['rmse']['median']:.4f}")
        print(line)


if __name__ == "__main__":
    main()
