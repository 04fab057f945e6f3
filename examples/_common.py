"""Shared set-up of the example scripts: a synthetic twin region, the paper's split, a surrogate.

Every example takes ``--quick`` (or the environment variable ``VIC_PARAFORMER_EXAMPLES_QUICK=1``) for
the smallest settings, and ``--seed``. Set ``VIC_PARAFORMER_EXAMPLES_CACHE=DIR`` to reuse one trained
surrogate across examples.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import vic_paraformer as vp
from vic_paraformer.benchmark import periods
from vic_paraformer.evaluation import evaluate
from vic_paraformer.surrogate import Surrogate, train_surrogate


def parse_args(description: str, extra=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smallest settings (seconds to a minute)")
    p.add_argument("--seed", type=int, default=0)
    if extra:
        extra(p)
    args = p.parse_args()
    args.quick = args.quick or os.environ.get("VIC_PARAFORMER_EXAMPLES_QUICK") == "1"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args


def synthetic_setup(quick: bool, seed: int):
    """(full region, calibration region, test period, surrogate) for the paper's protocol on a twin.

    The calibration region holds only the two training years, and only its DAS-S4 cells are training
    cells; the test year and the other cells are kept back for evaluation.
    """
    size = 8 if quick else 16
    region = vp.synthetic_region(ny=size, nx=size, years=3, seed=seed)
    train_period, test_period = periods(region, train_years=2)
    split = region.spatial_split(4)
    calibration_region = region.sel_time(*train_period).with_training_cells(split.train)
    print(f"region: {region}\ntraining cells (DAS-S4): {len(split.train)}; test period {test_period[0].date()}.."
          f"{test_period[1].date()}")
    cache = os.environ.get("VIC_PARAFORMER_EXAMPLES_CACHE")
    path = Path(cache) / f"surrogate_{size}x{size}_seed{seed}_{'quick' if quick else 'demo'}.pt" if cache else None
    if path is not None and path.exists():
        surrogate = Surrogate.load(path)
    else:
        surrogate = train_surrogate(region.sel_time(*train_period), simulator="waterbalance", seed=seed,
                                    preset="test" if quick else "demo")
        if path is not None:
            surrogate.save(path)
    return region, calibration_region, test_period, surrogate


def print_metrics(region, result, test_period) -> dict:
    """Evaluate with the water-balance simulator over the test period and print the medians."""
    report = evaluate(region, result, simulator="waterbalance", period=test_period)
    print(f"\n{result.summary()}")
    for var, groups in report["variables"].items():
        for group in ("train", "untrained"):
            s = groups[group]["summary"]
            if s["nse"]["n"]:
                print(f"test-period {var.upper()} [{group:9s}] median RMSE {s['rmse']['median']:.4f}  "
                      f"PCC {s['pcc']['median']:.3f}  NSE {s['nse']['median']:.3f}  ({s['nse']['n']} cells)")
    return report


def run_strategy(name: str, options: dict, quick_options: dict):
    """Calibrate the synthetic twin with one strategy, print the test-period metrics and return the
    CalibrationResult."""
    args = parse_args(f"Calibrate the built-in synthetic region with {name} and print test-period metrics.")
    region, calibration_region, test_period, surrogate = synthetic_setup(args.quick, args.seed)
    opts = quick_options if args.quick else options
    result = vp.calibrate(calibration_region, strategy=name, surrogate=surrogate, seed=args.seed, **opts)
    print_metrics(region, result, test_period)
    return result
