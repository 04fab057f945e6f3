"""Lockstep calibration (vic_paraformer.strategies.lockstep): every cell's optimiser advances together and
one batched model call evaluates one candidate of every cell; the trajectories equal the per-cell runs'."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer.strategies import lockstep

TRAIN = [0, 2, 4, 8]
# no line searches, no model-error runs: the candidates are the optimisers' alone (the uncertainty runs come on top)
SIM_KW = dict(simulator="waterbalance", warmup=30, ngs=2, n_workers=1, loss="paper", repetitions=40, seed=3,
              uncertainty_directions=0, uncertainty_model_error=False)


@pytest.fixture(scope="module")
def region():
    """A 3 x 3, half-year synthetic twin trained on four cells."""
    return vp.synthetic_region(ny=3, nx=3, years=0.5, seed=0).with_training_cells(TRAIN)


class RecordingWaterBalance:
    """The waterbalance simulator, recording every simulate() call: the cells and parameters it ran."""

    calls: list[tuple[list[int], np.ndarray]] = []
    fail_at: int | None = None

    def __init__(self, **options):
        from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

        self.inner = WaterBalanceSimulator(**options)

    def simulate(self, region, params, *, period=None):
        cls = type(self)
        if cls.fail_at is not None and len(cls.calls) >= cls.fail_at:
            raise RuntimeError("simulator broke")
        theta = np.stack([np.asarray(params[n].values, float) for n in params.data_vars], axis=-1)
        cls.calls.append(([int(c) for c in region.cells], theta))
        return self.inner.simulate(region, params, period=period)


@pytest.fixture
def recording(monkeypatch):
    RecordingWaterBalance.calls = []
    RecordingWaterBalance.fail_at = None
    monkeypatch.setattr("vic_paraformer.registry.get_simulator", lambda name, **kw: RecordingWaterBalance(**kw))
    return RecordingWaterBalance


def _per_cell_candidates(calls) -> dict[int, list[np.ndarray]]:
    out: dict[int, list[np.ndarray]] = {}
    for cells, theta in calls:
        for c, t in zip(cells, theta):
            out.setdefault(c, []).append(t)
    return out


@pytest.mark.parametrize("strategy, extra", [("sceua", {}), ("dds", {"ngs": None})])
def test_lockstep_follows_the_per_cell_trajectories_in_far_fewer_simulator_calls(region, recording, strategy, extra):
    kw = {**SIM_KW, **extra}
    kw = {k: v for k, v in kw.items() if v is not None}
    per_cell = vp.calibrate(region, strategy=strategy, lockstep=False, **kw)
    per_cell_calls = list(recording.calls)
    recording.calls.clear()
    batched = vp.calibrate(region, strategy=strategy, lockstep=True, **kw)
    batched_calls = list(recording.calls)

    # the same candidates in the same order for every cell, hence the same parameters, losses and counts
    a, b = _per_cell_candidates(per_cell_calls), _per_cell_candidates(batched_calls)
    assert sorted(a) == sorted(b) == TRAIN
    for c in TRAIN:
        assert len(a[c]) == len(b[c])
        np.testing.assert_array_equal(np.stack(a[c]), np.stack(b[c]))
    np.testing.assert_array_equal(per_cell.values(), batched.values())
    assert per_cell.history["evaluations"] == batched.history["evaluations"]
    assert per_cell.history["best_objective"] == batched.history["best_objective"]
    assert per_cell.n_evaluations == batched.n_evaluations

    # per cell: one one-cell run per candidate; lockstep: one run per step, over every cell still optimising
    evals = [int(e) for e in batched.history["evaluations"]]
    assert len(per_cell_calls) == sum(evals) and all(len(cells) == 1 for cells, _ in per_cell_calls)
    assert len(batched_calls) == max(evals) == batched.info["lockstep_batched_calls"]
    assert len(batched_calls[0][0]) == len(TRAIN)
    assert [len(cells) for cells, _ in batched_calls] == sorted((len(cells) for cells, _ in batched_calls),
                                                                reverse=True)  # the batch only shrinks
    assert "lockstep_batched_calls" not in per_cell.info


def test_lockstep_isolates_each_cells_generator_and_restores_the_callers(region, recording):
    """Each cell draws its own numbers whatever the caller's global state, which is restored afterwards."""
    np.random.seed(11)
    random.seed(11)
    first = vp.calibrate(region, strategy="sceua", **SIM_KW)
    np.random.seed(99)
    random.seed(99)
    expected_np, expected_py = np.random.random(3), random.random()
    np.random.seed(99)
    random.seed(99)
    threads = threading.active_count()
    second = vp.calibrate(region, strategy="sceua", **SIM_KW)
    np.testing.assert_array_equal(np.random.random(3), expected_np)
    assert random.random() == expected_py
    np.testing.assert_array_equal(first.values(), second.values())
    assert threading.active_count() == threads  # every optimiser thread has ended


def test_lockstep_groups_over_worker_processes_give_the_same_result(region):
    one = vp.calibrate(region, strategy="sceua", **{**SIM_KW, "repetitions": 25})
    two = vp.calibrate(region, strategy="sceua", **{**SIM_KW, "repetitions": 25, "n_workers": 2})
    np.testing.assert_array_equal(one.values(), two.values())
    assert one.history["evaluations"] == two.history["evaluations"]
    assert two.info["lockstep_batched_calls"] > one.info["lockstep_batched_calls"]  # one series of calls per group


def test_a_failing_batched_run_stops_every_optimiser_and_raises(region, recording):
    recording.fail_at = 3
    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="simulator broke"):
        vp.calibrate(region, strategy="sceua", **SIM_KW)
    assert len(recording.calls) == 3
    assert threading.active_count() == threads


def test_lockstep_through_a_surrogate_makes_one_forward_pass_per_step(region, monkeypatch):
    from test_sceua import tiny_surrogate

    sur = tiny_surrogate(region)
    passes = []
    original = type(sur).predict_tensor

    def counting(self, x, a, u, *args, **kwargs):
        passes.append(x.shape[0])
        return original(self, x, a, u, *args, **kwargs)

    monkeypatch.setattr(type(sur), "predict_tensor", counting)
    kw = dict(surrogate=sur, repetitions=40, ngs=2, n_workers=1, seed=2, warmup=20, loss="paper",
              uncertainty_directions=0, uncertainty_model_error=False)
    per_cell = vp.calibrate(region, strategy="sceua", lockstep=False, **kw)
    n_per_cell = len(passes)
    passes.clear()
    batched = vp.calibrate(region, strategy="sceua", lockstep=True, **kw)
    evals = [int(e) for e in batched.history["evaluations"]]
    assert n_per_cell == sum(evals)
    assert len(passes) == max(evals) and passes[0] == len(TRAIN)
    np.testing.assert_allclose(per_cell.values(), batched.values(), rtol=1e-5)
    assert per_cell.history["evaluations"] == batched.history["evaluations"]


def test_unbatchable_models_are_refused_and_groups_split_evenly():
    from vic_paraformer.errors import StrategyError
    from vic_paraformer.strategies.cell_models import CellModel

    class Other(CellModel):
        def simulate(self, theta):
            return np.zeros(3)

    assert not lockstep.can_batch([Other(), Other()])
    with pytest.raises(StrategyError, match="cannot batch cell models of kind"):
        lockstep.batch_model_for([Other()])
    assert [len(g.tasks) for g in lockstep.split_groups(list(range(15)), 2)] == [8, 7]
    assert [len(g.tasks) for g in lockstep.split_groups(list(range(3)), 8)] == [1, 1, 1]


@pytest.mark.vic
def test_lockstep_with_vic_follows_the_per_cell_trajectories_in_one_run_per_step(tmp_path, monkeypatch):
    """Real VIC on four WalnutGulch cells (twin obs_sm): per-cell and lockstep SCE-UA evaluate the same candidates;
    lockstep starts one spin-up and one main VIC process per step instead of per candidate per cell."""
    from test_vic_runner import REAL_VIC, SAMPLE, VARS, WALNUT

    if REAL_VIC is None or not (SAMPLE / "image").is_dir():
        pytest.skip("needs the VIC image driver (VIC_IMAGE_EXE or vic_image.exe on PATH) and the VIC sample data")
    from vic_paraformer.parameters import ParameterSpace
    from vic_paraformer.simulators import vic as vic_mod
    from vic_paraformer.vic.importer import region_from_vic

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-31")
    region = region.subset(region.cells[:4])
    space = ParameterSpace.preset("vic")
    opts = {"exe": REAL_VIC, "workdir": str(tmp_path), "progress": False, "spinup_years": 1}
    sim = vp.get_simulator("vic", **opts)
    obs = sim.simulate(region, space.to_dataset(space.sample(4, seed=1), region.cells))["sm"].transpose("cell", "time")
    region = vp.Region(region.ds.assign(obs_sm=(("cell", "time"), np.asarray(obs)))).with_training_cells(region.cells)

    processes = []
    real = vic_mod.run_vic
    monkeypatch.setattr(vic_mod, "run_vic", lambda *a, **kw: processes.append(1) or real(*a, **kw))
    kw = dict(simulator="vic", simulator_options=opts, repetitions=14, ngs=1, n_workers=1, loss="paper", seed=0,
              uncertainty_directions=0, uncertainty_model_error=False)  # the uncertainty runs come on top of the search
    per_cell = vp.calibrate(region, strategy="sceua", lockstep=False, **kw)
    n_per_cell, processes[:] = len(processes), []
    batched = vp.calibrate(region, strategy="sceua", lockstep=True, **kw)
    np.testing.assert_array_equal(per_cell.values(), batched.values())
    assert per_cell.history["evaluations"] == batched.history["evaluations"]
    assert per_cell.history["best_objective"] == batched.history["best_objective"]
    evals = [int(e) for e in batched.history["evaluations"]]
    assert n_per_cell == 2 * sum(evals)  # a spin-up and a main process per candidate per cell
    assert len(processes) == 2 * max(evals) == 2 * batched.info["lockstep_batched_calls"]
    assert all(np.isfinite(batched.history["best_objective"]))
