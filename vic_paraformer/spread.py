"""The spread of simulated soil moisture and ET across a calibration's parameter ensemble.

A result with parameter uncertainty (:mod:`vic_paraformer.uncertainty`) holds, per cell, a set of
plausible parameter sets. :func:`ensemble_sets` turns it into whole-region parameter sets to run:

* **members** when the result stores them (deep ensembles of at most 16 networks): each member is a
  set the calibration actually produced, jointly consistent across parameters and cells, so the
  5-95 % band of their outputs is the spread of the model's answer under that ensemble;
* otherwise **the 5, 50 and 95 % quantile sets** (the tolerance sets of SCE-UA/DDS, ensembles of
  more than 16 members): each combines per-parameter marginal quantiles, e.g. ``q05`` of ``infilt``
  with ``q05`` of ``Ds``, which no single set need have held. Three runs are cheap and bracket the
  answer, but their band is not a quantile of the outputs; the report says which kind it is.

A result without either is an error (one line). :func:`spread_report` takes the members' runs and
returns, per scored period:

``band``     per cell and variable (``sm``, ``et``): the mean over the scored days of the width
             of the 5-95 % band across members (``width``, in the variable's units), the mean of the
             median series (``median``) and their ratio (``relative``); with summaries over cells.
``metrics``  per cell, variable (``sm`` raw, ``sm_through_H`` through each member's own operator,
             ``et``) and metric (NSE, RMSE, PCC): the 5/50/95 % across members; the region
             summary is the median over cells of each, and the spread of the per-member region
             medians (``member_medians``).

:func:`format_spread` prints it in the layout of ``evaluate``'s table; :func:`plot_band` draws the
band of a few cells; :func:`band_dataset` keeps the band series (``q05/q50/q95`` over cell x time).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .calibrator import CalibrationResult
from .errors import ParameterError
from .metrics import summarize
from .simulators.base import select_period
from .uncertainty import QUANTILES, SUFFIXES

log = logging.getLogger(__name__)

#: Variables whose band is reported.
BAND_VARIABLES: tuple[str, ...] = ("sm", "et")
#: Levels of the band (the 90 % interval across members) and its median.
BAND_LEVELS: tuple[float, float, float] = QUANTILES
#: Metrics whose spread across members is reported.
SPREAD_METRICS: tuple[str, ...] = ("nse", "rmse", "pcc")
#: Cells drawn by :func:`plot_band` at most.
PLOT_CELLS: int = 4


def ensemble_sets(result: CalibrationResult, source: str | None = None) -> tuple[list[str], list[CalibrationResult], str]:
    """The parameter sets to run for ``result``'s ensemble: ``(labels, results, kind)``.

    ``kind`` is ``"members"`` (every stored member, labels ``member 0``..) or ``"quantile sets"``
    (``q05``, ``q50``, ``q95``) when only quantiles are stored; see the module docstring for why.
    ParameterError (one line, naming ``source``) when the result has no parameter uncertainty.
    """
    where = source or result.source or "the result"
    unc = result.uncertainty
    if unc is None:
        raise ParameterError(f"{where}: no parameter ensemble to run (the result stores neither ensemble members nor "
                             "5/50/95 % quantiles); calibrate with -o ensemble=K (DL strategies) or "
                             "-o uncertainty_tolerance=T (sceua, dds)")
    if unc.n_members:
        return [f"member {k}" for k in range(unc.n_members)], [result.choose(k) for k in range(unc.n_members)], "members"
    space = result.parameter_space
    sets = []
    for i, suffix in enumerate(SUFFIXES):
        params = result.params.copy()
        values = space.clip(unc.quantiles[i])
        for j, name in enumerate(space.names):
            params[name] = ("cell", values[:, j])
        sets.append(dataclasses.replace(result, params=params, uncertainty=None,
                                        info={**result.info, "values": f"{suffix} quantile set"}))
    return list(SUFFIXES), sets, "quantile sets"


def _series(runs: Sequence[xr.Dataset], var: str, cells: np.ndarray, period) -> np.ndarray:
    """``(member, cell, day)`` of ``var`` over ``period``."""
    return np.stack([np.asarray(select_period(ds, period)[var].sel(cell=cells).values, float) for ds in runs])


def band_dataset(region, runs: Sequence[xr.Dataset], period=None,
                 variables: Sequence[str] = BAND_VARIABLES) -> xr.Dataset:
    """The 5/50/95 % across members of each variable, ``<var>_q05/_q50/_q95`` over ``(cell, time)``."""
    cells = region.cells
    times = select_period(runs[0], period)["time"].values
    data = {}
    for var in variables:
        if var not in runs[0]:
            continue
        q = np.quantile(_series(runs, var, cells, period), BAND_LEVELS, axis=0)
        units = runs[0][var].attrs.get("units", "")
        for level, suffix, arr in zip(BAND_LEVELS, SUFFIXES, q):
            data[f"{var}_{suffix}"] = (("cell", "time"), arr.astype("f4"), {
                "long_name": f"{var}: {level:.0%} quantile across the parameter ensemble's runs", "units": units})
    return xr.Dataset(data, coords={"cell": cells, "time": times})


def _band(region, runs: Sequence[xr.Dataset], period) -> dict[str, Any]:
    cells = region.cells
    out: dict[str, Any] = {}
    for var in BAND_VARIABLES:
        if var not in runs[0]:
            continue
        series = _series(runs, var, cells, period)
        lo, med, hi = np.quantile(series, BAND_LEVELS, axis=0)
        width = np.nanmean(hi - lo, axis=1)
        median = np.nanmean(med, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(np.abs(median) > 0, width / np.abs(median), np.nan)
        out[var] = {"units": runs[0][var].attrs.get("units", ""), "cells": [int(c) for c in cells],
                    "width": width.tolist(), "median": median.tolist(), "relative": relative.tolist(),
                    "summary": {"width": summarize(width), "relative": summarize(relative)}}
    return out


def _metric_spread(member_reports: Sequence[Mapping[str, Any]], period_name: str) -> dict[str, Any]:
    """Per cell and metric, the 5/50/95 % across members; region medians and their spread across members."""
    entries = [r["periods"][period_name] if "periods" in r else r for r in member_reports]
    out: dict[str, Any] = {}
    for key, block in entries[0]["variables"].items():
        out[key] = {}
        for group in ("train", "untrained", "all"):
            if group not in block:
                continue
            cells = block[group]["cells"]
            g: dict[str, Any] = {"cells": cells}
            for metric in SPREAD_METRICS:
                vals = np.array([[np.nan if v is None else v for v in e["variables"][key][group][metric]]
                                 for e in entries], float)  # (member, cell)
                if vals.size and np.isfinite(vals).any():
                    with np.errstate(all="ignore"):
                        q = np.nanquantile(vals, BAND_LEVELS, axis=0) if vals.shape[1] else np.empty((3, 0))
                else:
                    q = np.full((3, len(cells)), np.nan)
                per_member = [e["variables"][key][group]["summary"][metric]["median"] for e in entries]
                pm = np.array([np.nan if v is None else v for v in per_member], float)
                g[metric] = {suffix: q[i].tolist() for i, suffix in enumerate(SUFFIXES)}
                g[metric]["summary"] = {suffix: summarize(q[i])["median"] for i, suffix in enumerate(SUFFIXES)}
                g[metric]["member_medians"] = pm.tolist()
            out[key][group] = g
    return out


def spread_report(region, result: CalibrationResult, labels: Sequence[str], runs: Sequence[xr.Dataset],
                  kind: str, *, period=None, variables: Sequence[str] = ("sm", "et"),
                  simulator_name: str = "simulator") -> dict[str, Any]:
    """The spread of SM and ET across the ensemble's ``runs`` (one per label, every day of ``region``).

    Each member is scored alone by the rule of :func:`vic_paraformer.evaluation.score_runs` (raw and
    through its own operator), so its metrics are those ``evaluate`` would report for it. Returns
    ``{"kind", "labels", "n_runs", "periods": {name: {"period", "scored", "band", "metrics"}}}``
    (NaN kept; pass through :func:`vic_paraformer.evaluation.json_clean` for JSON).
    """
    from .evaluation import score_runs

    if len(runs) != len(labels) or not runs:
        raise ParameterError(f"{len(labels)} ensemble label(s) for {len(runs)} run(s)")
    member_reports = [score_runs(region, result, {"calibrated": ds}, period=period, variables=variables,
                                 simulator_name=simulator_name) for ds in runs]
    periods = {}
    for name, entry in member_reports[0]["periods"].items():
        per = tuple(entry["period"])
        periods[name] = {"period": list(per), "scored": entry.get("scored"), "band": _band(region, runs, per),
                         "metrics": _metric_spread(member_reports, name)}
    return {"kind": kind, "labels": list(labels), "n_runs": len(runs), "periods": periods}


def _f(v, width: int = 7, digits: int = 3) -> str:
    return f"{'-':>{width}}" if v is None or not np.isfinite(v) else f"{v:{width}.{digits}f}"


def format_spread(block: Mapping[str, Any]) -> str:
    """The ensemble's spread as text: per period, the band width of SM and ET (median over cells), then per
    variable and cell group the 5/50/95 % across members of each metric (median over cells)."""
    lines = [f"parameter ensemble: {block['n_runs']} {block['kind']} ({', '.join(block['labels'][:6])}"
             + (", ..." if len(block["labels"]) > 6 else "") + ")"]
    for name, entry in block["periods"].items():
        lines.append(f"  {name.replace('_', ' ')} {entry['period'][0]}..{entry['period'][1]} ({entry.get('scored', '')}):")
        for var, b in entry["band"].items():
            s = b["summary"]
            lines.append(f"    {var} 5-95 % band across runs: width {_f(s['width']['median'], 0, 4)} {b['units']} "
                         f"(median over cells; p5 {_f(s['width']['p5'], 0, 4)}, p95 {_f(s['width']['p95'], 0, 4)}), "
                         f"{_f(100 * s['relative']['median'] if s['relative']['median'] is not None else None, 0, 1)} "
                         "% of the median series")
        lines.append(f"    {'variable':<13} {'cells':<10} {'n':>4}  " + "  ".join(
            f"{m.upper() + ' q05/q50/q95':>23}" for m in SPREAD_METRICS) + "   (medians over cells)")
        for var, groups in entry["metrics"].items():
            label = {"sm": "sm raw", "sm_through_H": "sm through H"}.get(var, var)
            for g in ("train", "untrained"):
                if g not in groups or not groups[g]["cells"]:
                    continue
                cols = []
                for m in SPREAD_METRICS:
                    s = groups[g][m]["summary"]
                    cols.append(f"{_f(s['q05'])}/{_f(s['q50'])}/{_f(s['q95'])}")
                lines.append(f"    {label:<13} {g:<10} {len(groups[g]['cells']):>4}  " + "  ".join(f"{c:>23}" for c in cols))
    return "\n".join(lines)


def per_cell_table(block: Mapping[str, Any], region) -> pd.DataFrame:
    """One row per cell: ids, lat/lon, band width and median of SM and ET, and the 5/50/95 % across
    members of each metric, per scored period."""
    table = pd.DataFrame({"cell": region.cells, "lat": region.ds["lat"].values, "lon": region.ds["lon"].values})
    pos = {int(c): i for i, c in enumerate(region.cells)}
    for pname, entry in block["periods"].items():
        for var, b in entry["band"].items():
            idx = [pos[c] for c in b["cells"]]
            for what in ("width", "median"):
                col = np.full(region.n_cells, np.nan)
                col[idx] = [np.nan if v is None else v for v in b[what]]
                table[f"{var}_band_{what}_{pname}"] = col
        for var, groups in entry["metrics"].items():
            g = groups["all"]
            idx = [pos[c] for c in g["cells"]]
            for m in SPREAD_METRICS:
                for suffix in SUFFIXES:
                    col = np.full(region.n_cells, np.nan)
                    col[idx] = [np.nan if v is None else v for v in g[m][suffix]]
                    table[f"{var}_{m}_{suffix}_{pname}"] = col
    return table


def plot_cells(region, result: CalibrationResult, n: int = PLOT_CELLS) -> np.ndarray:
    """Up to ``n`` cells to draw: half training cells, half untrained, spread over the region's order."""
    cells = region.cells
    train = cells[np.isin(cells, result.train_cells)]
    other = cells[~np.isin(cells, result.train_cells)]
    k_train = min(len(train), max(n - min(len(other), n // 2), 0))
    pick = [train[i] for i in np.linspace(0, len(train) - 1, k_train).round().astype(int)] if k_train else []
    k_other = min(len(other), n - len(pick))
    pick += [other[i] for i in np.linspace(0, len(other) - 1, k_other).round().astype(int)] if k_other else []
    return np.array(sorted(set(int(c) for c in pick)), dtype=cells.dtype)


def plot_band(region, band: xr.Dataset, cells: Sequence[int], path: str | Path, *, title: str = "",
              train_cells: Sequence[int] = ()) -> Path:
    """A figure of the 5-95 % band and median of SM and ET for ``cells`` (one column each, those in
    ``train_cells`` labelled), with the observations where the region has them; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._io import atomic_path

    variables = [v for v in BAND_VARIABLES if f"{v}_q50" in band]
    fig, axes = plt.subplots(len(variables), len(cells), figsize=(3.6 * len(cells), 2.6 * len(variables)),
                             squeeze=False, sharex=True)
    times = pd.DatetimeIndex(band["time"].values)
    for j, cell in enumerate(cells):
        for i, var in enumerate(variables):
            ax = axes[i, j]
            b = band.sel(cell=cell)
            ax.fill_between(times, b[f"{var}_q05"].values, b[f"{var}_q95"].values, color="tab:blue", alpha=0.3,
                            label="5-95 % across runs")
            ax.plot(times, b[f"{var}_q50"].values, color="tab:blue", lw=1, label="median")
            obs = {"sm": "obs_sm", "et": "obs_et"}[var]
            if region.has(obs):
                o = region.ds[obs].sel(cell=cell).sel(time=slice(times[0], times[-1]))
                ax.plot(pd.DatetimeIndex(o["time"].values), o.values, ".", ms=2, color="k", label=obs)
            if i == 0:
                kind = "training" if int(cell) in set(int(c) for c in train_cells) else "untrained"
                ax.set_title(f"cell {int(cell)} ({kind})", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{var} ({band[f'{var}_q50'].attrs.get('units', '')})", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def evaluate_ensemble(region, result: CalibrationResult, simulator="waterbalance", period=None,
                      variables: Sequence[str] = ("sm", "et"), *, simulator_options: Mapping[str, Any] | None = None,
                      source: str | None = None) -> tuple[dict[str, Any], xr.Dataset]:
    """Run every set of :func:`ensemble_sets` with ``simulator`` over the whole region and report the spread.

    Returns ``(block, band)``: the :func:`spread_report` and the :func:`band_dataset` over every day.
    The whole region is simulated at once for each set (the band needs every member's series).
    """
    from .ensemble import simulate
    from .evaluation import _params_dataset, _simulator

    labels, sets, kind = ensemble_sets(result, source)
    sim_obj, sim_name = _simulator(simulator, simulator_options)
    log.info("running the %d %s of the parameter ensemble with %s", len(sets), kind, sim_name)
    runs = [simulate(sim_obj, region, _params_dataset(region, r, r.parameter_space)) for r in sets]
    block = spread_report(region, result, labels, runs, kind, period=period, variables=variables,
                          simulator_name=sim_name)
    return block, band_dataset(region, runs)
