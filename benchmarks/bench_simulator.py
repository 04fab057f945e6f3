"""Throughput of the ``waterbalance`` simulator in cell-days per second.

A synthetic region of ``--cells`` cells (a ``ny x nx`` grid) and ``--years`` years is simulated
with ``--samples`` parameter sets per cell (a Latin-hypercube ensemble), in float32 and float64,
three ways:

* ``core``: :func:`run_waterbalance` on one batch of ``samples x cells`` series (no autograd);
* ``simulate``: :meth:`WaterBalanceSimulator.simulate` (adds xarray in/out);
* ``ensemble``: :class:`EnsembleRunner` in process (``--chunk-size`` series per chunk).

Usage::

    python benchmarks/bench_simulator.py [--cells 1000] [--years 3] [--samples 1 8] [--threads N]
                                         [--device cpu|cuda] [--repeat 2] [--grad]

Target: at least 1e6 cell-days/s for a 1,000-cell, 3-year ensemble on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np
import torch

from vic_paraformer import ParameterSpace
from vic_paraformer.ensemble import EnsembleRunner
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator, run_waterbalance, soil_from_region
from vic_paraformer.synthetic import synthetic_region


def _grid(n: int) -> tuple[int, int]:
    ny = int(math.sqrt(n))
    while n % ny:
        ny -= 1
    return ny, n // ny


def _best(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def sensitivity(seed: int) -> None:
    """RMS change of simulated sm (m3/m3) when one true parameter is scaled by 0.7 or 1.3 (clipped to bounds)."""
    region = synthetic_region(ny=8, nx=8, years=3, seed=seed)
    space = ParameterSpace.preset("vic")
    sim = WaterBalanceSimulator(device="cpu", dtype="float64")
    truth = region.parameters(prefix="true_")
    base = sim.run_arrays(region, truth)
    print(f"# sm sensitivity on synthetic_region(8, 8, 3, seed={seed}); obs noise is 0.01 m3/m3")
    print(f"{'param':<8}{'factor':>7}{'rms d(sm)':>11}{'mean baseflow':>15}{'mean runoff':>13}")
    for j, name in enumerate(space.names):
        for f in (0.7, 1.3):
            th = truth.copy()
            th[:, j] = np.clip(th[:, j] * f, space.lower[j], space.upper[j])
            out = sim.run_arrays(region, th)
            rms = float(np.sqrt(np.mean((out["sm"] - base["sm"]) ** 2)))
            print(f"{name:<8}{f:>7.1f}{rms:>11.4f}{out['baseflow'].mean():>15.3f}{out['runoff'].mean():>13.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--years", type=float, default=3)
    ap.add_argument("--samples", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--grad", action="store_true", help="also time forward+backward of an sm loss (float64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sensitivity", action="store_true",
                    help="only print how much top-layer sm moves when each true parameter is scaled by 0.7/1.3 "
                         "(synthetic_region(8, 8, 3, seed)) and exit")
    args = ap.parse_args()
    if args.sensitivity:
        sensitivity(args.seed)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    ny, nx = _grid(args.cells)
    t0 = time.perf_counter()
    region = synthetic_region(ny=ny, nx=nx, years=args.years, seed=args.seed)
    t_gen = time.perf_counter() - t0
    print(f"# waterbalance throughput | torch {torch.__version__} | {platform.processor() or platform.machine()} | "
          f"threads {torch.get_num_threads()} | device {args.device}")
    print(f"region: {region.n_cells} cells ({ny}x{nx}) x {region.n_days} days; synthetic_region took {t_gen:.2f} s")
    space = ParameterSpace.preset("vic")
    forcing_np = region.forcing()
    print(f"{'mode':<10}{'dtype':<9}{'samples':>8}{'series':>9}{'seconds':>10}{'cell-days/s':>14}")
    for n_s in args.samples:
        theta = np.stack([space.sample(region.n_cells, seed=args.seed + s) for s in range(n_s)])
        cell_days = n_s * region.n_cells * region.n_days
        for dtype in (torch.float32, torch.float64):
            dev = torch.device(args.device)
            forcing = torch.as_tensor(forcing_np).to(dev, dtype).repeat(n_s, 1, 1)
            soil = soil_from_region(region, n_samples=n_s, dtype=dtype, device=dev)
            th = torch.as_tensor(theta.reshape(-1, 5)).to(dev, dtype)

            def core():
                with torch.no_grad():
                    run_waterbalance(forcing, soil, th)

            sec = _best(core, args.repeat)
            name = str(dtype).replace("torch.", "")
            print(f"{'core':<10}{name:<9}{n_s:>8}{n_s * region.n_cells:>9}{sec:>10.3f}{cell_days / sec:>14.3e}")
            del forcing
            sim = WaterBalanceSimulator(device=args.device, dtype=name)
            params = space.to_dataset(theta, region.cells, dims=("sample", "cell"))
            sec = _best(lambda: sim.simulate(region, params), args.repeat)
            print(f"{'simulate':<10}{name:<9}{n_s:>8}{n_s * region.n_cells:>9}{sec:>10.3f}{cell_days / sec:>14.3e}")
            runner = EnsembleRunner(sim, n_workers=1, chunk_size=args.chunk_size, progress=False)
            sec = _best(lambda: runner.run(region, params), args.repeat)
            print(f"{'ensemble':<10}{name:<9}{n_s:>8}{n_s * region.n_cells:>9}{sec:>10.3f}{cell_days / sec:>14.3e}")
    if args.grad:
        dev = torch.device(args.device)
        forcing = torch.as_tensor(forcing_np).to(dev, torch.float64)
        soil = soil_from_region(region, dtype=torch.float64, device=dev)
        th = torch.as_tensor(region.parameters(prefix="true_")).to(dev).requires_grad_(True)
        obs = torch.as_tensor(region.observations("obs_sm")).to(dev)
        mask = torch.isfinite(obs)

        def fwd_bwd():
            th.grad = None
            sm = run_waterbalance(forcing, soil, th)["sm"]
            loss = ((sm - torch.nan_to_num(obs)) ** 2)[mask].mean()
            loss.backward()

        sec = _best(fwd_bwd, 1)
        cd = region.n_cells * region.n_days
        print(f"{'grad':<10}{'float64':<9}{1:>8}{region.n_cells:>9}{sec:>10.3f}{cd / sec:>14.3e}")


if __name__ == "__main__":
    main()
