"""The real VIC on a Dask cluster of worker processes (``dask scheduler`` + two ``dask worker`` on loopback).

VIC runs land in each worker's own scratch folder, results equal the in-process runs, a worker
killed in the middle of a VIC run has that run redone by the other, and a VIC input the workers
cannot read is named with the worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vic_paraformer.cluster import SharedPathError, worker_scratch_folders
from vic_paraformer.ensemble import EnsembleRunner
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.importer import region_from_vic

from _dask_cluster import DaskProcesses
from test_vic_runner import REAL_VIC, VARS, WALNUT, needs_sample, needs_vic_exe

pytestmark = [pytest.mark.vic, needs_sample, needs_vic_exe]
OUT = ("sm", "et", "runoff", "baseflow", "dstorage")


@pytest.fixture(scope="module")
def region():
    return region_from_vic(WALNUT, variables=VARS, end="2008-02-29")


@pytest.fixture(scope="module")
def ensemble(region):
    space = ParameterSpace.preset("vic")
    sets = space.sample(4, seed=1)
    return space.to_dataset(np.broadcast_to(sets[:, None, :], (4, region.n_cells, space.n)), region.cells,
                            dims=("sample", "cell"))


@pytest.fixture(scope="module")
def reference(region, ensemble):
    with EnsembleRunner(VICSimulator(exe=REAL_VIC, progress=False), n_workers=1) as runner:
        return runner.run(region, ensemble)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskProcesses(tmp_path_factory.mktemp("dask"), n_workers=2,
                       env={"VIC_IMAGE_EXE": str(REAL_VIC), "OMP_NUM_THREADS": "1"}) as procs:
        yield procs


def _same(a, b) -> None:
    for k in OUT:
        np.testing.assert_array_equal(a[k].values, b[k].values, err_msg=k)


def test_vic_runs_on_worker_processes_in_their_scratch_and_equal_the_local_runs(cluster, region, ensemble,
                                                                               reference):
    sim = VICSimulator(exe=REAL_VIC, progress=False, keep_runs=True)
    with EnsembleRunner(sim, scheduler=cluster.address) as runner:
        out = runner.run(region, ensemble)
        folders = worker_scratch_folders(runner._client)
    _same(out, reference)
    runs = [d for f in folders.values() for d in Path(f).glob("vicrun_*")]
    assert len(runs) == ensemble.sizes["sample"]  # every run directory inside a worker's own scratch folder
    assert all(Path(f).is_relative_to(cluster.folder) for f in folders.values())
    for d in runs:
        shutil.rmtree(d)


def test_a_vic_input_the_workers_cannot_read_is_named(cluster, tmp_path, ensemble):
    gfile = tmp_path / "global.txt"
    shutil.copyfile(WALNUT, gfile)
    region = region_from_vic(gfile, variables=VARS, end="2008-02-29")
    sim = VICSimulator(exe=REAL_VIC, progress=False)
    os.rename(gfile, tmp_path / "elsewhere.txt")  # this machine needs it no more; the workers would
    with EnsembleRunner(sim, scheduler=cluster.address) as runner, pytest.raises(SharedPathError) as err:
        runner.run(region, ensemble)
    msg = str(err.value)
    assert msg.startswith("Dask worker tcp://127.0.0.1:") and "\n" not in msg
    assert f"cannot read the VIC global parameter file {gfile}: No such file or directory" in msg


def test_refinement_and_evaluation_runs_go_to_the_cluster_one_task_per_run(cluster, region, ensemble):
    """``ensemble.simulate`` under ``--scheduler``: one task per VIC run, outputs exactly the local call's."""
    from vic_paraformer.cluster import use_scheduler
    from vic_paraformer.ensemble import simulate

    sim = VICSimulator(exe=REAL_VIC, progress=False)
    two = ensemble.isel(sample=[2, 3])
    local = sim.simulate(region, two)
    from dask.distributed import get_task_stream

    with use_scheduler(cluster.address) as client, get_task_stream(client) as stream:
        remote = simulate(sim, region, two)
    tasks = [t for t in stream.data if str(t["key"]).startswith("run_task")]
    assert len(tasks) == 2  # one task per VIC run
    assert remote.attrs["simulator"] == "vic"
    for k in OUT:
        assert remote[k].dtype == local[k].dtype and remote[k].dims == local[k].dims
        np.testing.assert_array_equal(remote[k].values, local[k].values, err_msg=k)


def test_per_cell_tasks_name_the_vic_files_the_workers_read(region):
    """SCE-UA/DDS with VIC in the loop send one-cell datasets and the simulator's name: their inputs are found."""
    from vic_paraformer.cluster import task_inputs
    from vic_paraformer.strategies.cell_models import SimulatorCellModel

    model = SimulatorCellModel(region.ds.isel(cell=[0]), "vic", ParameterSpace.preset("vic"))
    found = task_inputs([model])
    assert found[str(WALNUT)] == "VIC global parameter file"
    kinds = set(found.values())
    assert {"VIC parameter file", "VIC domain file", "VIC forcing file"} <= kinds, found
    assert all(Path(p).exists() for p in found)


def test_a_worker_killed_during_a_vic_run_has_it_rerun(cluster, region, ensemble, reference):
    """Runs last: it kills one of the two workers while a VIC run of it is under way."""
    victim = cluster.workers[1]
    killed = threading.Event()
    sim = VICSimulator(exe=REAL_VIC, progress=False)
    with EnsembleRunner(sim, scheduler=cluster.address) as runner:
        runner.run(region, ensemble.isel(sample=[0, 1]))  # both workers prepared (scratch folder made)
        folder = Path(next(f for a, f in worker_scratch_folders(runner._client).items()
                           if runner._client.run(os.getpid, workers=[a])[a] == victim.pid))

        def kill_when_running() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(folder.glob("vicrun_*/*")):  # a VIC run directory of this worker is in use
                    os.kill(victim.pid, signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=kill_when_running, daemon=True)
        watcher.start()
        out = runner.run(region, ensemble)
    watcher.join(5)
    assert killed.is_set(), cluster.logs()
    victim.wait(10)
    _same(out, reference)
