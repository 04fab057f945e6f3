"""``vic-paraformer calibrate``: calibrate a region with any registered strategy, or apply a saved model.

::

    vic-paraformer calibrate --region R --strategy NAME [--surrogate S.pt] [--config cfg.yaml]
                             [--seed N] [--option key=value ...] --out result.nc [--model-out model.pt]
                             [--train-period START END] [--test-period START END] [--train-cells SPEC]
    vic-paraformer calibrate --apply MODEL --region R --out result.nc

The command only turns its arguments into a :class:`~vic_paraformer.workflow.CalibrationSpec`
(``--config`` first, flags on top); :func:`vic_paraformer.workflow.run_calibration` runs it and owns
every default (seed, threads, spin-up, refinement), so the library call runs the same experiment.
The run configuration written next to ``--out`` (``NAME.config.yaml``) repeats the run with
``--config``.

With a surrogate (``--surrogate``), ``--refine-rounds N`` checks the calibration with the
simulator the surrogate was trained on and refines the surrogate where the calibration went
(:mod:`vic_paraformer.refine`): on by default, with the simulator class's
``default_refine_rounds`` (2 for a surrogate of ``vic`` when the VIC image driver is found); 0
turns it off. The result
written is the best candidate by the simulator-verified loss, the default parameters included
(a warning says so when no calibrated round beat them); every round is kept in ``--refine-dir``
(default: next to ``--out``, ``<out>.refine/``). ``--refine-store`` names the surrogate's
training store: the refinement runs are appended to it.

``--train-period`` / ``--test-period`` / ``--train-cells`` keep days and cells out of training
(see :mod:`vic_paraformer.selection`); the periods are recorded in the result, so ``evaluate``
scores the test period by default.

The strategy's ``validate()`` runs first; its problems are reported on one line without any
expensive work. The result is written atomically, so an interrupted run leaves no file behind.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..config import OptionError, parse_options
from ..errors import StrategyError
from ..workflow import DEFAULT_THREADS
from ._outputs import add_overwrite, guard
from ._spinup import add_spinup_argument
from ._split import add_split_arguments
from ._types import non_negative_int, positive_float, positive_int
from ._obs_options import add_obs_options, check_obs_options, obs_kwargs
from ._vic_options import add_vic_options, vic_simulator_options

log = logging.getLogger("vic_paraformer.cli")


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate a region's soil parameters with a strategy (or apply a saved model)",
        description="Calibrate infilt, Ds, Dsmax, Ws, expt for every cell of a region with a registered strategy, "
                    "or apply a model saved by a DL strategy with --apply.",
        epilog="Strategy options: 'vic-paraformer strategies NAME' lists every option of a strategy with its type, "
               "default and meaning; set them with --option KEY=VALUE or in a --config file (examples in "
               "examples/configs/).")
    p.add_argument("--region", help="region netCDF (vic_paraformer Region)")
    p.add_argument("--strategy", help="registered strategy name (sceua, paraformer_z, ...)")
    p.add_argument("--surrogate", help="surrogate checkpoint (strategy option 'surrogate')")
    p.add_argument("--config", help="YAML/JSON file with region, strategy, seed, surrogate, out, options ...")
    p.add_argument("--seed", type=non_negative_int, default=None, help="random seed (default: the config's, else 0)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, repeatable; values parsed as YAML (3, 0.5, true, null, text)")
    p.add_argument("--parameter-space", default=None, help="bound preset: vic (default) or paper")
    p.add_argument("--parameters", default=None, metavar="SET|NAMES",
                   help="parameters to calibrate: paper (default: infilt, Ds, Dsmax, Ws, expt), vic-classic (infilt, "
                        "Ds, Dsmax, Ws, depth2, depth3), all, auto, or comma-separated names (README table)")
    p.add_argument("--out", help="calibration result to write (.nc)")
    p.add_argument("--model-out", help="where a DL strategy saves its trained model (strategy option 'model_out')")
    p.add_argument("--apply", metavar="MODEL", help="apply a model saved by a DL strategy instead of calibrating")
    p.add_argument("--device", default="cpu", help="torch device for --apply (default cpu)")
    p.add_argument("--max-memory", type=positive_float, default=1.0, metavar="GB",
                   help="memory budget of the region: opened lazily and read in cell chunks that fit it (default "
                        "1 GB; the DL strategies read only the training cells' data and give every cell its "
                        "parameters chunk by chunk, --apply processes chunk by chunk); results do not depend on it")
    p.add_argument("--threads", type=positive_int, default=None,
                   help=f"torch CPU threads of a DL strategy (strategy option 'threads'; default {DEFAULT_THREADS}, "
                        "fastest on shared cores)")
    p.add_argument("--obs-operator", default=None, metavar="NAME",
                   help="observation operator fitted with the parameters: identity (default), linear, cdf "
                        "(strategy option 'obs_operator'; see the README on satellite or probe SM)")
    p.add_argument("--loss", default=None, choices=["wb", "paper"],
                   help="wb: water-balance-aware (default), paper: RMSE + RBL only (strategy option 'loss')")
    p.add_argument("--objective", default=None, metavar="TERMS",
                   help="what is fitted: sm (default), sm+et (needs obs_et), sm+q / sm+et+q (discharge at gauges), or "
                        "weighted as sm:1,et:0.5,q:1 (strategy option 'objective')")
    p.add_argument("--wb-reference", default=None, choices=["default", "observed"],
                   help="reference ET of the water-balance term: default (the default-parameter run of the same "
                        "surrogate or simulator; the default) or observed (obs_et where a cell has >= 30 values) "
                        "(strategy option 'wb_reference')")
    add_spinup_argument(p, "1 when a strategy runs the vic simulator, else 0; only for strategies with a "
                           "'simulator' option")
    r = p.add_argument_group("refinement against the simulator (with --surrogate)")
    r.add_argument("--refine-rounds", type=non_negative_int, default=None, metavar="N",
                   help="refinement rounds after the calibration (default: 2 for a surrogate of vic when VIC is found, "
                        "else 0; 0 turns it off)")
    r.add_argument("--refine-local", type=non_negative_int, default=None, metavar="N",
                   help="simulator runs around the calibrated parameters per round (default 8)")
    r.add_argument("--refine-store", default=None, metavar="DIR",
                   help="the surrogate's training store: replayed while fine-tuning, refinement runs appended to it")
    r.add_argument("--refine-dir", default=None, metavar="DIR",
                   help="folder for every round's result and log (default: <out>.refine next to --out)")
    r.add_argument("--refine-simulator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="simulator option for the refinement runs (default: those the surrogate's data were made with)")
    p.add_argument("--identifiability", action="store_true",
                   help="also compute, per training cell and parameter, whether the data constrain it (total Sobol "
                        "index of the objective above 0.05) through the same surrogate or simulator; stored in the "
                        "result's info['identifiability'] (64 x (p + 2) + 1 model runs per training cell)")
    add_split_arguments(p)
    add_obs_options(p, obs_help="observations read and attached to the region before calibrating (replacing its "
                                "obs_sm / obs_et; matched to cells by station name or position)")
    add_overwrite(p)
    add_vic_options(p, workers_help="worker processes (strategy option n_workers; with -o simulator=vic each "
                                    "runs its own VIC processes)")
    p.set_defaults(func=run)


def spec_from_args(args: argparse.Namespace):
    """The :class:`~vic_paraformer.workflow.CalibrationSpec` the arguments describe (``--config`` first,
    flags on top); the run itself is :func:`vic_paraformer.workflow.run_calibration`."""
    from ..workflow import CalibrationSpec

    options = parse_options(args.option)
    for flag in ("obs_operator", "loss", "objective", "wb_reference"):
        value = getattr(args, flag, None)
        if value is not None:
            if flag in options and options[flag] != value:
                raise OptionError(f"{flag} given both as --{flag.replace('_', '-')} and --option {flag}=...")
            options[flag] = value
    if args.workers is not None:
        options["n_workers"] = args.workers
    refine = {"rounds": args.refine_rounds, "local": args.refine_local, "store": args.refine_store,
              "dir": args.refine_dir,
              "simulator_options": parse_options(args.refine_simulator_option, flag="--refine-simulator-option")}
    spec = CalibrationSpec.from_config(
        args.config, options=options, refine=refine, region=args.region, strategy=args.strategy, seed=args.seed,
        surrogate=args.surrogate, out=args.out, model_out=args.model_out, parameter_space=args.parameter_space,
        parameters=args.parameters, threads=args.threads, spinup_years=args.spinup_years, train_period=args.train_period,
        test_period=args.test_period, train_cells=args.train_cells, max_memory_gb=args.max_memory,
        obs=args.obs, obs_format=None if args.obs_format == "auto" else args.obs_format,
        identifiability=bool(getattr(args, "identifiability", False)) or None)
    if spec.obs is None:
        check_obs_options(args)
    if obs_kwargs(args):
        spec.obs_options = {**spec.obs_options, **obs_kwargs(args)}
    run_options = vic_simulator_options(args, spec.options.get("simulator"))
    if run_options:
        spec.options["simulator_options"] = {**dict(spec.options.get("simulator_options") or {}), **run_options}
    spec.overwrite = bool(getattr(args, "overwrite", False))
    if not spec.region:
        raise OptionError("--region is required (or 'region' in --config)")
    if not spec.out:
        raise OptionError("--out is required (or 'out' in --config)")
    return spec


def run(args: argparse.Namespace) -> int:
    from ..workflow import run_calibration

    if args.apply:
        return _run_apply(args)
    spec = spec_from_args(args)
    outcome = run_calibration(spec)
    print(outcome.result.summary())
    print(f"written {spec.out} (run configuration: {outcome.config_path})")
    return 0


#: Cells per chunk when an attribute network is applied without ``--max-memory``: the region is opened
#: lazily and only its coordinates and attributes are read, chunk by chunk.
STATIC_CHUNK_CELLS = 65536


def _run_apply(args: argparse.Namespace) -> int:
    from ..region import Region

    if (args.strategy or args.surrogate or args.option or args.config or args.model_out or args.train_period
            or args.test_period or args.train_cells):
        raise OptionError("--apply takes only --region, --out, --device, --threads and --max-memory (the model fixes "
                          "the strategy and options)")
    for name in ("region", "out"):
        if not getattr(args, name):
            raise OptionError(f"--{name} is required")
    guard(args, args.out, "result", region=args.region, apply=args.apply)
    if not Path(args.apply).exists():
        raise StrategyError(f"{args.apply}: model file not found")
    try:
        from ..dl.model_file import apply_model, load
    except ImportError as exc:
        raise StrategyError(f"applying saved models needs the DL strategies module ({exc})") from None
    model = load(args.apply)
    # lazily, in chunks that fit --max-memory; one torch thread unless --threads (on a shared 2-core
    # machine two threads were measured slower than one for these small networks). A network of the
    # static attributes alone reads no forcing or observations, so only the static part is checked.
    if model.uses_series:
        region = Region.open(args.region, max_memory_gb=args.max_memory)
    else:  # lazily, so that only the coordinates and attributes are ever read
        region = Region.open(args.region, chunks=None if args.max_memory else STATIC_CHUNK_CELLS,
                             max_memory_gb=args.max_memory, validate="static")
    threads = DEFAULT_THREADS if args.threads is None else args.threads
    try:
        result = apply_model(args.apply, region, device=args.device, num_threads=threads, model=model)
    finally:
        region.close()  # the lazily opened file
    result.save(args.out)
    print(result.summary())
    print(f"written {args.out}")
    return 0
