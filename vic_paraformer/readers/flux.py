"""What the flux-tower readers share: the CSV layout, latent heat to ET, energy-balance closure,
soil-water sensors and their depths, the site's time zone and position.

Both AmeriFlux (BASE and FLUXNET-format products) and FLUXNET2015 files are comma-separated text
with a header line of variable names, optionally preceded by ``#`` comment lines (AmeriFlux BASE:
``# Site: US-Xxx`` and ``# Version: ...``), ``-9999`` for missing values and timestamps written as
digits in local standard time (no daylight saving): ``TIMESTAMP_START``/``TIMESTAMP_END`` as
``YYYYMMDDHHMM`` for half-hourly (HH) and hourly (HR) files, ``TIMESTAMP`` as ``YYYYMMDD`` for
daily (DD) files. See "Data Variables", https://ameriflux.lbl.gov/data/aboutdata/data-variables/
(section 1, timestamps and time zone) and the FLUXNET2015 data-variables page,
https://fluxnet.org/data/fluxnet2015-dataset/fullset-data-product/. Weekly, monthly and yearly
files are not read (their values are not daily).

Latent heat to evapotranspiration
    ET (mm/day) = LE (W m-2) * 86400 (s/day) / lambda(T) (J kg-1), with the temperature-dependent
    latent heat of vaporisation lambda(T) = 2.501e6 - 2361 T (T in degC, the same file's air
    temperature at the same time step). Where the air temperature is missing, or the file has no
    air-temperature column, lambda is taken at 20 degC and the QC notes say how many steps used it.
    Sub-daily values are rates; :func:`~vic_paraformer.readers.sites.sites_to_cells` averages them
    to days (interval middle, ``min_coverage`` of the day's steps). A day whose mean ET is below
    zero (net condensation) is set to 0 mm/day, the Region's lower bound, and counted in the notes.
    LE outside -200..1000 W m-2 is physically implausible: such values are left out and counted as
    invalid.

Energy-balance closure (``ReadOptions.energy_closure``, ``--energy-closure``)
    Bowen-ratio preserving: LE_corr = LE * (NETRAD - G) / (H + LE), the factor computed per day
    (the file's local standard-time day) from the daily sums of the steps where all four are
    valid, as FLUXNET2015 computes its daily energy-balance-closure factor (EBC_CF Method 1 of the
    LE_CORR variable, without its +-7-day window and outlier filter). A day needs ``min_coverage``
    of its steps with all four terms and positive H + LE and NETRAD - G; other days' LE values are
    left out (counted as flagged, with a note). A FLUXNET file's own ``LE_CORR`` is used when present.

Soil water content
    ``SWC`` columns are percent; they are divided by 100 (m3 m-3); values outside 0..100 % are
    invalid. Sensor depths are not in the data file: they come from the ``swc_depths`` reader option
    (a mapping from a column name or a vertical index to a depth in metres, positive down, or a
    ``[top, bottom]`` pair; a string ``"1=0.05,2=0.2"`` also works) or from the site's BADM file
    (``badm`` option, :mod:`vic_paraformer.readers.badm`). With ``ReadOptions.depth`` the sensors
    whose depth lies in ``(top, bottom)`` are averaged; without it, the shallowest sensors (vertical
    index 1, "numbered from top to bottom") are used and, when their depth is unknown, the support
    says so (``depth_m: null, depth_known: false``). Asking for a depth while the depths are
    unknown is an error naming the option to pass.

Time zone (reader option ``utc_offset``, hours east of UTC, the site's BADM ``UTC_OFFSET``)
    The files' timestamps are local standard time and do not carry the offset. It is taken, in
    this order, from the ``utc_offset`` option, from the BADM file (``badm`` option), or, for a
    Region whose time convention is ``local``, from the matched cell's own offset: the file's
    local days are then exactly the Region's days whatever the true offset. Daily (DD) files name
    local days; without an offset they are taken as the Region's days (their middle, local noon,
    lies on the same date in UTC for offsets below 12 h). Otherwise a sub-daily file without an
    offset is an error naming the file and the option.

Site position
    From the ``lat``/``lon`` reader options (degrees), else the BADM file's ``LOCATION_LAT``/
    ``LOCATION_LONG``, else the site id (from the ``site`` option, the ``# Site:`` comment or the
    file name ``AMF_<SITE>_...``/``FLX_<SITE>_...``) matched to a station Region's names;
    otherwise an error naming the file and the options.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import ObservationError
from .badm import SiteMetadata, read_badm
from .base import CellTarget, Observations, ReadOptions, Reader, SiteSeries
from .fluxfile import FluxTable, read_header, read_table, site_id, sniff_header, time_layout
from .fluxterms import (FALLBACK_T_C, LE_RANGE, SWC_RANGE, Layout, SwcSensor, choose_sensors, closure_factor,
                        latent_heat_of_vaporisation, le_to_et, qc_rule, quiet, swc_depth_option, with_depth)
from .sites import match_site, sites_to_cells

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ options
def number_option(path: Path, options: ReadOptions, key: str, lo: float, hi: float) -> float | None:
    """The reader option ``key`` as a number in ``lo..hi`` (None when absent)."""
    if key not in options.extra or options.extra[key] is None:
        return None
    raw = options.extra[key]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ObservationError(f"{path}: option {key}={raw!r}: expected a number in {lo:g}..{hi:g}") from None
    if not (np.isfinite(value) and lo <= value <= hi):
        raise ObservationError(f"{path}: option {key}={raw!r}: expected a number in {lo:g}..{hi:g}")
    return value


def site_metadata(path: Path, options: ReadOptions, site: str) -> SiteMetadata | None:
    """The BADM metadata named by the ``badm`` option (None when absent)."""
    badm = options.extra.get("badm")
    return read_badm(Path(badm), site) if badm else None


class FluxReader(Reader):
    """A flux-tower CSV reader; a subclass says which columns hold what (:meth:`layout`)."""

    def layout(self, path: Path, columns: list[str], options: ReadOptions, daily: bool) -> Layout:
        """The columns of this file (see :class:`Layout`)."""
        raise NotImplementedError

    def read(self, path: Path, target: CellTarget, options: ReadOptions) -> Observations:
        comments, columns, skip = read_header(path)
        _, daily = time_layout(path, columns)
        layout = self.layout(path, columns, options, daily)
        accept = qc_rule(path, options, daily, layout)
        site = site_id(path, comments, options)
        meta = site_metadata(path, options, site)
        want_et = "obs_et" in options.variables
        want_sm = "obs_sm" in options.variables and bool(layout.swc)
        if want_et and layout.le is None and not want_sm:
            raise ObservationError(f"{path}: no latent heat column ({self._le_names()}); found {columns[:12]}"
                                   f"{' ...' if len(columns) > 12 else ''}")
        if not want_et and not want_sm:
            raise ObservationError(f"{path}: no soil water content column (SWC_*); found {columns[:12]}"
                                   f"{' ...' if len(columns) > 12 else ''}")
        table = read_table(path, comments, columns, skip, layout.columns())
        notes: list[str] = []
        lat, lon = self._position(path, options, meta)
        probe = SiteSeries(site=site, lat=lat, lon=lon, values=pd.DataFrame(), step=table.step)
        cell, how = match_site(probe, target, options)
        if cell is None and how == "no position":
            raise ObservationError(f"{path}: site {site} has no position; pass the reader options lat and lon "
                                   f"(degrees, the site's BADM LOCATION_LAT/LOCATION_LONG) or badm (the site's BADM "
                                   f"file), or read onto a station region that names {site}")
        offset, day_labels = self._offset(path, options, meta, target, cell, table, notes)
        values: dict[str, np.ndarray] = {}
        n_flagged: dict[str, int] = {}
        n_invalid: dict[str, int] = {}
        support: dict[str, dict[str, Any]] = {}
        if want_et and layout.le is not None:
            et_notes: list[str] = []
            values["obs_et"], n_flagged["obs_et"], n_invalid["obs_et"] = self._et(table, layout, options, et_notes,
                                                                                  accept)
            notes.extend(f"obs_et: {n}" for n in et_notes)
            support["obs_et"] = {"product": layout.product, "latent_heat": layout.le_corr if (
                options.energy_closure and layout.le_corr) else layout.le,
                "energy_closure": bool(options.energy_closure)}
        elif want_et:
            notes.append(f"no latent heat column ({self._le_names()}): no obs_et")
        if want_sm:
            sm_notes: list[str] = []
            sm = self._swc(table, layout, options, meta, sm_notes, accept)
            notes.extend(f"obs_sm: {n}" for n in sm_notes)
            values["obs_sm"], n_flagged["obs_sm"], n_invalid["obs_sm"], support["obs_sm"] = sm
        empty = [v for v, arr in values.items() if not np.isfinite(arr).any()]
        if values and len(empty) == len(values):
            v = empty[0]
            col = layout.le if v == "obs_et" else ", ".join(s.column for s in layout.swc)
            if n_flagged[v] == 0 and n_invalid[v] == 0:
                raise ObservationError(f"{path}: column {col!r} holds no value (all -9999 or empty); expected "
                                       f"{'latent heat in W m-2' if v == 'obs_et' else 'soil water content in %'}")
            raise ObservationError(f"{path}: no value of {col!r} passes the quality flags and range checks "
                                   f"({n_flagged[v]} flagged, {n_invalid[v]} invalid); see --flags")
        if offset is not None:
            index = (table.times - pd.Timedelta(hours=offset)).tz_localize("UTC")
        else:
            index = table.times.tz_localize("UTC")
        frame = pd.DataFrame(values, index=index)
        series = SiteSeries(site=site, lat=lat, lon=lon, values=frame, step=table.step, n_flagged=n_flagged,
                            n_invalid=n_invalid, support=support, notes=notes, stamp="start", day_labels=day_labels)
        obs = sites_to_cells([series], target, options, path=path, fmt=self.name)
        return _no_negative_et(obs)

    # --------------------------------------------------------------------------------------
    def _le_names(self) -> str:
        return "LE"

    @staticmethod
    def _position(path: Path, options: ReadOptions, meta: SiteMetadata | None) -> tuple[float, float]:
        lat = number_option(path, options, "lat", -90.0, 90.0)
        lon = number_option(path, options, "lon", -180.0, 360.0)
        if (lat is None) != (lon is None):
            raise ObservationError(f"{path}: options lat and lon go together; pass both (degrees)")
        if lat is None and meta is not None and meta.lat is not None:
            lat, lon = meta.lat, meta.lon
        return (float(lat), float(lon)) if lat is not None else (np.nan, np.nan)

    @staticmethod
    def _offset(path: Path, options: ReadOptions, meta: SiteMetadata | None, target: CellTarget, cell: int | None,
                table: FluxTable, notes: list[str]) -> tuple[float | None, bool]:
        """Hours east of UTC of the file's timestamps (None: daily values taken as the Region's
        days) and whether the values are day labels."""
        offset = number_option(path, options, "utc_offset", -12.0, 14.0)
        if offset is None and meta is not None and meta.utc_offset is not None:
            offset = meta.utc_offset
            notes.append(f"UTC offset {offset:+g} h from the BADM file")
        if offset is None and target.convention == "local" and cell is not None:
            offset = float(target.offsets()[cell])
            notes.append(f"local standard time read with the cell's UTC offset {offset:+g} h (local days)")
        if offset is not None:
            return offset, False
        if table.daily:
            notes.append("daily values of local standard-time days taken as the region's days (no UTC offset given)")
            return None, True
        raise ObservationError(f"{path}: timestamps are local standard time and the file does not give the site's "
                               f"UTC offset; pass the reader option utc_offset (hours east of UTC, the site's BADM "
                               f"UTC_OFFSET) or badm (the site's BADM file), or use a region with the 'local' time "
                               f"convention")

    def _et(self, table: FluxTable, layout: Layout, options: ReadOptions, notes: list[str],
            accept: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, int, int]:
        """ET (mm/day rates) with the counts of flagged and invalid values."""
        use_corr = options.energy_closure and layout.le_corr is not None and layout.le_corr in table.data
        col = layout.le_corr if use_corr else layout.le
        le = table.data[col].copy()
        flagged = np.zeros(le.size, bool)
        qc_col = layout.qc.get(layout.le)
        if qc_col is not None and qc_col in table.data:
            flagged = np.isfinite(le) & ~accept(table.data[qc_col])
        elif layout.has_flags:
            notes.append(f"no {layout.le}_QC column: {col} values taken without quality flags")
        lo, hi = LE_RANGE
        invalid = np.isfinite(le) & ~flagged & ((le < lo) | (le > hi))
        if invalid.any():
            notes.append(f"{int(invalid.sum())} {col} value(s) outside {lo:g}..{hi:g} W m-2 left out")
        le[flagged | invalid] = np.nan
        if options.energy_closure and not use_corr:
            factor = closure_factor(table, layout, le, options)
            lost = np.isfinite(le) & ~np.isfinite(factor)
            if lost.any():
                notes.append(f"energy closure: {int(lost.sum())} {col} value(s) on days without a closure factor "
                             f"(NETRAD, G, H, LE) left out")
            flagged |= lost
            le = le * factor
            notes.append("energy-balance closure: LE * (NETRAD - G) / (H + LE) per day")
        elif use_corr:
            notes.append(f"energy-balance closure: the file's {col}")
        if layout.ta is not None and layout.ta in table.data:
            t = table.data[layout.ta].copy()
            t[(t < -60) | (t > 60)] = np.nan
            missing = np.isfinite(le) & ~np.isfinite(t)
            if missing.any():
                notes.append(f"{int(missing.sum())} step(s) without air temperature ({layout.ta}): "
                             f"lambda at {FALLBACK_T_C:g} degC")
            t = np.where(np.isfinite(t), t, FALLBACK_T_C)
        else:
            t = np.full(le.size, FALLBACK_T_C)
            notes.append(f"no air temperature column: lambda at {FALLBACK_T_C:g} degC")
        return le_to_et(le, t), int(flagged.sum()), int(invalid.sum())

    def _swc(self, table: FluxTable, layout: Layout, options: ReadOptions, meta: SiteMetadata | None,
             notes: list[str], accept: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, int, int, dict[str, Any]]:
        path = table.path
        depths = swc_depth_option(path, options)
        sensors = [with_depth(s, depths, meta) for s in layout.swc]
        chosen = choose_sensors(path, sensors, options.depth)
        n = len(table.times)
        stack = np.full((len(chosen), n), np.nan)
        flag = np.zeros((len(chosen), n), bool)
        inval = np.zeros((len(chosen), n), bool)
        lo, hi = SWC_RANGE
        for k, s in enumerate(chosen):
            v = table.data[s.column].copy()
            if s.qc is not None and s.qc in table.data:
                flag[k] = np.isfinite(v) & ~accept(table.data[s.qc])
            elif layout.has_flags:
                notes.append(f"no {s.column}_QC column: {s.column} values taken without quality flags")
            inval[k] = np.isfinite(v) & ~flag[k] & ((v < lo) | (v > hi))
            v[flag[k] | inval[k]] = np.nan
            stack[k] = v / 100.0
        with np.errstate(invalid="ignore"), quiet():
            sm = np.nanmean(stack, axis=0) if len(chosen) > 1 else stack[0]
        none = ~np.isfinite(sm)
        n_flag = int((none & flag.any(axis=0)).sum())
        n_inval = int((none & ~flag.any(axis=0) & inval.any(axis=0)).sum())
        if n_inval:
            notes.append(f"{n_inval} soil water value(s) outside {lo:g}..{hi:g} % left out")
        known = [s.depth_m for s in chosen if s.depth_m is not None]
        support: dict[str, Any] = {"product": layout.product, "sensors": [s.column for s in chosen]}
        if len(known) == len(chosen):
            support["depth_m"] = [min(d[0] for d in known), max(d[1] for d in known)]
            support["depth_known"] = True
        else:
            support["depth_m"] = None
            support["depth_known"] = False
            notes.append(f"soil water depth unknown ({', '.join(s.column for s in chosen)}: the shallowest sensors, "
                         f"vertical index 1); pass swc_depths or badm for depths")
        return sm, n_flag, n_inval, support


def _no_negative_et(obs: Observations) -> Observations:
    """Daily ET below zero (net condensation) set to 0 mm/day, counted in the QC notes."""
    et = obs.values.get("obs_et")
    if et is None:
        return obs
    neg = np.isfinite(et) & (et < 0)
    if not neg.any():
        return obs
    et[neg] = 0.0
    qc = obs.qc.copy()
    rows = qc.index[qc["variable"] == "obs_et"]  # one per target cell, in the target's order
    for i in np.nonzero(neg.any(axis=1))[0]:
        note = f"{int(neg[i].sum())} day(s) of net condensation (daily ET < 0) set to 0 mm/day"
        old = qc.at[rows[i], "notes"]
        qc.at[rows[i], "notes"] = f"{old}; {note}" if old else note
    obs.qc = qc
    return obs


__all__ = ("FluxReader", "Layout", "SwcSensor", "latent_heat_of_vaporisation", "le_to_et", "closure_factor",
           "choose_sensors", "sniff_header", "number_option")
