"""Tests of the synthetic twin region and the ``synth`` command."""

from __future__ import annotations

import numpy as np
import pytest

from vic_paraformer import ParameterSpace, Region, RegionError, synthetic_region
from vic_paraformer.cli.main import main
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator
from vic_paraformer.synthetic import ATTRIBUTE_NAMES

NAMES = ("infilt", "Ds", "Dsmax", "Ws", "expt")


def test_deterministic_for_a_seed_and_byte_identical_files(synthetic_tiny, tmp_path):
    again = synthetic_region(ny=4, nx=4, years=2, seed=0)
    assert again.ds.identical(synthetic_tiny.ds)
    for v in synthetic_tiny.ds.data_vars:
        np.testing.assert_array_equal(again.ds[v].values, synthetic_tiny.ds[v].values)
    a = synthetic_tiny.save(tmp_path / "a.nc").read_bytes()
    b = again.save(tmp_path / "b.nc").read_bytes()
    assert a == b
    other = synthetic_region(ny=4, nx=4, years=2, seed=1)
    assert not np.array_equal(other.ds["prec"].values, synthetic_tiny.ds["prec"].values)


def test_schema_validates_and_round_trips(synthetic_small, tmp_path):
    r = synthetic_small
    assert r.n_cells == 64 and r.n_days == 1096 and r.has_grid
    assert r.attribute_names == list(ATTRIBUTE_NAMES)
    Region(r.ds.copy())  # validates
    back = Region.open(r.save(tmp_path / "r.nc"))
    np.testing.assert_array_equal(back.observations("obs_sm"), r.observations("obs_sm"))
    lat, lon = r.ds["lat"].values, r.ds["lon"].values
    np.testing.assert_allclose(np.unique(np.round(np.diff(np.unique(lat)), 6)), [0.125])
    np.testing.assert_allclose(np.unique(np.round(np.diff(np.unique(lon)), 6)), [0.125])
    row, col = r.grid()
    assert row.max() == 7 and col.max() == 7 and len(set(zip(row, col))) == 64
    assert len(r.training_cells) == 64
    sand, silt, clay = (r.attribute(k) for k in ("sand", "silt", "clay"))
    np.testing.assert_allclose(sand + silt + clay, 1.0, atol=1e-5)
    assert np.all(r.attribute("wilting_point") < r.attribute("field_capacity"))
    assert np.all(r.attribute("field_capacity") < r.attribute("porosity"))


@pytest.mark.parametrize("interval", [(2, 3), (1, 1), (3, 5)])
def test_observation_gap_pattern(interval):
    r = synthetic_region(ny=2, nx=3, years=1, seed=3, obs_interval=interval, with_et=False)
    obs = r.observations("obs_sm")
    assert not r.has("obs_et")
    for c in range(r.n_cells):
        idx = np.flatnonzero(np.isfinite(obs[c]))
        assert idx[0] < interval[1]
        gaps = np.diff(idx)
        assert gaps.min() >= interval[0] and gaps.max() <= interval[1], (c, np.unique(gaps))
        if interval[0] < interval[1]:
            assert len(np.unique(gaps)) > 1  # the revisit interval varies


def test_observations_are_noisy_truth(synthetic_small):
    r = synthetic_small
    truth = r.parameters(prefix="true_")
    sim = WaterBalanceSimulator(device="cpu", dtype="float64").run_arrays(r, truth)
    obs = r.observations("obs_sm")
    m = np.isfinite(obs)
    resid = obs[m] - sim["sm"][m]
    assert 0.007 < resid.std() < 0.0105 and abs(resid.mean()) < 2e-3
    et = r.observations("obs_et")
    me = np.isfinite(et)
    assert 0.35 < me.mean() < 0.65 and np.all(et[me] >= 0)
    assert np.corrcoef(et[me], sim["et"][me])[0, 1] > 0.8


def test_truth_inside_bounds_and_spread(synthetic_small):
    space = ParameterSpace.preset("vic")
    truth = synthetic_small.parameters(prefix="true_")
    assert space.contains(truth)
    u = space.normalize(truth)
    spread = u.max(0) - u.min(0)
    assert np.all(spread > 0.3), dict(zip(NAMES, spread))
    # smooth fields: neighbouring cells are more alike than random pairs
    row, col = synthetic_small.grid()
    right = [(i, j) for i in range(64) for j in range(64) if row[i] == row[j] and col[j] == col[i] + 1]
    near = np.mean([np.abs(u[i] - u[j]).mean() for i, j in right])
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 64, (500, 2))
    far = np.mean([np.abs(u[i] - u[j]).mean() for i, j in pairs])
    assert near < 0.8 * far


def test_forcing_realism(synthetic_small):
    r = synthetic_small
    prec = r.ds["prec"].values
    wet = prec > 0.1
    assert 0.1 < wet.mean() < 0.6                      # intermittent
    w = prec[wet]
    assert w.mean() > 1.5 * np.median(w)               # skewed
    t = r.ds["air_temp"].to_series().groupby(level="time").mean()
    months = t.index.get_level_values("time").month
    assert t[months == 7].mean() - t[months == 1].mean() > 15      # seasonal cycle
    row, col = r.grid()
    i, j, k = 0, int(np.flatnonzero((row == 0) & (col == 1))[0]), int(np.flatnonzero((row == 7) & (col == 7))[0])
    near = np.corrcoef(prec[i], prec[j])[0, 1]
    far = np.corrcoef(prec[i], prec[k])[0, 1]
    assert near > 0.6 and near > far                   # spatially correlated storms
    assert np.all(r.ds["swdown"].values > 0) and np.all(r.ds["vp"].values > 0)


def test_bad_arguments():
    with pytest.raises(RegionError, match="obs_interval"):
        synthetic_region(ny=2, nx=2, years=1, obs_interval=(3, 2))
    with pytest.raises(RegionError, match="ny, nx"):
        synthetic_region(ny=0, nx=2)
    with pytest.warns(UserWarning), pytest.raises(RegionError, match="expt lower bound"):
        synthetic_region(ny=2, nx=2, years=1, parameter_space="paper")


def test_synth_cli(tmp_path, capsys):
    out = tmp_path / "region.nc"
    assert main(["synth", "--out", str(out), "--ny", "3", "--nx", "2", "--years", "1", "--seed", "5", "--no-et"]) == 0
    r = Region.open(out)
    assert r.n_cells == 6 and not r.has("obs_et") and r.has("true_infilt")
    expected = synthetic_region(ny=3, nx=2, years=1, seed=5, with_et=False)
    np.testing.assert_array_equal(r.observations("obs_sm"), expected.observations("obs_sm"))
    assert "wrote" in capsys.readouterr().out
    assert main(["synth", "--out", str(tmp_path / "x.nc"), "--obs-interval", "0", "2"]) == 1
    assert "obs_interval" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
