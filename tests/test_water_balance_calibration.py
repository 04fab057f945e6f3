"""The drained-column failure and its cure, on the waterbalance simulator.

Observations are a biased, rescaled version of the simulated top layer (``0.45 sm - 0.03``, like a
5 cm probe against a 10 cm layer). SM-only calibration with the paper's loss drains the column
(ET far below the truth's); with the water-balance-aware default loss against the observed ET
(``wb_reference="observed"``: the twin's obs_et) and a linear observation operator, ET stays within
10 % of the truth's on every training cell and SM through H scores
within 0.05 NSE of the oracle (true parameters through a linear operator fitted the same way).
SCE-UA runs the simulator itself here (no surrogate error), with a small budget.
"""

from __future__ import annotations

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer import metrics
from vic_paraformer.evaluation import evaluate
from vic_paraformer.observation import fit
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

TRAIN = [0, 4, 8]
WARMUP = 60
KW = dict(seed=0, simulator="waterbalance", warmup=WARMUP, repetitions=200, ngs=3, n_workers=1)


@pytest.fixture(scope="module")
def probe_region():
    region = vp.synthetic_region(ny=3, nx=3, years=2, seed=4)
    space = vp.ParameterSpace.preset()
    truth = region.parameters(prefix="true_")
    out = WaterBalanceSimulator(device="cpu").run_arrays(region, truth)
    obs = np.clip(0.45 * out["sm"] - 0.03, 0.005, None)
    obs[:, 1::2] = np.nan
    # the region's current parameters: the truth perturbed (a prior setup, roughly right)
    rng = np.random.default_rng(0)
    cur = space.denormalize(np.clip(space.normalize(truth) + 0.15 * rng.standard_normal(truth.shape), 0, 1))
    ds = region.ds.assign(obs_sm=(("cell", "time"), obs.astype(np.float32)),
                          **{n: ("cell", cur[:, j]) for j, n in enumerate(space.names)})
    return vp.Region(ds).with_training_cells(TRAIN), out, obs


def _et_ratio(region, res, truth_out):
    cal = WaterBalanceSimulator(device="cpu").run_arrays(region, res.values())
    return cal, cal["et"][TRAIN, WARMUP:].mean(1) / truth_out["et"][TRAIN, WARMUP:].mean(1)


def test_paper_loss_drains_the_column(probe_region):
    region, truth_out, _ = probe_region
    res = vp.calibrate(region, strategy="sceua", loss="paper", **KW)
    cal, ratio = _et_ratio(region, res, truth_out)
    assert np.all(ratio < 0.7), ratio  # ET falls far below the truth's
    q = (cal["runoff"] + cal["baseflow"])[TRAIN, WARMUP:].sum(1)
    q_true = (truth_out["runoff"] + truth_out["baseflow"])[TRAIN, WARMUP:].sum(1)
    assert np.all(q > 1.5 * q_true)
    assert res.obs_operator.is_identity and res.warmup_days == WARMUP


def test_defaults_with_a_linear_operator_keep_et_and_match_the_oracle(probe_region):
    region, truth_out, obs = probe_region
    res = vp.calibrate(region, strategy="sceua", obs_operator="linear", wb_reference="observed", **KW)
    cal, ratio = _et_ratio(region, res, truth_out)
    assert np.all(np.abs(ratio - 1) < 0.10), ratio
    # SCE-UA fitted the operator: close to the true 0.45 sm - 0.03
    op = res.obs_operator
    assert op.kind == "linear" and op.cells.tolist() == TRAIN
    np.testing.assert_allclose(op.a, 0.45, atol=0.06)
    np.testing.assert_allclose(op.b, -0.03, atol=0.02)
    lat, lon = region.ds["lat"].values[TRAIN], region.ds["lon"].values[TRAIN]
    w = slice(WARMUP, None)
    nse_cal = metrics.nse(op.apply(cal["sm"][TRAIN], lat, lon)[:, w], obs[TRAIN, w])
    oracle_op = fit("linear", truth_out["sm"][TRAIN][:, w], obs[TRAIN, w], cells=TRAIN, lat=lat, lon=lon)
    nse_oracle = metrics.nse(oracle_op.apply(truth_out["sm"][TRAIN], lat, lon)[:, w], obs[TRAIN, w])
    assert np.all(nse_cal > nse_oracle - 0.05), (nse_cal, nse_oracle)
    assert res.info["loss"] == "wb" and "default parameters" in res.info["reference"]
    assert res.info["wb_reference"]["kind"] == "observed" and res.info["wb_reference"]["cells_observed"] == 3
    # evaluate applies the stored operator and puts the default parameters beside
    rep = evaluate(region, res, period=(str(region.times[WARMUP].date()), str(region.times[-1].date())),
                   variables=("sm",))
    got = np.array(rep["variables"]["sm_through_H"]["train"]["nse"], float)
    np.testing.assert_allclose(got, nse_cal, atol=1e-4)
    assert len(rep["water_balance"]["cells"]) == region.n_cells and "default" in rep["water_balance"]["median"]
