"""``--spinup-years``: years of spin-up (first year repeated) before every simulator run.

Default: the simulator class's ``default_spinup_years`` (1 for ``vic``, which otherwise starts
from the parameter file's ``init_moist``; 0 for ``waterbalance``, whose documented initial state
the synthetic twins are generated from). The value becomes the simulator option ``spinup_years``
(:func:`vic_paraformer.workflow.with_spinup`).
"""

from __future__ import annotations

import argparse

from ._types import non_negative_int
from ..workflow import with_spinup as _with_spinup


def add_spinup_argument(p: argparse.ArgumentParser, default_text: str = "1 for vic, 0 for waterbalance") -> None:
    p.add_argument("--spinup-years", type=non_negative_int, default=None, metavar="N",
                   help=f"repeat the first year N times before every simulator run (default: {default_text})")


def spinup_years(args: argparse.Namespace, simulator: str | None) -> int:
    """The spin-up for ``simulator`` from ``args`` (``--spinup-years``) or the simulator's default."""
    return int(_with_spinup({}, getattr(args, "spinup_years", None), simulator, flag="--spinup-years")["spinup_years"])


def with_spinup(options: dict | None, args: argparse.Namespace, simulator: str | None) -> dict:
    """Simulator ``options`` with ``spinup_years`` set (a conflicting explicit value is an error)."""
    return _with_spinup(options, getattr(args, "spinup_years", None), simulator, flag="--spinup-years")
