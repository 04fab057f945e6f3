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
from .calibrator import CalibrationResult
from .errors import ParameterError, SimulatorError, VicParaformerError
from .metrics import METRIC_FUNCTIONS, summarize
from .parameters import ParameterSpace
from .region import Region
from .simulators.base import Simulator, select_period

log = logging.getLogger(__name__)

#: Simulated variable -> the region variable holding its observations.
OBSERVATION_OF: dict[str, str] = {"sm": "obs_sm", "et": "obs_et"}
GROUPS = ("train", "untrained", "all")


def _simulator(simulator: str | Simulator, options: Mapping[str, Any] | None) -> tuple[Simulator, str]:
    if isinstance(simulator, Simulator):
        return simulator, simulator.name or type(simulator).__name__
    if isinstance(simulator, str):
        from .registry import get_simulator

        return get_simulator(simulator, **dict(options or {})), simulator
    raise SimulatorError(f"simulator must be a registered name or a Simulator, got {type(simulator).__name__}")


def _period(period) -> tuple | None:
    if period is None:
        return None
    if isinstance(period, slice):
        return (period.start, period.stop)
    if isinstance(period, (list, tuple)) and len(period) == 2:
        return (period[0], period[1])
    raise VicParaformerError(f"period must be (start, end), got {period!r}")


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
                        simulator_options: Mapping[str, Any] | None = None, label: str = "parameters") -> dict[str, Any]:
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
    sim_obj, sim_name = _simulator(simulator, simulator_options)
    period = _period(period)
    ds_params = _params_dataset(region, params, space)
    log.info("evaluating %s with simulator %s over %s", label, sim_name, period or "all days")
    out_sim = sim_obj.simulate(region, ds_params, period=period)
    train = np.asarray(region.training_cells if train_cells is None else list(train_cells))
    cells = region.cells
    is_train = np.isin(cells, train)
    groups = {"train": cells[is_train], "untrained": cells[~is_train], "all": cells}
    scored = score_simulation(region, out_sim, period, groups, list(available), simulator_name=sim_name)
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
                     variables: Sequence[str] = ("sm", "et"), *, simulator_name: str = "simulator") -> dict[str, Any]:
    """Per-cell RMSE/PCC/NSE of an existing simulation against the region's observations.

    ``out_sim`` is a simulator output over ``(cell, time)`` covering ``period``; ``groups`` maps a
    name to the cell ids scored together (e.g. ``{"DAS-S8": train_ids, "DAS-S8NG": neighbour_ids}``).
    Variables without observations in the region are left out. Returns
    ``{"period", "n_days", "variables": {var: {"observation", group: {"cells", "rmse", "pcc", "nse",
    "summary"}}}}`` with plain lists (NaN kept as float; pass through :func:`json_clean` for JSON).
    """
    period = _period(period)
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
        out["variables"][var] = {"observation": obs_name}
        for g, ids in groups.items():
            rows = np.array([pos[c] for c in ids], dtype=int)
            out["variables"][var][g] = _group_metrics(sim, obs, cells, rows)
    return out


def evaluate(region: Region, result: CalibrationResult | str | Path, simulator: str | Simulator = "waterbalance",
             period=None, variables: Sequence[str] = ("sm", "et"), *,
             simulator_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Score a calibration result with a real simulator (see the module docstring for the output).

    ``result`` is a CalibrationResult or the path of one saved with ``CalibrationResult.save``.
    Its ``train_cells`` are reported as "train", the region's other cells as "untrained".
    """
    if not isinstance(result, CalibrationResult):
        result = CalibrationResult.open(result)
    out = evaluate_parameters(region, result.params, simulator, period, variables, train_cells=result.train_cells,
                              parameter_space=result.parameter_space, simulator_options=simulator_options,
                              label=result.strategy)
    out["seed"] = result.seed
    out["n_evaluations"] = int(result.n_evaluations)
    out["calibration_wall_time"] = float(result.wall_time)
    return out


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write an evaluation dict as JSON atomically (strict JSON: NaN already mapped to null)."""
    return write_text_atomic(path, json.dumps(json_clean(metrics), indent=2, allow_nan=False) + "\n")


def format_table(metrics: Mapping[str, Any]) -> str:
    """A short text table of the median metrics per variable and cell group."""
    def f(v):
        return "     -" if v is None else f"{v:6.3f}"

    lines = [f"{metrics.get('strategy', '')} evaluated with {metrics.get('simulator')} over "
             f"{metrics['period'][0]}..{metrics['period'][1]} ({metrics['n_days']} days)",
             f"{'var':<4} {'cells':<10} {'n':>5}  {'RMSE':>6}  {'PCC':>6}  {'NSE':>6}   (medians)"]
    for var, block in metrics["variables"].items():
        for g in ("train", "untrained"):
            s = block[g]["summary"]
            lines.append(f"{var:<4} {g:<10} {len(block[g]['cells']):>5}  {f(s['rmse']['median'])}  "
                         f"{f(s['pcc']['median'])}  {f(s['nse']['median'])}")
    for var, why in metrics.get("skipped", {}).items():
        lines.append(f"{var:<4} skipped: {why}")
    return "\n".join(lines)
