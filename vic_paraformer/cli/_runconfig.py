"""``--config FILE`` for commands whose settings are their own options, and the run configuration
they write next to their outputs (:func:`vic_paraformer.config.write_run_config`).

The file a run writes holds every option of the command with the value the run used; given back
with ``--config``, each setting fills the option unless the command line sets it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable

from ..config import OptionError, load_command_config, non_finite, run_config_path, write_run_config
from ..optioncheck import origin

#: Namespace entries that are not settings of a run.
_INTERNAL = {"func", "config", "help", "overwrite", "command", "surrogate_command", "vic_command", "_parser",
             "debug", "quiet", "_prog", "check",
             "_from_config", "progress", "scratch"}


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="YAML/JSON settings of a run (e.g. the config.yaml a previous run wrote next to its "
                             "outputs); command-line flags win")
    parser.set_defaults(_parser=parser)


def _dests(parser: argparse.ArgumentParser) -> list[str]:
    return [a.dest for a in parser._actions if a.dest not in _INTERNAL and a.dest != argparse.SUPPRESS]


def apply_config(args: argparse.Namespace, path_keys: Iterable[str] = ()) -> argparse.Namespace:
    """``args`` with every setting of ``args.config`` that the command line left at its default.

    Each setting taken from the file passes the check its option has on the command line (type,
    range, choices; NaN and infinities refused): a value that fails is an OptionError naming the
    option and the file. The names taken from the file are kept in ``args._from_config``.
    """
    parser = getattr(args, "_parser", None)
    if not getattr(args, "config", None) or parser is None:
        return args
    dests = _dests(parser)
    data = load_command_config(args.config, dests, path_keys)
    actions = {a.dest: a for a in parser._actions}
    taken = set(getattr(args, "_from_config", ()) or ())
    for key, value in data.items():
        if key in taken or getattr(args, key, None) == parser.get_default(key):
            setattr(args, key, _checked(actions[key], value, args.config))
            taken.add(key)
    args._from_config = sorted(taken)
    return args


def _checked(action: argparse.Action, value: Any, config: str) -> Any:
    """``value`` of ``action``'s option from the file ``config``, checked as the command line checks it."""
    flag = action.option_strings[-1] if action.option_strings else action.dest
    where = origin(config)
    if value is None:
        return None
    if non_finite(value):
        raise OptionError(f"{flag} {value!r}{where}: expected a finite number")
    if action.nargs == 0:  # a switch (--per-cell, --keep-runs)
        if not isinstance(value, bool):
            raise OptionError(f"{flag} {value!r}{where}: expected true or false")
        return value
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if action.nargs not in (None, "?") and not isinstance(value, (list, tuple)):
        raise OptionError(f"{flag} {value!r}{where}: expected a list of values")
    if isinstance(action.nargs, int) and len(items) != action.nargs:
        raise OptionError(f"{flag} {value!r}{where}: expected {action.nargs} values")
    out = []
    for item in items:
        if action.type is not None and not isinstance(item, (dict, list)):
            try:
                item = action.type(str(item))
            except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
                raise OptionError(f"{flag}{where}: {exc}") from None
        if action.choices is not None and item not in action.choices:
            raise OptionError(f"{flag} {item!r}{where}: expected one of {', '.join(map(str, action.choices))}")
        out.append(item)
    if isinstance(value, tuple):
        return tuple(out)
    return out if isinstance(value, list) else out[0]


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Every option of the command with the value this run used."""
    parser = getattr(args, "_parser", None)
    keys = _dests(parser) if parser is not None else [k for k in vars(args) if k not in _INTERNAL]
    return {k: getattr(args, k, None) for k in keys}


def write_settings(args: argparse.Namespace, out: str | Path, command: str, extra: dict[str, Any] | None = None,
                   path_keys: Iterable[str] = ()) -> Path:
    """Write the run configuration next to ``out`` (paths absolute, so the file works from anywhere)."""
    s = settings(args)
    for key in path_keys:
        if isinstance(s.get(key), str) and s[key]:
            s[key] = str(Path(s[key]).resolve())
    s.update(extra or {})
    return write_run_config(run_config_path(out), command, s)
