"""Checks of option values made before any data is read: every failure is an
:class:`~vic_paraformer.errors.OptionError` (the command line's usage error, exit status 2) naming
the option, where it came from (the command line or a ``--config`` file) and what was expected.

The checks here need only the option values (and the names the registries list); checks against a
region's days or cells come later, with the data. Used by :func:`vic_paraformer.workflow.check_spec`
(``calibrate`` and its library call) and by the commands of :mod:`vic_paraformer.cli`.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .config import non_finite
from .errors import OptionError

__all__ = ["MAX_LISTED", "origin", "names_text", "check_strategy_name", "check_simulator_name",
           "check_simulator_options", "check_finite", "check_whole", "check_number", "check_period", "check_split_periods",
           "check_train_cells", "check_parameter_space", "check_parameters", "unknown_options_message"]

#: Most option names an error message lists before pointing at the full listing.
MAX_LISTED = 8


def origin(config: str | Path | None) -> str:
    """`` from config NAME`` for a value read from the configuration file ``config``, else ``""``."""
    return f" from config {Path(config).name}" if config else ""


def names_text(names: Iterable[str], near: str | None = None, *, more: str = "") -> str:
    """At most :data:`MAX_LISTED` of ``names`` (those closest to ``near`` first), then ``… (more)``
    when some are left out."""
    names = sorted(set(names))
    first = difflib.get_close_matches(near, names, n=3, cutoff=0.6) if near else []
    shown = first + [n for n in names if n not in first]
    text = ", ".join(shown[:MAX_LISTED])
    if len(shown) > MAX_LISTED:
        text += f", … ({more})" if more else f", … ({len(shown) - MAX_LISTED} more)"
    return text


def _registered(group: str) -> list[str]:
    from .registry import list_simulators, list_strategies

    return list_strategies() if group == "strategy" else list_simulators()


def _check_name(kind: str, name: Any, flag: str, config: str | None = None) -> str:
    from .registry import normalize_name

    names = _registered(kind)
    if not isinstance(name, str) or normalize_name(name) not in names:
        listing = "vic-paraformer strategies" if kind == "strategy" else "the simulators installed"
        raise OptionError(f"{flag}{origin(config)}: unknown {kind} {name!r}; installed: "
                          f"{names_text(names, str(name), more=f'see {listing}')}")
    return normalize_name(name)


def check_strategy_name(name: Any, flag: str = "--strategy", config: str | None = None) -> str:
    """The registered spelling of strategy ``name`` (OptionError when none is registered)."""
    return _check_name("strategy", name, flag, config)


def check_simulator_name(name: Any, flag: str = "--simulator", config: str | None = None) -> str:
    """The registered spelling of simulator ``name`` (OptionError when none is registered)."""
    return _check_name("simulator", name, flag, config)


def check_simulator_options(simulator: str, options: Mapping[str, Any], flag: str = "--option",
                            config: str | None = None) -> None:
    """OptionError for an option the simulator does not take, a value it refuses or a non-finite number:
    the simulator is built with ``options`` (which checks them and runs nothing)."""
    from .errors import SimulatorError
    from .registry import get_simulator

    check_finite(options, flag, config)
    try:
        get_simulator(simulator, **dict(options))
    except (SimulatorError, TypeError, ValueError) as exc:
        raise OptionError(f"{flag}{origin(config)}: {exc}") from None


def check_finite(values: Mapping[str, Any], flag: str = "--option", config: str | None = None) -> None:
    """OptionError naming the first entry of ``values`` that holds NaN or an infinity."""
    bad = non_finite(dict(values))
    if bad:
        raise OptionError(f"{flag} {bad[0]}{origin(config)}: expected a finite number, got "
                          f"{_lookup(values, bad[0])!r}")


def _lookup(values: Mapping[str, Any], path: str) -> Any:
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return values.get(head)


def check_whole(value: Any, flag: str, *, minimum: int = 0, config: str | None = None,
                allow_none: bool = True) -> int | None:
    """``value`` as an int when it is a whole number >= ``minimum`` (None passes when allowed)."""
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and int(value) == value and value >= minimum
    if not ok:
        raise OptionError(f"{flag} {value!r}{origin(config)}: expected a whole number >= {minimum}")
    return int(value)


def check_number(value: Any, flag: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, config: str | None = None,
                 allow_none: bool = True) -> float | None:
    """``value`` as a float when it is finite and inside the given interval (None passes when allowed)."""
    if value is None and allow_none:
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    ok = math.isfinite(number)
    if ok and low is not None:
        ok = number > low if low_open else number >= low
    if ok and high is not None:
        ok = number < high if high_open else number <= high
    if not ok:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        want = (f"a finite number in {lo}, {hi}" if low is not None and high is not None
                else f"a finite number {'>' if low_open else '>='} {low:g}" if low is not None
                else f"a finite number {'<' if high_open else '<='} {high:g}" if high is not None
                else "a finite number")
        raise OptionError(f"{flag} {value!r}{origin(config)}: expected {want}")
    return number


def check_period(values: Sequence | None, flag: str, config: str | None = None) -> None:
    """OptionError unless ``values`` is None or two dates, the first not after the second."""
    if values is None:
        return
    from .errors import RegionError
    from .region import parse_period

    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != 2:
        raise OptionError(f"{flag}{origin(config)}: expected two dates START END, got {values!r}")
    try:
        parse_period(values, flag)
    except RegionError as exc:
        raise OptionError(f"{exc}{origin(config)}") from None


def check_split_periods(train: Sequence | None, test: Sequence | None, config: str | None = None) -> None:
    """OptionError when ``--train-period`` and ``--test-period`` are both given and share days."""
    check_period(train, "--train-period", config)
    check_period(test, "--test-period", config)
    if train is None or test is None:
        return
    from .region import parse_period

    tr, te = parse_period(train, "--train-period"), parse_period(test, "--test-period")
    if tr[0] <= te[1] and te[0] <= tr[1]:
        raise OptionError(f"--train-period {train[0]}..{train[1]} and --test-period {test[0]}..{test[1]}"
                          f"{origin(config)} overlap: a test score on days the model learnt from is not a held-out "
                          "score")


_DAS = re.compile(r"das:(\d+)", re.I)


def check_train_cells(spec: Any, flag: str = "--train-cells", config: str | None = None) -> None:
    """OptionError unless ``spec`` is None, ``das:K`` (K >= 1), ``fraction:F`` (0 < F <= 1),
    ``farthest:N`` (N >= 1), ids like ``3,17,40`` or an existing file (whether the ids, or N, fit the
    region is checked with the region)."""
    if spec is None:
        return
    text = str(spec).strip()
    m = _DAS.fullmatch(text)
    if m:
        if int(m.group(1)) < 1:
            raise OptionError(f"{flag} {text}{origin(config)}: K must be at least 1")
        return
    low = text.lower()
    if low.startswith("fraction:"):
        try:
            f = float(text.split(":", 1)[1])
        except ValueError:
            f = float("nan")
        if not 0.0 < f <= 1.0:
            raise OptionError(f"{flag} {text}{origin(config)}: expected fraction:F with 0 < F <= 1, e.g. fraction:0.5")
        return
    if low.startswith("farthest:"):
        n = text.split(":", 1)[1].strip()
        if not n.isdigit() or int(n) < 1:
            raise OptionError(f"{flag} {text}{origin(config)}: expected farthest:N with an integer N >= 1")
        return
    if not text:
        raise OptionError(f"{flag}{origin(config)} is empty; expected das:K, fraction:F, farthest:N, a file of cell "
                          "ids, or ids like 3,17,40")
    if text.lower().startswith("das"):
        raise OptionError(f"{flag} {text!r}{origin(config)}: expected das:K with an integer K, e.g. das:4")
    if re.fullmatch(r"[\d\s,;]+", text) or Path(text).is_file():
        return
    raise OptionError(f"{flag} {text!r}{origin(config)}: no such file, and not das:K, fraction:F, farthest:N or a "
                      "list of cell ids like 3,17,40")


def check_parameter_space(value: Any, flag: str = "--parameter-space", config: str | None = None) -> None:
    """OptionError unless ``value`` is None, a preset name or a valid ``{names, lower, upper}``."""
    if value is None:
        return
    from .parameters import ParameterSpace

    try:
        ParameterSpace.resolve(value)
    except (ValueError, TypeError, KeyError) as exc:
        raise OptionError(f"{flag}{origin(config)}: {exc}") from None


def check_parameters(value: Any, flag: str = "--parameters", config: str | None = None) -> None:
    """OptionError unless ``value`` is None, ``auto``, a parameter set name or calibratable names."""
    if value is None or value == "auto":
        return
    from .parameters import resolve_parameter_names

    try:
        resolve_parameter_names(value, option=f"{flag}{origin(config)}")
    except ValueError as exc:
        raise OptionError(str(exc)) from None


def unknown_options_message(strategy: str, unknown: Sequence[str], accepted: Iterable[str],
                            config: str | None = None) -> str:
    """The one line for options a strategy does not take: ``option 'ngs' from config run.yaml does not
    apply to strategy 'paraformer_a'; its options are: …`` (at most :data:`MAX_LISTED` names)."""
    listed = names_text(accepted, unknown[0], more=f"see `vic-paraformer strategies {strategy}`")
    if not config:
        return f"unknown option(s) {list(unknown)} for strategy {strategy!r}; its options are: {listed}"
    names = ", ".join(repr(u) for u in unknown)
    verb = "does not apply" if len(unknown) == 1 else "do not apply"
    return (f"option{'s' if len(unknown) > 1 else ''} {names}{origin(config)} {verb} to strategy {strategy!r}; "
            f"its options are: {listed}")
