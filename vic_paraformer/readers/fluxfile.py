"""Flux-tower CSV files as AmeriFlux and FLUXNET write them: ``#`` comment lines (AmeriFlux BASE:
``# Site: US-Xxx``, ``# Version: ...``), one header line of variable names, comma-separated rows,
``-9999`` for missing values, timestamps as digits in local standard time --
``TIMESTAMP_START``/``TIMESTAMP_END`` ``YYYYMMDDHHMM`` (half-hourly, hourly) or ``TIMESTAMP``
``YYYYMMDD`` (daily). See https://ameriflux.lbl.gov/data/aboutdata/data-variables/ (section 1).
Only the columns a reader asks for are parsed; a value or timestamp that is not a number is an
error naming the file, column and line. Weekly, monthly and yearly files are rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ObservationError
from .base import ReadOptions, head_text
from .timeaxis import ONE_DAY

MISSING = -9999.0
SITE_RE = re.compile(r"^(?:AMF|FLX)_([A-Za-z]{2}-[A-Za-z0-9]{3})_")


@dataclass
class FluxTable:
    """The columns of a flux file that a reader asked for, as floats (NaN for -9999)."""

    path: Path
    comments: dict[str, str]
    columns: list[str]
    times: pd.DatetimeIndex  # naive local standard time: interval start, or the day (daily files)
    step: pd.Timedelta
    daily: bool
    data: dict[str, np.ndarray]


def read_header(path: Path) -> tuple[dict[str, str], list[str], int]:
    """The ``# key: value`` comments, the column names and the number of comment lines."""
    comments: dict[str, str] = {}
    skip = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("#"):
                    key, _, value = line[1:].partition(":")
                    comments[key.strip().lower()] = value.strip()
                    skip += 1
                    continue
                columns = [c.strip().strip('"') for c in line.strip().split(",")]
                return comments, columns, skip
    except OSError as exc:
        raise ObservationError(f"{path}: cannot read ({exc.strerror})") from None
    raise ObservationError(f"{path}: the file is empty; expected a header line of variable names and data rows")


def time_layout(path: Path, columns: Sequence[str]) -> tuple[str, bool]:
    """The timestamp column and whether the file is daily; ObservationError for other layouts."""
    if "TIMESTAMP_START" in columns:
        return "TIMESTAMP_START", False
    if "TIMESTAMP" in columns:
        return "TIMESTAMP", True
    raise ObservationError(f"{path}: no TIMESTAMP_START (half-hourly/hourly) or TIMESTAMP (daily) column; found "
                           f"{list(columns)[:12]}")


def read_table(path: Path, comments: dict[str, str], columns: list[str], skip: int, wanted: Sequence[str]) -> FluxTable:
    """The ``wanted`` columns of ``path`` (a flux CSV) with its timestamps."""
    tcol, daily = time_layout(path, columns)
    extra = ["TIMESTAMP_END"] if not daily and "TIMESTAMP_END" in columns else []
    use = list(dict.fromkeys([tcol, *extra, *[c for c in wanted if c in columns]]))
    try:
        df = pd.read_csv(path, skiprows=skip, usecols=use, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ObservationError(f"{path}: the file is empty; expected a header line and data rows") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ObservationError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    if not len(df):
        raise ObservationError(f"{path}: no data rows (the file has a header only)")
    first_row = skip + 2
    start = _stamps(path, df[tcol], tcol, daily, first_row)
    if daily:
        step = ONE_DAY
    else:
        if "TIMESTAMP_END" in df:
            end = _stamps(path, df["TIMESTAMP_END"], "TIMESTAMP_END", False, first_row)
            steps = pd.Series(end - start)
        else:
            steps = pd.Series(np.diff(start.asi8)).map(lambda ns: pd.Timedelta(int(ns)))
        steps = steps[steps > pd.Timedelta(0)]
        step = steps.mode().iloc[0] if len(steps) else pd.Timedelta("30min")
        if step >= ONE_DAY:
            raise ObservationError(f"{path}: TIMESTAMP_START/TIMESTAMP_END span {step}; weekly files are not read "
                                   f"(use the HH, HR or DD file)")
    data = {}
    for c in use:
        if c in (tcol, "TIMESTAMP_END"):
            continue
        data[c] = _numbers(path, df[c], c, first_row)
    return FluxTable(path=path, comments=comments, columns=columns, times=start, step=step, daily=daily, data=data)


def _stamps(path: Path, text: pd.Series, col: str, daily: bool, first_row: int) -> pd.DatetimeIndex:
    text = text.str.strip()
    digits = 8 if daily else 12
    fmt = "%Y%m%d" if daily else "%Y%m%d%H%M"
    ok = text.str.fullmatch(r"\d{%d}" % digits)
    t = pd.to_datetime(text.where(ok), format=fmt, errors="coerce")
    bad = np.nonzero(t.isna().to_numpy())[0]
    if bad.size:
        r = int(bad[0])
        what = "a daily TIMESTAMP YYYYMMDD" if daily else f"{col} as YYYYMMDDHHMM (local standard time)"
        hint = ""
        if daily and len(text.iloc[r]) == 6:
            hint = "; monthly files are not read (use the HH, HR or DD file)"
        elif daily and len(text.iloc[r]) == 4:
            hint = "; yearly files are not read (use the HH, HR or DD file)"
        raise ObservationError(f"{path}: column {col!r} row {r + first_row}: {text.iloc[r]!r} is not {what}{hint}")
    return pd.DatetimeIndex(t)


def _numbers(path: Path, text: pd.Series, col: str, first_row: int) -> np.ndarray:
    s = text.str.strip()
    num = pd.to_numeric(s.replace({"": np.nan, "NA": np.nan, "NaN": np.nan, "nan": np.nan}), errors="coerce")
    bad = num.isna() & ~s.isin(["", "NA", "NaN", "nan"])
    if bad.any():
        r = int(np.nonzero(bad.to_numpy())[0][0])
        raise ObservationError(f"{path}: column {col!r} row {r + first_row}: {s.iloc[r]!r} is not a number")
    arr = num.to_numpy(float, copy=True)
    arr[np.isclose(arr, MISSING)] = np.nan
    return arr


def site_id(path: Path, comments: Mapping[str, str], options: ReadOptions) -> str:
    """The site id: the ``site`` option, the ``# Site:`` comment, the file name, else its stem."""
    if options.extra.get("site"):
        return str(options.extra["site"]).strip()
    if comments.get("site"):
        return comments["site"]
    m = SITE_RE.match(path.name)
    return m.group(1) if m else path.stem


def sniff_header(path: Path) -> tuple[list[str], list[str]]:
    """The ``#`` comment lines and the column names of ``path``'s first lines (cheap)."""
    lines = head_text(path, 8192).splitlines()
    comments = []
    for line in lines:
        if line.startswith("#"):
            comments.append(line)
            continue
        return comments, [c.strip().strip('"') for c in line.split(",")]
    return comments, []


__all__ = ("FluxTable", "read_header", "time_layout", "read_table", "site_id", "sniff_header", "MISSING")
