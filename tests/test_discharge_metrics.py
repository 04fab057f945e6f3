"""KGE (Gupta et al. 2009), its components, and log-NSE, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vic_paraformer.metrics import kge, kge_components, log_nse, nse


def test_kge_by_hand():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    # sim = 2 obs: r = 1, alpha = 2, beta = 2 -> 1 - sqrt(0 + 1 + 1)
    c = kge_components(2 * obs, obs)
    assert (c["r"], c["alpha"], c["beta"]) == (pytest.approx(1.0), pytest.approx(2.0), pytest.approx(2.0))
    assert c["kge"] == pytest.approx(1 - np.sqrt(2))
    # a shuffled copy: means and spreads equal (alpha = beta = 1); deviations (-1.5, -.5, .5, 1.5) and
    # (-.5, -1.5, 1.5, .5): covariance 3 / variance 5 -> r = 0.6, KGE = 0.6
    c = kge_components(np.array([2.0, 1.0, 4.0, 3.0]), obs)
    assert c["r"] == pytest.approx(0.6) and c["alpha"] == pytest.approx(1.0) and c["beta"] == pytest.approx(1.0)
    assert c["kge"] == pytest.approx(0.6)
    # sim = obs + 1: r = 1, alpha = 1, beta = 3.5 / 2.5 = 1.4 -> KGE = 0.6
    assert kge(obs + 1, obs) == pytest.approx(0.6)


def test_kge_per_gauge_skips_gaps_and_constant_series():
    obs = np.array([[1.0, np.nan, 3.0, 4.0, 2.0], [5.0, 5.0, 5.0, 5.0, 5.0]])
    sim = np.array([[1.0, 100.0, 3.0, 4.0, 2.0], [4.0, 5.0, 6.0, 5.0, 5.0]])
    out = kge(sim, obs)
    assert out[0] == pytest.approx(1.0)  # the gap (and its 100) is skipped
    assert np.isnan(out[1])  # constant observations: alpha undefined


def test_log_nse_by_hand():
    obs = np.array([1.0, 10.0, 100.0])
    sim = np.array([1.0, 10.0, 1000.0])
    lo, ls = np.log(obs + 1e-9), np.log(sim + 1e-9)
    expected = 1 - ((lo - ls) ** 2).sum() / ((lo - lo.mean()) ** 2).sum()
    assert log_nse(sim, obs, eps=1e-9) == pytest.approx(expected)
    # ln 10 steps: 1 - ln(10)^2 / (2 ln(10)^2) = 0.5
    assert expected == pytest.approx(0.5, abs=1e-6)
    assert nse(sim, obs) < log_nse(sim, obs, eps=1e-9)  # the peak error weighs less in logs
