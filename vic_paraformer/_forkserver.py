"""Imported only by the ``multiprocessing`` fork server (as a preload of
:class:`~vic_paraformer.ensemble.EnsembleRunner`'s pool): the fork server is killed with its
command process instead of shutting down its preloaded torch for seconds after it."""

from __future__ import annotations

from ._procs import set_parent_death_signal

set_parent_death_signal()
