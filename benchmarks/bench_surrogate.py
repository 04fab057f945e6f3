"""Benchmark the LSTM surrogate the demo and the benchmark use: held-out accuracy and throughput.

As in the benchmark protocol (:mod:`vic_paraformer.benchmark.protocol`), a synthetic twin region is
built, the surrogate is trained on its first ``--train-years`` with ``--preset`` settings, and then

* accuracy: fresh parameter samples (never trained on) are run through the simulator and the
  surrogate over the whole region and period (training years + the unseen test year); per-cell NSE,
  RMSE and PCC of sm and et are summarised for the held-out samples (training cells) and the
  held-out cells (see :mod:`vic_paraformer.surrogate.evaluate`);
* throughput in cell-days per second of surrogate prediction (batched, no gradients) and of the
  simulator it imitates, on the same cells and parameter sets, plus the ratio to the VIC 5 image
  driver's throughput measured on this machine (``--vic-cell-days-per-s``, default 3,660: one year of
  WalnutGulch, 15 cells x 366 days in 1.5 s, see ``benchmarks/bench_vic.py``).

Examples::

    python benchmarks/bench_surrogate.py                      # the demo's surrogate (12 x 12 cells)
    python benchmarks/bench_surrogate.py --preset benchmark --ny 32 --nx 32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from vic_paraformer.registry import get_simulator
from vic_paraformer.surrogate import sample_parameters, train_surrogate
from vic_paraformer.surrogate.evaluate import evaluate_surrogate, format_report
from vic_paraformer.synthetic import synthetic_region


def throughput(sur, simulator, region, n_samples: int, seed: int, repeats: int, batch_size: int) -> dict[str, float]:
    """Cell-days/s of the surrogate and of the simulator on the same cells and parameter sets (best of repeats)."""
    theta = sample_parameters(sur.parameter_space, n_samples, region.n_cells, seed=seed + 999, per_cell=True)
    params = sur.parameter_space.to_dataset(theta, region.cells, dims=("sample", "cell"))
    cell_days = n_samples * region.n_cells * region.n_days
    t_sur, t_sim, c_sur, c_sim = [], [], [], []
    sur.predict_ensemble(region, theta[:1], batch_size=batch_size)  # warm-up (allocations, lazy init)
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sur.predict_ensemble(region, theta, batch_size=batch_size)
        t_sur.append(time.perf_counter() - t0)
        c_sur.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        simulator.simulate(region, params)
        t_sim.append(time.perf_counter() - t0)
        c_sim.append(time.process_time() - c0)
    return {"cell_days": cell_days, "surrogate_seconds": min(t_sur), "simulator_seconds": min(t_sim),
            "surrogate_cpu_seconds": min(c_sur), "simulator_cpu_seconds": min(c_sim),
            "surrogate_cell_days_per_s": cell_days / min(t_sur), "simulator_cell_days_per_s": cell_days / min(t_sim),
            "surrogate_cell_days_per_cpu_s": cell_days / min(c_sur),
            "simulator_cell_days_per_cpu_s": cell_days / min(c_sim)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo", help="surrogate preset: test, demo (default), benchmark")
    ap.add_argument("--ny", type=int, default=12)
    ap.add_argument("--nx", type=int, default=12)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--train-years", type=int, default=2)
    ap.add_argument("--simulator", default="waterbalance")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-samples", type=int, default=4, help="fresh parameter samples per cell for accuracy")
    ap.add_argument("--speed-samples", type=int, default=8, help="parameter samples per cell for throughput")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--vic-cell-days-per-s", type=float, default=3660.0,
                    help="VIC 5 image driver throughput on this machine (bench_vic.py)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset setting (e.g. --set hidden_size=96 --set epochs=40)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = json.loads(v)

    t0 = time.perf_counter()
    region = synthetic_region(ny=args.ny, nx=args.nx, years=args.years, seed=args.seed)
    print(f"region: {region!r} ({time.perf_counter() - t0:.1f} s)")
    train_end = region.times[0] + np.timedelta64(365 * args.train_years + args.train_years // 4, "D")
    train_region = region.sel_time(region.times[0], train_end - np.timedelta64(1, "D"))
    print(f"training the '{args.preset}' surrogate of {args.simulator} on {train_region.n_days} days "
          f"(threads {torch.get_num_threads()}) ...")
    t0 = time.perf_counter()
    sur = train_surrogate(train_region, args.simulator, preset=args.preset, seed=args.seed, device=args.device,
                          progress=False, **overrides)
    t_train = time.perf_counter() - t0
    hist = sur.info["history"]["val_loss"]
    print(f"{sur!r}\ntrained in {t_train:.1f} s (simulator runs {sur.info['data_seconds']:.1f} s, "
          f"training {sur.info['train_seconds']:.1f} s, {len(hist)} epochs, best {sur.info['best_epoch'] + 1}, "
          f"validation MSE {hist[sur.info['best_epoch']]:.4f})")

    report = evaluate_surrogate(sur, region, simulator=args.simulator, n_samples=args.eval_samples, seed=args.seed + 1)
    print("accuracy on the whole period (training years + unseen test year):")
    print(format_report(report).split("\n  throughput")[0])

    sim = get_simulator(args.simulator)
    tp = throughput(sur, sim, region, args.speed_samples, args.seed, args.repeats, args.batch_size)
    ratio_vic = tp["surrogate_cell_days_per_s"] / args.vic_cell_days_per_s
    print(f"throughput on {region.n_cells} cells x {region.n_days} days x {args.speed_samples} samples "
          f"({tp['cell_days']:,} cell-days, device {sur.device}, threads {torch.get_num_threads()}):\n"
          f"  surrogate  {tp['surrogate_cell_days_per_s']:12,.0f} cell-days/s ({tp['surrogate_seconds']:.2f} s wall; "
          f"{tp['surrogate_cell_days_per_cpu_s']:,.0f} per CPU-second of this process)\n"
          f"  {args.simulator:<10} {tp['simulator_cell_days_per_s']:12,.0f} cell-days/s ({tp['simulator_seconds']:.2f} s wall; "
          f"{tp['simulator_cell_days_per_cpu_s']:,.0f} per CPU-second)\n"
          f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other processes slow the wall-clock figures)\n"
          f"  VIC 5 (reference, --vic-cell-days-per-s) {args.vic_cell_days_per_s:,.0f} cell-days/s -> surrogate is "
          f"{ratio_vic:,.0f}x VIC, {tp['surrogate_cell_days_per_s'] / tp['simulator_cell_days_per_s']:.2f}x {args.simulator}")
    held = report["summary"]["held_out_samples"]
    ok = held["sm"]["nse"]["median"] >= 0.95 and ratio_vic >= 100
    print(f"targets (held-out median sm NSE >= 0.95, >= 100x VIC): {'met' if ok else 'NOT met'}")
    if args.json:
        from vic_paraformer._io import write_text_atomic

        plain = {k: v for k, v in report.items() if not k.startswith("_") and k != "per_cell"}
        write_text_atomic(args.json, json.dumps({"args": vars(args), "train_seconds": t_train, "accuracy": plain,
                                                 "throughput": tp, "ratio_vic": ratio_vic,
                                                 "settings": sur.info.get("settings")}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
