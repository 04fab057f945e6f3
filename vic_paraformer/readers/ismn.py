"""International Soil Moisture Network (ISMN) station soil moisture: ``.stm`` files, station or
network folders, or the zip archive as downloaded.

What it reads
-------------
The ISMN distributes each sensor's record as one ``.stm`` file, in a folder tree
``NETWORK/STATION/*.stm`` (with ``*_static_variables.csv`` soil and land-cover metadata beside
them, which this reader does not need). The layouts are described in the ``Readme.txt`` shipped
with every ISMN download ("Variables stored in separate files (Header+values)" and "... (CEOP
formatted)"), on https://ismn.earth, and in Dorigo et al. (2021), The International Soil
Moisture Network: serving Earth system science for over a decade, HESS 25, 5749-5804,
https://doi.org/10.5194/hess-25-5749-2021:

* file name ``CSE_NETWORK_STATION_VARIABLE_DEPTHFROM_DEPTHTO_SENSOR_STARTDATE_ENDDATE.stm``
  (``VARIABLE`` ``sm`` for soil moisture; other variables in a folder are skipped);
* **Header+values**: a header line ``CSE NETWORK STATION LATITUDE LONGITUDE ELEVATION DEPTH_FROM
  DEPTH_TO SENSOR`` (degrees, m a.s.l., m below ground), then one record a line
  ``yyyy/mm/dd HH:MM VALUE ISMN_FLAG PROVIDER_FLAG``;
* **CEOP formatted**: no header, 15 fields a line: nominal date and time, actual date and time,
  CSE, network, station, latitude, longitude, elevation, depth from, depth to, value, ISMN flag,
  provider flag.

``path`` may be one ``.stm`` file, a station folder, a network folder, the unzipped archive or the
``.zip`` itself (searched recursively). Inputs are only read; nothing is written next to them.

The ``ismn`` package (TU Wien, https://ismn.readthedocs.io; the ``ismn`` extra of this package)
reads the files: :class:`ismn.filehandlers.DataFile` tells the two layouts apart and parses the
records and the sensor metadata (station, position, depth, instrument), and
:class:`ismn.base.IsmnRoot` reads members of a zip archive. Written here, and why:

* listing the files: ``ismn.interface.ISMN_Interface`` writes a metadata index
  (``python_metadata/``) next to the data, i.e. into the user's folder, and reads the header of
  every file of every variable; ``IsmnRoot.find_files`` does not descend from the archive root to
  ``NETWORK/STATION``. The reader lists ``*.stm`` files itself and opens only the soil-moisture
  files whose depth it keeps.
* a look at each file's name and first lines before ``DataFile`` opens it
  (:mod:`vic_paraformer.readers.ismn_files`), so that an empty file, a damaged header or a file
  with no records is one clear error naming the file (``DataFile`` fails there with an
  ``IndexError`` or a traceback), and so that only the files within the depth range are read;
* the network: ``DataFile`` takes it from the first folder below the root it was given, which is
  the station folder when a station folder is read; the file name's ``NETWORK`` is used instead.
* flags, units, depth selection, averaging and the conversion to this package's
  :class:`~vic_paraformer.readers.base.SiteSeries` (the ``ismn`` package has no such rules).

Units and time
--------------
ISMN soil moisture is volumetric, m3 m-3 (the network's harmonised unit; the files carry no unit
field). A sensor whose values have a median above 1 looks like percent and is an error naming
the file, unless ``ReadOptions.extra["sm_units"]`` is ``"percent"`` (values divided by 100;
``"m3 m-3"``, the default, leaves them). Accepted values outside 0..1 m3 m-3 are counted as
invalid (``n_invalid``) and left out. ISMN timestamps are UTC and instantaneous (hourly for most
networks); a station's series is built with ``stamp="instant"`` and its step is the most common
spacing of its records (one hour for hourly networks, so the ``min_coverage`` rule asks for 18 of
24 hourly readings by default; networks that report less often get their own step). Days follow
the Region's convention (:mod:`vic_paraformer.readers.timeaxis`).

Quality flags
-------------
Each record carries the ISMN quality flag (Dorigo et al., 2013, Global automated quality control of
in situ soil moisture data from the International Soil Moisture Network, Vadose Zone Journal 12(3),
doi:10.2136/vzj2012.0097; ``ISMN_qualityflags_description.txt`` in each download): ``G`` good;
``C01`` < 0 m3 m-3, ``C02`` > 0.6 m3 m-3, ``C03`` above the saturation point; ``D01``-``D05``
geophysical checks (frozen soil from in situ or GLDAS temperatures, rises without precipitation),
``D06``-``D10`` spectrum checks (spikes, negative and positive breaks, constant low values,
saturated plateaus); ``M`` value missing. A record may hold several codes (``D02,D03``).

By default only ``G`` is accepted. ``ReadOptions.flags`` lists the accepted codes, comma separated
(``"G,C03"``, ``"G,D01,D02,D03"``); a record is kept when every one of its codes is accepted.
Records not accepted are counted in ``n_flagged``; ``M`` records and NaN values are gaps (counted
nowhere). The provider's own flag (last field) is not used. Unknown codes in ``flags`` are an error.

Depth and averaging
-------------------
Soil-moisture sensors whose depth interval ``[from, to]`` lies within ``ReadOptions.depth``
(``--depth TOP BOTTOM`` on the command line) are kept; the default is 0.0-0.1 m, the top layer.
All kept sensors of a station (several sensors at one depth, or several depths inside the range)
are averaged hour by hour into one series per station; ``n_flagged`` and ``n_invalid`` count sensor
readings. The observations' ``support`` records ``depth_m`` (the shallowest top and deepest bottom
of the sensors used), ``sensor`` and ``network``.

What it rejects (ObservationError naming the file)
---------------------------------------------------
an empty file; a header that is not ``CSE NETWORK STATION LAT LON ELEVATION FROM TO SENSOR`` with
numbers where numbers belong (or a CEOP line that is not 15 fields); a file with a header and no
records; a file name that does not follow the ISMN naming; a single file that is not soil moisture;
a record whose value is not a number, whose date is not ``yyyy/mm/dd HH:MM`` or that has no flag;
values that look like percent; a folder or archive with no ``.stm`` file or no soil-moisture file;
no sensor within the depth range (the depths found are named); no station matching a cell or no
value in the Region's days (:func:`~vic_paraformer.readers.sites.sites_to_cells`).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import ObservationError
from .base import CellTarget, Observations, ReadOptions, Reader, SiteSeries, head_text
from .ismn_files import (CEOP_FIELDS, DEFAULT_FLAGS, KNOWN_FLAGS, UNITS, IsmnSource, SensorSeries, accepted_flags,
                         in_depth_range, is_date, number, read_header, read_sensor)
from .sites import sites_to_cells
from .timeaxis import ONE_DAY

log = logging.getLogger(__name__)

#: Depth range kept when ``ReadOptions.depth`` is None (m below ground).
DEFAULT_DEPTH: tuple[float, float] = (0.0, 0.1)


def _ismn() -> Any:
    """The ``ismn.filehandlers`` and ``ismn.base`` modules; ObservationError when not installed."""
    try:
        from ismn import base, filehandlers
    except ImportError as exc:
        raise ObservationError(f"the ismn observation format needs the 'ismn' package ({exc}); install it with "
                               f"pip install 'vic-paraformer[ismn]'") from None
    return filehandlers, base


def _units_factor(options: ReadOptions) -> float:
    units = str(options.extra.get("sm_units", "m3 m-3")).strip().lower()
    if units not in UNITS:
        raise ObservationError(f"option sm_units {units!r}: expected one of {sorted(UNITS)}")
    return UNITS[units]


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The most common spacing of ``index``, at least one hour (one hour when it cannot be told)."""
    u = index.unique().sort_values()
    if len(u) < 2:
        return pd.Timedelta(hours=1)
    d = pd.Series(np.diff(u.asi8)).value_counts()
    step = pd.Timedelta(int(d.index[0]), unit="ns")
    return min(max(step, pd.Timedelta(hours=1)), ONE_DAY)


def station_series(sensors: list[SensorSeries], site: str) -> SiteSeries:
    """One :class:`SiteSeries` from the sensors of a station, averaged time step by time step."""
    frame = pd.concat([s.values.rename(str(i)) for i, s in enumerate(sensors)], axis=1, sort=True)
    mean = frame.mean(axis=1, skipna=True)
    step = _step(pd.DatetimeIndex(frame.index))
    h0 = sensors[0].header
    top = min(s.depth[0] for s in sensors)
    bottom = max(s.depth[1] for s in sensors)
    names = sorted({s.sensor for s in sensors})
    notes = []
    if len(sensors) > 1:
        which = ", ".join(f"{s.sensor} {s.depth[0]:g}-{s.depth[1]:g} m" for s in sensors)
        notes.append(f"{site}: {len(sensors)} sensors averaged ({which})")
    return SiteSeries(site=site, lat=float(np.mean([s.lat for s in sensors])),
                      lon=float(np.mean([s.lon for s in sensors])),
                      values=pd.DataFrame({"obs_sm": mean.to_numpy(float)}, index=pd.DatetimeIndex(frame.index)),
                      step=step, stamp="instant",
                      n_flagged={"obs_sm": sum(s.n_flagged for s in sensors)},
                      n_invalid={"obs_sm": sum(s.n_invalid for s in sensors)},
                      support={"obs_sm": {"depth_m": [top, bottom], "sensor": ", ".join(names),
                                          "network": h0.network}},
                      notes=notes)


# ------------------------------------------------------------------------------------------ reader
class IsmnReader(Reader):
    """ISMN station soil moisture (see the module docstring)."""

    name = "ismn"
    description = "ISMN station soil moisture: .stm files, station/network folders or the downloaded zip"
    suffixes = (".stm", ".zip")

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return next((True for p in path.rglob("*.stm") if p.is_file()), False)
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as zf:
                    return any(n.lower().endswith(".stm") for n in zf.namelist())
            except (OSError, zipfile.BadZipFile):
                return False
        if path.suffix.lower() == ".stm":
            lines = head_text(path, 2048).splitlines()
            first = lines[0].split() if lines else []
            if len(first) == CEOP_FIELDS and is_date(first[0]):
                return True
            return len(first) >= 8 and all(number(t) is not None for t in first[3:8])
        return False

    def read(self, path: Path, target: CellTarget, options: ReadOptions) -> Observations:
        path = Path(path)
        if "obs_sm" not in options.variables:
            raise ObservationError(f"{path}: ISMN files hold soil moisture (obs_sm), which is not among the requested "
                                   f"variables {list(options.variables)}")
        flags = accepted_flags(options.flags)
        factor = _units_factor(options)
        depth = tuple(options.depth) if options.depth is not None else DEFAULT_DEPTH
        filehandlers, base_mod = _ismn()
        source = IsmnSource(path, base_mod)
        try:
            sites = self._sites(path, source, filehandlers, flags=flags, factor=factor, depth=depth)
        finally:
            source.close()
        obs = sites_to_cells(sites, target, options, path=path, fmt=self.name)
        obs.support["obs_sm"] = _support(sites, obs, depth)
        return obs

    def _sites(self, path: Path, source: IsmnSource, filehandlers: Any, *, flags: frozenset[str], factor: float,
               depth: tuple[float, float]) -> list[SiteSeries]:
        if not source.members:
            raise ObservationError(f"{path}: no ISMN data files (*.stm) found; expected NETWORK/STATION/*.stm as "
                                   f"in the ISMN download")
        headers = [read_header(source, m) for m in source.members]
        sm = [h for h in headers if h.is_soil_moisture]
        if not sm:
            found = sorted({h.variable for h in headers})
            raise ObservationError(f"{source.display(source.members[0]) if len(headers) == 1 else path}: no soil "
                                   f"moisture file (variable 'sm'); found variable(s) {', '.join(found)}")
        keep = [h for h in sm if in_depth_range(h, depth)]
        if not keep:
            where = source.display(sm[0].member) if len(sm) == 1 else f"{path} ({len(sm)} soil moisture files)"
            found = sorted({(h.depth_from, h.depth_to) for h in sm})
            raise ObservationError(f"{where}: no soil moisture sensor within the depth range {depth[0]:g}-{depth[1]:g} "
                                   f"m (option depth / --depth TOP BOTTOM); depths found: "
                                   + ", ".join(f"{a:g}-{b:g} m" for a, b in found))
        log.info("%s: %d of %d soil moisture file(s) within %g-%g m", path, len(keep), len(sm), depth[0], depth[1])
        by_station: dict[tuple[str, str], list[SensorSeries]] = {}
        for h in keep:
            s = read_sensor(source, h, filehandlers, flags=flags, factor=factor)
            by_station.setdefault((h.network, s.header.station), []).append(s)
        names = [st for _, st in by_station]
        return [station_series(v, st if names.count(st) == 1 else f"{net}/{st}")
                for (net, st), v in _sorted(by_station)]


def _sorted(d: dict) -> Iterator:
    return iter(sorted(d.items(), key=lambda kv: kv[0]))


def _support(sites: list[SiteSeries], obs: Observations, depth: tuple[float, float]) -> dict[str, Any]:
    """The support of the stations that reached a cell: sensing depths, sensors, networks."""
    used = {name for cell_sites in obs.qc.loc[obs.qc["variable"] == "obs_sm", "sites"] if cell_sites
            for name in cell_sites.split(",")}
    chosen = [s for s in sites if s.site in used] or list(sites)
    sup = [s.support["obs_sm"] for s in chosen]
    out = dict(obs.support.get("obs_sm", {}))
    out.update({"depth_m": [min(x["depth_m"][0] for x in sup), max(x["depth_m"][1] for x in sup)],
                "depth_range_m": [float(depth[0]), float(depth[1])],
                "sensor": ", ".join(sorted({n for x in sup for n in x["sensor"].split(", ")})),
                "network": ", ".join(sorted({x["network"] for x in sup}))})
    return out


__all__ = ("IsmnReader", "accepted_flags", "read_header", "read_sensor", "station_series", "DEFAULT_DEPTH",
           "DEFAULT_FLAGS", "KNOWN_FLAGS")
