"""Tests of the ensemble runner (local in-process, local process pool, Dask LocalCluster)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vic_paraformer import ParameterSpace, SimulatorError
from vic_paraformer.ensemble import EnsembleRunner
from vic_paraformer.simulators.base import Simulator
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

OUT = ("sm", "et", "runoff", "baseflow", "dstorage")


@pytest.fixture(scope="module")
def region(synthetic_tiny):
    return synthetic_tiny.sel_time(None, "2015-12-31")


@pytest.fixture(scope="module")
def params(region):
    space = ParameterSpace.preset("vic")
    theta = np.stack([space.sample(region.n_cells, seed=s) for s in range(5)])
    return space.to_dataset(theta, region.cells, dims=("sample", "cell"))


@pytest.fixture(scope="module")
def reference(region, params):
    return EnsembleRunner(n_workers=1, chunk_size=7, progress=False).run(region, params)


def _negate(x):
    return -x


def _fail_on_three(x):
    if x == 3:
        raise RuntimeError("boom")
    return x


class FailingSimulator(Simulator):
    """Raises for any chunk containing cell 5."""

    name = "failing"

    def simulate(self, region, params, *, period=None):
        if 5 in region.cells:
            raise RuntimeError("model blew up")
        return WaterBalanceSimulator(device="cpu").simulate(region, params, period=period)


def test_chunks_cover_everything_once():
    runner = EnsembleRunner(n_workers=1, chunk_size=7, progress=False)
    seen = np.zeros((5, 16), int)
    for ch in runner.chunks(5, 16):
        assert len(ch.samples) * len(ch.cells) <= 7
        seen[np.ix_(ch.samples, ch.cells)] += 1
    assert np.all(seen == 1)


def test_in_process_matches_simulator(region, params, reference):
    direct = WaterBalanceSimulator(device="cpu").simulate(region, params)
    for k in OUT:
        np.testing.assert_array_equal(reference[k].values, direct[k].values)
    assert reference["sm"].dims == ("sample", "cell", "time")
    np.testing.assert_array_equal(reference["infilt"].values, params["infilt"].values)


def test_dask_local_cluster_identical(region, params, reference):
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        runner = EnsembleRunner(client=client, chunk_size=7, progress=False)
        assert runner.backend == "dask"
        out = runner.run(region, params)
        for k in OUT:
            np.testing.assert_array_equal(out[k].values, reference[k].values)
        assert runner.map(_negate, [1, 2, 3]) == [-1, -2, -3]
        with pytest.raises(SimulatorError, match=r"task 3 of 5 failed for item 3: RuntimeError: boom"):
            runner.map(_fail_on_three, range(5), desc="per-cell")


def test_local_pool_identical_and_streams_to_file(region, params, reference, tmp_path):
    with EnsembleRunner(n_workers=2, chunk_size=7, progress=False) as runner:
        assert not runner.in_process
        out = runner.run(region, params)
        path = tmp_path / "ens.nc"
        filed = runner.run(region, params, out_path=path)
        assert runner.map(_negate, range(4)) == [0, -1, -2, -3]
    for k in OUT:
        np.testing.assert_array_equal(out[k].values, reference[k].values)
        np.testing.assert_array_equal(filed[k].values, reference[k].values)
    np.testing.assert_array_equal(filed["time"].values, reference["time"].values)
    filed.close()
    with xr.open_dataset(path) as ds:
        assert ds["sm"].dims == ("sample", "cell", "time")


def test_period_and_cell_only_params(region, params, reference):
    single = params.isel(sample=2)
    runner = EnsembleRunner(n_workers=1, chunk_size=5, progress=False)
    out = runner.run(region, single, period=("2015-06-01", "2015-06-30"))
    assert out["sm"].dims == ("cell", "time") and out.sizes["time"] == 30
    np.testing.assert_array_equal(out["sm"].values,
                                  reference["sm"].isel(sample=2).sel(time=slice("2015-06-01", "2015-06-30")).values)


def test_outputs_asked_for_only_and_chunks_not_revalidated(region, params, reference, tmp_path, monkeypatch):
    from vic_paraformer.region import Region

    calls = []
    orig = Region.validate
    monkeypatch.setattr(Region, "validate", lambda self: (calls.append(1), orig(self))[1])
    runner = EnsembleRunner(n_workers=1, chunk_size=7, progress=False)
    out = runner.run(region, params, outputs=["sm", "et"])
    assert set(out.data_vars) == {"sm", "et", *params.data_vars}
    for k in ("sm", "et"):
        np.testing.assert_array_equal(out[k].values, reference[k].values)
    assert calls == []  # 3 cell chunks of a validated region: no second validation
    filed = runner.run(region, params, outputs=["sm"], out_path=tmp_path / "sm.nc")
    assert "et" not in filed and "sm" in filed
    np.testing.assert_array_equal(filed["sm"].values, reference["sm"].values)
    filed.close()
    with pytest.raises(SimulatorError, match="unknown output"):
        runner.run(region, params, outputs=["soil"])


def test_failing_chunk_names_cells_and_parameters(region, params, tmp_path):
    runner = EnsembleRunner(FailingSimulator(), n_workers=1, chunk_size=4, progress=False)
    path = tmp_path / "out.nc"
    with pytest.raises(SimulatorError) as info:
        runner.run(region, params, out_path=path)
    msg = str(info.value)
    assert "cells [4, 5, 6, 7]" in msg and "infilt=" in msg and "model blew up" in msg
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_in_process_map_error_and_bad_options():
    runner = EnsembleRunner(n_workers=1, progress=False)
    assert runner.map(_negate, [5]) == [-5]
    with pytest.raises(SimulatorError, match="task 3 of 4"):
        runner.map(_fail_on_three, range(4))
    with pytest.raises(SimulatorError, match="backend"):
        EnsembleRunner(backend="mpi")
    with pytest.raises(SimulatorError, match="client="):
        EnsembleRunner(backend="dask")
    with pytest.raises(SimulatorError, match="n_workers"):
        EnsembleRunner(n_workers=0)


def test_map_only_runner(region, params):
    runner = EnsembleRunner(None, n_workers=1, progress=False)
    assert runner.map(_negate, [2]) == [-2]
    with pytest.raises(SimulatorError, match="without a simulator"):
        runner.run(region, params)


class InterruptedSimulator(Simulator):
    """Simulates Ctrl-C on the second chunk."""

    name = "interrupted"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def simulate(self, region, params, *, period=None):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return WaterBalanceSimulator(device="cpu").simulate(region, params, period=period)


def test_interrupt_leaves_no_partial_output(region, params, tmp_path):
    runner = EnsembleRunner(InterruptedSimulator(), n_workers=1, chunk_size=8, progress=False)
    with pytest.raises(KeyboardInterrupt):
        runner.run(region, params, out_path=tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []
