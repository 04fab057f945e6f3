"""``vic-paraformer simulate``: run a simulator for a region with given parameters.

::

    vic-paraformer simulate --region R --params P|true --out out.nc [--simulator waterbalance]
                            [--period START END] [--option KEY=VALUE ...] [--n-workers N]
                            [--scheduler tcp://host:port] [--chunk-size N]

``P`` is a netCDF file with ``infilt .. expt`` over ``cell`` (a calibration result or any Dataset
with those variables); ``--params true`` uses the region's ``true_<param>`` (synthetic twins). When
``P`` covers only some of the region's cells, those cells are simulated. The output (``sm``, ``et``,
``runoff``, ``baseflow``, ``dstorage`` over ``(cell, time)``) is written atomically.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import parse_options
from ..errors import ParameterError
from ._checks import check_simulate
from ._outputs import add_overwrite, guard
from ._scratch import add_scratch_argument
from ._types import positive_int

if TYPE_CHECKING:  # imported where used, so that --help starts fast
    import xarray as xr

    from ..region import Region


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run a simulator (waterbalance, vic) for a region and parameters",
                       description="Simulate soil moisture and fluxes for every cell of a region with parameters "
                                   "from a netCDF file (infilt..expt over cell) or the region's true_<param>.")
    p.add_argument("--region", required=True, help="region netCDF")
    p.add_argument("--params", required=True, metavar="P|true",
                   help="netCDF with infilt, Ds, Dsmax, Ws, expt over cell, or 'true' for the region's true_<param>")
    p.add_argument("--simulator", default="waterbalance", help="registered simulator (default waterbalance)")
    p.add_argument("--out", required=True, help="output netCDF (written atomically)")
    p.add_argument("--period", nargs=2, metavar=("START", "END"), help="days to write (the run starts on day one)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="simulator option, repeatable; values parsed as YAML")
    p.add_argument("--n-workers", type=positive_int, default=1, help="local worker processes (default 1: in process)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) instead of local")
    p.add_argument("--chunk-size", type=positive_int, default=None, help="max (sample, cell) series per chunk")
    add_scratch_argument(p, "VIC run directories with --simulator vic")
    add_overwrite(p)
    p.set_defaults(func=run, check=check_simulate)


#: Kinds of file (:func:`vic_paraformer.outputs.file_kind`) ``--params`` reads parameters from.
PARAMS_KINDS: tuple[str, ...] = ("result", "netcdf", "region", "vic-parameters")


def load_params(region: Region, spec: str) -> tuple[Region, xr.Dataset]:
    """Resolve ``--params`` into (the region restricted to the parameter cells, params over cell)."""
    import numpy as np
    import xarray as xr

    from ..formats import check_input_file, damaged

    from ..parameters import PARAMETER_NAMES, ParameterSpace

    if spec == "true":
        space = ParameterSpace.preset("vic")
        values = region.parameters(space, prefix="true_")
        if values is None:
            missing = [f"true_{n}" for n in PARAMETER_NAMES if not region.has(f"true_{n}")]
            raise ParameterError(f"{region.source}: --params true needs {missing} in the region (a synthetic twin)")
        return region, space.to_dataset(values, region.cells)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"{path}: parameter file not found (or use --params true)")
    path = check_input_file(path, PARAMS_KINDS, ParameterError, missing="parameter file",
                            folder="a parameter netCDF file", not_a="a parameter netCDF file (a calibration result)")
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except Exception:  # noqa: BLE001 - the reader's own advice (extra IO back-ends) would mislead
        raise damaged(path, "the parameter file", ParameterError, "its netCDF reader fails on it") from None
    missing = [n for n in PARAMETER_NAMES if n not in ds]
    if missing:
        raise ParameterError(f"{path}: lacks parameter variable(s) {missing}; expected {list(PARAMETER_NAMES)} over cell")
    for n in PARAMETER_NAMES:
        if ds[n].dims != ("cell",):
            raise ParameterError(f"{path}: variable {n!r} has dims {ds[n].dims}; expected ('cell',)")
    if "cell" not in ds.coords:
        if ds.sizes["cell"] != region.n_cells:
            raise ParameterError(f"{path}: {ds.sizes['cell']} cells without a 'cell' coordinate; "
                                 f"the region has {region.n_cells}")
        ds = ds.assign_coords(cell=region.cells)
    cells = ds["cell"].values
    unknown = np.setdiff1d(cells, region.cells)
    if unknown.size:
        raise ParameterError(f"{path}: cell id(s) {unknown[:5].tolist()} are not in the region {region.source}")
    order = region.cells[np.isin(region.cells, cells)]
    params = ds[list(PARAMETER_NAMES)].sel(cell=order)
    params = xr.Dataset({n: ("cell", np.asarray(params[n].values, float)) for n in PARAMETER_NAMES},
                        coords={"cell": order})
    sub = region if len(order) == region.n_cells else region.subset(order)
    return sub, params


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .._io import to_netcdf_atomic
    from ..parameters import PARAMETER_NAMES
    from ..ensemble import EnsembleRunner
    from ..region import Region

    from ..outputs import estimate_bytes, netcdf_dims
    from ..simulators.base import OUTPUT_VARS

    dims = netcdf_dims(args.region)  # the header only: the size of the output, before any work
    need = what = None
    if "cell" in dims and "time" in dims:
        need = estimate_bytes(dims["cell"] * dims["time"] * len(OUTPUT_VARS))
        what = f"{dims['cell']} cells x {dims['time']} days x {len(OUTPUT_VARS)} variables, 8 bytes each"
    guard(args, args.out, "simulation", region=args.region, params=None if args.params == "true" else args.params,
          need_bytes=need, what=what or "")
    region = Region.open(args.region)
    region, params = load_params(region, args.params)
    options = parse_options(args.option)
    t0 = time.perf_counter()
    backend = "dask" if args.scheduler else "local"
    with EnsembleRunner(args.simulator, backend=backend, n_workers=args.n_workers, scheduler=args.scheduler,
                        chunk_size=args.chunk_size, simulator_options=options) as runner:
        out = runner.run(region, params, period=tuple(args.period) if args.period else None, desc="simulate")
    out = out.drop_vars([n for n in PARAMETER_NAMES if n in out])
    out.attrs.update(region=str(args.region), params=str(args.params), simulator=args.simulator)
    to_netcdf_atomic(out, args.out, kind="simulation")
    sm = out["sm"].values
    print(f"wrote {args.out}: {args.simulator} for {out.sizes['cell']} cells x {out.sizes['time']} days; "
          f"mean sm {np.nanmean(sm):.3f} m3/m3, mean et {float(out['et'].mean()):.2f} mm/day "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0
