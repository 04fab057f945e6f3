"""Training losses of the paper (eq. 13-14), as differentiable torch functions.

``L_total = RMSE + RBL`` where RMSE is taken over valid (non-NaN) observations and the
range-boundary loss for one cell's parameter vector ``theta`` (p values) is::

    RBL = a1 * sum_j relu(theta_j - ub_j) / (eps + sum_j [theta_j > ub_j])
        + a2 * sum_j relu(lb_j - theta_j) / (eps + sum_j [theta_j < lb_j])

with ``a1 = a2 = p`` and ``eps = 0.01`` by default; it is zero when every parameter lies inside
its bounds. For a batch of cells the RBL is averaged over cells.
"""

from __future__ import annotations

import torch


def masked_rmse(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """RMSE over the positions where ``obs`` is finite (NaN observations are skipped).

    Returns 0 (with a gradient path) when there is no valid observation at all.
    """
    if sim.shape != obs.shape:
        raise ValueError(f"simulation shape {tuple(sim.shape)} differs from observation shape {tuple(obs.shape)}")
    valid = torch.isfinite(obs)
    n = valid.sum()
    diff = torch.where(valid, sim - torch.nan_to_num(obs), torch.zeros_like(sim))
    mse = (diff ** 2).sum() / n.clamp(min=1)
    # sqrt has an infinite gradient at 0; a tiny floor keeps a perfect fit differentiable.
    return torch.sqrt(mse + 1e-12) * (n > 0)


def range_boundary_loss(theta: torch.Tensor, lower, upper, alpha1: float | None = None,
                        alpha2: float | None = None, eps: float = 0.01) -> torch.Tensor:
    """Range-boundary loss (paper eq. 13) for ``theta`` of shape ``(..., p)``, mean over cells."""
    lower = torch.as_tensor(lower, dtype=theta.dtype, device=theta.device)
    upper = torch.as_tensor(upper, dtype=theta.dtype, device=theta.device)
    p = theta.shape[-1]
    if lower.shape[-1] != p or upper.shape[-1] != p:
        raise ValueError(f"bounds have {lower.shape[-1]}/{upper.shape[-1]} entries; theta has p = {p}")
    a1 = float(p) if alpha1 is None else float(alpha1)
    a2 = float(p) if alpha2 is None else float(alpha2)
    above = torch.relu(theta - upper).sum(-1) / (eps + (theta > upper).sum(-1).to(theta.dtype))
    below = torch.relu(lower - theta).sum(-1) / (eps + (theta < lower).sum(-1).to(theta.dtype))
    rbl = a1 * above + a2 * below
    return rbl.mean() if rbl.ndim else rbl

