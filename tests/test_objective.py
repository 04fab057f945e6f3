"""Shared objective pieces: held-out blocks, water-balance term (torch == numpy), reference ET."""

import numpy as np
import pytest
import torch

from vic_paraformer.objective import (MIN_ET_OBS, ObjectiveError, check_loss, check_objective, holdout_blocks,
                                      holdout_mask, reference_et, runoff_ratio_term_np, wb_term_np, wb_term_torch)


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


def test_wb_term_by_hand_and_torch_equals_numpy():
    et = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    ref = np.array([[2.0, 2.0, np.nan, 2.0], [2.0, 2.0, 2.0, 2.0]])
    # cell 0: (1 - 2) / 2.1 -> 0.2268; cell 1: 0
    expect = ((1 - 2) / 2.1) ** 2 / 2
    assert wb_term_np(et, ref) == pytest.approx(expect)
    t = torch.tensor(et, requires_grad=True)
    v = wb_term_torch(t, torch.tensor(ref))
    assert float(v.detach()) == pytest.approx(expect)
    v.backward()
    assert t.grad[0, 2] == 0 and t.grad[0, 0] < 0
    assert runoff_ratio_term_np(np.ones(4), np.ones(4), np.full(4, 4.0), 0.25) == pytest.approx(0.0625)


def test_reference_et_prefers_enough_observations():
    default = np.ones((2, 100))
    obs = np.full((2, 100), np.nan)
    obs[0, :MIN_ET_OBS] = 3.0
    obs[1, :5] = 3.0
    ref, src = reference_et(default, obs)
    assert list(src) == ["observed", "default run"]
    assert np.nanmean(ref[0]) == 3.0 and np.all(ref[1] == 1.0)


def test_names():
    assert check_loss("Paper") == "paper" and check_objective("sm + et") == "sm+et"
    with pytest.raises(ObjectiveError, match="needs ET observations"):
        check_objective("sm+et", has_obs_et=False)
    with pytest.raises(ObjectiveError, match="unknown loss"):
        check_loss("mse")


def test_wb_tolerance_leaves_small_departures_free():
    import torch

    from vic_paraformer.objective import ET_FLOOR, wb_term_np, wb_term_torch

    ref = np.full((2, 10), 2.0)
    et = np.stack([np.full(10, 2.2), np.full(10, 1.0)])  # +10 % and -50 % (before the floor)
    rel = (et.mean(1) - 2.0) / (2.0 + ET_FLOOR)
    assert wb_term_np(et, ref) == pytest.approx(np.mean(rel ** 2))
    # with a 25 % tolerance the first cell is free and only the second's excess counts
    expect = np.mean([0.0, (abs(rel[1]) - 0.25) ** 2])
    assert wb_term_np(et, ref, 1.0, 0.25) == pytest.approx(expect)
    t = wb_term_torch(torch.as_tensor(et), torch.as_tensor(ref), 1.0, 0.25)
    assert float(t) == pytest.approx(expect)
