"""Cost per calibrated cell: SCE-UA with the simulator in the loop vs ParaFormer-Z through the surrogate.

Usage::

    python benchmarks/bench_cost.py [--sizes 16,32] [--years 3] [--sceua-grid 8] [--repetitions 1000]
        [--surrogate-preset demo] [--pz-preset small] [--vic-runs 3] [--workdir DIR]

Measured (CPU seconds of the whole process tree, :mod:`_proctree`; commands run under ``nice``):

1. **SCE-UA, simulator in the loop** (``-o simulator=waterbalance``) on the DAS-S4 training cells
   of a ``--sceua-grid`` x ``--sceua-grid`` twin: CPU per calibrated cell. Each cell is an
   independent optimisation on its own series, so the cost per cell does not depend on the region.
2. **ParaFormer-Z through the surrogate** on ``--sizes`` twins (N x N cells, DAS-S4 training
   cells): ``surrogate train`` (its data generation included) + ``calibrate`` with paraformer_z
   at fixed epochs (``--pz-preset``). The CPU of ``calibrate`` against the number of training cells
   is the DL training cost as cells grow (fixed epochs), with its fitted exponent.
3. **VIC** (``/opt/vic/bin/vic_image.exe`` or ``$VIC_IMAGE_EXE``, with the WalnutGulch sample in
   ``/work/shared/vic-sample-data`` or ``$VIC_SAMPLE_DATA``): the CPU of one single-cell VIC run,
   scaled to the twin's days and multiplied by SCE-UA's measured runs per cell, gives SCE-UA-with-VIC
   per calibrated cell (an extrapolation from measured runs, stated as such).

The crossover: ParaFormer-Z's total is fitted as ``F + b * n`` over training cells ``n`` (F:
surrogate and fixed costs); SCE-UA's as ``c * n``; they cross at ``n* = F / (c - b)``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proctree import fit_exponent, niced_env, run_measured  # noqa: E402


def _run(cmd, env, label):
    m = run_measured(["nice", "-n", "10", *cmd], env=env)
    if m.returncode != 0:
        raise SystemExit(f"{label} failed (rc {m.returncode}):\n{m.output[-2000:]}")
    print(f"  {label:<34} wall {m.wall_s:7.1f} s  CPU {m.cpu_s:7.1f} s  peak {m.peak_rss_gb:5.2f} GB", flush=True)
    return m


def _vic_cpu(sim, region, params, n_runs: int) -> float:
    cpus = []
    for _ in range(n_runs):
        s0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        sim.simulate(region, params)
        s1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime)
                    + (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime))
    return float(np.median(cpus))


def vic_costs(n_runs: int) -> dict | None:
    """CPU of VIC runs: a fixed start-up ``s0`` per run plus ``k`` per cell-day, fitted from three
    measured run shapes (1 cell x 91 days, 1 cell x 366 days, all cells x 366 days)."""
    exe = os.environ.get("VIC_IMAGE_EXE", "/opt/vic/bin/vic_image.exe")
    sample = Path(os.environ.get("VIC_SAMPLE_DATA", "/work/shared/vic-sample-data"))
    glob = sample / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
    if not (Path(exe).exists() and glob.exists()):
        print(f"  VIC: not measured ({exe} or {glob} missing)")
        return None
    import vic_paraformer as vp
    from vic_paraformer.simulators.vic import VICSimulator
    from vic_paraformer.vic.importer import region_from_vic

    space = vp.ParameterSpace.preset()
    full = region_from_vic(glob, variables={"VIC_SAMPLE_DATA": str(sample)}, end="2008-12-31")
    shapes = [(full.load_cells(slice(0, 1)).sel_time(None, "2008-03-31")), full.load_cells(slice(0, 1)), full]
    xs, ys = [], []
    with tempfile.TemporaryDirectory(prefix="vp-bench-vic-") as tmp:
        sim = VICSimulator(exe=exe, workdir=tmp, progress=False)
        for reg in shapes:
            params = space.to_dataset(np.tile(space.midpoint(), (reg.n_cells, 1)), reg.cells)
            cpu = _vic_cpu(sim, reg, params, n_runs)
            xs.append(reg.n_cells * reg.n_days)
            ys.append(cpu)
            print(f"  VIC {reg.n_cells} cell(s) x {reg.n_days} days: median CPU {cpu:.3f} s per run ({n_runs} runs)")
    k, s0 = np.polyfit(np.asarray(xs, float), np.asarray(ys), 1)
    s0, k = max(float(s0), 0.0), max(float(k), 1e-9)
    print(f"  VIC fit: {s0:.3f} s start-up + {k * 1e6:.1f} us per cell-day")
    return {"startup_s": s0, "per_cell_day_s": k, "shapes": xs, "cpu": ys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="16,32", help="grid sides of the ParaFormer-Z twins (default 16,32)")
    ap.add_argument("--years", type=float, default=3)
    ap.add_argument("--sceua-grid", type=int, default=8, help="grid side of the SCE-UA twin (default 8: 4 cells)")
    ap.add_argument("--repetitions", type=int, default=1000, help="SCE-UA budget per cell (default 1000)")
    ap.add_argument("--surrogate-preset", default="demo")
    ap.add_argument("--pz-preset", default="small")
    ap.add_argument("--vic-runs", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("vic-paraformer"))
    env = niced_env(1)
    root = Path(args.workdir or tempfile.mkdtemp(prefix="vp-bench-cost-"))
    root.mkdir(parents=True, exist_ok=True)
    out: dict = {"settings": vars(args)}
    try:
        print(f"SCE-UA with waterbalance in the loop ({args.sceua_grid}^2 twin, DAS-S4, {args.repetitions} runs max)")
        g = args.sceua_grid
        r = root / "sceua_region.nc"
        _run([exe, "synth", "--out", str(r), "--ny", str(g), "--nx", str(g), "--years", str(args.years),
              "--train-k", "4"], env, "synth")
        m = _run([exe, "calibrate", "--region", str(r), "--strategy", "sceua", "-o", "simulator=waterbalance",
                  "-o", f"repetitions={args.repetitions}", "-o", "n_workers=1", "--out", str(root / "sceua.nc")],
                 env, "calibrate sceua (waterbalance)")
        import xarray as xr

        from vic_paraformer.calibrator import CalibrationResult

        res = CalibrationResult.open(root / "sceua.nc")
        n_sce = len(res.train_cells)
        evals = float(res.n_evaluations) / n_sce
        sce_cell = m.cpu_s / n_sce
        print(f"  -> {n_sce} cells, {evals:.0f} runs per cell, {sce_cell:.1f} CPU-s per calibrated cell "
              f"({1e3 * m.cpu_s / res.n_evaluations:.1f} ms per run incl. start-up)")
        out["sceua_waterbalance"] = {"cells": n_sce, "runs_per_cell": evals, "cpu_s": m.cpu_s,
                                     "cpu_per_cell": sce_cell, "wall_s": m.wall_s}
        del xr

        print("ParaFormer-Z through the surrogate (surrogate data + training + calibration)")
        rows = []
        for side in (int(s) for s in args.sizes.split(",")):
            r = root / f"pz_region_{side}.nc"
            _run([exe, "synth", "--out", str(r), "--ny", str(side), "--nx", str(side), "--years", str(args.years),
                  "--train-k", "4"], env, f"synth {side}^2")
            sur = root / f"sur_{side}.pt"
            ms = _run([exe, "surrogate", "train", "--region", str(r), "--out", str(sur), "--preset",
                       args.surrogate_preset, "--threads", "1", "--no-progress"], env, f"surrogate train {side}^2")
            mc = _run([exe, "calibrate", "--region", str(r), "--strategy", "paraformer_z", "--surrogate", str(sur),
                       "-o", f"preset={args.pz_preset}", "-o", "threads=1", "-o", "progress=false",
                       "--out", str(root / f"pz_{side}.nc")], env, f"calibrate paraformer_z {side}^2")
            n_train = len(CalibrationResult.open(root / f"pz_{side}.nc").train_cells)
            total = ms.cpu_s + mc.cpu_s
            rows.append({"side": side, "cells": side * side, "train_cells": n_train, "surrogate_cpu_s": ms.cpu_s,
                         "calibrate_cpu_s": mc.cpu_s, "total_cpu_s": total, "cpu_per_cell": total / n_train})
            print(f"  -> {n_train} training cells: {total / n_train:.1f} CPU-s per calibrated cell "
                  f"(SCE-UA/ParaFormer-Z ratio {sce_cell / (total / n_train):.2f})")
        out["paraformer_z"] = rows
        n = np.array([r_["train_cells"] for r_ in rows], float)
        tot = np.array([r_["total_cpu_s"] for r_ in rows])
        if len(rows) >= 2:
            b, f = np.polyfit(n, tot, 1)
            ex = fit_exponent(n, [r_["calibrate_cpu_s"] for r_ in rows])
            print(f"\nParaFormer-Z total CPU ~ {f:.1f} + {b:.2f} * n_train; calibrate CPU grows as n_train^{ex:.2f} "
                  "at fixed epochs")
            cross = f / (sce_cell - b) if sce_cell > b else float("inf")
            print(f"SCE-UA (waterbalance) {sce_cell:.1f} CPU-s per cell: crossover at n* = {cross:.1f} training cells"
                  + ("" if np.isfinite(cross) else " (never: SCE-UA is cheaper per cell)"))
            out["fit"] = {"fixed_cpu_s": f, "per_cell_cpu_s": b, "calibrate_exponent": ex, "crossover_waterbalance": cross}
        print("\nVIC")
        vic = vic_costs(args.vic_runs)
        if vic is not None:
            from vic_paraformer.surrogate.train import SURROGATE_PRESETS

            days = int(round(365.25 * args.years))
            run_cell = vic["startup_s"] + vic["per_cell_day_s"] * days  # one SCE-UA run: one cell, one process
            vic_cell = run_cell * evals
            vic["sceua_cpu_per_cell_estimate"] = vic_cell
            print(f"  SCE-UA with VIC in the loop ~ {evals:.0f} runs x {run_cell:.3f} s = {vic_cell:.1f} CPU-s per "
                  f"calibrated cell (estimate: measured run costs x measured SCE-UA runs per cell)")
            n_samples = int(SURROGATE_PRESETS[args.surrogate_preset]["n_samples"])

            def vic_data(cells: int) -> float:  # the surrogate's training data as VIC runs: one run per sample
                return n_samples * (vic["startup_s"] + vic["per_cell_day_s"] * cells * days)

            if rows:
                last = rows[-1]
                pz_vic = last["total_cpu_s"] + vic_data(last["cells"])
                print(f"  ParaFormer-Z with a VIC-trained surrogate ({n_samples} VIC runs of all {last['cells']} cells "
                      f"= {vic_data(last['cells']):.0f} CPU-s): {pz_vic / last['train_cells']:.1f} CPU-s per calibrated "
                      f"cell; SCE-UA(VIC)/ParaFormer-Z = {vic_cell * last['train_cells'] / pz_vic:.2f}")
                vic["pz_total_vic_data"] = pz_vic
            if len(rows) >= 2:
                # DAS-S4: a region has ~16 cells per training cell; a surrogate on all of them costs
                # vic_data(16 n), on at most `cap` cells (--max-cells) a fixed vic_data(cap)
                per_cell_data = n_samples * vic["per_cell_day_s"] * 16 * days
                slope = vic_cell - b - per_cell_data
                cross = (f + n_samples * vic["startup_s"]) / slope if slope > 0 else float("inf")
                vic["crossover_all_cells"] = cross
                print(f"  crossover with the surrogate on all cells (DAS-S4): "
                      + (f"n* = {cross:.0f} training cells" if np.isfinite(cross) else
                         "none: the surrogate's VIC data cost more per training cell than SCE-UA does"))
                for cap in (1024, 4096):
                    fixed = f + vic_data(cap)
                    cross = fixed / (vic_cell - b) if vic_cell > b else float("inf")
                    vic[f"crossover_max_cells_{cap}"] = cross
                    print(f"  surrogate on --max-cells {cap}: fixed {fixed:.0f} CPU-s; crossover at n* = {cross:.0f} "
                          "training cells")
            out["vic"] = vic
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
