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

Rows, one scoring rule, verdicts and water balance (:func:`evaluate`, :func:`score_runs`)
--------------------------------------------------------------------------------------
:func:`evaluate` runs the result's parameters (``"variables"``), the region's *default* parameters
(``"baseline"``: its current ``infilt .. expt``, e.g. from the imported VIC parameter file; a region
without them uses :data:`TYPICAL_VIC_DEFAULTS`, clipped to the result's bounds, and says so) and, at
untrained cells, the calibrated parameters of the nearest trained cell (``"nearest"``). Every row is
scored by the rule of :mod:`vic_paraformer.scoring`: soil moisture raw and through the row's *own*
operator (``"sm_through_H"``), fitted by the same rule for every row (the result's operator kind,
or ``linear`` for a result calibrated without one; the result's training cells; the fitting
window), so "default + H" — the do-nothing baseline — is always there and identical parameters
score identically. ET is never passed through H.

``"comparisons"`` holds, per variable and cell group, the paired per-cell difference of the
calibrated row against each baseline with a bootstrap interval and a verdict
(:mod:`vic_paraformer.verdict`): ``better``, ``no detectable change`` or ``worse``.
``"difference"`` keeps the plain difference of medians. ``"water_balance"`` holds the per-cell
budget of the default and calibrated runs over the whole water years of the scored days (or their
total over the days, labelled, when there is none: :mod:`vic_paraformer.budget`) and warnings,
each labelled with what it compares against (the default run; observed ET separately).

Discharge: a Region with gauges (``obs_q`` and a routing kernel) gets ``"discharge"`` per period,
every row routed and scored at each gauge by one rule (KGE, NSE, bias; :mod:`vic_paraformer.gauge_scores`).

Periods: with no ``period``, the days after the result's fitting window (``"held_out"``) and the
window itself (``"calibration"``, in-sample) are both scored under ``"periods"``; the top level
repeats the first. Every period carries its label (``"scored"``: held-out, in-sample, partly).

Long module (over 400 lines): scoring a result against a simulator: every row by one rule, the
comparisons and the water balance.
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
from .budget import annual_budget, budget_table, budget_warnings, budget_window, observed_et
from .calibrator import CalibrationResult
from .ensemble import simulate
from .errors import ParameterError, SimulatorError, VicParaformerError
from .formats import extent, other_region
from .metrics import METRIC_FUNCTIONS, summarize
from .observation import ObservationOperator
from .parameters import TYPICAL_VIC_DEFAULTS, ParameterSpace, default_parameters  # noqa: F401 (re-exported)
from .scoring import OperatorRule, default_periods, period_label
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


def _has_observations(region: Region, variables: Sequence[str], period) -> bool:
    obs = select_period(region.ds[[OBSERVATION_OF[v] for v in variables]], period)
    return any(bool(np.isfinite(obs[OBSERVATION_OF[v]]).any()) for v in variables)


def _require_scored_observations(region: Region, available: Mapping[str, str], period) -> None:
    """An error when the period holds no observation at all (nothing would be scored)."""
    if not _has_observations(region, list(available), period):
        t = region.times
        where = f"period {period}" if period else "the region"
        raise VicParaformerError(f"no observations ({', '.join(available.values())}) in {where}; nothing to score "
                                 f"(the region covers {t[0].date()}..{t[-1].date()}; choose a period with observations)")


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
        src = f"region {region.source}" if region.source else "the region"
        raise other_region(
            result.source, "calibration result",
            f"its cell {int(common[k])} is at lat {float(params['lat'].values[pi[k]]):.4f}, lon "
            f"{float(params['lon'].values[pi[k]]):.4f} ({extent(params['lat'].values, params['lon'].values)})",
            f"{src} has cell {int(common[k])} at lat {float(region.ds['lat'].values[ri[k]]):.4f}, lon "
            f"{float(region.ds['lon'].values[ri[k]]):.4f} ({extent(region.ds['lat'].values, region.ds['lon'].values)}; "
            f"{bad.size} cell(s) differ)", ParameterError)


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
    out_sim = simulate(sim_obj, region, ds_params, period=period)  # on the --scheduler cluster if any
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
    available = [v for v in variables if region.has(OBSERVATION_OF[v])]
    return {**_period_head(region, out_sim, period, available),
            "variables": _metrics_of(_row_values(region, out_sim, period, obs_operator, available, simulator_name),
                                     region.cells, groups)}


def _period_head(region: Region, out_sim: xr.Dataset, period, available: Sequence[str]) -> dict[str, Any]:
    """``{"period": [first, last], "n_days"}`` of the scored days."""
    src = region.ds[[OBSERVATION_OF[v] for v in available]] if available else out_sim
    times = pd.DatetimeIndex(select_period(src, period)["time"].values)
    return {"period": [str(times[0].date()), str(times[-1].date())], "n_days": int(len(times))}


def _row_values(part: Region, ds: xr.Dataset, period, op: ObservationOperator | None, variables: Sequence[str],
                simulator_name: str = "simulator") -> dict[str, tuple[np.ndarray, np.ndarray, str, str]]:
    """``{key: (sim, obs, observation name, how scored)}``, arrays ``(cell, day)`` over ``period``, for one
    simulation of one chunk of cells: each variable raw and soil moisture through ``op`` (:data:`THROUGH_H`)."""
    sel = select_period(ds, period)
    out = {}
    for var in variables:
        if var not in sel:
            raise SimulatorError(f"simulator {simulator_name!r} returned no {var!r}")
        obs_name = OBSERVATION_OF[var]
        obs = np.asarray(select_period(part.ds[[obs_name]], period)[obs_name].sel(cell=part.cells).values, float)
        sim = np.asarray(sel[var].sel(cell=part.cells).values, float)
        if sim.shape != obs.shape:
            raise SimulatorError(f"simulator {simulator_name!r} returned {var} of shape {sim.shape}; "
                                 f"observations have {obs.shape}")
        out[var] = (sim, obs, obs_name, "raw")
        if var == "sm" and op is not None and not op.is_identity:
            out[THROUGH_H] = (op.apply_region(sim, part), obs, obs_name, f"through H ({op.kind})")
    return out


def _metrics_of(values: Mapping[str, tuple], cells: np.ndarray, groups: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """Per-cell metrics and summaries of :func:`_row_values` for each cell group."""
    pos = {c: i for i, c in enumerate(cells)}
    out: dict[str, Any] = {}
    for key, (sim, obs, obs_name, how) in values.items():
        out[key] = {"observation": obs_name, "scored": how}
        for g, ids in groups.items():
            out[key][g] = _group_metrics(sim, obs, cells, np.array([pos[c] for c in ids], dtype=int))
    return out


#: Rows of a comparison: the calibrated parameters and the baselines run beside them.
ROW_LABELS: dict[str, str] = {"calibrated": "calibrated parameters", "default": "default parameters",
                              "nearest": "calibrated parameters of the nearest trained cell"}


def nearest_transfer(region: Region, values: np.ndarray, train_cells: Sequence[int]) -> np.ndarray:
    """``values`` ``(cell, p)`` with every cell outside ``train_cells`` given the values of the nearest
    training cell (great-circle distance): the simplest regional transfer a learned map must beat."""
    from .strategies.cell_geometry import great_circle_km

    values = np.asarray(values, float).copy()
    is_train = np.isin(region.cells, train_cells)
    tr = np.flatnonzero(is_train)
    if not tr.size:
        return values
    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    for i in np.flatnonzero(~is_train):
        d = great_circle_km(lat[i], lon[i], lat[tr], lon[tr])
        values[i] = values[tr[int(np.argmin(d))]]
    return values


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


def _fit_operators(region: Region, rule: OperatorRule, sims: Mapping[str, np.ndarray],
                   fallback) -> dict[str, ObservationOperator]:
    """Each row's operator by ``rule``; ``sims`` hold each row's ``sm`` ``(fit cell, day)`` over every day."""
    sub = region.subset(rule.fit_cells)
    obs = sub.observations("obs_sm")
    lat, lon = sub.ds["lat"].values, sub.ds["lon"].values
    return {row: rule.fit(sm, obs, sub.times, sub.cells, lat, lon, fallback=fallback) for row, sm in sims.items()}


def _comparisons(sums: Mapping[tuple[str, str], Any], groups: Mapping[str, np.ndarray], cells: np.ndarray,
                 stored_identity: bool, label: str) -> list[dict[str, Any]]:
    """Paired comparisons of the calibrated row with each baseline, per variable and cell group."""
    from .verdict import compare

    pos = {c: i for i, c in enumerate(cells)}
    keys = sorted({k for k, _ in sums}, key=[ "sm", THROUGH_H, "et"].index)
    pairs = []
    for key in keys:
        for base in ("default", "nearest"):
            if (key, base) in sums:
                pairs.append((key, key, base))
        if key == "sm" and stored_identity and (THROUGH_H, "default") in sums:
            pairs.append(("sm", THROUGH_H, "default"))  # raw calibrated against the do-nothing baseline
    out = []
    for key, bkey, base in pairs:
        for g in ("train", "untrained"):
            if (base == "nearest" and g == "train") or not len(groups[g]):
                continue  # identical by construction at trained cells; a group without cells
            rows = np.array([pos[c] for c in groups[g]], dtype=int)
            c = compare(sums[(key, "calibrated")].take(rows), sums[(bkey, base)].take(rows))
            out.append({"variable": key, "group": g, "row": "calibrated" + (" + H" if key == THROUGH_H else ""),
                        "baseline": base + (" + H" if bkey == THROUGH_H else ""), "scored": label, **c})
    return out


def _plan(region: Region, result: CalibrationResult, period, variables: Sequence[str]) -> dict[str, Any]:
    """What a report scores: variables with observations, periods, cell groups and the operator rule."""
    check_result_cells(region, result)
    unknown = [v for v in variables if v not in OBSERVATION_OF]
    if unknown:
        raise VicParaformerError(f"cannot evaluate variable(s) {unknown}; known: {sorted(OBSERVATION_OF)}")
    available = [v for v in variables if region.has(OBSERVATION_OF[v])]
    if not available:
        raise VicParaformerError(f"nothing to evaluate: the region has none of {[OBSERVATION_OF[v] for v in variables]}")
    fit_period = (result.info or {}).get("calibration_period")
    if period is not None:
        p = _period(period)
        select_period(region.ds[["prec"]], p)  # a clear error before any run when the period is empty
        periods = {"score": p}
    else:
        periods = {k: (str(a.date()), str(b.date())) for k, (a, b) in default_periods(fit_period, region.times).items()}
        # a default period without any observation (e.g. the last day after the window) is left out
        with_obs = {k: p for k, p in periods.items() if _has_observations(region, available, p)}
        if with_obs and len(with_obs) < len(periods):
            log.info("not scoring %s: no observations there", ", ".join(
                f"{k.replace('_', ' ')} {a}..{b}" for k, (a, b) in periods.items() if k not in with_obs))
        periods = with_obs or periods
    for p in periods.values():
        _require_scored_observations(region, {v: OBSERVATION_OF[v] for v in available}, p)
    cells = region.cells
    is_train = np.isin(cells, result.train_cells)
    from .gauge_scores import has_gauges

    return {"available": available, "periods": periods, "fit_period": fit_period, "is_train": is_train,
            "gauges": has_gauges(region),
            "groups": {"train": cells[is_train], "untrained": cells[~is_train], "all": cells},
            "rule": OperatorRule.for_result(result, region) if "sm" in available and is_train.any() else None,
            "skipped": {v: f"region has no {OBSERVATION_OF[v]}" for v in variables if v not in available}}


class _Accumulator:
    """Per-cell scores, block sums and budgets of every row, gathered chunk by chunk."""

    def __init__(self, plan: Mapping[str, Any], rows: Sequence[str], operators: Mapping[str, ObservationOperator],
                 simulator_name: str, budgets: bool):
        self.plan, self.rows, self.operators, self.sim_name, self.budgets = plan, list(rows), operators, simulator_name, budgets
        periods = plan["periods"]
        self.parts: dict[str, dict[str, list]] = {pn: {row: [] for row in rows} for pn in periods}
        self.sums: dict[str, dict[tuple[str, str], list]] = {pn: {} for pn in periods}
        self.wb: dict[str, list] = {pn: [] for pn in periods}
        self.runoff: dict[str, dict[int, np.ndarray]] = {row: {} for row in rows}

    def add(self, part: Region, sims: Mapping[str, xr.Dataset]) -> None:
        from .verdict import BLOCK_DAYS, BLOCK_REGION_MAX, block_sums

        block_days = BLOCK_DAYS if len(self.plan["groups"]["all"]) <= BLOCK_REGION_MAX else 0

        g = _in_chunk(self.plan["groups"], part.cells)
        available = self.plan["available"]
        if self.plan.get("gauges"):
            for row in self.rows:
                ds = sims[row].sel(cell=part.cells)
                total = np.asarray(ds["runoff"].transpose("cell", ...).values, float) + \
                    np.asarray(ds["baseflow"].transpose("cell", ...).values, float)
                self.runoff[row].update({int(c): total[j] for j, c in enumerate(part.cells)})
        for pn, per in self.plan["periods"].items():
            for row in self.rows:
                values = _row_values(part, sims[row], per, self.operators.get(row), available, self.sim_name)
                self.parts[pn][row].append({**_period_head(part, sims[row], per, available),
                                            "variables": _metrics_of(values, part.cells, g)})
                for key, (sim, obs, _, _) in values.items():
                    self.sums[pn].setdefault((key, row), []).append(block_sums(sim, obs, block_days))
            if self.budgets:
                self.wb[pn].append(_budget_piece(part, {"default": sims["default"], "calibrated": sims["calibrated"]},
                                                 per))

    def report(self, region: Region, result: CalibrationResult, default_source: str | None) -> dict[str, Any]:
        from .verdict import concat_sums

        plan = self.plan
        cells, is_train = region.cells, plan["is_train"]
        rule = plan["rule"]
        common = {"simulator": self.sim_name, "strategy": result.strategy,
                  "groups": {"train": [int(c) for c in cells[is_train]],
                             "untrained": [int(c) for c in cells[~is_train]]},
                  "skipped": plan["skipped"], "fitting_window": plan["fit_period"],
                  "obs_operator": {"kind": result.obs_operator.kind, "description": result.obs_operator.describe(),
                                   "new_cells": result.obs_operator.new_cells},
                  "scoring_rule": rule.describe() if rule is not None else None,
                  "wb_reference": (result.info or {}).get("wb_reference"),
                  "training_diagnostics": (result.info or {}).get("training_diagnostics") or [],
                  "warmup_days": result.warmup_days, "spinup_years": int(result.spinup_years),
                  "seed": result.seed, "n_evaluations": int(result.n_evaluations),
                  "calibration_wall_time": float(result.wall_time)}
        reports = {}
        discharge = None
        if plan.get("gauges"):
            from .gauge_scores import discharge_report

            discharge = discharge_report(region, self.routed_runoff(region), plan["periods"])
        for pn, per in plan["periods"].items():
            label = period_label(per, plan["fit_period"])
            scored = {row: _merge_scores(pp) for row, pp in self.parts[pn].items()}
            cal = scored["calibrated"]
            rep: dict[str, Any] = {"period": cal["period"], "n_days": cal["n_days"], "scored": label,
                                   "variables": cal["variables"]}
            if "default" in scored:
                rep["baseline"] = {"label": ROW_LABELS["default"], "source": default_source,
                                   "variables": scored["default"]["variables"]}
                rep["difference"] = _difference(cal["variables"], scored["default"]["variables"])
                if "nearest" in scored:
                    rep["nearest"] = {"label": ROW_LABELS["nearest"], "variables": scored["nearest"]["variables"]}
                merged = {k: concat_sums(v) for k, v in self.sums[pn].items()}
                rep["comparisons"] = _comparisons(merged, plan["groups"], cells, result.obs_operator.is_identity, label)
            if self.budgets:
                rep["water_balance"] = _water_balance(region, self.wb[pn], per)
            if discharge is not None:
                rep["discharge"] = discharge[pn]
            reports[pn] = rep
        first = next(iter(reports.values()))
        return json_clean({**common, **first, "periods": reports})


    def routed_runoff(self, region: Region) -> dict[str, np.ndarray]:
        """Every row's runoff + baseflow ``(cell, time)`` in the Region's cell order (gauged regions)."""
        return {row: np.stack([per_cell[int(c)] for c in region.cells]) for row, per_cell in self.runoff.items()}


def _operators_from_runs(region: Region, plan: Mapping[str, Any], runs: Mapping[str, xr.Dataset]) -> dict:
    rule = plan["rule"]
    if rule is None:
        return {}
    rows = np.flatnonzero(np.isin(region.cells, rule.fit_cells))
    fit_sims = {row: np.asarray(ds["sm"].sel(cell=region.cells).values, float)[rows] for row, ds in runs.items()}
    return _fit_operators(region, rule, fit_sims, next(iter(plan["periods"].values())))


def score_runs(region: Region, result: CalibrationResult, runs: Mapping[str, xr.Dataset], *, period=None,
               variables: Sequence[str] = ("sm", "et"), simulator_name: str = "simulator",
               default_source: str | None = None) -> dict[str, Any]:
    """The report of :func:`evaluate` for runs already simulated over every day of ``region``.

    ``runs`` maps row names (``"calibrated"``, ``"default"``, optionally ``"nearest"``) to simulator
    outputs over ``(cell, time)``; every row is scored by the same rule (:mod:`vic_paraformer.scoring`).
    ``vic verify`` calls this with the two VIC runs.
    """
    plan = _plan(region, result, period, variables)
    acc = _Accumulator(plan, list(runs), _operators_from_runs(region, plan, runs), simulator_name,
                       budgets="default" in runs)
    acc.add(region, runs)
    return acc.report(region, result, default_source)


def evaluate(region: Region, result: CalibrationResult | str | Path, simulator: str | Simulator = "waterbalance",
             period=None, variables: Sequence[str] = ("sm", "et"), *,
             simulator_options: Mapping[str, Any] | None = None, baseline: bool = True,
             chunk_cells: int | None = None, nearest: bool = True,
             hydrograph: str | Path | None = None) -> dict[str, Any]:
    """Score a calibration result with a real simulator (see the module docstring for the output).

    ``result`` is a CalibrationResult or the path of one saved with ``CalibrationResult.save``.
    Its ``train_cells`` are reported as "train", the region's other cells as "untrained".
    ``period`` None scores the days after the result's fitting window and the window itself (both
    reported under ``"periods"``; the top level holds the first); a given period is labelled
    held-out or in-sample. ``baseline`` (default on) adds the default-parameter row, ``nearest``
    (default on, needs untrained cells) the nearest-trained-cell transfer, the paired comparisons
    with intervals and verdicts, and the water balance.

    The region is simulated and scored ``chunk_cells`` cells at a time (default: the chunks of a
    lazily opened region, ``Region.open(path, max_memory_gb=...)``, else all cells at once); only
    per-cell scores, block sums and budgets are kept, and the report does not depend on the chunking.
    With several chunks, the training cells are simulated once more to fit the operators first.

    A Region with gauges (``obs_q`` and a routing kernel) also gets ``"discharge"`` per period: every
    row routed and scored at each gauge (KGE, NSE, bias; :mod:`vic_paraformer.gauge_scores`);
    ``hydrograph`` names a PNG to draw the observed and routed discharge into.
    """
    if not isinstance(result, CalibrationResult):
        result = CalibrationResult.open(result)
    plan = _plan(region, result, period, variables)
    if chunk_cells is not None and int(chunk_cells) < 1:
        raise VicParaformerError(f"chunk_cells must be >= 1, got {chunk_cells}")
    sim_obj, sim_name = _simulator(simulator, simulator_options)
    cells, is_train = region.cells, plan["is_train"]
    space = result.parameter_space
    log.info("evaluating %s with simulator %s over %s", result.strategy, sim_name, ", ".join(
        f"{k} {a}..{b}" for k, (a, b) in plan["periods"].items()))
    params = {"calibrated": _params_dataset(region, result, space)}
    base_src = None
    if baseline:
        values, base_src = default_parameters(region, space)
        params["default"] = space.to_dataset(values, cells)
        if nearest and is_train.any() and (~is_train).any():
            params["nearest"] = space.to_dataset(nearest_transfer(region, space.from_dataset(params["calibrated"]),
                                                                  result.train_cells), cells)
    rule = plan["rule"]
    step = int(chunk_cells or (region.chunk_cells if region.lazy else max(region.n_cells, 1)))
    kept: dict[str, xr.Dataset] | None = None
    operators: dict[str, ObservationOperator] = {}
    if step >= region.n_cells:
        kept = {row: simulate(sim_obj, region, p) for row, p in params.items()}
        operators = _operators_from_runs(region, plan, kept)
    elif rule is not None:
        sub = region.subset(rule.fit_cells)
        fit_sims = {row: np.asarray(simulate(sim_obj, sub, p.sel(cell=sub.cells))["sm"].values, float)
                    for row, p in params.items()}
        operators = _fit_operators(region, rule, fit_sims, next(iter(plan["periods"].values())))
    acc = _Accumulator(plan, list(params), operators, sim_name, budgets=baseline)
    for sl, part in region.iter_chunks(step):
        sims = kept if kept is not None else {row: simulate(sim_obj, part, p.isel(cell=sl)) for row, p in params.items()}
        acc.add(part, sims)
        del sims
    report = acc.report(region, result, base_src)
    if hydrograph is not None and plan.get("gauges"):
        from .gauge_scores import plot_hydrographs

        plot_hydrographs(region, acc.routed_runoff(region), hydrograph, period=next(iter(plan["periods"].values())))
    return report


def _budget_piece(part: Region, runs: Mapping[str, xr.Dataset], period) -> dict[str, Any]:
    """Per-cell budgets of ``runs`` over the whole water years of ``period`` (or its days, see
    :func:`~vic_paraformer.budget.budget_window`) and observed ET, for one chunk."""
    cells = part.cells
    prec_ds = select_period(part.ds[["prec"]], period)
    mask, info = budget_window(prec_ds["time"].values)
    prec = np.asarray(prec_ds["prec"].values, float)[:, mask]
    annualise = info["units"] == "mm/yr"
    budgets = {name: annual_budget(select_period(ds, period).isel(time=np.flatnonzero(mask)), cells, prec,
                                   annualise=annualise) for name, ds in runs.items()}
    observed = None
    if part.has("obs_et"):
        obs_et = np.asarray(select_period(part.ds[["obs_et"]], period)["obs_et"].values, float)[:, mask]
        sim = {name: np.asarray(select_period(runs[name], period)["et"].sel(cell=cells).values, float)[:, mask]
               for name in ("calibrated", "default")}
        ref, cal = observed_et(obs_et, sim["calibrated"], annualise=annualise)
        _, dflt = observed_et(obs_et, sim["default"], annualise=annualise)
        observed = (ref, cal, dflt)
    return {"budgets": budgets, "observed": observed, "window": info}


def _water_balance(region: Region, pieces: Sequence[Mapping[str, Any]], period) -> dict[str, Any]:
    """The water-balance report from the :func:`_budget_piece` of consecutive chunks of cells."""
    cells = region.cells
    budgets = {name: {k: np.concatenate([p["budgets"][name][k] for p in pieces]) for k in b}
               for name, b in pieces[0]["budgets"].items()}
    observed = None
    if pieces[0]["observed"] is not None:
        observed = tuple(np.concatenate([p["observed"][i] for p in pieces]) for i in range(3))
    window = pieces[0]["window"]
    warnings = budget_warnings(budgets["calibrated"], cells,
                               reference_et=budgets["default"]["ET"] if "default" in budgets else None,
                               observed=observed, units=window["units"], default=budgets.get("default"))
    out = {"period": [window["start"], window["end"]], "units": window["units"], "window": window,
           "reference": "default-parameter run of the same simulator; observed ET compared separately",
           "cells": budget_table(budgets, cells),
           "median": {name: {k: float(np.nanmedian(v)) for k, v in b.items()} for name, b in budgets.items()},
           "warnings": warnings}
    if observed is not None and np.isfinite(observed[0]).any():
        out["observed_et"] = {"median": {"observed": float(np.nanmedian(observed[0])),
                                         "calibrated": float(np.nanmedian(observed[1])),
                                         "default": float(np.nanmedian(observed[2]))},
                              "n_cells": int(np.isfinite(observed[0]).sum()),
                              "note": "on the days with ET observations only"}
    return out


def water_balance_report(region: Region, runs: Mapping[str, xr.Dataset], period) -> dict[str, Any]:
    """Per-cell budgets of ``runs`` (``"default"``, ``"calibrated"``) over ``period`` and the warnings."""
    return _water_balance(region, [_budget_piece(region, runs, period)], period)


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write an evaluation dict as JSON atomically (strict JSON: NaN already mapped to null)."""
    return write_text_atomic(path, json.dumps(json_clean(metrics), indent=2, allow_nan=False) + "\n")


def _fmt(v) -> str:
    return "     -" if v is None else f"{v:6.3f}"


def format_rows(entry: Mapping[str, Any]) -> list[str]:
    """The median NSE/RMSE of every row (calibrated, default, nearest transfer) per variable and group."""
    rows = {"calibrated": entry["variables"], "default": (entry.get("baseline") or {}).get("variables", {}),
            "nearest": (entry.get("nearest") or {}).get("variables", {})}
    lines = [f"  {'variable':<13} {'cells':<10} {'row':<18} {'n':>5}  {'NSE':>6}  {'RMSE':>6}  {'PCC':>6}   (medians)"]
    for var in entry["variables"]:
        name = {"sm": "sm raw", THROUGH_H: "sm through H"}.get(var, var)
        for g in ("train", "untrained"):
            for row, block in rows.items():
                if var not in block or (row == "nearest" and g == "train"):
                    continue
                s = block[var][g]["summary"]
                if not s["nse"]["n"] and not s["rmse"]["n"]:
                    continue
                label = row + (" + H" if var == THROUGH_H else "")
                lines.append(f"  {name:<13} {g:<10} {label:<18} {len(block[var][g]['cells']):>5}  "
                             f"{_fmt(s['nse']['median'])}  {_fmt(s['rmse']['median'])}  {_fmt(s['pcc']['median'])}")
    return lines


def format_verdicts(entry: Mapping[str, Any]) -> list[str]:
    """One verdict line per comparison: the median paired NSE difference, its interval and the verdict."""
    from .verdict import format_comparison

    lines = []
    for c in entry.get("comparisons", []):
        name = {"sm": "sm raw", THROUGH_H: "sm through H"}.get(c["variable"], c["variable"])
        lines.append("  " + format_comparison(f"{name:<13} {c['group']:<10} {c['row']} vs {c['baseline']}", c))
    return lines


def format_table(metrics: Mapping[str, Any]) -> str:
    """The report as text, per scored period: every row's medians, the verdict lines (calibrated against
    each baseline, with the 95 % interval of the median paired difference), then the water balance."""
    lines = [f"{metrics.get('strategy', '')} evaluated with {metrics.get('simulator')}"
             + (f"; fitted on {metrics['fitting_window'][0]}..{metrics['fitting_window'][1]}"
                if metrics.get("fitting_window") else "")]
    rule = metrics.get("scoring_rule")
    if rule:
        lines.append(f"every row's soil moisture through its own {rule['kind']} operator fitted on the "
                     f"{rule['n_fit_cells']} training cell(s) over the fitting window (same rule for every row)")
    for name, entry in (metrics.get("periods") or {"score": metrics}).items():
        lines.append(f"scored on {name.replace('_', ' ')} {entry['period'][0]}..{entry['period'][1]} "
                     f"({entry['n_days']} days, {entry.get('scored', '')})")
        lines += format_rows(entry)
        if entry.get("discharge"):
            from .gauge_scores import format_discharge

            lines += format_discharge(entry["discharge"])
        verdicts = format_verdicts(entry)
        if verdicts:
            lines.append("  verdicts (median paired difference over cells, 95 % interval):")
            lines += verdicts
        wb = entry.get("water_balance")
        if wb:
            lines.append(f"  water balance, {wb['window']['label']} (median over cells):")
            for run, m in wb["median"].items():
                lines.append(f"    {run:<11} " + "  ".join(f"{k} {'nan' if v is None else f'{v:.0f}'}"
                                                         for k, v in m.items()))
            for w in wb["warnings"]:
                lines.append(f"  WARNING: {w}")
    for var, why in metrics.get("skipped", {}).items():
        lines.append(f"{var:<13} skipped: {why}")
    ref = metrics.get("wb_reference")
    if ref:
        lines.append("water-balance reference of the calibration: "
                     + (ref.get("description") or ref.get("kind") if isinstance(ref, Mapping) else str(ref)))
    for d in metrics.get("training_diagnostics") or []:
        lines.append(f"training warning: {d.get('message', d) if isinstance(d, Mapping) else d}")
    if metrics.get("baseline"):
        lines.append(f"default parameters: {metrics['baseline']['source']}")
    return "\n".join(lines)
