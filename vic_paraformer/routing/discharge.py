"""Discharge observations: USGS daily values (RDB and CSV) and a generic CSV, in m3/s.

USGS RDB ("tab-delimited RDB", the format of the NWIS daily-values service, described at
https://waterdata.usgs.gov/nwis/?tab_delimited_format_info): ``#`` comment lines, then per site a
line of tab-separated column names and a line of field formats (``5s 15s 20d 14n 10s``: width and
s = string, d = date, n = number), then the rows. Daily mean discharge is the column
``<ts>_00060_00003`` (parameter 00060 discharge in ft3/s, statistic 00003 mean) with its
qualifier column ``<ts>_00060_00003_cd``: ``A`` approved, ``P`` provisional, plus remarks such as
``e`` (estimated) after a colon. Empty values and codes such as ``Ice``, ``Eqp``, ``Ssn``, ``Dis``
are missing. A file may hold several sites, each block with its own two header lines.

USGS CSV: the same daily values as comma-separated columns (``site_no``, ``datetime``, a
``..._00060_00003`` or ``00060_Mean`` column with an optional ``_cd`` column) or the Water Data API's
daily CSV (``monitoring_location_id``, ``time``, ``value``, ``unit_of_measure``, optional
``parameter_code``/``statistic_id``, ``approval_status``, ``qualifier``).

Generic CSV: columns ``time``, ``gauge``, ``q`` in m3/s, optionally ``lat``, ``lon`` of the gauge.

Provisional values are kept unless ``approved_only``; estimated values are kept. ft3/s become m3/s
(x 0.028316846592).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ObservationError

log = logging.getLogger(__name__)

CFS_TO_M3S = 0.028316846592
FORMATS = ("auto", "usgs-rdb", "usgs-csv", "csv")
_FORMAT_LINE = re.compile(r"^\d+[sdn]$")
_DV_COLUMN = re.compile(r"^(\d+_)?00060_(00003|Mean)$")


@dataclass
class DischargeRecord:
    """Daily discharge per gauge: ``q`` ``(n_gauges, n_days)`` in m3/s (NaN where missing), gauge
    ids, optional coordinates (NaN where unknown) and the file read."""

    gauge: list[str]
    time: pd.DatetimeIndex
    q: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    source: str
    counts: dict = field(default_factory=dict)


def _frame_to_record(df: pd.DataFrame, path: Path, coords: dict | None = None) -> DischargeRecord:
    """``df`` with columns gauge, time, q (m3/s)."""
    df = df.dropna(subset=["time"])
    if df.empty:
        raise ObservationError(f"{path}: no discharge values")
    wide = df.pivot_table(index="gauge", columns="time", values="q", aggfunc="mean", dropna=False)
    days = pd.date_range(wide.columns.min(), wide.columns.max(), freq="D")
    wide = wide.reindex(columns=days)
    gauges = [str(g) for g in wide.index]
    coords = coords or {}
    lat = np.array([coords.get(g, (np.nan, np.nan))[0] for g in gauges], float)
    lon = np.array([coords.get(g, (np.nan, np.nan))[1] for g in gauges], float)
    q = wide.to_numpy(float)
    neg = np.argwhere(q < 0)
    if neg.size:
        g, t = neg[0]
        raise ObservationError(f"{path}: discharge of gauge {gauges[g]!r} on {days[t].date()} is {q[g, t]:g} m3/s; "
                               f"expected >= 0")
    return DischargeRecord(gauges, days, q, lat, lon, str(path))


def _to_number(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.astype(str).str.strip().replace({"": np.nan}), errors="coerce")


def _keep(codes: pd.Series | None, approved_only: bool) -> np.ndarray | None:
    if codes is None or not approved_only:
        return None
    return codes.fillna("").astype(str).str.split(":").str[0].str.contains("A").to_numpy()


def read_usgs_rdb(path: str | Path, *, approved_only: bool = False) -> DischargeRecord:
    """Daily mean discharge (m3/s) from a USGS RDB daily-values file (module docstring)."""
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    frames, i = [], 0
    body = [ln for ln in lines if not ln.startswith("#")]
    while i < len(body):
        if not body[i].strip():
            i += 1
            continue
        names = body[i].split("\t")
        if i + 1 >= len(body) or not all(_FORMAT_LINE.match(t.strip()) for t in body[i + 1].split("\t")):
            raise ObservationError(f"{path}: line {lines.index(body[i]) + 1} is not an RDB header (column names, then "
                                   f"a line of field formats such as '5s<TAB>15s<TAB>20d<TAB>14n')")
        j = i + 2
        while j < len(body) and body[j].strip() and not body[j].startswith("agency_cd"):
            j += 1
        block = pd.read_csv(io.StringIO("\n".join(body[j0] for j0 in range(i + 2, j))), sep="\t", header=None,
                            names=names, dtype=str, keep_default_na=False)
        frames.append(_dv_frame(block, path, approved_only))
        i = j
    if not frames:
        raise ObservationError(f"{path}: no RDB table (expected '#' comments, a header line and a format line)")
    return _frame_to_record(pd.concat(frames), path)


def _dv_frame(block: pd.DataFrame, path: Path, approved_only: bool) -> pd.DataFrame:
    cols = [c for c in block.columns if _DV_COLUMN.match(c)]
    if not cols:
        raise ObservationError(f"{path}: no daily mean discharge column (<ts>_00060_00003, ft3/s); columns are "
                               f"{', '.join(block.columns[:8])}")
    for need in ("site_no", "datetime"):
        if need not in block.columns:
            raise ObservationError(f"{path}: no {need!r} column in the USGS daily values")
    value = _to_number(block[cols[0]]) * CFS_TO_M3S
    keep = _keep(block.get(cols[0] + "_cd"), approved_only)
    if keep is not None:
        value = value.where(keep)
    return pd.DataFrame({"gauge": block["site_no"].astype(str).str.strip(),
                         "time": pd.to_datetime(block["datetime"], errors="coerce"), "q": value})


def read_usgs_csv(path: str | Path, *, approved_only: bool = False) -> DischargeRecord:
    """Daily mean discharge (m3/s) from a USGS daily-values CSV (module docstring)."""
    path = Path(path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#")
    if "monitoring_location_id" in df.columns and "value" in df.columns:
        if "parameter_code" in df.columns:
            df = df[df["parameter_code"].str.strip().isin(["00060", ""])]
        if "statistic_id" in df.columns:
            df = df[df["statistic_id"].str.strip().isin(["00003", ""])]
        unit = df.get("unit_of_measure", pd.Series("ft^3/s", index=df.index)).str.strip().str.lower()
        factor = np.where(unit.isin(["m^3/s", "m3/s", "cms"]), 1.0,
                          np.where(unit.isin(["ft^3/s", "ft3/s", "cfs", ""]), CFS_TO_M3S, np.nan))
        if np.isnan(factor).any():
            raise ObservationError(f"{path}: unit_of_measure {unit[np.isnan(factor)].iloc[0]!r}; expected ft^3/s or m^3/s")
        value = _to_number(df["value"]) * factor
        keep = _keep(df["approval_status"].str[:1] if "approval_status" in df else None, approved_only)
        if keep is not None:
            value = value.where(keep)
        out = pd.DataFrame({"gauge": df["monitoring_location_id"].str.strip().str.replace("USGS-", "", regex=False),
                            "time": pd.to_datetime(df["time"].str[:10], errors="coerce"), "q": value})
        return _frame_to_record(out, path)
    return _frame_to_record(_dv_frame(df, path, approved_only), path)


def read_discharge_csv(path: str | Path) -> DischargeRecord:
    """Discharge (m3/s) from a generic CSV with columns time, gauge, q (and optionally lat, lon)."""
    path = Path(path)
    df = pd.read_csv(path, dtype={"gauge": str}, comment="#")
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in ("time", "gauge", "q") if c not in df.columns]
    if missing:
        raise ObservationError(f"{path}: discharge CSV lacks column(s) {', '.join(missing)}; expected time, gauge, q "
                               f"(m3/s) and optionally lat, lon")
    df["time"] = pd.to_datetime(df["time"], errors="coerce").dt.normalize()
    df["q"] = pd.to_numeric(df["q"], errors="coerce")
    coords = {}
    if "lat" in df.columns and "lon" in df.columns:
        first = df.groupby("gauge")[["lat", "lon"]].first()
        coords = {str(g): (float(r.lat), float(r.lon)) for g, r in first.iterrows()}
    return _frame_to_record(df[["gauge", "time", "q"]], path, coords)


def detect_format(path: Path) -> str:
    """``usgs-rdb``, ``usgs-csv`` or ``csv`` from the file's first lines."""
    with open(path, errors="replace") as f:
        head = [f.readline() for _ in range(200)]
    first = next((ln for ln in head if ln.strip() and not ln.startswith("#")), "")
    if "\t" in first and "agency_cd" in first or any(ln.startswith("# US Geological Survey") for ln in head):
        return "usgs-rdb"
    names = [c.strip().lower() for c in first.split(",")]
    if "monitoring_location_id" in names or ("site_no" in names and any(_DV_COLUMN.match(c) for c in first.strip().split(","))):
        return "usgs-csv"
    if {"time", "gauge", "q"} <= set(names):
        return "csv"
    raise ObservationError(f"{path}: not a discharge file this package reads (USGS RDB or CSV daily values, or a CSV "
                           f"with columns time, gauge, q in m3/s)")


def read_discharge(path: str | Path, *, format: str = "auto", approved_only: bool = False) -> DischargeRecord:
    """Read discharge observations in any of :data:`FORMATS` (``auto`` detects it)."""
    path = Path(path)
    if not path.exists():
        raise ObservationError(f"{path}: discharge file not found")
    if path.is_dir():
        raise ObservationError(f"{path}: is a folder, expected a discharge file")
    if format not in FORMATS:
        raise ObservationError(f"{path}: unknown discharge format {format!r}; expected one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "usgs-rdb":
        return read_usgs_rdb(path, approved_only=approved_only)
    if fmt == "usgs-csv":
        return read_usgs_csv(path, approved_only=approved_only)
    return read_discharge_csv(path)
