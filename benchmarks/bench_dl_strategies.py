"""Wall time, evaluation count and surrogate loss of the four DL strategies on a synthetic region.

Usage::

    python benchmarks/bench_dl_strategies.py --surrogate SUR.pt [--region REGION.nc] [--preset paper]
        [--strategies paraformer_a,paraformer_z,ffn_a,lstm_z] [--threads 1] [--k 0] [--epochs N]

Without ``--region`` an 8 x 8 x 3-year synthetic region (seed 0) is built. ``--k K`` trains on
the DAS-SK cells only (``Region.spatial_split``), 0 trains on every observed cell. For each
strategy it prints the wall time, epochs run, surrogate evaluations (cell-windows) and cell-days,
and the surrogate RMSE of soil moisture against ``obs_sm`` on the training cells (after the
surrogate's warm-up; training and held-out days) for the calibrated parameters, the
parameter-space midpoint and, when the region has them, the true parameters.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def rmse(sur, region, values, cells, days=slice(None)):
    pred = sur.predict(region, values)["sm"].values
    obs = region.observations("obs_sm")
    idx = np.flatnonzero(np.isin(region.cells, cells))
    d = (pred - obs)[idx][:, days]
    return float(np.sqrt(np.nanmean(d ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogate", required=True)
    ap.add_argument("--region")
    ap.add_argument("--preset", default="auto")
    ap.add_argument("--strategies", default="paraformer_a,paraformer_z,ffn_a,lstm_z")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--k", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from vic_paraformer.region import Region
    from vic_paraformer.registry import get_calibrator
    from vic_paraformer.surrogate import Surrogate

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.region:
        region = Region.open(args.region)
    else:
        from vic_paraformer.synthetic import synthetic_region

        region = synthetic_region(ny=8, nx=8, years=3, seed=0)
    if args.k:
        region = region.with_training_cells(region.spatial_split(args.k).train)
    sur = Surrogate.load(args.surrogate)
    train = region.training_cells
    n_fit = region.n_days - int(round(0.2 * region.n_days))
    fit, val = slice(sur.warmup, n_fit), slice(n_fit, None)
    mid = np.tile(sur.parameter_space.midpoint(), (region.n_cells, 1))
    print(f"region: {region}; torch threads {torch.get_num_threads()}")
    print(f"midpoint: surrogate RMSE train-days {rmse(sur, region, mid, train, fit):.4f}, held-out days {rmse(sur, region, mid, train, val):.4f}")
    truth = region.parameters(sur.parameter_space, prefix="true_")
    if truth is not None:
        print(f"truth:    surrogate RMSE train-days {rmse(sur, region, truth, train, fit):.4f}, held-out days {rmse(sur, region, truth, train, val):.4f}")
    for name in args.strategies.split(","):
        opts = dict(surrogate=sur, preset=args.preset, progress=False, seed=args.seed)
        if args.epochs:
            opts["epochs"] = args.epochs
        t = time.perf_counter()
        res = get_calibrator(name, **opts).calibrate(region)
        wall = time.perf_counter() - t
        v = res.values()
        untrained = np.setdiff1d(region.cells, train)
        extra = ""
        if untrained.size:
            extra = f", untrained-cell RMSE {rmse(sur, region, v, untrained):.4f} (midpoint {rmse(sur, region, mid, untrained):.4f})"
        print(f"{name:13s} wall {wall:6.1f} s, epochs {res.info['epochs_run']:3d} (best {res.info['best_epoch']}), "
              f"evaluations {res.n_evaluations}, cell-days {res.info['cell_days']}, "
              f"surrogate RMSE train-days {rmse(sur, region, v, train, fit):.4f}, held-out days {rmse(sur, region, v, train, val):.4f}"
              + extra)


if __name__ == "__main__":
    main()
