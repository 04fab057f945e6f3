"""Throughput of applying a trained DL calibration network: cells per second, and why.

Usage::

    python benchmarks/bench_apply.py [--threads 1,2] [--cells-a 65536] [--cells-z 2048] [--days 1096]
        [--model MODEL.pt --region REGION.nc]

For ParaFormer-A (``small`` and ``paper`` sizes) and ParaFormer-Z (``small``/``paper``, day tokens
and 8-day patches) it times :func:`vic_paraformer.dl.cell_params.cell_u` on random inputs of
``--days`` days (the network alone: normalisation and I/O excluded), counts the floating-point
operations of one cell with ``torch.utils.flop_counter`` and compares with the machine's measured
matrix-multiply rate: ``cells/s <= GFLOP/s / GFLOP per cell`` is the ceiling no batching can pass.
With ``--model`` and ``--region`` it also times the whole ``apply_model`` (file, normalisation and
network) on a real region.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

N_ATTR, N_SERIES, N_PARAMS = 16, 9, 5
CONFIGS = {
    "paraformer_a small": {"kind": "paraformer_a", "d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1},
    "paraformer_a paper": {"kind": "paraformer_a", "d_model": 128, "n_heads": 4, "n_layers": 2, "dropout": 0.1},
    "paraformer_z small": {"kind": "paraformer_z", "d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1},
    "paraformer_z small patch 8": {"kind": "paraformer_z", "d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1,
                                   "patch_days": 8},
    "paraformer_z paper": {"kind": "paraformer_z", "d_model": 256, "n_heads": 8, "n_layers": 2, "dropout": 0.1},
    "paraformer_z paper patch 8": {"kind": "paraformer_z", "d_model": 256, "n_heads": 8, "n_layers": 2,
                                   "dropout": 0.1, "patch_days": 8},
}


def matmul_gflops(n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cells-a", type=int, default=65536)
    ap.add_argument("--cells-z", type=int, default=2048)
    ap.add_argument("--days", type=int, default=1096)
    ap.add_argument("--window", type=int, default=240)
    ap.add_argument("--param-windows", type=int, default=4)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--model")
    ap.add_argument("--region")
    args = ap.parse_args()
    from vic_paraformer.dl.cell_params import cell_u
    from vic_paraformer.dl.model_file import APPLY_BATCH_CELLS
    from vic_paraformer.dl.modelzoo import build_network

    for th in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(th)
        peak = matmul_gflops()
        print(f"--- {th} thread(s): matmul {peak:.1f} GFLOP/s")
        for name in args.configs.split(","):
            cfg = dict(CONFIGS[name], n_attr=N_ATTR, n_params=N_PARAMS)
            series = cfg["kind"] == "paraformer_z"
            if series:
                cfg["n_series"] = N_SERIES
            net = build_network(cfg).eval()
            n = args.cells_z if series else args.cells_a
            a = torch.randn(n, N_ATTR)
            s = torch.randn(n, args.days, N_SERIES) if series else None
            with FlopCounterMode(display=False) as fc:
                cell_u(net, a[:1], None if s is None else s[:1], args.days, args.window, args.param_windows, 1)
            gflop = fc.get_total_flops() / 1e9
            cell_u(net, a[:64], None if s is None else s[:64], args.days, args.window, args.param_windows, 64)
            t = time.perf_counter()
            cell_u(net, a, s, args.days, args.window, args.param_windows, APPLY_BATCH_CELLS[series])
            rate = n / (time.perf_counter() - t)
            ceiling = peak / max(gflop, 1e-12)
            print(f"{name:<28} {rate:>10,.0f} cells/s  {gflop * 1e3:9.3f} MFLOP/cell  ceiling {ceiling:>12,.0f} "
                  f"cells/s at the matmul rate ({rate * gflop:.1f} GFLOP/s reached)", flush=True)
    if args.model and args.region:
        from vic_paraformer.dl.model_file import apply_model
        from vic_paraformer.region import Region

        region = Region.open(args.region)
        t = time.perf_counter()
        apply_model(args.model, region)
        dt = time.perf_counter() - t
        print(f"apply_model {args.model} on {region.n_cells} cells: {dt:.2f} s, {region.n_cells / dt:,.0f} cells/s")


if __name__ == "__main__":
    main()
