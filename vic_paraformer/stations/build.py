"""A Region from a station network: meteorology, QC, gap filling, estimation, attributes, observations.

:func:`build_station_region` runs, in order:

1. read the stations table (:mod:`~vic_paraformer.stations.table`) and the meteorology CSVs
   (:mod:`~vic_paraformer.stations.metcsv`), aggregated to daily values on each station's local
   standard-time days;
2. quality control (:mod:`~vic_paraformer.stations.qc`): flagged values become gaps;
3. gap filling (:mod:`~vic_paraformer.stations.gapfill`);
4. estimation (:mod:`~vic_paraformer.stations.estimate`) of what a station does not measure:
   vapour pressure from relative humidity, pressure from elevation, longwave from temperature,
   humidity and the shortwave clearness; each estimated variable says so in its attributes
   (``estimated``: the method, ``estimated_stations``: where) and in the QC report;
5. static attributes: ``elevation``, the numeric columns of the stations table and of the
   attribute table (``--soil``), and climate indices from the forcing: ``mean_annual_prec``
   (mm/year), ``mean_temp`` (degC) and ``aridity`` (mean Priestley-Taylor PET over mean
   precipitation, :func:`~vic_paraformer.simulators.meteorology.potential_et`);
6. observations (optional) read by any registered reader
   (:func:`vic_paraformer.readers.read_observations`) and attached; they match stations by name.

The Region has one cell per station with a ``station`` coordinate (names), a ``utc_offset``
coordinate (hours) and the ``local`` time convention (``time_convention`` attribute), built with
:func:`vic_paraformer.region.make_region`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import StationError
from ..readers.base import CONVENTION_ATTR, UTC_OFFSET_COORD, Observations, ReadOptions
from ..region import FORCING_VARS, Region, make_region
from .estimate import longwave_brutsaert, standard_pressure, top_of_atmosphere, vp_from_rh
from .gapfill import fill_gaps
from .metcsv import StationMet, daily_met, read_met
from .qc import QCRules, run_qc
from .table import StationTable, read_attribute_table, read_station_table

log = logging.getLogger(__name__)

__all__ = ("StationBuild", "build_station_region", "REPORT_COLUMNS", "ESTIMATES")

#: Columns of :meth:`StationBuild.report` (the QC report CSV).
REPORT_COLUMNS = ("section", "station", "variable", "rule", "first_day", "last_day", "n_values", "detail")
#: Estimated variable -> (method name, description).
ESTIMATES = {
    "vp": ("from_rh", "vapour pressure from relative humidity and air temperature (Tetens)"),
    "pressure": ("standard_atmosphere", "pressure from elevation, standard atmosphere (FAO-56 eq. 7)"),
    "lwdown": ("brutsaert_cloud_factor", "longwave by Brutsaert (1975) clear sky with a cloud factor from the "
                                         "shortwave clearness (Crawford and Duchon 1999)"),
}


@dataclass
class StationBuild:
    """What :func:`build_station_region` made: the region and everything done to the data."""

    region: Region
    qc: pd.DataFrame
    fills: pd.DataFrame
    estimated: dict[str, list[str]]
    observations: Observations | None = None
    dropped: list[str] = field(default_factory=list)

    def report(self) -> pd.DataFrame:
        """One table of every QC flag, gap fill and estimate (columns :data:`REPORT_COLUMNS`)."""
        rows = [{"section": "qc", **r} for r in self.qc.to_dict("records")]
        days = self.region.times
        span = (str(days[0].date()), str(days[-1].date()))
        for r in self.fills.to_dict("records"):
            rows.append({"section": "gap_fill", "station": r["station"], "variable": r["variable"],
                         "rule": r["method"], "first_day": span[0], "last_day": span[1], "n_values": r["n_days"],
                         "detail": f"{r['n_days']} day(s) filled by {r['method']}"})
        for var, names in self.estimated.items():
            method, text = ESTIMATES[var]
            for s in names:
                rows.append({"section": "estimated", "station": s, "variable": var, "rule": method,
                             "first_day": span[0], "last_day": span[1], "n_values": len(days), "detail": text})
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))

    def summary(self) -> str:
        """A few lines: the network, QC flags, gap filling per variable, estimates, observations."""
        r = self.region
        t = r.times
        lines = [f"station network: {r.n_cells} stations, {r.n_days} days {t[0].date()}..{t[-1].date()} "
                 f"(local standard time)"]
        if self.dropped:
            lines.append(f"  left out (no meteorology): {', '.join(self.dropped)}")
        if self.qc.empty:
            lines.append("QC: no value flagged")
        else:
            lines.append(f"QC: {len(self.qc)} flag(s), {int(self.qc['n_values'].sum())} value(s) removed")
            for q in self.qc.to_dict("records"):
                lines.append(f"  {q['station']} {q['variable']} {q['rule']} {q['first_day']}..{q['last_day']} "
                             f"({q['n_values']} values): {q['detail']}")
        if self.fills.empty:
            lines.append("gap filling: no gap")
        else:
            lines.append("gap filling (station-days):")
            for var, g in self.fills.groupby("variable", sort=False):
                parts = [f"{m} {int(n)}" for m, n in g.groupby("method", sort=False)["n_days"].sum().items()]
                lines.append(f"  {var}: {', '.join(parts)} ({g['station'].nunique()} station(s))")
        for var, names in self.estimated.items():
            if names:
                lines.append(f"estimated {var} at {len(names)} station(s): {ESTIMATES[var][1]}")
        if self.observations is not None:
            lines.append(self.observations.summary())
        return "\n".join(lines)


def _table_from_met(met: list[StationMet], path: Path) -> StationTable:
    ids, lat, lon, elev = [], [], [], []
    for m in met:
        missing = [k for k in ("lat", "lon", "elevation") if not np.isfinite(m.position.get(k, np.nan))]
        if missing:
            raise StationError(f"{m.source}: station {m.station} has no {'/'.join(missing)}; give a stations table "
                               f"(--stations) with id, lat, lon, elevation")
        ids.append(m.station)
        lat.append(m.position["lat"])
        lon.append(m.position["lon"])
        elev.append(m.position["elevation"])
    return StationTable(ids=ids, lat=np.asarray(lat), lon=np.asarray(lon), elevation=np.asarray(elev),
                        utc_offset=np.zeros(len(ids)), source=str(path))


def _climate(forcing: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch

    from ..simulators.meteorology import potential_et

    f = torch.as_tensor(np.stack([forcing[k] for k in FORCING_VARS], axis=-1), dtype=torch.float64)
    pet = potential_et(f).numpy().mean(axis=1)
    p = forcing["prec"].mean(axis=1)
    return {"mean_annual_prec": p * 365.25, "mean_temp": forcing["air_temp"].mean(axis=1),
            "aridity": pet / np.maximum(p, 1e-6)}


def build_station_region(met: str | Path, *, stations: str | Path | None = None, obs: str | Path | None = None,
                         obs_format: str = "auto", obs_options: ReadOptions | Mapping[str, Any] | None = None,
                         soil: str | Path | None = None, start=None, end=None, rules: QCRules = QCRules(),
                         max_interp_days: int = 3, min_coverage: float = 0.75) -> StationBuild:
    """A Region (one cell per station) from a station network (steps in the module docstring).

    ``met``: a folder of meteorology CSVs or one long CSV; ``stations``: the stations table (else
    positions come from ``lat``/``lon``/``elevation`` columns of the meteorology); ``obs``: an
    observation file in ``obs_format`` (a registered reader or ``auto``) read with ``obs_options``;
    ``soil``: a table of per-station attributes; ``start``/``end``: the days to keep. Inputs are only
    read. StationError naming the file, station and variable when the data cannot be used.
    """
    table = read_station_table(stations) if stations is not None else None
    raw = read_met(met, table)
    if table is None:
        table = _table_from_met(raw, Path(met))
    names = {m.station: m for m in raw}
    unknown = [m for m in raw if table.index(m.station) is None]
    if unknown:
        raise StationError(f"{unknown[0].source}: station {unknown[0].station} is not in the stations table "
                           f"{table.source}; add a row (id, lat, lon, elevation) or remove its data")
    keep = [i for i, s in enumerate(table.ids) if s in names]
    dropped = [s for s in table.ids if s not in names]
    if dropped:
        log.warning("%s: %d station(s) have no meteorology and are left out: %s", table.source, len(dropped),
                    ", ".join(dropped[:10]))
    table = StationTable(ids=[table.ids[i] for i in keep], lat=table.lat[keep], lon=table.lon[keep],
                         elevation=table.elevation[keep], utc_offset=table.utc_offset[keep],
                         attributes=table.attributes.iloc[keep] if not table.attributes.empty else table.attributes,
                         source=table.source)
    daily = daily_met(raw, table, start=start, end=end, min_coverage=min_coverage)
    days = daily.days
    ra = top_of_atmosphere(table.lat, days)
    checked, qc = run_qc(daily.values, table.ids, days, ra, rules)
    present = daily.present
    only = {"pressure": present["pressure"], "lwdown": present["lwdown"], "vp": present["vp"],
            "rh": present["rh"] & ~present["vp"]}
    filled, fills = fill_gaps(checked, table.ids, table.lat, table.lon, table.elevation, days,
                              max_interp_days=max_interp_days, only=only)
    forcing = {k: filled[k] for k in ("prec", "air_temp", "swdown", "wind")}
    forcing["prec"] = np.maximum(forcing["prec"], 0.0)
    forcing["swdown"] = np.maximum(forcing["swdown"], 0.0)
    forcing["wind"] = np.maximum(forcing["wind"], 0.0)
    estimated: dict[str, list[str]] = {"vp": [], "pressure": [], "lwdown": []}
    vp = filled["vp"].copy()
    from_rh = ~present["vp"]
    vp[from_rh] = vp_from_rh(filled["rh"][from_rh], forcing["air_temp"][from_rh])
    estimated["vp"] = [s for s, f in zip(table.ids, from_rh) if f]
    forcing["vp"] = vp
    pres = filled["pressure"].copy()
    no_p = ~present["pressure"]
    pres[no_p] = standard_pressure(table.elevation[no_p])[:, None]
    estimated["pressure"] = [s for s, f in zip(table.ids, no_p) if f]
    forcing["pressure"] = pres
    lw = filled["lwdown"].copy()
    no_lw = ~present["lwdown"]
    lw[no_lw] = longwave_brutsaert(forcing["air_temp"][no_lw], vp[no_lw], forcing["swdown"][no_lw], ra[no_lw],
                                   table.elevation[no_lw])
    estimated["lwdown"] = [s for s, f in zip(table.ids, no_lw) if f]
    forcing["lwdown"] = lw
    attrs = {"elevation": table.elevation.astype(float)}
    for c in table.attributes.columns:
        attrs[str(c)] = table.attributes[c].to_numpy(float)
    if soil is not None:
        extra = read_attribute_table(soil, table)
        for c in extra.columns:
            attrs[str(c)] = extra[c].to_numpy(float)
    attrs.update(_climate(forcing))
    forcing_attrs = {}
    for var, names_ in estimated.items():
        if names_:
            method, text = ESTIMATES[var]
            forcing_attrs[var] = {"estimated": method, "estimated_stations": ",".join(names_),
                                  "estimation_method": text}
    region = make_region(
        lat=table.lat, lon=table.lon, time=days, forcing={k: forcing[k] for k in FORCING_VARS},
        attributes=np.stack(list(attrs.values()), axis=1), attribute_names=list(attrs),
        coords={"station": ("cell", np.asarray(table.ids, dtype=str)),
                UTC_OFFSET_COORD: ("cell", table.utc_offset.astype(float))},
        attrs={CONVENTION_ATTR: "local", "title": "station network imported by vic_paraformer",
               "station_meteorology": str(Path(met).resolve()), "stations_table": str(table.source)},
        forcing_attrs=forcing_attrs, source=str(met))
    observations = None
    if obs is not None:
        from ..readers import read_observations

        options = obs_options if isinstance(obs_options, ReadOptions) else ReadOptions(**dict(obs_options or {}))
        observations = read_observations(obs, region, format=obs_format, options=options)
        region = observations.attach(region)
    build = StationBuild(region=region, qc=qc, fills=fills, estimated=estimated, observations=observations,
                         dropped=dropped)
    for var in ("vp", "pressure", "lwdown"):
        if estimated[var]:
            log.info("estimated %s at %d of %d station(s): %s", var, len(estimated[var]), len(table), ESTIMATES[var][1])
    return build
