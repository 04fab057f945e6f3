"""What every observation reader shares: the target cells and days, the options, the result.

A reader turns one observation source (a station network, a flux-tower file, a satellite grid, a
CSV) into daily observations on a Region's cells:

* :class:`CellTarget` says where the values go: cell ids, their centres, the grid spacing when the
  cells are grid cells (``None`` for point cells such as stations), the days, and the Region's time
  convention (``utc`` days, or ``local`` standard-time days with each cell's UTC offset).
* :class:`ReadOptions` carries the choices a modeller makes (sensing depth, quality flags,
  sub-daily coverage, matching tolerance, energy-balance closure); each reader documents its
  defaults.
* :class:`Observations` is what a reader returns: ``obs_sm`` (m3 m-3) and/or ``obs_et`` (mm/day)
  per ``(cell, day)`` with NaN gaps, a per-cell QC summary, the observation's support (sensing depth,
  footprint) for the observation operator, and, for grids, the footprint coverage of each cell.
* :class:`Reader` is the small interface a reader implements: ``sniff`` (for ``--obs-format auto``)
  and ``read``.

Point readers build :class:`SiteSeries` (one per station, sub-daily or daily, timestamps in UTC)
and hand them to :func:`vic_paraformer.readers.sites.sites_to_cells`, which aggregates to the
Region's days and matches sites to cells, so every point format shares one day rule and one
matching rule.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ObservationError
from ..region import OBSERVATION_VARS, Region

log = logging.getLogger(__name__)

#: Time conventions of a Region's days.
CONVENTIONS = ("utc", "local")
#: Region attribute naming its time convention (absent: ``utc``).
CONVENTION_ATTR = "time_convention"
#: Region coordinate holding each cell's UTC offset in hours (local standard time, no daylight saving).
UTC_OFFSET_COORD = "utc_offset"


@dataclass(frozen=True)
class CellTarget:
    """The cells and days observations are put on.

    ``ids``, ``lat``, ``lon`` per cell; ``resolution`` the grid spacing ``(dlat, dlon)`` in degrees
    for grid cells, ``None`` for point cells (stations); ``days`` the daily time axis;
    ``convention`` ``"utc"`` (a day runs 00:00-24:00 UTC) or ``"local"`` (00:00-24:00 local standard
    time of the cell, ``utc_offset`` hours east of UTC); ``names`` optional station names to match
    sites by name before position.
    """

    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    days: pd.DatetimeIndex
    resolution: tuple[float, float] | None = None
    convention: str = "utc"
    utc_offset: np.ndarray | None = None
    names: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ObservationError(f"time convention {self.convention!r}: expected one of {CONVENTIONS}")
        if self.convention == "local" and self.utc_offset is None:
            raise ObservationError("a 'local' time convention needs each cell's UTC offset (hours)")

    @property
    def n_cells(self) -> int:
        return len(self.ids)

    def offsets(self) -> np.ndarray:
        """Hours to add to UTC to get each cell's day boundary (0 for the UTC convention)."""
        if self.convention == "utc" or self.utc_offset is None:
            return np.zeros(self.n_cells)
        return np.asarray(self.utc_offset, float)

    @classmethod
    def from_region(cls, region: Region) -> "CellTarget":
        """The target of ``region``: grid spacing from ``row``/``col`` cells, else point cells."""
        ds = region.ds
        lat = ds["lat"].values.astype(float)
        lon = ds["lon"].values.astype(float)
        resolution = None
        if "row" in ds.coords and region.n_cells > 1:
            resolution = (_spacing(lat), _spacing(lon))
        elif "row" in ds.coords:
            resolution = tuple(json.loads(ds.attrs.get("grid_resolution", "[0.0625, 0.0625]")))
        convention = str(ds.attrs.get(CONVENTION_ATTR, "utc"))
        offset = ds[UTC_OFFSET_COORD].values.astype(float) if UTC_OFFSET_COORD in ds.variables else None
        names = ds["station"].values.astype(str) if "station" in ds.variables else None
        return cls(ids=region.cells, lat=lat, lon=lon, days=region.times, resolution=resolution,
                   convention=convention, utc_offset=offset, names=names)

    @classmethod
    def from_grid(cls, grid: Any, days: pd.DatetimeIndex) -> "CellTarget":
        """The target of a VIC grid (``vic.grid.VicGrid``): its simulated cells, UTC days."""
        rows, cols = grid.rows, grid.cols
        res = (_spacing(np.asarray(grid.lat)), _spacing(np.asarray(grid.lon)))
        return cls(ids=np.asarray(grid.cell_ids), lat=np.asarray(grid.lat)[rows].astype(float),
                   lon=np.asarray(grid.lon)[cols].astype(float), days=pd.DatetimeIndex(days), resolution=res)


def _spacing(coord: np.ndarray) -> float:
    u = np.unique(np.round(np.asarray(coord, float), 9))
    d = np.diff(u)
    d = d[d > 1e-9]
    return float(d.min()) if d.size else 0.0625


@dataclass(frozen=True)
class ReadOptions:
    """Choices shared by readers; each reader documents how it uses them and its defaults.

    ``depth`` (m): keep soil-moisture sensors whose sensing depth lies within ``(top, bottom)``;
    ``None``: the reader's default (the top 0-0.1 m). ``flags``: quality flags to accept, a
    reader-specific comma-separated spec (``None``: the reader's documented default). ``min_coverage``:
    a day of sub-daily data counts when at least this fraction of its time steps are valid.
    ``tolerance_km``: a site farther than this from every point cell is dropped (grid cells use
    their own extent). ``energy_closure``: correct flux-tower latent heat for energy-balance
    closure (Bowen-ratio preserving). ``variables``: the observation variables to return.
    """

    depth: tuple[float, float] | None = None
    flags: str | None = None
    min_coverage: float = 0.75
    tolerance_km: float = 5.0
    energy_closure: bool = False
    variables: tuple[str, ...] = tuple(OBSERVATION_VARS)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.min_coverage <= 1.0:
            raise ObservationError(f"min_coverage {self.min_coverage!r}: expected a fraction in (0, 1]")
        if not self.tolerance_km > 0 or not np.isfinite(self.tolerance_km):
            raise ObservationError(f"tolerance_km {self.tolerance_km!r}: expected a positive number of km")
        if self.depth is not None:
            top, bottom = self.depth
            if not (np.isfinite(top) and np.isfinite(bottom) and 0 <= top <= bottom):
                raise ObservationError(f"depth {self.depth!r}: expected TOP BOTTOM in metres with 0 <= TOP <= BOTTOM")
        bad = [v for v in self.variables if v not in OBSERVATION_VARS]
        if bad:
            raise ObservationError(f"observation variable(s) {bad}: expected {list(OBSERVATION_VARS)}")


@dataclass
class SiteSeries:
    """One station's observations, as a point reader hands them on.

    ``values`` has a UTC :class:`pandas.DatetimeIndex` (tz-aware) and one column per observation
    variable (``obs_sm`` m3 m-3, ``obs_et`` mm/day as a rate), NaN where missing or flagged.
    ``step`` is the native time step (e.g. 30 minutes; one day for daily data). ``n_flagged`` counts
    values removed by quality flags, ``n_invalid`` values outside the physical range, per variable.
    ``support`` describes what was measured (e.g. ``{"obs_sm": {"depth_m": [0.0, 0.05]}}``).
    ``stamp`` says whether a timestamp marks the ``start`` or ``end`` of its interval or an
    ``instant``; ``day_labels`` means the values are daily and their dates are already days in the
    Region's convention (a plain date column), so no time-zone shift applies. ``cell`` names the
    target cell id directly (tables keyed by cell), bypassing position matching.
    """

    site: str
    lat: float
    lon: float
    values: pd.DataFrame
    step: pd.Timedelta
    n_flagged: dict[str, int] = field(default_factory=dict)
    n_invalid: dict[str, int] = field(default_factory=dict)
    support: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stamp: str = "start"
    day_labels: bool = False
    cell: int | None = None

    def __post_init__(self) -> None:
        if self.stamp not in ("start", "end", "instant"):
            raise ObservationError(f"site {self.site}: timestamp convention {self.stamp!r}; expected start, end or instant")


@dataclass
class Observations:
    """Daily observations on a target's cells, with what is known about them.

    ``values`` maps ``obs_sm``/``obs_et`` to ``(n_cells, n_days)`` float arrays (NaN gaps).
    ``qc`` has one row per cell and variable (columns documented in :data:`QC_COLUMNS`).
    ``support`` per variable: sensing depth (m), footprint (km), source format.
    ``coverage`` per variable for grids: the fraction of each cell covered by valid footprints.
    """

    values: dict[str, np.ndarray]
    qc: pd.DataFrame
    source: str
    format: str
    support: dict[str, dict[str, Any]] = field(default_factory=dict)
    coverage: dict[str, np.ndarray] = field(default_factory=dict)

    def attach(self, region: Region, *, replace: bool = True) -> Region:
        """``region`` with these observations (units and support recorded as attributes).

        With ``replace`` False an observation variable the region already has is an error.
        """
        ds = region.ds.copy()
        for name, v in self.values.items():
            if name in ds and not replace:
                raise ObservationError(f"{self.source}: the region already has {name!r}; pass replace=True")
            attrs = {"units": OBSERVATION_VARS[name], "source": self.source, "source_format": self.format,
                     "support": json.dumps(self.support.get(name, {}), sort_keys=True)}
            ds[name] = (("cell", "time"), np.asarray(v, np.float32), attrs)
            if name in self.coverage:
                ds[f"{name}_coverage"] = (("cell",), np.asarray(self.coverage[name], np.float32),
                                          {"units": "1", "long_name": f"fraction of the cell covered by {name}"})
        return Region(ds, source=region.ds.attrs.get("source"))

    def summary(self) -> str:
        """A short text table of the QC summary (cells with data, days, flagged and invalid values)."""
        if self.qc.empty:
            return f"{self.source}: no observations"
        lines = [f"{self.source} ({self.format}):"]
        for var, g in self.qc.groupby("variable"):
            with_data = int((g["n_days"] > 0).sum())
            lines.append(f"  {var}: {with_data} of {len(g)} cells with data, {int(g['n_days'].sum())} cell-days, "
                         f"{int(g['n_flagged'].sum())} values flagged, {int(g['n_invalid'].sum())} invalid, "
                         f"{int(g['n_low_coverage'].sum())} days below coverage")
        return "\n".join(lines)


#: Columns of :attr:`Observations.qc`.
QC_COLUMNS: tuple[str, ...] = ("cell", "variable", "sites", "n_raw", "n_flagged", "n_invalid", "n_days",
                               "n_low_coverage", "first_day", "last_day", "notes")


class Reader:
    """The interface of an observation reader (subclass it; register it under
    ``vic_paraformer.readers``).

    ``name`` is the ``--obs-format`` value; ``description`` one line for listings;
    ``suffixes`` the file suffixes it may read (used by ``auto`` before :meth:`sniff`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()

    def sniff(self, path: Path) -> bool:
        """Whether ``path`` looks like this reader's format (cheap: the name and the first bytes)."""
        return False

    def read(self, path: Path, target: CellTarget, options: ReadOptions) -> Observations:
        """The observations in ``path`` on ``target``; ObservationError naming ``path`` when unusable."""
        raise NotImplementedError


def head_text(path: Path, n_bytes: int = 4096) -> str:
    """The first bytes of ``path`` as text (for sniffing); '' when unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n_bytes).decode("utf-8", errors="replace")
    except OSError:
        return ""


def require_rows(path: Path, n: int, what: str = "usable rows") -> None:
    """An ObservationError naming ``path`` when ``n`` is zero."""
    if n == 0:
        raise ObservationError(f"{path}: no {what}; the file holds no observation the toolkit can use")


__all__: Sequence[str] = ("CellTarget", "ReadOptions", "SiteSeries", "Observations", "Reader", "QC_COLUMNS",
                          "CONVENTIONS", "CONVENTION_ATTR", "UTC_OFFSET_COORD", "head_text", "require_rows")
