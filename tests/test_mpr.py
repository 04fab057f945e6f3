"""The MPR-style strategy: logit-linear transfer functions of attributes, coefficients calibrated
jointly over the training cells.

Two twins whose true parameters are exactly logit-linear functions of two attributes:

* a model whose soil moisture is a known linear mix of the five normalised parameters (every
  parameter identifiable): the coefficients and maps must come back (documented tolerance);
* the water-balance world seen through the test surrogate (observations are the surrogate's own
  output at the true parameters): the map of ``expt``, the parameter top-layer soil moisture
  constrains, must come back (r > 0.95). The others are not required: measured with 400
  evaluations, seeds 0 and 1, ``infilt`` came back with r = -0.93 and -0.30, ``Ds`` -0.46 and -0.49
  (``Ws`` 0.99 and 0.56) at nearly equal loss -- soil moisture alone does not tell them apart.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import vic_paraformer as vp
from vic_paraformer import registry
from vic_paraformer.errors import StrategyError
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.simulators.base import Simulator
from vic_paraformer.strategies.mpr import apply_transfer_functions
from vic_paraformer.strategies.transfer import TransferFunctions, choose_attributes

ATTRS = ["clay", "veg_fraction"]   # nearly uncorrelated on the 4 x 4 twin (r = -0.08)
SURROGATE_ATTRS = ["clay", "slope"]  # r = -0.27 on the 8 x 8 twin
#: True coefficients (intercept, first', second') per parameter.
TRUE_COEF = np.array([[-0.5, 0.8, 0.0], [0.3, 0.0, -0.6], [0.0, 0.5, 0.5], [0.6, -0.7, 0.0], [-0.2, 0.9, -0.4]])


class MixSimulator(Simulator):
    """Soil moisture = 0.25 + 0.02 * sum_p u_p * basis_p(t): every normalised parameter identifiable."""

    name = "mix"

    def simulate(self, region, params, *, period=None):
        space = ParameterSpace.preset("vic")
        u = np.asarray(space.normalize(np.stack([params[n].values for n in space.names], axis=1)), float)
        t = np.arange(region.n_days)
        basis = np.stack([np.sin(2 * np.pi * (k + 1) * t / 97.0) for k in range(space.n)])
        sm = 0.25 + 0.02 * u @ basis
        z = np.zeros_like(sm)
        dims = ("cell", "time")
        return xr.Dataset({"sm": (dims, sm), "et": (dims, z + 1.0), "runoff": (dims, z), "baseflow": (dims, z)},
                          coords={"cell": region.cells, "time": region.times})


def _truth(region, space, attrs=ATTRS) -> tuple[TransferFunctions, np.ndarray]:
    tf = TransferFunctions.standardised_on(space.names, attrs, region.attributes(attrs))
    tf.coef = TRUE_COEF.copy()
    return tf, tf.apply(region.attributes(ATTRS), space)


def test_transfer_functions_round_trip(synthetic_tiny):
    space = ParameterSpace.preset("vic")
    tf, values = _truth(synthetic_tiny, space)
    assert np.all(values >= space.lower) and np.all(values <= space.upper)
    back = TransferFunctions.from_dict(tf.to_dict())
    np.testing.assert_allclose(back.apply(synthetic_tiny.attributes(ATTRS), space), values)
    text = tf.describe(space)
    assert text[0].startswith("infilt = 0.001 + 0.499 * sigmoid(-0.5 +0.8 clay'") and len(text) == 5
    with pytest.raises(StrategyError, match=r"attribute\(s\) \['nope'\] not in the region"):
        choose_attributes(synthetic_tiny.attribute_names, synthetic_tiny.attributes(), ["nope"])


def test_mpr_recovers_exact_coefficients(synthetic_tiny, monkeypatch):
    """An identifiable twin: coefficients within 0.1 logit and maps within 3 % of each range (what
    0.1 logit allows near the middle of a range)."""
    monkeypatch.setitem(registry.BUILTIN_SIMULATORS, "mix", f"{__name__}:MixSimulator")
    space = ParameterSpace.preset("vic")
    region = synthetic_tiny.sel_time(synthetic_tiny.times[0], synthetic_tiny.times[199])
    tf, truth = _truth(region, space)
    sim = MixSimulator().simulate(region, space.to_dataset(truth, region.cells))
    ds = region.ds.copy()
    ds["obs_sm"] = (("cell", "time"), sim["sm"].values.astype(np.float32))
    twin = vp.Region(ds)
    res = vp.calibrate(twin, strategy="mpr", simulator="mix", attributes=ATTRS, log_attributes=[], repetitions=3000, warmup=0,
                       loss="paper", obs_operator="identity", seed=0)
    coef = np.asarray(res.info["transfer_functions"]["coefficients"])
    assert np.abs(coef - TRUE_COEF).max() < 0.1, coef
    got = np.stack([res.params[n].values for n in space.names], axis=1)
    err = np.abs(got - truth) / (np.asarray(space.upper) - np.asarray(space.lower))
    assert err.max() < 0.03
    # the functions apply to cells they never saw: another twin's attributes
    other = vp.synthetic_region(ny=3, nx=3, years=0.2, seed=5)
    tf_other = tf.apply(other.attributes(ATTRS), space)
    err = np.abs(apply_transfer_functions(res, other) - tf_other) / (np.asarray(space.upper) - np.asarray(space.lower))
    assert err.max() < 0.05
    assert res.n_evaluations <= 3000 and "transfer_functions_text" in res.info


def test_mpr_through_surrogate_recovers_constrained_maps(small_surrogate, synthetic_small):
    """The water-balance world through the surrogate: the expt map comes back (r > 0.95)."""
    space = small_surrogate.parameter_space
    region = synthetic_small
    tf, truth = _truth(region, space, SURROGATE_ATTRS)
    pred = small_surrogate.predict(region, truth)
    ds = region.ds.copy()
    ds["obs_sm"] = (("cell", "time"), pred["sm"].values.astype(np.float32))
    twin = vp.Region(ds).with_training_cells(region.spatial_split(2, seed=0).train)
    res = vp.calibrate(twin, strategy="mpr", surrogate=small_surrogate, attributes=SURROGATE_ATTRS, log_attributes=[],
                       repetitions=400, seed=0)
    got = np.stack([res.params[n].values for n in space.names], axis=1)
    r = {n: float(np.corrcoef(got[:, j], truth[:, j])[0, 1]) for j, n in enumerate(space.names)}
    assert r["expt"] > 0.95, r
    assert res.history["best_objective"][0] < res.history["objective_trace"][0]


def test_mpr_options_are_checked():
    with pytest.raises(StrategyError, match="optimizer must be 'dds' or 'sceua'"):
        vp.get_calibrator("mpr", optimizer="bfgs")
    with pytest.raises(StrategyError, match="coef_bound must be a positive number"):
        vp.get_calibrator("mpr", coef_bound=float("nan"))
    names = [o.name for o in registry.get_calibrator_class("mpr").describe_options()]
    assert {"attributes", "optimizer", "coef_bound", "repetitions", "prior_weight"} <= set(names)
    assert "n_workers" not in names and "mpr" in registry.list_strategies()
