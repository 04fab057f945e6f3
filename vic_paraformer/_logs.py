"""Log records: each warning once per command, and the warnings of worker processes shown by the command.

* :class:`OnceFilter` (a handler filter the ``vic-paraformer`` command installs): a record of
  level WARNING or above whose text was already shown is dropped, so a warning raised by every
  worker, every cell or every call of a shared check appears once.
* :class:`WorkerLogs` (used by :class:`~vic_paraformer.ensemble.EnsembleRunner`): a queue the
  pool's workers send their ``vic_paraformer`` records to (:func:`worker_logging` in each worker)
  and a thread of the command that hands them to the command's own loggers. The command never
  writes to the queue, so workers killed on Ctrl-C cannot leave it blocked.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue as _queue
import threading
from typing import Any

ROOT = "vic_paraformer"


class OnceFilter(logging.Filter):
    """Drop a WARNING-or-above record whose message was already let through (by this filter)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.levelno, record.getMessage())
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        return True


def worker_logging(log_queue: Any, level: int) -> None:
    """In a worker process: send the package's records of at least ``level`` to ``log_queue``."""
    if log_queue is None:
        return
    root = logging.getLogger(ROOT)
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    root.setLevel(level)
    root.propagate = False


class WorkerLogs:
    """A queue for the records of worker processes and the thread that logs them here."""

    def __init__(self, ctx) -> None:
        self.queue = ctx.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="vicpf-worker-logs", daemon=True)
        self._thread.start()

    @staticmethod
    def level() -> int:
        """The level the workers should send: this process's effective level of the package logger."""
        return logging.getLogger(ROOT).getEffectiveLevel()

    def _handle(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                record = self.queue.get(timeout=0.1)
            except _queue.Empty:
                continue
            except (EOFError, OSError, ValueError):  # queue closed
                return
            self._handle(record)

    def stop(self, drain: bool = True) -> None:
        """Stop the thread; with ``drain`` first log what the (finished) workers sent last."""
        self._stop.set()
        self._thread.join(timeout=2)
        while drain:
            try:
                self._handle(self.queue.get(timeout=0.05))
            except (_queue.Empty, EOFError, OSError, ValueError):
                break
        self.queue.close()
