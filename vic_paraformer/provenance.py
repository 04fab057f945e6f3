"""Provenance of results, checkpoints and written files: the versions of the libraries that shape
them, and the command line or Python call recorded in a netCDF file's ``history`` (light: imports
nothing beyond the standard library, so the command line can record itself before any work)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Iterator, Sequence

from ._version import __version__


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results (stored with every result and checkpoint)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("vic-paraformer", "torch", "numpy", "xarray", "spotpy", "dask"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


_command: list[str] | None = None


@contextlib.contextmanager
def command_line(argv: Sequence[str]) -> Iterator[None]:
    """Within the block, files written record ``argv`` (the program name first) in their history."""
    global _command
    previous, _command = _command, [str(a) for a in argv]
    try:
        yield
    finally:
        _command = previous


def history_line(call: str) -> str:
    """``"<UTC ISO time>: <command line or Python call> (vic_paraformer <version>)"``. The time is
    now, or the environment variable ``SOURCE_DATE_EPOCH`` (seconds since 1970) when set, so that
    the same inputs can give byte-identical files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    stamp = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch.isdigit() else \
        _dt.datetime.now(_dt.timezone.utc)
    now = stamp.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if _command is not None:
        what = shlex.join(_command)
    else:
        script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] not in ("", "-", "-c") else ""
        what = f"Python API {call}" + (f" (in {script})" if script else "")
    return f"{now}: {what} (vic_paraformer {__version__})"
