"""Scratch space: temporary folders the toolkit makes, in one place, each marked as ours.

Every scratch folder (a command's folder, a training store made for one training, a VIC run
directory) holds a marker file :data:`MARKER` (JSON: the command, process id, host and creation
time). ``vic-paraformer clean`` finds leftover folders by that marker only, never by name, so a
folder without it is never touched.

Where scratch lives
    A command of the ``vic-paraformer`` program makes (on first use) one folder
    ``<root>/vic-paraformer-<command>-XXXXXXXX/``, ``<root>`` being ``--scratch DIR`` or, by default,
    the system temp folder (:func:`tempfile.gettempdir`: ``$TMPDIR``, else ``/tmp``). Everything
    the command needs temporarily goes inside it. The folder is removed when the command succeeds
    and when it is interrupted (Ctrl-C, SIGTERM); it is kept, and named in a warning, when a VIC run
    failed (the error line names the run directory inside it) so it can be inspected. A process
    killed with SIGKILL cannot clean up: ``vic-paraformer clean`` lists and removes such leftovers.
    Library calls outside a command make their own marked folders under the same default root.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

#: Name of the marker file inside every scratch folder.
MARKER = ".vic-paraformer-scratch"
#: Prefix of the folder names (for readability only: folders are recognised by the marker).
PREFIX = "vic-paraformer-"

_active: "_CommandScratch | None" = None


def default_root() -> Path:
    """The default parent of scratch folders: the system temp folder."""
    return Path(tempfile.gettempdir())


def mark(path: str | os.PathLike, command: str) -> Path:
    """Write the marker into ``path`` (an existing folder); return the folder."""
    folder = Path(path)
    info = {"tool": "vic_paraformer", "command": command, "pid": os.getpid(), "host": socket.gethostname(),
            "created": time.time()}
    (folder / MARKER).write_text(json.dumps(info) + "\n")
    return folder


def make_scratch(label: str, root: str | os.PathLike | None = None) -> Path:
    """A new marked folder ``<root>/vic-paraformer-<label>-XXXXXXXX`` (root: :func:`default_root`)."""
    base = Path(root) if root is not None else default_root()
    base.mkdir(parents=True, exist_ok=True)
    return mark(tempfile.mkdtemp(prefix=f"{PREFIX}{label}-", dir=base), label).resolve()


def read_marker(path: str | os.PathLike) -> dict | None:
    """The marker of ``path`` as a dict, or None when ``path`` is not a scratch folder of this tool."""
    folder = Path(path)
    marker = folder / MARKER
    try:
        if folder.is_symlink() or not folder.is_dir() or marker.is_symlink() or not marker.is_file():
            return None
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("tool") == "vic_paraformer" else None


def remove(path: str | os.PathLike) -> bool:
    """Remove ``path`` if it is a marked scratch folder; return whether it is gone."""
    if read_marker(path) is None:
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not Path(path).exists()


@dataclass(frozen=True)
class Leftover:
    """A scratch folder found by :func:`find_leftovers`."""

    path: Path
    command: str
    pid: int | None
    age_hours: float
    size_bytes: int
    in_use: bool


def _pid_alive(pid: int | None, host: str | None) -> bool:
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def find_leftovers(root: str | os.PathLike | None = None) -> list[Leftover]:
    """The marked scratch folders directly under ``root`` (default :func:`default_root`), oldest first.

    ``in_use`` is True when the process that made a folder still runs on this host.
    """
    base = Path(root) if root is not None else default_root()
    out = []
    now = time.time()
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    for entry in entries:
        info = read_marker(entry)
        if info is None:
            continue
        try:
            created = float(info.get("created", entry.stat().st_mtime))
        except (TypeError, ValueError, OSError):
            created = now
        pid = info.get("pid")
        out.append(Leftover(path=entry, command=str(info.get("command", "?")), pid=pid,
                            age_hours=max(0.0, (now - created) / 3600.0), size_bytes=_size(entry),
                            in_use=_pid_alive(pid, info.get("host")) and pid != os.getpid()))
    return sorted(out, key=lambda x: -x.age_hours)


class _CommandScratch:
    """The scratch folder of one command, made on first use."""

    def __init__(self, command: str, root: Path | None) -> None:
        self.command = command
        self.root = root
        self.path: Path | None = None

    def folder(self) -> Path:
        if self.path is None:
            self.path = make_scratch(self.command, self.root)
        return self.path


def adopt_folder(path: str | os.PathLike) -> None:
    """In a worker process: use the command's scratch folder ``path`` (made by the command) as its own."""
    global _active
    _active = _CommandScratch("worker", None)
    _active.path = Path(path)


def active_folder() -> Path | None:
    """The running command's scratch folder (made now if needed), or None outside a command."""
    return _active.folder() if _active is not None else None


def scratch_subdir(label: str) -> Path:
    """A new folder for temporary files: inside the command's scratch folder, else a marked folder of its own."""
    parent = active_folder()
    if parent is None:
        return make_scratch(label)
    path = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=parent)).resolve()
    return mark(path, label)


def _keeps(exc: BaseException | None) -> bool:
    from .errors import VICError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, VICError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


@contextlib.contextmanager
def command_scratch(command: str, root: str | os.PathLike | None = None,
                    on_interrupt=None) -> Iterator["_CommandScratch"]:
    """Give the enclosed command a scratch folder (made on first use, see the module docstring).

    It is removed on success and on interrupt (after ``on_interrupt()``, which stops the children that
    may still write in it), kept when a VIC run failed.
    """
    global _active
    previous = _active
    current = _CommandScratch(command, Path(root).expanduser().resolve() if root is not None else None)
    _active = current
    try:
        yield current
    except BaseException as exc:
        if current.path is not None:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or not _keeps(exc):
                if isinstance(exc, KeyboardInterrupt) and on_interrupt is not None:
                    on_interrupt()
                remove(current.path)
            else:
                log.warning("scratch folder %s kept for inspection; 'vic-paraformer clean --yes' removes it",
                            current.path)
        raise
    else:
        if current.path is not None:
            remove(current.path)
    finally:
        _active = previous


__all__ = ["MARKER", "Leftover", "active_folder", "adopt_folder", "command_scratch", "default_root", "find_leftovers",
           "make_scratch", "mark", "read_marker", "remove", "scratch_subdir"]
