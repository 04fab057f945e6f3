import math

import pytest
import torch

from vic_paraformer.dl.losses import masked_rmse, range_boundary_loss


def test_masked_rmse_skips_nan():
    sim = torch.tensor([1.0, 2.0, 3.0, 4.0])
    obs = torch.tensor([1.0, float("nan"), 5.0, 4.0])
    assert masked_rmse(sim, obs).item() == pytest.approx(math.sqrt(4 / 3), rel=1e-6)


def test_rbl_zero_inside_bounds():
    theta = torch.tensor([[0.5, 1.0, 2.0]])
    assert range_boundary_loss(theta, [0, 0, 0], [1, 2, 3]).item() == 0.0


def test_rbl_hand_computed_above_and_below():
    lower = [0.0, 0.0, 0.0, 0.0]
    upper = [1.0, 1.0, 1.0, 1.0]
    # p = 4 -> alpha1 = alpha2 = 4, eps = 0.01
    theta = torch.tensor([[1.5, 2.0, -0.5, 0.5]])
    # above: relu sum = 0.5 + 1.0 = 1.5, count 2 -> 4 * 1.5 / 2.01
    # below: relu sum = 0.5, count 1 -> 4 * 0.5 / 1.01
    expected = 4 * 1.5 / 2.01 + 4 * 0.5 / 1.01
    assert range_boundary_loss(theta, lower, upper).item() == pytest.approx(expected, rel=1e-6)
    # batch mean over cells: second cell inside bounds
    batch = torch.tensor([[1.5, 2.0, -0.5, 0.5], [0.1, 0.2, 0.3, 0.4]])
    assert range_boundary_loss(batch, lower, upper).item() == pytest.approx(expected / 2, rel=1e-6)


def test_eq14_loss_is_rmse_plus_rbl_and_differentiable():
    theta = torch.tensor([[1.2, 0.5]], requires_grad=True)
    sim = torch.tensor([0.2, 0.3]) * theta.sum()
    obs = torch.tensor([0.25, float("nan")])
    loss = masked_rmse(sim, obs) + range_boundary_loss(theta, [0.0, 0.0], [1.0, 1.0])
    expected = abs(0.2 * 1.7 - 0.25) + 2 * 0.2 / 1.01
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert torch.all(torch.isfinite(theta.grad)) and theta.grad.abs().sum() > 0
