"""Gap filling of daily station meteorology, by one documented rule, reported per station and variable.

For each station and variable, in this order:

1. ``interpolated`` -- a gap of at most ``max_interp_days`` (default 3) consecutive days with a value
   on both sides is filled by linear interpolation in time. Precipitation is never interpolated.
2. ``neighbours`` -- a remaining gap day takes the inverse-distance-squared weighted mean of the up
   to ``n_neighbours`` (3) nearest other stations within ``max_km`` (150 km) that have a value that
   day (great-circle distances). Air temperature is moved to the station's elevation with a lapse
   rate of 6.5 K/km; pressure is scaled by the ratio of the standard-atmosphere pressures of the
   two elevations.
3. ``climatology`` -- what is still missing takes the station's own mean of that variable over the
   same calendar days (+- 15 days) of every year when at least 5 such values exist, else the
   station's mean over all days, else the network's mean that day, else the network's mean.

The report (:data:`FILL_COLUMNS`) has one row per station, variable and method with the number of
days filled. A variable with no value anywhere in the network is not filled (the caller estimates
it or reports it).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..readers.sites import great_circle_km
from .estimate import standard_pressure
from .qc import runs

log = logging.getLogger(__name__)

__all__ = ("fill_gaps", "FILL_COLUMNS", "LAPSE_RATE")

FILL_COLUMNS = ("station", "variable", "method", "n_days")
LAPSE_RATE = 6.5e-3  # K per m


def _interpolate(x: np.ndarray, max_days: int) -> int:
    """Fill interior gaps of at most ``max_days`` in place; the number of days filled."""
    gap = ~np.isfinite(x)
    n = 0
    for a, b in runs(gap, 1):
        if a == 0 or b == len(x) or b - a > max_days:
            continue
        x[a:b] = np.interp(np.arange(a, b), [a - 1, b], [x[a - 1], x[b]])
        n += b - a
    return n


def fill_gaps(values: dict[str, np.ndarray], stations: list[str], lat, lon, elevation, days: pd.DatetimeIndex, *,
              max_interp_days: int = 3, n_neighbours: int = 3, max_km: float = 150.0,
              only: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """``values`` (``(station, day)`` per variable) with gaps filled (module docstring) and the report.

    ``only`` maps a variable to a boolean mask of the stations whose gaps are filled (default: all);
    the others keep their NaN (e.g. stations without a longwave sensor, whose longwave is estimated).
    """
    lat, lon, elev = (np.asarray(a, float) for a in (lat, lon, elevation))
    dist = great_circle_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    np.fill_diagonal(dist, np.inf)
    out = {k: np.array(v, float, copy=True) for k, v in values.items()}
    rows: list[dict] = []
    doy = np.asarray(days.day_of_year)
    for var, x in out.items():
        if not np.isfinite(x).any():
            continue
        orig = x.copy()
        for i in range(x.shape[0]):
            if only is not None and var in only and not only[var][i]:
                continue
            counts = {"interpolated": 0, "neighbours": 0, "climatology": 0}
            if var != "prec":
                counts["interpolated"] = _interpolate(x[i], max_interp_days)
            missing = np.flatnonzero(~np.isfinite(x[i]))
            if missing.size:
                order = [j for j in np.argsort(dist[i]) if dist[i, j] <= max_km]
                for t in missing:
                    w_sum = v_sum = 0.0
                    used = 0
                    for j in order:
                        v = orig[j, t]
                        if not np.isfinite(v):
                            continue
                        if var == "air_temp":
                            v = v - LAPSE_RATE * (elev[i] - elev[j])
                        elif var == "pressure":
                            v = v * float(standard_pressure(elev[i]) / standard_pressure(elev[j]))
                        w = 1.0 / max(dist[i, j], 1e-3) ** 2
                        w_sum += w
                        v_sum += w * v
                        used += 1
                        if used == n_neighbours:
                            break
                    if used:
                        x[i, t] = v_sum / w_sum
                        counts["neighbours"] += 1
            missing = np.flatnonzero(~np.isfinite(x[i]))
            if missing.size:
                own = orig[i]
                for t in missing:
                    d = np.abs(doy - doy[t])
                    near = np.minimum(d, 365 - d) <= 15
                    vals = own[near & np.isfinite(own)]
                    if vals.size >= 5:
                        x[i, t] = float(vals.mean())
                    elif np.isfinite(own).any():
                        x[i, t] = float(np.nanmean(own))
                    elif np.isfinite(orig[:, t]).any():
                        x[i, t] = float(np.nanmean(orig[:, t]))
                    else:
                        x[i, t] = float(np.nanmean(orig))
                    counts["climatology"] += 1
            for method, n in counts.items():
                if n:
                    rows.append({"station": stations[i], "variable": var, "method": method, "n_days": int(n)})
    return out, pd.DataFrame(rows, columns=list(FILL_COLUMNS))
