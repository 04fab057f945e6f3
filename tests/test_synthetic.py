"""Tests of the synthetic twin region and the ``synth`` command."""

from __future__ import annotations

import numpy as np
import pytest

from vic_paraformer import ParameterSpace, Region, RegionError, synthetic_region
from vic_paraformer.cli.main import main
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator
from vic_paraformer.synthetic import ATTRIBUTE_NAMES

NAMES = ("infilt", "Ds", "Dsmax", "Ws", "expt")


def test_deterministic_for_a_seed_and_byte_identical_files(synthetic_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")   # the time in the files' history
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
    assert main(["synth", "--out", str(tmp_path / "x.nc"), "--obs-interval", "0", "2"]) == 2  # a usage error
    assert "--obs-interval 0 2: expected 1 <= MIN <= MAX days" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


# ----------------------------------------------------------------------------- chunks of cells

def _assert_same_region(a: Region, b: Region) -> None:
    assert sorted(a.ds.variables) == sorted(b.ds.variables)
    assert a.ds.attrs == b.ds.attrs
    for k in a.ds.variables:
        assert a.ds[k].dtype == b.ds[k].dtype, k
        np.testing.assert_array_equal(a.ds[k].values, b.ds[k].values, err_msg=k)


@pytest.mark.parametrize("difficulty", ["clean", "realistic"])
def test_values_do_not_depend_on_the_chunk_of_cells(difficulty):
    whole = synthetic_region(ny=5, nx=7, years=1, seed=4, difficulty=difficulty)
    for chunk in (1, 6, 34):
        _assert_same_region(whole, synthetic_region(ny=5, nx=7, years=1, seed=4, difficulty=difficulty,
                                                    chunk_cells=chunk))


@pytest.mark.parametrize("difficulty", ["clean", "realistic"])
def test_streamed_file_under_a_tiny_budget_equals_the_region_in_memory(tmp_path, difficulty):
    from vic_paraformer.synthetic import write_synthetic_region

    mem = synthetic_region(ny=6, nx=5, years=1, seed=2, difficulty=difficulty)
    mem = mem.with_training_cells(mem.spatial_split(4).train)
    mem.save(tmp_path / "mem.nc")
    # 2e-4 GB = 200 kB: one cell of 365 days per chunk
    s = write_synthetic_region(tmp_path / "streamed.nc", ny=6, nx=5, years=1, seed=2, difficulty=difficulty,
                               train_k=4, max_memory_gb=2e-4)
    assert s.n_chunks == 30 and s.chunk_cells == 1 and s.n_training_cells == len(mem.training_cells)
    assert s.obs_sm_fraction == pytest.approx(np.isfinite(mem.observations("obs_sm")).mean())
    _assert_same_region(Region.open(tmp_path / "mem.nc"), Region.open(tmp_path / "streamed.nc"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mem.nc", "streamed.nc"]   # no scratch left


def test_synth_cli_budget_gives_the_same_file_values(tmp_path, capsys):
    args = ["synth", "--ny", "4", "--nx", "3", "--years", "1", "--seed", "1", "--train-k", "2"]
    assert main([*args, "--out", str(tmp_path / "a.nc")]) == 0
    assert "1 chunk(s)" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b.nc"), "--max-memory", "0.0005"]) == 0
    assert "chunk(s) of <= 2 cells" in capsys.readouterr().out
    _assert_same_region(Region.open(tmp_path / "a.nc"), Region.open(tmp_path / "b.nc"))
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "c.nc"), "--max-memory", "0"])
    assert "expected a number > 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------- realistic preset

@pytest.fixture(scope="module")
def realistic():
    return synthetic_region(ny=8, nx=8, years=2, seed=0, difficulty="realistic")


@pytest.fixture(scope="module")
def realistic_truth_sm(realistic):
    """The simulator's top layer under the true parameters and the true forcing."""
    from vic_paraformer.synthetic import true_forcing_region

    sim = WaterBalanceSimulator(device="cpu", dtype="float64")
    return sim.run_arrays(true_forcing_region(realistic), realistic.parameters(prefix="true_"))


def test_realistic_is_deterministic_byte_for_byte(realistic, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")   # the time in the files' history
    again = synthetic_region(ny=8, nx=8, years=2, seed=0, difficulty="realistic")
    assert again.ds.identical(realistic.ds)
    assert realistic.save(tmp_path / "a.nc").read_bytes() == again.save(tmp_path / "b.nc").read_bytes()
    other = synthetic_region(ny=8, nx=8, years=2, seed=1, difficulty="realistic")
    assert not np.array_equal(other.ds["true_obs_offset"].values, realistic.ds["true_obs_offset"].values)
    assert realistic.ds.attrs["difficulty"] == "realistic"
    assert realistic.ds.attrs["difficulty_obs_offset_sd"] == "0.03"


def test_realistic_shares_the_true_world_of_the_clean_preset(realistic):
    clean = synthetic_region(ny=8, nx=8, years=2, seed=0)
    np.testing.assert_array_equal(realistic.ds["true_prec"].values, clean.ds["prec"].values)
    np.testing.assert_array_equal(realistic.ds["true_air_temp"].values, clean.ds["air_temp"].values)
    for name in ("porosity", "ksat", "soil_depth3", "veg_fraction"):   # simulator attributes: exact
        np.testing.assert_array_equal(realistic.attribute(name), clean.attribute(name))
    for name in ("clay", "slope", "elevation"):                        # others observed with noise
        assert not np.allclose(realistic.attribute(name), clean.attribute(name))
    assert realistic.attribute_names == list(ATTRIBUTE_NAMES) + ["aux1", "aux2", "aux3"]
    # the truth has a residual the attributes do not explain
    assert not np.allclose(realistic.parameters(prefix="true_"), clean.parameters(prefix="true_"))


def test_realistic_observations_are_biased_by_the_documented_operator(realistic, realistic_truth_sm):
    r = realistic
    sm = realistic_truth_sm["sm"]
    obs = r.observations("obs_sm")
    a, b = r.ds["true_obs_scale"].values, r.ds["true_obs_offset"].values
    # documented: log a ~ N(0, 0.12), b ~ N(0, 0.03) m3/m3, independent per cell
    assert 0.07 < np.log(a).std() < 0.18 and 0.018 < b.std() < 0.045
    slope, icpt = [], []
    for c in range(r.n_cells):
        m = np.isfinite(obs[c])
        p = np.polyfit(sm[c, m], obs[c, m], 1)
        slope.append(p[0])
        icpt.append(p[1])
    assert np.corrcoef(slope, a)[0, 1] > 0.8
    assert np.corrcoef(np.array(icpt) + np.array(slope) * sm.mean(1), b + a * sm.mean(1))[0, 1] > 0.9
    # bias against the simulator's top layer: the mean offset per cell is b + (a - 1) mean(sm)
    m = np.isfinite(obs)
    bias = np.array([np.mean(obs[c, m[c]] - sm[c, m[c]]) for c in range(r.n_cells)])
    expected = b + (a - 1) * np.array([sm[c, m[c]].mean() for c in range(r.n_cells)])
    np.testing.assert_allclose(bias, expected, atol=0.006)
    # representativeness noise grows with wetness: 0.01 dry .. 0.04 saturated
    resid = obs - (a[:, None] * sm + b[:, None])
    wp, por = r.attribute("wilting_point")[:, None], r.attribute("porosity")[:, None]
    wet = np.clip((sm - wp) / (por - wp), 0, 1)
    ok = m & (obs > 0.011) & (obs < por - 0.001)   # away from the clipping bounds
    dry, wetter = ok & (wet < 0.2), ok & (wet > 0.5)
    assert dry.sum() > 50 and wetter.sum() > 50
    assert 0.008 < resid[dry].std() < 0.02 and resid[wetter].std() > 1.5 * resid[dry].std()


def test_realistic_gaps_frozen_days_and_et_towers(realistic):
    from vic_paraformer.synthetic import _running_mean

    obs = r_obs = realistic.observations("obs_sm")
    cold = _running_mean(realistic.ds["true_air_temp"].values.astype(float), 3) < 1.0
    assert cold.sum() > 100 and not np.isfinite(r_obs[cold]).any()
    assert 0.2 < np.isfinite(obs).mean() < 0.4   # revisit 2-3 days, minus ~10 % and frozen days
    et = realistic.observations("obs_et")
    towers = realistic.ds["et_tower"].values.astype(bool)
    assert towers.sum() == 4                          # 1/16 of 64 cells
    assert not np.isfinite(et[~towers]).any()
    assert 0.7 < np.isfinite(et[towers]).mean() < 0.9


def test_realistic_forcing_differs_from_the_truth(realistic):
    from vic_paraformer.synthetic import true_forcing_region

    seen, true = realistic.ds["prec"].values.astype(float), realistic.ds["true_prec"].values.astype(float)
    wet = true > 1
    ratio = np.log(seen[wet] / true[wet])
    assert 0.3 < ratio.std() < 0.5                    # daily ~35 % plus a static ~15 % error
    assert abs(seen.sum() / true.sum() - 1) < 0.15    # unbiased in expectation
    assert np.all(seen[true == 0] == 0)               # no rain where none fell
    dt = realistic.ds["air_temp"].values - realistic.ds["true_air_temp"].values
    assert abs(dt.mean() - 1.0) < 0.3 and dt.std() > 0.1
    oracle = true_forcing_region(realistic)
    np.testing.assert_array_equal(oracle.ds["prec"].values, realistic.ds["true_prec"].values)
    np.testing.assert_array_equal(oracle.ds["wind"].values, realistic.ds["wind"].values)


def test_unknown_difficulty():
    with pytest.raises(RegionError, match="realistic"):
        synthetic_region(ny=2, nx=2, years=1, difficulty="hard")


def test_synth_cli_difficulty(tmp_path, capsys):
    out = tmp_path / "r.nc"
    assert main(["synth", "--out", str(out), "--ny", "2", "--nx", "2", "--years", "1", "--difficulty", "realistic"]) == 0
    r = Region.open(out)
    assert r.has("true_prec") and r.ds.attrs["difficulty"] == "realistic"
    assert "realistic" in capsys.readouterr().out
