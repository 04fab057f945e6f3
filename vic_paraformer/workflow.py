"""The calibration workflow: what ``vic-paraformer calibrate`` runs, as one library call.

::

    from vic_paraformer.workflow import CalibrationSpec, run_calibration

    spec = CalibrationSpec(region="region.nc", strategy="sceua", out="sceua.nc", seed=3,
                           options={"simulator": "vic", "repetitions": 500})
    outcome = run_calibration(spec)          # writes sceua.nc and sceua.config.yaml
    outcome.result, outcome.config          # the result and the run's resolved configuration

    spec = CalibrationSpec.from_config("sceua.config.yaml", out="again.nc")   # replay a run

:class:`CalibrationSpec` holds every setting of a run; :func:`run_calibration` resolves it and
owns every default the command line has, so the command and the library run the same experiment:

* **settings**: a run configuration (:meth:`CalibrationSpec.from_config`, the ``--config`` format of
  :mod:`vic_paraformer.config`) with settings given on top (``None`` leaves the file's value);
  ``seed`` defaults to 0;
* **threads**: torch CPU threads of a strategy with a ``threads`` option, :data:`DEFAULT_THREADS`
  unless given (strategies without one refuse ``threads``);
* **spin-up**: a strategy that runs a simulator itself gets the simulator option ``spinup_years``
  from ``spinup_years``, else the simulator class's ``default_spinup_years`` (1 for ``vic``, 0 for
  ``waterbalance``; :mod:`vic_paraformer.simulators.base`). A strategy that learns through a
  surrogate refuses ``spinup_years``: its spin-up is that of the surrogate's training runs, which
  the result records (:meth:`~vic_paraformer.calibrator.Calibrator.spinup_used`);
* **warm-up**: the strategy's own rule (SCE-UA and DDS with a simulator: 0 days when it runs with a
  spin-up, else 365; :func:`~vic_paraformer.strategies.spotpy_base.simulator_warmup`);
* **train/test period and cells**: :func:`~vic_paraformer.selection.split_region`, recorded in the
  result;
* **surrogate and refinement**: with a surrogate, :class:`RefineSpec` ``rounds`` (None: the
  ``default_refine_rounds`` of the surrogate's simulator class when it can run here, see
  :func:`~vic_paraformer.refine.auto_refine_rounds`) rounds of refinement against that simulator,
  run with the options its training data were made with (:mod:`vic_paraformer.refine`);
* **outputs**: the result at ``out`` and the resolved run configuration next to it
  (``NAME.config.yaml``), which ``CalibrationSpec.from_config`` (``vic-paraformer calibrate
  --config``) reads back to the same parameters. A run that appended refinement runs to a
  training store (``refine.store``) is the exception: the store has grown, so a replay fine-tunes
  on more data.

How :func:`vic_paraformer.calibrate` relates: ``vp.calibrate(region, strategy, **options)`` builds the
strategy from exactly the options given and calibrates an in-memory region; it fills in no
default, splits nothing and writes nothing. Given the resolved inputs of a run (the training
region of :func:`~vic_paraformer.selection.split_region`, ``seed``, ``parameter_space`` and the options of
:attr:`CalibrationOutcome.options`, i.e. the configuration's ``options`` plus ``surrogate`` and
``threads``), it gives bit-identical parameters, without refinement.

Importing this module loads no array library (the command line's ``--help`` stays fast).

Long module (over 400 lines): the spec, its check before any data is read (:func:`check_spec`), the
resolution of every default and the run itself are the one place the command line and the library
share, so they stay together.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .config import ConfigError, load_config, run_config_path, write_run_config
from .errors import OptionError, OutputError, StrategyError

if TYPE_CHECKING:  # pragma: no cover
    from .parameters import ParameterSpace
    from .region import Region
    from .result import CalibrationResult
    from .surrogate import Surrogate

log = logging.getLogger(__name__)

__all__ = ["CalibrationSpec", "RefineSpec", "CalibrationOutcome", "run_calibration", "check_spec", "resolve_options",
           "with_spinup", "DEFAULT_THREADS"]

#: Torch CPU threads of a strategy with a ``threads`` option unless given (one thread was measured
#: fastest for these small networks on shared cores).
DEFAULT_THREADS = 1


@dataclass
class RefineSpec:
    """Refinement of a calibration through a surrogate (:mod:`vic_paraformer.refine`).

    ``rounds`` None: the surrogate's simulator class's ``default_refine_rounds`` when that simulator
    can run here, else 0; 0: none. ``local``: simulator runs around the calibrated parameters per
    round (None: :data:`~vic_paraformer.refine.DEFAULT_REFINE_LOCAL`). ``store``: the surrogate's
    training store (replayed while fine-tuning; the refinement runs are appended to it). ``dir``:
    folder for every round (None: ``<out>.refine``). ``simulator_options``: options of the
    refinement runs on top of those the surrogate's training runs were made with.
    """

    rounds: int | None = None
    local: int | None = None
    store: str | None = None
    dir: str | None = None
    simulator_options: dict[str, Any] = field(default_factory=dict)

    def given(self) -> list[str]:
        """Names of the settings that are set (``rounds=0`` counts as not asking for refinement)."""
        out = [f.name for f in fields(self) if f.name != "simulator_options" and getattr(self, f.name) is not None]
        out = [k for k in out if not (k == "rounds" and self.rounds == 0)]
        return out + (["simulator_options"] if self.simulator_options else [])

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, source: str = "refine") -> "RefineSpec":
        """A RefineSpec from the ``refine`` mapping of a run configuration (unknown keys: ConfigError)."""
        data = dict(data or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{source}: unknown refine key(s) {unknown}; expected some of {names}")
        if not isinstance(data.get("simulator_options") or {}, Mapping):
            raise ConfigError(f"{source}: refine.simulator_options must be a mapping, got "
                              f"{data['simulator_options']!r}")
        data["simulator_options"] = dict(data.get("simulator_options") or {})
        return cls(**data)


@dataclass
class CalibrationSpec:
    """Every setting of a calibration run (see the module docstring for the defaults).

    ``region``: region file (opened lazily, read in chunks that fit ``max_memory_gb``) or a
    :class:`~vic_paraformer.region.Region`; ``strategy``: registered strategy name; ``out``: result
    file to write (None: write nothing); ``options``: strategy options; ``surrogate`` and
    ``model_out`` are the strategy options of those names (given both ways they must agree);
    ``overwrite``: replace an existing output of another kind (inputs never).
    """

    region: str | Path | Region | None = None
    strategy: str | None = None
    out: str | Path | None = None
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    surrogate: str | Path | Surrogate | None = None
    model_out: str | Path | None = None
    parameter_space: str | Mapping[str, Any] | ParameterSpace | None = None
    #: Which parameters: a set (``paper``, ``vic-classic``, ``all``, ``auto``), comma-separated names or a list
    #: (:func:`~vic_paraformer.parameters.resolve_parameter_names`); ``parameter_space`` then gives the bounds.
    parameters: str | Sequence[str] | None = None
    threads: int | None = None
    spinup_years: int | None = None
    train_period: tuple[str, str] | list[str] | None = None
    test_period: tuple[str, str] | list[str] | None = None
    #: ``das:K``, ids like ``"3,17,40"``, or a file of cell ids (see :mod:`vic_paraformer.selection`).
    train_cells: str | None = None
    refine: RefineSpec = field(default_factory=RefineSpec)
    max_memory_gb: float = 1.0
    overwrite: bool = False
    #: The run configuration this spec came from (an input: never overwritten).
    config_file: str | None = None
    #: Settings and strategy options whose values came from ``config_file`` (named in error messages).
    config_settings: tuple[str, ...] = field(default=(), repr=False, compare=False)
    config_options: tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: Observations attached before the split, replacing the region's (readers.attach_observations).
    obs: str | Path | None = None
    obs_format: str | None = None
    obs_options: dict[str, Any] = field(default_factory=dict)
    #: Record which parameters the data constrain on the training cells (``info["identifiability"]``;
    #: :mod:`vic_paraformer.sensitivity.identifiability`).
    identifiability: bool = False

    @classmethod
    def from_config(cls, config: str | Path | None = None, *, options: Mapping[str, Any] | None = None,
                    refine: Mapping[str, Any] | RefineSpec | None = None, **settings: Any) -> "CalibrationSpec":
        """A spec from the run configuration file ``config`` (optional) with ``settings`` on top.

        A setting that is None keeps the file's value; ``options`` update the file's strategy
        options; ``refine`` (a mapping or RefineSpec) updates its ``refine`` settings field by field
        (``simulator_options`` merged).
        """
        data = load_config(config) if config else {"options": {}}
        base = RefineSpec.from_mapping(data.pop("refine", None), str(config or "refine"))
        extra = refine if isinstance(refine, RefineSpec) else RefineSpec.from_mapping(refine)
        merged_refine = RefineSpec(**{f.name: getattr(extra, f.name) if getattr(extra, f.name) is not None
                                      else getattr(base, f.name) for f in fields(RefineSpec)})
        merged_refine.simulator_options = {**base.simulator_options, **extra.simulator_options}
        known = {f.name for f in fields(cls)} - {"refine", "options", "config_file", "config_settings",
                                                  "config_options"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"CalibrationSpec.from_config: unknown setting(s) {unknown}")
        values = {k: v for k, v in data.items() if k in known}
        given = {k: v for k, v in settings.items() if v is not None}
        from_file = tuple(sorted(set(values) - set(given)))
        values.update(given)
        file_options, given_options = dict(data.get("options") or {}), dict(options or {})
        refine_from_file = tuple(f"refine.{f.name}" for f in fields(RefineSpec)
                                 if f.name != "simulator_options" and getattr(base, f.name) is not None
                                 and getattr(extra, f.name) is None)
        return cls(options={**file_options, **given_options}, refine=merged_refine,
                   config_file=str(config) if config else None, config_settings=from_file + refine_from_file,
                   config_options=tuple(sorted(set(file_options) - set(given_options))), **values)


@dataclass
class CalibrationOutcome:
    """What :func:`run_calibration` made: the result, the strategy options it ran with (the
    resolved inputs of ``vp.calibrate``), the run configuration and where it was written."""

    result: CalibrationResult
    options: dict[str, Any]
    config: dict[str, Any]
    config_path: Path | None = None


def with_spinup(options: Mapping[str, Any] | None, spinup_years: int | None, simulator: str | None, *,
                flag: str = "spinup_years") -> dict[str, Any]:
    """Simulator ``options`` with ``spinup_years``: the one given, else one already in ``options``,
    else ``simulator``'s class default (``default_spinup_years``). A given value that differs from
    one in ``options`` is a ConfigError naming ``flag``."""
    from .simulators.base import simulator_class

    out = dict(options or {})
    if spinup_years is not None:
        if isinstance(spinup_years, bool) or int(spinup_years) != spinup_years or spinup_years < 0:
            raise ConfigError(f"{flag} {spinup_years}: expected a whole number >= 0")
        if "spinup_years" in out and int(out["spinup_years"]) != int(spinup_years):
            raise ConfigError(f"spinup_years given both as {flag} and as a simulator option")
        out["spinup_years"] = int(spinup_years)
    out.setdefault("spinup_years", int(simulator_class(simulator).default_spinup_years))
    return out


# ---------------------------------------------------------------------------------- resolution
def _strategy_defaults(strategy: str) -> Mapping[str, Any]:
    from .registry import get_calibrator_class

    return getattr(get_calibrator_class(strategy), "default_options", {})


def resolve_options(spec: CalibrationSpec) -> dict[str, Any]:
    """The strategy options of ``spec`` with every workflow default applied (surrogate, model_out,
    threads, spin-up); what the strategy is built with."""
    if not spec.strategy:
        raise ConfigError("strategy is required (--strategy, or 'strategy' in --config); see "
                          "'vic-paraformer strategies'")
    options = dict(spec.options or {})
    for key in ("surrogate", "model_out"):
        value = getattr(spec, key)
        if value is not None:
            if key in options and options[key] is not None and options[key] != value:
                raise ConfigError(f"{key} given both as --{key.replace('_', '-')} and --option {key}=...")
            options[key] = str(value) if isinstance(value, Path) else value
    accepted = _strategy_defaults(spec.strategy)
    # threads
    threads = spec.threads
    if threads is not None and options.get("threads") is not None and options["threads"] != threads:
        raise ConfigError("threads given both as --threads and --option threads=...")
    if "threads" not in accepted:
        if threads is not None:
            raise ConfigError(f"--threads: strategy {spec.strategy!r} has no torch threads option (see "
                              f"'vic-paraformer strategies {spec.strategy}')")
    elif threads is not None:
        options["threads"] = int(threads)
    elif options.get("threads") is None:
        options["threads"] = DEFAULT_THREADS
    # spin-up
    simulator = options.get("simulator", accepted.get("simulator"))
    if "simulator_options" not in accepted or not simulator or simulator == "surrogate":
        if spec.spinup_years:
            raise ConfigError(f"--spinup-years: strategy {spec.strategy!r} runs no simulator here (it learns through "
                              "the surrogate; give --spinup-years to 'surrogate train')")
    else:
        options["simulator_options"] = with_spinup(options.get("simulator_options"), spec.spinup_years, simulator,
                                                   flag="--spinup-years")
    return options


def _check_outputs(spec: CalibrationSpec, options: Mapping[str, Any]) -> None:
    """Refuse unusable outputs before any work: an input, a file of another kind, an unwritable folder."""
    from .outputs import check_output

    if spec.region is None:
        raise OptionError("--region is required (or 'region' in --config)")
    if spec.out is None:
        return
    surrogate = options.get("surrogate")
    inputs = {"--region": spec.region if isinstance(spec.region, (str, Path)) else None,
              "--surrogate": surrogate if isinstance(surrogate, (str, Path)) else None, "--config": spec.config_file,
              "--obs": spec.obs}
    check_output(spec.out, kind="result", option="--out", inputs=inputs, overwrite=spec.overwrite)
    model_out = options.get("model_out")
    if model_out:
        if Path(model_out).expanduser().resolve() == Path(spec.out).expanduser().resolve():
            raise OutputError(f"--model-out {model_out} is the same file as --out; choose two paths")
        check_output(model_out, kind="dl-model", option="--model-out", inputs=inputs, overwrite=spec.overwrite)


def check_spec(spec: CalibrationSpec) -> tuple[dict[str, Any], Any]:
    """Check every setting of ``spec`` before any data is read; return the resolved strategy options
    (:func:`resolve_options`) and the calibrator built with them.

    Unknown strategies and options, values out of range or not finite, malformed periods or
    ``train_cells``, and contradictory settings raise :class:`~vic_paraformer.errors.OptionError`
    naming the setting and, when it came from ``spec.config_file``, that file.
    """
    from .optioncheck import (check_finite, check_number, check_parameter_space, check_parameters, check_split_periods,
                              check_strategy_name, check_train_cells, check_whole, unknown_options_message)

    cfg = spec.config_file

    def src(key: str) -> str | None:
        return cfg if key in spec.config_settings else None

    if not spec.strategy:
        raise OptionError("--strategy is required (or 'strategy' in --config); see 'vic-paraformer strategies'")
    name = check_strategy_name(spec.strategy, "--strategy", src("strategy"))
    check_whole(spec.seed, "--seed", config=src("seed"))
    check_whole(spec.threads, "--threads", minimum=1, config=src("threads"))
    check_whole(spec.spinup_years, "--spinup-years", config=src("spinup_years"))
    check_number(spec.max_memory_gb, "--max-memory", low=0, low_open=True, allow_none=False)
    check_split_periods(spec.train_period, spec.test_period, src("train_period") or src("test_period"))
    check_train_cells(spec.train_cells, config=src("train_cells"))
    if isinstance(spec.parameter_space, (str, Mapping)):
        check_parameter_space(spec.parameter_space, config=src("parameter_space"))
    check_parameters(spec.parameters, config=src("parameters"))
    for key, value in spec.options.items():
        check_finite({key: value}, "option", cfg if key in spec.config_options else None)
    accepted = _strategy_defaults(name)
    unknown = [k for k in spec.options if k not in accepted]
    from_file = [k for k in unknown if k in spec.config_options]
    if from_file:
        raise OptionError(unknown_options_message(name, from_file, accepted, cfg))
    if unknown:
        raise OptionError(unknown_options_message(name, unknown, accepted))
    r = spec.refine
    check_whole(r.rounds, "--refine-rounds", config=src("refine.rounds"))
    check_whole(r.local, "--refine-local", config=src("refine.local"))
    check_finite(r.simulator_options, "--refine-simulator-option")
    try:
        options = resolve_options(spec)
    except OptionError:
        raise
    except ConfigError as exc:
        raise OptionError(str(exc)) from None
    if options.get("surrogate") is None and r.given():
        given = r.given()[0]
        raise OptionError(f"refine {given} (--refine-{given.replace('_', '-')}): refinement needs a surrogate-based "
                          "calibration (--surrogate)")
    try:
        calibrator = make_calibrator(name, seed=0 if spec.seed is None else int(spec.seed),
                                     parameter_space=spec_space(spec), options=options)
    except StrategyError as exc:
        named = [k for k in spec.config_options if re.search(rf"\b{re.escape(k)}\b", str(exc))]
        where = f" ({', '.join(named)} set in config {Path(cfg).name})" if named else ""
        raise OptionError(f"{exc}{where}") from None
    for warning in calibrator.option_warnings():
        log.warning("%s", warning)
    return options, calibrator


def spec_space(spec: CalibrationSpec, region=None, record: dict[str, Any] | None = None):
    """The parameter space of ``spec``: ``parameters`` (which) with ``parameter_space`` (the bounds), or
    ``parameter_space`` alone (None: the strategy's default). ``auto`` needs ``region`` (before it is
    loaded, the ``paper`` set stands in for the checks); ``record``, a dict, then receives the record of
    the choice (:func:`vic_paraformer.sensitivity.parameter_choice_record`)."""
    if spec.parameters is None:
        return spec.parameter_space
    from .parameters import AUTO, build_space

    if spec.parameters == AUTO and region is None:
        return build_space(None, spec.parameter_space)
    auto: dict[str, Any] = {}
    if spec.parameters == AUTO:
        given = spec.surrogate if spec.surrogate is not None else spec.options.get("surrogate")
        sur, simulator = _screening_model(given, spec.options)
        auto = {"surrogate": sur, "simulator": simulator}
        if sur is not None and spec.parameter_space is None:
            auto["space"] = sur.parameter_space  # the candidates: the parameters the surrogate can vary
    return build_space(spec.parameters, spec.parameter_space, region=region,
                       seed=0 if spec.seed is None else int(spec.seed), selector=identifiable_selector(record), **auto)


def _screening_model(surrogate, options: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The model a calibration's sensitivity analysis runs through, as ``(surrogate, simulator)`` (one of them
    None): the model it calibrates against, its ``surrogate`` (a path is loaded once per process), else the
    simulator of its ``options`` (default ``waterbalance``)."""
    if isinstance(surrogate, (str, Path)):
        from .surrogate.resolve import load_surrogate_cached

        surrogate = load_surrogate_cached(surrogate)
    return surrogate, None if surrogate is not None else (options.get("simulator") or "waterbalance")


def identifiable_selector(record: dict[str, Any] | None = None):
    """:func:`vic_paraformer.sensitivity.select_identifiable` (what ``--parameters auto`` calls), or None
    when the sensitivity analysis cannot be imported (SALib missing); ``record``, a dict, receives the
    record of the choice."""
    try:
        from .sensitivity import select_identifiable
    except ImportError:
        return None
    if record is None:
        return select_identifiable
    return functools.partial(select_identifiable, record=record)


def make_calibrator(strategy: str, *, seed: int, parameter_space=None, options: Mapping[str, Any]):
    """The Calibrator a run uses: the same object ``vic_paraformer.calibrate`` builds."""
    from .registry import get_calibrator

    kwargs = dict(options)
    if parameter_space is not None:
        kwargs["parameter_space"] = parameter_space
    return get_calibrator(strategy, seed=seed, **kwargs)


def _refine_rounds(spec: CalibrationSpec, options: Mapping[str, Any]) -> tuple[int, str, Any]:
    """Refinement rounds to run, why (a sentence), and the loaded surrogate (None without one)."""
    from .refine import auto_refine_rounds

    r = spec.refine
    surrogate = options.get("surrogate")
    if surrogate is None:
        return 0, "", None
    from .surrogate.resolve import load_surrogate_cached

    sur = load_surrogate_cached(surrogate) if isinstance(surrogate, (str, Path)) else surrogate
    if r.rounds is not None:
        if isinstance(r.rounds, bool) or int(r.rounds) != r.rounds or r.rounds < 0:
            raise ConfigError(f"--refine-rounds {r.rounds}: expected a whole number >= 0")
        return int(r.rounds), f"{int(r.rounds)} refinement rounds asked for", sur
    rounds, why = auto_refine_rounds(sur, r.simulator_options)
    return rounds, why, sur


def _refine_dir(spec: CalibrationSpec) -> Path | None:
    if spec.refine.dir:
        return Path(spec.refine.dir)
    return Path(str(spec.out) + ".refine") if spec.out is not None else None


def _calibrate_refined(spec: CalibrationSpec, calibrator, options: Mapping[str, Any], region, sur, rounds: int,
                       why: str):
    """Calibrate through the surrogate, then refine against its simulator; the best candidate's result."""
    from .outputs import check_output
    from .refine import DEFAULT_REFINE_LOCAL, calibrate_refined

    n_local = DEFAULT_REFINE_LOCAL if spec.refine.local is None else int(spec.refine.local)
    if n_local < 0:
        raise ConfigError(f"--refine-local {n_local}: expected a whole number >= 0")
    out_dir = _refine_dir(spec)
    if out_dir is not None:
        check_output(out_dir, kind="directory", option="--refine-dir", overwrite=spec.overwrite,
                     inputs={"--region": spec.region if isinstance(spec.region, (str, Path)) else None,
                             "--refine-store": spec.refine.store})
    log.info("%s (every round in %s)", why, out_dir)
    opts = {k: v for k, v in calibrator.options.items() if k in options or k == "threads"}
    return calibrate_refined(region, calibrator.name, sur, rounds=rounds, n_local=n_local,
                             simulator_options=dict(spec.refine.simulator_options), options=opts,
                             store=spec.refine.store, seed=calibrator.seed, out_dir=out_dir)


def resolved_config(spec: CalibrationSpec, calibrator, refine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's full configuration in the ``--config`` format: the settings as resolved, the
    strategy's options with every default and preset value filled in (paths absolute)."""
    options = {k: v for k, v in calibrator.options.items() if k not in ("surrogate", "model_out", "threads")}

    def absolute(value):
        return str(Path(value).resolve()) if isinstance(value, (str, Path)) and value else None

    surrogate = calibrator.options.get("surrogate")
    region = spec.region if isinstance(spec.region, (str, Path)) else getattr(spec.region, "source", None)
    out = {"region": absolute(region), "strategy": calibrator.name, "seed": calibrator.seed,
           "surrogate": absolute(surrogate), "out": absolute(spec.out),
           "model_out": absolute(calibrator.options.get("model_out")),
           "parameter_space": calibrator.parameter_space.to_dict(),
           "parameters": list(calibrator.parameter_space.names)}
    for key in ("train_period", "test_period", "train_cells"):
        value = getattr(spec, key)
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    if spec.obs is not None:
        out.update(obs=absolute(spec.obs), obs_format=spec.obs_format or "auto", obs_options={
            k: list(v) if isinstance(v, tuple) else v for k, v in spec.obs_options.items()})
    if isinstance(out.get("train_cells"), str) and Path(out["train_cells"]).is_file():
        out["train_cells"] = str(Path(out["train_cells"]).resolve())
    if "threads" in calibrator.options:
        out["threads"] = calibrator.options["threads"]
    if spec.identifiability:
        out["identifiability"] = True
    out["options"] = options
    if refine is not None:
        out["refine"] = refine
    return out


def _attach(region, spec: CalibrationSpec):
    from .readers import attach_observations

    return attach_observations(region, spec.obs, spec.obs_format, spec.obs_options)


def _identifiability(region, calibrator, options: Mapping[str, Any]) -> dict[str, Any]:
    """The per-cell, per-parameter identifiability record of a calibration: Sobol indices of its objective
    on the training cells through the model it calibrated against (its surrogate, else its simulator)."""
    from .sensitivity import identifiability_record, training_indices

    sur, simulator = _screening_model(options.get("surrogate"), options)
    ds = training_indices(region, surrogate=sur, simulator=simulator, space=calibrator.parameter_space,
                          objective_options=options, seed=calibrator.seed,
                          simulator_options=None if simulator is None else options.get("simulator_options"))
    record = identifiability_record(ds)
    log.info("identifiability on %d training cell(s): share of cells where each parameter is identifiable: %s",
             len(record["cells"]), record["share_identifiable"])
    return record


def run_calibration(spec: CalibrationSpec) -> CalibrationOutcome:
    """Run the calibration ``spec`` describes (see the module docstring): check and resolve its
    settings before any data is read (:func:`check_spec`), check the strategy against the region before any expensive work, calibrate (and refine), write
    the result and its run configuration when ``spec.out`` is set."""
    from .region import Region
    from .selection import split_message, split_region

    options, calibrator = check_spec(spec)
    _check_outputs(spec, options)
    opened = not isinstance(spec.region, Region)
    full = Region.open(spec.region, max_memory_gb=spec.max_memory_gb) if opened else spec.region  # lazily
    try:
        if spec.obs is not None:
            full = _attach(full, spec)
        region, split = split_region(full, spec.train_period, spec.test_period, spec.train_cells,
                                     seed=calibrator.seed)
        choice: dict[str, Any] = {}
        if spec.parameters == "auto":
            calibrator = make_calibrator(calibrator.name, seed=calibrator.seed,
                                         parameter_space=spec_space(spec, region, choice), options=options)
            log.info("--parameters auto: calibrating %s%s", ", ".join(calibrator.parameter_space.names),
                     f"; fixed at the region's own values: {', '.join(choice['fixed'])}" if choice.get("fixed") else "")
        problems = calibrator.validate(region)
        if problems:
            raise StrategyError(f"strategy {calibrator.name!r} cannot calibrate {spec.region}: " + "; ".join(problems))
        log.info(split_message(full, region, split))
        rounds, why, sur = _refine_rounds(spec, options)
        if rounds:
            result = _calibrate_refined(spec, calibrator, options, region, sur, rounds, why)
        else:
            if sur is not None:
                log.info("%s", why)
            result = calibrator.calibrate(region)
        if choice:
            result.info["parameter_choice"] = choice
        if spec.identifiability:
            result.info["identifiability"] = _identifiability(region, calibrator, options)
    finally:
        if opened:
            full.close()  # the lazily opened file
    result.info.update(split)
    refine = None
    if sur is not None:
        refine = {**asdict(spec.refine), "rounds": rounds}
        for key in ("store", "dir"):
            if refine[key]:
                refine[key] = str(Path(refine[key]).resolve())
    config = resolved_config(spec, calibrator, refine)
    path = None
    if spec.out is not None:
        result.save(spec.out)
        path = write_run_config(run_config_path(spec.out), "calibrate", config)
    return CalibrationOutcome(result=result, options=dict(calibrator.options), config=config, config_path=path)
