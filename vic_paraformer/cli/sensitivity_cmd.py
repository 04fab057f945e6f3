"""``vic-paraformer sensitivity``: which parameters move which terms of the calibration, cell by cell.

::

    vic-paraformer sensitivity --region R --surrogate S.pt --out DIR
                               [--simulator NAME [--simulator-option KEY=VALUE ...] [--spinup-years N]]
                               [--method sobol|morris] [--samples N] [--cells all|train|SPEC]
                               [--option KEY=VALUE ...] [--warmup DAYS] [--seed 0] [--n-workers N]

Per cell, the Sobol' first-order (``S1``) and total (``ST``) indices -- or, with ``--method
morris``, Morris elementary effects (``mu_star``, ``sigma``) for small budgets -- of each term (soil
moisture through the observation operator ``sm_obs`` and raw ``sm_raw``, mean ``et``, ``runoff``,
``baseflow``, and the calibration ``objective``) to each calibrated parameter over the parameter
space's bounds. Through the surrogate by default (batched, cheap); ``--simulator`` runs the
simulator instead (ensemble runner; a surrogate saved before surrogates predicted runoff and
baseflow gives sm and et only). ``--samples`` base samples (sobol, default 64, a power of two; ``N (p + 2) + 1``
model runs per cell) or trajectories (morris, default 16; ``N (p + 1) + 1`` runs). ``--option``
sets the objective's options (``loss``, ``objective``, ``obs_operator``...), as for ``calibrate``.
``--cells``: ``all`` (default), ``train`` (the region's training cells), or a selection as for
``calibrate --train-cells`` (``das:K``, ``fraction:F``, ``farthest:N``, ids, a file of ids).

Writes ``DIR/indices.nc`` (CF netCDF over cell x parameter x term x index), ``DIR/map_<term>.png``
(the total index per parameter on the region's grid) and ``DIR/medians.md`` (the table of region
medians, also printed).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..config import OptionError, parse_options
from ._outputs import add_overwrite, guard
from ._scratch import add_scratch_argument
from ._spinup import add_spinup_argument
from ._types import non_negative_int, positive_int

#: The library's methods and default samples (:mod:`vic_paraformer.sensitivity.design`), written here so that
#: ``--help`` imports no torch; a test checks they agree.
METHODS = ("sobol", "morris")
DEFAULT_SAMPLES = {"sobol": 64, "morris": 16}
#: ``--cells`` forms that need no file.
_CELL_FORMS = re.compile(r"(all|train|das:\d+|fraction:.+|farthest:.+|[\d\s,;]+)", re.I)


def at_least_two(text: str) -> int:
    """An integer >= 2 (the fewest samples an estimator can use)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text}")
    return value


def register(sub) -> None:
    p = sub.add_parser("sensitivity", help="Sobol/Morris sensitivity of SM, ET, runoff, baseflow and the objective "
                                           "to each parameter, per cell", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region", required=True, help="region netCDF")
    p.add_argument("--surrogate", help="surrogate checkpoint to compute through (required unless --simulator)")
    p.add_argument("--simulator", default=None, help="run this registered simulator instead of a surrogate "
                                                     "(waterbalance, vic)")
    p.add_argument("--simulator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="simulator option, repeatable (with --simulator)")
    add_spinup_argument(p)
    p.add_argument("--method", choices=METHODS, default="sobol",
                   help="sobol (first-order and total indices, default) or morris (elementary effects, small budgets)")
    p.add_argument("--samples", type=at_least_two, default=None,
                   help=f"base samples (sobol, default {DEFAULT_SAMPLES['sobol']}) or trajectories (morris, default "
                        f"{DEFAULT_SAMPLES['morris']})")
    p.add_argument("--cells", default="all", metavar="SPEC",
                   help="all (default), train, das:K, fraction:F, farthest:N, ids like 3,17,40, or a file of ids")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="objective option (loss, objective, obs_operator, wb_weight...), as for calibrate")
    p.add_argument("--warmup", type=non_negative_int, default=None,
                   help="days left out of every term (default: as a calibration with this model)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the design (default 0)")
    p.add_argument("--n-workers", type=positive_int, default=1,
                   help="simulator worker processes (default 1: in process)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (indices.nc, map_<term>.png, medians.md)")
    add_scratch_argument(p, "VIC run directories with --simulator vic")
    add_overwrite(p)
    p.set_defaults(func=run, check=check_sensitivity)


def _objective_options(items) -> dict:
    from ..objective import OBJECTIVE_OPTION_DEFAULTS, objective_option_problems

    options = parse_options(items, flag="--option")
    unknown = sorted(k for k in options if k not in OBJECTIVE_OPTION_DEFAULTS)
    if unknown:
        raise OptionError(f"--option {unknown[0]}: not an objective option; expected one of "
                          f"{sorted(OBJECTIVE_OPTION_DEFAULTS)}")
    problems = objective_option_problems(options)
    if problems:
        raise OptionError(f"--option: {problems[0]}")
    return options


def check_sensitivity(args: argparse.Namespace) -> None:
    """The option checks of ``sensitivity`` (exit 2, one line), before any data is read."""
    from ..optioncheck import check_simulator_name
    from ._checks import _simulator_options

    if args.surrogate and args.simulator:
        raise OptionError("--surrogate and --simulator exclude each other: give --surrogate to compute through the "
                          "surrogate (default) or --simulator NAME to run the simulator")
    if not args.surrogate and not args.simulator:
        raise OptionError("--surrogate is required (or --simulator NAME to run a simulator instead)")
    if args.simulator:
        check_simulator_name(args.simulator, "--simulator", None)
        _simulator_options(args, args.simulator, args.simulator_option, "--simulator-option")
    elif args.simulator_option or args.spinup_years is not None:
        raise OptionError("--simulator-option and --spinup-years need --simulator")
    spec = str(args.cells).strip()
    if not _CELL_FORMS.fullmatch(spec) and not Path(spec).is_file():
        raise OptionError(f"--cells {spec!r}: expected all, train, das:K, fraction:F, farthest:N, ids like 3,17,40 "
                          "or a file of cell ids")
    _objective_options(args.option)


def _cells(spec: str, region, seed: int):
    import numpy as np

    from ..selection import SelectionError, parse_train_cells

    spec = str(spec).strip()
    if spec.lower() == "all":
        return None
    if spec.lower() == "train":
        return np.asarray(region.training_cells)
    try:
        return parse_train_cells(spec, region, seed)
    except SelectionError as exc:
        raise SelectionError(str(exc).replace("--train-cells", "--cells")) from None


def run(args: argparse.Namespace) -> int:
    from ..region import Region
    from ..sensitivity import compute_indices, median_table, plot_maps, write_indices, write_table
    from ._checks import _simulator_options

    out = guard(args, args.out, "directory", option="--out", region=args.region, surrogate=args.surrogate)
    region = Region.open(args.region)
    try:
        surrogate = simulator = simulator_options = None
        if args.simulator:
            simulator = args.simulator
            simulator_options = _simulator_options(args, simulator, args.simulator_option, "--simulator-option")
        else:
            from ..surrogate.resolve import load_surrogate_cached

            surrogate = load_surrogate_cached(args.surrogate)
        ds = compute_indices(region, surrogate=surrogate, simulator=simulator, simulator_options=simulator_options,
                             method=args.method, samples=args.samples, cells=_cells(args.cells, region, args.seed),
                             objective_options=_objective_options(args.option), warmup=args.warmup, seed=args.seed,
                             n_workers=args.n_workers)
    finally:
        region.close()
    out.mkdir(parents=True, exist_ok=True)
    write_indices(ds, out / "indices.nc")
    plot_maps(ds, out)
    write_table(ds, out / "medians.md")
    print(f"region medians over {ds.sizes['cell']} cell(s), {ds.attrs['method']}, {ds.attrs['base_samples']} base "
          f"samples, {ds.attrs['model_runs_per_cell']} runs per cell through {ds.attrs['model']}:")
    print(median_table(ds), end="")
    print(f"written {out / 'indices.nc'}, {out / 'medians.md'} and {ds.sizes['term']} map(s) in {out}")
    return 0
