"""Quality control of daily station meteorology: flagged values become gaps, each flag reported.

Rules, applied per station and variable in this order (thresholds in :class:`QCRules`):

* ``range`` -- physically impossible values: outside the plausible range of
  :data:`vic_paraformer.units.RANGES` (relative humidity: 0..100 %, values up to 105 % are sensor
  overshoot and set to 100 without a flag), or daily shortwave above ``sw_max_fraction`` (1.1) of the
  top-of-atmosphere radiation ``R_a`` of that day and place.
* ``stuck_shortwave`` -- a stuck or covered radiometer stored as zero: shortwave at or below
  ``sw_zero`` (5 W m-2) on at least ``stuck_days`` (3) consecutive days whose ``R_a`` exceeds
  ``ra_min`` (100 W m-2, i.e. days with daylight).
* ``flat_line`` -- a flat-lined sensor: the same daily value (to ``1e-6``) on at least ``flat_days``
  (5) consecutive days. Precipitation is exempt while it is zero (dry spells); a constant non-zero
  precipitation run is flagged.

Each flag is one row of the QC table (:data:`QC_COLUMNS`): station, variable, rule, the first and
last day, the number of values removed, and a detail. The removed values are gaps for
:mod:`vic_paraformer.stations.gapfill`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..units import RANGES

log = logging.getLogger(__name__)

__all__ = ("QCRules", "QC_COLUMNS", "run_qc", "runs")

QC_COLUMNS = ("station", "variable", "rule", "first_day", "last_day", "n_values", "detail")
#: Plausible ranges of the network's variables (``rh`` in %).
MET_RANGES = {**{k: v for k, v in RANGES.items() if k in ("prec", "air_temp", "swdown", "lwdown", "pressure",
                                                          "vp", "wind")}, "rh": (0.0, 100.0)}
UNITS = {"prec": "mm/day", "air_temp": "degC", "swdown": "W m-2", "lwdown": "W m-2", "pressure": "kPa",
         "vp": "kPa", "rh": "%", "wind": "m s-1"}


@dataclass(frozen=True)
class QCRules:
    """Thresholds of the QC rules (see the module docstring)."""

    stuck_days: int = 3
    flat_days: int = 5
    sw_zero: float = 5.0
    ra_min: float = 100.0
    sw_max_fraction: float = 1.1
    rh_overshoot: float = 105.0


def runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs (stop exclusive) of runs of True in ``mask`` at least ``min_len`` long."""
    out = []
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(int)))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= min_len:
            out.append((int(a), int(b)))
    return out


def _flat_runs(x: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """Runs of at least ``min_len`` finite, equal consecutive values."""
    fin = np.isfinite(x)
    same = np.zeros(len(x), bool)
    if len(x) > 1:
        eq = fin[1:] & fin[:-1] & (np.abs(np.diff(np.where(fin, x, 0.0))) <= 1e-6)
        # mark both ends of every equal pair
        same[1:] |= eq
        same[:-1] |= eq
    # split runs at places where consecutive values differ
    out = []
    for a, b in runs(same, 2):
        start = a
        for k in range(a + 1, b + 1):
            if k == b or abs(x[k] - x[k - 1]) > 1e-6:
                if k - start >= min_len:
                    out.append((start, k))
                start = k
    return out


def run_qc(values: dict[str, np.ndarray], stations: list[str], days: pd.DatetimeIndex, ra: np.ndarray,
           rules: QCRules = QCRules()) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """``values`` (``(station, day)`` per variable) with flagged values set to NaN, and the QC table."""
    out = {k: np.array(v, float, copy=True) for k, v in values.items()}
    rows: list[dict] = []

    def flag(i, var, rule, a, b, n, detail):
        rows.append({"station": stations[i], "variable": var, "rule": rule, "first_day": str(days[a].date()),
                     "last_day": str(days[b - 1].date()), "n_values": int(n), "detail": detail})

    if "rh" in out:
        rh = out["rh"]
        with np.errstate(invalid="ignore"):
            over = (rh > 100.0) & (rh <= rules.rh_overshoot)
        rh[over] = 100.0
    for var, (lo, hi) in MET_RANGES.items():
        if var not in out:
            continue
        x = out[var]
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(x) & ((x < lo) | (x > hi))
        for i in np.flatnonzero(bad.any(axis=1)):
            idx = np.flatnonzero(bad[i])
            vmin, vmax = float(np.nanmin(x[i, idx])), float(np.nanmax(x[i, idx]))
            flag(i, var, "range", idx[0], idx[-1] + 1, idx.size,
                 f"values {vmin:g}..{vmax:g} {UNITS[var]} outside the possible {lo:g}..{hi:g}")
            x[i, idx] = np.nan
    if "swdown" in out:
        sw = out["swdown"]
        with np.errstate(invalid="ignore"):
            above = np.isfinite(sw) & (sw > rules.sw_max_fraction * ra) & (ra > 0)
        for i in np.flatnonzero(above.any(axis=1)):
            idx = np.flatnonzero(above[i])
            flag(i, "swdown", "range", idx[0], idx[-1] + 1, idx.size,
                 f"above {rules.sw_max_fraction:g} x the top-of-atmosphere radiation (max "
                 f"{float(np.nanmax(sw[i, idx])):.0f} W m-2)")
            sw[i, idx] = np.nan
        with np.errstate(invalid="ignore"):
            zero = np.isfinite(sw) & (sw <= rules.sw_zero) & (ra > rules.ra_min)
        for i in range(sw.shape[0]):
            for a, b in runs(zero[i], rules.stuck_days):
                flag(i, "swdown", "stuck_shortwave", a, b, b - a,
                     f"<= {rules.sw_zero:g} W m-2 on {b - a} consecutive days with daylight (R_a > {rules.ra_min:g} "
                     f"W m-2): a stuck or covered sensor")
                sw[i, a:b] = np.nan
    for var, x in out.items():
        for i in range(x.shape[0]):
            for a, b in _flat_runs(x[i], rules.flat_days):
                if var == "prec" and abs(x[i, a]) <= 1e-6:
                    continue
                flag(i, var, "flat_line", a, b, b - a,
                     f"constant {x[i, a]:g} {UNITS[var]} on {b - a} consecutive days: a flat-lined sensor")
                x[i, a:b] = np.nan
    qc = pd.DataFrame(rows, columns=list(QC_COLUMNS))
    for r in rows:
        log.warning("QC: station %s, %s: %s %s..%s (%d values): %s", r["station"], r["variable"], r["rule"],
                    r["first_day"], r["last_day"], r["n_values"], r["detail"])
    return out, qc
