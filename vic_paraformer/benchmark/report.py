"""Aggregation of benchmark runs into results.json, table.md, report.md and figures."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .._io import to_plain, write_text_atomic
from ..metrics import summarize
from ..parameters import ParameterSpace
from ..region import Region
from . import figures

METRICS = ("rmse", "pcc", "nse")


def _mean_sd(values: list[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def aggregate(runs: list[dict], config, region: Region, space: ParameterSpace, truth) -> dict[str, Any]:
    """Median over cells per run, then mean and spread over seeds, per strategy, dataset and variable."""
    table: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    cost: dict[str, dict[str, Any]] = {}
    recovery: dict[str, dict[str, Any]] = {}
    by_key: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for run in runs:
        for dname, per_var in run["scores"].items():
            for var, m in per_var.items():
                slot = by_key.setdefault((run["strategy"], dname, var), {k: [] for k in METRICS})
                for k in METRICS:
                    slot[k].append(summarize(m[k])["median"])
        if run["strategy"] != "oracle":
            c = cost.setdefault(f"{run['strategy']}|S{run['split']}", {"wall_time": [], "n_evaluations": []})
            c["wall_time"].append(run["wall_time"])
            c["n_evaluations"].append(run["n_evaluations"])
            if "recovery" in run:
                r = recovery.setdefault(f"{run['strategy']}|S{run['split']}",
                                        {"error": [], "roughness_map": [], "roughness_trained": []})
                r["error"].append(run["recovery"])
                for key in ("roughness_map", "roughness_trained"):
                    if key in run:
                        r[key].append(run[key])
    for (strategy, dname, var), vals in by_key.items():
        table.setdefault(var, {}).setdefault(dname, {})[strategy] = {k: _mean_sd(v) for k, v in vals.items()}
    cost_out = {k: {"wall_time": _mean_sd(v["wall_time"]), "n_evaluations": _mean_sd(v["n_evaluations"])}
                for k, v in cost.items()}
    rec_out: dict[str, Any] = {
        key: {field: {p: _mean_sd([e[p] for e in r[field]]) for p in space.names}
              for field in ("error", "roughness_map", "roughness_trained") if r[field]}
        for key, r in recovery.items()}
    return {"config": to_plain(config.__dict__), "table": table, "cost": cost_out, "recovery": rec_out,
            "runs": [{k: v for k, v in r.items() if k != "scores"} | {"medians": _run_medians(r)} for r in runs]}


def _run_medians(run) -> dict:
    return {d: {v: {k: summarize(m[k])["median"] for k in METRICS} for v, m in pv.items()} for d, pv in run["scores"].items()}


def _fmt(ms: dict[str, float], digits: int = 3) -> str:
    if not ms or ms.get("n", 0) == 0:
        return "–"
    if ms["n"] > 1:
        return f"{ms['mean']:.{digits}f} ± {ms['sd']:.{digits}f}"
    return f"{ms['mean']:.{digits}f}"


def markdown_table(results: dict[str, Any]) -> str:
    """Table 2 (SM) and Table 3 (ET) layouts: rows strategies, column groups datasets."""
    lines: list[str] = []
    titles = {"sm": "Soil moisture (calibrated variable), test period", "et": "ET (uncalibrated variable), test period"}
    for var in ("sm", "et"):
        if var not in results["table"]:
            continue
        tab = results["table"][var]
        dsets = list(tab)
        strategies = sorted({s for d in tab.values() for s in d}, key=lambda s: (s == "oracle", s))
        lines.append(f"### {titles[var]}\n")
        lines.append("Median over cells of per-cell RMSE / PCC / NSE; mean ± s.d. over seeds.\n")
        header = "| strategy | " + " | ".join(f"{d} RMSE | {d} PCC | {d} NSE" for d in dsets) + " |"
        lines.append(header)
        lines.append("|" + "---|" * (1 + 3 * len(dsets)))
        for s in strategies:
            cells = []
            for d in dsets:
                m = tab[d].get(s, {})
                cells += [_fmt(m.get(k, {})) for k in METRICS]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    if results.get("cost"):
        lines.append("### Cost per calibration\n")
        lines.append("| strategy | training set | wall time (s) | surrogate/simulator evaluations |")
        lines.append("|---|---|---|---|")
        for key, c in sorted(results["cost"].items()):
            s, k = key.split("|")
            lines.append(f"| {s} | DAS-{k} | {_fmt(c['wall_time'], 1)} | {_fmt(c['n_evaluations'], 0)} |")
        lines.append("")
    rec = results.get("recovery") or {}
    fitted = {k: r for k, r in rec.items() if not k.startswith("truth|") and "error" in r}
    if fitted:
        names = list(next(iter(fitted.values()))["error"])
        lines.append("### Parameter recovery and smoothness (synthetic twin)\n")
        lines.append("Error: mean |calibrated − true| over all cells, as a fraction of each parameter's range (lower is "
                     "better). Roughness of the normalised infilt field: mean |difference| between grid neighbours over "
                     "the whole map, and between neighbouring *training* cells (k cells apart), where per-cell "
                     "optimisation noise shows; the truth's rows give the reference.\n")
        lines.append("| strategy | training set | " + " | ".join(f"{p} error" for p in names)
                     + " | infilt roughness (map) | infilt roughness (training cells) |")
        lines.append("|" + "---|" * (4 + len(names)))
        for key, r in sorted(fitted.items()):
            s, k = key.split("|")
            lines.append(f"| {s} | DAS-{k} | " + " | ".join(_fmt(r["error"][p]) for p in names) + " | "
                         + _fmt(r.get("roughness_map", {}).get("infilt", {})) + " | "
                         + _fmt(r.get("roughness_trained", {}).get("infilt", {})) + " |")
        for key, r in sorted(rec.items()):
            if key.startswith("truth|"):
                lines.append(f"| truth | DAS-{key.split('|')[1]} | " + " | ".join("0" for _ in names)
                             + f" | {r['roughness_map']['infilt']:.3f} | {r['roughness_trained']['infilt']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def write_all(out: Path, results: dict[str, Any], per_cell, histories, maps, scatter, region: Region,
              space: ParameterSpace, truth, splits, test_p) -> None:
    """results.json, table.md, figures/*.png and report.md."""
    fig_dir = out / "figures"
    figs: list[tuple[str, Path]] = []
    for dname, by_strategy in per_cell.items():
        sm = {s: v["sm"] for s, v in by_strategy.items() if "sm" in v}
        for metric in ("nse", "pcc"):
            if sm:
                figs.append((f"SM {metric.upper()} CDF, {dname}",
                             figures.metric_cdfs(sm, metric, fig_dir / f"cdf_{metric}_{dname}.png", f"SM {metric.upper()}, {dname}, test period")))
    for dname, pairs in scatter.items():
        if pairs:
            figs.append((f"annual-mean SM, {dname}", figures.annual_mean_scatter(pairs, fig_dir / f"scatter_sm_{dname}.png",
                                                                                 f"test-period mean SM, {dname}")))
    row, col = region.grid() if region.has_grid else (None, None)
    for k, m in maps.items():
        if not m or row is None:
            continue
        panels = {}
        if truth is not None:
            panels["truth"] = truth[:, space.names.index("infilt")]
        panels.update(m)
        pos = {c: i for i, c in enumerate(region.cells)}
        marked = [pos[c] for c in splits[k].train]
        lo, hi = space.bounds("infilt")
        figs.append((f"infilt maps, DAS-S{k}", figures.parameter_maps(panels, row, col, fig_dir / f"map_infilt_S{k}.png",
                                                                      f"infilt, trained on DAS-S{k} (red: training cells)",
                                                                      vmin=lo, vmax=hi, marked=marked)))
    for k, h in histories.items():
        if h:
            figs.append((f"training loss, DAS-S{k}", figures.loss_curves(h, fig_dir / f"loss_S{k}.png", f"training loss, DAS-S{k}")))
    results["figures"] = [str(p.relative_to(out)) for _, p in figs]
    write_text_atomic(out / "results.json", json.dumps(to_plain(results), indent=2))
    table = markdown_table(results)
    write_text_atomic(out / "table.md", table)
    cfg = results["config"]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    report = [
        "# vic_paraformer benchmark report\n",
        f"Command: `{results.get('command') or 'run_benchmark(...)'}`  ",
        f"Seeds: {cfg['seeds']}; region: {region.n_cells} cells x {region.n_days} days; simulator: `{cfg['simulator']}` "
        f"(evaluation always with the simulator, never the surrogate); test period {test_p[0].date()}..{test_p[1].date()}.  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {_ncpu()} CPU cores.  ",
        f"Versions: {versions}.  ",
        f"Total wall time: {results['wall_time']:.0f} s (surrogate training {results['surrogate']['train_seconds']:.0f} s).\n",
        "## Tables\n", table, "\n## Figures\n",
    ]
    report += [f"- [{title}]({p.relative_to(out)})" for title, p in figs]
    report += ["\n## Files\n", "- `results.json`: every number above, per run and aggregated",
               "- `config.json`: the exact configuration", "- `results/`: each calibration result (netCDF)",
               "- `surrogate.pt`: the surrogate all strategies shared", "- `region.nc`: the region"]
    write_text_atomic(out / "report.md", "\n".join(report) + "\n")


def _ncpu() -> int:
    import os

    return os.cpu_count() or 1
