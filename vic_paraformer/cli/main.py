"""Entry point of the ``vic-paraformer`` command.

Each sub-command lives in its own module of this package exposing ``register(subparsers)``,
which adds an argparse sub-parser whose ``func(args) -> int`` does the work. Errors print one
readable line on stderr and exit non-zero; ``--debug`` shows the traceback.

Each warning is shown once per command (:class:`~vic_paraformer._logs.OnceFilter`, worker
processes' warnings included). Progress bars are shown when stderr is a terminal (``--progress``
forces them, ``--no-progress`` hides them). A command that needs scratch space gets one folder
(``--scratch DIR``, default the system temp folder; :mod:`vic_paraformer.scratch`), removed when
it ends or is interrupted, kept after a failed VIC run; ``vic-paraformer clean`` removes leftovers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from typing import Sequence

from .. import __version__
from .._logs import OnceFilter
from .._procs import Terminated, kill_children, raise_terminated
from ..errors import OptionError, VicParaformerError

# Sub-command modules, in the order they appear in --help.
COMMAND_MODULES = (
    "strategies_cmd",
    "demo_cmd",
    "synth_cmd",
    "stations_cmd",
    "simulate_cmd",
    "surrogate_cmd",
    "calibrate_cmd",
    "evaluate_cmd",
    "refine_cmd",
    "sensitivity_cmd",
    "vic_cmd",
    "benchmark_cmd",
    "clean_cmd",
)

log = logging.getLogger("vic_paraformer")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the full usage is one ``--help`` away)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def scheduler_address(text: str) -> str:
    """A Dask scheduler address: ``tcp://host:port`` (also ``tls://``, ``ws://``, ``wss://``, ``ucx://``)."""
    import re

    if not re.fullmatch(r"(tcp|tls|ws|wss|ucx)://[^\s:/]+:\d{1,5}", text) and \
            not re.fullmatch(r"(tcp|tls|ws|wss|ucx)://\[[0-9A-Fa-f:]+\]:\d{1,5}", text):
        raise argparse.ArgumentTypeError(f"expected a Dask scheduler address like tcp://host:8786, got {text!r}")
    return text


def add_scheduler_argument(p: argparse.ArgumentParser, default) -> None:
    """``--scheduler tcp://host:port``: every ensemble of the command runs on that Dask cluster."""
    p.add_argument("--scheduler", default=default, metavar="tcp://HOST:PORT", type=scheduler_address,
                   help="run the command's ensembles (simulator runs, per-cell calibrations) on the Dask cluster "
                        "of this scheduler; inputs must be on a file system the workers share (docs/scaling.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vic-paraformer",
        description="Calibrate VIC 5 soil parameters (infilt, Ds, Dsmax, Ws, expt) with ParaFormer, "
                    "dPL baselines and SCE-UA.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    add_progress_arguments(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__package__}.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{mod_name}":
                continue  # sub-command not shipped in this build
            raise
        mod.register(sub)
    add_scheduler_argument(parser, default=None)
    for leaf in _leaf_parsers(parser):
        if leaf is not parser:
            add_progress_arguments(leaf, default=argparse.SUPPRESS)  # same pair on every command
            if not any("--scheduler" in a.option_strings for a in leaf._actions):
                add_scheduler_argument(leaf, default=argparse.SUPPRESS)
    _record_prog(parser)
    return parser


def add_progress_arguments(p: argparse.ArgumentParser, default) -> None:
    """``--progress`` / ``--no-progress`` (default: bars only when stderr is a terminal)."""
    if any("--progress" in a.option_strings for a in p._actions):
        return
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=default,
                   help="show progress bars even when stderr is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_false", default=default,
                   help="hide progress bars (default: shown only when stderr is a terminal)")


def _leaf_parsers(parser: argparse.ArgumentParser):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
        return
    seen = set()
    for action in subs:
        for child in action.choices.values():
            if id(child) not in seen:
                seen.add(id(child))
                yield from _leaf_parsers(child)


def show_bars(args: argparse.Namespace) -> bool:
    """Whether this command shows progress bars: ``--progress``/``--no-progress``, else stderr is a terminal."""
    choice = getattr(args, "progress", None)
    if choice is not None:
        return bool(choice)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def command_name(args: argparse.Namespace) -> str:
    """The sub-command's name for scratch folders, e.g. ``surrogate-train`` or ``vic-run``."""
    parts = [args.command] + [getattr(args, k) for k in ("surrogate_command", "vic_command")
                              if getattr(args, k, None)]
    return "-".join(str(p) for p in parts if p)


def _record_prog(parser: argparse.ArgumentParser) -> None:
    """Give every sub-command's namespace its ``_prog`` ("vic-paraformer surrogate train"), the name
    usage errors found after parsing are reported under."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(_prog=child.prog)
                _record_prog(child)


def usage_error(args: argparse.Namespace, message: str) -> int:
    """Print ``message`` as argparse prints a usage error (one line) and return its exit status, 2."""
    prog = getattr(args, "_prog", None) or "vic-paraformer"
    hint = "" if "(see " in message else f" (see '{prog} --help')"
    print(f"{prog}: error: {message}{hint}", file=sys.stderr)
    return 2


def _setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if debug else "%(message)s"))
    handler.addFilter(OnceFilter())  # each warning once per command
    root = logging.getLogger("vic_paraformer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The sub-command, with log lines printed above any progress bar instead of through it, and
    ``argv`` recorded in the ``history`` of the netCDF files it writes."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..provenance import command_line
    from ..progress import progress_default
    from ..scratch import command_scratch

    check = getattr(args, "check", None)
    if check is not None:  # the command's option checks (vic_paraformer.cli._checks): before any work
        check(args)
    root = logging.getLogger("vic_paraformer")
    filters = [f for h in root.handlers for f in h.filters]
    with logging_redirect_tqdm(loggers=[root]), progress_default(show_bars(args)), \
            command_line(["vic-paraformer", *argv]), \
            command_scratch(command_name(args), getattr(args, "scratch", None), on_interrupt=kill_children), \
            _cluster(getattr(args, "scheduler", None)):
        for h in root.handlers:  # the bar-aware handler keeps the once-per-command filter
            for f in filters:
                if f not in h.filters:
                    h.addFilter(f)
        return int(args.func(args) or 0)


def _cluster(scheduler: str | None):
    """The command's Dask cluster (:func:`vic_paraformer.cluster.use_scheduler`), or nothing."""
    if scheduler is None:
        import contextlib

        return contextlib.nullcontext()
    from ..cluster import use_scheduler

    return use_scheduler(scheduler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug, args.quiet)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _install_sigterm()
    try:
        return _run(args, sys.argv[1:] if argv is None else argv)
    except Terminated:
        kill_children()
        print("vic-paraformer: terminated (SIGTERM); workers stopped, no partial output was written",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        kill_children()
        print("vic-paraformer: interrupted; workers stopped, no partial output was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (``... | head``): stop quietly, as shell tools do
        kill_children()
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except OptionError as exc:  # an invalid option value or combination: a usage error, as argparse's
        if args.debug:
            raise
        return usage_error(args, str(exc).replace("\n", " ").strip() or type(exc).__name__)
    except (VicParaformerError, FileNotFoundError, PermissionError, ValueError) as exc:
        if args.debug:
            raise
        msg = str(exc).replace("\n", " ").strip() or type(exc).__name__
        print(f"vic-paraformer: error: {msg}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - unexpected: still one line unless --debug
        if args.debug:
            raise
        text = str(exc).replace("\n", " ").strip()
        print(f"vic-paraformer: unexpected error: {type(exc).__name__}: {text} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _install_sigterm():
    """Handle SIGTERM like Ctrl-C (main thread only); return the handler to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, raise_terminated)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
