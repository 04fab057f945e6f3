"""The generic observation table: CSV (or a netCDF table) with one row per time and place.

Columns (names are case-insensitive)::

    time        ISO 8601 date or time: 2008-01-01, 2008-01-01T06:00, 2008-01-01T06:00:00+09:00, ...Z
                (also accepted: date, datetime, timestamp)
    lat, lon    degrees (the site's position), or
    cell        a cell id of the region, or
    site        a station name (matched to a station region's names, else by lat/lon)
    obs_sm      volumetric soil moisture, m3 m-3   (obs_sm_percent: percent, divided by 100)
    obs_et      evapotranspiration, mm/day
    utc_offset  optional: hours east of UTC of naive timestamps (default 0: UTC)
    qc          optional quality flag per row; rows whose flag is not accepted are dropped
                (default accepted: empty, 0, G, good, ok; ``--flags`` lists others)

Timestamps follow :mod:`vic_paraformer.readers.timeaxis`: a plain date is the day it names, an
offset is honoured. Values outside the physical range (``obs_sm`` 0..1, ``obs_et`` 0..50 mm/day)
are errors naming the file, column and row, except that values that look like percent are named
as such. A netCDF table with ``obs_sm``/``obs_et`` over ``time`` and ``cell`` (or lat/lon
coordinates) is read the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ObservationError
from .base import CellTarget, Observations, ReadOptions, Reader, SiteSeries, head_text, require_rows
from .sites import sites_to_cells
from .timeaxis import ONE_DAY, is_date_only, parse_timestamps

log = logging.getLogger(__name__)

TIME_COLUMNS = ("time", "date", "datetime", "timestamp")
DEFAULT_GOOD_FLAGS = ("", "0", "g", "good", "ok", "nan")
RANGES = {"obs_sm": (0.0, 1.0), "obs_et": (0.0, 50.0)}


def _col(df: pd.DataFrame, *names: str) -> str | None:
    low = {str(c).strip().lower(): c for c in df.columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def accepted_flags(spec: str | None, default: tuple[str, ...]) -> set[str]:
    """The accepted flag values (lower case) of a comma-separated ``spec`` (None: ``default``)."""
    if spec is None:
        return set(default)
    return {f.strip().lower() for f in spec.split(",")}


class TableReader(Reader):
    """The generic CSV / netCDF observation table (see the module docstring)."""

    name = "csv"
    description = "generic table: time, lat/lon or cell or site, obs_sm (m3 m-3), obs_et (mm/day)"
    suffixes = (".csv", ".txt", ".nc", ".nc4")

    def sniff(self, path: Path) -> bool:
        if path.suffix.lower() in (".csv", ".txt"):
            first = head_text(path, 2048).splitlines()[:1]
            return bool(first) and any(k in first[0].lower() for k in ("obs_sm", "obs_et"))
        if path.suffix.lower() in (".nc", ".nc4"):
            try:
                with xr.open_dataset(path) as ds:
                    return any(v in ds.data_vars for v in ("obs_sm", "obs_et"))
            except (OSError, ValueError):
                return False
        return False

    def read(self, path: Path, target: CellTarget, options: ReadOptions) -> Observations:
        df = self._frame(path)
        require_rows(path, len(df), "data rows (the file has a header only)")
        return sites_to_cells(self.sites(df, path, options), target, options, path=path, fmt=self.name)

    # ------------------------------------------------------------------------------------------
    def _frame(self, path: Path) -> pd.DataFrame:
        if path.suffix.lower() in (".nc", ".nc4"):
            try:
                with xr.open_dataset(path) as ds:
                    names = [v for v in ("obs_sm", "obs_et") if v in ds.data_vars]
                    if not names:
                        raise ObservationError(f"{path}: no observation variable; expected obs_sm (m3 m-3) and/or "
                                               f"obs_et (mm/day), found {sorted(map(str, ds.data_vars))}")
                    return ds[names].load().to_dataframe().reset_index()
            except (OSError, ValueError) as exc:
                if isinstance(exc, ObservationError):
                    raise
                raise ObservationError(f"{path}: cannot read as netCDF ({exc}); damaged or truncated?") from None
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, comment=None, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ObservationError(f"{path}: the file is empty; expected a header line and data rows") from None
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ObservationError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None

    def sites(self, df: pd.DataFrame, path: Path, options: ReadOptions) -> list[SiteSeries]:
        """One :class:`SiteSeries` per place in the table."""
        tcol = _col(df, *TIME_COLUMNS)
        if tcol is None:
            raise ObservationError(f"{path}: needs a 'time' (or date) column; found {list(map(str, df.columns))}")
        values: dict[str, np.ndarray] = {}
        for v in options.variables:
            c, pct = _col(df, v), _col(df, f"{v}_percent")
            if c is None and pct is None:
                continue
            text = _text(df[c if c is not None else pct])
            raw = pd.to_numeric(text.replace({"": np.nan}), errors="coerce")
            bad = raw.isna() & ~text.str.lower().isin(["", "nan", "na", "n/a", "-9999", "-9999.0"])
            if bad.any():
                row = int(np.nonzero(bad.to_numpy())[0][0])
                raise ObservationError(f"{path}: column {c or pct!r} row {row + 2}: {df[c or pct].iloc[row]!r} is not a "
                                       f"number")
            arr = raw.to_numpy(float, copy=True)
            arr[np.isclose(arr, -9999.0)] = np.nan
            if pct is not None and c is None:
                arr = arr / 100.0
            self._check_range(path, c or pct, v, arr)
            values[v] = arr
        if not values:
            raise ObservationError(f"{path}: no observation column; expected obs_sm (m3 m-3), obs_sm_percent or "
                                   f"obs_et (mm/day), found {list(map(str, df.columns))}")
        n_rows = len(df)
        qcol = _col(df, "qc", "flag", "quality")
        keep = np.ones(n_rows, bool)
        if qcol is not None:
            good = accepted_flags(options.flags, DEFAULT_GOOD_FLAGS)
            keep = _text(df[qcol]).str.lower().isin(good).to_numpy()
        offcol = _col(df, "utc_offset")
        offset = pd.to_numeric(df[offcol], errors="coerce").to_numpy(float) if offcol is not None else \
            float(options.extra.get("utc_offset", 0.0))
        if offcol is not None and not np.isfinite(offset).all():
            raise ObservationError(f"{path}: column {offcol!r} must hold hours east of UTC (numbers)")
        tvals = _text(df[tcol]).to_numpy()
        day_labels = is_date_only(tvals) and offcol is None and "utc_offset" not in options.extra
        times = parse_timestamps(tvals, what=f"{path}: column {tcol!r}", utc_offset_h=offset)
        step = ONE_DAY if day_labels else _step(times)
        key, kind = self._place(df, path)
        out = []
        frame = pd.DataFrame(values, index=times)
        groups: dict = {}
        for r, k in enumerate(key):
            groups.setdefault(k if kind != "cell" else int(k), []).append(r)
        for k, rows in groups.items():
            rows = np.asarray(rows)
            sub = frame.iloc[rows]
            flagged = ~keep[rows]
            n_flagged = {v: int((flagged & np.isfinite(sub[v].to_numpy())).sum()) for v in values}
            sub = sub.copy()
            sub.loc[flagged, :] = np.nan
            sub = sub.sort_index()
            lat = lon = np.nan
            cell = None
            if kind == "cell":
                cell = int(float(k))
            elif kind == "latlon":
                lat, lon = k
            else:
                latc, lonc = _col(df, "lat", "latitude"), _col(df, "lon", "longitude")
                if latc is not None and lonc is not None:
                    lat = float(df[latc].iloc[rows[0]])
                    lon = float(df[lonc].iloc[rows[0]])
            name = k if kind == "site" else (f"cell {cell}" if cell is not None else f"lat {lat:.4f} lon {lon:.4f}")
            out.append(SiteSeries(site=str(name), lat=float(lat), lon=float(lon), values=sub, step=step,
                                  n_flagged=n_flagged, cell=cell, day_labels=day_labels,
                                  stamp="start" if day_labels or step >= ONE_DAY else "instant"))
        return out

    @staticmethod
    def _place(df: pd.DataFrame, path: Path):
        latc, lonc = _col(df, "lat", "latitude"), _col(df, "lon", "longitude")
        cellc, sitec = _col(df, "cell"), _col(df, "site", "station")
        if sitec is not None:
            return df[sitec].astype(str).str.strip().to_numpy(), "site"
        if latc is not None and lonc is not None:
            try:
                lat = pd.to_numeric(df[latc]).to_numpy(float)
                lon = pd.to_numeric(df[lonc]).to_numpy(float)
            except ValueError:
                raise ObservationError(f"{path}: columns {latc!r}/{lonc!r} must hold degrees (numbers)") from None
            if not (np.all(np.abs(lat) <= 90) and np.all((lon >= -180) & (lon <= 360))):
                raise ObservationError(f"{path}: column {latc!r} or {lonc!r} outside -90..90 / -180..360 degrees")
            return [(float(a), float(b)) for a, b in zip(np.round(lat, 6), np.round(lon, 6))], "latlon"
        if cellc is not None:
            try:
                ids = pd.to_numeric(df[cellc]).to_numpy(float)
            except ValueError:
                raise ObservationError(f"{path}: column {cellc!r} must hold integer cell ids") from None
            return ids.astype(int), "cell"
        raise ObservationError(f"{path}: needs lat and lon, cell, or site columns to place its rows; found "
                               f"{list(map(str, df.columns))}")

    @staticmethod
    def _check_range(path: Path, col: str, var: str, arr: np.ndarray) -> None:
        lo, hi = RANGES[var]
        fin = arr[np.isfinite(arr)]
        if not fin.size:
            return
        vmax, vmin = float(fin.max()), float(fin.min())
        if var == "obs_sm" and 1.0 < vmax <= 100.0:
            raise ObservationError(f"{path}: column {col!r} reaches {vmax:g}: looks like percent; expected m3 m-3 "
                                   f"(divide by 100, or name the column obs_sm_percent)")
        if var == "obs_et" and vmax > hi:
            raise ObservationError(f"{path}: column {col!r} reaches {vmax:g}: looks like latent heat (W m-2); "
                                   f"expected mm/day")
        if vmin < lo or vmax > hi:
            bad = vmin if vmin < lo else vmax
            raise ObservationError(f"{path}: column {col!r} holds {bad:g}, outside {lo:g}..{hi:g} "
                                   f"({'m3 m-3' if var == 'obs_sm' else 'mm/day'})")


def _text(col: pd.Series) -> pd.Series:
    """A column as stripped text, missing values as ''."""
    return col.map(lambda x: "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x).strip())


def _step(times: pd.DatetimeIndex) -> pd.Timedelta:
    """The most common positive spacing of ``times`` (one day when it cannot be told)."""
    u = times.unique().sort_values()
    if len(u) < 2:
        return ONE_DAY
    d = pd.Series(np.diff(u.asi8)).value_counts()
    return pd.Timedelta(int(d.index[0]), unit="ns")


__all__ = ("TableReader", "accepted_flags", "DEFAULT_GOOD_FLAGS")
