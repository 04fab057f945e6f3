"""``--config FILE`` for commands whose settings are their own options, and the run configuration
they write next to their outputs (:func:`vic_paraformer.config.write_run_config`).

The file a run writes holds every option of the command with the value the run used; given back
with ``--config``, each setting fills the option unless the command line sets it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable

from ..config import load_command_config, run_config_path, write_run_config

#: Namespace entries that are not settings of a run.
_INTERNAL = {"func", "config", "help", "overwrite", "command", "surrogate_command", "vic_command", "_parser",
             "debug", "quiet", "progress", "scratch"}


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="YAML/JSON settings of a run (e.g. the config.yaml a previous run wrote next to its "
                             "outputs); command-line flags win")
    parser.set_defaults(_parser=parser)


def _dests(parser: argparse.ArgumentParser) -> list[str]:
    return [a.dest for a in parser._actions if a.dest not in _INTERNAL and a.dest != argparse.SUPPRESS]


def apply_config(args: argparse.Namespace, path_keys: Iterable[str] = ()) -> argparse.Namespace:
    """``args`` with every setting of ``args.config`` that the command line left at its default."""
    parser = getattr(args, "_parser", None)
    if not getattr(args, "config", None) or parser is None:
        return args
    dests = _dests(parser)
    data = load_command_config(args.config, dests, path_keys)
    for key, value in data.items():
        if getattr(args, key, None) == parser.get_default(key):
            setattr(args, key, value)
    return args


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
