"""``vic-paraformer calibrate``: calibrate a region with any registered strategy, or apply a saved model.

::

    vic-paraformer calibrate --region R --strategy NAME [--surrogate S.pt] [--config cfg.yaml]
                             [--seed N] [--option key=value ...] --out result.nc [--model-out model.pt]
                             [--train-period START END] [--test-period START END] [--train-cells SPEC]
    vic-paraformer calibrate --apply MODEL --region R --out result.nc

With a surrogate (``--surrogate``), ``--refine-rounds N`` checks the calibration with the
simulator the surrogate was trained on and refines the surrogate where the calibration went
(:mod:`vic_paraformer.refine`): on by default, :data:`~vic_paraformer.refine.DEFAULT_REFINE_ROUNDS`
rounds, for a surrogate of ``vic`` when the VIC image driver is found; 0 turns it off. The result
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

from ..config import ConfigError, load_config, merged, parse_options, run_config_path, write_run_config
from ..errors import OutputError, StrategyError
from ._outputs import add_overwrite, guard
from ._spinup import add_spinup_argument, with_spinup
from ._split import add_split_arguments, split_message, split_region
from ._types import positive_float

log = logging.getLogger("vic_paraformer.cli")

#: Torch CPU threads of the DL strategies from the command line, as the demo and the benchmark run them.
DEFAULT_THREADS = 1
from ._vic_options import add_vic_options, vic_simulator_options


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
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's, else 0)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, repeatable; values parsed as YAML (3, 0.5, true, null, text)")
    p.add_argument("--parameter-space", default=None, help="parameter preset: vic (default) or paper")
    p.add_argument("--out", help="calibration result to write (.nc)")
    p.add_argument("--model-out", help="where a DL strategy saves its trained model (strategy option 'model_out')")
    p.add_argument("--apply", metavar="MODEL", help="apply a model saved by a DL strategy instead of calibrating")
    p.add_argument("--device", default="cpu", help="torch device for --apply (default cpu)")
    p.add_argument("--max-memory", type=positive_float, default=1.0, metavar="GB",
                   help="memory budget of the region: opened lazily and read in cell chunks that fit it (default "
                        "1 GB; the DL strategies read only the training cells' data and give every cell its "
                        "parameters chunk by chunk, --apply processes chunk by chunk); results do not depend on it")
    p.add_argument("--threads", type=int, default=None,
                   help=f"torch CPU threads of a DL strategy (strategy option 'threads'; default {DEFAULT_THREADS}, "
                        "fastest on shared cores)")
    p.add_argument("--obs-operator", default=None, metavar="NAME",
                   help="observation operator fitted with the parameters: identity (default), linear, cdf "
                        "(strategy option 'obs_operator'; see the README on satellite or probe SM)")
    p.add_argument("--loss", default=None, choices=["wb", "paper"],
                   help="wb: water-balance-aware (default), paper: RMSE + RBL only (strategy option 'loss')")
    p.add_argument("--objective", default=None, choices=["sm", "sm+et"],
                   help="sm (default) or sm+et (needs obs_et; strategy option 'objective')")
    p.add_argument("--wb-reference", default=None, choices=["default", "observed"],
                   help="reference ET of the water-balance term: default (the default-parameter run of the same "
                        "surrogate or simulator; the default) or observed (obs_et where a cell has >= 30 values) "
                        "(strategy option 'wb_reference')")
    add_spinup_argument(p, "1 when a strategy runs the vic simulator, else 0; only for strategies with a "
                           "'simulator' option")
    r = p.add_argument_group("refinement against the simulator (with --surrogate)")
    r.add_argument("--refine-rounds", type=int, default=None, metavar="N",
                   help="refinement rounds after the calibration (default: 2 for a surrogate of vic when VIC is found, "
                        "else 0; 0 turns it off)")
    r.add_argument("--refine-local", type=int, default=None, metavar="N",
                   help="simulator runs around the calibrated parameters per round (default 8)")
    r.add_argument("--refine-store", default=None, metavar="DIR",
                   help="the surrogate's training store: replayed while fine-tuning, refinement runs appended to it")
    r.add_argument("--refine-dir", default=None, metavar="DIR",
                   help="folder for every round's result and log (default: <out>.refine next to --out)")
    r.add_argument("--refine-simulator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="simulator option for the refinement runs (default: those the surrogate's data were made with)")
    add_split_arguments(p)
    add_overwrite(p)
    add_vic_options(p, workers_help="worker processes (strategy option n_workers; with -o simulator=vic each "
                                    "runs its own VIC processes)")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> dict:
    cfg = load_config(args.config) if args.config else {"options": {}}
    s = merged(cfg, region=args.region, strategy=args.strategy, seed=args.seed, surrogate=args.surrogate,
               out=args.out, model_out=args.model_out, parameter_space=args.parameter_space,
               threads=getattr(args, "threads", None), train_period=getattr(args, "train_period", None),
               test_period=getattr(args, "test_period", None), train_cells=getattr(args, "train_cells", None))
    options = dict(cfg.get("options") or {})
    cli_options = parse_options(args.option)
    options.update(cli_options)
    for key in ("surrogate", "model_out"):
        if s.get(key) is not None:
            if key in cli_options and cli_options[key] != s[key]:
                raise ConfigError(f"{key} given both as --{key.replace('_', '-')} and --option {key}=...")
            options[key] = s[key]
    vic = vic_simulator_options(args, options.get("simulator"))
    if vic:
        options["simulator_options"] = {**dict(options.get("simulator_options") or {}), **vic}
    if getattr(args, "workers", None) is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {args.workers}")
        options["n_workers"] = args.workers
    s["options"] = options
    s["seed"] = 0 if s.get("seed") is None else s["seed"]
    return s


def _check_paths(args: argparse.Namespace, region: str | None, out: str | None, *, model_out: str | None = None,
                 surrogate: str | None = None, model: str | None = None) -> None:
    """Refuse unusable outputs before any work: an input, a file of another kind, an unwritable folder."""
    if not region:
        raise ConfigError("--region is required (or 'region' in --config)")
    if not out:
        raise ConfigError("--out is required (or 'out' in --config)")
    inputs = dict(region=region, surrogate=surrogate, config=getattr(args, "config", None), apply=model)
    guard(args, out, "result", **inputs)
    if model_out:
        if Path(model_out).expanduser().resolve() == Path(out).expanduser().resolve():
            raise OutputError(f"--model-out {model_out} is the same file as --out; choose two paths")
        guard(args, model_out, "dl-model", option="--model-out", **inputs)


def run(args: argparse.Namespace) -> int:
    from ..region import Region

    if args.apply:
        return _run_apply(args)
    s = _settings(args)
    _check_paths(args, s.get("region"), s.get("out"), model_out=s["options"].get("model_out"),
                 surrogate=s["options"].get("surrogate") if isinstance(s["options"].get("surrogate"), str) else None)
    if not s.get("strategy"):
        raise ConfigError("--strategy is required (or 'strategy' in --config); see 'vic-paraformer strategies'")
    options = _with_threads(s["strategy"], s["options"], s.get("threads"))
    options = _with_spinup(s["strategy"], options, args)
    for flag, key in (("obs_operator", "obs_operator"), ("loss", "loss"), ("objective", "objective"),
                      ("wb_reference", "wb_reference")):
        value = getattr(args, flag, None)
        if value is not None:
            if key in options and options[key] != value:
                raise ConfigError(f"{key} given both as --{flag.replace('_', '-')} and --option {key}=...")
            options[key] = value
    calibrator = make_calibrator(s["strategy"], seed=s["seed"], parameter_space=s.get("parameter_space"),
                                 options=options)
    full = Region.open(s["region"], max_memory_gb=getattr(args, "max_memory", 1.0))  # lazily, read in chunks
    region, split = split_region(full, s.get("train_period"), s.get("test_period"), s.get("train_cells"))
    problems = calibrator.validate(region)
    if problems:
        raise StrategyError(f"strategy {calibrator.name!r} cannot calibrate {s['region']}: " + "; ".join(problems))
    log.info(split_message(full, region, split))
    rounds, why, sur = _refine_rounds(args, calibrator, options)
    try:
        if rounds:
            result = _calibrate_refined(args, s, calibrator, options, region, sur, rounds, why)
        else:
            if sur is not None:
                log.info("%s", why)
            result = calibrator.calibrate(region)
    finally:
        full.close()  # the lazily opened file
    result.info.update(split)
    result.save(s["out"])
    conf = resolved_config(s, calibrator)
    if sur is not None:
        conf["refine"] = {"rounds": rounds, "reason": why, "local": args.refine_local, "store": args.refine_store,
                          "dir": result.info.get("refine_dir"), "simulator_options": args.refine_simulator_option}
    cfg = write_run_config(run_config_path(s["out"]), "calibrate", conf)
    print(result.summary())
    print(f"written {s['out']} (run configuration: {cfg})")
    return 0


def _refine_rounds(args: argparse.Namespace, calibrator, options: dict) -> tuple[int, str, object]:
    """Refinement rounds to run (``--refine-rounds``, else the default), why, and the loaded surrogate."""
    from ..refine import auto_refine_rounds

    given = [f for f in ("refine_rounds", "refine_local", "refine_store", "refine_dir")
             if getattr(args, f, None) is not None] + (["refine_simulator_option"] if args.refine_simulator_option else [])
    surrogate = options.get("surrogate")
    if surrogate is None:
        if [g for g in given if not (g == "refine_rounds" and args.refine_rounds == 0)]:
            raise ConfigError(f"--{given[0].replace('_', '-')}: refinement needs a surrogate-based calibration "
                              "(--surrogate)")
        return 0, "", None
    from ..surrogate.resolve import load_surrogate_cached

    sur = load_surrogate_cached(surrogate) if isinstance(surrogate, (str, Path)) else surrogate
    if args.refine_rounds is not None:
        if args.refine_rounds < 0:
            raise ConfigError(f"--refine-rounds {args.refine_rounds}: expected a whole number >= 0")
        return int(args.refine_rounds), f"--refine-rounds {args.refine_rounds}", sur
    rounds, why = auto_refine_rounds(sur, parse_options(args.refine_simulator_option))
    return rounds, why, sur


def _calibrate_refined(args, s: dict, calibrator, options: dict, region, sur, rounds: int, why: str):
    """Calibrate through the surrogate, then refine against its simulator; the best candidate's result."""
    from ..refine import DEFAULT_REFINE_LOCAL, calibrate_refined, refine_simulator_options
    from ._spinup import DEFAULT_SPINUP_YEARS

    n_local = DEFAULT_REFINE_LOCAL if args.refine_local is None else int(args.refine_local)
    if n_local < 0:
        raise ConfigError(f"--refine-local {n_local}: expected a whole number >= 0")
    out_dir = Path(args.refine_dir) if args.refine_dir else Path(str(s["out"]) + ".refine")
    guard(args, out_dir, "directory", option="--refine-dir", region=s.get("region"), store=args.refine_store)
    log.info("%s (every round in %s)", why, out_dir)
    opts = {k: v for k, v in calibrator.options.items() if k in options or k == "threads"}
    sim_opts = parse_options(args.refine_simulator_option)
    if "spinup_years" not in refine_simulator_options(sur, sim_opts):  # a surrogate that did not record it
        sim_opts["spinup_years"] = DEFAULT_SPINUP_YEARS.get(str(sur.simulator), 0)
    return calibrate_refined(region, calibrator.name, sur, rounds=rounds, n_local=n_local,
                             simulator_options=sim_opts, options=opts,
                             store=args.refine_store, seed=calibrator.seed, out_dir=out_dir)


def resolved_config(s: dict, calibrator) -> dict:
    """The run's full configuration in the ``--config`` format: the settings as resolved, the
    strategy's options with every default and preset value filled in (paths absolute)."""
    options = {k: v for k, v in calibrator.options.items() if k not in ("surrogate", "model_out", "threads")}
    absolute = {k: str(Path(s[k]).resolve()) if s.get(k) else s.get(k) for k in ("region", "out", "surrogate", "model_out")}
    out = {"region": absolute["region"], "strategy": calibrator.name, "seed": calibrator.seed,
           "surrogate": absolute["surrogate"], "out": absolute["out"], "model_out": absolute["model_out"],
           "parameter_space": calibrator.parameter_space.to_dict()}
    for key in ("train_period", "test_period", "train_cells"):
        if s.get(key) is not None:
            out[key] = s[key]
    if isinstance(out.get("train_cells"), str) and Path(out["train_cells"]).is_file():
        out["train_cells"] = str(Path(out["train_cells"]).resolve())
    if "threads" in calibrator.options:
        out["threads"] = calibrator.options["threads"]
    out["options"] = options
    return out


def _with_spinup(strategy: str, options: dict, args: argparse.Namespace) -> dict:
    """``options`` with ``simulator_options.spinup_years`` for strategies that run a simulator themselves."""
    from ..registry import get_calibrator_class

    accepted = getattr(get_calibrator_class(strategy), "default_options", {})
    simulator = options.get("simulator", accepted.get("simulator"))
    if "simulator_options" not in accepted or not simulator or simulator == "surrogate":
        if getattr(args, "spinup_years", None):
            raise ConfigError(f"--spinup-years: strategy {strategy!r} runs no simulator here (it learns through the "
                              "surrogate; give --spinup-years to 'surrogate train')")
        return options
    return {**options, "simulator_options": with_spinup(options.get("simulator_options"), args, simulator)}


def _with_threads(strategy: str, options: dict, threads: int | None) -> dict:
    """``options`` with the strategy option ``threads`` from ``--threads``, else the CLI default.

    Strategies without a ``threads`` option (SCE-UA, DDS: one process per worker) are left alone
    unless ``--threads`` was given explicitly, which is then an error naming the strategy.
    """
    from ..registry import get_calibrator_class

    if threads is not None and options.get("threads") is not None and options["threads"] != threads:
        raise ConfigError("threads given both as --threads and --option threads=...")
    accepted = getattr(get_calibrator_class(strategy), "default_options", {})
    if "threads" not in accepted:
        if threads is not None:
            raise ConfigError(f"--threads: strategy {strategy!r} has no torch threads option (see "
                              f"'vic-paraformer strategies {strategy}')")
        return options
    if threads is not None:
        return {**options, "threads": int(threads)}
    return options if options.get("threads") is not None else {**options, "threads": DEFAULT_THREADS}


def make_calibrator(strategy: str, *, seed: int, parameter_space=None, options: dict):
    """The Calibrator the CLI runs: the same object ``vic_paraformer.calibrate`` builds."""
    from ..registry import get_calibrator

    kwargs = dict(options)
    if parameter_space is not None:
        kwargs["parameter_space"] = parameter_space
    return get_calibrator(strategy, seed=seed, **kwargs)


def _run_apply(args: argparse.Namespace) -> int:
    from ..region import Region

    if (args.strategy or args.surrogate or args.option or args.config or args.model_out or args.train_period
            or args.test_period or args.train_cells):
        raise ConfigError("--apply takes only --region, --out, --device, --threads and --max-memory (the model fixes "
                          "the strategy and options)")
    _check_paths(args, args.region, args.out, model=args.apply)
    if not Path(args.apply).exists():
        raise StrategyError(f"{args.apply}: model file not found")
    try:
        from ..dl.model_file import apply_model
    except ImportError as exc:
        raise StrategyError(f"applying saved models needs the DL strategies module ({exc})") from None
    # lazily, in chunks that fit --max-memory; one torch thread unless --threads (on a shared 2-core
    # machine two threads were measured slower than one for these small networks)
    region = Region.open(args.region, max_memory_gb=args.max_memory)
    threads = DEFAULT_THREADS if args.threads is None else args.threads
    try:
        result = apply_model(args.apply, region, device=args.device, num_threads=threads)
    finally:
        region.close()  # the lazily opened file
    result.save(args.out)
    print(result.summary())
    print(f"written {args.out}")
    return 0
