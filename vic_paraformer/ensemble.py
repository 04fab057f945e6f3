"""Ensemble runner: one simulator over many parameter sets and cells, locally or on Dask.

:class:`EnsembleRunner` has one interface and two back-ends:

``backend="local"`` (default)
    With ``n_workers=1`` everything runs in this process (for ``waterbalance`` that is vectorised
    torch over all series of a chunk). With ``n_workers > 1`` (default: all cores) tasks go to a
    persistent process pool (``forkserver`` start method on Linux, ``spawn`` elsewhere; each worker
    uses one torch thread).
``backend="dask"``
    A :class:`dask.distributed.Client` passed as ``client=``, or one connected to ``scheduler=``
    (``"tcp://host:port"``; the runner closes clients it opened itself), or the client of an
    enclosing :func:`vic_paraformer.cluster.use_scheduler` (``vic-paraformer --scheduler``), which
    every runner made without ``backend``, ``client`` or ``scheduler`` then uses. Tasks run on the
    workers through :func:`vic_paraformer.cluster.run_task` (worker-local scratch folder, one torch
    thread); before the first task the inputs the workers read (a lazily opened region's file, the
    VIC files) are checked on every worker (:func:`vic_paraformer.cluster.check_shared_paths`). The
    tasks of a worker lost mid-run are rerun on the others by the scheduler; each task's result
    is taken once, by position, so nothing is lost or counted twice (see :mod:`vic_paraformer.cluster`).

Two entry points:

:meth:`EnsembleRunner.run`
    ``(region, params over (sample, cell) or (cell))`` -> Dataset of the simulator outputs over
    ``(sample, cell, time)`` (or ``(cell, time)``) plus the parameters. Work is cut into chunks of at
    most ``chunk_size`` (sample, cell) series so memory stays bounded; with ``out_path`` chunks are
    streamed into a netCDF file (written atomically) and the result is opened lazily from it.
:meth:`EnsembleRunner.map`
    ``func(item)`` for every item (``func`` must be a picklable top-level function), results in input
    order, with a progress bar; used for per-cell tasks (SCE-UA, the VIC driver).

Inputs are built lazily and at most ``2 x workers`` tasks are in flight at once, so neither queued
inputs nor pending results grow with the number of tasks.

A failing chunk or task raises :class:`~vic_paraformer.errors.SimulatorError` naming its cells and
parameters (or its item) and chained to the original exception. Results are identical across
back-ends: each chunk is computed by the same function on the same inputs.

Long module (over 400 lines): one runner with two back-ends (local pool, Dask), chunking and
clean-up on interrupt, which share their bookkeeping.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ._io import atomic_path
from . import cluster, scratch
from ._logs import WorkerLogs, worker_logging
from ._procs import die_with_parent, ignore_interrupts, start_forkserver
from .outputs import estimate_bytes
from .scratch import adopt_folder
from .errors import SimulatorError
from .parameters import CALIBRATABLE_BY_NAME, PARAMETER_NAMES, ParameterSpace, parameter_set_attrs
from .progress import show_progress
from .region import Period, Region, parse_period
from .simulators.base import OUTPUT_VARS, Simulator, check_params

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 4096


# ----------------------------------------------------------------------------- worker-side functions
def _worker_init(owner: int | None = None, log_queue=None, log_level: int = logging.WARNING,
                 scratch_folder: str | None = None) -> None:
    """Pool worker start-up: one torch thread per process (the pool provides the parallelism);
    the worker exits when the command process ``owner`` dies (:func:`~vic_paraformer._procs.die_with_parent`)
    and ignores Ctrl-C (the command stops its workers itself, without a traceback from each); its
    log records go to the command (``log_queue``, :mod:`vic_paraformer._logs`) and its scratch files
    into the command's scratch folder (:mod:`vic_paraformer.scratch`)."""
    die_with_parent(owner)
    ignore_interrupts()
    worker_logging(log_queue, log_level)
    if scratch_folder is not None:
        adopt_folder(scratch_folder)
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # pragma: no cover - torch is a hard dependency
        pass


@dataclass
class _Chunk:
    """One unit of ensemble work: sample indices x cell indices of the full arrays."""

    index: int
    samples: np.ndarray
    cells: np.ndarray


def _cell_subset(region: Region, cell_ids: np.ndarray) -> Region:
    """``cell_ids`` of an already validated ``region`` as a Region, without validating it again.

    ``Region.subset`` re-validates the whole sub-dataset (every forcing value); a chunk of a
    validated region needs no second check, so this selects by position and skips it.
    """
    if np.array_equal(cell_ids, region.cells):
        return region
    pos = pd.Index(region.cells).get_indexer(cell_ids)
    if (pos < 0).any():
        raise SimulatorError(f"cell id(s) {cell_ids[pos < 0][:5].tolist()} not in the region")
    return Region(region.ds.isel(cell=pos), source=region.source, validate=False)


def _run_chunk(simulator: Simulator, region: Region, cell_ids: np.ndarray, theta: np.ndarray,
               names: Sequence[str], period, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Simulate ``theta`` ``(sample, cell, p)`` for ``cell_ids`` of ``region``; returns float32 arrays
    of the ``outputs`` asked for (default: every output the simulator produces)."""
    sub = _cell_subset(region, cell_ids)
    params = xr.Dataset({n: (("sample", "cell"), theta[..., j]) for j, n in enumerate(names)},
                        coords={"cell": sub.cells}, attrs=parameter_set_attrs(names))
    out = simulator.simulate(sub, params, period=period)
    keep = OUTPUT_VARS if outputs is None else outputs
    return {k: np.asarray(out[k].transpose("sample", "cell", "time").values, dtype=np.float32)
            for k in keep if k in out}


def _describe_params(names: Sequence[str], theta: np.ndarray, limit: int = 3) -> str:
    flat = theta.reshape(-1, theta.shape[-1])
    sets = ["{" + ", ".join(f"{n}={v:.4g}" for n, v in zip(names, row)) + "}" for row in flat[:limit]]
    more = f" and {len(flat) - limit} more" if len(flat) > limit else ""
    return "; ".join(sets) + more


def _short(x: Any, n: int = 200) -> str:
    s = repr(x)
    return s if len(s) <= n else s[: n - 3] + "..."


# ----------------------------------------------------------------------------- the runner
class EnsembleRunner:
    """Run a simulator over many parameter sets and cells (local process pool or Dask).

    Parameters
    ----------
    simulator
        A registered simulator name (default ``"waterbalance"``) or a :class:`Simulator` instance
        (it must be picklable for the pool and Dask back-ends); ``None`` for a runner used only
        through :meth:`map`.
    backend
        ``"local"`` or ``"dask"`` (default: ``"dask"`` when ``client`` or ``scheduler`` is given or a
        :func:`~vic_paraformer.cluster.use_scheduler` is active, else ``"local"``).
    n_workers
        Local back-end: worker processes (default ``os.cpu_count()``; ``1`` runs in-process).
    client, scheduler
        Dask back-end: an existing ``dask.distributed.Client`` or a scheduler address.
    chunk_size
        Maximum (sample, cell) series per chunk of :meth:`run` (default 4096).
    progress
        Show tqdm progress bars (default: the process-wide default of :mod:`vic_paraformer.progress`,
        off in library calls, on in the command-line tool).
    simulator_options
        Options for the simulator when given by name.
    """

    def __init__(self, simulator: str | Simulator = "waterbalance", backend: str | None = None, n_workers: int | None = None,
                 client=None, scheduler: str | None = None, chunk_size: int | None = None, progress: bool | None = None,
                 simulator_options: dict | None = None) -> None:
        if client is not None or scheduler is not None:
            backend = "dask" if backend in (None, "local") else backend
        elif backend is None:
            client = cluster.active_client()
            backend = "local" if client is None else "dask"
        elif backend == "dask" and cluster.active_client() is not None:
            client = cluster.active_client()
        if backend not in ("local", "dask"):
            raise SimulatorError(f"unknown ensemble backend {backend!r}; expected 'local' or 'dask'")
        if simulator is None:
            pass  # map-only runner (per-cell tasks); run() then needs a simulator
        elif isinstance(simulator, str):
            from .registry import get_simulator

            simulator = get_simulator(simulator, **(simulator_options or {}))
        elif simulator_options:
            raise SimulatorError("simulator_options only apply when the simulator is given by name")
        if simulator is not None and not isinstance(simulator, Simulator):
            raise SimulatorError(f"simulator must be a name or a Simulator, got {type(simulator).__name__}")
        self.simulator = simulator
        self.backend = backend
        self.n_workers = int(n_workers) if n_workers is not None else (os.cpu_count() or 1)
        if self.n_workers < 1:
            raise SimulatorError(f"n_workers must be >= 1, got {n_workers}")
        self.chunk_size = int(chunk_size) if chunk_size is not None else DEFAULT_CHUNK_SIZE
        if self.chunk_size < 1:
            raise SimulatorError(f"chunk_size must be >= 1, got {chunk_size}")
        self.progress = show_progress(progress)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._logs: WorkerLogs | None = None
        self._client = client
        self._own_client = False
        if backend == "dask" and client is None:
            if scheduler is None:
                raise SimulatorError("the dask backend needs client= (a dask.distributed.Client) or "
                                     "scheduler='tcp://host:port'")
            self._client = cluster.connect(scheduler)
            self._own_client = True
        if self._client is not None:
            cluster.prepare_cluster(self._client)
        self._checked: set[str] = set()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "EnsembleRunner":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            self.terminate()  # Ctrl-C / SIGTERM: do not wait for the tasks in flight
        self.close()

    def terminate(self) -> None:
        """Kill the pool's worker processes now, abandoning their tasks."""
        if self._pool is not None:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                try:
                    proc.kill()
                except Exception:  # noqa: BLE001 - already gone
                    pass
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._stop_logs(drain=False)
            cleanup = getattr(self.simulator, "cleanup_interrupted", None)
            if cleanup is not None:
                cleanup()  # what the killed workers' external runs left (VIC run folders)

    def close(self) -> None:
        """Shut down the process pool and any Dask client this runner opened."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._stop_logs(drain=True)
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None
            self._own_client = False

    def _stop_logs(self, drain: bool) -> None:
        if self._logs is not None:
            self._logs.stop(drain=drain)
            self._logs = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
        except Exception:
            pass

    @property
    def in_process(self) -> bool:
        """True when work runs in this process (local back-end with one worker)."""
        return self.backend == "local" and self.n_workers == 1

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            if sys.platform.startswith("linux"):
                ctx = mp.get_context("forkserver")
                ctx.set_forkserver_preload(["vic_paraformer._forkserver", "torch", "xarray", "vic_paraformer.ensemble"])
                start_forkserver()
            else:  # pragma: no cover
                ctx = mp.get_context("spawn")
            self._logs = WorkerLogs(ctx)
            folder = scratch.active_folder()
            self._pool = cf.ProcessPoolExecutor(max_workers=self.n_workers, mp_context=ctx, initializer=_worker_init,
                                                initargs=(os.getpid(), self._logs.queue, WorkerLogs.level(),
                                                          None if folder is None else str(folder)))
        return self._pool

    # ------------------------------------------------------------------ generic map
    def _window(self) -> int:
        """How many tasks may be in flight at once (bounds the memory of queued inputs and results)."""
        if self.backend == "dask":
            try:
                return max(2, 2 * sum(self._client.nthreads().values()))
            except Exception:  # pragma: no cover - scheduler without workers yet
                return 8
        return 2 * self.n_workers

    def _execute(self, func: Callable, n: int, make_args: Callable[[int], tuple], desc: str,
                 on_error: Callable[[int, BaseException], Exception],
                 on_result: Callable[[int, Any], None] | None = None) -> list:
        """Run ``func(*make_args(i))`` for ``i < n``; results in order (or handed to ``on_result``).

        Inputs are built lazily and at most :meth:`_window` tasks are in flight, so memory stays
        bounded however many tasks there are.
        """
        results: list = [None] * n
        bar = tqdm(total=n, desc=desc, disable=not self.progress or n == 0, leave=False)

        def done(i: int, value: Any) -> None:
            if on_result is not None:
                on_result(i, value)
            else:
                results[i] = value
            bar.update(1)

        try:
            if self.in_process:
                for i in range(n):
                    try:
                        value = func(*make_args(i))
                    except Exception as exc:
                        raise on_error(i, exc) from exc
                    done(i, value)
            elif self.backend == "local":
                self._run_windowed(func, n, make_args, on_error, done)
            else:
                self._run_dask(func, n, make_args, on_error, done)
        finally:
            bar.close()
        return results

    def _run_windowed(self, func, n, make_args, on_error, done) -> None:
        pool = self._get_pool()
        window = self._window()
        pending: dict[cf.Future, int] = {}
        nxt = 0
        try:
            while nxt < n or pending:
                while nxt < n and len(pending) < window:
                    pending[pool.submit(func, *make_args(nxt))] = nxt
                    nxt += 1
                finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in sorted(finished, key=pending.__getitem__):
                    i = pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        raise on_error(i, exc) from exc
                    done(i, fut.result())
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                self.terminate()  # Ctrl-C / SIGTERM: kill the workers (their VIC runs die with them)
            else:
                for fut in pending:
                    fut.cancel()
            raise

    def _run_dask(self, func, n, make_args, on_error, done) -> None:
        from dask.distributed import as_completed

        client = self._client
        window = self._window()
        index: dict[str, int] = {}
        futures = []
        nxt = 0

        def submit() -> Any:
            nonlocal nxt
            fut = client.submit(cluster.run_task, func, *make_args(nxt), pure=False)
            index[fut.key] = nxt
            futures.append(fut)
            nxt += 1
            return fut

        first = [submit() for _ in range(min(window, n))]
        queue = as_completed(first, loop=client.loop)  # this client, not a global default one
        try:
            for fut in queue:
                i = index[fut.key]
                if fut.status == "error":
                    exc = fut.exception()
                    raise on_error(i, exc) from exc
                done(i, fut.result())
                fut.release()
                if nxt < n:
                    queue.add(submit())
        except BaseException:
            client.cancel([f for f in futures if not f.done()])
            raise

    def check_inputs(self, paths: dict[str, str]) -> None:
        """Dask back-end: check that every worker reads ``paths`` (path -> what it is), once per path.

        Raises :class:`~vic_paraformer.cluster.SharedPathError` naming the worker and the path.
        Nothing to do for the local back-end (its workers share this machine's files).
        """
        if self.backend != "dask":
            return
        todo = {p: w for p, w in paths.items() if p not in self._checked}
        if todo:
            cluster.check_shared_paths(self._client, todo)
            self._checked.update(todo)

    def map(self, func: Callable[[Any], Any], items: Iterable[Any], desc: str = "tasks") -> list:
        """``[func(item) for item in items]`` on the back-end, in input order, with a progress bar.

        ``func`` must be a picklable top-level function unless the runner is in-process. A failing
        task raises :class:`SimulatorError` naming the task index and item. On Dask the inputs the
        items name (:func:`vic_paraformer.cluster.task_inputs`) are checked on the workers first.
        """
        items = list(items)
        if self.backend == "dask":
            self.check_inputs(cluster.task_inputs(items))

        def on_error(i: int, exc: BaseException) -> Exception:
            return SimulatorError(f"{desc}: task {i} of {len(items)} failed for item {_short(items[i])}: "
                                  f"{type(exc).__name__}: {exc}")

        return self._execute(func, len(items), lambda i: (items[i],), desc, on_error)

    # ------------------------------------------------------------------ ensemble simulation
    def chunks(self, n_samples: int, n_cells: int) -> list[_Chunk]:
        """Cut ``n_samples x n_cells`` series into chunks of at most ``chunk_size`` series.

        For a simulator whose ``parallel_unit`` is ``"run"`` (the ``vic`` simulator: one external
        model run per parameter set) each chunk is one sample over all cells (``chunk_size`` is not
        applied: splitting a run's cells only adds runs), so every worker is busy with whole runs.
        """
        if getattr(self.simulator, "parallel_unit", "series") == "run":
            return [_Chunk(s, np.array([s]), np.arange(n_cells)) for s in range(n_samples)]
        cell_block = min(n_cells, self.chunk_size)
        sample_block = max(1, self.chunk_size // cell_block)
        out = []
        for s0 in range(0, n_samples, sample_block):
            for c0 in range(0, n_cells, cell_block):
                out.append(_Chunk(len(out), np.arange(s0, min(s0 + sample_block, n_samples)),
                                  np.arange(c0, min(c0 + cell_block, n_cells))))
        return out

    def run(self, region: Region, params: xr.Dataset, *, period: tuple | slice | None = None,
            out_path: str | os.PathLike | None = None, desc: str = "ensemble",
            outputs: Sequence[str] | None = None) -> xr.Dataset:
        """Simulate every (sample, cell) of ``params`` for ``region``.

        ``params`` holds ``infilt .. expt`` over ``(sample, cell)`` or ``(cell)``. Returns the outputs
        (float32) over ``(sample, cell, time)`` (or ``(cell, time)``) with the parameters added. With
        ``out_path`` the chunks are streamed into that netCDF file (atomically) and it is returned
        opened lazily. ``outputs`` names the output variables to keep (default: all of
        :data:`~vic_paraformer.simulators.base.OUTPUT_VARS`); only those are allocated and returned.
        """
        if self.simulator is None:
            raise SimulatorError("this EnsembleRunner was built without a simulator (simulator=None); "
                                 "it can only map() tasks")
        if outputs is not None:
            outputs = list(outputs)
            unknown = [k for k in outputs if k not in OUTPUT_VARS]
            if unknown or not outputs:
                raise SimulatorError(f"unknown output(s) {unknown or outputs}; expected some of {list(OUTPUT_VARS)}")
        out_vars = {k: u for k, u in OUTPUT_VARS.items() if outputs is None or k in outputs}
        names = [str(n) for n in params.data_vars if str(n) in CALIBRATABLE_BY_NAME] or list(PARAMETER_NAMES)
        check_params(region, params, ParameterSpace(tuple(names), (0,) * len(names), (1,) * len(names)))
        dims = params[names[0]].dims
        single = dims == ("cell",)
        theta = np.stack([np.asarray(params[n].transpose(*dims).values, dtype=float) for n in names], axis=-1)
        if single:
            theta = theta[None]
        n_s, n_c = theta.shape[:2]
        times = region.times
        if period is not None:
            times = _period_times(times, parse_period(period))
        n_t = len(times)
        chunks = self.chunks(n_s, n_c)
        cells = region.cells

        if self.backend == "dask":
            self.check_inputs(cluster.shared_inputs(self.simulator, region))
            # on every worker: a worker lost mid-run takes no input with it
            region_ref = self._client.scatter(region, broadcast=True, hash=False)
        else:
            region_ref = None
        def make_args(i: int) -> tuple:
            ch = chunks[i]
            cell_ids = cells[ch.cells]
            th = theta[ch.samples][:, ch.cells]
            reg = region_ref if region_ref is not None else (
                region if self.in_process or len(ch.cells) == n_c else _cell_subset(region, cell_ids))
            return (self.simulator, reg, cell_ids, th, names, period, list(out_vars))

        def on_error(i: int, exc: BaseException) -> Exception:
            ch = chunks[i]
            return SimulatorError(
                f"{desc}: chunk {i} of {len(chunks)} failed ({self.simulator.name} simulator; samples "
                f"{ch.samples[0]}..{ch.samples[-1]}, cells {_short(cells[ch.cells].tolist(), 120)}; parameters "
                f"{_describe_params(names, theta[ch.samples][:, ch.cells])}): {type(exc).__name__}: {exc}")

        coords = {"sample": np.arange(n_s), "cell": cells, "time": times,
                  "lat": ("cell", region.ds["lat"].values), "lon": ("cell", region.ds["lon"].values)}
        if not single and "sample" in params.coords:
            coords["sample"] = params["sample"].values
        if out_path is None:
            arrays = {k: np.full((n_s, n_c, n_t), np.nan, dtype=np.float32) for k in out_vars}

            def store(i: int, res: dict[str, np.ndarray]) -> None:
                ch = chunks[i]
                for k, v in res.items():
                    if k in arrays:
                        arrays[k][np.ix_(ch.samples, ch.cells)] = v

            self._execute(_run_chunk, len(chunks), make_args, desc, on_error, on_result=store)
            data = {k: (("sample", "cell", "time"), v, {"units": out_vars[k]}) for k, v in arrays.items()}
            for j, n in enumerate(names):
                data[n] = (("sample", "cell"), theta[..., j])
            ds = xr.Dataset(data, coords=coords)
            ds.attrs.update(simulator=self.simulator.name)
            return ds.isel(sample=0, drop=True) if single else ds
        return self._run_to_file(out_path, make_args, chunks, theta, names, coords, desc, on_error, single, out_vars)

    def _run_to_file(self, out_path, make_args, chunks, theta, names, coords, desc, on_error, single,
                     out_vars: dict[str, str]) -> xr.Dataset:
        import netCDF4

        n_s, n_c = theta.shape[:2]
        times = coords["time"]
        n_t = len(times)
        out_path = Path(out_path)
        need = estimate_bytes(n_s * n_c * (n_t * len(out_vars) * 4 + len(names) * 8), 1)
        with atomic_path(out_path, need_bytes=need,
                         what=f"{n_s} samples x {n_c} cells x {n_t} days x {len(out_vars)} variables") as tmp:
            nc = netCDF4.Dataset(tmp, "w", format="NETCDF4")
            try:
                nc.createDimension("sample", n_s)
                nc.createDimension("cell", n_c)
                nc.createDimension("time", n_t)
                nc.createVariable("sample", "i8", ("sample",))[:] = np.asarray(coords["sample"])
                nc.createVariable("cell", "i8", ("cell",))[:] = np.asarray(coords["cell"])
                for k in ("lat", "lon"):
                    nc.createVariable(k, "f8", ("cell",))[:] = coords[k][1]
                tv = nc.createVariable("time", "i8", ("time",))
                tv.units = f"days since {times[0].strftime('%Y-%m-%d')}"
                tv.calendar = "proleptic_gregorian"
                tv[:] = np.arange(n_t)
                for j, n in enumerate(names):
                    nc.createVariable(n, "f8", ("sample", "cell"))[:] = theta[..., j]
                cs = (1, min(n_c, 256), n_t)
                ncvars = {}
                for k, units in out_vars.items():
                    v = nc.createVariable(k, "f4", ("sample", "cell", "time"), fill_value=np.float32(np.nan),
                                          chunksizes=cs, zlib=False)
                    v.units = units
                    v.coordinates = "lat lon"
                    ncvars[k] = v
                nc.simulator = self.simulator.name

                def store(i: int, res: dict[str, np.ndarray]) -> None:
                    ch = chunks[i]
                    s0, s1 = int(ch.samples[0]), int(ch.samples[-1]) + 1
                    c0, c1 = int(ch.cells[0]), int(ch.cells[-1]) + 1
                    for k, v in res.items():
                        if k in ncvars:
                            ncvars[k][s0:s1, c0:c1, :] = v

                self._execute(_run_chunk, len(chunks), make_args, desc, on_error, on_result=store)
            finally:
                nc.close()
        ds = xr.open_dataset(out_path)
        return ds.isel(sample=0, drop=True) if single else ds


@dataclass
class _SimulateTask:
    """One ``simulator.simulate`` call for :func:`simulate` (its fields name the inputs to check)."""

    simulator: Simulator
    region: Region
    params: xr.Dataset
    period: Any


def _simulate_task(task: _SimulateTask) -> xr.Dataset:
    return task.simulator.simulate(task.region, task.params, period=task.period)


def simulate(simulator: Simulator, region: Region, params: xr.Dataset, *, period=None) -> xr.Dataset:
    """``simulator.simulate(region, params, period=period)``, on the Dask cluster of an enclosing
    :func:`vic_paraformer.cluster.use_scheduler` (``vic-paraformer --scheduler``) when there is one.

    On the cluster a simulator whose ``parallel_unit`` is ``"run"`` (VIC) runs one task per
    sample, others one task; the outputs are those of the local call, unchanged (same dtype, same
    values: each sample's run is independent).
    """
    client = cluster.active_client()
    if client is None or not isinstance(simulator, Simulator):
        return simulator.simulate(region, params, period=period)
    per_run = getattr(simulator, "parallel_unit", "series") == "run" and "sample" in params.dims
    parts = [params.isel(sample=[i]) for i in range(params.sizes["sample"])] if per_run else [params]
    with EnsembleRunner(None, client=client) as runner:
        outs = runner.map(_simulate_task, [_SimulateTask(simulator, region, p, period) for p in parts],
                          desc=f"{simulator.name} runs")
    if len(outs) == 1:
        return outs[0]
    out = xr.concat(outs, dim="sample", combine_attrs="drop")
    out.attrs.update(outs[0].attrs)
    return out


def _period_times(times, period: Period):
    """The days of ``times`` inside ``period`` (inclusive), raising SimulatorError if none."""
    import pandas as pd

    idx = pd.Series(np.arange(len(times)), index=times).loc[slice(*period)]
    if len(idx) == 0:
        raise SimulatorError(f"period {period} has no days in {times[0].date()}..{times[-1].date()}")
    return times[idx.values]
