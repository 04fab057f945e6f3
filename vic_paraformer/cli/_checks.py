"""The option checks of every command, run by :func:`vic_paraformer.cli.main.main` before the command
does any work (no region, result or surrogate is opened before they pass).

Each command registers its check with ``p.set_defaults(check=...)``; a check raises
:class:`~vic_paraformer.errors.OptionError` (exit status 2, one line naming the option and, for a
setting read from ``--config``, the file). What argparse checks itself (types and ranges of single
values, :mod:`._types`) is not repeated here; these are the checks that need a registry, several
options together, or a ``--config`` file. ``calibrate`` is checked by
:func:`vic_paraformer.workflow.check_spec`, which its library call shares.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..config import OptionError, parse_options
from ..optioncheck import (check_number, check_parameter_space, check_parameters, check_period, check_simulator_name,
                           check_split_periods,
                           check_simulator_options, check_strategy_name, check_train_cells, origin)

#: The fewest parameter samples per cell ``surrogate train`` accepts, and the fewest it takes without
#: a warning. Measured on a 4 x 4-cell, 2-year synthetic twin (preset test, waterbalance; median sm
#: NSE of the surrogate on 8 fresh samples per cell): 1 sample 0.23 (no sample is held out, so the
#: validation loss that picks the best epoch sees only held-out cells), 2: 0.31, 4: 0.81, 8: 0.96,
#: 16: 0.98, 32: 0.98.
MIN_SURROGATE_SAMPLES = 4
ADVISED_SURROGATE_SAMPLES = 8
#: ``--samples`` help of the commands that train a surrogate.
SAMPLES_HELP = (f"at least {MIN_SURROGATE_SAMPLES}; below {ADVISED_SURROGATE_SAMPLES} a warning (median sm NSE "
                "of the surrogate against its simulator measured 0.2-0.3 with 1-2 samples, 0.81 with 4, 0.96 "
                "with 8, 0.98 with 16-32 on a 4 x 4-cell twin)")
log = logging.getLogger("vic_paraformer.cli")


def _src(args: argparse.Namespace, key: str) -> str | None:
    """The ``--config`` file when the setting ``key`` came from it."""
    return args.config if key in (getattr(args, "_from_config", None) or ()) else None


def _simulator(args: argparse.Namespace, key: str = "simulator") -> str | None:
    name = getattr(args, key, None)
    return None if name is None else check_simulator_name(name, "--" + key.replace("_", "-"), _src(args, key))


def _simulator_options(args: argparse.Namespace, simulator: str | None, items, flag: str) -> dict[str, Any]:
    """The ``KEY=VALUE`` simulator options of ``items``, with the VIC flags and the spin-up, checked by
    building the simulator."""
    from ._spinup import with_spinup
    from ._vic_options import vic_simulator_options

    options = parse_options(items, flag=flag)
    if simulator is None:
        return options
    run_options = vic_simulator_options(args, simulator) if hasattr(args, "exe") else {}
    try:
        options = with_spinup({**options, **run_options}, args, simulator)
    except OptionError:
        raise
    except ValueError as exc:  # ConfigError of a conflicting spin-up
        raise OptionError(str(exc)) from None
    check_simulator_options(simulator, options, flag)
    return options


def _periods(args: argparse.Namespace, *keys: str) -> None:
    for key in keys:
        check_period(getattr(args, key, None), "--" + key.replace("_", "-"), _src(args, key))


def check_simulate(args: argparse.Namespace) -> None:
    """``simulate``: the simulator, its options and the period."""
    sim = _simulator(args)
    _simulator_options(args, sim, args.option, "--option")
    _periods(args, "period")


def check_evaluate(args: argparse.Namespace) -> None:
    """``evaluate``: the simulator and its options, the period, the variables."""
    from ..evaluation import OBSERVATION_OF

    sim = _simulator(args)
    _simulator_options(args, sim, args.simulator_option, "--simulator-option")
    _periods(args, "period")
    unknown = [v for v in args.variables if v not in OBSERVATION_OF]
    if unknown:
        raise OptionError(f"--variables: cannot evaluate variable(s) {unknown}; known: {sorted(OBSERVATION_OF)}")


def check_refine(args: argparse.Namespace) -> None:
    """``refine`` (after its --config): the strategy and its options, the simulator and its options."""
    from ..errors import StrategyError
    from ..optioncheck import unknown_options_message
    from ..registry import get_calibrator, get_calibrator_class

    for key in ("region", "strategy", "surrogate", "out_dir"):
        if not getattr(args, key):
            raise OptionError(f"--{key.replace('_', '-')} is required (or '{key}' in --config)")
    name = check_strategy_name(args.strategy, "--strategy", _src(args, "strategy"))
    options = parse_options(args.option)
    sim = _simulator(args)
    if sim is not None:
        _simulator_options(args, sim, args.simulator_option, "--simulator-option")
    else:
        parse_options(args.simulator_option, flag="--simulator-option")
    accepted = get_calibrator_class(name).default_options
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise OptionError(unknown_options_message(name, unknown, accepted))
    try:
        get_calibrator(name, seed=args.seed, **{**options, "surrogate": args.surrogate})
    except StrategyError as exc:
        raise OptionError(str(exc)) from None
    check_number(args.sigma, "--sigma", low=0, config=_src(args, "sigma"))


def check_surrogate_train(args: argparse.Namespace) -> None:
    """``surrogate train`` (after its --config): simulator, preset, sampling and split settings."""
    from ..surrogate.train import SURROGATE_PRESETS

    for key in ("region", "out"):
        if not getattr(args, key):
            raise OptionError(f"--{key} is required (or '{key}' in --config)")
    sim = _simulator(args)
    _simulator_options(args, sim, [], "--simulator-option")
    if args.preset not in SURROGATE_PRESETS:
        raise OptionError(f"--preset{origin(_src(args, 'preset'))}: unknown surrogate preset {args.preset!r}; "
                          f"expected one of {sorted(SURROGATE_PRESETS)}")
    samples = args.samples if args.samples is not None else SURROGATE_PRESETS[args.preset]["n_samples"]
    _check_samples(samples, "--samples", _src(args, "samples"))
    check_number(args.anchor_share, "--anchor-share", low=0, high=1, high_open=True, config=_src(args, "anchor_share"))
    check_number(args.anchor_sd, "--anchor-sd", low=0, high=0.5, low_open=True, config=_src(args, "anchor_sd"))
    check_parameter_space(args.parameter_space, config=_src(args, "parameter_space"))
    check_parameters(getattr(args, "parameters", None), config=_src(args, "parameters"))
    check_split_periods(args.train_period, args.test_period, _src(args, "train_period") or _src(args, "test_period"))
    check_train_cells(args.train_cells, config=_src(args, "train_cells"))


def _check_samples(samples: int, flag: str, config: str | None) -> None:
    """Refuse fewer than :data:`MIN_SURROGATE_SAMPLES` samples per cell, warn below the advised number."""
    if samples < MIN_SURROGATE_SAMPLES:
        raise OptionError(f"{flag} {samples}{origin(config)}: a surrogate needs at least {MIN_SURROGATE_SAMPLES} "
                          "parameter samples per cell (with 1-2 it fitted its simulator with a median sm NSE of "
                          "0.2-0.3; 8 or more advised)")
    if samples < ADVISED_SURROGATE_SAMPLES:
        log.warning("%s %d: few parameter samples per cell; the surrogate may imitate its simulator poorly (median "
                    "sm NSE measured 0.81 with 4 samples, 0.96 with 8); %d or more advised", flag, samples,
                    ADVISED_SURROGATE_SAMPLES)


def check_surrogate_evaluate(args: argparse.Namespace) -> None:
    """``surrogate evaluate``: the simulator."""
    _simulator(args)


def check_benchmark(args: argparse.Namespace) -> None:
    """``benchmark`` (after its --config): the strategies, the simulator and its options."""
    if not args.out:
        raise OptionError("--out is required (or 'out' in --config)")
    for name in args.strategies or ():
        check_strategy_name(name, "--strategies", _src(args, "strategies"))
    sim = _simulator(args)
    _simulator_options(args, sim, [], "--simulator-option")
    if args.surrogate_samples is not None:
        _check_samples(args.surrogate_samples, "--surrogate-samples", _src(args, "surrogate_samples"))
    check_parameters(getattr(args, "parameters", None), config=_src(args, "parameters"))
    if getattr(args, "objective", None):
        from ..objective import ObjectiveError, objective_weights

        try:
            objective_weights(args.objective)
        except ObjectiveError as exc:
            raise OptionError(f"--objective: {exc}") from None


def check_synth(args: argparse.Namespace) -> None:
    """``synth``: observation interval, grid centre, parameter preset."""
    low, high = args.obs_interval
    if low < 1 or high < low:
        raise OptionError(f"--obs-interval {low} {high}: expected 1 <= MIN <= MAX days")
    check_number(args.lat, "--lat", low=-90, high=90)
    check_number(args.lon, "--lon", low=-180, high=360)
    check_parameter_space(args.parameter_space)


def expt_layers(text: str | None) -> tuple[int, ...] | None:
    """``--expt-layers``: 1-based soil layer numbers ("1" or "1,2,3") as 0-based indices (None: every layer)."""
    if text is None:
        return None
    try:
        layers = tuple(int(x) - 1 for x in text.split(",") if x.strip())
    except ValueError:
        layers = ()
    if not layers or min(layers) < 0:
        raise OptionError(f"--expt-layers {text!r}: expected 1-based layer numbers like 1 or 1,2,3")
    return layers


def member_choice(text: str | None) -> str | int:
    """The ``--member`` value of ``vic write-params``: 'median' (default), 'point' or a member number (exit 2 otherwise)."""
    if text is None or text.strip().lower() == "median":
        return "median"
    if text.strip().lower() == "point":
        return "point"
    try:
        k = int(text)
    except ValueError:
        k = -1
    if k < 0:
        raise OptionError(f"--member must be 'median', 'point' or a member number >= 0, got {text!r}")
    return k


def check_vic(args: argparse.Namespace) -> None:
    """``vic`` sub-commands: dates, soil layers, template cell, observation interval, global options."""
    for start, end in (("start", "end"), ("score_start", "score_end")):
        a, b = getattr(args, start, None), getattr(args, end, None)
        if a is not None or b is not None:
            flag = f"--{start.replace('_', '-')}/--{end.replace('_', '-')}"
            check_period([a or b, b or a], flag)
    if getattr(args, "expt_layers", None) is not None:
        expt_layers(args.expt_layers)
    if getattr(args, "member", None) is not None:
        member_choice(args.member)
    for item in getattr(args, "var", None) or []:
        if "=" not in item:
            raise OptionError(f"--var {item!r}: expected NAME=VALUE")
    for item in getattr(args, "option", None) or []:
        if "=" not in item:
            raise OptionError(f"--option {item!r}: expected KEY=VALUE")
    cell = getattr(args, "template_cell", None)
    if cell is not None and min(cell) < 0:
        raise OptionError(f"--template-cell {cell[0]} {cell[1]}: expected a row and a column >= 0")
    if getattr(args, "discharge", None) is not None and getattr(args, "rvic", None) is None:
        raise OptionError("--discharge needs --rvic (the routing file whose outlets the gauges are matched to)")
    interval = getattr(args, "obs_interval", None)
    if interval is not None and (interval[0] < 1 or interval[1] < interval[0]):
        raise OptionError(f"--obs-interval {interval[0]} {interval[1]}: expected 1 <= MIN <= MAX days")
