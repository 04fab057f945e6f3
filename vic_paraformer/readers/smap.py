"""SMAP L3 radiometer soil moisture (SPL3SMP 36 km, SPL3SMP_E 9 km), HDF5 daily files.

Documents: O'Neill et al., "SMAP L3 Radiometer Global Daily 36 km EASE-Grid Soil Moisture" and
"SMAP Enhanced L3 Radiometer Global and Polar Grid Daily 9 km EASE-Grid Soil Moisture" user guides
and data-field pages (NSIDC, https://nsidc.org/data/spl3smp, https://nsidc.org/data/spl3smp_e);
Chan & Dunbar, "SMAP Level 3 Passive Soil Moisture Product Specification Document" (JPL D-72551).

What is read
  One daily file (``SMAP_L3_SM_P_YYYYMMDD_R*.h5``, ``SMAP_L3_SM_P_E_YYYYMMDD_R*.h5``), a folder of
  them, or a glob pattern. Groups ``Soil_Moisture_Retrieval_Data_AM`` (descending pass, 6 am local
  solar time) and ``Soil_Moisture_Retrieval_Data_PM`` (ascending, 6 pm), whose fields carry the
  suffix ``_pm``: ``soil_moisture`` (cm3/cm3 = m3 m-3, fill -9999), ``retrieval_qual_flag``
  (fill 65534), ``tb_time_utc`` (ISO 8601 UTC strings; ``tb_time_seconds``, seconds since
  2000-01-01T11:58:55.816 UTC, when a string is missing; leap seconds since then, a
  few seconds, are ignored), ``latitude``/``longitude`` and
  ``EASE_row_index``/``EASE_column_index`` (fill 65534).
  The grid is EASE-Grid 2.0 global, 36 km (406 x 964) or 9 km (1624 x 3856)
  (:mod:`~vic_paraformer.readers.easegrid`): a full global array is placed by its shape; a cut
  window (a subsetted file) by ``EASE_row_index``/``EASE_column_index``, the grid being the one
  whose cell centres match the file's ``latitude``/``longitude``. Only the rows and columns over
  the Region are read.

Passes (``ReadOptions.extra["pass"]``)
  ``AM``, ``PM`` or ``both`` (default). With both, each pass is regridded on its own and a
  cell-day's value is the mean of the passes that cover the cell well enough (equal weights).

Quality flags (``ReadOptions.flags``)
  Default ``recommended``: a retrieval counts when bit 0 of ``retrieval_qual_flag`` ("retrieval
  has recommended quality") is clear. ``all``: every retrieval with a valid soil moisture counts.
  Otherwise a comma-separated list of bit numbers that must all be clear (``0,2``).
  Values outside the field's ``valid_min``..``valid_max`` (0..1 when absent) count as invalid.

Days, regridding, coverage
  Each retrieval goes to the day (Region convention) containing its ``tb_time_utc`` instant. The
  EASE cells are averaged onto the Region's cells by area with a coverage fraction
  (:mod:`~vic_paraformer.readers.regrid`, :mod:`~vic_paraformer.readers.griddays`); a cell-day (of
  one pass) whose area is covered less than ``ReadOptions.min_coverage`` (default 0.75) by valid
  retrievals is NaN. Support recorded: sensing depth 0-0.05 m, the radiometer footprint (about 40
  km) and the grid spacing (36 or 9 km).

Rejected, with one line naming the file
  a file that is not HDF5/netCDF-4 or is damaged; a file without the AM/PM group or without a
  needed field; soil moisture in units other than cm3/cm3 or m3/m3; a cut window whose indices do
  not match an EASE-Grid 2.0 global grid; files none of which overlaps the Region's cells; no
  retrieval in the Region's days; an unknown ``pass`` or ``flags`` value.

HDF5 is read through xarray's ``netcdf4`` engine (netCDF-4 is HDF5, and the netCDF library reads
plain HDF5 groups), so no HDF5 package beyond the toolkit's netCDF4 requirement is needed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ObservationError
from .base import CellTarget, Observations, ReadOptions, Reader
from .easegrid import GRIDS, EaseGrid
from .griddays import CellDays, build_qc, input_files, require_days
from .regrid import RectGrid, describe_boxes, overlap_matrix, target_boxes, window

log = logging.getLogger(__name__)

GROUPS = {"AM": ("Soil_Moisture_Retrieval_Data_AM", ""), "PM": ("Soil_Moisture_Retrieval_Data_PM", "_pm")}
FILL_FLOAT = -9999.0
FILL_INDEX = 65534
#: J2000 epoch of ``tb_time_seconds``.
J2000 = pd.Timestamp("2000-01-01T11:58:55.816", tz="UTC")
UNITS_OK = {"cm**3/cm**3", "cm3/cm3", "cm^3/cm^3", "m**3/m**3", "m3/m3", "m3 m-3", "cm3 cm-3", "m^3/m^3"}
FILE_PATTERNS = ("SMAP_L3_SM_P_*.h5", "SMAP_L3_SM_P_E_*.h5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SENSING_DEPTH_M = [0.0, 0.05]
RADIOMETER_FOOTPRINT_KM = 40.0


def passes_of(options: ReadOptions) -> tuple[str, ...]:
    """The passes ``ReadOptions.extra["pass"]`` asks for (AM, PM or both)."""
    raw = str(options.extra.get("pass", "both")).strip().upper()
    if raw in ("BOTH", "AM+PM", "AM,PM", "ALL"):
        return ("AM", "PM")
    if raw in ("AM", "PM"):
        return (raw,)
    raise ObservationError(f"SMAP option pass={options.extra.get('pass')!r}: expected AM, PM or both")


def required_clear_bits(spec: str | None) -> int | None:
    """The bit mask of ``retrieval_qual_flag`` bits that must be clear (None: accept every retrieval)."""
    if spec is None or spec.strip().lower() in ("recommended", "default"):
        return 1
    if spec.strip().lower() == "all":
        return None
    mask = 0
    for part in spec.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) > 15:
            raise ObservationError(f"SMAP flags {spec!r}: expected 'recommended', 'all' or bit numbers 0..15 "
                                   f"that must be clear (e.g. 0,2)")
        mask |= 1 << int(part)
    return mask


class SmapL3Reader(Reader):
    """SMAP L3 radiometer soil moisture, 36 km and 9 km (see the module docstring)."""

    name = "smap"
    description = "SMAP L3 radiometer soil moisture (SPL3SMP, SPL3SMP_E) HDF5, regridded by area"
    suffixes = (".h5", ".hdf5", ".he5")

    def sniff(self, path: Path) -> bool:
        if path.is_dir():
            return any(path.glob(FILE_PATTERNS[0]))
        files = [Path(p) for p in sorted(path.parent.glob(path.name))][:1] if not path.exists() else [path]
        for f in files:
            try:
                with open(f, "rb") as fh:
                    if fh.read(8) != HDF5_SIGNATURE:
                        return False
            except OSError:
                return False
            if f.name.startswith("SMAP_L3_SM_P"):
                return True
            try:
                with xr.open_dataset(f, group=GROUPS["AM"][0], engine="netcdf4", decode_cf=False) as ds:
                    return "soil_moisture" in ds.variables
            except (OSError, ValueError, KeyError):
                return False
        return False

    def read(self, path: Path, target: CellTarget, options: ReadOptions) -> Observations:
        passes = passes_of(options)
        bits = required_clear_bits(options.flags)
        if "obs_sm" not in options.variables:
            raise ObservationError(f"{path}: SMAP L3 holds soil moisture only (obs_sm); asked for "
                                   f"{list(options.variables)}")
        files = input_files(path, FILE_PATTERNS)
        boxes = target_boxes(target)
        acc = CellDays(target, groups=passes, expected_per_day=1.0)
        weights_cache: dict[tuple, Any] = {}
        grids: set[str] = set()
        overlapping = 0
        for f in files:
            for g, name in enumerate(passes):
                hit = self._read_pass(f, name, bits, boxes, acc, g, weights_cache)
                if hit is not None:
                    grids.add(hit.name)
                    overlapping += 1
        if not overlapping:
            raise ObservationError(f"{path}: no SMAP retrieval grid of its {len(files)} file(s) overlaps the region's "
                                   f"cells ({describe_boxes(boxes)})")
        values, coverage, low = acc.finish(options.min_coverage)
        require_days(path, {"obs_sm": values}, target, f"{len(files)} file(s), passes {'+'.join(passes)}")
        if acc.n_outside:
            log.info("%s: %d retrieval(s) lie outside the region's days and are not used", path, acc.n_outside)
        grid_name = ", ".join(sorted(grids))
        km = sorted({g.km for g in GRIDS if g.name in grids})
        notes = [f"passes {'+'.join(passes)}", f"flags {options.flags or 'recommended'}"]
        rows = acc.qc_rows("obs_sm", low, grid_name, notes)
        out = {"obs_sm": values}
        support = {"obs_sm": {"depth_m": list(SENSING_DEPTH_M), "footprint_km": RADIOMETER_FOOTPRINT_KM,
                              "grid_km": km[0] if len(km) == 1 else km, "grid": grid_name,
                              "passes": list(passes), "format": self.name}}
        return Observations(values=out, qc=build_qc(out, rows, target), source=str(path), format=self.name,
                            support=support, coverage={"obs_sm": coverage})

    # ------------------------------------------------------------------------------------------
    def _read_pass(self, f: Path, pass_name: str, bits: int | None, boxes: np.ndarray, acc: CellDays, g: int,
                   weights_cache: dict) -> EaseGrid | None:
        group, sfx = GROUPS[pass_name]
        try:
            ds = xr.open_dataset(f, group=group, engine="netcdf4", decode_cf=False, mask_and_scale=False)
        except OSError as exc:
            msg = str(exc)
            if "group" in msg.lower() and "not found" in msg.lower():
                raise ObservationError(f"{f}: no group {group!r}; expected an SMAP L3 radiometer soil moisture "
                                       f"file (SPL3SMP or SPL3SMP_E)") from None
            raise ObservationError(f"{f}: cannot read as HDF5 ({msg.splitlines()[0]}); damaged or truncated?") from None
        except (ValueError, KeyError) as exc:
            raise ObservationError(f"{f}: cannot read group {group!r} ({exc}); damaged or not an SMAP L3 file?") from None
        with ds:
            sm_name = f"soil_moisture{sfx}"
            needed = [sm_name, f"retrieval_qual_flag{sfx}", f"latitude{sfx}", f"longitude{sfx}"]
            missing = [v for v in needed if v not in ds.variables]
            if not (f"tb_time_utc{sfx}" in ds.variables or f"tb_time_seconds{sfx}" in ds.variables):
                missing.append(f"tb_time_utc{sfx}")
            if missing:
                raise ObservationError(f"{f}: group {group!r} lacks {', '.join(missing)}; expected the SMAP L3 "
                                       f"fields (product specification JPL D-72551)")
            sm = ds[sm_name]
            if sm.ndim != 2:
                raise ObservationError(f"{f}: {group}/{sm_name} has {sm.ndim} dimension(s); expected 2 (EASE rows, "
                                       f"columns)")
            units = str(sm.attrs.get("units", "cm**3/cm**3")).strip().lower()
            if units not in UNITS_OK:
                raise ObservationError(f"{f}: {group}/{sm_name} is in {units!r}; expected cm**3/cm**3 (m3 m-3)")
            grid, row0, col0 = self._locate(f, ds, sfx, sm.shape)
            if grid is None:
                return None
            full = RectGrid(grid.row_bounds(np.arange(row0, row0 + sm.shape[0])),
                            grid.col_bounds(np.arange(col0, col0 + sm.shape[1])))
            key = (grid.name, row0, col0, sm.shape)
            if key not in weights_cache:
                win = window(full, boxes)
                weights_cache[key] = None if win is None else (win, overlap_matrix(full.subset(*win), boxes))
            hit = weights_cache[key]
            if hit is None:
                log.info("%s: %s pass does not overlap the region's cells", f, pass_name)
                return None
            (rows, cols), weights = hit
            try:
                raw = np.asarray(sm[rows, cols].values, float)
                flag = np.asarray(ds[f"retrieval_qual_flag{sfx}"][rows, cols].values)
                times = self._times(ds, sfx, rows, cols)
            except (OSError, RuntimeError, ValueError) as exc:
                raise ObservationError(f"{f}: cannot read {group}/{sm_name} ({exc}); damaged or truncated?") from None
            fill = float(np.asarray(sm.attrs.get("_FillValue", FILL_FLOAT)).ravel()[0])
            present = np.isfinite(raw) & (raw != fill) & (raw != FILL_FLOAT)
            lo = float(np.asarray(sm.attrs.get("valid_min", 0.0)).ravel()[0])
            hi = float(np.asarray(sm.attrs.get("valid_max", 1.0)).ravel()[0])
            invalid = present & ((raw < lo) | (raw > hi) | (raw < 0) | (raw > 1))
            flag_ok = np.ones(raw.shape, bool) if bits is None else \
                ((flag.astype(np.int64) & bits) == 0) & (flag.astype(np.int64) != FILL_INDEX)
            flagged = present & ~invalid & ~flag_ok
            valid = present & ~invalid & flag_ok
            stamps = pd.DatetimeIndex(np.where(valid.ravel(), times.ravel(), np.datetime64("NaT")), tz="UTC") \
                if times is not None else pd.DatetimeIndex([pd.NaT] * raw.size, tz="UTC")
            acc.add(weights, raw, valid, stamps, group=g, flagged=flagged, invalid=invalid)
            return grid

    @staticmethod
    def _locate(f: Path, ds: xr.Dataset, sfx: str, shape: tuple[int, int]) -> tuple[EaseGrid | None, int, int]:
        """The EASE grid of a group and the grid row/column of its array's first element."""
        for grid in GRIDS:
            if shape == (grid.rows, grid.cols):
                return grid, 0, 0
        rname, cname = f"EASE_row_index{sfx}", f"EASE_column_index{sfx}"
        if rname not in ds.variables or cname not in ds.variables:
            raise ObservationError(f"{f}: a {shape[0]} x {shape[1]} window without {rname}/{cname}; expected a "
                                   f"global EASE-Grid 2.0 array (406 x 964 or 1624 x 3856) or the index fields")
        ri = np.asarray(ds[rname].values).astype(np.int64)
        ci = np.asarray(ds[cname].values).astype(np.int64)
        lat = np.asarray(ds[f"latitude{sfx}"].values, float)
        lon = np.asarray(ds[f"longitude{sfx}"].values, float)
        ok = (ri != FILL_INDEX) & (ci != FILL_INDEX) & (ri >= 0) & (ci >= 0) & (lat > -999) & (lon > -999)
        if not ok.any():
            log.info("%s: no EASE index in group with suffix %r; no retrieval in this window", f, sfx)
            return None, 0, 0
        ar, ac = np.indices(shape)
        d_row = np.unique(ri[ok] - ar[ok])
        d_col = np.unique(ci[ok] - ac[ok])
        if d_row.size != 1 or d_col.size != 1:
            raise ObservationError(f"{f}: {rname}/{cname} do not step by one along the array; expected a "
                                   f"rectangular window of the EASE-Grid 2.0")
        for grid in GRIDS:
            if ri[ok].max() >= grid.rows or ci[ok].max() >= grid.cols:
                continue
            clat, clon = grid.centres(ri[ok], ci[ok])
            dlon = np.abs((lon[ok] - clon + 180.0) % 360.0 - 180.0)
            tol = grid.cell_m / 111_320.0 / 4
            if np.abs(lat[ok] - clat).max() < tol and dlon.max() < tol:
                return grid, int(d_row[0]), int(d_col[0])
        raise ObservationError(f"{f}: latitude{sfx}/longitude{sfx} do not match the cell centres of the "
                               f"EASE-Grid 2.0 global 36 km or 9 km grid at {rname}/{cname}")

    @staticmethod
    def _times(ds: xr.Dataset, sfx: str, rows: slice, cols: slice) -> np.ndarray | None:
        """``datetime64[ns]`` (UTC, naive) of each retrieval; NaT where unknown."""
        out = None
        name = f"tb_time_utc{sfx}"
        if name in ds.variables:
            raw = np.asarray(ds[name][rows, cols].values)
            if raw.dtype.kind == "S" and raw.ndim == 3:  # character arrays
                raw = np.array([b"".join(r) for r in raw.reshape(-1, raw.shape[-1])]).reshape(raw.shape[:2])
            text = pd.Series(raw.ravel()).map(lambda v: v.decode("ascii", "replace") if isinstance(v, bytes) else str(v))
            text = text.str.strip().str.replace(r"Z$", "", regex=True)
            parsed = pd.to_datetime(text.where(text.str.match(r"^\d{4}-\d\d-\d\d")), errors="coerce",
                                    format="ISO8601")
            out = parsed.to_numpy(dtype="datetime64[ns]").reshape(raw.shape[:2])
        sec_name = f"tb_time_seconds{sfx}"
        if sec_name in ds.variables and (out is None or np.isnat(out).any()):
            sec = np.asarray(ds[sec_name][rows, cols].values, float)
            ok = np.isfinite(sec) & (sec > -9990)
            t = (J2000.tz_localize(None).to_datetime64()
                 + (np.where(ok, sec, 0.0) * 1e9).astype("timedelta64[ns]"))
            t = np.where(ok, t, np.datetime64("NaT"))
            out = t if out is None else np.where(np.isnat(out), t, out)
        return out


__all__ = ("SmapL3Reader", "passes_of", "required_clear_bits", "GROUPS", "J2000")
