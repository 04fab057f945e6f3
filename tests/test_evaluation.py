"""vic_paraformer.evaluation: scoring calibrated parameters with the simulator."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer import metrics
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.errors import ParameterError, VicParaformerError
from vic_paraformer.evaluation import evaluate, evaluate_parameters, format_table, json_clean, write_metrics

PERIOD = ("2015-07-01", "2015-09-30")



@pytest.fixture(scope="module")
def region():
    return vp.synthetic_region(ny=3, nx=3, years=0.5, seed=1).with_training_cells([0, 4, 8])


def _result(region, values, train=(0, 4, 8)):
    space = vp.ParameterSpace.preset()
    return CalibrationResult(params=space.to_dataset(values, region.cells), strategy="test", parameter_space=space,
                             seed=7, n_evaluations=11, train_cells=np.array(train))


def test_evaluate_scores_the_simulator_over_the_period_by_group(region):
    space = vp.ParameterSpace.preset()
    mid = np.broadcast_to(space.midpoint(), (region.n_cells, space.n)).copy()
    res = _result(region, mid)
    out = evaluate(region, res, simulator="waterbalance", period=PERIOD)

    # the numbers are the simulator's (warm-up from the first day), restricted to the period
    sim = vp.get_simulator("waterbalance").simulate(region, res.params)
    window = slice(*PERIOD)
    for var, obs_name in (("sm", "obs_sm"), ("et", "obs_et")):
        s = sim[var].sel(time=window).values
        o = region.ds[obs_name].sel(time=window).values
        expected = metrics.all_metrics(s, o)
        for name in ("rmse", "pcc", "nse"):
            got_train = np.array(out["variables"][var]["train"][name])
            got_untrained = np.array(out["variables"][var]["untrained"][name])
            np.testing.assert_allclose(got_train, expected[name][[0, 4, 8]], rtol=1e-12)
            np.testing.assert_allclose(got_untrained, expected[name][[1, 2, 3, 5, 6, 7]], rtol=1e-12)
        summ = out["variables"][var]["train"]["summary"]["rmse"]
        assert summ["median"] == pytest.approx(np.median(expected["rmse"][[0, 4, 8]])) and summ["n"] == 3
    assert out["groups"] == {"train": [0, 4, 8], "untrained": [1, 2, 3, 5, 6, 7]}
    assert out["period"] == list(PERIOD) and out["n_days"] == 92
    assert out["strategy"] == "test" and out["seed"] == 7 and out["n_evaluations"] == 11
    json.dumps(out, allow_nan=False)  # strictly JSON-serialisable
    table = format_table(out)
    assert "sm   train" in table and "et   untrained" in table


def test_oracle_parameters_beat_the_midpoint(region):
    truth = region.parameters(prefix="true_")
    mid = np.broadcast_to(vp.ParameterSpace.preset().midpoint(), truth.shape)
    oracle = evaluate_parameters(region, truth, "waterbalance", PERIOD, variables=("sm",), label="truth")
    middle = evaluate_parameters(region, mid, "waterbalance", PERIOD, variables=("sm",))
    o, m = oracle["variables"]["sm"]["all"], middle["variables"]["sm"]["all"]
    assert o["summary"]["rmse"]["median"] < m["summary"]["rmse"]["median"]
    assert o["summary"]["rmse"]["median"] < 0.02  # truth + 0.01 observation noise
    assert oracle["strategy"] == "truth" and oracle["skipped"] == {}


def test_nan_becomes_null_and_missing_observations_are_skipped(region, tmp_path):
    ds = region.ds.drop_vars("obs_et").copy()
    obs = ds["obs_sm"].values.copy()
    obs[2, :] = np.nan  # an untrained cell without any observation
    ds["obs_sm"] = (("cell", "time"), obs)
    r = vp.Region(ds)
    out = evaluate(r, _result(r, r.parameters(prefix="true_")), period=PERIOD)
    assert out["skipped"] == {"et": "region has no obs_et"} and list(out["variables"]) == ["sm"]
    untrained = out["variables"]["sm"]["untrained"]
    k = untrained["cells"].index(2)
    assert untrained["rmse"][k] is None and untrained["nse"][k] is None
    assert untrained["summary"]["rmse"]["n"] == 5
    path = write_metrics(out, tmp_path / "m.json")
    assert json.loads(path.read_text()) == out
    assert json_clean({"a": [np.float32(1.5), np.nan, np.inf], "b": np.int64(3)}) == {"a": [1.5, None, None], "b": 3}


def test_bad_inputs_name_what_is_wrong(region, tmp_path):
    res = _result(region, region.parameters(prefix="true_"))
    res.save(tmp_path / "r.nc")
    out = evaluate(region, tmp_path / "r.nc", period=PERIOD, variables=("sm",))  # a path works too
    assert out["variables"]["sm"]["train"]["cells"] == [0, 4, 8]
    with pytest.raises(ParameterError, match=r"parameters missing for 3 cell\(s\).*\[6, 7, 8\]"):
        evaluate(region.subset(range(9)), _result(region.subset(range(6)), region.parameters(prefix="true_")[:6], train=()),
                 period=PERIOD)
    with pytest.raises(VicParaformerError, match="cannot evaluate variable"):
        evaluate(region, res, variables=("runoff",))
    with pytest.raises(VicParaformerError, match="has no days|no days"):
        evaluate(region, res, period=("2030-01-01", "2030-02-01"))
    with pytest.raises(ParameterError, match=r"shape \(cells=9, p=5\)"):
        evaluate_parameters(region, np.ones((3, 5)))
