"""A synthetic station network written as a modeller would receive it: met CSVs, tables, observations.

:func:`write_station_network` takes the synthetic twin of :func:`vic_paraformer.synthetic.synthetic_region`
(an ``ny x nx`` grid; each cell becomes one station, ids ``S01``, ``S02``, ... row by row, placed at
the cell centre moved by up to 0.03 degrees) and writes into a folder:

* ``met/Sxx.csv`` -- one meteorology CSV per station in the layout of
  :mod:`vic_paraformer.stations.metcsv`: ``prec`` (mm), ``air_temp`` (degC), ``swdown`` (W m-2),
  ``rh`` (%, the twin's humidity with 5 % multiplicative sensor noise), ``wind`` (m s-1); no pressure and no longwave (they are estimated). Most stations
  are daily (plain dates); the last ``n_subdaily`` stations are 3-hourly with timestamps in local
  standard time with their offset (``2015-04-01T03:00:00-06:00``), each step holding the day's
  mean (precipitation: an eighth of the day's total).
* Faults a QC must catch: station ``stuck`` (default ``S07``) reports shortwave 0 W m-2 for
  ``stuck_days`` days (default 120) from the first 1 June (a stuck sensor stored as 0); station
  ``S03`` misses air temperature on 12 scattered days and on one 6-day stretch.
* ``stations.csv`` -- id, lat, lon, elevation, utc_offset (-6 h, the US central time zone of the twin).
* ``soil.csv`` -- id and the twin's soil, vegetation and texture attributes
  (:data:`~vic_paraformer.synthetic.SIMULATOR_ATTRIBUTES`, sand, silt, clay).
* ``obs.csv`` -- ``site,time,obs_sm`` (the generic table reader's layout), the twin's noisy
  top-layer soil moisture on its observation days.
* ``truth.csv`` -- id and the true parameters (``true_infilt`` ...), for checking a calibration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_path
from .parameters import PARAMETER_NAMES
from .synthetic import SIMULATOR_ATTRIBUTES, synthetic_region

log = logging.getLogger(__name__)

__all__ = ("StationNetwork", "write_station_network")

UTC_OFFSET = -6.0


@dataclass
class StationNetwork:
    """The files :func:`write_station_network` wrote."""

    folder: Path
    met: Path
    stations: Path
    soil: Path
    obs: Path
    truth: Path
    n_stations: int
    n_days: int
    stuck: str


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _rh(vp: np.ndarray, t: np.ndarray) -> np.ndarray:
    es = 0.6108 * np.exp(17.27 * t / (t + 237.3))
    return np.clip(100.0 * vp / es, 1.0, 100.0)


def write_station_network(folder: str | Path, *, ny: int = 3, nx: int = 4, years: float = 2, seed: int = 0,
                          start: str = "2015-04-01", n_subdaily: int = 3, stuck: str = "S07",
                          stuck_days: int = 120) -> StationNetwork:
    """Write the station network described in the module docstring into ``folder``."""
    folder = Path(folder)
    region = synthetic_region(ny=ny, nx=nx, years=years, seed=seed, start=start, with_et=False)
    ds = region.ds
    n, days = region.n_cells, region.times
    rng = np.random.default_rng([seed, 7])
    ids = [f"S{i + 1:02d}" for i in range(n)]
    lat = ds["lat"].values + rng.uniform(-0.03, 0.03, n)
    lon = ds["lon"].values + rng.uniform(-0.03, 0.03, n)
    elev = region.attribute("elevation")
    _write_csv(pd.DataFrame({"id": ids, "lat": np.round(lat, 5), "lon": np.round(lon, 5),
                             "elevation": np.round(elev, 1), "utc_offset": UTC_OFFSET}), folder / "stations.csv")
    soil = {"id": ids}
    for name in ("sand", "silt", "clay", *SIMULATOR_ATTRIBUTES):
        soil[name] = np.round(region.attribute(name), 5)
    _write_csv(pd.DataFrame(soil), folder / "soil.csv")
    truth = {"id": ids}
    for p in PARAMETER_NAMES:
        truth[f"true_{p}"] = ds[f"true_{p}"].values
    _write_csv(pd.DataFrame(truth), folder / "truth.csv")
    f = {k: ds[k].values.astype(float) for k in ("prec", "air_temp", "swdown", "vp", "wind")}
    june = [i for i, d in enumerate(days) if d.month == 6 and d.day == 1]
    first_june = june[0] if june else 0
    for i, sid in enumerate(ids):
        prec, t, sw = f["prec"][i].copy(), f["air_temp"][i].copy(), f["swdown"][i].copy()
        rh = np.clip(_rh(f["vp"][i], f["air_temp"][i]) * np.exp(rng.normal(0.0, 0.05, len(days))), 1.0, 100.0)
        wind = f["wind"][i].copy()
        if sid == stuck:
            sw[first_june:first_june + stuck_days] = 0.0
        if sid == "S03":
            gaps = rng.choice(np.arange(10, len(days) - 10), 12, replace=False)
            t[gaps] = np.nan
            t[200:206] = np.nan
        cols = {"prec": np.round(prec, 3), "air_temp": np.round(t, 3), "swdown": np.round(sw, 2),
                "rh": np.round(rh, 2), "wind": np.round(wind, 3)}
        if i >= n - n_subdaily:
            steps = 8
            stamps = [(d + pd.Timedelta(hours=3 * k)).strftime("%Y-%m-%dT%H:%M:%S") + "-06:00"
                      for d in days for k in range(steps)]
            frame = {"time": stamps}
            for k, v in cols.items():
                rep = np.repeat(v, steps)
                frame[k] = np.round(rep / steps, 4) if k == "prec" else rep
            df = pd.DataFrame(frame)
        else:
            df = pd.DataFrame({"time": [str(d.date()) for d in days], **cols})
        _write_csv(df, folder / "met" / f"{sid}.csv")
    sm = ds["obs_sm"].values
    rows = [(ids[i], str(days[j].date()), round(float(sm[i, j]), 4)) for i, j in zip(*np.nonzero(np.isfinite(sm)))]
    _write_csv(pd.DataFrame(rows, columns=["site", "time", "obs_sm"]), folder / "obs.csv")
    log.info("wrote a %d-station network (%d days) to %s", n, len(days), folder)
    return StationNetwork(folder=folder, met=folder / "met", stations=folder / "stations.csv",
                          soil=folder / "soil.csv", obs=folder / "obs.csv", truth=folder / "truth.csv",
                          n_stations=n, n_days=len(days), stuck=stuck)
