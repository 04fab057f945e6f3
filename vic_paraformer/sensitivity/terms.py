"""The scalar terms whose sensitivity is analysed, one value per (parameter set, cell).

=============  ==================================================================================
``sm_obs``     RMSE of the soil moisture seen through the calibration's observation operator
               against ``obs_sm`` (``RMSE(H(sm), obs_sm)``, ``H`` fitted to each run in closed form
               as in a calibration; the identity by default)
``sm_raw``     RMSE of the raw top-layer soil moisture against ``obs_sm`` (no operator)
``et``         mean evapotranspiration (mm/day)
``runoff``     mean surface runoff (mm/day; from a surrogate only if it predicts runoff)
``baseflow``   mean baseflow (mm/day; likewise)
``objective``  the calibration objective of the cell (:class:`~vic_paraformer.objective.Objective`
               with the given options, exactly as a per-cell calibration scores a candidate:
               water-balance term against the same model's default run, ``sm+et`` scales pooled
               over the analysed cells)
=============  ==================================================================================

Every term is taken over the days after the warm-up. The terms that compare with ``obs_sm`` are
NaN at a cell without observations after the warm-up.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..objective import Objective, ObjectiveOptions, pooled_std, reference_et
from ..parameters import ParameterSpace
from ..region import Region

TERMS: tuple[str, ...] = ("sm_obs", "sm_raw", "et", "runoff", "baseflow", "objective")
TERM_DESCRIPTIONS: dict[str, str] = {
    "sm_obs": "RMSE of soil moisture through the observation operator against obs_sm (m3 m-3)",
    "sm_raw": "RMSE of the raw top-layer soil moisture against obs_sm (m3 m-3)",
    "et": "mean evapotranspiration (mm/day)",
    "runoff": "mean surface runoff (mm/day)",
    "baseflow": "mean baseflow (mm/day)",
    "objective": "calibration objective of the cell",
}


def _rmse_rows(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """RMSE of each row of ``sim`` ``(S, T)`` against ``obs`` ``(T,)`` where ``obs`` is finite."""
    ok = np.isfinite(obs)
    if not ok.any():
        return np.full(sim.shape[0], np.nan)
    return np.sqrt(np.mean((sim[:, ok].astype(float) - obs[ok]) ** 2, axis=1))


def term_values(region: Region, space: ParameterSpace, x: np.ndarray, design: Mapping[str, np.ndarray],
                default: Mapping[str, np.ndarray], *, warmup: int = 0,
                objective_options: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Each term of :data:`TERMS` the model's outputs allow, ``(S, C)`` for ``S`` sets and ``C`` cells.

    ``design``/``default``: outputs ``(S, C, T)`` and ``(C, T)`` (:func:`~.runs.run_sets`); ``x`` the
    sets ``(S, p)`` (the prior term); ``objective_options``: the calibration's options (the objective
    ones are read, others ignored).
    """
    from ..strategies.spotpy_setup import CellObjective

    n_s, n_c, n_t = design["sm"].shape
    loss_days = np.zeros(n_t, bool)
    loss_days[min(int(warmup), n_t):] = True
    obs_sm = region.observations("obs_sm") if region.has("obs_sm") else np.full((n_c, n_t), np.nan)
    obs_sm = np.where(loss_days[None], obs_sm, np.nan)
    out: dict[str, np.ndarray] = {}
    out["sm_raw"] = np.stack([_rmse_rows(design["sm"][:, c], obs_sm[c]) for c in range(n_c)], axis=1)
    for name in ("et", "runoff", "baseflow"):
        if name in design:
            out[name] = np.mean(design[name][:, :, loss_days], axis=-1, dtype=float)
    opts = ObjectiveOptions.from_options(dict(objective_options or {}))
    obs_et = region.observations("obs_et") if region.has("obs_et") else None
    objective = Objective(opts, sm_scale=pooled_std(obs_sm),
                          et_scale=pooled_std(np.where(loss_days[None], obs_et, np.nan)) if obs_et is not None else 1.0)
    plain = Objective(ObjectiveOptions(**{**opts.as_dict(), "loss": "paper", "objective": "sm", "prior_weight": 0.0}))
    ref = q_ratio = None
    if opts.loss == "wb":
        ref, _ = reference_et(np.asarray(default["et"], float), obs_et, loss_days, opts.wb_reference)
        if "runoff" in default and "baseflow" in default:
            q = (np.asarray(default["runoff"], float) + np.asarray(default["baseflow"], float))[:, loss_days]
            p = np.asarray(region.ds["prec"].values, float)[:, loss_days]
            q_ratio = q.sum(1) / np.maximum(p.sum(1), 1e-9)
    prec = np.asarray(region.ds["prec"].values, float)
    prior_u = None
    if opts.prior_weight > 0:
        from ..parameters import default_parameters

        prior_u = np.asarray(space.normalize(default_parameters(region, space)[0]), float)
    sm_obs = np.full((n_s, n_c), np.nan)
    total = np.full((n_s, n_c), np.nan)
    for c in range(n_c):
        mask = np.isfinite(obs_sm[c])
        if not mask.any():
            continue
        cell = CellObjective(objective=objective, loss_days=loss_days, ref_et=None if ref is None else ref[c],
                             ref_q_ratio=float("nan") if q_ratio is None else float(q_ratio[c]), prec=prec[c],
                             obs_et=None if obs_et is None else obs_et[c],
                             prior_u=None if prior_u is None else prior_u[c], space=space)
        obs = obs_sm[c][mask]
        for s in range(n_s):
            run = {k: np.asarray(v[s, c], float) for k, v in design.items()}
            total[s, c] = cell.value(run, mask, obs, x[s])
            if opts.obs_operator != "identity":
                sm_obs[s, c] = plain.evaluate(run["sm"][mask][None], obs[None])["sm_rmse"]
    out["sm_obs"] = out["sm_raw"].copy() if opts.obs_operator == "identity" else sm_obs
    out["objective"] = total
    return {k: out[k] for k in TERMS if k in out}
