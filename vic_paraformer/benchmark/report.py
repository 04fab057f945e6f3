"""Aggregation of benchmark runs into results.json, table.md, report.md and figures.

Long module (over 400 lines): the report's sections, tables and figure captions, written in one
pass over the results.
"""

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
from .recovery import INTERVAL_FIELDS

METRICS = ("rmse", "pcc", "nse")
#: Rows that are not calibration strategies.
REFERENCE_ROWS = ("default", "oracle")
#: Units of the VIC soil parameters (colour-bar labels).
PARAMETER_UNITS = {"infilt": "-", "Ds": "fraction of Dsmax", "Dsmax": "mm/day", "Ws": "fraction of max. moisture",
                   "expt": "-", "expt1": "-", "expt2": "-", "expt3": "-", "depth2": "m", "depth3": "m", "Ksat_mult": "-"}
UNITS = {"sm": "m3 m-3", "sm_op": "m3 m-3", "et": "mm/day"}
TITLES = {"sm": "Soil moisture (calibrated variable), raw model top layer against the observations, test period",
          "sm_op": "Soil moisture through H: every row (default + H included, the do-nothing baseline) through "
                   "its own linear observation operator, fitted on the split's training cells over the training "
                   "period (other cells: the nearest training cell's map), test period",
          "et": "ET (uncalibrated variable), test period"}

GLOSSARY = [
    ("SM", "soil moisture of the top model layer (m3 m-3), the calibrated variable"),
    ("ET", "evapotranspiration (mm/day), never calibrated: a check of the parameters' physical meaning"),
    ("RMSE", "root-mean-square error, in the variable's units (lower is better)"),
    ("PCC", "Pearson correlation coefficient of the daily series (-, 1 is perfect)"),
    ("NSE", "Nash-Sutcliffe efficiency, 1 - SSE/variance of the observations (-, 1 perfect, 0 = the observed "
            "mean, negative worse than the mean)"),
    ("worst NSE", "the lowest per-cell NSE of the set (the cell a median hides)"),
    ("DAS-Sk", "the paper's spatial sampling: one training cell per k x k block of the grid (point sets: "
               "n/k^2 evenly spread points); scores on those training cells"),
    ("DAS-SkNG", "the untrained cells next to a DAS-Sk training cell (8-neighbourhood; point sets: within 1.5 "
                 "network spacings), never seen in calibration: the spatial-generalisation test"),
    ("default", "the region's prior parameters (its parameter file's values, else typical VIC values), "
                "uncalibrated: the paper's VIC/NLDAS row"),
    ("oracle", "the true parameters run with the true forcing, SM mapped through the true observation "
               "operator (synthetic twins only): the ceiling the observation noise allows"),
    ("operator", "the map from model top-layer SM to what a sensor reads (scale and offset); 'fitted' = "
                 "obs ~ a sim + b per training cell on the training period, fitted to each row's own run by the "
                 "same rule"),
    ("default + H", "the default parameters through their own fitted operator: the do-nothing baseline a "
                    "calibration must beat"),
    ("verdict", "better / no detectable change / worse: whether the 95 % interval of the median paired "
                "difference lies above 0, straddles it, or lies below it; 'too few cells to tell' below 5 cells "
                "(e.g. one flux tower), whose interval would be no measure of uncertainty"),
    ("SCE-UA", "shuffled complex evolution (Duan et al.), a per-cell global optimiser; untrained cells copy the "
               "nearest trained cell"),
    ("DDS", "dynamically dimensioned search (plugin), a per-cell optimiser like SCE-UA"),
    ("FFN-A", "feed-forward network from attributes to parameters"),
    ("LSTM-Z", "LSTM from forcing/observation time series (Z) and attributes to parameters"),
    ("ParaFormer-A / -Z", "the paper's transformer from attributes (A) or time series plus attributes (Z) to "
                          "parameters"),
    ("RBL", "the paper's range boundary loss, added to RMSE in DL training to keep parameters inside their ranges"),
    ("CDF", "cumulative distribution over cells"),
    ("CPU s", "user + system CPU seconds of the process and its child processes"),
]


def _mean_sd(values: list[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def _key(run) -> str:
    return f"{run['strategy']}|S{run['split']}" if run.get("split") is not None else f"{run['strategy']}|all"


def aggregate(runs: list[dict], config, region: Region, space: ParameterSpace, truth) -> dict[str, Any]:
    """Median (and worst) over cells per run, then mean and spread over seeds, per strategy, dataset, variable."""
    table: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    cost: dict[str, dict[str, Any]] = {}
    recovery: dict[str, dict[str, Any]] = {}
    wbal: dict[str, dict[str, list[float]]] = {}
    by_key: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for run in runs:
        for dname, per_var in run["scores"].items():
            for var, m in per_var.items():
                slot = by_key.setdefault((run["strategy"], dname, var), {k: [] for k in METRICS + ("worst", "n_cells")})
                for k in METRICS:
                    slot[k].append(summarize(m[k])["median"])
                finite = np.asarray(m["nse"], float)[np.isfinite(m["nse"])]
                slot["worst"].append(float(finite.min()) if finite.size else float("nan"))
                slot["n_cells"].append(float(finite.size))
        key = _key(run)
        for field, v in (run.get("water_balance") or {}).items():
            wbal.setdefault(key, {}).setdefault(field, []).append(v)
        if run["strategy"] not in REFERENCE_ROWS:
            c = cost.setdefault(key, {"wall_time": [], "n_evaluations": [], "cpu_seconds": []})
            c["wall_time"].append(run["wall_time"])
            c["n_evaluations"].append(run["n_evaluations"])
            c["cpu_seconds"].append(run.get("cpu_seconds", float("nan")))
        if "recovery" in run:
            r = recovery.setdefault(key, {"error": [], "correlation": [], "roughness_map": [], "roughness_trained": []})
            r["error"].append(run["recovery"])
            if "correlation" in run:
                r["correlation"].append(run["correlation"])
            for field in ("roughness_map", "roughness_trained"):
                if field in run:
                    r[field].append(run[field])
            for field, per_param in (run.get("interval") or {}).items():
                r.setdefault(field, []).append(per_param)
    for (strategy, dname, var), vals in by_key.items():
        table.setdefault(var, {}).setdefault(dname, {})[strategy] = {k: _mean_sd(v) for k, v in vals.items()}
    cost_out = {k: {f: _mean_sd(v[f]) for f in v} for k, v in cost.items()}
    rec_out: dict[str, Any] = {
        key: {field: {p: _mean_sd([e[p] for e in r[field]]) for p in space.names}
              for field in ("error", "correlation", "roughness_map", "roughness_trained") + INTERVAL_FIELDS
              if r.get(field)}
        for key, r in recovery.items()}
    wb_out = {k: {f: _mean_sd(v) for f, v in fields.items()} for k, fields in wbal.items()}
    from ..parameters import parameter_set_label

    results = {"config": to_plain(config.__dict__), "parameters": list(space.names),
               "parameter_set": parameter_set_label(space.names), "table": table, "cost": cost_out, "recovery": rec_out,
               "water_balance": wb_out,
               "runs": [{k: v for k, v in r.items() if k != "scores"} | {"medians": _run_medians(r)} for r in runs]}
    results["verdicts"] = verdicts(runs)
    results["separation"] = separation(results, f"DAS-S{config.neighbour_split}NG")
    results["separation_operator"] = separation(results, f"DAS-S{config.neighbour_split}NG", var="sm_op")
    return results


#: Row labels of the comparisons: each strategy's soil moisture through H is compared with "default + H".
VERDICT_BASELINE = {"sm": "default", "sm_op": "default + H", "et": "default"}


def verdicts(runs: list[dict]) -> list[dict[str, Any]]:
    """Each strategy against the default row, per dataset and variable: the median paired per-cell NSE
    difference over seeds and cells, its 95 % bootstrap interval (seeds and cells resampled) and the
    verdict (:func:`vic_paraformer.verdict.compare_values`)."""
    from ..verdict import compare_values

    default = next((r for r in runs if r["strategy"] == "default"), None)
    if default is None:
        return []
    per: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for run in runs:
        if run["strategy"] in REFERENCE_ROWS:
            continue
        for dname, per_var in run["scores"].items():
            for var, m in per_var.items():
                per.setdefault((run["strategy"], dname, var), []).append(np.asarray(m["nse"], float))
    out = []
    for (strategy, dname, var), seeds in sorted(per.items()):
        base = np.asarray(default["scores"][dname][var]["nse"], float)
        a = np.stack(seeds)
        c = compare_values(a, np.broadcast_to(base, a.shape))
        out.append({"strategy": strategy, "dataset": dname, "variable": var,
                    "row": strategy + (" + H" if var == "sm_op" else ""), "baseline": VERDICT_BASELINE.get(var, "default"),
                    **c})
    return out


def separation(results: dict[str, Any], dataset: str, var: str = "sm") -> dict[str, Any] | None:
    """Can the benchmark tell the strategies apart on ``dataset``?

    Per strategy, the median-over-cells NSE of each seed; its mean over seeds and its sample
    standard deviation over seeds (``ddof=1``: the seed-to-seed s.d., which needs two seeds or
    more; only the strategies' seeds vary, the region is the same). The spread is the best
    strategy's mean minus the worst's. It is set against the largest seed-to-seed s.d. of any
    strategy (``ratio``) and against the pooled s.d., the root mean square of the strategies'
    s.d.s (``ratio_pooled``); a benchmark that can rank the methods needs ``ratio >= 5``. Also the
    oracle's margin over the best strategy and the best strategy's margin over the default row.
    """
    rows = results.get("table", {}).get(var, {}).get(dataset)
    if not rows:
        return None
    strat = {s: m["nse"] for s, m in rows.items() if s not in REFERENCE_ROWS and m["nse"]["n"] > 0}
    if len(strat) < 2:
        return None
    means = {s: m["mean"] for s, m in strat.items()}
    best, worst = max(means, key=means.get), min(means, key=means.get)
    sds = {s: m["sd"] for s, m in strat.items() if m["n"] > 1}
    max_sd = max(sds.values()) if sds else float("nan")
    pooled = float(np.sqrt(np.mean(np.square(list(sds.values()))))) if sds else float("nan")
    spread = means[best] - means[worst]
    ref = {r: rows.get(r, {}).get("nse", {}).get("mean", float("nan")) for r in REFERENCE_ROWS}
    return {"dataset": dataset, "variable": var, "best": best, "worst": worst, "spread": spread,
            "max_seed_sd": max_sd, "max_sd_strategy": max(sds, key=sds.get) if sds else None,
            "pooled_seed_sd": pooled,
            "ratio": spread / max_sd if sds and max_sd > 0 else float("nan"),
            "ratio_pooled": spread / pooled if sds and pooled > 0 else float("nan"),
            "n_seeds": max(m["n"] for m in strat.values()), "oracle": ref["oracle"],
            "oracle_margin": ref["oracle"] - means[best], "default": ref["default"],
            "default_margin": means[best] - ref["default"]}


def _run_medians(run) -> dict:
    return {d: {v: {k: summarize(m[k])["median"] for k in METRICS} for v, m in pv.items()} for d, pv in run["scores"].items()}


#: Seeds a table cell is expected to average over (set while a table is written); cells with fewer say so.
_EXPECTED_N = {"n": None}


def _fmt(ms: dict[str, float], digits: int = 3, row: str | None = None) -> str:
    """``mean ± sd`` (one value for one seed); a strategy row with fewer seeds than configured says so."""
    if not ms or ms.get("n", 0) == 0 or not np.isfinite(ms.get("mean", float("nan"))):
        return "–"
    expected = None if row in REFERENCE_ROWS else _EXPECTED_N["n"]
    short = f" ({ms['n']} seed{'s' if ms['n'] > 1 else ''})" if expected and 0 < ms["n"] < expected else ""
    if ms["n"] > 1:
        return f"{ms['mean']:.{digits}f} ± {ms['sd']:.{digits}f}{short}"
    return f"{ms['mean']:.{digits}f}{short}"


def _row_order(names) -> list[str]:
    return sorted(names, key=lambda s: (s == "oracle", s != "default", s))


def _seed_note(results: dict[str, Any]) -> str:
    seeds = (results.get("config") or {}).get("seeds")
    if seeds is None:
        return "mean ± s.d. over seeds where more than one ran"
    n = len(seeds)
    if n == 1:
        return "one seed (no spread over seeds shown)"
    return f"mean ± s.d. over {n} seeds"


def markdown_table(results: dict[str, Any]) -> str:
    """Tables 2 (SM) and 3 (ET) of the paper, plus the operator, water-balance, cost, recovery and
    identifiability tables; every table states its units."""
    lines: list[str] = []
    seeds = _seed_note(results)
    _EXPECTED_N["n"] = len((results.get("config") or {}).get("seeds") or []) or None
    try:
        return _markdown_tables(results, lines, seeds)
    finally:
        _EXPECTED_N["n"] = None


def verdict_table(rows: list[dict[str, Any]]) -> list[str]:
    """The verdicts as a markdown table, "no detectable change" included."""
    names = {"sm": "SM raw", "sm_op": "SM through H", "et": "ET"}
    lines = ["### Verdicts: each strategy against the default row, test period\n",
             "Median over seeds and cells of the per-cell paired NSE difference (strategy - default; through H: "
             "strategy + H - default + H, each row through its own operator fitted by the same rule), its 95 % "
             "bootstrap interval (seeds and cells resampled) and the verdict: better / no detectable change / "
             "worse.\n",
             "| strategy | dataset | variable | against | dNSE (median) | 95 % interval | verdict | cells | seeds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["ci"]
        fmt = (lambda v: "–" if v is None or not np.isfinite(v) else f"{v:+.3f}")
        lines.append(f"| {r['strategy']} | {r['dataset']} | {names.get(r['variable'], r['variable'])} | {r['baseline']} "
                     f"| {fmt(r['median'])} | [{fmt(lo)}, {fmt(hi)}] | {r['verdict']} | {r['n_cells']} | "
                     f"{r.get('n_repetitions', 1)} |")
    lines.append("")
    return lines


def _markdown_tables(results: dict[str, Any], lines: list[str], seeds: str) -> str:
    for var in ("sm", "sm_op", "et"):
        if var not in results["table"]:
            continue
        tab = results["table"][var]
        dsets = list(tab)
        unit = UNITS.get(var, "")
        lines.append(f"### {TITLES.get(var, var)}\n")
        note = (f"Median over cells of per-cell RMSE ({unit}), PCC (-) and NSE (-), and the worst cell's NSE (-); "
                f"{seeds}. default and oracle rows do not depend on a seed.")
        if var == "et":
            counts = []
            for d in dsets:
                n = max((m.get("n_cells", {}).get("mean", 0) or 0 for m in tab[d].values()), default=0)
                counts.append(f"{d} {int(n)}")
            note += " Cells with ET observations: " + ", ".join(counts) + "."
        lines.append(note + "\n")
        header = "| strategy | " + " | ".join(f"{d} RMSE ({unit}) | {d} PCC | {d} NSE | {d} worst NSE"
                                               for d in dsets) + " |"
        lines.append(header)
        lines.append("|" + "---|" * (1 + 4 * len(dsets)))
        for s in _row_order({s for d in tab.values() for s in d}):
            cells = []
            for d in dsets:
                m = tab[d].get(s, {})
                cells += [_fmt(m.get(k, {}), row=s) for k in METRICS + ("worst",)]
            label = f"{s} + H" if var == "sm_op" and s in ("default",) else s
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    if results.get("verdicts"):
        lines += verdict_table(results["verdicts"])
    wb = results.get("water_balance") or {}
    if wb:
        lines.append("### Water balance, test year (all cells)\n")
        lines.append("Mean over cells of the test-year total (mm/yr); bias and mean |error| per cell against the "
                     "truth's (true parameters, true forcing), mm/yr; " + seeds + ". Runoff = surface runoff + "
                     "baseflow.\n")
        lines.append("| strategy | training set | ET (mm/yr) | ET bias (mm/yr) | ET mean abs. error (mm/yr) | "
                     "runoff (mm/yr) | runoff bias (mm/yr) | runoff mean abs. error (mm/yr) |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for key in sorted(wb, key=lambda k: (k.startswith("oracle|"), not k.startswith("default|"), k)):
            s, k = key.split("|")
            f = wb[key]
            label = "truth (oracle)" if s == "oracle" else s
            lines.append(f"| {label} | {'-' if k == 'all' else 'DAS-' + k} | "
                         + " | ".join(_fmt(f.get(x, {}), 0, row=s) for x in ("et_mean", "et_bias", "et_mae", "runoff_mean",
                                                                       "runoff_bias", "runoff_mae")) + " |")
        lines.append("")
    if results.get("cost"):
        lines.append("### Cost per calibration\n")
        lines.append(f"Wall time (s), CPU time of the process and its children (s), and surrogate/simulator "
                     f"evaluations; {seeds}.\n")
        lines.append("| strategy | training set | wall time (s) | CPU time (s) | evaluations |")
        lines.append("|---|---|---|---|---|")
        for key, c in sorted(results["cost"].items()):
            s, k = key.split("|")
            lines.append(f"| {s} | DAS-{k} | {_fmt(c['wall_time'], 1)} | {_fmt(c.get('cpu_seconds', {}), 1)} | "
                         f"{_fmt(c['n_evaluations'], 0)} |")
        lines.append("")
    rec = results.get("recovery") or {}
    fitted = {k: r for k, r in rec.items() if not k.startswith("truth|") and "error" in r}
    if fitted:
        names = list(next(iter(fitted.values()))["error"])
        lines.append("### Parameter recovery (synthetic twin)\n")
        lines.append("Error: mean |calibrated − true| over all cells, as a fraction of each parameter's range (-, lower "
                     "is better; the default row is the uncalibrated prior). Correlation: Pearson r (-) between "
                     f"the calibrated and the true map over all cells; below {ANTI_CORRELATION} = anti-correlated with the truth (warned below). {seeds}.\n")
        lines.append("| strategy | training set | " + " | ".join(f"{p} error" for p in names) + " | "
                     + " | ".join(f"{p} r" for p in names) + " |")
        lines.append("|" + "---|" * (2 + 2 * len(names)))
        for key in sorted(fitted, key=lambda k: (k.split("|")[0] != "default", k)):
            r = fitted[key]
            s, k = key.split("|")
            corr = r.get("correlation", {})
            lines.append(f"| {s} | {'-' if k == 'all' else 'DAS-' + k} | "
                         + " | ".join(_fmt(r["error"][p], row=s) for p in names) + " | "
                         + " | ".join(_fmt(corr.get(p, {}), row=s) for p in names) + " |")
        lines.append("")
        lines += _interval_table(fitted, names, seeds)
        rough = {k: r for k, r in fitted.items() if "roughness_map" in r}
        if rough:
            lines.append("### Map smoothness (synthetic twin)\n")
            lines.append("Roughness of the normalised infilt field (-): mean |difference| between grid neighbours "
                         "over the whole map, and between neighbouring *training* cells (k cells apart), where "
                         f"per-cell optimisation noise shows; the truth's rows give the reference. {seeds}.\n")
            lines.append("| strategy | training set | infilt roughness (map) | infilt roughness (training cells) |")
            lines.append("|---|---|---|---|")
            for key, r in sorted(rough.items()):
                s, k = key.split("|")
                lines.append(f"| {s} | DAS-{k} | " + _fmt(r["roughness_map"].get("infilt", {})) + " | "
                             + _fmt(r.get("roughness_trained", {}).get("infilt", {})) + " |")
            for key, r in sorted(rec.items()):
                if key.startswith("truth|"):
                    lines.append(f"| truth | DAS-{key.split('|')[1]} | {r['roughness_map']['infilt']:.3f} | "
                                 f"{r['roughness_trained']['infilt']:.3f} |")
            lines.append("")
    ident = results.get("identifiability")
    if ident:
        lines.append("### Identifiability: the simulator's sensitivity to each parameter\n")
        lines.append(f"RMS change of daily SM (m3 m-3) and ET (mm/day) over the test year when one parameter moves "
                     f"by ±{ident['step']:.0%} of its range around the {ident['around']} parameters "
                     f"({len(ident['cells'])} cells). Compare with the observation noise (about 0.01–0.04 m3 m-3 "
                     "on the realistic twin): a parameter far below it cannot be recovered from SM.\n")
        lines.append("| parameter | SM sensitivity (m3 m-3) | ET sensitivity (mm/day) |")
        lines.append("|---|---|---|")
        for p, v in ident["by_parameter"].items():
            lines.append(f"| {p} | {v.get('sm', float('nan')):.4f} | {v.get('et', float('nan')):.3f} |")
        lines.append("")
    return "\n".join(lines)


def _group_rows(rows: dict[str, Any], names: list[str], groups: tuple[str, ...], fields: tuple[str, ...]) -> list[str]:
    """The separator and one line per strategy, split and parameter of a split interval table: each field
    ``<field>_<group>`` for each group in turn, then a blank line."""
    lines = ["|" + "---|" * (3 + len(groups) * len(fields))]
    for key in sorted(rows):
        r = rows[key]
        s, k = key.split("|")
        for p in names:
            cells = [r.get(f"{f}_{g}", {}).get(p, {}) for g in groups for f in fields]
            lines.append(f"| {s} | {'-' if k == 'all' else 'DAS-' + k} | {p} | "
                         + " | ".join(_fmt(c, 2, row=s) for c in cells) + " |")
    return lines + [""]


def _interval_table(fitted: dict[str, Any], names: list[str], seeds: str) -> list[str]:
    """The parameter-uncertainty table: coverage of the truth by the 90 % intervals and their width, per
    parameter, and split by identifiability where the results record it (empty when no result has intervals)."""
    rows = {k: r for k, r in fitted.items() if "coverage" in r}
    if not rows:
        return []
    split = any("coverage_identifiable" in r for r in rows.values())
    lines = ["### Parameter uncertainty (synthetic twin)\n",
             "Coverage: fraction of cells whose 90 % interval (5-95 % quantiles of the strategy's ensemble or "
             "tolerance set) holds the true value (-, an honest interval gives about 0.9). Width: the mean interval "
             "width as a fraction of the parameter's bounds (-). A calibration is honest when its intervals are wide "
             f"exactly where recovery is poor (compare with the correlation above). {seeds}.\n",
             "| strategy | training set | " + " | ".join(f"{p} coverage" for p in names) + " | "
             + " | ".join(f"{p} width" for p in names) + " |",
             "|" + "---|" * (2 + 2 * len(names))]
    for key in sorted(rows):
        r = rows[key]
        s, k = key.split("|")
        lines.append(f"| {s} | {'-' if k == 'all' else 'DAS-' + k} | "
                     + " | ".join(_fmt(r["coverage"].get(p, {}), 2, row=s) for p in names) + " | "
                     + " | ".join(_fmt(r["width"].get(p, {}), 2, row=s) for p in names) + " |")
    lines.append("")
    if any("coverage_trained" in r for r in rows.values()):
        lines.append("By cell: coverage / width over the training cells, then over the untrained cells (their "
                     "intervals also carry the transfer from the training cells).\n")
        lines.append("| strategy | training set | parameter | coverage (training cells) | width (training cells) | "
                     "coverage (untrained) | width (untrained) |")
        lines += _group_rows(rows, names, ("trained", "untrained"), ("coverage", "width"))
    if split:
        lines.append("By identifiability (as recorded in each result; for a result that records none, the total "
                     "Sobol index of the objective on the split's training cells through the benchmark's surrogate, "
                     "identifiable where the lower end of its 95 % interval exceeds 0.05; an untrained cell takes "
                     "the training cells' majority): coverage / width / recovery correlation over the identifiable "
                     "cells, then over the others.\n")
        lines.append("| strategy | training set | parameter | coverage (id.) | width (id.) | r (id.) | coverage (not) "
                     "| width (not) | r (not) |")
        lines += _group_rows(rows, names, ("identifiable", "not_identifiable"), ("coverage", "width", "correlation"))
    return lines


#: A calibrated map with a correlation below this is flagged as anti-correlated with the truth (values
#: between it and 0 are indistinguishable from no correlation on these sample sizes).
ANTI_CORRELATION = -0.1


def recovery_warnings(results: dict[str, Any]) -> list[str]:
    """One line per parameter whose calibrated map is anti-correlated with the truth
    (r < :data:`ANTI_CORRELATION`) for some strategy and training set, listing each with its r."""
    by_param: dict[str, list[tuple[str, float, float]]] = {}
    for key, r in sorted((results.get("recovery") or {}).items()):
        for p, m in (r.get("correlation") or {}).items():
            if m.get("n", 0) and np.isfinite(m["mean"]) and m["mean"] < ANTI_CORRELATION:
                s, k = key.split("|")
                label = s if k == "all" else f"{s} (DAS-{k})"
                by_param.setdefault(p, []).append((label, m["mean"], r["error"][p]["mean"]))
    out = []
    for p, rows in by_param.items():
        rows.sort(key=lambda x: x[1])
        listed = ", ".join(f"{label} r = {r:.2f}" for label, r, _ in rows)
        worst = rows[0]
        out.append(f"**Warning:** the calibrated {p} map is anti-correlated with the truth for {len(rows)} "
                   f"strategy/training-set pair(s): {listed} (the most negative has an error of {worst[2]:.2f} of "
                   f"the range). Scores can be good while the parameters are wrong (equifinality); do not read "
                   f"these {p} maps physically.")
    return out


def interpretation(results: dict[str, Any]) -> str:
    """A short paragraph generated from the numbers: who led where, by how much, the references, the
    separation check and where the parameters disagree with the truth."""
    parts: list[str] = []
    for var in ("sm", "et"):
        tab = (results.get("table") or {}).get(var) or {}
        for dname, rows in tab.items():
            strat = {s: m["nse"]["mean"] for s, m in rows.items()
                     if s not in REFERENCE_ROWS and m["nse"]["n"] > 0 and np.isfinite(m["nse"]["mean"])}
            if not strat:
                continue
            order = sorted(strat, key=strat.get, reverse=True)
            best = order[0]
            txt = f"{var.upper()} on {dname}: {best} led (median NSE {strat[best]:.3f}"
            if len(order) > 1:
                txt += f", {strat[best] - strat[order[1]]:+.3f} over {order[1]}, {strat[best] - strat[order[-1]]:+.3f} over {order[-1]}"
            txt += ")"
            refs = []
            for ref in REFERENCE_ROWS:
                m = rows.get(ref, {}).get("nse", {})
                if m.get("n", 0) and np.isfinite(m["mean"]):
                    refs.append(f"{ref} {m['mean']:.3f}")
            if refs:
                txt += "; " + ", ".join(refs)
            parts.append(txt + ".")
    for key, what in (("separation", "SM NSE (raw)"), ("separation_operator", "SM NSE through the fitted operator")):
        sep = results.get(key)
        if not sep:
            continue
        if np.isfinite(sep["ratio"]):
            verdict = "at least" if sep["ratio"] >= 5 else "below"
            parts.append(f"Separation on {sep['dataset']} {what}: best−worst strategy spread {sep['spread']:.3f} "
                         f"({sep['best']} − {sep['worst']}) is {sep['ratio']:.1f}× the largest seed-to-seed s.d. "
                         f"({sep['max_seed_sd']:.3f}, {sep['max_sd_strategy']}) and {sep['ratio_pooled']:.1f}× the "
                         f"pooled s.d. ({sep['pooled_seed_sd']:.3f}; s.d. over {sep['n_seeds']} seeds of each "
                         f"strategy's median NSE, pooled = root mean square over strategies): {verdict} the 5× a "
                         "benchmark needs to rank the methods.")
        else:
            parts.append(f"Separation on {sep['dataset']} {what}: best−worst strategy spread {sep['spread']:.3f} NSE; "
                         "with one seed the seed-to-seed spread is unknown, so the ranking is not established.")
        margins = []
        if np.isfinite(sep["oracle"]):
            margins.append(f"the oracle is {sep['oracle_margin']:+.3f} NSE above the best strategy")
        if np.isfinite(sep.get("default", float("nan"))):
            margins.append(f"the best strategy is {sep['default_margin']:+.3f} above the default row")
        if margins:
            parts.append("There " + " and ".join(margins) + ".")
    ng = (results.get("table") or {}).get("sm", {})
    ng = {d: rows for d, rows in ng.items() if d.endswith("NG")}
    for dname, rows in ng.items():
        nse = {s: m["nse"]["mean"] for s, m in rows.items() if m["nse"]["n"] > 0 and np.isfinite(m["nse"]["mean"])}
        per_cell = [s for s in ("sceua", "dds") if s in nse]
        dl = [s for s in ("ffn_a", "lstm_z", "paraformer_a", "paraformer_z") if s in nse]
        if per_cell and dl:
            best_pc = max(per_cell, key=nse.get)
            ahead = [s for s in dl if nse[s] > nse[best_pc]]
            parts.append(f"On the untrained cells ({dname}) {len(ahead)} of {len(dl)} DL strategies beat the best "
                         f"per-cell optimiser ({best_pc}, {nse[best_pc]:.3f}), which copies the nearest trained cell.")
    warns = recovery_warnings(results)
    if warns:
        params = [w.split("calibrated ")[1].split(" map")[0] for w in warns]
        parts.append(f"Calibrated maps of {', '.join(params)} are anti-correlated with the truth for some strategies "
                     "(see the warnings under the tables).")
    elif results.get("recovery"):
        parts.append("No calibrated parameter map is anti-correlated with the truth.")
    return " ".join(parts)


def write_all(out: Path, results: dict[str, Any], per_cell, histories, maps, scatter, region: Region,
              space: ParameterSpace, truth, splits, test_p, series=None) -> None:
    """results.json, table.md, figures/*.png and report.md (figures embedded)."""
    fig_dir = out / "figures"
    figs: list[tuple[str, Path, str]] = []   # title, path, caption
    for dname, by_strategy in per_cell.items():
        sm = {s: v["sm"] for s, v in by_strategy.items() if "sm" in v}
        for metric in ("nse", "pcc"):
            if sm:
                path = figures.metric_cdfs(sm, metric, fig_dir / f"cdf_{metric}_{dname}.png",
                                           f"SM {metric.upper()}, {dname}, test period")
                caption = f"CDF over the {dname} cells of the per-cell SM {metric.upper()} (raw), seed {results['config']['seeds'][0]}."
                if metric == "nse":
                    lo, hidden = figures.nse_axis_cut(sm)
                    below = ", ".join(f"{s} {n}" for s, n in hidden.items() if n)
                    caption += f" The x axis is cut at NSE = {lo:.2f}" + (f"; cells below, not shown: {below}." if below else
                                                                         "; no cell lies below.")
                figs.append((f"SM {metric.upper()} CDF, {dname}", path, caption))
    for dname, pairs in scatter.items():
        if pairs:
            figs.append((f"test-year mean SM, {dname}",
                         figures.annual_mean_scatter(pairs, fig_dir / f"scatter_sm_{dname}.png", f"test-period mean SM, {dname}"),
                         "Per-cell test-year mean of the observations against the simulation (sampled on observed days)."))
    row, col = region.grid() if region.has_grid else (None, None)
    pos = {c: i for i, c in enumerate(region.cells)}
    for k, m in maps.items():
        if not m or row is None:
            continue
        grid_maps: dict[str, dict[str, np.ndarray]] = {}
        limits = {}
        for j, p in enumerate(space.names):
            label = f"{p} ({PARAMETER_UNITS.get(p, '-')})"
            panels = {}
            if truth is not None:
                panels["truth"] = truth[:, j]
            panels.update({s: np.asarray(v)[:, j] for s, v in m.items()})
            grid_maps[label] = panels
            limits[label] = space.bounds(p)
        marked = [pos[c] for c in splits[k].train]
        figs.append((f"parameter maps, DAS-S{k}",
                     figures.parameter_map_grid(grid_maps, row, col, fig_dir / f"maps_S{k}.png",
                                                f"calibrated parameters, trained on DAS-S{k} (red: training cells)",
                                                limits=limits, marked=marked),
                     f"Each parameter over its full range (colour bar), truth in the first column, seed "
                     f"{results['config']['seeds'][0]}; red squares: the DAS-S{k} training cells."))
    for k, h in histories.items():
        if h:
            figs.append((f"training loss, DAS-S{k}", figures.loss_curves(h, fig_dir / f"loss_S{k}.png", f"training loss, DAS-S{k}"),
                         "Loss per epoch of the DL strategies (star: the best epoch, whose model is kept)."))
    for k, (cells, obs, sims) in (series or {}).items():
        trained = cells.get("trained")
        labels = [f"cell {c}: a DAS-S{k} training cell" if kind == "trained" else
                  f"cell {c}: untrained, next to training cell {trained}" for kind, c in cells.items()]
        times = region.sel_time(*test_p).times
        figs.append((f"SM time series, DAS-S{k}",
                     figures.sm_series(times, obs, sims, labels, fig_dir / f"series_sm_S{k}.png",
                                       f"calibrated vs observed SM, test period, DAS-S{k}"),
                     "Observed SM (dots) and the simulated top layer of each row (lines; oracle through the true "
                     "operator), for a trained cell and an untrained neighbour."))
    results["figures"] = [str(p.relative_to(out)) for _, p, _ in figs]
    write_text_atomic(out / "results.json", json.dumps(to_plain(results), indent=2))
    table = markdown_table(results)
    write_text_atomic(out / "table.md", table)
    cfg = results["config"]
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    n_seeds = len(cfg["seeds"])
    seed_text = f"Seeds: {cfg['seeds']} ({n_seeds} seed{'s' if n_seeds != 1 else ''}"
    seed_text += ", so tables show mean ± s.d. over seeds)" if n_seeds > 1 else "; one seed, so no spread over seeds)"
    reg = results.get("region", {})
    report = [
        "# vic_paraformer benchmark report\n",
        f"Command: `{results.get('command') or 'run_benchmark(...)'}`  ",
        f"{seed_text}; region: {region.n_cells} cells x {region.n_days} days, twin difficulty "
        f"`{reg.get('difficulty', cfg.get('difficulty'))}`; simulator: `{cfg['simulator']}` "
        f"(evaluation always with the simulator, never the surrogate); test period {test_p[0].date()}..{test_p[1].date()}; "
        f"default row: {results.get('default_source', 'typical VIC values')}.  ",
        f"Calibrated parameters: {results.get('parameter_set', ', '.join(space.names))}.  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {_ncpu()} CPU cores.  ",
        f"Versions: {versions}.  ",
        f"Total wall time: {results['wall_time']:.0f} s (surrogate training {results['surrogate']['train_seconds']:.0f} s); "
        f"CPU time {results.get('cpu_seconds', float('nan')):.0f} s"
        + (f" (a resumed run: {results['reused_calibrations']} calibrations and the surrogate were reused from an "
           "earlier run of this configuration; their own costs are in the cost table)" if results.get("reused_calibrations")
           else "") + ".\n",
        "## Glossary\n",
        *[f"- **{term}**: {meaning}" for term, meaning in GLOSSARY],
        "\n## Interpretation\n", interpretation(results) + "\n",
        "## Tables\n", table,
    ]
    warns = recovery_warnings(results)
    if warns:
        report += ["### Warnings\n", *[f"- {w}" for w in warns], ""]
    if results.get("missing_calibrations"):
        report += ["### Missing calibrations\n", "Rebuilt from an interrupted run; these calibrations had not finished "
                   "and are left out (rows with fewer seeds say so): " + ", ".join(results["missing_calibrations"]) + ".\n"]
    dr = results.get("discharge_recovery")
    if dr:
        report += ["## Recovery with and without discharge\n",
                   f"Objective `{cfg.get('objective')}`: each strategy without discharge (its row) and with it (row "
                   "`+q`; SCE-UA/DDS share infilt, Ds, Dsmax, Ws per gauged basin, vic_paraformer.strategies.basins); Pearson r of the calibrated and true maps "
                   "over the cells (mean ± s.d. over seeds and splits; n runs).\n",
                   "| row | " + " | ".join(f"r {p}" for p in next(iter(dr.values()))) + " |",
                   "|---|" + "---|" * len(next(iter(dr.values())))]
        for label, per in dr.items():
            report.append(f"| {label} | " + " | ".join(
                f"{m['mean']:.2f}" + ("" if m["sd"] != m["sd"] else f" ± {m['sd']:.2f}") + f" (n {m['n']})"
                for m in per.values()) + " |")
        report.append("")
    report.append("\n## Figures\n")
    for title, p, caption in figs:
        report += [f"### {title}\n", f"![{title}]({p.relative_to(out)})\n", caption + "\n"]
    report += ["## Files\n", "- `results.json`: every number above, per run and aggregated",
               "- `config.json`: the exact configuration", "- `results/`: each calibration result (netCDF)",
               "- `surrogate.pt`: the surrogate all strategies shared", "- `region.nc`: the region"]
    write_text_atomic(out / "report.md", "\n".join(report) + "\n")


def _ncpu() -> int:
    import os

    return os.cpu_count() or 1
