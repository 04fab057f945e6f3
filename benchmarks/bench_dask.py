"""Benchmark a VIC ensemble on a Dask cluster of worker processes against the local process pool.

On the WalnutGulch sample (15 cells, 3-hourly forcing, 2008) one ensemble of ``--samples``
parameter sets runs through :class:`vic_paraformer.ensemble.EnsembleRunner` four ways:

* ``local, 1 worker``: in this process (one VIC process at a time);
* ``local pool, 2 workers``: the local process pool;
* ``dask, 1 worker`` / ``dask, 2 workers``: ``dask scheduler`` and ``dask worker`` processes on
  127.0.0.1 (one thread each, no nanny), reached by ``tcp://127.0.0.1:PORT`` as a remote cluster is;
* ``local, 1 worker (again)``: the first configuration once more, to show how much the machine's
  load moved the figures in between (the ratios use the mean of both rounds).

Each is warmed up first (pool or workers started, one run per worker) and then timed. Reported per
VIC run: wall seconds and CPU seconds of the whole process tree (this process, the pool or the
scheduler and workers, and the VIC processes they reaped), and that CPU split by process (this
process; the pool or Dask workers with their VIC runs; the scheduler). Printed ratios, all from this
one run:

* dask 1 worker / local 1 worker, per run (target <= 1.1);
* dask 2 workers speed-up over dask 1 worker, wall (target >= 1.7);
* the VIC cost per cell-day (CPU microseconds) and the fixed cost per run, from a short and a full
  run, which the cost model in docs/scaling.md uses.

Wall-time ratios need an idle machine: the load average is printed at the start and the end.
Needs the VIC image driver (``--exe``, ``$VIC_IMAGE_EXE`` or PATH) and the sample data::

    OMP_NUM_THREADS=1 python benchmarks/bench_dask.py --exe /opt/vic/bin/vic_image.exe
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from vic_paraformer.ensemble import EnsembleRunner
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.importer import region_from_vic
from _walnutgulch import add_options, open_setup  # noqa: E402

DASK = Path(sys.executable).with_name("dask")


def cpu_by_process() -> dict[str, float]:
    """CPU seconds of this process and of each live descendant (with the children each has reaped,
    e.g. the VIC processes of a worker), by role: this process, pool or Dask workers, scheduler."""
    out: dict[str, float] = {}
    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if p.pid == me.pid:
            role = "this process"
        elif "vic_image" in cmd:
            continue  # a running VIC process: counted in its parent when reaped
        elif " scheduler " in f"{cmd} ":
            role = "scheduler"
        else:
            role = "workers"
        out[role] = out.get(role, 0.0) + t.user + t.system + t.children_user + t.children_system
    return out


def tree_cpu() -> float:
    """CPU seconds of this process and every live descendant, with the children each has reaped."""
    return sum(cpu_by_process().values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and worker processes on loopback, started and stopped by their own process groups."""

    def __init__(self, folder: Path, env: dict) -> None:
        self.folder, self.env, self.procs = folder, env, []
        self.address = f"tcp://127.0.0.1:{_free_port()}"

    def _start(self, *args: str) -> None:
        log = open(self.folder / f"{args[0]}{len(self.procs)}.log", "wb")
        self.procs.append(subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                           start_new_session=True, cwd=self.folder))
        log.close()

    def start_scheduler(self) -> None:
        self._start("scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1], "--no-dashboard",
                    "--no-show")

    def add_worker(self) -> None:
        local = self.folder / f"w{len(self.procs)}"
        local.mkdir()
        self._start("worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                    "--no-dashboard", "--local-directory", str(local))

    def close(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


BREAKDOWN: dict[str, dict[str, float]] = {}


def timed(runner: EnsembleRunner, region, ens, warm, name: str | None = None) -> tuple[float, float, object]:
    runner.run(region, warm)
    c0, t0 = cpu_by_process(), time.perf_counter()
    out = runner.run(region, ens)
    wall, c1 = time.perf_counter() - t0, cpu_by_process()
    parts = {k: c1[k] - c0.get(k, 0.0) for k in c1}
    if name is not None:
        BREAKDOWN[name] = parts
    return wall, sum(parts.values()), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(ap)
    ap.add_argument("--samples", type=int, default=6, help="ensemble size (default 6)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    setup = open_setup(args)
    if setup is None:
        return 1
    gfile, variables, exe, region = setup.gfile, setup.variables, setup.exe, setup.region
    space = ParameterSpace.preset("vic")
    sets = space.sample(args.samples, seed=args.seed)
    ens = space.to_dataset(np.broadcast_to(sets[:, None, :], (args.samples, region.n_cells, space.n)), region.cells,
                           dims=("sample", "cell"))
    warm2 = ens.isel(sample=[0, 1])
    print(f"region: {region.n_cells} cells x {region.n_days} days; {args.samples} VIC runs per ensemble; VIC {exe}; "
          f"cpu count {os.cpu_count()}; load average at start {os.getloadavg()[0]:.2f}")
    sim = VICSimulator(exe=exe, progress=False)
    rows = {}
    outs = {}

    with EnsembleRunner(sim, n_workers=1) as r:
        rows["local, 1 worker"] = timed(r, region, ens, ens.isel(sample=[0]), "local, 1 worker")
    with EnsembleRunner(sim, n_workers=2) as r:
        rows["local pool, 2 workers"] = timed(r, region, ens, warm2, "local pool, 2 workers")

    env = {**os.environ, "VIC_IMAGE_EXE": str(exe), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="bench_dask_") as work:
        cl = Cluster(Path(work), env)
        try:
            cl.start_scheduler()
            cl.add_worker()
            from dask.distributed import Client

            with Client(cl.address, timeout="60s") as client:
                client.wait_for_workers(1, timeout=120)
                with EnsembleRunner(sim, client=client) as r:
                    rows["dask, 1 worker"] = timed(r, region, ens, ens.isel(sample=[0]), "dask, 1 worker")
                cl.add_worker()
                client.wait_for_workers(2, timeout=120)
                with EnsembleRunner(sim, client=client) as r:
                    rows["dask, 2 workers"] = timed(r, region, ens, warm2, "dask, 2 workers")
        finally:
            cl.close()
    with EnsembleRunner(sim, n_workers=1) as r:  # again, after the others: how much the machine's load moves it
        rows["local, 1 worker (again)"] = timed(r, region, ens, ens.isel(sample=[0]), "local, 1 worker (again)")

    n = args.samples
    print(f"{'configuration':24s} {'wall s/run':>11s} {'CPU s/run':>10s}")
    for name, (wall, cpu, out) in rows.items():
        parts = ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(BREAKDOWN.get(name, {}).items()))
        print(f"{name:24s} {wall / n:11.3f} {cpu / n:10.3f}   ({parts})")
        outs[name] = out
    ref = outs["local, 1 worker"]
    same = all(np.array_equal(o[k].values, ref[k].values, equal_nan=True) for o in outs.values()
               for k in ("sm", "et", "runoff", "baseflow"))
    w = {k: v[0] for k, v in rows.items()}
    c = {k: v[1] for k, v in rows.items()}
    w["local, 1 worker"] = (w["local, 1 worker"] + w.pop("local, 1 worker (again)")) / 2
    c["local, 1 worker"] = (c["local, 1 worker"] + c.pop("local, 1 worker (again)")) / 2
    print(f"outputs identical across all runs: {same}")
    print(f"dask 1 worker / local 1 worker (mean of its two rounds) per run: wall "
          f"{w['dask, 1 worker'] / w['local, 1 worker']:.3f}x, CPU {c['dask, 1 worker'] / c['local, 1 worker']:.3f}x "
          "(target <= 1.1)")
    print(f"dask 2 workers / local pool 2 workers per run: wall {w['dask, 2 workers'] / w['local pool, 2 workers']:.3f}x, "
          f"CPU {c['dask, 2 workers'] / c['local pool, 2 workers']:.3f}x")
    print(f"dask speed-up, 2 workers over 1 (wall): {w['dask, 1 worker'] / w['dask, 2 workers']:.2f}x (target >= 1.7); "
          f"local pool 2 over local 1: {w['local, 1 worker'] / w['local pool, 2 workers']:.2f}x")

    # VIC cost per cell-day: a short and the full run in this process (CPU incl. the reaped VIC process)
    # the short run: 91 days, or half the period when that is shorter, so the two lengths differ
    if region.n_days < 4:
        print(f"VIC cost per cell-day: not measured (the period has {region.n_days} days; it needs two run "
              "lengths, give at least 4 days)")
        return 0
    short_days = min(91, region.n_days // 2)
    short = region_from_vic(gfile, variables=variables, end=str(region.times[short_days - 1].date()))
    cost = {}
    with EnsembleRunner(sim, n_workers=1) as r:
        for reg in (short, region):
            _, cpu, _ = timed(r, reg, ens.sel(cell=reg.cells), ens.sel(cell=reg.cells).isel(sample=[0]))
            cost[reg.n_days] = cpu / n
    (d1, c1), (d2, c2) = sorted(cost.items())
    per_cell_day = (c2 - c1) / ((d2 - d1) * region.n_cells)
    fixed = c1 - per_cell_day * d1 * region.n_cells
    print(f"VIC cost (WalnutGulch, 3-hourly forcing, no spin-up): {per_cell_day * 1e6:.0f} CPU-us per cell-day "
          f"+ {fixed:.2f} CPU-s per run ({d1} and {d2} days: {c1:.2f} and {c2:.2f} CPU-s per run)")
    print(f"load average at the end {os.getloadavg()[0]:.2f} (other jobs share this machine: wall ratios are "
          "only indicative; CPU seconds are the usable figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
