"""The one objective: its terms by hand, the options declaration, held-out blocks, the water-balance reference."""

import numpy as np
import pytest
import torch

from vic_paraformer.objective import (ET_FLOOR, MIN_ET_OBS, OBJECTIVE_OPTION_DEFAULTS, Objective, ObjectiveError,
                                      ObjectiveOptions, check_loss, check_objective, describe_reference,
                                      holdout_blocks, holdout_mask, objective_option_problems, reference_et, wb_term)


def test_holdout_blocks_spread_over_the_period():
    blocks = holdout_blocks(365, 0.2, 30, skip=60)
    assert len(blocks) == 2 and all(b - a == 30 for a, b in blocks)
    assert blocks[0][0] >= 60 and blocks[-1][1] <= 365
    m = holdout_mask(730, 0.2, 30)
    assert m.sum() == 150 and m[:365].any() and m[365:].any()  # 5 blocks, both years
    # the blocks cover the seasons: none of the 5 equal shares of the period lacks one
    assert all(m[i * 146:(i + 1) * 146].any() for i in range(5))
    assert holdout_mask(100, 0.0).sum() == 0
    assert holdout_mask(20, 0.2, 30).sum() == 4  # a short period gets one short block
    with pytest.raises(ObjectiveError, match="fraction"):
        holdout_blocks(100, 0.95)


def test_wb_term_by_hand_with_gradient_and_the_same_in_float64():
    et = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    ref = np.array([[2.0, 2.0, np.nan, 2.0], [2.0, 2.0, 2.0, 2.0]])
    # cell 0: (1 - 2) / 2.1 -> 0.2268; cell 1: 0
    expect = ((1 - 2) / 2.1) ** 2 / 2
    t = torch.tensor(et, requires_grad=True)
    v = wb_term(t, torch.tensor(ref), 1.0)
    assert float(v.detach()) == pytest.approx(expect)
    v.backward()
    assert t.grad[0, 2] == 0 and t.grad[0, 0] < 0
    obj = Objective()
    sm = np.full((2, 4), 0.2)
    assert obj.evaluate(sm, sm, wb_et=et, ref_et=ref)["wb"] == pytest.approx(expect)


def test_every_term_by_hand():
    rng = np.random.default_rng(0)
    sm, obs = rng.uniform(0.1, 0.3, (2, 50)), rng.uniform(0.1, 0.3, (2, 50))
    obs[0, :10] = np.nan
    et, obs_et = rng.uniform(1, 3, (2, 50)), rng.uniform(1, 3, (2, 50))
    obs_et[1] = np.nan
    ref = np.full((2, 50), 2.0)
    u, prior = rng.uniform(0, 1, (2, 5)), np.full((2, 5), 0.5)
    q, b, p = np.full((1, 50), 0.5), np.full((1, 50), 0.5), np.full((1, 50), 4.0)
    opts = ObjectiveOptions(objective="sm+et", et_weight=0.5, wb_weight=2.0, prior_weight=0.1)
    terms = Objective(opts, sm_scale=0.05, et_scale=0.7).evaluate(
        sm, obs, et=et, obs_et=obs_et, wb_et=et, ref_et=ref, u=u, prior_u=prior)
    ok = np.isfinite(obs)
    rmse_sm = np.sqrt(np.mean((sm[ok] - obs[ok]) ** 2))
    rmse_et = np.sqrt(np.mean((et[0] - obs_et[0]) ** 2))
    rel = (et.mean(1) - 2.0) / (2.0 + ET_FLOOR)
    wb = 2.0 * np.mean(rel ** 2)
    prior_term = 0.1 * np.mean((u - prior) ** 2)
    assert terms["fit"] == pytest.approx(rmse_sm / 0.05 + 0.5 * rmse_et / 0.7)
    assert terms["wb"] == pytest.approx(wb) and terms["prior"] == pytest.approx(prior_term)
    assert terms["total"] == pytest.approx(terms["fit"] + wb + prior_term)
    # runoff ratio (simulators): Q/P = 1/4 against 0.2
    rr = Objective(ObjectiveOptions()).evaluate(sm[:1], obs[:1], wb_et=et[:1], ref_et=ref[:1], runoff=q, baseflow=b,
                                                prec=p, ref_q_ratio=[0.2])
    assert rr["runoff_ratio"] == pytest.approx(0.05 ** 2)
    # loss paper: the RMSE only, whatever else is passed
    paper = Objective(ObjectiveOptions(loss="paper")).evaluate(sm, obs, wb_et=et, ref_et=ref)
    assert paper["total"] == pytest.approx(rmse_sm) and "wb" not in paper
    # a broken simulation on an observed day is the worst candidate
    bad = sm.copy()
    bad[0, 20] = np.nan
    assert Objective().value(bad, obs) == float("inf")


def test_range_boundary_only_where_asked():
    u = torch.tensor([[1.5, 0.5], [0.2, -0.5]])
    sm = torch.full((2, 3), 0.2)
    with_rbl = Objective(range_boundary=True).terms(sm, sm, u=u)
    assert float(with_rbl["rbl"]) == pytest.approx((2 * 0.5 / 1.01 + 2 * 0.5 / 1.01) / 2)
    assert "rbl" not in Objective().terms(sm, sm, u=u)


def test_reference_et_default_unless_observed_is_asked():
    default = np.ones((2, 100))
    obs = np.full((2, 100), np.nan)
    obs[0, :MIN_ET_OBS] = 3.0
    obs[1, :5] = 3.0
    ref, src = reference_et(default, obs)
    assert list(src) == ["default run", "default run"] and np.all(ref == 1.0)
    ref, src = reference_et(default, obs, wb_reference="observed")
    assert list(src) == ["observed", "default run"]
    assert np.nanmean(ref[0]) == 3.0 and np.all(ref[1] == 1.0)
    d = describe_reference("observed", src, "the surrogate", "typical values")
    assert d["kind"] == "observed" and d["cells_observed"] == 1 and "1 of 2" in d["description"]
    d = describe_reference("default", src, "the surrogate", "the region's current parameters")
    assert d["kind"] == "default" and "observed" not in d["description"]


def test_names_and_the_one_options_declaration():
    assert check_loss("Paper") == "paper" and check_objective("sm + et") == "sm+et"
    with pytest.raises(ObjectiveError, match="needs ET observations"):
        check_objective("sm+et", has_obs_et=False)
    with pytest.raises(ObjectiveError, match="unknown loss"):
        check_loss("mse")
    assert OBJECTIVE_OPTION_DEFAULTS == {
        "obs_operator": "identity", "obs_operator_l2": 1e-4, "obs_operator_new_cells": "nearest", "loss": "wb",
        "wb_weight": 1.0, "prior_weight": 0.0, "wb_tolerance": 0.0, "objective": "sm", "et_weight": 1.0,
        "q_metric": "kge", "wb_reference": "default"}
    o = {"obs_operator": True, "wb_weight": "0.5", "loss": "WB", "wb_reference": "nope", "et_weight": -1}
    problems = objective_option_problems(o)
    assert o["obs_operator"] == "linear" and o["wb_weight"] == 0.5 and o["loss"] == "wb"
    assert len(problems) == 2 and "et_weight" in problems[0] and "wb_reference" in problems[1]
    assert ObjectiveOptions(obs_operator="linear", obs_operator_l2=0.01).operator_options == {"l2": 0.01}
    assert ObjectiveOptions(obs_operator="cdf").operator_options == {}
    with pytest.raises(ObjectiveError, match="wb_tolerance"):
        ObjectiveOptions(wb_tolerance=-0.1)


def test_wb_tolerance_leaves_small_departures_free():
    ref = np.full((2, 10), 2.0)
    et = np.stack([np.full(10, 2.2), np.full(10, 1.0)])  # +10 % and -50 % (before the floor)
    rel = (et.mean(1) - 2.0) / (2.0 + ET_FLOOR)
    sm = np.full((2, 10), 0.2)
    assert Objective().evaluate(sm, sm, wb_et=et, ref_et=ref)["wb"] == pytest.approx(np.mean(rel ** 2))
    # with a 25 % tolerance the first cell is free and only the second's excess counts
    expect = np.mean([0.0, (abs(rel[1]) - 0.25) ** 2])
    tol = Objective(ObjectiveOptions(wb_tolerance=0.25))
    assert tol.evaluate(sm, sm, wb_et=et, ref_et=ref)["wb"] == pytest.approx(expect)
    t = wb_term(torch.as_tensor(et), torch.as_tensor(ref), 1.0, 0.25)
    assert float(t) == pytest.approx(expect)


def test_every_strategy_family_reads_the_one_options_declaration():
    from vic_paraformer.errors import StrategyError
    from vic_paraformer.objective import OBJECTIVE_OPTION_HELP
    from vic_paraformer.registry import get_calibrator, get_calibrator_class

    rows = {}
    for name in ("sceua", "ffn_a", "paraformer_z"):
        info = {o.name: o for o in get_calibrator_class(name).describe_options()}
        rows[name] = {k: (info[k].type, info[k].default, info[k].help) for k in OBJECTIVE_OPTION_DEFAULTS}
        assert {k: v[1] for k, v in rows[name].items()} == OBJECTIVE_OPTION_DEFAULTS
        assert {k: v[2] for k, v in rows[name].items()} == OBJECTIVE_OPTION_HELP
    assert rows["sceua"] == rows["ffn_a"] == rows["paraformer_z"]
    # the same checks, the same words, and the same normalised values
    messages = []
    for name, extra in (("sceua", {"simulator": "waterbalance"}), ("ffn_a", {})):
        with pytest.raises(StrategyError) as err:
            get_calibrator(name, wb_reference="obs", **extra)
        messages.append(str(err.value).split("invalid option(s): ")[1])
        cal = get_calibrator(name, obs_operator=True, wb_weight="0.5", **extra)
        assert cal.options["obs_operator"] == "linear" and cal.options["wb_weight"] == 0.5
    assert messages[0] == messages[1] and "unknown wb_reference 'obs'" in messages[0]
