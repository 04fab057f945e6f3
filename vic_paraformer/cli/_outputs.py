"""Shared ``--overwrite`` option and the pre-flight output check of every command."""

from __future__ import annotations

import argparse
import os

from ..outputs import check_output


def add_overwrite(p: argparse.ArgumentParser) -> None:
    """Add ``--overwrite``: allow replacing an existing file of another kind (never an input)."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file even if it is of another kind (inputs are never replaced)")


def guard(args: argparse.Namespace, path, kind: str, *, option: str = "--out", required: bool = True,
          **inputs: str | os.PathLike | None):
    """Check one output of a command before any work (see :func:`vic_paraformer.outputs.check_output`).

    ``inputs`` are given as keyword arguments named after their options (``region=args.region`` is
    reported as ``--region``).
    """
    named = {"--" + k.rstrip("_").replace("_", "-"): v for k, v in inputs.items()}
    return check_output(path, kind=kind, option=option, inputs=named, required=required,
                        overwrite=bool(getattr(args, "overwrite", False)))
