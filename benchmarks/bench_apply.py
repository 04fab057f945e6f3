"""Throughput of applying a trained DL calibration network: cells per second, and why.

Usage::

    python benchmarks/bench_apply.py [--threads 1,2] [--cells-a 65536] [--cells-z 2048] [--days 1096]
        [--model MODEL.pt --region REGION.nc]
        [--e2e-cells 4096,65536 --e2e-sizes paper,small --region-days 30 --baseline /path/to/older/checkout]

For ParaFormer-A (``small`` and ``paper`` sizes) and ParaFormer-Z (``small``/``paper``, day tokens
and 8-day patches) it times :func:`vic_paraformer.dl.cell_params.cell_u` on random inputs of
``--days`` days (the network alone: normalisation and I/O excluded), counts the floating-point
operations of one cell with ``torch.utils.flop_counter`` and compares with the machine's measured
matrix-multiply rate: ``cells/s <= GFLOP/s / GFLOP per cell`` is the ceiling no batching can pass.
FLOPs are counted with PyTorch's fused inference kernel for transformer layers switched off: the
counter does not see inside that kernel (it would report only the embedding and the head).
Rates are CPU seconds of this process (the machine may be shared).

With ``--model`` and ``--region`` it also times the whole ``apply_model`` (file, normalisation and
network) on a real region. With ``--e2e-cells`` it builds, for each cell count, a region of
synthetic attributes (and ``--region-days`` days of constant forcing, which the schema requires
and an attribute network never reads) and ParaFormer-A model files of the ``--e2e-sizes`` (``paper``
= the ``cpu`` preset's d_model 128, N = 2; ``small`` = d_model 32, N = 1; untrained weights: the
cost does not depend on them), and times on one thread (the median of ``--repeats`` interleaved runs): the network alone on the normalised
attributes, ``apply_model`` end to end (file, lazily opened region, normalisation, network,
result) and ``vic-paraformer calibrate --apply`` as a command (its CPU seconds, Python and torch
start-up and writing the result included). ``--baseline DIR`` runs the same ``apply_model`` and
command with the package found in ``DIR`` (an older checkout) in the same run, and reports the
ratios and the largest difference between the two results' parameters.
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
    ap.add_argument("--e2e-cells", default="", help="comma-separated cell counts for the end-to-end comparison")
    ap.add_argument("--e2e-sizes", default="paper,small")
    ap.add_argument("--region-days", type=int, default=30)
    ap.add_argument("--baseline", help="a checkout of an earlier version to compare with in the same run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each end-to-end run (median)")
    args = ap.parse_args()
    if args.e2e_cells:
        end_to_end(args)
        return
    from vic_paraformer.dl.cell_params import cell_u, sdpa_attention
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
            with FlopCounterMode(display=False) as fc, sdpa_attention():  # fused kernels are invisible to it
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


E2E_SIZES = {"paper": {"d_model": 128, "n_heads": 4, "n_layers": 2}, "small": {"d_model": 32, "n_heads": 4, "n_layers": 1}}

#: Run in a child process with PYTHONPATH set to the package under test: apply_model end to end, CPU seconds.
_APPLY_CHILD = """
import sys, time
import torch
t0 = time.process_time()
from vic_paraformer.dl.model_file import apply_model
from vic_paraformer.region import Region
model, region, out = sys.argv[1:4]
torch.set_num_threads(1)
t = time.process_time()
r = Region.open(region, max_memory_gb=1.0)
res = apply_model(model, r, num_threads=1)
res.save(out)
r.close()
print("CPU", time.process_time() - t)
"""


def _build_inputs(folder, n: int, days: int) -> tuple[str, dict[str, str]]:
    """A region of ``n`` cells with synthetic attributes, and ParaFormer-A model files (one per size)."""
    import numpy as np
    import pandas as pd

    from vic_paraformer.dl import model_file
    from vic_paraformer.dl.inputs import InputNormalization
    from vic_paraformer.dl.modelzoo import build_network
    from vic_paraformer.parameters import ParameterSpace
    from vic_paraformer.region import FORCING_VARS, make_region

    rng = np.random.default_rng(0)
    side = int(np.ceil(np.sqrt(n)))
    constant = {"prec": 2.0, "air_temp": 10.0, "swdown": 200.0, "lwdown": 300.0, "pressure": 95.0, "vp": 1.0,
                "wind": 3.0}
    names = [f"attr{i}" for i in range(N_ATTR)]
    region = make_region(lat=30 + (np.arange(n) // side) * 0.01, lon=-100 + (np.arange(n) % side) * 0.01,
                         time=pd.date_range("2000-01-01", periods=days),
                         forcing={k: np.full((n, days), constant[k], np.float32) for k in FORCING_VARS},
                         attributes=rng.normal(1.0, 3.0, size=(n, N_ATTR)), attribute_names=names)
    path = str(region.save(folder / f"region{n}.nc"))
    norm = InputNormalization(names, [1.0] * N_ATTR, [3.0] * N_ATTR, list(FORCING_VARS), [0.0] * 7, [1.0] * 7, 0.3, 0.1)
    models = {}
    for size, arch in E2E_SIZES.items():
        torch.manual_seed(0)
        config = {"kind": "paraformer_a", "n_attr": N_ATTR, "n_params": N_PARAMS, "dropout": 0.1, **arch}
        models[size] = str(model_file.save(folder / f"paraformer_a_{size}.pt", build_network(config), model_file.payload(
            strategy="paraformer_a", network_config=config, uses_series=False, window=240, param_windows=1,
            normalization=norm, parameter_space=ParameterSpace.resolve(None), options={}, seed=0, train_cells=[0],
            obs_operator=None)))
    return path, models


def _child_cpu(cmd: list[str], pythonpath: str) -> float:
    """CPU seconds (user + system) of a child process run to completion (it must succeed)."""
    import os
    import resource
    import subprocess

    env = dict(os.environ, PYTHONPATH=pythonpath, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _applied_cpu(code: str, model: str, region: str, out: str) -> float:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _APPLY_CHILD, model, region, out], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": code, "OMP_NUM_THREADS": "1"})
    if proc.returncode:
        raise SystemExit(f"apply_model with {code} failed:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.split("CPU")[-1])


def end_to_end(args) -> None:
    """The ``--e2e-cells`` comparison (see the module docstring)."""
    import shutil
    import statistics
    import sys
    import tempfile
    from pathlib import Path

    import numpy as np
    import xarray as xr

    import vic_paraformer
    from vic_paraformer.dl.cell_params import cell_u
    from vic_paraformer.dl.model_file import APPLY_BATCH_CELLS, load
    from vic_paraformer.region import Region

    torch.set_num_threads(1)
    here = str(Path(vic_paraformer.__file__).resolve().parents[1])
    folder = Path(tempfile.mkdtemp(prefix="bench_apply_"))
    cli = [sys.executable, "-m", "vic_paraformer.cli.main"]
    try:
        print(f"--- end to end, 1 thread, CPU seconds; this code: {here}; baseline: {args.baseline or '-'}")
        for n in (int(c) for c in args.e2e_cells.split(",")):
            t = time.process_time()
            region_path, models = _build_inputs(folder, n, args.region_days)
            print(f"{n} cells x {args.region_days} days: region and models built in {time.process_time() - t:.1f} CPU-s")
            for size in args.e2e_sizes.split(","):
                model = models[size]
                m = load(model)
                region = Region.open(region_path)
                a = torch.as_tensor(m.normalization.attributes(region))
                cell_u(m.network, a[:64], None, 1, 1, 1, 64)
                net_cpu = []
                for _ in range(args.repeats):
                    t = time.process_time()
                    cell_u(m.network, a, None, 1, 1, 1, APPLY_BATCH_CELLS[False])
                    net_cpu.append(time.process_time() - t)
                net_rate = n / statistics.median(net_cpu)
                rows = [("network alone (cell_u)", net_rate)]
                new_out, old_out = str(folder / "new.nc"), str(folder / "old.nc")
                cmd = cli + ["calibrate", "--apply", model, "--region", region_path, "--out", str(folder / "cli.nc"),
                             "--threads", "1", "--overwrite"]
                runs = {"apply_model end to end": lambda: _applied_cpu(here, model, region_path, new_out),
                        "calibrate --apply (command)": lambda: _child_cpu(cmd, here)}
                if args.baseline:
                    runs["baseline apply_model end to end"] = lambda: _applied_cpu(args.baseline, model, region_path,
                                                                                   old_out)
                    runs["baseline calibrate --apply (command)"] = lambda: _child_cpu(cmd, args.baseline)
                cpu = {label: [] for label in runs}
                for _ in range(args.repeats):  # interleaved, so that a change of the machine's load hits all alike
                    for label, run in runs.items():
                        cpu[label].append(run())
                rows += [(label, n / statistics.median(v)) for label, v in cpu.items()]
                print(f"  ParaFormer-A {size}:")
                for label, rate in rows:
                    print(f"    {label:<38} {rate:>10,.0f} cells/s   {rate / net_rate:5.2f} x network alone")
                if args.baseline:
                    new, old = (xr.open_dataset(p).load() for p in (new_out, old_out))
                    diff = max(float(np.max(np.abs(new[v].values - old[v].values))) for v in m.parameter_space.names)
                    print(f"    this code / baseline: apply_model {rows[1][1] / rows[3][1]:.2f}x, command "
                          f"{rows[2][1] / rows[4][1]:.2f}x; largest parameter difference {diff:.3g}")
                region.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
