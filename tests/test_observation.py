"""Observation operators: closed forms by hand, torch == numpy, storage, new-cell rule."""

import numpy as np
import pytest
import torch
import xarray as xr

from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.observation import (A_BOUNDS, ObservationOperator, ObservationOperatorError, apply_torch, fit,
                                        fit_apply, fit_apply_torch)
from vic_paraformer.parameters import ParameterSpace


def _pairs(seed=0, n_cells=3, n_t=200):
    rng = np.random.default_rng(seed)
    sim = 0.2 + 0.05 * np.sin(np.linspace(0, 12, n_t))[None] + 0.01 * rng.standard_normal((n_cells, n_t))
    obs = 0.5 * sim - 0.04 + 0.002 * rng.standard_normal((n_cells, n_t))
    obs[:, ::7] = np.nan
    return sim, obs


def test_linear_recovers_scale_and_offset_and_matches_hand_ridge():
    sim, obs = _pairs()
    op = fit("linear", sim, obs, cells=[1, 2, 3], lat=[0, 0, 0], lon=[0, 1, 2], l2=0.0)
    np.testing.assert_allclose(op.a, 0.5, atol=0.03)
    np.testing.assert_allclose(op.b, -0.04, atol=0.01)
    # ridge towards identity by hand for cell 0 (normal equations of mean (a s + b - o)^2 + l2((a-1)^2 + b^2))
    l2 = 1e-3
    op2 = fit("linear", sim, obs, cells=[1, 2, 3], lat=[0, 0, 0], lon=[0, 1, 2], l2=l2)
    v = np.isfinite(obs[0])
    s, o = sim[0][v], obs[0][v]
    m = np.array([[np.mean(s * s) + l2, np.mean(s)], [np.mean(s), 1 + l2]])
    a, b = np.linalg.solve(m, [np.mean(s * o) + l2, np.mean(o)])
    assert op2.a[0] == pytest.approx(a, rel=1e-9) and op2.b[0] == pytest.approx(b, abs=1e-12)
    assert abs(op2.a[0] - 1) < abs(op.a[0] - 1)  # regularised towards identity


def test_linear_bounds_and_cells_without_obs():
    sim = np.stack([np.linspace(0.2, 0.2001, 50), np.linspace(0.1, 0.3, 50)])
    obs = np.stack([np.linspace(0.0, 0.5, 50), np.full(50, np.nan)])
    op = fit("linear", sim, obs, cells=[0, 1], lat=[0, 0], lon=[0, 1], l2=0.0)
    assert op.a[0] == A_BOUNDS[1]
    assert (op.a[1], op.b[1], op.n_obs[1]) == (1.0, 0.0, 0)


def test_cdf_matches_distribution_and_is_monotone():
    rng = np.random.default_rng(1)
    sim = rng.uniform(0.1, 0.3, (2, 400))
    obs = rng.uniform(0.02, 0.08, (2, 400))
    h = fit_apply("cdf", sim, obs)
    for i in range(2):
        assert np.all(np.diff(h[i][np.argsort(sim[i])]) >= -1e-12)
        np.testing.assert_allclose(np.quantile(h[i], [0.1, 0.5, 0.9]), np.quantile(obs[i], [0.1, 0.5, 0.9]), atol=0.004)
    # hand check of the map at one point: the median of sim goes to the median of obs
    op = fit("cdf", sim, obs, cells=[0, 1], lat=[0, 0], lon=[0, 1], n_quantiles=3)
    med = np.quantile(sim[0], 0.5)
    out = op.apply(np.array([[med, op.sim_q[0, -1] + 0.1], [0.2, 0.2]]), [0, 0], [0, 1])
    assert out[0, 0] == pytest.approx(np.quantile(obs[0], 0.5), abs=1e-8)
    assert out[0, 1] == pytest.approx(op.obs_q[0, -1] + 0.1, abs=1e-8)  # slope 1 beyond the last quantile


@pytest.mark.parametrize("kind", ["identity", "linear", "cdf"])
def test_torch_path_equals_numpy_and_has_gradients(kind):
    sim, obs = _pairs(n_t=120)
    ref = fit_apply(kind, sim, obs)
    s = torch.tensor(sim, requires_grad=True)
    h = fit_apply_torch(kind, s, torch.tensor(obs))
    np.testing.assert_allclose(h.detach().numpy(), ref, atol=1e-9)
    h.sum().backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_stored_operator_applies_by_location_and_rule():
    sim, obs = _pairs()
    op = fit("linear", sim, obs, cells=[10, 11, 12], lat=[40, 40, 45], lon=[-110, -109, -100])
    new = np.full((2, 5), 0.2)
    out = op.apply(new, lat=[40.0, 44.9], lon=[-109.0, -100.1])
    np.testing.assert_allclose(out[0], op.a[1] * 0.2 + op.b[1])
    np.testing.assert_allclose(out[1], op.a[2] * 0.2 + op.b[2])
    ident = ObservationOperator.from_dict({**op.to_dict(), "new_cells": "identity"})
    out = ident.apply(new, lat=[40.0, 44.9], lon=[-109.0, -100.1])
    np.testing.assert_allclose(out[0], op.a[1] * 0.2 + op.b[1])
    np.testing.assert_allclose(out[1], 0.2)
    t = apply_torch(op, torch.tensor(new), op.positions([40.0, 44.9], [-109.0, -100.1]))
    np.testing.assert_allclose(t.numpy(), op.apply(new, [40.0, 44.9], [-109.0, -100.1]))


def test_result_saves_and_reopens_operator(tmp_path):
    sim, obs = _pairs()
    space = ParameterSpace.resolve(None)
    vals = np.tile((np.asarray(space.lower) + np.asarray(space.upper)) / 2, (3, 1))
    params = space.to_dataset(vals, np.array([0, 1, 2])).assign_coords(lat=("cell", [1.0, 2.0, 3.0]),
                                                                        lon=("cell", [4.0, 5.0, 6.0]))
    for kind in ("linear", "cdf"):
        op = fit(kind, sim, obs, cells=[0, 1, 2], lat=[1, 2, 3], lon=[4, 5, 6])
        res = CalibrationResult(params=params, strategy="x", parameter_space=space, obs_operator=op, warmup_days=30,
                                spinup_years=2, train_cells=np.array([0, 1, 2]))
        back = CalibrationResult.open(res.save(tmp_path / f"{kind}.nc"))
        assert back.obs_operator.kind == kind and back.warmup_days == 30 and back.spinup_years == 2
        np.testing.assert_allclose(back.obs_operator.apply(sim, [1, 2, 3], [4, 5, 6]), op.apply(sim, [1, 2, 3], [4, 5, 6]))
    # the older info form becomes a linear operator on its cells, identity elsewhere
    res = CalibrationResult(params=params, strategy="x", parameter_space=space,
                            info={"obs_operator": {"cells": [1], "a": [2.0], "b": [0.1]}})
    assert res.obs_operator.kind == "linear"
    np.testing.assert_allclose(res.obs_operator.apply(np.full((2, 1), 0.1), [2, 3], [5, 6]), [[0.3], [0.1]])


def test_bad_names_and_shapes():
    with pytest.raises(ObservationOperatorError, match="unknown observation operator 'bias'"):
        fit("bias", np.zeros((1, 3)), np.zeros((1, 3)), cells=[0], lat=[0], lon=[0])
    with pytest.raises(ObservationOperatorError, match="same shape"):
        fit("linear", np.zeros((1, 3)), np.zeros((1, 4)), cells=[0], lat=[0], lon=[0])
    with pytest.raises(ObservationOperatorError, match="lacks"):
        ObservationOperator.from_dict({"kind": "linear"})


def test_operators_stored_by_earlier_versions_load_unchanged():
    # the JSON form earlier versions wrote (per-kind keys; identity without coefficients)
    old_linear = {"kind": "linear", "new_cells": "identity", "cells": [3, 7], "lat": [40.0, 41.0], "lon": [-110.0, -109.0],
                  "n_obs": [50, 0], "options": {"l2": 0.0001}, "a": [0.5, 1.0], "b": [-0.02, 0.0]}
    old_cdf = {"kind": "cdf", "new_cells": "nearest", "cells": [3], "lat": [40.0], "lon": [-110.0], "n_obs": [40],
               "options": {"n_quantiles": 3}, "sim_q": [[0.1, 0.2, 0.3]], "obs_q": [[0.05, 0.1, 0.2]]}
    lin = ObservationOperator.from_dict(old_linear)
    assert lin.to_dict() == old_linear and lin.a.tolist() == [0.5, 1.0] and lin.sim_q is None
    np.testing.assert_allclose(lin.apply(np.full((2, 2), 0.2), [40.0, 41.0], [-110.0, -109.0]), [[0.08, 0.08], [0.2, 0.2]])
    cdf = ObservationOperator.from_dict(old_cdf)
    assert cdf.to_dict() == old_cdf
    np.testing.assert_allclose(cdf.apply(np.array([[0.15, 0.35]]), [40.0], [-110.0]), [[0.075, 0.25]])
    assert ObservationOperator.from_dict({"kind": "identity", "cells": [], "lat": [], "lon": [], "n_obs": [],
                                          "options": {}, "new_cells": "nearest"}).is_identity


def test_fit_by_name_and_options_positional_and_each_operator_keeps_its_own_options():
    sim, obs = _pairs()
    a = fit("linear", sim, obs, [1, 2, 3], [0, 0, 0], [0, 1, 2], "identity", l2=0.0, n_quantiles=5)
    assert a.options == {"l2": 0.0} and a.new_cells == "identity"
    c = fit("cdf", sim, obs, [1, 2, 3], [0, 0, 0], [0, 1, 2], l2=0.0, n_quantiles=5)
    assert c.options == {"n_quantiles": 5} and c.sim_q.shape == (3, 5)
    with pytest.raises(ObservationOperatorError, match="unknown observation-operator option"):
        fit("linear", sim, obs, [1, 2, 3], [0, 0, 0], [0, 1, 2], l3=1.0)
