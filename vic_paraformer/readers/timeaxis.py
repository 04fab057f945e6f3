"""Timestamps to the Region's days: offsets and time zones honoured, never dropped silently.

Rules (documented in the README's observation section):

* A timestamp with an offset (``2008-01-01T00:00:00+09:00``, ``...Z``) is an instant; it is
  converted to UTC. A naive timestamp is read in the time zone the format documents (UTC for the
  generic CSV unless a ``utc_offset`` column or option says otherwise; local standard time for
  AmeriFlux and FLUXNET files, whose site metadata give the offset).
* Each value is assigned to the day, in the Region's convention (``utc`` days, or ``local``
  standard-time days of the cell), that contains the middle of its measurement interval (the
  instant itself for instantaneous readings). So a daily value stamped at local midnight lands on
  that local day whichever convention the Region uses, as nearly as the two calendars allow.
* A plain date column (daily values, no time of day) is taken as the day it names.
* A day of sub-daily data counts when at least ``min_coverage`` of its expected time steps hold
  a valid value; other days are NaN and counted as low-coverage days in the QC summary.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ObservationError

ONE_DAY = pd.Timedelta(days=1)


def parse_timestamps(values: Sequence, *, what: str, utc_offset_h: float | np.ndarray | None = 0.0) -> pd.DatetimeIndex:
    """UTC timestamps (tz-aware) of ``values``.

    Strings with an offset or zone are converted to UTC; naive values are read as local standard
    time ``utc_offset_h`` hours east of UTC (one number, or one per value). ObservationError naming
    ``what`` and the first value that is not a time.
    """
    raw = pd.Series(np.asarray(values, dtype=object))
    text = raw.astype(str).str.strip()
    aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        try:
            out[aware] = pd.to_datetime(text[aware], utc=True, format="ISO8601")
        except (ValueError, TypeError):
            _first_bad(text[aware], what, utc=True)
    naive = ~aware
    if naive.any():
        try:
            t = pd.to_datetime(text[naive], format="ISO8601") if _iso_like(text[naive]) else pd.to_datetime(text[naive])
        except (ValueError, TypeError):
            _first_bad(text[naive], what, utc=False)
        off = utc_offset_h if utc_offset_h is not None else 0.0
        off = np.asarray(off, float)
        off = off[naive.to_numpy()] if off.ndim else off
        shift = pd.to_timedelta(np.broadcast_to(off, (int(naive.sum()),)) * 3600.0, unit="s")
        out[naive] = (pd.DatetimeIndex(t) - shift).tz_localize("UTC")
    return pd.DatetimeIndex(out)


def _iso_like(text: pd.Series) -> bool:
    return bool(text.str.match(r"^\d{4}-\d\d-\d\d").all())


def _first_bad(text: pd.Series, what: str, *, utc: bool) -> None:
    for v in text:
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError):
            raise ObservationError(f"{what}: {v!r} is not a date or time; expected ISO 8601 such as "
                                   f"2008-01-01 or 2008-01-01T00:30:00+09:00") from None
    raise ObservationError(f"{what}: cannot read the timestamps (mixed formats?); expected ISO 8601")


def is_date_only(values: Sequence) -> bool:
    """Whether every value is a plain date (``YYYY-MM-DD``, no time of day, no zone)."""
    text = pd.Series(np.asarray(values, dtype=object)).astype(str).str.strip()
    return bool(len(text)) and bool(text.str.fullmatch(r"\d{4}-\d\d-\d\d").all())


def day_of(times_utc: pd.DatetimeIndex, *, step: pd.Timedelta, stamp: str, offset_h: float) -> pd.DatetimeIndex:
    """The (naive) day each value belongs to: the interval's middle, shifted to the convention's
    local time (``offset_h`` hours east of UTC, 0 for UTC days), floored to the day."""
    if stamp == "start":
        mid = times_utc + step / 2
    elif stamp == "end":
        mid = times_utc - step / 2
    else:
        mid = times_utc
    local = mid.tz_convert("UTC").tz_localize(None) + pd.Timedelta(hours=float(offset_h))
    return local.floor("D")


def daily_means(values: pd.DataFrame, *, step: pd.Timedelta, stamp: str, offset_h: float, days: pd.DatetimeIndex,
                min_coverage: float, day_labels: bool = False) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, int]]:
    """Per column: the daily means on ``days`` (NaN where too few valid steps), the number of days
    with some data but below ``min_coverage``, and the number of valid values outside ``days``."""
    if day_labels:
        day = pd.DatetimeIndex(values.index.tz_localize(None) if values.index.tz is not None else values.index).floor("D")
        expected = 1.0
    else:
        day = day_of(pd.DatetimeIndex(values.index), step=step, stamp=stamp, offset_h=offset_h)
        expected = max(1.0, ONE_DAY / step) if step > pd.Timedelta(0) else 1.0
    idx = days.get_indexer(day)
    out: dict[str, np.ndarray] = {}
    low: dict[str, int] = {}
    outside: dict[str, int] = {}
    for col in values.columns:
        v = values[col].to_numpy(dtype=float)
        ok = np.isfinite(v)
        inside = ok & (idx >= 0)
        outside[col] = int((ok & (idx < 0)).sum())
        s = np.zeros(len(days))
        n = np.zeros(len(days))
        np.add.at(s, idx[inside], v[inside])
        np.add.at(n, idx[inside], 1.0)
        enough = n >= min_coverage * expected - 1e-9
        low[col] = int(((n > 0) & ~enough).sum())
        out[col] = np.where(enough & (n > 0), s / np.where(n > 0, n, 1.0), np.nan)
    return out, low, outside


__all__ = ("parse_timestamps", "is_date_only", "day_of", "daily_means", "ONE_DAY")
