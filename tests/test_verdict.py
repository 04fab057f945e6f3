"""vic_paraformer.verdict and vic_paraformer.scoring: paired intervals, verdicts, periods and their labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vic_paraformer import metrics
from vic_paraformer.scoring import default_periods, fitting_window, period_label
from vic_paraformer.verdict import block_sums, compare, compare_values, concat_sums, format_comparison, verdict_of


def _series(n_cells=12, n_days=240, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_days)
    obs = 0.25 + 0.08 * np.sin(t / 20.0)[None, :] + rng.normal(0, 0.01, (n_cells, n_days))
    return obs, rng


def test_block_sums_reproduce_the_metrics_and_concatenate_over_chunks():
    obs, rng = _series()
    sim = obs + rng.normal(0, 0.02, obs.shape)
    obs[3, 10:40] = np.nan
    s = block_sums(sim, obs, block_days=30)
    assert s.n.shape == (12, 8)
    m = s.merged_blocks()
    sst = m.soo[:, 0] - m.so[:, 0] ** 2 / m.n[:, 0]
    np.testing.assert_allclose(1 - m.see[:, 0] / sst, metrics.nse(sim, obs), rtol=1e-9)
    parts = concat_sums([block_sums(sim[:5], obs[:5]), block_sums(sim[5:], obs[5:])])
    np.testing.assert_array_equal(parts.see, s.see)


def test_identical_rows_differ_by_exactly_zero():
    obs, rng = _series()
    sim = obs + rng.normal(0, 0.02, obs.shape)
    c = compare(block_sums(sim, obs), block_sums(sim.copy(), obs))
    assert c["median"] == 0.0 and c["mean"] == 0.0 and c["ci"] == [0.0, 0.0]
    assert c["verdict"] == "no detectable change" and c["n_cells"] == 12


@pytest.mark.parametrize("n_cells", [2, 12, 400])
def test_a_clear_improvement_is_better_and_its_reverse_worse(n_cells):
    obs, rng = _series(n_cells=n_cells)
    good = obs + rng.normal(0, 0.01, obs.shape)
    bad = obs + rng.normal(0, 0.04, obs.shape)
    c = compare(block_sums(good, obs), block_sums(bad, obs))
    assert c["verdict"] == "better" and c["ci"][0] > 0
    assert ("blocks" in c["method"]) == (n_cells <= 200)
    r = compare(block_sums(bad, obs), block_sums(good, obs))
    assert r["verdict"] == "worse" and r["ci"][1] < 0
    # RMSE: lower is better, the verdict follows
    assert compare(block_sums(good, obs), block_sums(bad, obs), metric="rmse")["verdict"] == "better"


def test_noise_alone_shows_no_detectable_change():
    obs, rng = _series(n_cells=30)
    a = obs + rng.normal(0, 0.02, obs.shape)
    b = obs + rng.normal(0, 0.02, obs.shape)
    c = compare(block_sums(a, obs), block_sums(b, obs))
    assert c["verdict"] == "no detectable change" and c["ci"][0] < 0 < c["ci"][1]
    # the interval is reproducible
    assert compare(block_sums(a, obs), block_sums(b, obs)) == c


def test_few_cells_get_an_honest_interval_from_the_days():
    """Two stations, each slightly better: resampling days keeps the interval open where cells alone would not."""
    obs, rng = _series(n_cells=2, n_days=120)
    a = obs + rng.normal(0, 0.020, obs.shape)
    b = obs + rng.normal(0, 0.021, obs.shape)
    c = compare(block_sums(a, obs), block_sums(b, obs))
    assert c["verdict"] == "no detectable change" and c["n_blocks"] == 4


def test_compare_values_over_seeds_and_cells():
    rng = np.random.default_rng(1)
    base = rng.normal(0.6, 0.1, (4, 50))
    assert compare_values(base + 0.05 + rng.normal(0, 0.01, base.shape), base)["verdict"] == "better"
    same = compare_values(base, base.copy())
    assert same["median"] == 0.0 and same["verdict"] == "no detectable change" and same["n_repetitions"] == 4
    assert "4 seeds" in format_comparison("x", compare_values(base + 0.05, base))
    assert verdict_of([-0.1, 0.2]) == "no detectable change" and verdict_of([0.01, 0.2]) == "better"
    # one tower, however clear: too few cells for a verdict from per-cell values alone
    one = compare_values(base[:, :1] + 0.3, base[:, :1])
    assert one["n_cells"] == 1 and one["verdict"] == "too few cells to tell"


def test_periods_are_labelled_by_the_fitting_window():
    fit = ("2008-01-01", "2008-08-31")
    assert period_label(("2008-09-01", "2008-12-31"), fit) == "held-out"
    assert period_label(("2008-02-01", "2008-03-31"), fit) == "in-sample"
    assert period_label(("2008-08-01", "2008-09-30"), fit).startswith("partly in-sample (31 of 61 days")
    assert period_label(("2008-08-01", "2008-09-30"), None) == "fitting window unknown"
    times = pd.date_range("2008-01-01", "2008-12-31")
    p = default_periods(fit, times)
    assert list(p) == ["held_out", "calibration"]
    assert [str(d.date()) for d in p["held_out"]] == ["2008-09-01", "2008-12-31"]
    assert list(default_periods(("2008-01-01", "2008-12-31"), times)) == ["calibration"]


def test_fitting_window_is_the_span_of_observations_after_warm_up():
    times = pd.date_range("2008-01-01", "2008-12-31")
    obs = np.full((2, len(times)), np.nan)
    obs[0, 20] = obs[1, 100] = obs[0, 240] = 0.2
    assert fitting_window(times, obs, warmup_days=0) == ("2008-01-21", "2008-08-28")
    assert fitting_window(times, obs, warmup_days=30) == ("2008-04-10", "2008-08-28")
    assert fitting_window(times, obs[:, :10]) is None


def test_a_result_records_the_span_of_observations_it_learned_from():
    """A region spanning the whole year with observations only in January-August records January (after the
    warm-up)..August as its calibration period, not the region's span."""
    import time

    import vic_paraformer as vp
    from vic_paraformer.calibrator import Calibrator
    from vic_paraformer.parameters import default_parameters

    class Unchanged(Calibrator):
        name = "unchanged"
        default_options: dict = {}

        def calibrate(self, region):
            values, _ = default_parameters(region, self.parameter_space)
            return self._result(region, values, started=time.perf_counter(), warmup_days=20)

    r = vp.synthetic_region(ny=2, nx=2, years=1, seed=0)
    ds = r.ds.copy()
    obs = ds["obs_sm"].values.copy()
    obs[:, np.asarray(r.times > pd.Timestamp(r.times[0]) + pd.Timedelta(days=150))] = np.nan
    ds["obs_sm"] = (("cell", "time"), obs)
    r = vp.Region(ds)
    res = Unchanged().calibrate(r)
    last = pd.DatetimeIndex(r.times)[np.isfinite(obs).any(axis=0)][-1]
    first = pd.DatetimeIndex(r.times)[20:][np.isfinite(obs[:, 20:]).any(axis=0)][0]
    assert res.info["calibration_period"] == [str(first.date()), str(last.date())]
    assert res.info["region_period"] == [str(r.times[0].date()), str(r.times[-1].date())]


def test_quiet_days_do_not_blow_the_interval_open():
    """Three cells, observations that move for 60 days and sit still for 300, and a row that misses the movement
    but matches the quiet days: a replicate that draws only quiet blocks must not divide by their near-zero
    variance (the interval's upper end went to about +100 NSE that way)."""
    obs, rng = _series(n_cells=3, n_days=360)
    obs[:, 60:] = 0.25 + rng.normal(0, 0.0005, (3, 300))
    good = obs + rng.normal(0, 0.005, obs.shape)
    bad = 0.25 + 0.3 * (obs - 0.25) + rng.normal(0, 0.005, obs.shape)
    bad[:, 60:] = obs[:, 60:] + rng.normal(0, 0.0002, (3, 300))
    c = compare(block_sums(bad, obs), block_sums(good, obs))
    assert c["median"] < -0.3 and c["ci"][0] > -2 and c["ci"][1] < 0.5, c
