"""``vic-paraformer demo``: the main job on the built-in synthetic twin, no VIC needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._outputs import guard
from ._types import non_negative_int


def register(sub) -> None:
    p = sub.add_parser("demo", help="calibrate the built-in synthetic region with ParaFormer-Z and SCE-UA",
                       description="Generate a 12 x 12 realistic synthetic twin (3 years: an observation operator the "
                                   "calibrator does not know, forcing error, a truth the attributes do not fully "
                                   "explain), train a small surrogate of the "
                                   "embedded water-balance simulator, calibrate with ParaFormer-Z and SCE-UA on the "
                                   "DAS-S4 cells, evaluate both with the simulator on the test year (trained and "
                                   "untrained cells) and write a report with figures.")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the region and every model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..benchmark import BenchmarkConfig, run_benchmark

    guard(args, args.out, "directory")
    out = Path(args.out)
    config = BenchmarkConfig.demo(region_seed=args.seed, seeds=[args.seed])
    # On a terminal (or with --progress), every phase longer than a few seconds shows a progress bar
    # (DL training included); none in a log file.
    from ..progress import show_progress

    bars = show_progress()
    config.strategy_options = {name: {**opts, "progress": bars} if "progress" in opts else dict(opts)
                               for name, opts in config.strategy_options.items()}
    results = run_benchmark(config, out, command=f"vic-paraformer demo --out {args.out} --seed {args.seed}",
                            progress=lambda m: print(m, flush=True))
    print()
    print((out / "table.md").read_text())
    print("Written:")
    print(f"  report                  {out / 'report.md'}")
    print(f"  calibrated parameters   {out / 'results' / f'paraformer_z_S4_seed{args.seed}.nc'}  (ParaFormer-Z)")
    print(f"                          {out / 'results' / f'sceua_S4_seed{args.seed}.nc'}  (SCE-UA)")
    for fig in results.get("figures", []):
        print(f"  figure                  {out / fig}")
    return 0
