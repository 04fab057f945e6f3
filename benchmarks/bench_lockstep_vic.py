"""Lockstep vs per-cell SCE-UA with VIC in the loop: VIC processes, CPU seconds per calibrated cell, objective.

On the WalnutGulch sample (15 cells, 3-hourly forcing) a twin experiment: ``obs_sm`` is VIC's own
top-layer soil moisture under per-cell "true" parameters drawn from the parameter space (seed
``--seed``), and SCE-UA calibrates the five VIC parameters of every cell against it, in this process
(``n_workers=1``) so that CPU time is counted exactly: this process's CPU time plus that of every
VIC child (``RUSAGE_CHILDREN``).

* **lockstep** (the default): all 15 cells' optimisers advance together; each step is one VIC run
  over the cells still optimising (one spin-up and one main process);
* **per-cell** (``lockstep=False``): one one-cell VIC run per candidate per cell. Its cost per cell
  does not depend on the other cells, so it runs on the first ``--per-cell-cells`` cells only (all
  15 with ``--per-cell-cells 15``) and is reported per calibrated cell.

For each it prints the VIC processes started, CPU seconds (and per calibrated cell), wall seconds,
and the VIC-verified objective: one final VIC run with the calibrated parameters of all cells,
RMSE of sm against obs_sm per cell (mean over the cells both calibrated). The two must be equal (same
trajectories for a fixed seed), which the script checks. Then the ratios, measured in this run.

Needs the VIC image driver (``--exe``, ``$VIC_IMAGE_EXE`` or ``vic_image.exe`` on PATH) and the
sample data (``--sample-data``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_lockstep_vic.py --exe /opt/vic/bin/vic_image.exe \\
        --end 2008-12-31 --repetitions 200 --ngs 5 --per-cell-cells 15
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import tempfile
import time

import numpy as np

from _walnutgulch import add_options, open_setup  # noqa: E402



def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its (waited-for) children, the VIC processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(ap)
    ap.add_argument("--repetitions", type=int, default=200, help="most VIC runs per cell (default 200)")
    ap.add_argument("--ngs", type=int, default=5, help="SCE-UA complexes (default 5)")
    ap.add_argument("--per-cell-cells", type=int, default=15,
                    help="cells the per-cell baseline calibrates (default all 15)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import vic_paraformer as vp
    from vic_paraformer.parameters import ParameterSpace
    from vic_paraformer.simulators import vic as vic_mod
    from vic_paraformer.simulators.vic import VICSimulator

    setup = open_setup(args)
    if setup is None:
        return 1
    exe, region = str(setup.exe), setup.region
    space = ParameterSpace.preset("vic")
    processes = [0]
    real_run_vic = vic_mod.run_vic

    def counting_run_vic(*a, **kw):
        processes[0] += 1
        return real_run_vic(*a, **kw)

    vic_mod.run_vic = counting_run_vic
    with tempfile.TemporaryDirectory(prefix="bench_lockstep_") as work:
        sim_opts = {"exe": exe, "workdir": work, "progress": False, "spinup_years": 1}
        sim = VICSimulator(**sim_opts)
        truth = space.sample(region.n_cells, seed=args.seed)
        obs = np.asarray(sim.simulate(region, space.to_dataset(truth, region.cells))["sm"].transpose("cell", "time"))
        region = vp.Region(region.ds.assign(obs_sm=(("cell", "time"), obs))).with_training_cells(region.cells)
        print(f"region: WalnutGulch, {region.n_cells} cells x {region.n_days} days (each run spun up over its first year, or all of it when shorter); "
              f"SCE-UA ngs {args.ngs}, up to {args.repetitions} runs per cell, seed {args.seed}; VIC {exe}; "
              f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
        kw = dict(simulator="vic", simulator_options=sim_opts, repetitions=args.repetitions, ngs=args.ngs,
                  n_workers=1, loss="paper", seed=args.seed)

        def verified(result, cells) -> np.ndarray:
            sm = np.asarray(sim.run_result(region, result)["sm"].transpose("cell", "time"))
            rows = np.searchsorted(region.cells, cells)
            return np.sqrt(np.nanmean((sm[rows] - obs[rows]) ** 2, axis=1))

        for module in ("spotpy.algorithms", "torch"):  # imported before the timing: neither mode pays it
            importlib.import_module(module)

        runs = {}
        for name, sub, lock in (("lockstep", region, True),
                                ("per-cell", region.with_training_cells(region.cells[:args.per_cell_cells]), False)):
            processes[0] = 0
            c0, t0 = _cpu(), time.perf_counter()
            res = vp.calibrate(sub, strategy="sceua", lockstep=lock, **kw)
            (own1, kids1), wall, procs = _cpu(), time.perf_counter() - t0, processes[0]
            own, kids = own1 - c0[0], kids1 - c0[1]
            cpu = own + kids
            cells = np.asarray(res.info["calibrated_cells"])
            runs[name] = dict(res=res, cells=cells, cpu=cpu, wall=wall, procs=procs, n=len(cells),
                              evals=int(res.n_evaluations))
            print(f"{name:9s}: {len(cells):2d} cells, {res.n_evaluations} VIC-evaluated candidates, {procs} VIC "
                  f"processes, {cpu:.1f} CPU-s ({cpu / len(cells):.2f} per calibrated cell; Python {own:.1f}, VIC {kids:.1f}), "
                  f"{wall:.1f} s wall")
        lk, pc = runs["lockstep"], runs["per-cell"]
        common = pc["cells"]
        v_lock, v_per = verified(lk["res"], common), verified(pc["res"], common)
        v_all = verified(lk["res"], lk["cells"])
        by_cell = dict(zip(lk["cells"].tolist(), lk["res"].history["best_objective"]))
        print(f"VIC-verified RMSE (mean over the {len(common)} cells both calibrated): lockstep {v_lock.mean():.5f}, "
              f"per-cell {v_per.mean():.5f}; lockstep over all {lk['n']} cells {v_all.mean():.5f} "
              "(the true parameters give 0)")
        same = np.array_equal(lk["res"].values()[np.searchsorted(region.cells, common)],
                              pc["res"].values()[np.searchsorted(region.cells, common)])
        same = same and [by_cell[int(c)] for c in common] == list(pc["res"].history["best_objective"])
        print(f"same calibrated parameters and objectives on the common cells: {same}")
        proc_per_cell = (pc["procs"] / pc["n"]) / (lk["procs"] / lk["n"])
        cpu_ratio = (pc["cpu"] / pc["n"]) / (lk["cpu"] / lk["n"])
        print(f"ratio VIC processes per calibrated cell (per-cell / lockstep): {proc_per_cell:.1f}x")
        print(f"ratio CPU-s per calibrated cell (per-cell / lockstep): {cpu_ratio:.2f}x  (target >= 5 at equal "
              "objective)")
    vic_mod.run_vic = real_run_vic
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
