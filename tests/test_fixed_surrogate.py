"""A calibration of a subset of the surrogate's parameters: the others stay at each cell's own value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vic_paraformer as vp
from vic_paraformer.parameters import ParameterSpace, default_parameters
from vic_paraformer.surrogate.fixed import FixedParameterSurrogate
from vic_paraformer.surrogate.resolve import resolve_surrogate


@pytest.fixture(scope="module")
def setup(synthetic_tiny, tmp_path_factory):
    from vic_paraformer.surrogate import train_surrogate

    region = synthetic_tiny.sel_time("2015-04-01", "2016-03-31").with_training_cells(synthetic_tiny.cells[::3])
    # the cells' own values differ from cell to cell, as a VIC parameter file's would
    rng = np.random.default_rng(0)
    region.ds["Ws"] = ("cell", rng.uniform(0.5, 0.9, region.n_cells))
    path = tmp_path_factory.mktemp("sur") / "sur.pt"
    sur = train_surrogate(region, "waterbalance", preset="test", seed=0, num_threads=1, progress=False)
    sur.save(path)
    return region, sur, str(path)


def test_the_fixed_parameters_are_the_cells_own_and_gradients_reach_the_varied_ones(setup):
    region, sur, _ = setup
    sub = ParameterSpace.preset("vic", names=["expt", "infilt"])
    wrapped = FixedParameterSurrogate(sur, sub)
    assert wrapped.parameter_space.names == ("expt", "infilt") and wrapped.fixed_names == ("Ds", "Dsmax", "Ws")
    full, _ = default_parameters(region, sur.parameter_space)
    values = np.column_stack([np.linspace(3, 20, region.n_cells), np.linspace(0.01, 0.5, region.n_cells)])
    full[:, sur.parameter_space.names.index("expt")] = values[:, 0]
    full[:, sur.parameter_space.names.index("infilt")] = values[:, 1]
    assert np.ptp(full[:, sur.parameter_space.names.index("Ws")]) > 0.1  # per-cell own values
    np.testing.assert_allclose(wrapped.predict(region, values)["sm"].values, sur.predict(region, full)["sm"].values)
    # the tensor path: attributes carry the fixed values, gradients reach the varied parameters only
    x, a = wrapped.prepare(region)
    assert a.shape[1] == sur.prepare(region)[1].shape[1] + 3
    u = torch.as_tensor(np.asarray(sub.normalize(values), float), dtype=torch.float32).requires_grad_(True)
    y = wrapped.predict_tensor(x, a, u)
    y_full = sur.predict_tensor(*sur.prepare(region), torch.as_tensor(sur.parameter_space.normalize(full),
                                                                     dtype=torch.float32))
    torch.testing.assert_close(y, y_full, rtol=1e-5, atol=1e-6)
    y[..., 0].mean().backward()
    assert u.grad is not None and torch.all(torch.isfinite(u.grad)) and u.grad.abs().sum() > 0


def test_a_subset_with_the_full_surrogate_calibrates_and_says_what_is_fixed(setup):
    region, sur, _ = setup
    sub = ParameterSpace.preset("vic", names=["infilt", "expt"])
    res = vp.calibrate(region, strategy="sceua", surrogate=sur, seed=0, parameter_space=sub, repetitions=20, ngs=2,
                       n_workers=1, uncertainty=None)
    assert res.parameter_space.names == ("infilt", "expt")
    assert res.info["surrogate_checks"]["fixed_parameters"] == ["Ds", "Dsmax", "Ws"]
    # worker processes load the checkpoint by path and rebuild the same subset
    path = setup[2]
    two = vp.calibrate(region, strategy="sceua", surrogate=path, seed=0, parameter_space=sub, repetitions=20, ngs=2,
                       n_workers=2, lockstep=False, uncertainty=None)
    np.testing.assert_allclose(two.values(), res.values(), rtol=1e-5)
    dl = vp.calibrate(region, strategy="ffn_a", surrogate=sur, seed=0, parameter_space=sub, preset="small", epochs=1,
                      batches_per_epoch=2, progress=False)
    assert dl.parameter_space.names == ("infilt", "expt") and np.all(np.isfinite(dl.values()))


def test_a_parameter_the_surrogate_lacks_is_still_an_error(setup):
    region, sur, _ = setup
    from vic_paraformer.parameters import build_space

    space = build_space("infilt,depth2")
    with pytest.raises(Exception, match="surrogate covers the parameter set"):
        resolve_surrogate(sur, space, space_given=True)


def test_parameters_auto_with_a_surrogate_file_screens_and_calibrates_through_it(setup, tmp_path):
    """What ``calibrate --parameters auto --surrogate s.pt`` does: the identifiability analysis runs
    through the surrogate file (the candidates are its parameters), and the chosen subset is
    calibrated through the same surrogate, the others at the cells' own values."""
    from vic_paraformer.result import CalibrationResult
    from vic_paraformer.workflow import CalibrationSpec, run_calibration

    region, _, path = setup
    spec = CalibrationSpec(region=region, strategy="sceua", out=tmp_path / "r.nc", seed=0, parameters="auto",
                           surrogate=path, options={"repetitions": 20, "n_workers": 1, "uncertainty": None})
    run_calibration(spec)
    res = CalibrationResult.open(tmp_path / "r.nc")
    assert "expt" in res.parameter_space.names and res.parameter_space.n < 5
    assert set(res.info["surrogate_checks"]["fixed_parameters"]) == {"infilt", "Ds", "Dsmax", "Ws", "expt"} - set(
        res.parameter_space.names)
    choice = res.info["parameter_choice"]  # the result says why: the regional means behind the choice
    assert choice["calibrated"] == list(res.parameter_space.names)
    assert set(choice["fixed"]) == set(res.info["surrogate_checks"]["fixed_parameters"])
    means = choice["mean_total_index"]
    assert all(means[n] >= choice["threshold"] for n in choice["calibrated"])
    assert all(means[n] is None or means[n] < choice["threshold"] for n in choice["fixed"])


def test_a_trained_surrogate_records_its_own_error_and_the_intervals_use_it(setup):
    """Training stores the surrogate's validation RMSE per output (physical units); SCE-UA through it
    adds that SM error in quadrature to each cell's mismatch in the model-error term, so its intervals
    are at least as wide as without it."""
    from vic_paraformer.error_terms import surrogate_sm_error

    region, sur, _ = setup
    rmse = sur.info["validation_rmse"]
    assert set(rmse) == set(sur.output_names) and 0 < rmse["sm"] < 0.2
    assert surrogate_sm_error(sur) == pytest.approx(rmse["sm"]) and surrogate_sm_error(object()) == 0.0
    kw = dict(strategy="sceua", seed=0, repetitions=20, ngs=2, n_workers=1, uncertainty_directions=2)
    res = vp.calibrate(region, surrogate=sur, **kw)
    assert res.uncertainty.info["sigma_model"] == pytest.approx(rmse["sm"], rel=1e-4)
    info = dict(sur.info)
    sur.info = {k: v for k, v in info.items() if k != "validation_rmse"}  # an older file: no recorded error
    try:
        plain = vp.calibrate(region, surrogate=sur, **kw)
    finally:
        sur.info = info
    assert plain.uncertainty.info["sigma_model"] == 0.0
    lo, hi = res.uncertainty.interval()
    lo0, hi0 = plain.uncertainty.interval()
    assert np.all(hi - lo >= hi0 - lo0 - 1e-9)
