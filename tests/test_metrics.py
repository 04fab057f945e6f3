import numpy as np
import pytest
import xarray as xr

from vic_paraformer import metrics


def test_rmse_pcc_nse_hand_computed_with_nan_gaps():
    obs = np.array([[1.0, np.nan, 3.0, 5.0], [2.0, 2.0, np.nan, 4.0]])
    sim = np.array([[2.0, 100.0, 3.0, 4.0], [2.0, 3.0, 7.0, np.nan]])
    # cell 0 valid pairs: (1,2), (3,3), (5,4) -> errors 1, 0, -1
    np.testing.assert_allclose(metrics.rmse(sim, obs)[0], np.sqrt(2 / 3))
    # obs mean 3 -> ss_tot = 4 + 0 + 4 = 8; ss_res = 2 -> nse = 0.75
    np.testing.assert_allclose(metrics.nse(sim, obs)[0], 0.75)
    # sim mean 3: anomalies (-1,0,1) vs obs (-2,0,2) -> pcc = 1
    np.testing.assert_allclose(metrics.pcc(sim, obs)[0], 1.0)
    # cell 1 valid pairs: (2,2), (2,3) -> rmse sqrt(1/2); obs constant -> nse, pcc undefined
    np.testing.assert_allclose(metrics.rmse(sim, obs)[1], np.sqrt(0.5))
    assert np.isnan(metrics.nse(sim, obs)[1])
    assert np.isnan(metrics.pcc(sim, obs)[1])


def test_pcc_negative_and_partial():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    sim = np.array([4.0, 3.5, 2.0, 1.0])
    r = metrics.pcc(sim, obs)
    expected = np.corrcoef(sim, obs)[0, 1]
    np.testing.assert_allclose(r, expected)
    assert r < 0


def test_nse_perfect_is_one_and_worse_than_mean_is_negative():
    obs = np.array([[0.1, 0.3, 0.2, 0.4, np.nan]])
    assert metrics.nse(obs.copy(), obs)[0] == pytest.approx(1.0)
    bad = np.array([[0.4, 0.1, 0.4, 0.1, 0.0]])
    assert metrics.nse(bad, obs)[0] < 0


def test_metrics_accept_xarray_and_validate_shapes():
    obs = xr.DataArray(np.array([[1.0, 2.0, 3.0]]), dims=("cell", "time"))
    sim = obs + 1
    np.testing.assert_allclose(metrics.rmse(sim, obs), [1.0])
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse(np.zeros((2, 3)), np.zeros((2, 4)))


def test_all_nan_cell_gives_nan_and_summary_skips_it():
    obs = np.array([[np.nan, np.nan], [1.0, 2.0]])
    sim = np.array([[1.0, 1.0], [1.0, 2.0]])
    m = metrics.all_metrics(sim, obs)
    assert np.isnan(m["rmse"][0]) and m["rmse"][1] == 0
    s = metrics.summarize(m["rmse"])
    assert s["n"] == 1 and s["median"] == 0.0
    x, p = metrics.cdf([3.0, np.nan, 1.0, 2.0])
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(p, [1 / 3, 2 / 3, 1.0])
