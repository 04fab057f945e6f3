"""Progress bars: off in library calls unless asked for, on in the command-line tool.

Every function that can show a tqdm bar takes ``progress: bool | None = None``; ``None`` means
"the process-wide default", which is off until :func:`set_progress_default` turns it on (the
``vic-paraformer`` command does, for the duration of a sub-command, through
:func:`progress_default`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

_DEFAULT = False


def show_progress(progress: bool | None = None) -> bool:
    """Whether to show a bar: ``progress`` when given, else the process-wide default."""
    return _DEFAULT if progress is None else bool(progress)


def set_progress_default(on: bool) -> None:
    """Set the process-wide default of :func:`show_progress`."""
    global _DEFAULT
    _DEFAULT = bool(on)


@contextlib.contextmanager
def progress_default(on: bool = True) -> Iterator[None]:
    """Temporarily set the process-wide default (restored on exit)."""
    old = _DEFAULT
    set_progress_default(on)
    try:
        yield
    finally:
        set_progress_default(old)
