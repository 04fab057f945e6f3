"""``--spinup-years``: years of spin-up (first year repeated) before every simulator run.

Default: 1 for the ``vic`` simulator (VIC otherwise starts from the parameter file's
``init_moist``), 0 for ``waterbalance`` (its documented initial state; the synthetic twins are
generated from it). The value becomes the simulator option ``spinup_years``.
"""

from __future__ import annotations

import argparse

from ..config import ConfigError

DEFAULT_SPINUP_YEARS: dict[str, int] = {"vic": 1}


def add_spinup_argument(p: argparse.ArgumentParser, default_text: str = "1 for vic, 0 for waterbalance") -> None:
    p.add_argument("--spinup-years", type=int, default=None, metavar="N",
                   help=f"repeat the first year N times before every simulator run (default: {default_text})")


def spinup_years(args: argparse.Namespace, simulator: str | None) -> int:
    """The spin-up for ``simulator`` from ``args`` (``--spinup-years``) or the default above."""
    n = getattr(args, "spinup_years", None)
    if n is None:
        return DEFAULT_SPINUP_YEARS.get(str(simulator or ""), 0)
    if n < 0:
        raise ConfigError(f"--spinup-years {n}: expected a whole number >= 0")
    return int(n)


def with_spinup(options: dict | None, args: argparse.Namespace, simulator: str | None) -> dict:
    """Simulator ``options`` with ``spinup_years`` set (a conflicting explicit value is an error)."""
    out = dict(options or {})
    n = spinup_years(args, simulator)
    if "spinup_years" in out and getattr(args, "spinup_years", None) is not None and int(out["spinup_years"]) != n:
        raise ConfigError("spinup_years given both as --spinup-years and as a simulator option")
    out.setdefault("spinup_years", n)
    return out
