"""The stations table and per-station attribute tables (soil, vegetation) of a station network.

Stations table (CSV, one row per station; column names case-insensitive)::

    id          station name, as in the meteorology and observation files (also: station, site, name)
    lat, lon    degrees (also: latitude, longitude)
    elevation   metres above sea level (also: elev, elevation_m, altitude, z)
    utc_offset  optional: hours east of UTC of the station's local standard time (default 0); the
                Region's days run from local midnight to local midnight of this time
    ...         any other numeric column is a static attribute of the station (e.g. sand, clay)

Attribute table (``--soil``): CSV with an ``id`` column (same aliases) and numeric columns, one row
per station; every station of the network must have a row (a missing one is an error naming it),
extra rows are ignored. Its columns join the stations table's attributes (the attribute table wins
where both name one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import StationError

ID_COLUMNS = ("id", "station", "site", "name", "station_id")
LAT_COLUMNS = ("lat", "latitude")
LON_COLUMNS = ("lon", "longitude")
ELEV_COLUMNS = ("elevation", "elev", "elevation_m", "altitude", "z")
OFFSET_COLUMNS = ("utc_offset",)

__all__ = ("StationTable", "read_station_table", "read_attribute_table", "find_column")


def find_column(df: pd.DataFrame, names) -> str | None:
    """The first column of ``df`` named (case-insensitively, spaces ignored) like one of ``names``."""
    low = {str(c).strip().lower(): c for c in df.columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def read_csv(path: Path, what: str) -> pd.DataFrame:
    """A CSV as text columns; StationError naming ``path`` when missing, empty or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise StationError(f"{path}: {what} not found" + (" (a folder)" if path.is_dir() else ""))
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise StationError(f"{path}: the {what} is empty; expected a header line and data rows") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise StationError(f"{path}: cannot read the {what} as CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise StationError(f"{path}: the {what} has a header only; expected one row per station")
    return df


def _numbers(df: pd.DataFrame, col: str, path: Path, what: str) -> np.ndarray:
    vals = pd.to_numeric(df[col].str.strip(), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StationError(f"{path}: column {col!r} row {i + 2} ({df[col].iloc[i]!r}): expected {what}")
    return vals


@dataclass
class StationTable:
    """The stations of a network: ids, positions, elevation (m), UTC offsets (h) and numeric attributes."""

    ids: list[str]
    lat: np.ndarray
    lon: np.ndarray
    elevation: np.ndarray
    utc_offset: np.ndarray
    attributes: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, station: str) -> int | None:
        """Position of ``station`` in the table, or None."""
        try:
            return self.ids.index(str(station))
        except ValueError:
            return None


def read_station_table(path: str | Path) -> StationTable:
    """The stations table at ``path`` (layout in the module docstring)."""
    path = Path(path)
    df = read_csv(path, "stations table")
    cols = {}
    for key, names, need in (("id", ID_COLUMNS, True), ("lat", LAT_COLUMNS, True), ("lon", LON_COLUMNS, True),
                             ("elevation", ELEV_COLUMNS, True), ("utc_offset", OFFSET_COLUMNS, False)):
        c = find_column(df, names)
        if c is None and need:
            raise StationError(f"{path}: the stations table needs a {key!r} column (also accepted: "
                               f"{', '.join(names[1:])}); found {list(df.columns)}")
        cols[key] = c
    ids = [s.strip() for s in df[cols["id"]].tolist()]
    if any(not s for s in ids):
        raise StationError(f"{path}: column {cols['id']!r} row {ids.index('') + 2} is empty; every station needs an id")
    dup = sorted({s for s in ids if ids.count(s) > 1})
    if dup:
        raise StationError(f"{path}: station id(s) {dup[:5]} appear more than once")
    lat = _numbers(df, cols["lat"], path, "latitude in degrees")
    lon = _numbers(df, cols["lon"], path, "longitude in degrees")
    elev = _numbers(df, cols["elevation"], path, "elevation in metres")
    for name, v, lo, hi in (("lat", lat, -90, 90), ("lon", lon, -180, 360), ("elevation", elev, -500, 9000)):
        bad = np.flatnonzero((v < lo) | (v > hi))
        if bad.size:
            i = int(bad[0])
            raise StationError(f"{path}: station {ids[i]} has {name} {v[i]:g}; expected {lo}..{hi}")
    off = _numbers(df, cols["utc_offset"], path, "hours east of UTC") if cols["utc_offset"] else np.zeros(len(ids))
    bad = np.flatnonzero(np.abs(off) > 14)
    if bad.size:
        raise StationError(f"{path}: station {ids[int(bad[0])]} has utc_offset {off[int(bad[0])]:g}; expected "
                           f"hours east of UTC within -14..14")
    used = {c for c in cols.values() if c}
    attrs = _attribute_columns(df, [c for c in df.columns if c not in used], path)
    attrs.index = ids
    return StationTable(ids=ids, lat=lat, lon=lon, elevation=elev, utc_offset=off, attributes=attrs,
                        source=str(path))


def _attribute_columns(df: pd.DataFrame, columns, path: Path) -> pd.DataFrame:
    """The numeric columns among ``columns`` (text columns are skipped with a note in the log)."""
    out = {}
    for c in columns:
        vals = pd.to_numeric(df[c].str.strip(), errors="coerce")
        if vals.notna().all():
            out[c] = vals.to_numpy(float)
        elif vals.notna().any():
            i = int(np.flatnonzero(vals.isna().to_numpy())[0])
            raise StationError(f"{path}: attribute column {c!r} row {i + 2} ({df[c].iloc[i]!r}) is not a number")
    return pd.DataFrame(out)


def read_attribute_table(path: str | Path, stations: StationTable) -> pd.DataFrame:
    """Numeric attributes per station from the table at ``path``, rows in ``stations`` order.

    StationError naming the file and the first station of ``stations`` it lacks.
    """
    path = Path(path)
    df = read_csv(path, "attribute table")
    idc = find_column(df, ID_COLUMNS)
    if idc is None:
        raise StationError(f"{path}: the attribute table needs an 'id' column naming the stations; found "
                           f"{list(df.columns)}")
    ids = [s.strip() for s in df[idc].tolist()]
    attrs = _attribute_columns(df, [c for c in df.columns if c != idc], path)
    if attrs.empty:
        raise StationError(f"{path}: the attribute table has no numeric column besides {idc!r}")
    attrs.index = ids
    missing = [s for s in stations.ids if s not in attrs.index]
    if missing:
        raise StationError(f"{path}: station {missing[0]} has no row ({len(missing)} of {len(stations)} stations "
                           f"missing); expected one row per station id")
    return attrs.loc[~attrs.index.duplicated()].loc[stations.ids]
