"""Accuracy of a surrogate against the simulator it imitates (:func:`evaluate_surrogate`).

Fresh parameter sets (a Latin hypercube per cell, seeded with a seed the training never used)
are run through both the simulator and the surrogate; every (sample, cell) series is scored
with :mod:`vic_paraformer.metrics` (NSE, RMSE, PCC, days after the surrogate's warm-up) for every
output the surrogate predicts (sm, et, and runoff and baseflow in mm/day, which a discharge
objective routes to gauges). The scores are summarised (median, 5th percentile, ...) over

``held_out_samples``  training cells with the fresh (never trained on) parameter samples;
``held_out_cells``    the cells the surrogate held out for validation (when evaluated on its
                      training region);
``all``               every cell of the region.

:func:`write_report` saves the report as JSON, the per-cell scores as CF-1.8 netCDF (``scores.nc``)
and plots (time series of a few cells, NSE CDF).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from .._io import atomic_path, to_netcdf_atomic, write_text_atomic
from ..cf import flat_attributes
from ..errors import SurrogateError
from ..region import Region
from .data import sample_parameters
from .model import OUTPUT_UNITS, Surrogate

log = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 104729  # keeps evaluation samples apart from any training seed's samples


#: Bytes of memory per (sample, cell, day) of one evaluation chunk: the simulator's working arrays
#: (the water balance measured ~280 B per series-day) plus both float64 output copies for scoring.
EVAL_BYTES_PER_SERIES_DAY = 320


def evaluation_chunks(n_cells: int, n_samples: int, n_days: int, max_memory_gb: float) -> list[slice]:
    """Consecutive cell slices whose ``n_samples x cells x n_days`` series fit ``max_memory_gb``."""
    if max_memory_gb <= 0:
        raise SurrogateError(f"max_memory_gb must be > 0, got {max_memory_gb}")
    per = int(max_memory_gb * 1e9 // (EVAL_BYTES_PER_SERIES_DAY * n_samples * n_days))
    per = max(1, min(n_cells, per))
    return [slice(i, min(i + per, n_cells)) for i in range(0, n_cells, per)]


def evaluate_surrogate(surrogate: Surrogate | str | Path, region: Region, *, simulator: str | None = None,
                       n_samples: int = 4, seed: int = 0, simulator_options: dict | None = None, runner=None,
                       batch_size: int = 512, progress: bool = False, max_memory_gb: float = 1.0,
                       n_series_cells: int = 3) -> dict[str, Any]:
    """Score ``surrogate`` against ``simulator`` (default: the one it was trained on) on ``region``.

    Returns a JSON-serialisable report with per-group summaries (see the module docstring),
    per-cell medians over samples, timings, and the raw series of sample 0 for ``n_series_cells``
    cells (the first held-out cell and the first others) under ``"_series"`` (numpy arrays, for
    plotting; dropped by :func:`write_report`'s JSON).

    Memory is bounded by ``max_memory_gb`` whatever the region's size: the cells are simulated,
    predicted and scored in consecutive chunks (see :func:`evaluation_chunks`); scores do not
    depend on the chunking (every series is scored on its own). With a region opened lazily
    (``Region.open(path, max_memory_gb=...)``) only the current chunk's forcing is read.
    """
    sur = Surrogate.load(surrogate) if isinstance(surrogate, (str, Path)) else surrogate
    check_report_region(sur, region)
    if n_samples < 1:
        raise SurrogateError(f"n_samples must be >= 1, got {n_samples}")
    sim_name = simulator or sur.simulator
    space = sur.parameter_space
    theta = sample_parameters(space, n_samples, region.n_cells, seed=seed + EVAL_SEED_OFFSET, per_cell=True)
    w = min(sur.warmup, region.n_days - 2)
    same_region = sur.region_fingerprint == region.fingerprint()
    val_cells = np.asarray(sur.info.get("val_cells", []) if same_region else [], dtype=int)
    is_val = np.isin(region.cells, val_cells)
    held, rest = np.flatnonzero(is_val), np.flatnonzero(~is_val)
    plot_idx = np.sort(np.concatenate([held[:1], rest[:max(0, n_series_cells - len(held[:1]))]])).astype(int)
    sim = None
    if runner is None:
        from ..registry import get_simulator

        sim = get_simulator(sim_name, **(simulator_options or {}))

    chunks = evaluation_chunks(region.n_cells, n_samples, region.n_days, max_memory_gb)
    if len(chunks) > 1:
        log.info("evaluating %d cells in %d chunks of <= %d cells (max_memory_gb=%g)", region.n_cells, len(chunks),
                 chunks[0].stop - chunks[0].start, max_memory_gb)
    names = tuple(sur.output_names)
    parts: dict[str, dict[str, list[np.ndarray]]] = {v: {} for v in names}
    series_sim = np.empty((len(plot_idx), region.n_days, len(names)), np.float32)
    series_sur = np.empty_like(series_sim)
    t_sim = t_sur = 0.0
    for sl in chunks:
        sub = region.load_cells(sl)  # in memory: this chunk only, also from a lazily opened region
        params = space.to_dataset(theta[:, sl], sub.cells, dims=("sample", "cell"))
        t0 = time.perf_counter()
        ref = runner.run(sub, params) if runner is not None else sim.simulate(sub, params)
        t_sim += time.perf_counter() - t0
        lacking = [v for v in names if v not in ref]
        if lacking:
            raise SurrogateError(f"simulator {sim_name!r} returned no {', '.join(lacking)}; the surrogate predicts "
                                 f"{', '.join(names)}")
        ref_y = np.stack([np.asarray(ref[v].transpose("sample", "cell", "time").values, float) for v in names], -1)
        del ref
        t0 = time.perf_counter()
        pred_y = sur.predict_ensemble(sub, theta[:, sl], batch_size=batch_size, progress=progress)
        t_sur += time.perf_counter() - t0
        for k, v in enumerate(names):
            for m, vals in metrics.all_metrics(pred_y[:, :, w:, k], ref_y[:, :, w:, k]).items():
                parts[v].setdefault(m, []).append(vals)
        inside = (plot_idx >= sl.start) & (plot_idx < sl.stop)
        series_sim[inside] = ref_y[0, plot_idx[inside] - sl.start]
        series_sur[inside] = pred_y[0, plot_idx[inside] - sl.start]
        del ref_y, pred_y
    scores = {v: {m: np.concatenate(vals, axis=1) for m, vals in per.items()} for v, per in parts.items()}

    groups = {"all": np.ones(region.n_cells, bool)}
    if is_val.any():
        groups["held_out_cells"] = is_val
    groups["held_out_samples"] = ~is_val if is_val.any() else np.ones(region.n_cells, bool)
    summary = {g: {v: {m: metrics.summarize(scores[v][m][:, mask]) for m in scores[v]} for v in names}
               for g, mask in groups.items()}
    cell_days = n_samples * region.n_cells * region.n_days
    report = {
        "simulator": sim_name,
        "surrogate_simulator": sur.simulator,
        "region": region.source,
        "n_cells": region.n_cells,
        "n_days": region.n_days,
        "n_samples": n_samples,
        "seed": seed,
        "warmup_days_excluded": w,
        "summary": summary,
        "per_cell": {"cell": region.cells.tolist(), "held_out": is_val.tolist(),
                     **{f"{v}_{m}": np.nanmedian(scores[v][m], axis=0).tolist() for v in names for m in scores[v]}},
        "timing": {"simulator_seconds": t_sim, "surrogate_seconds": t_sur,
                   "simulator_cell_days_per_s": cell_days / max(t_sim, 1e-9),
                   "surrogate_cell_days_per_s": cell_days / max(t_sur, 1e-9), "chunks": len(chunks)},
        "_cells": {"lat": np.asarray(region.ds["lat"].values, float), "lon": np.asarray(region.ds["lon"].values, float)},
        "outputs": list(names),
        "_series": {"time": region.times, "cells": region.cells[plot_idx], "sim": series_sim, "sur": series_sur,
                    "held_out": is_val[plot_idx]},
    }
    return report


def format_report(report: dict[str, Any]) -> str:
    """Human-readable table of the summaries."""
    lines = [f"surrogate vs {report['simulator']}: {report['n_cells']} cells x {report['n_days']} days, "
             f"{report['n_samples']} fresh parameter samples per cell (first {report['warmup_days_excluded']} days excluded)"]
    for g, per_var in report["summary"].items():
        for v, per_m in per_var.items():
            parts = [f"{m.upper()} median {s['median']:.4g} p5 {s['p5']:.4g}" if m != "rmse"
                     else f"RMSE median {s['median']:.4g} p95 {s['p95']:.4g}" for m, s in per_m.items()]
            n = next(iter(per_m.values()))["n"]
            lines.append(f"  {g:<17} {v:<8} (n={n}): " + "; ".join(parts))
    t = report["timing"]
    lines.append(f"  throughput: surrogate {t['surrogate_cell_days_per_s']:.4g} cell-days/s, "
                 f"simulator {t['simulator_cell_days_per_s']:.4g} cell-days/s")
    return "\n".join(lines)


def scores_dataset(report: dict[str, Any]):
    """The per-cell scores of a report as an :class:`xarray.Dataset` over ``cell`` (``held_out`` flag,
    ``<output>_<rmse|pcc|nse>`` medians over samples (sm, et, runoff, baseflow); ``lat``/``lon`` when the report has them), the
    report's settings and summaries as global attributes (``summary_<group>_<var>_<metric>_<stat>``)."""
    import xarray as xr

    per = report["per_cell"]
    data: dict[str, Any] = {"held_out": ("cell", np.asarray(per["held_out"], np.int8))}
    for key, values in per.items():
        if key not in ("cell", "held_out"):
            data[key] = ("cell", np.asarray(values, float))
    coords: dict[str, Any] = {"cell": np.asarray(per["cell"])}
    if "_cells" in report:
        coords.update(lat=("cell", report["_cells"]["lat"]), lon=("cell", report["_cells"]["lon"]))
    ds = xr.Dataset(data, coords=coords)
    settings = {k: report[k] for k in ("simulator", "surrogate_simulator", "region", "n_cells", "n_days", "n_samples",
                                       "seed", "warmup_days_excluded") if report.get(k) is not None}
    ds.attrs = flat_attributes({**settings, "summary": report["summary"]})
    return ds


def write_report(report: dict[str, Any], out_dir: str | Path, n_plot_cells: int = 3) -> dict[str, Path]:
    """Write ``metrics.json``, ``scores.nc`` (:func:`scores_dataset`, CF-1.8), ``timeseries.png`` and
    ``nse_cdf.png`` into ``out_dir`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "metrics.json", "scores": out_dir / "scores.nc", "timeseries": out_dir / "timeseries.png",
             "cdf": out_dir / "nse_cdf.png"}
    plain = {k: v for k, v in report.items() if not k.startswith("_")}
    write_text_atomic(paths["json"], json.dumps(plain, indent=1, default=float))
    to_netcdf_atomic(scores_dataset(report), paths["scores"], kind="surrogate-scores", call="write_report")

    ser = report["_series"]
    held = np.flatnonzero(ser["held_out"])
    rest = np.flatnonzero(~np.asarray(ser["held_out"]))
    pick = list(held[:1]) + list(rest[: max(0, n_plot_cells - len(held[:1]))])
    names = list(report.get("outputs") or ("sm", "et"))
    fig, axes = plt.subplots(len(pick), len(names), figsize=(6 * len(names), 2.6 * len(pick)), squeeze=False)
    for row, i in enumerate(pick):
        for k, (v, unit) in enumerate((v, OUTPUT_UNITS[v]) for v in names):
            ax = axes[row, k]
            ax.plot(ser["time"], ser["sim"][i, :, k], lw=1.0, label=report["simulator"])
            ax.plot(ser["time"], ser["sur"][i, :, k], lw=1.0, ls="--", label="surrogate")
            tag = " (held-out cell)" if ser["held_out"][i] else ""
            ax.set_title(f"cell {ser['cells'][i]}{tag}: {v}", fontsize=9)
            ax.set_ylabel(unit)
            loc = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
            if row == 0 and k == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(paths["timeseries"]) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for v in names:
        x, p = metrics.cdf(np.asarray(report["per_cell"][f"{v}_nse"]))
        ax.plot(x, p, label=v)
    ax.set_xlabel("NSE of surrogate vs simulator (per cell, median over samples)")
    ax.set_ylabel("fraction of cells")
    ax.legend()
    fig.tight_layout()
    with atomic_path(paths["cdf"]) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return paths


def check_report_region(surrogate: Surrogate, region: Region) -> None:
    """Raise SurrogateError when ``region`` cannot be evaluated with ``surrogate``."""
    surrogate.check_region(region)
    if region.n_days <= surrogate.warmup + 2:
        raise SurrogateError(f"region has {region.n_days} days; evaluation needs more than the warm-up "
                             f"({surrogate.warmup} days)")
