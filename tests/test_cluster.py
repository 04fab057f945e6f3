"""Ensembles on a Dask cluster of worker *processes*: ``dask scheduler`` + two ``dask worker``
subprocesses on loopback, and ``LocalCluster(processes=True)``.

Results must equal the in-process run exactly (ensemble chunks and per-cell SCE-UA with a simulator),
run folders live in each worker's own scratch folder, a worker killed mid-task has its task rerun on
the other with nothing lost or counted twice, and an input the workers cannot read is named with the
worker in one error line.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer import ParameterSpace
from vic_paraformer.cluster import SharedPathError, worker_scratch_folders
from vic_paraformer.ensemble import EnsembleRunner

from _dask_cluster import DaskProcesses, SlowWaterBalance

OUT = ("sm", "et", "runoff", "baseflow", "dstorage")


@pytest.fixture(scope="module")
def region():
    return vp.synthetic_region(ny=3, nx=3, years=0.5, seed=0).with_training_cells([0, 8])


@pytest.fixture(scope="module")
def params(region):
    space = ParameterSpace.preset("vic")
    theta = np.stack([space.sample(region.n_cells, seed=s) for s in range(6)])
    return space.to_dataset(theta, region.cells, dims=("sample", "cell"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskProcesses(tmp_path_factory.mktemp("dask"), n_workers=2) as procs:
        yield procs


def _same(a, b) -> None:
    for k in OUT:
        np.testing.assert_array_equal(a[k].values, b[k].values, err_msg=k)


def test_worker_processes_give_the_local_result_in_their_own_scratch(cluster, region, params):
    reference = EnsembleRunner("waterbalance", n_workers=1, chunk_size=9).run(region, params)
    with EnsembleRunner("waterbalance", scheduler=cluster.address, chunk_size=9) as runner:
        assert runner.backend == "dask"
        out = runner.run(region, params)
        folders = worker_scratch_folders(runner._client)
        pids = runner._client.run(os.getpid)
    _same(out, reference)
    assert set(pids.values()).isdisjoint({os.getpid()}) and len(set(pids.values())) == 2
    # each worker process made its scratch folder inside its own --local-directory
    homes = set()
    for addr, folder in folders.items():
        assert folder is not None, addr
        home = Path(folder).relative_to(cluster.folder).parts[0]  # raises unless inside the cluster's folder
        homes.add(home)
        assert (Path(folder) / ".vic-paraformer-scratch").is_file()
    assert homes == {"worker0", "worker1"}


def _tasks_run(address: str) -> int:
    """State changes of the tasks the cluster ran through the runner's task wrapper (grows with each task)."""
    from dask.distributed import Client

    def count(dask_scheduler) -> int:
        prefix = dask_scheduler.task_prefixes.get("run_task")
        return 0 if prefix is None else int(sum(prefix.state_counts.values()))

    with Client(address, timeout="30s", set_as_default=False) as client:
        return client.run_on_scheduler(count)


def test_the_scheduler_option_sends_a_command_to_the_cluster(cluster, region, tmp_path, capsys):
    """``vic-paraformer calibrate --scheduler``: SCE-UA with the simulator in the loop, one task per cell on
    the worker processes, gives exactly the in-process parameters."""
    from vic_paraformer.cli.main import main

    path = region.save(tmp_path / "region.nc")
    argv = ["calibrate", "--region", str(path), "--strategy", "sceua", "-o", "simulator=waterbalance",
            "-o", "repetitions=12", "-o", "ngs=2", "-o", "warmup=30", "--seed", "4", "--no-progress"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "local.nc")]) == 0
    before = _tasks_run(cluster.address)
    assert main([*argv, "--scheduler", cluster.address, "--out", str(tmp_path / "cluster.nc")]) == 0
    assert _tasks_run(cluster.address) > before  # the training cells ran on the workers
    local = vp.CalibrationResult.open(tmp_path / "local.nc")
    remote = vp.CalibrationResult.open(tmp_path / "cluster.nc")
    np.testing.assert_array_equal(remote.values(), local.values())


def test_single_simulations_of_a_command_go_to_the_cluster_unchanged(cluster, region, params):
    """Refinement and evaluation simulate through ``ensemble.simulate``: on the cluster under ``--scheduler``,
    with the very outputs (values and dtypes) of the local call."""
    from vic_paraformer.cluster import use_scheduler
    from vic_paraformer.ensemble import simulate
    from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

    sim = WaterBalanceSimulator()
    local = sim.simulate(region, params, period=("2015-05-01", "2015-08-31"))
    before = _tasks_run(cluster.address)
    with use_scheduler(cluster.address):
        remote = simulate(sim, region, params, period=("2015-05-01", "2015-08-31"))
    assert _tasks_run(cluster.address) > before  # it ran on the workers
    for k in OUT:
        assert remote[k].dtype == local[k].dtype
    _same(remote, local)


def test_local_cluster_of_processes_gives_the_local_result(region, params):
    from dask.distributed import Client, LocalCluster

    reference = EnsembleRunner("waterbalance", n_workers=1, chunk_size=9).run(region, params)
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0") as lc, \
            Client(lc, set_as_default=False) as client, EnsembleRunner("waterbalance", client=client, chunk_size=9) as runner:
        out = runner.run(region, params)
    _same(out, reference)


def test_an_input_the_workers_cannot_read_is_named_with_the_worker(cluster, region, params, tmp_path):
    path = region.save(tmp_path / "region.nc")
    lazy = vp.Region.open(path, chunks=3)
    hidden = tmp_path / "moved.nc"
    with EnsembleRunner("waterbalance", scheduler=cluster.address) as runner:
        runner.check_inputs({str(path): "region file"})  # readable: passes
        os.rename(path, hidden)  # the workers can no longer see it
        runner._checked.clear()
        with pytest.raises(SharedPathError) as err:
            runner.run(lazy, params)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("Dask worker tcp://127.0.0.1:") and "(host " in msg
    assert f"cannot read the region file {path}: No such file or directory" in msg
    assert "1 other worker(s) affected" in msg and "shared" in msg
    os.rename(hidden, path)
    lazy.close()


def test_a_worker_killed_mid_task_has_its_task_rerun_elsewhere(cluster, region, params, tmp_path):
    """Runs last in this module: it kills one of the two workers."""
    log = tmp_path / "chunks.log"
    reference = EnsembleRunner("waterbalance", n_workers=1, chunk_size=9).run(region, params)
    sim = SlowWaterBalance(delay=0.4, log_path=str(log))
    victim = cluster.workers[1]
    killed = threading.Event()

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = log.read_text().split() if log.exists() else []
            starts = [lines[i + 1] for i in range(0, len(lines), 3) if lines[i] == "start"]
            ends = [lines[i + 1] for i in range(0, len(lines), 3) if lines[i] == "end"]
            if ends and starts.count(str(victim.pid)) > ends.count(str(victim.pid)):
                os.kill(victim.pid, signal.SIGKILL)  # mid-task: it started a chunk it has not finished
                killed.set()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_when_busy, daemon=True)
    with EnsembleRunner(sim, scheduler=cluster.address, chunk_size=9) as runner:
        watcher.start()
        out = runner.run(region, params)
    watcher.join(5)
    assert killed.is_set(), cluster.logs()
    victim.wait(10)
    _same(out, reference)  # every chunk once, in its place, equal to the local run
    rows = [line.split() for line in log.read_text().splitlines()]
    started_on_victim = {k for w, p, k in rows if w == "start" and p == str(victim.pid)}
    ended_on_victim = {k for w, p, k in rows if w == "end" and p == str(victim.pid)}
    lost = started_on_victim - ended_on_victim
    assert lost, rows  # the killed worker was in the middle of a chunk ...
    ended_elsewhere = {k for w, p, k in rows if w == "end" and p != str(victim.pid)}
    assert lost <= ended_elsewhere  # ... which the other worker ran again
    assert len({k for _, _, k in rows}) == params.sizes["sample"]  # chunk_size 9 = one sample per chunk
