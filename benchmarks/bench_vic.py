"""Benchmark VIC ensembles through the path users take (EnsembleRunner) against direct VIC runs.

On the WalnutGulch sample (15 cells, 3-hourly forcing, 2008) it prints:

* ``direct``: the wall time of the VIC process alone on one prepared run directory (median of
  ``--repeats``), i.e. what a user running ``vic_image.exe -g global.txt`` by hand waits for;
* ``EnsembleRunner, 1 worker``: wall time per run of ``--samples`` parameter sets through
  ``EnsembleRunner(VICSimulator(...), n_workers=1)`` (parameter file copy, global file, VIC, reading
  the history file back), and its ratio to ``direct`` (target <= 1.05);
* ``EnsembleRunner, N workers``: the same with ``--workers`` processes (pool started before the
  timing) and its speed-up over one worker (target >= 1.8 with 2 workers on an idle 2-core machine).

Needs the VIC image driver (``--exe``, ``$VIC_IMAGE_EXE`` or ``vic_image.exe`` on PATH) and the
sample data (``--sample-data``, default ``$VIC_SAMPLE_DATA`` or ``<repo>/../shared/vic-sample-data``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_vic.py --exe /path/to/vic_image.exe
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vic_paraformer.ensemble import EnsembleRunner
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.runner import RunDir, run_vic

from _walnutgulch import add_options, open_setup  # noqa: E402



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(ap)
    ap.add_argument("--repeats", type=int, default=5, help="direct-run repeats (median reported)")
    ap.add_argument("--samples", type=int, default=8, help="ensemble size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    setup = open_setup(args)
    if setup is None:
        return 1
    exe, region = setup.exe, setup.region
    print(f"region: {region.n_cells} cells x {region.n_days} days; VIC {exe}; cpu count {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    space = ParameterSpace.preset("vic")
    sets = space.sample(args.samples, seed=args.seed)
    values = np.broadcast_to(sets[:, None, :], (args.samples, region.n_cells, space.n))
    ens = space.to_dataset(values, region.cells, dims=("sample", "cell"))

    with tempfile.TemporaryDirectory(prefix="bench_vic_") as work:
        sim = VICSimulator(exe=exe, workdir=work, progress=False, keep_runs=True)
        out = sim.simulate(region, ens.isel(sample=0))
        run = RunDir(Path(out.attrs["vic_run_dir"]))
        direct = statistics.median(run_vic(run, exe) for _ in range(args.repeats))
        print(f"direct VIC run (the process alone, median of {args.repeats}): {direct:.3f} s")

        sim = VICSimulator(exe=exe, workdir=work, progress=False)
        walls = {}
        for workers in sorted({1, args.workers}):
            with EnsembleRunner(sim, n_workers=workers, progress=False) as runner:
                if workers > 1:
                    runner.run(region, ens.isel(sample=list(range(min(workers, args.samples)))))  # start the pool
                t0 = time.perf_counter()
                res = runner.run(region, ens)
                walls[workers] = time.perf_counter() - t0
            assert np.isfinite(res["sm"].values).all()
            per_run = walls[workers] / args.samples
            line = (f"EnsembleRunner, {workers} worker(s): {walls[workers]:.2f} s for {args.samples} runs, "
                    f"{per_run:.3f} s per run, {per_run * workers / direct:.3f} x direct per run and worker")
            if workers > 1:
                line += f"; speed-up over 1 worker {walls[1] / walls[workers]:.2f}x"
            print(line)
    print(f"ratio (1 worker, per run / direct): {walls[1] / args.samples / direct:.3f}  (target <= 1.05)")
    if args.workers > 1:
        print(f"speed-up ({args.workers} workers / 1): {walls[1] / walls[args.workers]:.2f}x  (target >= 1.8 on an "
              "idle 2-core machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
