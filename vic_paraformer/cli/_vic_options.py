"""The options every command that runs the real VIC shares: ``--workers --exe --mpi-procs --timeout --workdir``.

``--workers`` is the number of VIC runs at once (parameter sets of an ensemble, through
:class:`~vic_paraformer.ensemble.EnsembleRunner`); ``--mpi-procs`` runs each VIC process under
``mpiexec -n N``; ``--timeout`` kills a VIC run that takes longer (seconds); ``--workdir`` is the
folder for run directories (any path; relative ones are made absolute). They set the simulator's
``run_options`` (a class attribute, :mod:`vic_paraformer.simulators.base`): given for a simulator
without them (e.g. ``waterbalance``) they are an error.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..config import OptionError
from ._types import positive_float, positive_int

#: The flags, named as the simulator options they set.
VIC_FLAGS = ("exe", "mpi_procs", "timeout", "workdir", "keep_runs")


def add_vic_options(p: argparse.ArgumentParser, *, workers: bool = True, keep_runs: bool = True,
                    workers_help: str = "VIC runs at once for ensembles (default 1)",
                    scratch_help: str = "VIC run directories unless --workdir") -> None:
    """Add the shared VIC options (and ``--scratch``) to ``p``."""
    from ._scratch import add_scratch_argument

    add_scratch_argument(p, scratch_help)
    g = p.add_argument_group("VIC runs (with --simulator vic)")
    if workers:
        g.add_argument("--workers", type=positive_int, default=None, help=workers_help)
    g.add_argument("--exe", help="vic_image.exe (default: $VIC_IMAGE_EXE, then PATH)")
    g.add_argument("--mpi-procs", type=positive_int, default=None, help="run each VIC process under mpiexec -n N")
    g.add_argument("--timeout", type=positive_float, default=None, help="seconds one VIC run may take before it is killed "
                                                               "(default 3600)")
    g.add_argument("--workdir", help="folder for VIC run directories, kept (default: inside the --scratch folder)")
    if keep_runs:
        g.add_argument("--keep-runs", action="store_true", default=None, help="keep the VIC run directories")


def vic_simulator_options(args: argparse.Namespace, simulator: str | None, *, progress: bool | None = None) -> dict[str, Any]:
    """The run options given on the command line (empty for a simulator without them; error if given there)."""
    from ..simulators.base import simulator_class

    accepted = simulator_class(simulator).run_options
    given = {k: getattr(args, k) for k in VIC_FLAGS if getattr(args, k, None) not in (None, False)}
    if not set(VIC_FLAGS) <= set(accepted):
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise OptionError(f"{flags} only apply to --simulator vic (or another simulator that takes these run "
                              f"options; the simulator here is {simulator!r})")
        return {}
    if given.get("workdir") is not None:
        from pathlib import Path

        given["workdir"] = str(Path(given["workdir"]).expanduser().resolve())
    if given.get("mpi_procs") is not None and given["mpi_procs"] < 1:
        raise OptionError(f"--mpi-procs must be >= 1, got {given['mpi_procs']}")
    if given.get("timeout") is not None and given["timeout"] <= 0:
        raise OptionError(f"--timeout must be > 0 seconds, got {given['timeout']}")
    if progress is not None and "progress" in accepted:
        given["progress"] = bool(progress)
    return given


def workers(args: argparse.Namespace, default: int = 1) -> int:
    n = getattr(args, "workers", None)
    n = default if n is None else int(n)
    if n < 1:
        raise OptionError(f"--workers must be >= 1, got {n}")
    return n
