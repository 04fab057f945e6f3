"""The terms of the calibration objective, each written once in torch (see :mod:`vic_paraformer.objective`).

Every function takes tensors and returns a 0-d tensor, differentiable where the inputs are; the
numpy callers go through :class:`~vic_paraformer.objective.core.Objective` on float64 tensors
without gradients. Masking is the same in every term: a day counts where the *observation* (or
the reference) is finite; a non-finite simulation on such a day makes the term non-finite (a
broken run is never scored as a good one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions: listing options and loading results need no torch
    import torch

#: mm/day added to the reference ET in the relative departure of the water-balance term.
ET_FLOOR: float = 0.1
#: Added under the square root of an RMSE that is differentiated (sqrt has an infinite gradient at 0).
RMSE_GRAD_FLOOR: float = 1e-12


def masked_rmse(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """RMSE over the positions where ``obs`` is finite, pooled over every axis; 0 without any.

    With gradients the mean square gets :data:`RMSE_GRAD_FLOOR` so that a perfect fit stays
    differentiable; without (the float64 path) it is the plain RMSE.
    """
    import torch

    if sim.shape != obs.shape:
        raise ValueError(f"simulation shape {tuple(sim.shape)} differs from observation shape {tuple(obs.shape)}")
    valid = torch.isfinite(obs)
    n = valid.sum()
    diff = torch.where(valid, sim - torch.nan_to_num(obs), torch.zeros_like(sim))
    mse = (diff ** 2).sum() / n.clamp(min=1)
    if torch.is_grad_enabled() and sim.requires_grad:
        mse = mse + RMSE_GRAD_FLOOR
    return torch.sqrt(mse) * (n > 0)


def wb_term(et: torch.Tensor, ref: torch.Tensor, weight: float, tolerance: float = 0.0) -> torch.Tensor:
    """``weight * mean_cells(rel^2)``, ``rel`` the relative departure of each cell's mean ET from its
    reference's over the days where the reference is finite (``(B, L)``; cells without any are left out)."""
    import torch

    valid = torch.isfinite(ref)
    n = valid.sum(-1).clamp(min=1).to(et.dtype)
    zero = torch.zeros((), dtype=et.dtype, device=et.device)
    e = torch.where(valid, et, zero).sum(-1) / n
    r = torch.where(valid, torch.nan_to_num(ref), zero).sum(-1) / n
    rel = (e - r) / (r.clamp(min=0.0) + ET_FLOOR)
    if tolerance > 0:
        rel = torch.sign(rel) * torch.relu(rel.abs() - float(tolerance))
    has = valid.any(-1)
    if not bool(has.any()):
        return zero
    return float(weight) * (rel[has] ** 2).mean()


def runoff_ratio_term(runoff: torch.Tensor, baseflow: torch.Tensor, prec: torch.Tensor, ref_ratio: torch.Tensor,
                      weight: float) -> torch.Tensor:
    """``weight * mean_cells((Q/P - ref_ratio)^2)`` with ``Q = runoff + baseflow`` summed over the days
    (``(B, L)``); a cell without rain or without a finite ``ref_ratio`` ``(B,)`` counts 0."""
    import torch

    p = torch.nansum(prec, -1)
    q = torch.nansum(runoff, -1) + torch.nansum(baseflow, -1)
    use = (p > 0) & torch.isfinite(ref_ratio)
    d = torch.where(use, q / torch.where(use, p, torch.ones_like(p)) - torch.nan_to_num(ref_ratio),
                    torch.zeros_like(p))
    return float(weight) * (d ** 2).mean()


def prior_term(u: torch.Tensor, prior_u: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * mean((u - prior_u)^2)`` over cells and parameters (normalised units)."""
    return float(weight) * ((u - prior_u) ** 2).mean()


def range_boundary_loss(theta: torch.Tensor, lower, upper, alpha1: float | None = None,
                        alpha2: float | None = None, eps: float = 0.01) -> torch.Tensor:
    """Range-boundary loss (the paper's eq. 13) for ``theta`` of shape ``(..., p)``, mean over cells::

        RBL = a1 * sum_j relu(theta_j - ub_j) / (eps + sum_j [theta_j > ub_j])
            + a2 * sum_j relu(lb_j - theta_j) / (eps + sum_j [theta_j < lb_j])

    with ``a1 = a2 = p`` by default; zero when every parameter lies inside its bounds.
    """
    import torch

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


#: Added to discharge (m3/s) before the logarithm of the ``lognse`` score.
LOG_Q_FLOOR: float = 1e-3
#: Added under the square roots of the ``kge`` score when it is differentiated.
KGE_GRAD_FLOOR: float = 1e-12


def discharge_term(q: torch.Tensor, obs_q: torch.Tensor, metric: str = "kge") -> torch.Tensor:
    """Mean over gauges of ``1 - efficiency`` of simulated discharge ``q`` against ``obs_q`` ``(gauge, time)``.

    The efficiency per gauge, over the steps where ``obs_q`` is finite (a gauge with fewer than 2 such
    steps, or a constant record, does not count): ``kge`` (Gupta et al. 2009, ``1 - sqrt((r-1)^2 +
    (alpha-1)^2 + (beta-1)^2)``, as :func:`vic_paraformer.metrics.kge`), ``nse`` or ``lognse`` (NSE of
    ``log(q + LOG_Q_FLOOR)``). 0 (no term) when no gauge counts. Differentiable in ``q``.
    """
    import torch

    if q.shape != obs_q.shape or q.dim() != 2:
        raise ValueError(f"discharge must be (gauge, time) like its observations; got {tuple(q.shape)} and "
                         f"{tuple(obs_q.shape)}")
    valid = torch.isfinite(obs_q)
    o = torch.nan_to_num(obs_q)
    if metric == "lognse":
        q = torch.log(q.clamp_min(0.0) + LOG_Q_FLOOR)
        o = torch.log(o.clamp_min(0.0) + LOG_Q_FLOOR)
    zero = torch.zeros_like(q)
    n = valid.sum(-1).to(q.dtype)
    nn_ = n.clamp_min(1.0)
    mo = torch.where(valid, o, zero).sum(-1) / nn_
    do = torch.where(valid, o - mo[:, None], zero)
    var_o = (do ** 2).sum(-1) / nn_
    ok = (n >= 2) & (var_o > 0) & ((mo != 0) if metric == "kge" else True)
    if metric in ("nse", "lognse"):
        num = torch.where(valid, (q - o) ** 2, zero).sum(-1)
        loss = num / (var_o * nn_).clamp_min(1e-30)  # 1 - NSE
    elif metric == "kge":
        floor = KGE_GRAD_FLOOR if torch.is_grad_enabled() and q.requires_grad else 0.0
        ms = torch.where(valid, q, zero).sum(-1) / nn_
        ds = torch.where(valid, q - ms[:, None], zero)
        var_s = (ds ** 2).sum(-1) / nn_
        cov = (ds * do).sum(-1) / nn_
        r = cov / torch.sqrt(var_s * var_o + floor)
        alpha = torch.sqrt(var_s + floor) / torch.sqrt(var_o)
        beta = ms / torch.where(mo != 0, mo, torch.ones_like(mo))
        loss = torch.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2 + floor)  # 1 - KGE
    else:
        raise ValueError(f"unknown discharge metric {metric!r}")
    if not bool(ok.any()):
        return q.sum() * 0.0
    return loss[ok].mean()
