"""Tests of the DDS plugin (run from the plugin folder: ``pytest``)."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer.errors import StrategyError
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.strategies import cell_models, spotpy_setup
from vic_paraformer_dds import DDSCalibrator

TRAIN = [0, 3]


@pytest.fixture(scope="module")
def region():
    return vp.synthetic_region(ny=2, nx=2, years=0.5, seed=4).with_training_cells(TRAIN)


class Bowl(cell_models.CellModel):
    """sm = 0.3 + a wave + squared distance of the normalised parameters from ``truth``."""

    def __init__(self, space, truth):
        self.space, self.truth = space, np.asarray(truth)
        self.t = np.linspace(0, 10, 100)

    def simulate(self, theta):
        return 0.3 + 0.05 * np.sin(self.t) + 0.1 * np.sum((self.space.normalize(theta) - self.truth) ** 2)


def _task(maximize: bool, reps: int = 200):
    space = ParameterSpace.preset()
    truth = np.array([0.3, 0.6, 0.2, 0.8, 0.5])
    model = Bowl(space, truth)
    obs = model.simulate(space.denormalize(truth))
    return spotpy_setup.CellTask(cell=1, model=model, obs=obs, warmup=0, space=space, algorithm="dds", seed=11,
                       max_evaluations=reps, maximize=maximize, algorithm_kwargs={"r": 0.2}, sample_kwargs={"trials": 1})


def test_entry_point_is_registered():
    eps = {ep.name: ep.value for ep in md.entry_points(group="vic_paraformer.strategies")}
    assert eps.get("dds") == "vic_paraformer_dds:DDSCalibrator"
    assert "dds" in vp.list_strategies()
    assert vp.get_calibrator("dds").__class__ is DDSCalibrator


def test_spotpy_dds_maximises_so_the_loss_is_negated():
    right = spotpy_setup.run_cell(_task(maximize=True))
    # spotpy's own best (it maximises -loss) is our lowest loss, and the search converges
    assert right.algorithm_best_loss == pytest.approx(right.loss)
    assert right.loss < 2e-3 and right.n_evaluations == 200
    # negative control: handing spotpy's DDS the plain loss makes it climb to the worst point
    wrong = spotpy_setup.run_cell(_task(maximize=False))
    assert wrong.algorithm_best_loss > 10 * wrong.loss
    assert right.loss < wrong.loss


def test_calibrates_a_tiny_region(region):
    res = vp.calibrate(region, strategy="dds", seed=2, simulator="waterbalance", repetitions=10, warmup=30, n_workers=1,
                       loss="paper")
    assert res.strategy == "dds" and res.n_evaluations == 20  # DDS uses exactly `repetitions` runs per cell
    assert res.parameter_space.contains(res.values()) and res.values().shape == (4, 5)
    sim = vp.get_simulator("waterbalance")
    obs = region.observations()
    mid = np.broadcast_to(res.parameter_space.midpoint(), (4, 5))
    sm_best = sim.simulate(region, res.params)["sm"].values
    sm_mid = sim.simulate(region, res.parameter_space.to_dataset(mid, region.cells))["sm"].values
    for k, c in enumerate(TRAIN):
        m = np.isfinite(obs[c])
        m[:30] = False
        best = np.sqrt(np.mean((sm_best[c][m] - obs[c][m]) ** 2))
        assert best == pytest.approx(res.history["best_objective"][k], rel=1e-6)
        assert best < np.sqrt(np.mean((sm_mid[c][m] - obs[c][m]) ** 2))
    again = vp.calibrate(region, strategy="dds", seed=2, simulator="waterbalance", repetitions=10, warmup=30, n_workers=1,
                         loss="paper")
    np.testing.assert_array_equal(res.values(), again.values())


def test_validate(region):
    assert DDSCalibrator(simulator="waterbalance", warmup=30).validate(region) == []
    with pytest.raises(StrategyError) as bad:
        DDSCalibrator(simulator="waterbalance", r=1.5, repetitions=5)
    assert "r (DDS perturbation size)" in str(bad.value) and "repetitions must be >= 6" in str(bad.value)
