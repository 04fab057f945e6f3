"""Stations to cells: one day rule and one matching rule for every point format.

Matching, in this order:

1. a site that names its target cell (tables keyed by cell id) goes there;
2. a site whose name equals a cell's station name (Regions built from station networks);
3. grid cells: the cell whose extent (centre +- half the grid spacing) contains the site;
4. point cells: the nearest cell within ``ReadOptions.tolerance_km`` (great-circle distance).

A site that matches no cell is left out and named in the log and the QC notes; when no site
matches, the read is an error naming the file. Several sites in one cell are averaged day by day
(the QC summary lists them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ObservationError
from ..geo import great_circle_km
from .base import QC_COLUMNS, CellTarget, Observations, ReadOptions, SiteSeries
from .timeaxis import daily_means

log = logging.getLogger(__name__)


def match_site(site: SiteSeries, target: CellTarget, options: ReadOptions) -> tuple[int | None, str]:
    """The target index of ``site`` (or None) and how it was matched (or why not)."""
    if site.cell is not None:
        hit = np.nonzero(target.ids == site.cell)[0]
        return (int(hit[0]), "cell id") if hit.size else (None, f"cell id {site.cell} is not a cell of the region")
    if target.names is not None:
        hit = np.nonzero(target.names == str(site.site))[0]
        if hit.size:
            return int(hit[0]), "station name"
    if not (np.isfinite(site.lat) and np.isfinite(site.lon)):
        return None, "no position"
    lon_t = _wrap(target.lon, site.lon)
    if target.resolution is not None:
        dlat, dlon = target.resolution
        inside = (np.abs(target.lat - site.lat) <= dlat / 2 + 1e-9) & (np.abs(lon_t - site.lon) <= dlon / 2 + 1e-9)
        if not inside.any():
            return None, "lies in no simulated cell"
        cand = np.nonzero(inside)[0]
        d = np.hypot(target.lat[cand] - site.lat, lon_t[cand] - site.lon)
        return int(cand[np.argmin(d)]), "inside grid cell"
    d = great_circle_km(site.lat, site.lon, target.lat, lon_t)
    i = int(np.argmin(d))
    if d[i] > options.tolerance_km:
        return None, f"is {d[i]:.1f} km from the nearest cell (tolerance {options.tolerance_km:g} km)"
    return i, f"nearest cell, {d[i]:.2f} km"


def _wrap(lon_cells: np.ndarray, lon_site: float) -> np.ndarray:
    """Cell longitudes expressed in the same 360-degree window as the site's."""
    return (np.asarray(lon_cells, float) - lon_site + 180.0) % 360.0 - 180.0 + lon_site


def sites_to_cells(sites: Sequence[SiteSeries], target: CellTarget, options: ReadOptions, *, path: Path,
                   fmt: str) -> Observations:
    """Daily observations on ``target`` from ``sites`` (see the module docstring); ObservationError
    naming ``path`` when no site matches a cell or no value falls in the target's days."""
    variables = [v for v in options.variables if any(v in s.values.columns for s in sites)]
    if not sites or not variables:
        raise ObservationError(f"{path}: no observation of {list(options.variables)} found")
    offsets = target.offsets()
    n, nd = target.n_cells, len(target.days)
    sums = {v: np.zeros((n, nd)) for v in variables}
    counts = {v: np.zeros((n, nd)) for v in variables}
    rows: dict[tuple[int, str], dict] = {}
    unmatched: list[str] = []
    outside_total = 0
    support: dict[str, dict] = {}
    for s in sites:
        i, how = match_site(s, target, options)
        if i is None:
            where = "" if s.site.startswith("lat ") else f" (lat {s.lat:.4f}, lon {s.lon:.4f})"
            unmatched.append(f"{s.site}{where}: {how}")
            continue
        cols = [v for v in variables if v in s.values.columns]
        daily, low, outside = daily_means(s.values[cols], step=s.step, stamp=s.stamp, offset_h=float(offsets[i]),
                                          days=target.days, min_coverage=options.min_coverage,
                                          day_labels=s.day_labels)
        for v in cols:
            d = daily[v]
            ok = np.isfinite(d)
            sums[v][i, ok] += d[ok]
            counts[v][i, ok] += 1
            outside_total += outside[v]
            r = rows.setdefault((i, v), {"sites": [], "n_raw": 0, "n_flagged": 0, "n_invalid": 0,
                                         "n_low_coverage": 0, "notes": []})
            r["sites"].append(str(s.site))
            r["n_raw"] += int(np.isfinite(s.values[v].to_numpy(float)).sum()) + s.n_flagged.get(v, 0) \
                + s.n_invalid.get(v, 0)
            r["n_flagged"] += s.n_flagged.get(v, 0)
            r["n_invalid"] += s.n_invalid.get(v, 0)
            r["n_low_coverage"] += low[v]
            r["notes"].extend(s.notes)
            if outside[v]:
                r["notes"].append(f"{outside[v]} value(s) outside the region's days")
            for key, val in s.support.get(v, {}).items():
                support.setdefault(v, {}).setdefault(key, val)
    if len(unmatched) == len(sites):
        raise ObservationError(f"{path}: none of its {len(sites)} site(s) matches a cell of the region "
                               f"({unmatched[0]})")
    if unmatched:
        log.warning("%s: %d of %d site(s) match no cell and are left out: %s", path, len(unmatched), len(sites),
                    "; ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else ""))
    values = {v: np.where(counts[v] > 0, sums[v] / np.where(counts[v] > 0, counts[v], 1), np.nan) for v in variables}
    if not any(np.isfinite(a).any() for a in values.values()):
        span = _span(sites)
        raise ObservationError(f"{path}: no observation falls in the region's days {target.days[0].date()}.."
                               f"{target.days[-1].date()} (the file spans {span})")
    if outside_total:
        log.info("%s: %d valid value(s) lie outside the region's days %s..%s and are not used", path, outside_total,
                 target.days[0].date(), target.days[-1].date())
    qc = qc_table(values, rows, target)
    for v in variables:
        support.setdefault(v, {})["format"] = fmt
    return Observations(values=values, qc=qc, source=str(path), format=fmt, support=support)


def _span(sites: Sequence[SiteSeries]) -> str:
    idx = [s.values.index for s in sites if len(s.values.index)]
    if not idx:
        return "no timestamps"
    lo = min(i.min() for i in idx)
    hi = max(i.max() for i in idx)
    return f"{lo} .. {hi}"


def qc_table(values: dict[str, np.ndarray], rows: dict[tuple[int, str], dict], target: CellTarget) -> pd.DataFrame:
    """One QC row per cell and variable (columns :data:`~vic_paraformer.readers.base.QC_COLUMNS`)."""
    out = []
    for v, arr in values.items():
        for i in range(target.n_cells):
            r = rows.get((i, v), {"sites": [], "n_raw": 0, "n_flagged": 0, "n_invalid": 0, "n_low_coverage": 0,
                                  "notes": []})
            ok = np.nonzero(np.isfinite(arr[i]))[0]
            out.append({"cell": int(target.ids[i]), "variable": v, "sites": ",".join(r["sites"]),
                        "n_raw": r["n_raw"], "n_flagged": r["n_flagged"], "n_invalid": r["n_invalid"],
                        "n_days": int(ok.size), "n_low_coverage": r["n_low_coverage"],
                        "first_day": str(target.days[ok[0]].date()) if ok.size else "",
                        "last_day": str(target.days[ok[-1]].date()) if ok.size else "",
                        "notes": "; ".join(dict.fromkeys(r["notes"]))})
    return pd.DataFrame(out, columns=list(QC_COLUMNS))


__all__ = ("sites_to_cells", "match_site", "great_circle_km", "qc_table")
