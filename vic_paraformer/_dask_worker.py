"""What runs inside a Dask worker process: its one-time preparation, the task wrapper, input probes.

Imported by the workers (through :mod:`vic_paraformer.cluster` on the submitting side); it needs no
Dask import itself.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

#: Name under which :class:`vic_paraformer._dask_plugin.ScratchPlugin` is registered on a cluster.
PLUGIN_NAME = "vic-paraformer-scratch"

_prepared: bool = False  # this (worker) process has its torch thread count and scratch folder
_made: Path | None = None  # the scratch folder made here (removed by the plugin's teardown)
_lock = threading.Lock()
#: Set in the process that submits work: Dask workers running as threads of that same process
#: (``processes=False``) leave its scratch folder and torch settings alone.
submitting_process: bool = False


def _prepare(local_directory: str | None = None) -> None:
    """Once per worker process: one torch thread, and a scratch folder in ``local_directory``.

    A worker running inside the submitting process (a threads-only cluster) keeps that process's
    scratch folder and torch settings.
    """
    global _prepared, _made
    with _lock:
        if _prepared or submitting_process:
            return
        _prepared = True
        from . import scratch

        if scratch._active is not None:
            return
        if local_directory is None:
            try:
                from dask.distributed import get_worker

                local_directory = get_worker().local_directory
            except (ImportError, ValueError):
                local_directory = None
        _made = scratch.make_scratch("dask-worker", local_directory)
        scratch.adopt_folder(_made)
        try:
            import torch

            torch.set_num_threads(1)
        except Exception:  # pragma: no cover - torch is a hard dependency
            pass
        log.debug("worker scratch folder %s", _made)


def _teardown() -> None:
    """Remove the scratch folder this process made (worker closing)."""
    global _made
    from . import scratch

    if _made is not None:
        scratch.remove(_made)
        _made = None


def run_task(func: Callable, *args: Any) -> Any:
    """``func(*args)`` on a worker, after :func:`_prepare` (what the runner submits to Dask)."""
    _prepare()
    return func(*args)


def _probe(paths: Mapping[str, str]) -> list[str]:
    """On a worker: a line for every path of ``paths`` (path -> what) that cannot be read."""
    problems = []
    for path, what in paths.items():
        p = Path(path)
        try:
            if p.is_dir():
                os.listdir(p)
            else:
                with open(p, "rb") as fh:
                    fh.read(1)
                if what.startswith("VIC executable") and not os.access(p, os.X_OK):
                    raise PermissionError("not executable")
        except OSError as exc:
            problems.append(f"{what} {path}: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - reported, not raised, on the worker
            problems.append(f"{what} {path}: {exc}")
    return problems


def _host() -> str:
    return socket.gethostname()


def scratch_folder() -> str | None:
    """This worker's scratch folder (None before its first task)."""
    from . import scratch

    return str(scratch._active.path) if scratch._active is not None and scratch._active.path else None


__all__ = ["PLUGIN_NAME", "run_task", "scratch_folder"]
