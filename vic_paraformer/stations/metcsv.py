"""Station meteorology CSVs: the generic layout, read and aggregated to daily values.

Layout: either a folder of CSVs, one per station (the station id is the file name without
``.csv`` unless the file has a station column), or one long CSV with a station column. Column
names are case-insensitive; units are fixed by the name (values are never rescaled by guessing)::

    time          ISO 8601 date or time (also: date, datetime, timestamp). A plain date is a daily
                  value for that local day; a time without offset is the station's local standard
                  time (stations table ``utc_offset``, default 0, or a ``utc_offset`` column); a
                  time with an offset (``...+09:00``, ``...Z``) is converted. Sub-daily timestamps
                  mark the start of their interval.
    station       station id (also: site, id, station_id); optional in a one-station file
    prec          precipitation, mm per time step (a daily total for daily rows; sums of sub-daily
                  steps are added up) (also: precip, precipitation, prcp)
    air_temp      air temperature, degC (also: tair, temp, temperature)
    swdown        incoming shortwave, W m-2 (also: sw, shortwave, rsds, sw_in)
    rh            relative humidity, %          } one of the two; vapour pressure wins when both
    vp            vapour pressure, kPa (vp_hpa: hPa) }
    wind          wind speed, m s-1 (also: ws, wind_speed)
    pressure      optional: surface pressure, kPa (pressure_hpa: hPa; also: pres, psurf)
    lwdown        optional: incoming longwave, W m-2 (also: lw, longwave, rlds, lw_in)
    lat, lon, elevation   optional: the station's position when no stations table is given

Missing values: empty, NA, NaN or -9999. Sub-daily values become daily means (precipitation: daily
totals) over the station's local standard-time day, kept when at least ``min_coverage`` of the
day's time steps hold a value (:func:`vic_paraformer.readers.timeaxis.daily_means`); other days are
gaps (filled later by :mod:`vic_paraformer.stations.gapfill`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ObservationError, StationError
from ..readers.timeaxis import ONE_DAY, daily_means, is_date_only, parse_timestamps
from .table import ELEV_COLUMNS, LAT_COLUMNS, LON_COLUMNS, StationTable, find_column, read_csv

log = logging.getLogger(__name__)

__all__ = ("MET_VARIABLES", "REQUIRED", "StationMet", "DailyMet", "read_met", "daily_met", "COLUMN_ALIASES")

#: Daily variables of the network, in the order the QC report lists them (``rh`` in %).
MET_VARIABLES = ("prec", "air_temp", "swdown", "lwdown", "pressure", "vp", "rh", "wind")
#: Column spelling -> (variable, factor to its unit).
COLUMN_ALIASES: dict[str, tuple[str, float]] = {
    **{k: ("prec", 1.0) for k in ("prec", "precip", "precipitation", "prcp")},
    **{k: ("air_temp", 1.0) for k in ("air_temp", "tair", "temp", "temperature")},
    **{k: ("swdown", 1.0) for k in ("swdown", "sw", "shortwave", "rsds", "sw_in")},
    **{k: ("lwdown", 1.0) for k in ("lwdown", "lw", "longwave", "rlds", "lw_in")},
    **{k: ("rh", 1.0) for k in ("rh", "relative_humidity")},
    **{k: ("vp", 1.0) for k in ("vp", "vp_kpa", "vapour_pressure", "vapor_pressure")},
    "vp_hpa": ("vp", 0.1),
    **{k: ("wind", 1.0) for k in ("wind", "ws", "wind_speed")},
    **{k: ("pressure", 1.0) for k in ("pressure", "pressure_kpa", "pres", "psurf")},
    "pressure_hpa": ("pressure", 0.1),
}
#: Variables every station needs (humidity as rh or vp).
REQUIRED = ("prec", "air_temp", "swdown", "wind")
TIME_COLUMNS = ("time", "date", "datetime", "timestamp")
STATION_COLUMNS = ("station", "site", "id", "station_id")
MISSING = {"", "na", "nan", "n/a", "-9999", "-9999.0", "-9999.00", "null"}
#: Whole-column unit mistakes recognised (median of the column): variable -> (limit, advice).
UNIT_HINTS = {"air_temp": (150.0, "looks like K; expected degC"),
              "pressure": (200.0, "looks like hPa; expected kPa (name the column pressure_hpa)"),
              "vp": (15.0, "looks like hPa; expected kPa (name the column vp_hpa)")}


@dataclass
class StationMet:
    """One station's meteorology as read: UTC-indexed values per variable, native step, its file."""

    station: str
    values: pd.DataFrame
    step: pd.Timedelta
    day_labels: bool
    source: str
    position: dict[str, float] = field(default_factory=dict)


@dataclass
class DailyMet:
    """Daily meteorology ``(station, day)`` per variable (NaN gaps) on the local standard-time days."""

    days: pd.DatetimeIndex
    values: dict[str, np.ndarray]
    #: per variable: whether each station's files have the column at all
    present: dict[str, np.ndarray]
    #: per variable and station: days with some data but below the coverage
    low_coverage: dict[str, np.ndarray]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".txt") and p.is_file())
        if not files:
            raise StationError(f"{path}: no meteorology CSV in the folder; expected one CSV per station")
        return files
    if not path.exists():
        raise StationError(f"{path}: meteorology file or folder not found")
    return [path]


def read_met(path: str | Path, stations: StationTable | None = None) -> list[StationMet]:
    """Every station's meteorology in ``path`` (a folder of CSVs or one CSV; layout in the module
    docstring). Naive timestamps are read in the station's ``utc_offset`` from ``stations``."""
    path = Path(path)
    out: dict[str, StationMet] = {}
    for f in _files(path):
        df = read_csv(f, "meteorology file")
        scol = find_column(df, STATION_COLUMNS)
        names = df[scol].str.strip().to_numpy() if scol else np.full(len(df), f.stem)
        for name in dict.fromkeys(names):
            sub = df.loc[names == name].reset_index(drop=True)
            if name in out:
                raise StationError(f"{f}: station {name} also appears in {out[name].source}; one file per station")
            out[name] = _station(sub, str(name), f, stations)
    return list(out.values())


def _station(df: pd.DataFrame, name: str, path: Path, stations: StationTable | None) -> StationMet:
    tcol = find_column(df, TIME_COLUMNS)
    if tcol is None:
        raise StationError(f"{path}: needs a 'time' (or date) column; found {list(df.columns)}")
    cols: dict[str, tuple[str, float]] = {}
    for c in df.columns:
        key = str(c).strip().lower()
        if key in COLUMN_ALIASES:
            var, factor = COLUMN_ALIASES[key]
            if var in cols:
                raise StationError(f"{path}: columns {cols[var][0]!r} and {c!r} both hold {var}; keep one")
            cols[var] = (c, factor)
    missing = [v for v in REQUIRED if v not in cols]
    if "rh" not in cols and "vp" not in cols:
        missing.append("rh or vp")
    if missing:
        raise StationError(f"{path}: station {name} lacks column(s) {missing}; expected the layout of "
                           f"vic_paraformer.stations.metcsv (found {list(df.columns)})")
    values = {}
    for var, (c, factor) in cols.items():
        text = df[c].astype(str).str.strip()
        num = pd.to_numeric(text.where(~text.str.lower().isin(MISSING)), errors="coerce")
        bad = num.isna() & ~text.str.lower().isin(MISSING)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise StationError(f"{path}: station {name}, column {c!r} row {i + 2}: {df[c].iloc[i]!r} is not a number")
        arr = num.to_numpy(float) * factor
        hint = UNIT_HINTS.get(var)
        fin = arr[np.isfinite(arr)]
        if hint and fin.size and float(np.median(fin)) > hint[0]:
            raise StationError(f"{path}: station {name}, column {c!r} has median {np.median(fin):g}: {hint[1]}")
        values[var] = arr
    offset: float | np.ndarray = 0.0
    if stations is not None and stations.index(name) is not None:
        offset = float(stations.utc_offset[stations.index(name)])
    ocol = find_column(df, ("utc_offset",))
    if ocol is not None:
        offset = pd.to_numeric(df[ocol], errors="coerce").to_numpy(float)
        if not np.isfinite(offset).all():
            raise StationError(f"{path}: column {ocol!r} must hold hours east of UTC (numbers)")
    tvals = df[tcol].astype(str).str.strip().to_numpy()
    day_labels = is_date_only(tvals)
    if day_labels:  # plain dates name the local day itself: no shift
        offset = 0.0
    try:
        times = parse_timestamps(tvals, what=f"{path}: station {name}, column {tcol!r}", utc_offset_h=offset)
    except ObservationError as exc:
        raise StationError(str(exc)) from None
    frame = pd.DataFrame(values, index=times)
    if frame.index.duplicated().any():
        t = frame.index[frame.index.duplicated()][0]
        raise StationError(f"{path}: station {name} has two rows for {t}; expected one row per time step")
    frame = frame.sort_index()
    position = {}
    for key, names in (("lat", LAT_COLUMNS), ("lon", LON_COLUMNS), ("elevation", ELEV_COLUMNS)):
        c = find_column(df, names)
        if c is not None:
            position[key] = float(pd.to_numeric(df[c].iloc[0], errors="coerce"))
    return StationMet(station=name, values=frame, step=ONE_DAY if day_labels else _step(frame.index),
                      day_labels=day_labels, source=str(path), position=position)


def _step(times: pd.DatetimeIndex) -> pd.Timedelta:
    if len(times) < 2:
        return ONE_DAY
    d = pd.Series(np.diff(times.asi8)).value_counts()
    return pd.Timedelta(int(d.index[0]), unit="ns")


def daily_met(met: list[StationMet], stations: StationTable, *, start=None, end=None,
              min_coverage: float = 0.75) -> DailyMet:
    """Daily values on the stations' local standard-time days (``stations`` order).

    The days run from the first to the last day any station has (or ``start``..``end``).
    """
    by_name = {m.station: m for m in met}
    first, last = [], []
    for m in met:
        local = m.values.index.tz_convert("UTC").tz_localize(None)
        off = pd.Timedelta(hours=float(stations.utc_offset[stations.index(m.station)]))
        first.append((local[0] + (pd.Timedelta(0) if m.day_labels else off)).floor("D"))
        last.append((local[-1] + (pd.Timedelta(0) if m.day_labels else off)).floor("D"))
    d0 = pd.Timestamp(start).normalize() if start is not None else min(first)
    d1 = pd.Timestamp(end).normalize() if end is not None else max(last)
    if d1 < d0:
        raise StationError(f"no days between {d0.date()} and {d1.date()}; the meteorology spans "
                           f"{min(first).date()}..{max(last).date()}")
    days = pd.date_range(d0, d1, freq="D")
    n, nd = len(stations), len(days)
    values = {v: np.full((n, nd), np.nan) for v in MET_VARIABLES}
    present = {v: np.zeros(n, bool) for v in MET_VARIABLES}
    low = {v: np.zeros(n, int) for v in MET_VARIABLES}
    for i, name in enumerate(stations.ids):
        m = by_name.get(name)
        if m is None:
            continue
        expected = 1.0 if m.day_labels else max(1.0, ONE_DAY / m.step)
        daily, lows, _ = daily_means(m.values, step=m.step, stamp="start", offset_h=float(stations.utc_offset[i]),
                                     days=days, min_coverage=min_coverage, day_labels=m.day_labels)
        for v, arr in daily.items():
            values[v][i] = arr * expected if v == "prec" else arr
            present[v][i] = True
            low[v][i] = lows[v]
    return DailyMet(days=days, values=values, present=present, low_coverage=low)
