"""Shared spotpy plumbing for per-cell calibration strategies (SCE-UA here, DDS in a plugin).

A per-cell strategy optimises each training cell on its own: it minimises the RMSE between
simulated and observed top-layer soil moisture on the observed days after a warm-up, against
either a trained surrogate (the default, as in the paper and Tsai et al. 2021) or a real
simulator (``waterbalance`` or ``vic``). Untrained cells get the parameters of the nearest
trained cell (great-circle distance on the cells' lat/lon).

This module hides spotpy's traps behind a small API:

* **Evaluation counting.** spotpy's ``repetitions``/``status.rep`` count calls of its
  bookkeeping, not model runs (SCE-UA books each evolution step twice and may overshoot the
  budget by a whole loop). :class:`SpotpySetup` counts the real model calls itself and stops
  the algorithm once ``max_evaluations`` have been made (it may stop earlier when it converges).
* **Direction.** We always *minimise* a loss. Algorithms that maximise (spotpy's ``dds``) get
  ``maximize=True`` and see ``-loss``; the best point is tracked on the loss itself, and
  spotpy's own best is kept for cross-checking (:attr:`CellOutcome.algorithm_best_loss`).
* **Parameters** come from the setup's ``parameters()`` method (``spotpy.parameter.generate`` of
  a list of ``Uniform`` built in ``__init__``), never class attributes, so setups with
  different bounds never share state. Each ``Uniform`` gets explicit ``minbound``/``maxbound``:
  without them spotpy uses the rounded extremes of 100000 unseeded draws as the search bounds,
  which makes runs irreproducible.
* **Printing.** spotpy prints progress to stdout; it is redirected into ``logging`` (DEBUG, logger
  ``vic_paraformer.strategies.spotpy``).
* **Storage.** ``dbformat="ram"`` without simulations: nothing is written to disk.
* **Randomness.** spotpy draws from numpy's *global* RNG; each cell is seeded from
  ``(seed, cell id)`` (:func:`cell_seed`) so results do not depend on worker count or order,
  and the caller's global RNG state is restored afterwards.
* **Parallelism.** One small picklable :class:`CellTask` per cell (that cell's forcing,
  attributes and observations, and the surrogate checkpoint *path*) is mapped over cells by
  :class:`vic_paraformer.ensemble.EnsembleRunner` (local process pool or Dask), or run in
  process when ``n_workers=1``. Each cell runs torch on one thread (:func:`single_torch_thread`).

To build a new spotpy strategy, subclass :class:`SpotpyCellCalibrator` and set
``algorithm``, ``maximize`` and the two hooks :meth:`SpotpyCellCalibrator.algorithm_kwargs`
and :meth:`SpotpyCellCalibrator.sample_kwargs` (see :mod:`vic_paraformer.strategies.sceua`).
"""

from __future__ import annotations

import abc
import contextlib
import io
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from ..calibrator import CalibrationResult, Calibrator
from ..errors import StrategyError, SurrogateError, VicParaformerError
from ..parameters import ParameterSpace
from ..region import Region

log = logging.getLogger(__name__)
spotpy_log = logging.getLogger("vic_paraformer.strategies.spotpy")

#: Warm-up days used with a real simulator when the ``warmup`` option is not given.
DEFAULT_SIMULATOR_WARMUP = 365

EARTH_RADIUS_KM = 6371.0


# ----------------------------------------------------------------------------- geometry
def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance in km between points (degrees); broadcasts like numpy."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def nearest_trained(region: Region, train_cells: Sequence[int]) -> np.ndarray:
    """For every cell of ``region``, the position in ``train_cells`` of the nearest trained cell.

    Distance is great-circle distance on ``lat``/``lon``; a trained cell maps to itself and ties go
    to the earlier entry of ``train_cells``.
    """
    train_cells = np.asarray(train_cells)
    if train_cells.size == 0:
        raise StrategyError("no trained cells to copy parameters from")
    pos = {int(c): i for i, c in enumerate(region.cells)}
    tidx = np.array([pos[int(c)] for c in train_cells])
    lat, lon = region.ds["lat"].values.astype(float), region.ds["lon"].values.astype(float)
    d = great_circle_km(lat[:, None], lon[:, None], lat[None, tidx], lon[None, tidx])
    out = np.argmin(d, axis=1)
    for i, t in enumerate(tidx):  # exact self-mapping even for duplicated coordinates
        out[t] = i
    return out


def cell_seed(seed: int, cell_id: int) -> int:
    """A 32-bit seed for one cell, mixed from the run seed and the cell id."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(cell_id) & 0xFFFFFFFF]).generate_state(1)[0])


# ----------------------------------------------------------------------------- cell models
class CellModel(abc.ABC):
    """One cell's model: physical parameters ``(p,)`` -> simulated top-layer soil moisture ``(T,)``.

    Instances are pickled to worker processes, so they hold only small arrays and paths; heavy
    objects (surrogate, simulator) are built lazily in the worker.
    """

    @abc.abstractmethod
    def simulate(self, theta: np.ndarray) -> np.ndarray:
        """Soil moisture (m3/m3) for every day of the cell's period."""

    def describe(self) -> str:
        return type(self).__name__


_SURROGATES: dict[tuple[str, float], Any] = {}


def load_surrogate_cached(path: str | Path):
    """Load a surrogate checkpoint once per process (keyed by resolved path and mtime)."""
    from ..surrogate import Surrogate

    p = Path(path).resolve()
    if not p.exists():
        raise SurrogateError(f"{path}: surrogate checkpoint not found")
    key = (str(p), p.stat().st_mtime)
    if key not in _SURROGATES:
        _SURROGATES.clear()
        _SURROGATES[key] = Surrogate.load(p)
    return _SURROGATES[key]


class SurrogateCellModel(CellModel):
    """A cell evaluated through a trained surrogate over the cell's whole series.

    The series is tiled with the surrogate's training windows (``Surrogate.predict_tensor``), as
    :meth:`Surrogate.predict` does.

    ``x`` is the cell's normalised forcing ``(T, n_forcing)`` and ``a`` its normalised
    attributes ``(n_attr,)``, both from ``Surrogate.prepare``. Either ``surrogate_path`` (for
    worker processes) or an in-memory ``surrogate`` is used.
    """

    def __init__(self, x: np.ndarray, a: np.ndarray, space: ParameterSpace, *,
                 surrogate_path: str | None = None, surrogate=None) -> None:
        if surrogate_path is None and surrogate is None:
            raise SurrogateError("SurrogateCellModel needs a surrogate checkpoint path or a Surrogate")
        self.x = np.asarray(x, np.float32)
        self.a = np.asarray(a, np.float32)
        self.space = space
        self.surrogate_path = None if surrogate_path is None else str(surrogate_path)
        self._surrogate = surrogate
        self._xt = self._at = None

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.surrogate_path is not None:
            state["_surrogate"] = None
        state["_xt"] = state["_at"] = None
        return state

    def _get(self):
        if self._surrogate is None:
            self._surrogate = load_surrogate_cached(self.surrogate_path)
        return self._surrogate

    def simulate(self, theta: np.ndarray) -> np.ndarray:
        import torch

        sur = self._get()
        if self._xt is None:
            self._xt = torch.as_tensor(self.x)[None]
            self._at = torch.as_tensor(self.a)[None]
        u = torch.as_tensor(self.space.normalize(np.asarray(theta, float)), dtype=torch.float32)[None]
        dev = getattr(sur, "device", None) or "cpu"
        args = (self._xt.to(dev), self._at.to(dev), u.clamp(0.0, 1.0).to(dev))
        with torch.no_grad():
            # predict_tensor tiles long series with training windows; a surrogate without it
            # (any nn.Module following the forward contract) runs on the whole series at once
            y = sur.predict_tensor(*args) if hasattr(sur, "predict_tensor") else sur(*args)
        return y[0, :, 0].detach().cpu().numpy().astype(float)

    def describe(self) -> str:
        return f"surrogate {self.surrogate_path or '<in memory>'}"


class SimulatorCellModel(CellModel):
    """A cell evaluated by a registered simulator on a one-cell Region."""

    def __init__(self, cell_ds, simulator: str, space: ParameterSpace, simulator_options: Mapping[str, Any] | None = None) -> None:
        self.cell_ds = cell_ds
        self.simulator = simulator
        self.simulator_options = dict(simulator_options or {})
        self.space = space
        self._sim = self._region = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_sim"] = state["_region"] = None
        return state

    def simulate(self, theta: np.ndarray) -> np.ndarray:
        if self._sim is None:
            from ..registry import get_simulator

            self._sim = get_simulator(self.simulator, **self.simulator_options)
            self._region = Region(self.cell_ds, validate=False)
        params = self.space.to_dataset(np.asarray(theta, float)[None, :], self._region.cells)
        out = self._sim.simulate(self._region, params)
        return np.asarray(out["sm"].values, dtype=float).reshape(-1)

    def describe(self) -> str:
        return f"simulator {self.simulator}"


# ----------------------------------------------------------------------------- spotpy setup
class BudgetExhausted(Exception):
    """Raised inside spotpy once the evaluation budget of a cell is spent (caught by :func:`run_cell`)."""


def rmse_loss(sim: np.ndarray, obs: np.ndarray) -> float:
    """RMSE of ``sim`` against ``obs`` (same shape, all finite obs); ``inf`` if sim is not finite."""
    sim = np.asarray(sim, float)
    if sim.shape != obs.shape or not np.all(np.isfinite(sim)):
        return float("inf")
    return float(np.sqrt(np.mean((sim - obs) ** 2)))


class SpotpySetup:
    """The spotpy setup of one cell: parameters, model runs, observations and the objective.

    Counts real model calls in :attr:`n_evaluations` and tracks the best (lowest-loss)
    parameters in :attr:`best_theta` / :attr:`best_loss`. After ``max_evaluations`` model calls
    the next call raises :class:`BudgetExhausted`.
    """

    def __init__(self, model: CellModel, obs: np.ndarray, mask: np.ndarray, space: ParameterSpace, *,
                 maximize: bool = False, max_evaluations: int | None = None) -> None:
        import spotpy

        self.model = model
        self.space = space
        self.mask = np.asarray(mask, bool)
        self.obs = np.asarray(obs, float)[self.mask]
        if self.obs.size == 0:
            raise StrategyError("no observed days after the warm-up to calibrate against")
        self.maximize = bool(maximize)
        self.max_evaluations = max_evaluations
        mid = space.midpoint()
        # minbound/maxbound must be explicit: spotpy otherwise takes the rounded extremes of 100000
        # unseeded draws, so the bounds would differ (slightly) from run to run.
        self._params = [spotpy.parameter.Uniform(n, low=lo, high=hi, optguess=m, step=(hi - lo) / 10.0,
                                                 minbound=lo, maxbound=hi)
                        for n, lo, hi, m in zip(space.names, space.lower, space.upper, mid)]
        self.n_evaluations = 0
        self.best_loss = float("inf")
        self.best_theta: np.ndarray | None = None
        self.losses: list[float] = []

    def parameters(self):
        import spotpy

        return spotpy.parameter.generate(self._params)

    def loss(self, theta: np.ndarray) -> float:
        """Run the model once (counted) and return the loss; updates the best point."""
        if self.max_evaluations is not None and self.n_evaluations >= self.max_evaluations:
            raise BudgetExhausted
        theta = np.asarray(theta, float)
        sim = self.model.simulate(theta)
        self.n_evaluations += 1
        value = rmse_loss(np.asarray(sim, float)[self.mask], self.obs)
        self.losses.append(value)
        if value < self.best_loss or self.best_theta is None:
            self.best_loss, self.best_theta = value, theta.copy()
        self._last_sim = np.asarray(sim, float)[self.mask]
        return value

    def simulation(self, vector) -> np.ndarray:
        theta = np.array([vector[i] for i in range(self.space.n)], dtype=float)
        self.loss(theta)
        return self._last_sim

    def evaluation(self) -> np.ndarray:
        return self.obs

    def objectivefunction(self, simulation, evaluation, params=None) -> float:
        value = rmse_loss(np.asarray(simulation, float), np.asarray(evaluation, float))
        return -value if self.maximize else value


# ----------------------------------------------------------------------------- one cell
@dataclass
class CellTask:
    """Everything a worker needs to calibrate one cell (small and picklable)."""

    cell: int
    model: CellModel
    obs: np.ndarray
    warmup: int
    space: ParameterSpace
    algorithm: str
    seed: int
    max_evaluations: int
    maximize: bool = False
    algorithm_kwargs: dict[str, Any] = field(default_factory=dict)
    sample_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        m = np.isfinite(self.obs)
        m[: self.warmup] = False
        return m


@dataclass
class CellOutcome:
    """Result of :func:`run_cell`."""

    cell: int
    theta: np.ndarray
    loss: float
    n_evaluations: int
    algorithm_best_loss: float
    budget_exhausted: bool
    wall_time: float


class _LogWriter(io.TextIOBase):
    """A file-like object that sends complete lines to a logger."""

    def __init__(self, logger: logging.Logger, level: int = logging.DEBUG) -> None:
        self.logger, self.level, self._buf = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line.strip():
                self.logger.log(self.level, "%s", line.rstrip())
        return len(s)

    def flush(self) -> None:
        if self._buf.strip():
            self.logger.log(self.level, "%s", self._buf.rstrip())
        self._buf = ""


@contextlib.contextmanager
def quiet_spotpy(prefix: str = ""):
    """Redirect stdout (spotpy's prints) into the ``vic_paraformer.strategies.spotpy`` logger."""
    writer = _LogWriter(spotpy_log if not prefix else spotpy_log.getChild(prefix))
    with contextlib.redirect_stdout(writer):
        try:
            yield
        finally:
            writer.flush()


@contextlib.contextmanager
def preserved_global_rng():
    """Restore numpy's and Python's global RNG state on exit (spotpy reseeds them)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


@contextlib.contextmanager
def single_torch_thread():
    """Run torch on one intra-op thread (restored on exit).

    A cell's model runs are small sequential tensor operations; with several intra-op threads they
    are slower, and on a loaded machine dramatically so (measured: 1 ms vs 250 ms per surrogate run
    on 2 busy cores). Parallelism comes from running cells in separate workers instead.
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_cell(task: CellTask) -> CellOutcome:
    """Calibrate one cell with spotpy's ``task.algorithm`` (top-level, so workers can pickle it)."""
    import spotpy.algorithms

    started = time.perf_counter()
    try:
        algo_cls = getattr(spotpy.algorithms, task.algorithm)
    except AttributeError:
        raise StrategyError(f"spotpy has no algorithm {task.algorithm!r}") from None
    exhausted = False
    with preserved_global_rng(), quiet_spotpy(), single_torch_thread():
        # spotpy's parameter objects draw from the global RNG when built, so build them in here
        setup = SpotpySetup(task.model, task.obs, task.mask, task.space, maximize=task.maximize,
                            max_evaluations=task.max_evaluations)
        sampler = algo_cls(setup, dbname=f"vic_paraformer_cell{task.cell}", dbformat="ram", save_sim=False,
                           parallel="seq", random_state=task.seed, **task.algorithm_kwargs)
        try:
            sampler.sample(task.max_evaluations, **task.sample_kwargs)
        except BudgetExhausted:
            exhausted = True
        status = getattr(sampler, "status", None)
    algo_best = float("nan")
    if status is not None:
        algo_best = -float(status.objectivefunction_max) if task.maximize else float(status.objectivefunction_min)
    if setup.best_theta is None:
        raise StrategyError(f"{task.algorithm} made no model run for cell {task.cell} (budget {task.max_evaluations})")
    theta = task.space.clip(setup.best_theta)
    return CellOutcome(cell=int(task.cell), theta=theta, loss=float(setup.best_loss),
                       n_evaluations=int(setup.n_evaluations), algorithm_best_loss=algo_best,
                       budget_exhausted=exhausted, wall_time=time.perf_counter() - started)


def map_cells(func: Callable, tasks: Sequence, *, n_workers: int | None = None, backend: str = "local",
              scheduler: str | None = None, client=None, desc: str = "cells") -> list:
    """Apply ``func`` to every task through :class:`vic_paraformer.ensemble.EnsembleRunner`, in order.

    ``n_workers=1`` (or a single task) with the local backend runs in this process; otherwise a
    local process pool (``n_workers``, default all cores) or Dask (``scheduler``/``client``).
    Progress is shown with tqdm; the pool is shut down afterwards, also on Ctrl-C.
    """
    from ..ensemble import EnsembleRunner

    if backend not in ("local", "dask"):
        raise StrategyError(f"unknown backend {backend!r}; expected 'local' or 'dask'")
    if backend == "local" and len(tasks) <= 1:
        n_workers = 1
    with EnsembleRunner(None, backend=backend, n_workers=n_workers, client=client, scheduler=scheduler) as runner:
        return list(runner.map(func, list(tasks), desc=desc))


# ----------------------------------------------------------------------------- the strategy base
class SpotpyCellCalibrator(Calibrator):
    """Base class of per-cell spotpy strategies.

    Options (shared by every subclass):

    ``surrogate``
        Surrogate checkpoint path (or a loaded ``Surrogate``) to calibrate against (default mode).
    ``simulator``
        Instead of a surrogate, the name of a registered simulator (``"waterbalance"``, ``"vic"``).
    ``simulator_options``
        Keyword arguments for that simulator.
    ``repetitions``
        Maximum number of model runs per training cell (a hard cap, counted by us).
    ``warmup``
        Days at the start excluded from the loss (None: the surrogate's ``warmup``, or
        :data:`DEFAULT_SIMULATOR_WARMUP` days with a simulator).
    ``n_workers``, ``backend``, ``scheduler``
        Parallel execution over cells through :class:`vic_paraformer.ensemble.EnsembleRunner`:
        ``backend="local"`` with ``n_workers`` processes (default None: all cores; ``1``: in this
        process) or ``backend="dask"`` with ``scheduler="tcp://host:port"`` (Dask workers load the
        surrogate from its path, so it must be on a filesystem they share). A surrogate given as an
        object is saved to a temporary checkpoint for local workers. Results do not depend on the
        number of workers (each cell has its own seed).

    Subclasses set :attr:`algorithm` (a ``spotpy.algorithms`` name), :attr:`maximize` and
    override :meth:`algorithm_kwargs`/:meth:`sample_kwargs` to map their own options.
    """

    algorithm: ClassVar[str] = ""
    maximize: ClassVar[bool] = False
    #: The smallest ``repetitions`` the algorithm can work with.
    min_repetitions: ClassVar[int] = 1

    common_options: ClassVar[dict[str, Any]] = {
        "surrogate": None,
        "simulator": None,
        "simulator_options": {},
        "repetitions": 1000,
        "warmup": None,
        "n_workers": None,
        "backend": "local",
        "scheduler": None,
    }
    default_options: ClassVar[Mapping[str, Any]] = common_options

    _tmpdir = None

    # hooks -----------------------------------------------------------------------------
    def algorithm_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the spotpy algorithm's constructor."""
        return {}

    def sample_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for ``sampler.sample(repetitions, ...)``."""
        return {}

    # validation ------------------------------------------------------------------------
    def validate(self, region: Region) -> list[str]:
        problems = super().validate(region)
        o = self.options
        sur, simname = o.get("surrogate"), o.get("simulator")
        if sur is None and simname is None:
            problems.append(f"{self.name} needs surrogate=<checkpoint> (the default mode) or "
                            "simulator='waterbalance'|'vic' to evaluate parameter sets")
        elif sur is not None and simname is not None:
            problems.append(f"{self.name} takes surrogate or simulator, not both")
        elif isinstance(sur, (str, Path)) and not Path(sur).exists():
            problems.append(f"surrogate checkpoint {sur} not found")
        elif simname is not None:
            from ..registry import simulators

            if not isinstance(simname, str):
                problems.append(f"simulator must be a registered name, got {type(simname).__name__}")
            elif simname.strip().lower().replace("-", "_") not in simulators():
                problems.append(f"unknown simulator {simname!r}; installed: {', '.join(simulators()) or 'none'}")
        try:
            reps = int(o.get("repetitions"))
            if reps < self.min_repetitions:
                problems.append(f"repetitions must be >= {self.min_repetitions} for {self.name}, got {reps}")
        except (TypeError, ValueError):
            problems.append(f"repetitions must be an integer, got {o.get('repetitions')!r}")
        nw = o.get("n_workers")
        if nw is not None and (not isinstance(nw, int) or nw < 1):
            problems.append(f"n_workers must be a positive integer or None, got {nw!r}")
        if o.get("backend") not in ("local", "dask"):
            problems.append(f"backend must be 'local' or 'dask', got {o.get('backend')!r}")
        elif o.get("backend") == "dask" and not o.get("scheduler"):
            problems.append("backend='dask' needs scheduler='tcp://host:port'")
        w = o.get("warmup")
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 0):
            problems.append(f"warmup must be a non-negative number of days, got {w!r}")
        if not problems and sur is not None:
            try:
                surrogate, _ = self._surrogate()
                if hasattr(surrogate, "check_region"):
                    surrogate.check_region(region)
                if list(surrogate.parameter_space.names) != list(self.parameter_space.names):
                    problems.append(f"surrogate parameters {list(surrogate.parameter_space.names)} differ from "
                                    f"the strategy's {list(self.parameter_space.names)}")
                if w is None:
                    w = int(getattr(surrogate, "warmup", 0))
            except VicParaformerError as exc:
                problems.append(str(exc))
        elif w is None:
            w = DEFAULT_SIMULATOR_WARMUP
        if not problems and isinstance(w, int) and region.has("obs_sm"):
            obs = region.ds["obs_sm"].sel(cell=region.training_cells).values[:, w:]
            empty = region.training_cells[~np.isfinite(obs).any(axis=1)]
            if empty.size:
                problems.append(f"training cell(s) {empty[:5].tolist()} have no obs_sm after the {w}-day warm-up "
                                "(set the 'warmup' option to fewer days)")
        return problems

    # work ------------------------------------------------------------------------------
    def _surrogate(self):
        sur = self.options.get("surrogate")
        if isinstance(sur, (str, Path)):
            return load_surrogate_cached(sur), str(Path(sur).resolve())
        return sur, getattr(sur, "path", None)

    def _in_process(self, n_tasks: int) -> bool:
        o = self.options
        return o.get("backend", "local") == "local" and (o.get("n_workers") == 1 or n_tasks <= 1)

    def _checkpoint_for_workers(self, sur) -> str:
        """Save an in-memory surrogate to a temporary checkpoint that worker processes can load."""
        import tempfile

        if not hasattr(sur, "save"):
            raise StrategyError(f"the surrogate object ({type(sur).__name__}) has no file and cannot be saved for "
                                "worker processes; pass surrogate=<checkpoint path> or n_workers=1")
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="vic_paraformer_sur_")
        return str(sur.save(Path(self._tmpdir.name) / "surrogate.pt"))

    def _tasks(self, region: Region, cells: np.ndarray) -> tuple[list[CellTask], int, str]:
        o = self.options
        obs_all = region.ds["obs_sm"]
        pos = {int(c): i for i, c in enumerate(region.cells)}
        base = dict(space=self.parameter_space, algorithm=self.algorithm, max_evaluations=int(o["repetitions"]),
                    maximize=self.maximize, algorithm_kwargs=self.algorithm_kwargs(), sample_kwargs=self.sample_kwargs())
        tasks: list[CellTask] = []
        if o.get("surrogate") is not None:
            sur, path = self._surrogate()
            if list(sur.parameter_space.names) != list(self.parameter_space.names):
                raise SurrogateError(f"surrogate parameters {list(sur.parameter_space.names)} differ from the "
                                     f"strategy's {list(self.parameter_space.names)}")
            warmup = int(o["warmup"]) if o.get("warmup") is not None else int(getattr(sur, "warmup", 0))
            in_process = self._in_process(len(cells))
            mode = f"surrogate {path or '<in memory>'}"
            if path is None and not in_process:
                path = self._checkpoint_for_workers(sur)
            x, a = sur.prepare(region)
            x, a = _numpy(x), _numpy(a)
            for c in cells:
                i = pos[int(c)]
                model = SurrogateCellModel(x[i], a[i], self.parameter_space, surrogate_path=path,
                                           surrogate=sur if in_process else None)
                tasks.append(CellTask(cell=int(c), model=model, obs=obs_all.values[i].astype(float), warmup=warmup,
                                      seed=cell_seed(self.seed, int(c)), **base))
        else:
            warmup = int(o["warmup"]) if o.get("warmup") is not None else DEFAULT_SIMULATOR_WARMUP
            for c in cells:
                i = pos[int(c)]
                cell_ds = region.ds.isel(cell=[i]).load()
                model = SimulatorCellModel(cell_ds, o["simulator"], self.parameter_space, o.get("simulator_options"))
                tasks.append(CellTask(cell=int(c), model=model, obs=obs_all.values[i].astype(float), warmup=warmup,
                                      seed=cell_seed(self.seed, int(c)), **base))
            mode = f"simulator {o['simulator']}"
        for t in tasks:
            if not t.mask.any():
                raise StrategyError(f"training cell {t.cell} has no obs_sm after the {warmup}-day warm-up")
        return tasks, warmup, mode

    def calibrate(self, region: Region) -> CalibrationResult:
        """Calibrate every training cell independently; untrained cells copy the nearest trained cell."""
        started = time.perf_counter()
        self.check(region)
        train = np.asarray(region.training_cells)
        try:
            tasks, warmup, mode = self._tasks(region, train)
            log.info("%s: calibrating %d training cell(s) against %s, up to %d runs each",
                     self.name, len(tasks), mode, self.options["repetitions"])
            outcomes: list[CellOutcome] = map_cells(
                run_cell, tasks, n_workers=self.options.get("n_workers"), backend=self.options.get("backend", "local"),
                scheduler=self.options.get("scheduler"), desc=f"{self.name} cells")
        finally:
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None
        thetas = np.stack([o.theta for o in outcomes])
        near = nearest_trained(region, train)
        values = thetas[near]
        history = {
            "best_objective": [o.loss for o in outcomes],
            "evaluations": [float(o.n_evaluations) for o in outcomes],
            "algorithm_best_objective": [o.algorithm_best_loss for o in outcomes],
            "cell_wall_time": [o.wall_time for o in outcomes],
        }
        info = {
            "mode": mode,
            "objective": "RMSE of top-layer soil moisture vs obs_sm on observed days after the warm-up",
            "warmup_days": warmup,
            "calibrated_cells": [int(c) for c in train],
            "nearest_trained_cell": [int(train[j]) for j in near],
            "budget_exhausted_cells": [o.cell for o in outcomes if o.budget_exhausted],
            "spotpy_algorithm": self.algorithm,
        }
        n_eval = int(sum(o.n_evaluations for o in outcomes))
        log.info("%s: %d model runs, median best RMSE %.4g", self.name, n_eval, float(np.median(history["best_objective"])))
        return self._result(region, values, started=started, history=history, n_evaluations=n_eval, info=info)


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)
