r"""What a calibration minimises, shared by every strategy: the one :class:`Objective`, its options and terms.

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
    :mod:`vic_paraformer.objective.operators`; identity by default).
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
still stopping a drained column. The reference is chosen by ``wb_reference``
(:mod:`vic_paraformer.objective.reference`): ``default`` (the default) takes the same model run at
the region's default parameters (:func:`~vic_paraformer.parameters.default_parameters`: its
current parameters, e.g. from the VIC parameter file), so ``objective="sm"`` learns nothing from
observed ET; ``observed`` takes, per cell, the observed ET where the cell has at least
:data:`MIN_ET_OBS` ``obs_et`` values on the calibration days, else the default run. The
reference used is named in the result's ``info["wb_reference"]``. Long-term, runoff + baseflow = P - ET - dS, so keeping ET near the reference
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

NaN masking is the same in every term (:mod:`vic_paraformer.objective.terms`): a day counts where
the observation (or reference) is finite; a non-finite simulation there makes the objective
non-finite. The DL strategies add the paper's range-boundary loss (eq. 13) on their unclamped
network output during training.

Modules
-------
:mod:`.options` the options (one declaration for every strategy family), :mod:`.operators` the
observation operators, :mod:`.terms` the terms in torch, :mod:`.reference` the water-balance
reference, :mod:`.holdout` the held-out blocks, :mod:`.core` the :class:`Objective`.
"""

from __future__ import annotations

from .core import PROFILE, Objective, pooled_std
from .holdout import DEFAULT_BLOCK_DAYS, holdout_blocks, holdout_mask
from .operators import ObservationOperator, ObservationOperatorError, fit as fit_operator
from .options import (DEFAULT_ET_WEIGHT, DEFAULT_WB_REFERENCE, DEFAULT_WB_TOLERANCE, DEFAULT_WB_WEIGHT, LOSSES,
                      OBJECTIVE_OPTION_DEFAULTS, OBJECTIVE_OPTION_HELP, OBJECTIVE_OPTION_TYPES, OBJECTIVES,
                      OBJECTIVE_TERMS, Q_METRICS, WB_REFERENCES, ObjectiveError, ObjectiveOptions, check_loss,
                      check_objective, check_q_metric, check_wb_reference, objective_option_problems,
                      objective_weights)
from .reference import MIN_ET_OBS, describe_reference, reference_et
from .terms import ET_FLOOR, discharge_term, masked_rmse, range_boundary_loss, runoff_ratio_term, wb_term

__all__ = ["Objective", "ObjectiveOptions", "ObjectiveError", "PROFILE", "LOSSES", "OBJECTIVES", "OBJECTIVE_TERMS", "Q_METRICS",
           "WB_REFERENCES", "objective_weights", "check_q_metric", "discharge_term",
           "DEFAULT_WB_WEIGHT", "DEFAULT_ET_WEIGHT", "DEFAULT_WB_TOLERANCE", "DEFAULT_WB_REFERENCE", "MIN_ET_OBS",
           "DEFAULT_BLOCK_DAYS", "ET_FLOOR", "OBJECTIVE_OPTION_DEFAULTS", "OBJECTIVE_OPTION_HELP",
           "OBJECTIVE_OPTION_TYPES", "check_loss", "check_objective", "check_wb_reference",
           "objective_option_problems", "holdout_mask", "holdout_blocks", "reference_et", "describe_reference",
           "pooled_std", "masked_rmse", "wb_term", "runoff_ratio_term", "range_boundary_loss", "fit_operator",
           "ObservationOperator", "ObservationOperatorError"]
