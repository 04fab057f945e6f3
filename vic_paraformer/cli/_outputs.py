"""Shared ``--overwrite`` option and the pre-flight output check of every command."""

from __future__ import annotations

import argparse
import os

from ..outputs import MIN_FREE_BYTES, check_output


def add_overwrite(p: argparse.ArgumentParser) -> None:
    """Add ``--overwrite``: allow replacing an existing file of another kind (never an input)."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file even if it is of another kind (inputs are never replaced)")


def guard(args: argparse.Namespace, path, kind: str, *, option: str = "--out", required: bool = True,
          need_bytes: int | None = None, what: str = "", **inputs: str | os.PathLike | None):
    """Check one output of a command before any work (see :func:`vic_paraformer.outputs.check_output`).

    ``inputs`` are given as keyword arguments named after their options (``region=args.region`` is
    reported as ``--region``). ``need_bytes``: the output's estimated size where the command knows
    it before any work (:func:`vic_paraformer.outputs.estimate_bytes`; ``what`` says what it counts).
    """
    named = {"--" + k.rstrip("_").replace("_", "-"): v for k, v in inputs.items()}
    extra = {} if need_bytes is None else {"need_bytes": max(int(need_bytes), MIN_FREE_BYTES), "what": what}
    return check_output(path, kind=kind, option=option, inputs=named, required=required,
                        overwrite=bool(getattr(args, "overwrite", False)), **extra)
