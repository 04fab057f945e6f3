"""ISMN ``.stm`` files: where they are (a file, a folder tree or a zip archive), what their name
and first line say, and one sensor's records with the ISMN quality flags, units and the physical
range applied.

The formats, flags and rules are documented in :mod:`vic_paraformer.readers.ismn`; the records
themselves are parsed by ``ismn.filehandlers.DataFile`` (the ``ismn`` package), which is handed in
by the reader so that this module imports without it.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ObservationError
from .base import head_text

#: ISMN flags accepted when ``ReadOptions.flags`` is None.
DEFAULT_FLAGS: tuple[str, ...] = ("G",)
#: Every ISMN quality-flag code for soil moisture that may be accepted.
KNOWN_FLAGS: frozenset[str] = frozenset({"G"} | {f"C{i:02d}" for i in range(1, 4)} |
                                        {f"D{i:02d}" for i in range(1, 11)})
#: The ISMN flag of a missing value (a gap, never accepted).
MISSING_FLAG = "M"
#: Physical range of volumetric soil moisture, m3 m-3.
VALID_RANGE: tuple[float, float] = (0.0, 1.0)
#: File-name variable codes of soil moisture.
SM_CODES = ("sm", "soil_moisture", "soil-moisture")
#: ``ReadOptions.extra["sm_units"]`` values and their factor to m3 m-3.
UNITS = {"m3 m-3": 1.0, "m3/m3": 1.0, "percent": 0.01, "%": 0.01}
#: Tolerance (m) of the depth comparison, so that 0.1 and 0.100000 agree.
DEPTH_TOL = 1e-6

HEADER_FIELDS = "CSE NETWORK STATION LATITUDE LONGITUDE ELEVATION DEPTH_FROM DEPTH_TO SENSOR"
RECORD_FIELDS = "yyyy/mm/dd HH:MM VALUE ISMN_FLAG PROVIDER_FLAG"
CEOP_FIELDS = 15


def accepted_flags(spec: str | None) -> frozenset[str]:
    """The accepted ISMN flag codes of a comma-separated ``spec`` (None: :data:`DEFAULT_FLAGS`)."""
    if spec is None:
        return frozenset(DEFAULT_FLAGS)
    codes = [c.strip().upper() for c in str(spec).split(",") if c.strip()]
    if not codes:
        raise ObservationError(f"flags {spec!r}: expected ISMN quality-flag codes such as G or G,C03")
    if MISSING_FLAG in codes:
        raise ObservationError(f"flags {spec!r}: M marks a missing value and cannot be accepted")
    bad = [c for c in codes if c not in KNOWN_FLAGS]
    if bad:
        raise ObservationError(f"flags {spec!r}: {', '.join(bad)} is not an ISMN soil-moisture quality flag; expected "
                               f"G, C01..C03 or D01..D10")
    return frozenset(codes)


@dataclass(frozen=True)
class StmHeader:
    """What a ``.stm`` file's name and first line say (read before the ``ismn`` package opens it)."""

    member: str
    network: str
    station: str
    variable: str
    lat: float
    lon: float
    depth_from: float
    depth_to: float
    layout: str

    @property
    def is_soil_moisture(self) -> bool:
        return self.variable.lower() in SM_CODES


class IsmnSource:
    """The ``.stm`` files of one input (a file, a folder, or a zip archive) and their first bytes."""

    def __init__(self, path: Path, base_mod: Any) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.root_obj: Any = None
        if path.is_dir():
            self.root = path
            self.members = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                                  if p.is_file() and p.suffix.lower() == ".stm")
        elif zipfile.is_zipfile(path):
            try:
                self.root_obj = base_mod.IsmnRoot(path)
            except (OSError, zipfile.BadZipFile) as exc:
                raise ObservationError(f"{path}: cannot open the zip archive ({exc})") from None
            self.zip = self.root_obj.zip
            self.root = path
            self.members = sorted(n for n in self.zip.namelist()
                                  if n.lower().endswith(".stm") and not n.endswith("/"))
        else:
            self.root = path.parent
            self.members = [path.name]

    def display(self, member: str) -> str:
        """The name of ``member`` in messages: its path on disk, or ``archive.zip:member``."""
        if self.zip is not None:
            return f"{self.path}:{member}"
        return str(self.root / member)

    def size(self, member: str) -> int:
        """The size of ``member`` in bytes (uncompressed)."""
        if self.zip is not None:
            return self.zip.getinfo(member).file_size
        return (self.root / member).stat().st_size

    def head(self, member: str, n_bytes: int = 8192) -> str:
        """The first ``n_bytes`` of ``member`` as text."""
        if self.zip is not None:
            with self.zip.open(member) as fh:
                return fh.read(n_bytes).decode("utf-8", errors="replace")
        return head_text(self.root / member, n_bytes)

    def data_root(self) -> Any:
        """The root ``ismn.filehandlers.DataFile`` opens members in (a folder, or the open zip)."""
        return self.root_obj if self.root_obj is not None else self.root

    def close(self) -> None:
        """Close the zip archive, if one is open."""
        if self.root_obj is not None:
            self.root_obj.close()


def number(token: str) -> float | None:
    """``token`` as a finite number (quotes stripped), or None."""
    try:
        v = float(token.strip("'\""))
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def read_header(source: IsmnSource, member: str) -> StmHeader:
    """The :class:`StmHeader` of ``member``; ObservationError naming the file when it is empty, its
    name does not follow the ISMN naming, or its first line is not an ISMN header or record."""
    name = source.display(member)
    if source.size(member) == 0:
        raise ObservationError(f"{name}: the file is empty; expected an ISMN header line ({HEADER_FIELDS}) "
                               f"and records ({RECORD_FIELDS})")
    parts = PurePosixPath(member).stem.split("_")
    if len(parts) < 8:
        raise ObservationError(f"{name}: the file name does not follow the ISMN naming "
                               f"CSE_NETWORK_STATION_VARIABLE_FROM_TO_SENSOR_START_END.stm")
    lines = [ln for ln in source.head(member).splitlines() if ln.strip()]
    if not lines:
        raise ObservationError(f"{name}: the file holds no text; expected an ISMN header line ({HEADER_FIELDS})")
    first = lines[0].split()
    ceop = len(first) == CEOP_FIELDS and is_date(first[0]) and is_date(first[2])
    if ceop:
        nums = [number(t) for t in first[7:12]]
        label, layout = "CEOP record", "ceop"
        net, station = first[5], first[6]
    else:
        if is_date(first[0]):
            raise ObservationError(f"{name}: line 1 is a record, not the ISMN header line ({HEADER_FIELDS})")
        nums = [number(t) for t in first[3:8]] if len(first) >= 8 else [None]
        label, layout = "header", "header_values"
        net, station = (first[1], first[2]) if len(first) >= 3 else ("", "")
    if any(v is None for v in nums):
        raise ObservationError(f"{name}: damaged ISMN {label} on line 1 ({lines[0].strip()[:80]!r}); expected "
                               + (f"{CEOP_FIELDS} fields ending in LATITUDE LONGITUDE ELEVATION DEPTH_FROM DEPTH_TO "
                                  "VALUE ISMN_FLAG PROVIDER_FLAG" if ceop else HEADER_FIELDS)
                               + " with numbers for position and depths")
    lat, lon, _elev, d_from, d_to = nums
    if not (-90 <= lat <= 90 and -180 <= lon <= 360):
        raise ObservationError(f"{name}: {label} position lat {lat:g}, lon {lon:g} outside -90..90 / -180..360 degrees")
    if not 0 <= d_from <= d_to:
        raise ObservationError(f"{name}: {label} depths {d_from:g} to {d_to:g} m; expected 0 <= DEPTH_FROM <= DEPTH_TO "
                               f"(metres below ground)")
    if layout == "header_values" and len(lines) < 2:
        raise ObservationError(f"{name}: no records after the header; the file holds no observation the toolkit "
                               f"can use")
    return StmHeader(member=member, network=parts[1] or net, station=station or parts[2], variable=parts[3],
                     lat=float(lat), lon=float(lon), depth_from=float(d_from), depth_to=float(d_to), layout=layout)


def is_date(token: str) -> bool:
    """Whether ``token`` looks like an ISMN date ``yyyy/mm/dd``."""
    t = token.split("/")
    return len(t) == 3 and all(p.isdigit() for p in t)


def in_depth_range(h: StmHeader, depth: tuple[float, float]) -> bool:
    """Whether the sensor's interval ``[from, to]`` lies within ``depth`` (to :data:`DEPTH_TOL`)."""
    top, bottom = depth
    return h.depth_from >= top - DEPTH_TOL and h.depth_to <= bottom + DEPTH_TOL


# ------------------------------------------------------------------------------------------ records
@dataclass
class SensorSeries:
    """One sensor's soil moisture (m3 m-3, UTC index, NaN where missing, flagged or invalid)."""

    header: StmHeader
    values: pd.Series
    sensor: str
    lat: float
    lon: float
    depth: tuple[float, float]
    n_flagged: int
    n_invalid: int


def read_sensor(source: IsmnSource, h: StmHeader, filehandlers: Any, *, flags: frozenset[str],
                factor: float) -> SensorSeries:
    """The records of one soil-moisture file, read by ``ismn.filehandlers.DataFile``, with flags,
    units and the physical range applied."""
    name = source.display(h.member)
    try:
        with warnings.catch_warnings():  # the package's own pandas deprecation notices
            warnings.filterwarnings("ignore", module=r"ismn\.")
            df_file = filehandlers.DataFile(source.data_root(), h.member)
            data = df_file.read_data()
    except (ValueError, TypeError) as exc:
        raise ObservationError(f"{name}: a record's date or time is not yyyy/mm/dd HH:MM, or a line is damaged "
                               f"({str(exc).splitlines()[0][:120]}); expected records {RECORD_FIELDS}") from None
    except (OSError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise ObservationError(f"{name}: cannot read as an ISMN file ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:120] if str(exc) else 'damaged'})") from None
    meta = df_file.metadata
    first_line = 1 if h.layout == "ceop" else 2
    vcol, fcol = data.columns[0], data.columns[1]
    raw = pd.to_numeric(data[vcol], errors="coerce").to_numpy(float, copy=True)
    if not np.isfinite(raw).all():
        text = data[vcol].astype(object).where(data[vcol].notna(), "").astype(str).str.strip().str.lower()
        bad = ~np.isfinite(raw) & ~text.isin(["nan", "na", "", "-9999", "-9999.0", "none"]).to_numpy()
        if bad.any():
            row = int(np.nonzero(bad)[0][0])
            raise ObservationError(f"{name}: line {row + first_line}: value {data[vcol].iloc[row]!r} is not a number; "
                                   f"expected records {RECORD_FIELDS}")
    flag_text = data[fcol].astype(object).where(data[fcol].notna(), "").astype(str).to_numpy(object)
    uniq, inverse = np.unique(flag_text, return_inverse=True)  # few distinct flag strings: judge each once
    codes = [[c.strip() for c in u.strip().upper().split(",")] for u in uniq]
    noflag = np.array([u.strip() == "" for u in uniq])[inverse]
    if noflag.any():
        row = int(np.nonzero(noflag)[0][0])
        raise ObservationError(f"{name}: line {row + first_line}: no ISMN quality flag; expected records "
                               f"{RECORD_FIELDS}")
    times = pd.DatetimeIndex(data.index)
    if times.hasnans:
        row = int(np.nonzero(times.isna())[0][0])
        raise ObservationError(f"{name}: line {row + first_line}: no date and time; expected records {RECORD_FIELDS}")
    raw[np.isclose(raw, -9999.0)] = np.nan
    missing = np.array([MISSING_FLAG in c for c in codes])[inverse] | ~np.isfinite(raw)
    ok_flag = np.array([all(x in flags for x in c) for c in codes])[inverse]
    vals = raw * factor
    _check_percent(name, vals[~missing], factor)
    flagged = ~missing & ~ok_flag
    lo, hi = VALID_RANGE
    invalid = ~missing & ok_flag & ((vals < lo) | (vals > hi))
    keep = ~missing & ok_flag & ~invalid
    out = pd.Series(np.where(keep, vals, np.nan), index=times.tz_localize("UTC"), name="obs_sm")
    out = out.groupby(level=0).mean().sort_index()  # a repeated timestamp counts once
    instrument = meta["instrument"]
    depth = (float(instrument.depth.start), float(instrument.depth.end)) if instrument.depth is not None else \
        (h.depth_from, h.depth_to)
    return SensorSeries(header=h, values=out, sensor=str(instrument.val).strip("'\""),
                        lat=float(meta["latitude"].val), lon=float(meta["longitude"].val), depth=depth,
                        n_flagged=int(flagged.sum()), n_invalid=int(invalid.sum()))


def _check_percent(name: str, vals: np.ndarray, factor: float) -> None:
    fin = vals[np.isfinite(vals)]
    if factor == 1.0 and fin.size and float(np.median(fin)) > 1.0:
        raise ObservationError(f"{name}: soil moisture values reach {float(fin.max()):g} (median "
                               f"{float(np.median(fin)):g}): looks like percent; ISMN soil moisture is m3 m-3 (pass "
                               f"the reader option sm_units='percent' to divide by 100)")


__all__ = ("StmHeader", "SensorSeries", "IsmnSource", "accepted_flags", "read_header", "read_sensor", "in_depth_range",
           "is_date", "number", "DEFAULT_FLAGS", "KNOWN_FLAGS", "UNITS", "CEOP_FIELDS")
