"""Imported only by the ``multiprocessing`` fork server (as a preload of
:class:`~vic_paraformer.ensemble.EnsembleRunner`'s pool): the fork server is killed with its
command process instead of shutting down its preloaded torch for seconds after it; it and the
workers it forks ignore Ctrl-C (the command stops them), and a worker whose start is cut short
because the command is going away (its start-up data gone: ``OSError``, ``EOFError``) exits
without a traceback."""

from __future__ import annotations

import signal
import sys

from ._procs import set_parent_death_signal

set_parent_death_signal()
try:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # kept by the forked workers (the server's own handler)
except (ValueError, OSError):  # pragma: no cover - not the main thread
    pass

_default_hook = sys.excepthook


def _quiet_start_failure(exc_type, exc, tb) -> None:
    if issubclass(exc_type, (OSError, EOFError)):
        return  # the command went away while the worker started: nothing to report
    _default_hook(exc_type, exc, tb)


sys.excepthook = _quiet_start_failure
