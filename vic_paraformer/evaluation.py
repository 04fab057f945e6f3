"""Evaluate calibrated parameters with a real simulator (never the surrogate).

:func:`evaluate` runs the simulator with a :class:`~vic_paraformer.calibrator.CalibrationResult`'s
parameters over the whole region (so the days before ``period`` act as warm-up from the region's
first day) and scores the simulated variables against the region's observations over ``period``
(typically the test period): per-cell RMSE, PCC and NSE (:mod:`vic_paraformer.metrics`), separately
for the result's training cells and for the untrained cells, each with summaries (median, mean,
5th/95th percentile, count). :func:`evaluate_parameters` does the same for any parameter array,
e.g. the true parameters of a synthetic twin (the "oracle" score).

The returned dict is JSON-serialisable: lists, floats, ints and strings; NaN becomes ``None``.
Layout::

    {"simulator": "waterbalance", "strategy": "sceua", "period": ["2016-01-01", "2016-12-31"],
     "n_days": 366,
     "groups": {"train": [cell ids], "untrained": [cell ids]},
     "variables": {
        "sm": {"observation": "obs_sm",
               "train":     {"cells": [...], "rmse": [...], "pcc": [...], "nse": [...],
                             "summary": {"rmse": {"median": .., "mean": .., "p5": .., "p95": .., "n": ..}, ...}},
               "untrained": {...}, "all": {...}}},
     "skipped": {"et": "region has no obs_et"}}

Observation operator, baseline and water balance (:func:`evaluate`)
-----------------------------------------------------------------
When the result carries a fitted observation operator (``CalibrationResult.obs_operator``, see
:mod:`vic_paraformer.observation`), soil moisture is scored twice: ``variables["sm"]`` is the raw
simulated top layer, ``variables["sm_through_H"]`` the same run through the stored operator
(cells the operator was not fitted on follow its documented ``new_cells`` rule). ET is never
passed through H.

:func:`evaluate` also runs the region's *default* parameters (its current ``infilt .. expt``, e.g.
from the imported VIC parameter file; a region without them uses :data:`TYPICAL_VIC_DEFAULTS`,
clipped to the result's bounds, and says so) and reports them under ``"baseline"`` in the same
layout, raw and through H, where H for the baseline is an operator of the same kind fitted to the
default run on the days *outside* the scored period (the calibration days; if there are none, the
scored period itself, flagged ``"in_sample": true``): a calibration that does not beat "default
parameters + the same rescaling" has not learned parameters. ``"difference"`` holds calibrated
minus default medians per variable, group and metric. ``"water_balance"`` holds the per-cell annual
budget of both runs over the scored period (:mod:`vic_paraformer.budget`) and the warnings naming
cells whose calibrated ET departs from the reference or whose runoff + baseflow exceeds
precipitation.

Long module (over 400 lines): scoring a result against a simulator: raw and through the
operator, with the default-parameter baseline and the water balance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ._io import to_plain, write_text_atomic
from .budget import annual_budget, budget_table, budget_warnings, format_budget, observed_et
from .calibrator import CalibrationResult
from .errors import ParameterError, SimulatorError, VicParaformerError
from .metrics import METRIC_FUNCTIONS, summarize
from .observation import ObservationOperator, fit as fit_operator
from .parameters import TYPICAL_VIC_DEFAULTS, ParameterSpace, default_parameters  # noqa: F401 (re-exported)
from .region import Region, parse_period
from .simulators.base import Simulator, select_period

log = logging.getLogger(__name__)

#: Simulated variable -> the region variable holding its observations.
OBSERVATION_OF: dict[str, str] = {"sm": "obs_sm", "et": "obs_et"}
GROUPS = ("train", "untrained", "all")
#: Key of soil moisture scored through the observation operator.
THROUGH_H = "sm_through_H"


def _simulator(simulator: str | Simulator, options: Mapping[str, Any] | None) -> tuple[Simulator, str]:
    if isinstance(simulator, Simulator):
        return simulator, simulator.name or type(simulator).__name__
    if isinstance(simulator, str):
        from .registry import get_simulator

        return get_simulator(simulator, **dict(options or {})), simulator
    raise SimulatorError(f"simulator must be a registered name or a Simulator, got {type(simulator).__name__}")


def _period(period) -> tuple | None:
    return parse_period(period)


def _require_scored_observations(region: Region, available: Mapping[str, str], period) -> None:
    """An error when the period holds no observation at all (nothing would be scored)."""
    obs = select_period(region.ds[list(available.values())], period)
    counts = {name: int(np.isfinite(obs[name]).sum()) for name in available.values()}  # chunk-wise when lazy
    if not any(counts.values()):
        t = region.times
        where = f"period {period}" if period else "the region"
        raise VicParaformerError(f"no observations ({', '.join(counts)}) in {where}; nothing to score (the region "
                                 f"covers {t[0].date()}..{t[-1].date()}; choose a period with observations)")


def check_result_cells(region: Region, result: CalibrationResult, tolerance: float = 1e-3) -> None:
    """The result's cell ids must be the region's and, where it stores lat/lon, at the same places."""
    params = result.params
    if "lat" not in params.coords or "lon" not in params.coords:
        return
    ids = params["cell"].values
    common, ri, pi = np.intersect1d(region.cells, ids, return_indices=True)
    dlat = np.abs(region.ds["lat"].values[ri] - params["lat"].values[pi])
    dlon = np.abs(((region.ds["lon"].values[ri] - params["lon"].values[pi]) + 180.0) % 360.0 - 180.0)
    bad = np.flatnonzero((dlat > tolerance) | (dlon > tolerance))
    if bad.size:
        k = bad[0]
        raise ParameterError(
            f"result cell {int(common[k])} is at lat {float(params['lat'].values[pi[k]]):.4f}, lon "
            f"{float(params['lon'].values[pi[k]]):.4f} but region cell {int(common[k])} is at lat "
            f"{float(region.ds['lat'].values[ri[k]]):.4f}, lon {float(region.ds['lon'].values[ri[k]]):.4f} "
            f"({bad.size} cell(s) differ); the result was calibrated for another region")


def _params_dataset(region: Region, params, space: ParameterSpace) -> xr.Dataset:
    """Parameters for exactly the region's cells as a Dataset over ``cell``."""
    if isinstance(params, CalibrationResult):
        params = params.params
    if isinstance(params, xr.Dataset):
        missing_vars = [n for n in space.names if n not in params]
        if missing_vars:
            raise ParameterError(f"parameter set lacks variable(s) {missing_vars}; expected {list(space.names)}")
        if "cell" in params.coords:
            missing = np.setdiff1d(region.cells, params["cell"].values)
            if missing.size:
                raise ParameterError(f"parameters missing for {missing.size} cell(s) of the region, e.g. cell "
                                     f"{missing[:5].tolist()}; evaluate on the region the result was calibrated for")
            params = params.sel(cell=region.cells)
        values = space.from_dataset(params)
    else:
        values = np.asarray(params, dtype=float)
    if values.shape != (region.n_cells, space.n):
        raise ParameterError(f"parameters must have shape (cells={region.n_cells}, p={space.n}), got {values.shape}")
    if not np.all(np.isfinite(values)):
        c = int(np.argwhere(~np.isfinite(values))[0][0])
        raise ParameterError(f"non-finite parameter value for cell {region.cells[c]}")
    return space.to_dataset(values, region.cells)


def _group_metrics(sim: np.ndarray, obs: np.ndarray, cells: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"cells": [int(c) for c in cells[rows]]}
    summary = {}
    for name, fn in METRIC_FUNCTIONS.items():
        vals = fn(sim[rows], obs[rows]) if rows.size else np.array([])
        out[name] = [float(v) for v in vals]
        summary[name] = summarize(vals)
    out["summary"] = summary
    return out


def json_clean(x: Any) -> Any:
    """Plain JSON types, with NaN/inf as None (numpy scalars/arrays converted)."""
    return to_plain(x, nan_as_none=True)


def evaluate_parameters(region: Region, params, simulator: str | Simulator = "waterbalance", period=None,
                        variables: Sequence[str] = ("sm", "et"), *, train_cells: Sequence[int] | None = None,
                        parameter_space: ParameterSpace | str | None = None,
                        simulator_options: Mapping[str, Any] | None = None, label: str = "parameters",
                        obs_operator: ObservationOperator | None = None) -> dict[str, Any]:
    """Simulate ``region`` with ``params`` and score it against the observations over ``period``.

    Parameters
    ----------
    region:
        The region with forcing and observations (``obs_sm``, optionally ``obs_et``).
    params:
        Physical parameters ``(cell, p)`` in parameter-space order, a Dataset over ``cell`` or a
        CalibrationResult.
    simulator:
        A registered simulator name (``"waterbalance"``, ``"vic"``) or a Simulator instance.
    period:
        ``(start, end)`` inclusive; None scores every day. The model always runs from the
        region's first day.
    variables:
        Simulated variables to score; a variable whose observation is absent is listed under
        ``"skipped"``.
    train_cells:
        Cells reported as "train" (default: the region's training cells); the rest are "untrained".
    label:
        Stored as ``"strategy"`` in the output.
    obs_operator:
        Also score soil moisture through this operator (``"sm_through_H"``).
    """
    space = ParameterSpace.resolve(parameter_space)
    unknown = [v for v in variables if v not in OBSERVATION_OF]
    if unknown:
        raise VicParaformerError(f"cannot evaluate variable(s) {unknown}; known: {sorted(OBSERVATION_OF)}")
    available = {v: OBSERVATION_OF[v] for v in variables if region.has(OBSERVATION_OF[v])}
    skipped = {v: f"region has no {OBSERVATION_OF[v]}" for v in variables if v not in available}
    if not available:
        raise VicParaformerError(f"nothing to evaluate: the region has none of "
                                 f"{[OBSERVATION_OF[v] for v in variables]}")
    period = _period(period)
    _require_scored_observations(region, available, period)
    sim_obj, sim_name = _simulator(simulator, simulator_options)
    ds_params = _params_dataset(region, params, space)
    log.info("evaluating %s with simulator %s over %s", label, sim_name, period or "all days")
    out_sim = sim_obj.simulate(region, ds_params, period=period)
    train = np.asarray(region.training_cells if train_cells is None else list(train_cells))
    cells = region.cells
    is_train = np.isin(cells, train)
    groups = {"train": cells[is_train], "untrained": cells[~is_train], "all": cells}
    scored = score_simulation(region, out_sim, period, groups, list(available), simulator_name=sim_name,
                              obs_operator=obs_operator)
    result: dict[str, Any] = {
        "simulator": sim_name,
        "strategy": label,
        "period": scored["period"],
        "n_days": scored["n_days"],
        "groups": {"train": [int(c) for c in cells[is_train]], "untrained": [int(c) for c in cells[~is_train]]},
        "variables": scored["variables"],
        "skipped": skipped,
    }
    return json_clean(result)


def score_simulation(region: Region, out_sim: xr.Dataset, period, groups: Mapping[str, Sequence[int]],
                     variables: Sequence[str] = ("sm", "et"), *, simulator_name: str = "simulator",
                     obs_operator: ObservationOperator | None = None) -> dict[str, Any]:
    """Per-cell RMSE/PCC/NSE of an existing simulation against the region's observations.

    ``out_sim`` is a simulator output over ``(cell, time)`` covering ``period``; ``groups`` maps a
    name to the cell ids scored together (e.g. ``{"DAS-S8": train_ids, "DAS-S8NG": neighbour_ids}``).
    Variables without observations in the region are left out. Returns
    ``{"period", "n_days", "variables": {var: {"observation", group: {"cells", "rmse", "pcc", "nse",
    "summary"}}}}`` with plain lists (NaN kept as float; pass through :func:`json_clean` for JSON).
    With a non-identity ``obs_operator``, soil moisture is also scored through it under
    ``"sm_through_H"`` (ET never is).
    """
    period = _period(period)
    out_sim = select_period(out_sim, period)
    available = {v: OBSERVATION_OF[v] for v in variables if region.has(OBSERVATION_OF[v])}
    obs_ds = select_period(region.ds[list(available.values())], period) if available else None
    times = pd.DatetimeIndex(obs_ds["time"].values if obs_ds is not None else out_sim["time"].values)
    cells = region.cells
    pos = {c: i for i, c in enumerate(cells)}
    out: dict[str, Any] = {"period": [str(times[0].date()), str(times[-1].date())], "n_days": int(len(times)),
                           "variables": {}}
    for var, obs_name in available.items():
        if var not in out_sim:
            raise SimulatorError(f"simulator {simulator_name!r} returned no {var!r}")
        sim = np.asarray(out_sim[var].sel(cell=cells).values, dtype=float)
        obs = np.asarray(obs_ds[obs_name].sel(cell=cells).values, dtype=float)
        if sim.shape != obs.shape:
            raise SimulatorError(f"simulator {simulator_name!r} returned {var} of shape {sim.shape}; "
                                 f"observations have {obs.shape}")
        blocks = {var: (sim, "raw")}
        if var == "sm" and obs_operator is not None and not obs_operator.is_identity:
            blocks[THROUGH_H] = (obs_operator.apply_region(sim, region), f"through H ({obs_operator.kind})")
        for key, (values, how) in blocks.items():
            out["variables"][key] = {"observation": obs_name, "scored": how}
            for g, ids in groups.items():
                rows = np.array([pos[c] for c in ids], dtype=int)
                out["variables"][key][g] = _group_metrics(values, obs, cells, rows)
    return out


def _outside(times: pd.DatetimeIndex, period) -> np.ndarray:
    if period is None:
        return np.zeros(len(times), bool)
    sl = slice(*period)
    inside = np.zeros(len(times), bool)
    inside[times.slice_indexer(sl.start, sl.stop)] = True
    return ~inside


def _baseline_operator(region: Region, result: CalibrationResult, rows: np.ndarray, sim_sm: np.ndarray,
                       obs_sm: np.ndarray, period) -> tuple[ObservationOperator, dict]:
    """Operator of the result's kind fitted to the default run on the training cells outside ``period``.

    ``rows`` are the positions of those cells, ``sim_sm`` and ``obs_sm`` their default run and
    observations over every day (:func:`_baseline_rows`)."""
    op = result.obs_operator
    times = region.times
    fit_days = _outside(times, period)
    in_sample = not fit_days.any()
    if in_sample:
        fit_days = np.ones(len(times), bool) if period is None else ~_outside(times, period)
    base = fit_operator(op.kind, sim_sm[:, fit_days], obs_sm[:, fit_days], cells=region.cells[rows],
                        lat=region.ds["lat"].values[rows], lon=region.ds["lon"].values[rows],
                        new_cells=op.new_cells, **{k: v for k, v in op.options.items() if k in ("l2", "n_quantiles")})
    d = times[fit_days]
    return base, {"kind": op.kind, "fitted_on": [str(d[0].date()), str(d[-1].date())], "in_sample": bool(in_sample),
                  "n_days": int(fit_days.sum())}


def _baseline_rows(region: Region, result: CalibrationResult) -> np.ndarray:
    """Positions of the cells the default run's operator is fitted on (the result's training cells)."""
    train = np.asarray(result.train_cells if len(result.train_cells) else region.training_cells)
    return np.flatnonzero(np.isin(region.cells, train))


def _merge_scores(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One :func:`score_simulation` result from those of consecutive chunks of cells: per-cell
    values concatenated in cell order, summaries recomputed over all of them."""
    out: dict[str, Any] = {"period": parts[0]["period"], "n_days": parts[0]["n_days"], "variables": {}}
    for key, block in parts[0]["variables"].items():
        merged: dict[str, Any] = {k: v for k, v in block.items() if not isinstance(v, dict)}
        for g in (k for k, v in block.items() if isinstance(v, dict)):
            m: dict[str, Any] = {"cells": [c for p in parts for c in p["variables"][key][g]["cells"]]}
            for name in METRIC_FUNCTIONS:
                m[name] = [x for p in parts for x in p["variables"][key][g][name]]
            m["summary"] = {name: summarize(np.asarray(m[name], float)) for name in METRIC_FUNCTIONS}
            merged[g] = m
        out["variables"][key] = merged
    return out


def _in_chunk(groups: Mapping[str, np.ndarray], cells: np.ndarray) -> dict[str, np.ndarray]:
    return {g: ids[np.isin(ids, cells)] for g, ids in groups.items()}


def _difference(cal: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, block in cal.items():
        if var not in base:
            continue
        out[var] = {}
        for g in GROUPS:
            out[var][g] = {}
            for m in METRIC_FUNCTIONS:
                a, b = block[g]["summary"][m]["median"], base[var][g]["summary"][m]["median"]
                out[var][g][m] = float(a - b) if np.isfinite(a) and np.isfinite(b) else float("nan")
    return out


def evaluate(region: Region, result: CalibrationResult | str | Path, simulator: str | Simulator = "waterbalance",
             period=None, variables: Sequence[str] = ("sm", "et"), *,
             simulator_options: Mapping[str, Any] | None = None, baseline: bool = True,
             chunk_cells: int | None = None) -> dict[str, Any]:
    """Score a calibration result with a real simulator (see the module docstring for the output).

    ``result`` is a CalibrationResult or the path of one saved with ``CalibrationResult.save``.
    Its ``train_cells`` are reported as "train", the region's other cells as "untrained". Soil
    moisture is scored raw and, with a fitted operator, through it; ``baseline`` (default on) adds
    the default-parameter run, the difference and the per-cell water balance of both runs.

    The region is simulated and scored ``chunk_cells`` cells at a time (default: the chunks of a
    lazily opened region, ``Region.open(path, max_memory_gb=...)``, else all cells at once); only
    per-cell scores and budgets are kept, so memory is bounded by the chunk, and the report does not
    depend on the chunking. With several chunks and a baseline scored through an operator, the
    default run is simulated twice (the operator is fitted to the training cells' run first).
    """
    if not isinstance(result, CalibrationResult):
        result = CalibrationResult.open(result)
    check_result_cells(region, result)
    space = result.parameter_space
    unknown = [v for v in variables if v not in OBSERVATION_OF]
    if unknown:
        raise VicParaformerError(f"cannot evaluate variable(s) {unknown}; known: {sorted(OBSERVATION_OF)}")
    available = [v for v in variables if region.has(OBSERVATION_OF[v])]
    if not available:
        raise VicParaformerError(f"nothing to evaluate: the region has none of {[OBSERVATION_OF[v] for v in variables]}")
    period = _period(period)
    if period is not None:
        select_period(region.ds[["prec"]], period)  # a clear error before any run when the period is empty
    _require_scored_observations(region, {v: OBSERVATION_OF[v] for v in available}, period)
    if chunk_cells is not None and int(chunk_cells) < 1:
        raise VicParaformerError(f"chunk_cells must be >= 1, got {chunk_cells}")
    sim_obj, sim_name = _simulator(simulator, simulator_options)
    cells = region.cells
    is_train = np.isin(cells, result.train_cells)
    groups = {"train": cells[is_train], "untrained": cells[~is_train], "all": cells}
    op = result.obs_operator
    log.info("evaluating %s with simulator %s over %s", result.strategy, sim_name, period or "all days")
    params = _params_dataset(region, result, space)
    base_src = None
    if baseline:
        values, base_src = default_parameters(region, space)
        base_params = space.to_dataset(values, cells)
    step = int(chunk_cells or (region.chunk_cells if region.lazy else max(region.n_cells, 1)))
    one_chunk = step >= region.n_cells
    through_h = baseline and not op.is_identity and "sm" in available
    fit_rows = _baseline_rows(region, result) if through_h else np.array([], int)
    cal_parts, base_parts, wb_parts, fit_sim, fit_obs, kept = [], [], [], [], [], None
    for sl, part in region.iter_chunks(step):
        g = _in_chunk(groups, part.cells)
        cal = sim_obj.simulate(part, params.isel(cell=sl))
        cal_parts.append(score_simulation(part, cal, period, g, available, simulator_name=sim_name, obs_operator=op))
        if baseline:
            dflt = sim_obj.simulate(part, base_params.isel(cell=sl))
            base_parts.append(score_simulation(part, dflt, period, g, available, simulator_name=sim_name))
            wb_parts.append(_budget_piece(part, {"default": dflt, "calibrated": cal}, period))
            rows = fit_rows[(fit_rows >= sl.start) & (fit_rows < sl.stop)] - sl.start
            if rows.size:
                fit_sim.append(np.asarray(dflt["sm"].values, float)[rows])
                fit_obs.append(part.observations("obs_sm")[rows])
            kept = dflt if one_chunk else None
        del cal
    scored = _merge_scores(cal_parts)
    out: dict[str, Any] = {
        "simulator": sim_name, "strategy": result.strategy, "period": scored["period"], "n_days": scored["n_days"],
        "groups": {"train": [int(c) for c in cells[is_train]], "untrained": [int(c) for c in cells[~is_train]]},
        "variables": scored["variables"],
        "skipped": {v: f"region has no {OBSERVATION_OF[v]}" for v in variables if v not in available},
        "obs_operator": {"kind": op.kind, "description": op.describe(), "new_cells": op.new_cells},
        "warmup_days": result.warmup_days, "spinup_years": int(result.spinup_years),
        "seed": result.seed, "n_evaluations": int(result.n_evaluations),
        "calibration_wall_time": float(result.wall_time),
    }
    if baseline:
        base_op, base_info = (None, None)
        base_vars = _merge_scores(base_parts)["variables"]
        if through_h:
            n_d = region.n_days
            base_op, base_info = _baseline_operator(
                region, result, fit_rows, np.concatenate(fit_sim) if fit_sim else np.empty((0, n_d)),
                np.concatenate(fit_obs) if fit_obs else np.empty((0, n_d)), period)
            h_parts = []
            for sl, part in region.iter_chunks(step):
                dflt = kept if kept is not None else sim_obj.simulate(part, base_params.isel(cell=sl))
                h_parts.append(score_simulation(part, dflt, period, _in_chunk(groups, part.cells), ["sm"],
                                                simulator_name=sim_name, obs_operator=base_op))
            h = _merge_scores(h_parts)["variables"]
            base_vars = {k: v for var, v0 in base_vars.items()
                         for k, v in ([(var, v0), (THROUGH_H, h[THROUGH_H])] if var == "sm" and THROUGH_H in h
                                      else [(var, v0)])}
        out["baseline"] = {"label": "default parameters", "source": base_src, "variables": base_vars,
                           "obs_operator": base_info}
        out["difference"] = _difference(out["variables"], base_vars)
        out["water_balance"] = _water_balance(region, wb_parts, period)
    return json_clean(out)


def _budget_piece(part: Region, runs: Mapping[str, xr.Dataset], period) -> dict[str, Any]:
    """Per-cell annual budgets of ``runs`` over ``period`` and the observed-ET reference, for one chunk."""
    cells = part.cells
    prec = np.asarray(select_period(part.ds[["prec"]], period)["prec"].values, float)
    budgets = {name: annual_budget(select_period(ds, period), cells, prec) for name, ds in runs.items()}
    observed = None
    if part.has("obs_et"):
        obs_et = np.asarray(select_period(part.ds[["obs_et"]], period)["obs_et"].values, float)
        sim_et = np.asarray(select_period(runs["calibrated"], period)["et"].sel(cell=cells).values, float)
        observed = observed_et(obs_et, sim_et)
    return {"budgets": budgets, "observed": observed}


def _water_balance(region: Region, pieces: Sequence[Mapping[str, Any]], period) -> dict[str, Any]:
    """The water-balance report from the :func:`_budget_piece` of consecutive chunks of cells."""
    cells = region.cells
    budgets = {name: {k: np.concatenate([p["budgets"][name][k] for p in pieces]) for k in b}
               for name, b in pieces[0]["budgets"].items()}
    observed = None
    if pieces[0]["observed"] is not None:
        observed = tuple(np.concatenate([p["observed"][i] for p in pieces]) for i in range(2))
    warnings = budget_warnings(budgets["calibrated"], cells,
                               reference_et=budgets["default"]["ET"] if "default" in budgets else None,
                               observed=observed)
    t = pd.DatetimeIndex(select_period(region.ds[["prec"]], period)["time"].values)
    return {"period": [str(t[0].date()), str(t[-1].date())], "units": "mm/yr", "cells": budget_table(budgets, cells),
            "median": {name: {k: float(np.nanmedian(v)) for k, v in b.items()} for name, b in budgets.items()},
            "warnings": warnings}


def water_balance_report(region: Region, runs: Mapping[str, xr.Dataset], period) -> dict[str, Any]:
    """Per-cell annual budgets of ``runs`` (``"default"``, ``"calibrated"``) over ``period`` and the warnings."""
    return _water_balance(region, [_budget_piece(region, runs, period)], period)


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write an evaluation dict as JSON atomically (strict JSON: NaN already mapped to null)."""
    return write_text_atomic(path, json.dumps(json_clean(metrics), indent=2, allow_nan=False) + "\n")


def format_table(metrics: Mapping[str, Any]) -> str:
    """A text table of the median metrics per variable and cell group: calibrated, default and their
    difference (when the report has a baseline), soil moisture raw and through H; then the water
    balance medians and warnings."""
    def f(v):
        return "     -" if v is None else f"{v:6.3f}"

    base = (metrics.get("baseline") or {}).get("variables", {})
    lines = [f"{metrics.get('strategy', '')} evaluated with {metrics.get('simulator')} over "
             f"{metrics['period'][0]}..{metrics['period'][1]} ({metrics['n_days']} days)"]
    head = f"{'var':<13} {'cells':<10} {'n':>5}  {'RMSE':>6}  {'PCC':>6}  {'NSE':>6}"
    if base:
        head += f"   {'NSE def':>7}  {'dNSE':>6}  {'RMSE def':>8}"
    lines.append(head + "   (medians)")
    for var, block in metrics["variables"].items():
        name = {"sm": "sm raw", THROUGH_H: "sm through H"}.get(var, var)
        for g in ("train", "untrained"):
            s = block[g]["summary"]
            row = (f"{name:<13} {g:<10} {len(block[g]['cells']):>5}  {f(s['rmse']['median'])}  "
                   f"{f(s['pcc']['median'])}  {f(s['nse']['median'])}")
            if base and var in base:
                b = base[var][g]["summary"]
                d = metrics["difference"][var][g]["nse"]
                row += f"   {f(b['nse']['median']):>7}  {f(d)}  {f(b['rmse']['median']):>8}"
            lines.append(row)
    for var, why in metrics.get("skipped", {}).items():
        lines.append(f"{var:<13} skipped: {why}")
    if base:
        lines.append(f"default parameters: {metrics['baseline']['source']}")
        bop = metrics["baseline"].get("obs_operator")
        if bop:
            lines.append(f"default through H: {bop['kind']} operator fitted to the default run on "
                         f"{bop['fitted_on'][0]}..{bop['fitted_on'][1]}" + (" (in sample)" if bop["in_sample"] else ""))
    wb = metrics.get("water_balance")
    if wb:
        lines.append(f"water balance {wb['period'][0]}..{wb['period'][1]} (median over cells, mm/yr):")
        for name, m in wb["median"].items():
            lines.append(f"  {name:<11} " + "  ".join(f"{k} {f(v).strip() if v is None else f'{v:.0f}'}"
                                                     for k, v in m.items()))
        for w in wb["warnings"]:
            lines.append(f"WARNING: {w}")
    return "\n".join(lines)
