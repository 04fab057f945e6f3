"""Child processes die with their command.

* :func:`die_with_parent` (in a worker or child process): the kernel sends SIGKILL when the parent
  dies (Linux ``PR_SET_PDEATHSIG``), and a watchdog thread exits the process as soon as the command's
  process (``owner``) is gone, which also covers workers whose parent is a fork server.
* :func:`kill_children` (in the command, on Ctrl-C or SIGTERM): kill the multiprocessing children
  and the VIC runs still going, without waiting for their work.
* :class:`Terminated`: what SIGTERM raises in the command-line program (a ``KeyboardInterrupt``, so
  every clean-up written for Ctrl-C runs for it too).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def raise_terminated(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    """Signal handler: turn SIGTERM into :class:`Terminated` in the main thread."""
    raise Terminated()


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "prctl") else None
    except OSError:
        return None


# Loaded once here, so the call in a freshly forked child (preexec_fn) does no loading.
_LIBC = _load_libc()


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only)."""
    if _LIBC is None:
        return False
    return _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent(owner: int | None = None, interval: float = 0.5) -> None:
    """Make this process exit when its parent, or the process ``owner``, dies."""
    parent = os.getppid()
    set_parent_death_signal()
    if parent == 1 or (owner is not None and not _alive(owner)):
        os._exit(1)  # the command is already gone

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent or (owner is not None and not _alive(owner)):
                os._exit(1)

    threading.Thread(target=watch, name="vicpf-watch-parent", daemon=True).start()


def ignore_interrupts() -> None:
    """In a worker process: ignore Ctrl-C (SIGINT), which a terminal sends to every process of the
    command; the command kills its workers itself, so none prints a traceback of its own."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # pragma: no cover - not the main thread
        pass


def start_forkserver() -> None:
    """Start the ``multiprocessing`` fork server (if not running) with Ctrl-C ignored: the disposition
    is inherited through exec, so a Ctrl-C while it imports its preloads cannot print a traceback
    (the command stops it)."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, old)


def child_preexec() -> None:
    """``preexec_fn`` for external programs (VIC): SIGKILL when the launching thread's process dies."""
    set_parent_death_signal()


def kill_children() -> int:
    """Kill this process's multiprocessing children and running VIC processes; return how many."""
    import multiprocessing as mp

    n = 0
    for child in mp.active_children():
        with contextlib.suppress(Exception):
            child.kill()
            n += 1
    runner = sys.modules.get("vic_paraformer.vic.runner")
    if runner is not None:
        with contextlib.suppress(Exception):
            runner.kill_all()
    for child in mp.active_children():
        with contextlib.suppress(Exception):
            child.join(timeout=2)
    return n
