"""Dask clusters of worker processes: connecting, worker-local scratch and shared inputs.

:class:`~vic_paraformer.ensemble.EnsembleRunner` sends its tasks to a Dask cluster when it is given a
client or a scheduler address (``tcp://host:port``), or when a command runs under
``vic-paraformer --scheduler tcp://host:port`` (:func:`use_scheduler`). This module holds what such
a cluster needs beyond submitting tasks:

Worker-local scratch
    Every task runs through :func:`run_task` (:mod:`vic_paraformer._dask_worker`), which gives the worker process (once) one torch
    thread and a scratch folder of its own, :func:`vic_paraformer.scratch.make_scratch` inside the
    worker's local directory (``dask worker --local-directory``, default the system temp folder;
    on a cluster node point it at node-local disk). VIC run directories and temporary files go
    there, never to the submitting machine's folders. The folder is removed when the worker
    closes (:class:`vic_paraformer._dask_plugin.ScratchPlugin`); a worker killed with SIGKILL leaves it, and Dask purges its
    stale local directory when the next worker starts there.
Shared inputs
    Inputs are read by the workers at the same absolute paths as on the submitting machine: a
    region opened lazily, the VIC global parameter file and every file it names (parameters,
    domain, forcings), the VIC executable, surrogate checkpoints. This assumes a file system
    shared by all workers. :func:`check_shared_paths` checks it on every worker before the first
    task and raises :class:`SharedPathError` naming the worker and the path it cannot read.
A worker lost mid-task
    The scheduler reruns the tasks of a dead worker on the others (up to Dask's
    ``distributed.scheduler.allowed-failures`` deaths per task). Every task is a pure function of
    its inputs (each cell's optimiser is seeded from ``(seed, cell)``), and the runner takes exactly
    one result per task, stored by position, so a rerun gives the same value and nothing is
    counted twice or lost. The region is broadcast to every worker, so losing one worker loses
    no input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ._dask_worker import PLUGIN_NAME, _host, _probe, run_task
from .errors import SimulatorError

log = logging.getLogger(__name__)

_client: Any = None  # the client of use_scheduler(), shared by every runner of the command


class SharedPathError(SimulatorError):
    """A Dask worker cannot read an input that must be on a shared file system."""


# ----------------------------------------------------------------------------- connecting
def connect(scheduler: str, timeout: str = "30s"):
    """A :class:`dask.distributed.Client` connected to ``scheduler`` (``tcp://host:port``)."""
    if not isinstance(scheduler, str) or "://" not in scheduler and ":" not in scheduler:
        raise SimulatorError(f"--scheduler: expected a Dask scheduler address like tcp://host:8786, got {scheduler!r}")
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=timeout, set_as_default=False)  # never the global dask scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise SimulatorError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None


def active_client():
    """The client of the enclosing :func:`use_scheduler`, or None."""
    return _client


@contextlib.contextmanager
def use_scheduler(scheduler: str | None) -> Iterator[Any]:
    """Send every ensemble of the enclosed code to the Dask cluster at ``scheduler`` (None: nothing).

    One client is opened and shared by every :class:`~vic_paraformer.ensemble.EnsembleRunner` made
    inside without a back-end of its own; it is closed on exit.
    """
    global _client
    if scheduler is None:
        yield None
        return
    previous = _client
    client = connect(scheduler)
    _client = client
    try:
        yield client
    finally:
        _client = previous
        client.close()


# ----------------------------------------------------------------------------- worker side
# ----------------------------------------------------------------------------- submitting side
def prepare_cluster(client) -> None:
    """Register :class:`~vic_paraformer._dask_plugin.ScratchPlugin` on ``client``'s cluster (idempotent)."""
    from . import _dask_worker
    from ._dask_plugin import ScratchPlugin

    _dask_worker.submitting_process = True
    try:
        client.register_plugin(ScratchPlugin(), name=PLUGIN_NAME)
    except Exception as exc:  # noqa: BLE001 - tasks still make their folder on first use
        log.debug("could not register the scratch plugin: %s", exc)


def check_shared_paths(client, paths: Mapping[str | os.PathLike, str]) -> None:
    """Check that every worker of ``client`` can read every path of ``paths`` (path -> what it is).

    Raises :class:`SharedPathError` naming the first worker (address and host) that cannot, the
    path and the reason. Nothing is checked without workers or paths.
    """
    wanted = {str(Path(p).absolute()): str(w) for p, w in paths.items()}
    if not wanted:
        return
    answers = client.run(_probe, wanted)
    hosts = client.run(_host)
    bad = {addr: lines for addr, lines in sorted(answers.items()) if lines}
    if not bad:
        log.debug("%d shared input(s) readable on %d worker(s)", len(wanted), len(answers))
        return
    addr, lines = next(iter(bad.items()))
    more = f"; {len(lines) - 1} more input(s) unreadable there" if len(lines) > 1 else ""
    others = f"; {len(bad) - 1} other worker(s) affected" if len(bad) > 1 else ""
    raise SharedPathError(f"Dask worker {addr} (host {hosts.get(addr, '?')}) cannot read the {lines[0]}{more}{others}; "
                          "inputs must be on a shared file system, at the same path on every worker")


def shared_inputs(simulator, region) -> dict[str, str]:
    """The files the workers read for ``simulator`` on ``region`` (path -> what it is).

    A region opened lazily is read on the workers from its file. For a region imported from VIC
    (attribute ``vic_global_param_file``) with the ``vic`` simulator or none named: the global
    parameter file and, when this machine can parse it, the parameter, domain and forcing files it
    names, and the executable when the simulator names one (else each worker finds its own). This
    machine needs no VIC executable.
    """
    out: dict[str, str] = {}
    if region is None:
        return out
    if getattr(region, "lazy", False) and getattr(region, "source", None):
        out[str(region.source)] = "region file"
    name = getattr(simulator, "name", simulator)
    if name in (None, "vic") and "vic_global_param_file" in region.ds.attrs:
        out.update(_vic_inputs(region, simulator if not isinstance(simulator, (str, type(None))) else None))
    return out


def _vic_inputs(region, simulator=None) -> dict[str, str]:
    from .vic.globalfile import GlobalParamFile
    from .vic.importer import global_file_of

    gpath, variables = global_file_of(region)
    options = getattr(simulator, "options", {}) or {}
    if options.get("global_param_file") is not None:
        gpath = Path(options["global_param_file"])
    variables = {**variables, **(options.get("variables") or {})}
    out = {str(gpath): "VIC global parameter file"}
    if options.get("exe") is not None:
        out[str(Path(options["exe"]).expanduser().absolute())] = "VIC executable"
    try:
        gf = GlobalParamFile.read(gpath, variables)
        template = options.get("template_params") or gf.parameters_path
        out[str(template)] = "VIC parameter file"
        out[str(gf.domain_path)] = "VIC domain file"
        years = range(region.times[0].year, region.times[-1].year + 1)
        for f in gf.forcing_files(years).values():
            out[str(f)] = "VIC forcing file"
    except Exception as exc:  # noqa: BLE001 - this machine cannot parse it: the workers' check names the file
        log.debug("VIC inputs not listed beyond the global file: %s", exc)
    return out


def _fields(obj: Any) -> Iterable[tuple[str, Any]]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return ((f.name, getattr(obj, f.name, None)) for f in dataclasses.fields(obj))
    d = getattr(obj, "__dict__", None)
    return d.items() if isinstance(d, dict) else ()


def task_inputs(items: Iterable[Any], depth: int = 3) -> dict[str, str]:
    """The shared inputs of per-cell tasks: simulators with their regions and checkpoint paths found
    among the items' attributes (at most ``depth`` levels down; the first item of each kind suffices)."""
    import xarray as xr

    from .region import Region
    from .simulators.base import Simulator

    out: dict[str, str] = {}
    seen: set[int] = set()

    def walk(obj: Any, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        attrs = list(_fields(obj))
        sims = [v for _, v in attrs if isinstance(v, Simulator)] or \
            [v for k, v in attrs if k == "simulator" and isinstance(v, str)]
        regions = [v for _, v in attrs if isinstance(v, Region)] + \
            [Region(v, validate=False) for _, v in attrs if isinstance(v, xr.Dataset) and "cell" in v.dims]
        for sim in sims or [None]:
            for reg in regions:
                out.update(shared_inputs(sim, reg))
        for name, value in attrs:
            if isinstance(value, (str, Path)) and ("path" in name or "file" in name or "checkpoint" in name):
                p = Path(value)
                if p.is_absolute() and p.exists():
                    out.setdefault(str(p), name.replace("_", " "))
            elif not isinstance(value, (Simulator, Region, xr.Dataset, str, bytes, int, float, type(None))) and \
                    (dataclasses.is_dataclass(value) or hasattr(value, "__dict__")):
                walk(value, level + 1)

    for item in list(items)[:1]:
        walk(item, 0)
    return out


def worker_scratch_folders(client) -> dict[str, str | None]:
    """Each worker's scratch folder (address -> path, None before its first task)."""
    from ._dask_worker import scratch_folder

    return client.run(scratch_folder)


__all__ = ["SharedPathError", "active_client", "check_shared_paths", "connect", "prepare_cluster",
           "run_task", "shared_inputs", "task_inputs", "use_scheduler", "worker_scratch_folders"]
