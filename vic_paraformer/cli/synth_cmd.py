"""``vic-paraformer synth``: write a synthetic twin region (forcing, attributes, truth, observations).

::

    vic-paraformer synth --out region.nc [--ny 8] [--nx 8] [--years 3] [--seed 0] [--start 2015-04-01]
                         [--obs-interval 2 3] [--sm-noise 0.01] [--et-noise 0.3] [--no-et]
                         [--parameter-space vic] [--difficulty clean|realistic] [--train-k K]
                         [--max-memory GB] [--gauges N]

``--station-network`` writes the twin as a station network instead (one station per cell, into
the folder ``--out``: meteorology CSVs with a stuck shortwave sensor and gaps, stations and soil
tables, an observation CSV and the truth; :mod:`vic_paraformer.station_twin`), the input of
``vic-paraformer stations``.

The time series are generated and written a chunk of cells at a time, so the memory stays within
``--max-memory`` whatever the grid's size; the values do not depend on the budget.
"""

from __future__ import annotations

import argparse
import time


from ._checks import check_synth
from ._outputs import add_overwrite, guard
from ._types import date, finite_float, non_negative_float, non_negative_int, positive_float, positive_int


#: Daily series per cell of a synthetic region (7 forcing, obs_sm, obs_et, train_cell mask and the
#: true run's sm and et): the size estimate of ``--out`` counts them at 8 bytes a value.
SERIES_PER_CELL = 12


def register(sub) -> None:
    p = sub.add_parser("synth", help="write a synthetic twin region with known true parameters",
                       description="Generate a synthetic twin region: a 0.125-degree grid with daily forcing, "
                                   "smooth static attributes, true parameter fields (true_<param>) and noisy "
                                   "observations simulated by the 'waterbalance' simulator (a VIC-style stand-in).")
    p.add_argument("--out", required=True, help="region netCDF to write (atomically)")
    p.add_argument("--ny", type=positive_int, default=8, help="grid rows (default 8)")
    p.add_argument("--nx", type=positive_int, default=8, help="grid columns (default 8)")
    p.add_argument("--years", type=positive_float, default=3, help="length in years (default 3)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--start", type=date, default="2015-04-01", help="first day (default 2015-04-01)")
    p.add_argument("--obs-interval", type=int, nargs=2, default=(2, 3), metavar=("MIN", "MAX"),
                   help="days between soil-moisture observations (default 2 3)")
    p.add_argument("--sm-noise", type=non_negative_float, default=0.01, help="obs_sm noise std, m3/m3 (default 0.01)")
    p.add_argument("--et-noise", type=non_negative_float, default=0.3, help="obs_et noise std, mm/day (default 0.3)")
    p.add_argument("--no-et", action="store_true", help="do not store obs_et")
    p.add_argument("--parameter-space", default="vic", help="parameter preset of the truth (default vic)")
    p.add_argument("--difficulty", default="clean", choices=("clean", "realistic"),
                   help="clean (default): the calibrator sees the true forcing and the simulator's top layer plus "
                        "white noise; realistic: an unknown observation operator, forcing error, a truth the "
                        "attributes do not fully explain, noisy attributes and ET at a few tower-like cells "
                        "(numbers in vic_paraformer.synthetic)")
    p.add_argument("--train-k", type=positive_int, default=None, metavar="K",
                   help="mark the DAS-SK training cells (one per K x K block, Region.spatial_split) in train_cell "
                        "(default: every observed cell trains)")
    p.add_argument("--lat", type=finite_float, default=35.0, help="grid centre latitude (default 35.0)")
    p.add_argument("--lon", type=finite_float, default=-98.0, help="grid centre longitude (default -98.0)")
    p.add_argument("--max-memory", type=positive_float, default=1.0, metavar="GB",
                   help="memory budget of the time series: generated and written in chunks of cells that fit "
                        "(default 1; the values do not depend on it)")
    p.add_argument("--gauges", type=non_negative_int, default=0, metavar="N",
                   help="add a river network (D8 flow directions from the elevation, one catchment) with N nested "
                        "gauges, the routing kernel and true and observed discharge obs_q (default 0: none; 3 is "
                        "a sensible choice for calibrating on discharge; see vic_paraformer.synthetic)")
    p.add_argument("--station-network", action="store_true",
                   help="write a station network into the folder --out instead (met/*.csv, stations.csv, soil.csv, "
                        "obs.csv, truth.csv: the input of 'vic-paraformer stations')")
    add_overwrite(p)
    p.set_defaults(func=run, check=check_synth)


def run(args: argparse.Namespace) -> int:
    if args.station_network:
        return _run_network(args)
    from ..synthetic import write_synthetic_region

    from ..outputs import estimate_bytes

    cells, days = args.ny * args.nx, int(round(args.years * 365.25))
    guard(args, args.out, "region", need_bytes=estimate_bytes(cells * days * SERIES_PER_CELL),
          what=f"{cells} cells x {days} days x {SERIES_PER_CELL} series, 8 bytes each")
    t0 = time.perf_counter()
    s = write_synthetic_region(args.out, ny=args.ny, nx=args.nx, years=args.years, seed=args.seed, start=args.start,
                               obs_interval=tuple(args.obs_interval), sm_noise=args.sm_noise, et_noise=args.et_noise,
                               with_et=not args.no_et, parameter_space=args.parameter_space,
                               lat0=args.lat, lon0=args.lon, difficulty=args.difficulty, train_k=args.train_k,
                               max_memory_gb=args.max_memory, gauges=args.gauges)
    print(f"wrote {s.path}: {s.n_cells} cells x {s.n_days} days ({s.first_day}..{s.last_day}), {s.n_attributes} "
          f"attributes, obs_sm on {s.obs_sm_fraction:.0%} of cell-days, {s.n_training_cells} training cells, "
          f"{args.difficulty} twin, seed {args.seed}, {s.n_chunks} chunk(s) of <= {s.chunk_cells} cells"
          f"{f', {args.gauges} gauge(s) with discharge' if args.gauges else ''} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _run_network(args: argparse.Namespace) -> int:
    from ..station_twin import write_station_network

    guard(args, args.out, "directory")
    t0 = time.perf_counter()
    net = write_station_network(args.out, ny=args.ny, nx=args.nx, years=args.years, seed=args.seed, start=args.start)
    print(f"wrote {net.folder}: {net.n_stations} stations x {net.n_days} days: {net.met}/ (meteorology; station "
          f"{net.stuck} has a stuck shortwave sensor), {net.stations.name}, {net.soil.name}, {net.obs.name}, "
          f"{net.truth.name} ({time.perf_counter() - t0:.1f} s)")
    return 0
