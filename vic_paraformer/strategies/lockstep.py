"""Lockstep calibration: every training cell's optimiser advances together, one batched model call per step.

A per-cell spotpy strategy evaluates one candidate of one cell per model call; with a real
simulator that is one simulator run (for VIC: one process with its spin-up, one forcing read) per
candidate per cell. In lockstep, all cells of a group advance together: each step gathers the next
candidate of every cell still optimising and evaluates them in **one** batched call of the model
(:class:`BatchModel`): one simulator run over those cells with a per-cell parameter set, or one
surrogate forward pass over the stacked cells. Cells that have finished drop out and the batch
shrinks. Gauged basins (objectives with discharge, :mod:`.basins`) advance the same way, each
basin's parameter set on all its cells and the batch one run over the cells of every basin.

How the optimisers are driven
-----------------------------
spotpy's algorithms are plain loops that call the setup's ``simulation`` for each candidate, so each
cell's optimiser runs, unchanged, in its own thread (:func:`~.spotpy_setup.run_cell`), with a cell
model (:class:`_HandOff`) that hands the candidate to the coordinator and waits for its outputs.
The threads are *cooperative*: exactly one of them runs at any time. The coordinator resumes the
cells one after the other in a fixed order; each runs until it asks for its next simulation (or
finishes) and hands control back. When every active cell has asked, the coordinator makes the
batched call and hands each cell its outputs.

**Randomness.** spotpy draws from numpy's and Python's *global* generators (it reseeds them with the
cell's seed when the algorithm is built). Because only one optimiser runs at a time, each cell gets
a private generator by swapping the global states at every hand-over: the coordinator saves the
global states when a cell hands control back and restores that cell's states before resuming it.
Every cell starts from the caller's global state, as a per-cell run does (each runs inside
:func:`~.spotpy_setup.preserved_global_rng`), and the caller's state is restored at the end. So each
cell draws exactly the numbers it draws when optimised on its own: for a fixed seed the trajectories
(candidates, evaluation counts, best parameters) equal the per-cell runs', provided the batched model
gives each cell the outputs its own run gives (true for simulators whose cells are independent, such
as ``waterbalance`` and VIC without routing).

stdout redirection and torch's thread count are process-wide, so they are set once around the whole
group rather than per cell (:func:`~.spotpy_setup.run_cell` with ``isolate=False``).

Groups and processes
--------------------
:func:`run_lockstep` splits the cells into ``n_workers`` groups (contiguous in the task order); one
group runs in this process, several run one per worker process of the local pool
(:func:`~.cell_mapping.map_cells`). The Dask backend keeps the per-cell path.
"""

from __future__ import annotations

import abc
import logging
import os
import random
import threading
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import StrategyError
from ..parameters import ParameterSpace
from .basins import BasinModel, RowRunner
from .cell_models import CellModel, SimulatorCellModel, SurrogateCellModel
from .spotpy_setup import CellOutcome, CellTask, preserved_global_rng, quiet_spotpy, run_cell, single_torch_thread

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ batched models
class BatchModel(abc.ABC):
    """Several cells' models evaluated together: one candidate per cell in one call.

    :attr:`calls` counts the batched calls made (each one simulator run or one forward pass).
    """

    calls: int = 0

    @abc.abstractmethod
    def simulate_batch(self, index: Sequence[int], thetas: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Outputs (``sm`` and where known ``et``, ``runoff``, ``baseflow``; ``(T,)`` each) of the cells at
        positions ``index`` of this model, cell ``index[j]`` run with physical parameters ``thetas[j]``."""


class SimulatorBatchModel(BatchModel):
    """One registered simulator run over the requested cells, each with its own parameters."""

    def __init__(self, cell_ds, simulator: str, space: ParameterSpace,
                 simulator_options: Mapping[str, Any] | None = None) -> None:
        self.cell_ds = cell_ds
        self.simulator = simulator
        self.space = space
        self.simulator_options = dict(simulator_options or {})
        self._sim = None
        self._regions: dict[tuple[int, ...], Any] = {}
        self.calls = 0

    def _region(self, index: tuple[int, ...]):
        from ..region import Region

        region = self._regions.get(index)
        if region is None:  # the batch only shrinks: one subset per size at most, the last one kept
            self._regions = {index: Region(self.cell_ds.isel(cell=list(index)), validate=False)}
            region = self._regions[index]
        return region

    def simulate_batch(self, index: Sequence[int], thetas: np.ndarray) -> list[dict[str, np.ndarray]]:
        if self._sim is None:
            from ..registry import get_simulator

            self._sim = get_simulator(self.simulator, **self.simulator_options)
        region = self._region(tuple(int(i) for i in index))
        params = self.space.to_dataset(np.asarray(thetas, float), region.cells)
        out = self._sim.simulate(region, params)
        self.calls += 1
        arrays = {k: np.asarray(out[k].transpose("cell", ...).values, float)
                  for k in ("sm", "et", "runoff", "baseflow") if k in out}
        return [{k: v[j].reshape(-1) for k, v in arrays.items()} for j in range(len(index))]


class SurrogateBatchModel(BatchModel):
    """One surrogate forward pass over the requested cells' stacked inputs (stacked once)."""

    def __init__(self, models: Sequence[SurrogateCellModel]) -> None:
        self.x = np.stack([m.x for m in models])
        self.a = np.stack([m.a for m in models])
        self.space = models[0].space
        self._model = models[0]  # loads the surrogate (from its path in a worker process)
        self._xt = self._at = None
        self.calls = 0

    def simulate_batch(self, index: Sequence[int], thetas: np.ndarray) -> list[dict[str, np.ndarray]]:
        import torch

        sur = self._model._get()
        if self._xt is None:
            self._xt, self._at = torch.as_tensor(self.x), torch.as_tensor(self.a)
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        u = torch.as_tensor(np.asarray(self.space.normalize(np.asarray(thetas, float)), float), dtype=torch.float32)
        dev = getattr(sur, "device", None) or "cpu"
        args = (self._xt[idx].to(dev), self._at[idx].to(dev), u.clamp(0.0, 1.0).to(dev))
        with torch.no_grad():
            y = sur.predict_tensor(*args) if hasattr(sur, "predict_tensor") else sur(*args)
        y = y.detach().cpu().numpy().astype(float)
        self.calls += 1
        return [({"sm": y[j, :, 0], "et": y[j, :, 1]} if y.shape[-1] > 1 else {"sm": y[j, :, 0]})
                for j in range(len(index))]


class BasinBatchModel(BatchModel):
    """Gauged basins (:class:`~.basins.BasinModel`) run together: one simulator run (or surrogate pass) over
    the cells of every requested basin, each basin's shared parameters on all its cells, then each
    basin's discharge routed to its gauge."""

    def __init__(self, models: Sequence[BasinModel]) -> None:
        self.models = list(models)
        self._runners: dict[tuple[int, ...], RowRunner] = {}
        self.calls = 0

    def simulate_batch(self, index: Sequence[int], thetas: np.ndarray) -> list[dict[str, np.ndarray]]:
        key = tuple(int(i) for i in index)
        runner = self._runners.get(key)
        if runner is None:  # the batch only shrinks: the last one kept
            self._runners = {key: RowRunner.concat([self.models[i].runner for i in key])}
            runner = self._runners[key]
        sizes = [self.models[i].runner.n_rows for i in key]
        rows = [self.models[i].rows_theta(th) for i, th in zip(key, np.asarray(thetas, float))]
        out = runner.run(np.concatenate(rows))
        self.calls += 1
        edges = np.cumsum([0] + sizes)
        return [{**self.models[i].with_discharge({k: v[edges[j]:edges[j + 1]] for k, v in out.items()}),
                 "cell_theta": rows[j]}
                for j, i in enumerate(key)]


def batch_model_for(models: Sequence[CellModel]) -> BatchModel:
    """The batched model of several cells' models (all :class:`SimulatorCellModel` of one simulator, or all
    :class:`SurrogateCellModel` of one surrogate)."""
    import xarray as xr

    if all(isinstance(m, SimulatorCellModel) for m in models):
        first = models[0]
        if any(m.simulator != first.simulator or m.simulator_options != first.simulator_options for m in models):
            raise StrategyError("lockstep calibration needs one simulator with the same options for every cell")
        ds = xr.concat([m.cell_ds for m in models], dim="cell", combine_attrs="override")
        return SimulatorBatchModel(ds, first.simulator, first.space, first.simulator_options)
    if all(isinstance(m, SurrogateCellModel) for m in models):
        return SurrogateBatchModel(models)
    if all(isinstance(m, BasinModel) for m in models):
        return BasinBatchModel(models)
    kinds = sorted({type(m).__name__ for m in models})
    raise StrategyError(f"lockstep calibration cannot batch cell models of kind(s) {kinds}")


def can_batch(models: Sequence[CellModel]) -> bool:
    """Whether :func:`batch_model_for` can batch these models."""
    return bool(models) and (all(isinstance(m, SimulatorCellModel) for m in models)
                             or all(isinstance(m, SurrogateCellModel) for m in models)
                             or all(isinstance(m, BasinModel) for m in models))


# ------------------------------------------------------------------ the cooperative optimiser threads
class _Aborted(BaseException):
    """Raised inside an optimiser thread to unwind it (a BaseException: spotpy must not swallow it)."""


class _Slot:
    """One cell's optimiser thread and what it exchanges with the coordinator."""

    def __init__(self, k: int, task: CellTask, rng_state: tuple) -> None:
        self.k, self.task = k, task
        self.go = threading.Semaphore(0)
        self.theta: np.ndarray | None = None
        self.reply: dict[str, np.ndarray] | None = None
        self.outcome: CellOutcome | None = None
        self.error: BaseException | None = None
        self.done = self.abort = False
        self.np_state, self.py_state = rng_state
        self.thread: threading.Thread | None = None


class _HandOff(CellModel):
    """A cell's model inside its optimiser thread: hands the candidate to the coordinator and waits."""

    def __init__(self, slot: _Slot, back: threading.Semaphore) -> None:
        self._slot, self._back = slot, back

    def simulate(self, theta: np.ndarray) -> np.ndarray:
        return self.simulate_outputs(theta)["sm"]

    def simulate_outputs(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        s = self._slot
        if s.abort:
            raise _Aborted
        s.theta, s.reply = np.asarray(theta, float).copy(), None
        self._back.release()
        s.go.acquire()
        if s.abort:
            raise _Aborted
        return s.reply

    def describe(self) -> str:
        return "lockstep hand-off"


@dataclass
class LockstepGroup:
    """Cells calibrated together in one process (small and picklable: the batched model is built where it runs)."""

    tasks: list[CellTask]


@dataclass
class LockstepStats:
    """What one lockstep group did: batched model calls and the cells' model runs."""

    calls: int
    evaluations: int


def run_group(group: LockstepGroup) -> tuple[list[CellOutcome], LockstepStats]:
    """Calibrate a group's cells in lockstep (top-level, so worker processes can pickle it).

    Returns the outcomes in task order (as :func:`~.spotpy_setup.run_cell` gives them one by one) and
    the count of batched model calls.
    """
    tasks = list(group.tasks)
    if not tasks:
        return [], LockstepStats(0, 0)
    batch = batch_model_for([t.model for t in tasks])
    back = threading.Semaphore(0)
    start_state = (np.random.get_state(), random.getstate())
    slots = [_Slot(k, t, start_state) for k, t in enumerate(tasks)]

    def body(slot: _Slot) -> None:
        slot.go.acquire()
        try:
            if slot.abort:
                raise _Aborted
            slot.outcome = run_cell(replace(slot.task, model=_HandOff(slot, back)), isolate=False)
        except _Aborted:
            pass
        except BaseException as exc:  # handed to the coordinator, which re-raises it
            slot.error = exc
        finally:
            slot.done = True
            back.release()

    def resume(slot: _Slot) -> None:
        np.random.set_state(slot.np_state)
        random.setstate(slot.py_state)
        slot.go.release()
        back.acquire()
        slot.np_state, slot.py_state = np.random.get_state(), random.getstate()

    with preserved_global_rng(), quiet_spotpy(), single_torch_thread():
        for s in slots:
            s.thread = threading.Thread(target=body, args=(s,), name=f"lockstep-cell-{s.task.cell}", daemon=True)
            s.thread.start()
        try:
            active = slots
            while active:
                for s in active:
                    resume(s)
                for s in active:
                    if s.error is not None:
                        raise s.error
                active = [s for s in active if not s.done]
                if not active:
                    break
                outs = batch.simulate_batch([s.k for s in active], np.stack([s.theta for s in active]))
                for s, out in zip(active, outs):
                    s.reply = out
        finally:
            _unwind(slots)
    outcomes = [s.outcome for s in slots]
    if any(o is None for o in outcomes):  # not reached: every cell either finished or raised
        raise StrategyError("lockstep calibration ended without an outcome for every cell")
    return outcomes, LockstepStats(calls=batch.calls, evaluations=sum(o.n_evaluations for o in outcomes))


def _unwind(slots: list[_Slot]) -> None:
    """Stop every optimiser thread still waiting (after an error or an interrupt) and wait for them."""
    for s in slots:
        if not s.done:
            s.abort = True
            s.go.release()
    for s in slots:
        if s.thread is not None:
            s.thread.join(timeout=30)
            if s.thread.is_alive():
                log.warning("lockstep: the optimiser thread of cell %d did not stop", s.task.cell)


# ------------------------------------------------------------------ groups over processes
def split_groups(tasks: Sequence[CellTask], n_groups: int) -> list[LockstepGroup]:
    """``n_groups`` contiguous groups of nearly equal size (fewer when there are fewer tasks)."""
    n = max(1, min(int(n_groups), len(tasks)))
    return [LockstepGroup(list(part)) for part in np.array_split(np.asarray(tasks, dtype=object), n) if len(part)]


def run_lockstep(tasks: Sequence[CellTask], *, n_workers: int | None = None,
                 desc: str = "cell groups") -> tuple[list[CellOutcome], LockstepStats]:
    """Calibrate ``tasks`` in lockstep: one group in this process (``n_workers=1``), else ``n_workers`` groups
    (default: all cores) in the local process pool. Outcomes are in task order and do not depend on the
    grouping (each cell has its own seed and generator)."""
    from .cell_mapping import map_cells

    n = (os.cpu_count() or 1) if n_workers is None else int(n_workers)
    groups = split_groups(tasks, n)
    if len(groups) == 1:
        results = [run_group(groups[0])]
    else:
        results = map_cells(run_group, groups, n_workers=len(groups), backend="local", desc=desc)
    outcomes = [o for res in results for o in res[0]]
    stats = LockstepStats(calls=sum(r[1].calls for r in results), evaluations=sum(r[1].evaluations for r in results))
    log.info("lockstep: %d cell(s) in %d group(s): %d model runs in %d batched call(s)", len(outcomes), len(groups),
             stats.evaluations, stats.calls)
    return outcomes, stats
