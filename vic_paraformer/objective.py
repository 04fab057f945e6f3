r"""What a calibration minimises, shared by every strategy: loss choice, water-balance term, held-out blocks.

Losses (``loss`` option / ``--loss``)
-------------------------------------
``wb`` (default)
    Water-balance-aware: the soil-moisture misfit plus a term that keeps each training cell's
    long-term ET near a reference (below). Soil moisture alone cannot tell a drained column from
    a right one: matching a dry probe is as easy by sending the rain to baseflow as by the right
    soil, and only the water balance says which.
``paper``
    The paper's eq. 14: masked RMSE of soil moisture (+ the range-boundary loss of the DL
    strategies) and nothing else.

Objectives (``objective`` option / ``--objective``)
---------------------------------------------------
``sm`` (default)
    Soil moisture only: ``RMSE(H(sm_sim), obs_sm)`` (``H`` the observation operator,
    :mod:`vic_paraformer.observation`; identity by default).
``sm+et``
    Needs ``obs_et``: ``RMSE(H(sm), obs_sm) / s_sm + et_weight * RMSE(et, obs_et) / s_et`` with
    ``s_sm``, ``s_et`` the standard deviations of the training cells' observations (so both terms
    are unitless and ``et_weight`` (default :data:`DEFAULT_ET_WEIGHT`) is their ratio). ET is never
    passed through H.

The water-balance term
----------------------
For a training cell with reference ET series ``R_t`` and simulated ET ``E_t`` on the loss days ``t``
where ``R_t`` is known::

    wb = wb_weight * mean_cells ( (mean_t E_t - mean_t R_t) / (mean_t R_t + 0.1 mm/day) )^2

(default ``wb_weight`` :data:`DEFAULT_WB_WEIGHT` = 1: a 10 % departure of the long-term ET costs
as much as 0.01 m3 m-3 of soil-moisture RMSE). With ``wb_tolerance`` ``t`` > 0 (default
:data:`DEFAULT_WB_TOLERANCE` = 0) the relative departure inside ``±t`` is free and only its excess
counts, ``sign(rel) * max(|rel| - t, 0)``: the default run is a reference, not the truth, so a
tolerance lets a calibration move ET by as much as the reference is trusted to be uncertain while
still stopping a drained column. The reference is, per cell, the observed ET where
the cell has at least :data:`MIN_ET_OBS` ``obs_et`` values on the calibration days, else the
same model run at the region's default parameters
(:func:`~vic_paraformer.parameters.default_parameters`: its current parameters, e.g. from the
VIC parameter file). Long-term, runoff + baseflow = P - ET - dS, so keeping ET near the reference
also keeps the runoff ratio there; strategies that run the simulator itself (e.g. SCE-UA with
``simulator=vic``) add the same term for the runoff ratio ``(runoff + baseflow) / P`` against the
default run's.

Held-out blocks for early stopping
----------------------------------
:func:`holdout_mask` marks interleaved blocks of ``block_days`` days (default
:data:`DEFAULT_BLOCK_DAYS`) spread evenly over the calibration period, ``fraction`` of the days in
all (default 0.2), never inside the first ``skip`` days (warm-up). Training ignores the
observations on those days; the validation loss is computed on them. Unlike holding out the last
20 % of the period, every season stays in the fitting data.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # torch is imported by wb_term_torch itself
    import torch

from .errors import VicParaformerError

__all__ = ["LOSSES", "OBJECTIVES", "DEFAULT_WB_WEIGHT", "DEFAULT_ET_WEIGHT", "MIN_ET_OBS", "DEFAULT_BLOCK_DAYS",
           "ET_FLOOR", "DEFAULT_WB_TOLERANCE", "check_loss", "check_objective", "holdout_mask", "holdout_blocks", "wb_term_torch",
           "wb_term_np", "runoff_ratio_term_np", "reference_et", "ObjectiveError"]

LOSSES: tuple[str, ...] = ("wb", "paper")
OBJECTIVES: tuple[str, ...] = ("sm", "sm+et")
DEFAULT_WB_WEIGHT: float = 1.0
DEFAULT_ET_WEIGHT: float = 1.0
DEFAULT_WB_TOLERANCE: float = 0.0
MIN_ET_OBS: int = 30
DEFAULT_BLOCK_DAYS: int = 30
ET_FLOOR: float = 0.1  # mm/day added to the reference in the relative ET departure


class ObjectiveError(VicParaformerError, ValueError):
    """A loss or objective name or setting is invalid."""


def check_loss(name: str) -> str:
    key = str(name).strip().lower()
    if key not in LOSSES:
        raise ObjectiveError(f"unknown loss {name!r}; choose one of {list(LOSSES)} (wb: water-balance-aware, "
                             "paper: RMSE + RBL only)")
    return key


def check_objective(name: str, has_obs_et: bool | None = None) -> str:
    key = str(name).strip().lower().replace(" ", "")
    if key not in OBJECTIVES:
        raise ObjectiveError(f"unknown objective {name!r}; choose one of {list(OBJECTIVES)}")
    if key == "sm+et" and has_obs_et is False:
        raise ObjectiveError("objective 'sm+et' needs ET observations (variable 'obs_et' in the region)")
    return key


# ---------------------------------------------------------------------- held-out blocks
def holdout_blocks(n_days: int, fraction: float = 0.2, block_days: int = DEFAULT_BLOCK_DAYS,
                   skip: int = 0) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` day ranges (stop exclusive) of the held-out blocks (see the module docstring).

    Blocks are ``block_days`` long (shortened to fit a short period), their number is
    ``round(fraction * usable / block_days)`` (at least 1 when ``fraction > 0``) and they are spread
    evenly over the days after ``skip``, each centred in its share of the period.
    """
    if not 0.0 <= float(fraction) < 0.9:
        raise ObjectiveError(f"validation fraction must be in [0, 0.9), got {fraction!r}")
    usable = int(n_days) - int(skip)
    if fraction == 0 or usable <= 1:
        return []
    block = max(1, min(int(block_days), int(round(fraction * usable))))
    n_blocks = max(1, int(round(fraction * usable / block)))
    share = usable / n_blocks
    out = []
    for k in range(n_blocks):
        centre = skip + (k + 0.5) * share
        start = int(round(centre - block / 2))
        start = min(max(start, skip), n_days - block)
        out.append((start, start + block))
    return out


def holdout_mask(n_days: int, fraction: float = 0.2, block_days: int = DEFAULT_BLOCK_DAYS, skip: int = 0) -> np.ndarray:
    """Boolean ``(n_days,)``: True on the held-out days of :func:`holdout_blocks`."""
    m = np.zeros(int(n_days), bool)
    for a, b in holdout_blocks(n_days, fraction, block_days, skip):
        m[a:b] = True
    return m


# ---------------------------------------------------------------------- water-balance term
def reference_et(default_et: np.ndarray, obs_et: np.ndarray | None, loss_days: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell reference ET series ``(cell, time)`` and its source per cell (``"observed"``/``"default run"``).

    Observed ET replaces the default run's for cells with at least :data:`MIN_ET_OBS` observations
    on ``loss_days`` (boolean over time; default all days); elsewhere the default run is the reference.
    """
    ref = np.asarray(default_et, float).copy()
    src = np.full(ref.shape[0], "default run", dtype=object)
    if obs_et is not None:
        o = np.asarray(obs_et, float)
        days = np.ones(o.shape[-1], bool) if loss_days is None else np.asarray(loss_days, bool)
        n = np.isfinite(o[:, days]).sum(axis=1)
        use = n >= MIN_ET_OBS
        ref[use] = o[use]
        src[use] = "observed"
    return ref, src


def wb_term_torch(et: torch.Tensor, ref: torch.Tensor, weight: float = DEFAULT_WB_WEIGHT,
                  tolerance: float = DEFAULT_WB_TOLERANCE) -> torch.Tensor:
    """The water-balance term for simulated ``et`` and reference ``ref`` ``(B, L)`` (NaN in ref = unknown)."""
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


def wb_term_np(et: np.ndarray, ref: np.ndarray, weight: float = DEFAULT_WB_WEIGHT,
               tolerance: float = DEFAULT_WB_TOLERANCE) -> float:
    """:func:`wb_term_torch` in numpy (one cell ``(L,)`` or cells ``(C, L)``)."""
    et = np.atleast_2d(np.asarray(et, float))
    ref = np.atleast_2d(np.asarray(ref, float))
    valid = np.isfinite(ref) & np.isfinite(et)
    n = valid.sum(-1)
    has = n > 0
    if not has.any():
        return 0.0
    e = np.where(valid, et, 0).sum(-1)[has] / n[has]
    r = np.where(valid, ref, 0).sum(-1)[has] / n[has]
    rel = (e - r) / (np.maximum(r, 0.0) + ET_FLOOR)
    if tolerance > 0:
        rel = np.sign(rel) * np.maximum(np.abs(rel) - float(tolerance), 0.0)
    return float(weight) * float(np.mean(rel ** 2))


def runoff_ratio_term_np(runoff: np.ndarray, baseflow: np.ndarray, prec: np.ndarray, ref_ratio: float,
                         weight: float = DEFAULT_WB_WEIGHT) -> float:
    """``weight * (Q/P - ref_ratio)^2`` for one cell's loss days (Q = runoff + baseflow; 0 without rain)."""
    p = float(np.nansum(prec))
    if p <= 0 or not math.isfinite(ref_ratio):
        return 0.0
    q = float(np.nansum(runoff) + np.nansum(baseflow))
    return float(weight) * (q / p - float(ref_ratio)) ** 2


def pooled_std(x: np.ndarray, rows: Sequence[int] | None = None) -> float:
    """Standard deviation of the finite values of ``x`` (rows ``rows``), at least 1e-6."""
    x = np.asarray(x, float)
    if rows is not None:
        x = x[np.asarray(rows, int)]
    v = x[np.isfinite(x)]
    return float(max(np.std(v), 1e-6)) if v.size > 1 else 1.0
