"""``--scratch DIR``: where a command keeps its temporary files (see :mod:`vic_paraformer.scratch`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def scratch_folder(text: str) -> str:
    """argparse type of ``--scratch``: a folder, or a path where one can be made (not a file)."""
    p = Path(text).expanduser()
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return str(p)


def existing_folder(text: str) -> str:
    """argparse type of ``clean --scratch``: an existing folder."""
    p = Path(text).expanduser()
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder" if p.exists() else f"folder {text} not found")
    return str(p)


def add_scratch_argument(p: argparse.ArgumentParser, what: str) -> None:
    """Add ``--scratch DIR`` to ``p``; ``what`` says what goes there."""
    p.add_argument("--scratch", type=scratch_folder, default=None, metavar="DIR",
                   help=f"parent of this command's scratch folder vic-paraformer-<command>-XXXXXXXX ({what}); "
                        "default: the system temp folder ($TMPDIR or /tmp); removed when the command ends or is "
                        "interrupted, kept after a failed VIC run; 'vic-paraformer clean' removes leftovers")
