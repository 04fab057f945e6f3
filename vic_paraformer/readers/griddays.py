"""Gridded snapshots to cell-days: the day rule, the coverage rule and the QC summary of grid readers.

A grid reader hands every snapshot (one satellite pass of one file, one time step of a CF file)
to :meth:`CellDays.add`: the source values on a :class:`~vic_paraformer.readers.regrid.RectGrid`,
which of them are valid, which were removed by quality flags or lie outside the physical range
(for the QC counts), and their time -- one time for the snapshot or one per value (a satellite
pass sweeps across the grid). Rules:

* **Day.** Each value goes to the day, in the Region's convention, that contains its instant
  (:func:`vic_paraformer.readers.timeaxis.day_of`, stamp ``instant``; a CF file passes the middle
  of its time bounds). Values flagged as daily labels (a daily CF grid without time bounds) go to
  the UTC date they carry, whatever the convention.
* **Coverage.** A snapshot is averaged onto each cell by area (:mod:`~vic_paraformer.readers.regrid`);
  the cell-day's coverage is the fraction of the cell's area *and* of the day's expected snapshots
  covered by valid values (``expected_per_day`` snapshots per group: 1 for a satellite pass or a
  daily grid, 8 for a 3-hourly grid). A cell-day whose coverage is below ``ReadOptions.min_coverage``
  is NaN and counted in the QC column ``n_low_coverage``.
* **Groups.** Snapshots may come in groups (SMAP's AM and PM passes); each group is averaged and
  checked for coverage on its own, and the day's value is the mean of the groups that pass, with
  equal weights. The cell-day's coverage is the largest coverage of its groups.
* **Cell coverage.** :attr:`Observations.coverage` holds, per cell, the mean coverage over the days
  on which the cell saw any valid value (0 when it never did).

QC counts (per cell, over all snapshots read): ``n_raw`` source values overlapping the cell that
hold a retrieval, ``n_flagged`` of them removed by flags, ``n_invalid`` outside the physical range
or without a usable time.
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import ObservationError
from .base import CellTarget
from .sites import qc_table
from .timeaxis import day_of

log = logging.getLogger(__name__)

ZERO = pd.Timedelta(0)


def input_files(path: Path, patterns: Sequence[str]) -> list[Path]:
    """The files of ``path``: the file itself, the files of a folder matching ``patterns`` (sorted), or
    the matches of a glob pattern. ObservationError naming ``path`` when there are none."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted({p for pat in patterns for p in path.glob(pat) if p.is_file()})
        if not found:
            raise ObservationError(f"{path}: the folder holds no file matching {' or '.join(patterns)}")
        return found
    found = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    if not found:
        raise ObservationError(f"{path}: observation file not found")
    return found


class CellDays:
    """Accumulates area-weighted snapshots per target cell, day and group (see the module docstring)."""

    def __init__(self, target: CellTarget, groups: Sequence[str] = ("all",), expected_per_day: float = 1.0):
        self.target = target
        self.groups = tuple(groups)
        self.expected = float(max(1.0, expected_per_day))
        n, nd, ng = target.n_cells, len(target.days), len(self.groups)
        self.num = np.zeros((ng, n, nd))
        self.den = np.zeros((ng, n, nd))
        self.n_raw = np.zeros(n, np.int64)
        self.n_flagged = np.zeros(n, np.int64)
        self.n_invalid = np.zeros(n, np.int64)
        self.n_outside = 0
        self.n_snapshots = 0
        offsets = target.offsets()
        self._offsets = [(float(o), np.nonzero(offsets == o)[0]) for o in np.unique(offsets)]
        self._cache: dict[int, tuple[sparse.csr_matrix, list[sparse.csr_matrix], sparse.csr_matrix]] = {}

    def _prepared(self, weights: sparse.csr_matrix):
        hit = self._cache.get(id(weights))
        if hit is None or hit[0] is not weights:
            touch = weights.copy()
            touch.data = (touch.data > 0).astype(float)
            hit = (weights, [weights[idx] for _, idx in self._offsets], touch)
            self._cache[id(weights)] = hit
        return hit

    def add(self, weights: sparse.csr_matrix, values: np.ndarray, valid: np.ndarray,
            times: pd.Timestamp | pd.DatetimeIndex, *, group: int = 0, flagged: np.ndarray | None = None,
            invalid: np.ndarray | None = None, day_labels: bool = False) -> None:
        """Add one snapshot: flat ``values`` on the source grid with ``valid`` mask; ``times`` (UTC) one
        for the snapshot or one per value (NaT where unknown: such values count as invalid)."""
        _, per_offset, touch = self._prepared(weights)
        values = np.asarray(values, float).ravel()
        valid = np.asarray(valid, bool).ravel().copy()
        flagged = np.zeros_like(valid) if flagged is None else np.asarray(flagged, bool).ravel()
        invalid = np.zeros_like(valid) if invalid is None else np.asarray(invalid, bool).ravel().copy()
        if isinstance(times, pd.DatetimeIndex):
            no_time = valid & np.asarray(times.isna())
            valid &= ~no_time
            invalid |= no_time
        self.n_raw += np.rint(touch @ (valid | flagged | invalid).astype(float)).astype(np.int64)
        self.n_flagged += np.rint(touch @ flagged.astype(float)).astype(np.int64)
        self.n_invalid += np.rint(touch @ invalid.astype(float)).astype(np.int64)
        self.n_snapshots += 1
        if not valid.any():
            return
        stamps = times if isinstance(times, pd.DatetimeIndex) else pd.DatetimeIndex([times])
        if stamps.tz is None:
            stamps = stamps.tz_localize("UTC")
        for k, ((offset, idx), w) in enumerate(zip(self._offsets, per_offset)):
            days = day_of(stamps, step=ZERO, stamp="instant", offset_h=0.0 if day_labels else offset)
            di = self.target.days.get_indexer(days)
            di = np.broadcast_to(di, valid.shape) if di.size == 1 else di
            if k == 0:
                self.n_outside += int((valid & (di < 0)).sum())
            for d in np.unique(di[valid & (di >= 0)]):
                m = (valid & (di == d)).astype(float)
                self.num[group, idx, d] += w @ (np.where(m > 0, values, 0.0) * m)
                self.den[group, idx, d] += w @ m

    def finish(self, min_coverage: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Daily values ``(n_cells, n_days)``, per-cell coverage and per-cell count of low-coverage days."""
        with np.errstate(invalid="ignore", divide="ignore"):
            val = np.where(self.den > 0, self.num / np.where(self.den > 0, self.den, 1.0), np.nan)
        cov = np.minimum(1.0, self.den / self.expected)
        keep = (self.den > 0) & (cov >= min_coverage - 1e-9)
        n_keep = keep.sum(axis=0)
        total = np.where(keep, val, 0.0).sum(axis=0)
        values = np.where(n_keep > 0, total / np.maximum(n_keep, 1), np.nan)
        has = (self.den > 0).any(axis=0)
        day_cov = cov.max(axis=0)
        n_has = has.sum(axis=1)
        coverage = np.where(n_has > 0, np.where(has, day_cov, 0.0).sum(axis=1) / np.maximum(n_has, 1), 0.0)
        low = (has & (n_keep == 0)).sum(axis=1)
        return values, coverage, low

    def qc_rows(self, variable: str, low: np.ndarray, source_name: str, notes: Sequence[str] = ()) -> dict:
        """QC rows for :func:`vic_paraformer.readers.sites.qc_table`."""
        rows: dict[tuple[int, str], dict[str, Any]] = {}
        for i in range(self.target.n_cells):
            rows[(i, variable)] = {"sites": [source_name] if self.n_raw[i] else [], "n_raw": int(self.n_raw[i]),
                                   "n_flagged": int(self.n_flagged[i]), "n_invalid": int(self.n_invalid[i]),
                                   "n_low_coverage": int(low[i]), "notes": list(notes)}
        return rows


def build_qc(values: dict[str, np.ndarray], rows: dict, target: CellTarget) -> pd.DataFrame:
    """The QC table of grid observations (same columns as the point readers')."""
    return qc_table(values, rows, target)


def require_days(path: Path, values: dict[str, np.ndarray], target: CellTarget, span: str) -> None:
    """ObservationError naming ``path`` when no cell-day holds a value."""
    if not any(np.isfinite(a).any() for a in values.values()):
        raise ObservationError(f"{path}: no observation falls in the region's cells and days "
                               f"{target.days[0].date()}..{target.days[-1].date()} ({span})")


__all__ = ("CellDays", "input_files", "build_qc", "require_days")
