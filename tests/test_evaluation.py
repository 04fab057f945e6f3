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
    assert "sm raw        train" in table and "et            untrained" in table


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
    # an identity-operator result is also scored through the do-nothing operator (linear, same rule for every row)
    assert out["skipped"] == {"et": "region has no obs_et"} and list(out["variables"]) == ["sm", "sm_through_H"]
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


def test_every_row_goes_through_an_operator_fitted_by_the_same_rule_with_baseline_and_budget(region):
    """Hand check: each row's H is a linear operator fitted to that row's own run on the training cells over the
    fitting window (not the operator stored with the result), carried to other cells by the nearest rule."""
    from vic_paraformer.observation import ObservationOperator, fit

    space = vp.ParameterSpace.preset()
    truth = region.parameters(prefix="true_")
    tc = np.array([0, 4, 8])
    lat, lon = region.ds["lat"].values[tc], region.ds["lon"].values[tc]
    stored = ObservationOperator(kind="linear", cells=tc, lat=lat, lon=lon, a=[0.5, 0.6, 0.7], b=[0.01, 0.02, 0.03])
    window = ["2015-04-01", "2015-06-30"]
    res = CalibrationResult(params=space.to_dataset(truth, region.cells), strategy="test", parameter_space=space,
                            train_cells=tc, obs_operator=stored, info={"calibration_period": window})
    out = evaluate(region, res, period=PERIOD, variables=("sm", "et"))
    assert out["scored"] == "held-out" and out["scoring_rule"]["fit_period"] == window
    full = vp.get_simulator("waterbalance").simulate(region, res.params)
    days = (region.times >= window[0]) & (region.times <= window[1])
    op = fit("linear", full["sm"].values[tc][:, days], region.observations("obs_sm")[tc][:, days], cells=tc,
             lat=lat, lon=lon)
    sim = full.sel(time=slice(*PERIOD))
    obs = region.ds["obs_sm"].sel(time=slice(*PERIOD)).values
    h = op.apply_region(sim["sm"].values, region)
    np.testing.assert_allclose(out["variables"]["sm_through_H"]["all"]["nse"], metrics.nse(h, obs), rtol=1e-10)
    np.testing.assert_allclose(out["variables"]["sm"]["train"]["nse"], metrics.nse(sim["sm"].values, obs)[tc], rtol=1e-10)
    assert out["variables"]["sm_through_H"]["scored"] == "through H (linear)"
    assert "et_through_H" not in out["variables"]  # ET never passes through H
    # the default baseline (typical VIC defaults: a synthetic twin carries no parameters of its own), through its own H
    from vic_paraformer.evaluation import TYPICAL_VIC_DEFAULTS

    b = out["baseline"]
    assert "typical VIC defaults" in b["source"]
    dvals = np.tile([TYPICAL_VIC_DEFAULTS[n] for n in space.names], (region.n_cells, 1))
    dfull = vp.get_simulator("waterbalance").simulate(region, space.to_dataset(dvals, region.cells))
    dop = fit("linear", dfull["sm"].values[tc][:, days], region.observations("obs_sm")[tc][:, days], cells=tc,
              lat=lat, lon=lon)
    dsm = dfull["sm"].sel(time=slice(*PERIOD)).values
    np.testing.assert_allclose(b["variables"]["sm"]["all"]["nse"], metrics.nse(dsm, obs), rtol=1e-10)
    np.testing.assert_allclose(b["variables"]["sm_through_H"]["all"]["nse"],
                               metrics.nse(dop.apply_region(dsm, region), obs), rtol=1e-10)
    d = out["difference"]["sm"]["train"]["nse"]
    assert d == pytest.approx(out["variables"]["sm"]["train"]["summary"]["nse"]["median"]
                              - b["variables"]["sm"]["train"]["summary"]["nse"]["median"])
    # water balance: three months hold no whole water year, so the totals are over the days, in mm, never annualised
    wb = out["water_balance"]
    assert wb["units"] == "mm" and "annual" not in wb["window"]["label"] and wb["window"]["water_years"] == 0
    row = wb["cells"][0]
    assert row["calibrated_P"] == pytest.approx(region.ds["prec"].sel(time=slice(*PERIOD)).values[0].sum(), rel=1e-5)
    assert abs(row["calibrated_closure"]) < 1e-3
    assert row["calibrated_ET"] == pytest.approx(sim["et"].values[0].sum(), rel=1e-5)
    table = format_table(out)
    assert "sm through H" in table and "default + H" in table and "default parameters" in table
    assert "calibrated + H vs default + H" in table
    json.dumps(out, allow_nan=False)


def test_identical_parameters_score_identically_and_show_no_change(region):
    """The default parameters evaluated as a calibration: every paired difference is exactly 0."""
    space = vp.ParameterSpace.preset()
    from vic_paraformer.parameters import default_parameters
    from vic_paraformer.observation import ObservationOperator

    values, _ = default_parameters(region, space)
    tc = np.array([0, 4, 8])
    for op in (None, ObservationOperator(kind="linear", cells=tc, lat=region.ds["lat"].values[tc],
                                         lon=region.ds["lon"].values[tc], a=[0.5, 0.6, 0.7], b=[0.01, 0.02, 0.03])):
        res = CalibrationResult(params=space.to_dataset(values, region.cells), strategy="test", parameter_space=space,
                                train_cells=tc, obs_operator=op, info={"calibration_period": ["2015-04-01", "2015-06-30"]})
        out = evaluate(region, res)
        assert set(out["periods"]) == {"held_out", "calibration"}
        for entry in out["periods"].values():
            for var, groups in entry["difference"].items():
                for g, m in groups.items():
                    assert all(v == 0.0 for v in m.values() if v is not None), (var, g, m)
            same = [c for c in entry["comparisons"] if c["row"].split(" ")[0] == "calibrated"
                    and c["baseline"].split(" ")[0] == "default" and (" + H" in c["row"]) == (" + H" in c["baseline"])]
            assert same and all(c["median"] == 0.0 and c["ci"] == [0.0, 0.0] for c in same)
            assert all(c["verdict"] == "no detectable change" for c in same)


def test_true_parameters_are_better_and_unrelated_observations_show_no_detectable_change():
    """A twin where calibration truly helps (the true parameters against typical defaults) gets 'better' with an
    interval excluding 0; observations that do not depend on the parameters get 'no detectable change'."""
    r = vp.synthetic_region(ny=4, nx=4, years=1, seed=3)
    r = r.with_training_cells(r.cells)
    space = vp.ParameterSpace.preset()
    res = CalibrationResult(params=space.to_dataset(r.parameters(prefix="true_"), r.cells), strategy="truth",
                            parameter_space=space, train_cells=r.cells,
                            info={"calibration_period": [str(r.times[60].date()), str(r.times[200].date())]})
    out = evaluate(r, res, variables=("sm",))
    held = out["periods"]["held_out"]
    c = next(c for c in held["comparisons"] if c["variable"] == "sm_through_H" and c["group"] == "train")
    assert c["verdict"] == "better" and c["ci"][0] > 0, c
    # observations independent of the parameters: a red-noise series with the observed mean and spread
    rng = np.random.default_rng(0)
    obs = r.ds["obs_sm"].values
    noise = np.zeros_like(obs)
    for t in range(1, obs.shape[1]):
        noise[:, t] = 0.95 * noise[:, t - 1] + rng.normal(0, 1, obs.shape[0])
    fake = np.clip(np.nanmean(obs) + 0.5 * np.nanstd(obs) * noise / noise.std(), 0.02, 0.6)
    ds = r.ds.copy()
    ds["obs_sm"] = (("cell", "time"), np.where(np.isfinite(obs), fake, np.nan))
    r2 = vp.Region(ds).with_training_cells(r.cells)
    out2 = evaluate(r2, res, variables=("sm",))
    c2 = next(c for c in out2["periods"]["held_out"]["comparisons"]
              if c["variable"] == "sm_through_H" and c["group"] == "train")
    assert c2["verdict"] == "no detectable change", c2
    assert c2["ci"][0] < 0 < c2["ci"][1]


def test_budget_warnings_name_drained_cells_and_label_each_reference():
    from vic_paraformer.budget import budget_warnings

    cal = {"P": np.array([400.0, 400.0, 400.0]), "ET": np.array([300.0, 100.0, 310.0]),
           "runoff": np.array([50.0, 200.0, 40.0]), "baseflow": np.array([40.0, 250.0, 40.0])}
    w = budget_warnings(cal, [7, 8, 9], reference_et=np.array([310.0, 320.0, 300.0]))
    assert len(w) == 2 and "default-parameter run" in w[0] and "1 cell(s): 8 (100 vs 320" in w[0]
    assert "exceeds precipitation in 1 cell(s)" in w[1] and "8 (450 > 400" in w[1]
    # observed ET: every cell misses it by 50 %, but only cell 9's calibration moved further away than the default
    obs, cal_o, def_o = np.array([200.0] * 3), np.array([300.0, 300.0, 320.0]), np.array([300.0, 310.0, 300.0])
    w = budget_warnings({**cal, "runoff": np.zeros(3), "baseflow": np.zeros(3)}, [7, 8, 9],
                        reference_et=cal["ET"], observed=(obs, cal_o, def_o))
    assert len(w) == 1 and "observed ET" in w[0] and "in 1 cell(s)" in w[0] and "9 (320 vs 200" in w[0]
    # unchanged parameters raise nothing, whatever observed ET says
    assert budget_warnings({**cal, "runoff": np.zeros(3), "baseflow": np.zeros(3)}, [7, 8, 9],
                           reference_et=cal["ET"], observed=(obs, def_o, def_o)) == []


def test_budget_window_takes_whole_water_years_and_never_annualises_a_season():
    import pandas as pd

    from vic_paraformer.budget import budget_window

    mask, info = budget_window(pd.date_range("2008-09-01", "2008-12-31"))
    assert mask.all() and info["units"] == "mm" and info["water_years"] == 0 and "annual" not in info["label"]
    mask, info = budget_window(pd.date_range("2007-01-01", "2009-12-31"))
    assert info["water_years"] == 2 and info["units"] == "mm/yr"
    assert (info["start"], info["end"]) == ("2007-10-01", "2009-09-30") and mask.sum() == 731


@pytest.mark.parametrize("with_operator", [False, True])
def test_report_does_not_depend_on_the_chunk_of_cells(region, with_operator):
    from vic_paraformer.observation import ObservationOperator

    space = vp.ParameterSpace.preset()
    tc = np.array([0, 4, 8])
    op = None
    if with_operator:
        op = ObservationOperator(kind="linear", cells=tc, lat=region.ds["lat"].values[tc],
                                 lon=region.ds["lon"].values[tc], a=[0.5, 0.6, 0.7], b=[0.01, 0.02, 0.03])
    res = CalibrationResult(params=space.to_dataset(region.parameters(prefix="true_"), region.cells), strategy="test",
                            parameter_space=space, train_cells=tc, obs_operator=op)
    whole = evaluate(region, res, period=PERIOD)
    assert "sm_through_H" in whole["baseline"]["variables"]  # the do-nothing baseline, with or without an operator
    for chunk in (1, 2, 4):
        assert evaluate(region, res, period=PERIOD, chunk_cells=chunk) == whole
    with pytest.raises(VicParaformerError, match="chunk_cells"):
        evaluate(region, res, chunk_cells=0)


def test_cli_evaluate_with_a_tiny_budget_writes_the_same_report(region, tmp_path):
    from vic_paraformer.cli.main import main

    region.save(tmp_path / "r.nc")
    _result(region, region.parameters(prefix="true_")).save(tmp_path / "res.nc")
    base = ["evaluate", "--region", str(tmp_path / "r.nc"), "--result", str(tmp_path / "res.nc")]
    assert main([*base, "--out", str(tmp_path / "a.json")]) == 0
    # 1e-6 GB: one cell per chunk
    assert main([*base, "--out", str(tmp_path / "b.json"), "--max-memory", "1e-6"]) == 0
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())


def test_a_default_period_without_observations_is_left_out(region):
    """The fitting window ends a day before the data: that day holds no observation and is not scored."""
    space = vp.ParameterSpace.preset()
    last = region.times[-1]
    ds = region.ds.copy()
    obs = ds["obs_sm"].values.copy()
    obs[:, -1] = np.nan
    ds["obs_sm"] = (("cell", "time"), obs)
    ds = ds.drop_vars("obs_et")
    r = vp.Region(ds).with_training_cells([0, 4, 8])
    window = [str(r.times[0].date()), str(r.times[-2].date())]
    res = CalibrationResult(params=space.to_dataset(r.parameters(prefix="true_"), r.cells), strategy="t",
                            parameter_space=space, train_cells=np.array([0, 4, 8]), info={"calibration_period": window})
    out = evaluate(r, res)
    assert list(out["periods"]) == ["calibration"] and out["scored"] == "in-sample" and last not in out["period"]
