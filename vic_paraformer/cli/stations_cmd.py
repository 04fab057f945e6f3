"""``vic-paraformer stations``: a Region from a station network's meteorology, tables and observations.

::

    vic-paraformer stations --met DIR_OR_CSV [--stations stations.csv] [--soil TABLE]
                            [--obs PATH [--obs-format auto] [--depth TOP BOTTOM] ...]
                            [--start D --end D] --out region.nc

Reads the meteorology CSVs (layout: :mod:`vic_paraformer.stations.metcsv`), checks them
(:mod:`vic_paraformer.stations.qc`), fills gaps (:mod:`vic_paraformer.stations.gapfill`),
estimates what is not measured (:mod:`vic_paraformer.stations.estimate`), adds the stations' and
the ``--soil`` table's attributes and the climate indices, attaches the observations and writes
the Region with its QC report next to it (``NAME.qc.csv``, ``NAME.qc.txt``); the summary is printed.
"""

from __future__ import annotations

import argparse

from ._obs_options import add_obs_options, check_obs_options, read_options
from ._outputs import add_overwrite, guard
from ._types import date, positive_int


def register(sub) -> None:
    p = sub.add_parser("stations", help="build a region from a station network (met CSVs, stations table, obs)",
                       description="Build a Region with one cell per station from station meteorology CSVs: daily "
                                   "values in local standard time, QC of stuck or flat-lined sensors and impossible "
                                   "values, gap filling, pressure/humidity/longwave estimated where not measured, "
                                   "static attributes and observations; a QC report is written next to --out.")
    p.add_argument("--met", required=True, metavar="DIR_OR_CSV",
                   help="folder of meteorology CSVs (one per station) or one CSV with a station column")
    p.add_argument("--stations", metavar="CSV",
                   help="stations table: id, lat, lon, elevation, optional utc_offset and attributes (default: "
                        "lat/lon/elevation columns of the meteorology)")
    p.add_argument("--soil", metavar="CSV", help="per-station attribute table (id and numeric columns)")
    p.add_argument("--out", required=True, help="region netCDF to write")
    p.add_argument("--start", type=date, help="first day to keep (default: the first day of data)")
    p.add_argument("--end", type=date, help="last day to keep (default: the last day of data)")
    q = p.add_argument_group("quality control and gap filling")
    q.add_argument("--stuck-days", type=positive_int, default=3, metavar="K",
                   help="shortwave ~0 on K consecutive days with daylight is a stuck sensor (default 3)")
    q.add_argument("--flat-days", type=positive_int, default=5, metavar="K",
                   help="the same value on K consecutive days is a flat-lined sensor (default 5)")
    q.add_argument("--gap-days", type=positive_int, default=3, metavar="N",
                   help="gaps up to N days are interpolated in time; longer ones from the nearest stations (default 3)")
    add_obs_options(p, obs_help="observations of the stations (matched by station name, then position)")
    add_overwrite(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..stations import QCRules, build_station_region, report_paths, write_report

    check_obs_options(args)
    guard(args, args.out, "region", met=args.met, stations=args.stations, soil=args.soil, obs=args.obs)
    for path in report_paths(args.out):
        guard(args, path, "text", option="the QC report next to --out", required=False, met=args.met,
              stations=args.stations, soil=args.soil, obs=args.obs)
    build = build_station_region(args.met, stations=args.stations, soil=args.soil, obs=args.obs,
                                 obs_format=args.obs_format, obs_options=read_options(args), start=args.start,
                                 end=args.end, rules=QCRules(stuck_days=args.stuck_days, flat_days=args.flat_days),
                                 max_interp_days=args.gap_days)
    build.region.save(args.out)
    csv_path, txt_path = write_report(build, args.out)
    print(build.summary())
    print(f"wrote {args.out}: {build.region}; QC report {csv_path}, {txt_path}")
    return 0
