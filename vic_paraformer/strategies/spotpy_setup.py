"""One cell's spotpy run: the setup class spotpy drives and :func:`run_cell`.

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
* **Randomness.** spotpy draws from numpy's *global* RNG; each cell runs with its own seed
  (:func:`vic_paraformer.strategies.cell_mapping.cell_seed`) and the caller's global RNG state is
  restored afterwards (:func:`preserved_global_rng`).
* **Threads.** Each cell runs torch on one thread (:func:`single_torch_thread`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import StrategyError
from ..objective import Objective, ObjectiveOptions
from ..parameters import ParameterSpace
from .cell_models import CellModel

spotpy_log = logging.getLogger("vic_paraformer.strategies.spotpy")


class BudgetExhausted(Exception):
    """Raised inside spotpy once the evaluation budget of a cell is spent (caught by :func:`run_cell`)."""


#: The plain objective (loss ``paper``, identity operator, soil moisture only).
PLAIN_OBJECTIVE = Objective(ObjectiveOptions(loss="paper"))


def rmse_loss(sim: np.ndarray, obs: np.ndarray) -> float:
    """RMSE of ``sim`` against ``obs`` (same shape) through :data:`PLAIN_OBJECTIVE`; ``inf`` if sim is not finite."""
    sim = np.asarray(sim, float)
    if sim.shape != np.shape(obs):
        return float("inf")
    return PLAIN_OBJECTIVE.value(sim[None], np.asarray(obs, float)[None])


@dataclass
class CellObjective:
    """One cell's inputs to the calibration's :class:`~vic_paraformer.objective.Objective`.

    ``loss_days`` marks the days after the warm-up; ``ref_et`` is the cell's reference ET series
    (NaN where unknown), ``ref_q_ratio`` the default run's (runoff + baseflow) / P (simulator mode
    only), ``obs_et`` the ET observations (``objective="sm+et"``), ``prior_u`` the normalised
    default parameters (prior term).
    """

    objective: Objective = PLAIN_OBJECTIVE
    loss_days: np.ndarray | None = None
    ref_et: np.ndarray | None = None
    ref_q_ratio: float = float("nan")
    prec: np.ndarray | None = None
    obs_et: np.ndarray | None = None
    prior_u: np.ndarray | None = None
    space: ParameterSpace | None = None
    #: the SM RMSE through the operator of the last candidate evaluated (the model-data mismatch)
    last_sm_rmse: float = float("nan")

    def value(self, out: dict[str, np.ndarray], mask: np.ndarray, obs: np.ndarray,
              theta: np.ndarray | None = None) -> float:
        """The objective for one candidate's outputs ``out`` (``(T,)`` each); ``obs`` = obs_sm on ``mask``."""
        return self.evaluate(out, mask, obs, theta)[0]

    def evaluate(self, out: dict[str, np.ndarray], mask: np.ndarray, obs: np.ndarray,
                 theta: np.ndarray | None = None) -> tuple[float, float]:
        """``(objective, data fit)`` for one candidate: the total and its data-fit term (the RMSE part
        without penalties, what a confidence region is judged on); ``inf`` for a broken run."""
        sm = np.asarray(out["sm"], float)
        if not np.all(np.isfinite(sm)):
            return float("inf"), float("inf")
        o = self.objective.options
        d = np.ones(sm.shape[-1], bool) if self.loss_days is None else self.loss_days
        et = None if "et" not in out else np.asarray(out["et"], float)[d][None]
        kw: dict[str, Any] = {}
        if o.uses_et:
            if et is None:
                raise StrategyError(f"objective {o.objective!r} needs a model that simulates ET")
            kw.update(et=et, obs_et=self.obs_et[d][None])
        if o.loss == "wb" and et is not None and self.ref_et is not None:
            kw.update(wb_et=et, ref_et=self.ref_et[d][None])
            if "runoff" in out and "baseflow" in out and self.prec is not None:
                kw.update(runoff=out["runoff"][d][None], baseflow=out["baseflow"][d][None], prec=self.prec[d][None],
                          ref_q_ratio=[self.ref_q_ratio])
        if o.prior_weight > 0 and theta is not None and self.prior_u is not None and self.space is not None:
            kw.update(u=np.asarray(self.space.normalize(np.asarray(theta, float)), float)[None],
                      prior_u=self.prior_u[None])
        terms = self.objective.evaluate(sm[mask][None], obs[None], **kw)
        self.last_sm_rmse = terms["sm_rmse"]
        fit = terms["fit"] if np.isfinite(terms["fit"]) else float("inf")
        return terms["total"], fit


class SpotpySetup:
    """The spotpy setup of one cell: parameters, model runs, observations and the objective.

    Counts real model calls in :attr:`n_evaluations` and tracks the best (lowest-loss)
    parameters in :attr:`best_theta` / :attr:`best_loss`. After ``max_evaluations`` model calls
    the next call raises :class:`BudgetExhausted`.
    """

    def __init__(self, model: CellModel, obs: np.ndarray, mask: np.ndarray, space: ParameterSpace, *,
                 maximize: bool = False, max_evaluations: int | None = None,
                 objective: CellObjective | None = None) -> None:
        import spotpy

        self.model = model
        self.objective = objective if objective is not None else CellObjective()
        self.best_sm: np.ndarray | None = None
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
        self.fits: list[float] = []  # each candidate's data-fit term, beside its loss
        self.thetas: list[np.ndarray] = []  # every evaluated candidate, beside its loss in ``losses``
        self.min_fit = float("inf")
        self.min_fit_sm: np.ndarray | None = None  # SM of the best-fitting candidate (its residuals' correlation)
        self.min_fit_sm_rmse = float("nan")  # its SM RMSE through the objective's operator (the mismatch)

    def parameters(self):
        import spotpy

        return spotpy.parameter.generate(self._params)

    def loss(self, theta: np.ndarray) -> float:
        """Run the model once (counted) and return the loss; updates the best point."""
        if self.max_evaluations is not None and self.n_evaluations >= self.max_evaluations:
            raise BudgetExhausted
        theta = np.asarray(theta, float)
        out = self.model.simulate_outputs(theta)
        sim = out["sm"]
        self.n_evaluations += 1
        value, fit = self.objective.evaluate(out, self.mask, self.obs, theta)
        self.losses.append(value)
        self.fits.append(fit)
        if fit < self.min_fit:
            self.min_fit, self.min_fit_sm = fit, np.asarray(sim, float)[self.mask].copy()
            self.min_fit_sm_rmse = float(getattr(self.objective, "last_sm_rmse", float("nan")))
        self.thetas.append(theta.copy())
        if value < self.best_loss or self.best_theta is None:
            self.best_loss, self.best_theta = value, theta.copy()
            self.best_sm = np.asarray(sim, float).copy()
        self._last_sim = np.asarray(sim, float)[self.mask]
        self._last_loss = value
        return value

    def simulation(self, vector) -> np.ndarray:
        theta = np.array([vector[i] for i in range(self.space.n)], dtype=float)
        self.loss(theta)
        return self._last_sim

    def evaluation(self) -> np.ndarray:
        return self.obs

    def objectivefunction(self, simulation, evaluation, params=None) -> float:
        value = self._last_loss
        return -value if self.maximize else value


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
    objective: CellObjective | None = None
    tolerance: float | None = None  # keep the candidates within this relative tolerance of the best
    #: "confidence": the cell's confidence region (level ``level``, ``directions`` line searches);
    #: "tolerance": the candidates within ``tolerance``; None: no uncertainty
    uncertainty: str | None = None
    level: float = 0.90
    directions: int = 0
    #: confidence regions only: also the model-error term's sensitivities (2 p runs at the point value)
    model_error: bool = False
    #: the model's own SM error against the simulator it stands for (a surrogate's validation RMSE, m3/m3),
    #: added in quadrature to the cell's mismatch in the model-error term
    model_sigma: float = 0.0

    @property
    def mask(self) -> np.ndarray:
        m = np.isfinite(self.obs)
        m[: self.warmup] = False
        return m


@dataclass
class CellOutcome:
    """Result of :func:`run_cell`: ``n_evaluations`` counts the optimiser's model runs (the confidence
    region's line searches, on top of them, are ``region["runs"]``)."""

    cell: int
    theta: np.ndarray
    loss: float
    n_evaluations: int
    algorithm_best_loss: float
    budget_exhausted: bool
    wall_time: float
    best_sm: np.ndarray | None = None
    tolerance_set: np.ndarray | None = None  # (n, p) the cell's set: tolerance set or confidence-region members
    region: dict[str, float] | None = None  # the confidence region's statistics (n, r1, n_eff, ratio, runs)


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


@contextlib.contextmanager
def _isolated():
    with preserved_global_rng(), quiet_spotpy(), single_torch_thread():
        yield


def run_cell(task: CellTask, *, isolate: bool = True) -> CellOutcome:
    """Calibrate one cell with spotpy's ``task.algorithm`` (top-level, so workers can pickle it).

    ``isolate=False`` leaves out the process-wide settings (global RNG restore, stdout redirection,
    torch threads): for a caller that sets them once around several cells
    (:mod:`vic_paraformer.strategies.lockstep`)."""
    import spotpy.algorithms

    started = time.perf_counter()
    try:
        algo_cls = getattr(spotpy.algorithms, task.algorithm)
    except AttributeError:
        raise StrategyError(f"spotpy has no algorithm {task.algorithm!r}") from None
    exhausted = False
    with _isolated() if isolate else contextlib.nullcontext():
        # spotpy's parameter objects draw from the global RNG when built, so build them in here
        setup = SpotpySetup(task.model, task.obs, task.mask, task.space, maximize=task.maximize,
                            max_evaluations=task.max_evaluations, objective=task.objective)
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
    # the point value and the run count are the optimiser's (the region's line searches come on top)
    best_loss, best_sm, n_runs = float(setup.best_loss), setup.best_sm, int(setup.n_evaluations)
    kept = region = None
    method = task.uncertainty if task.uncertainty is not None else ("tolerance" if task.tolerance is not None else None)
    if method == "tolerance":
        from ..uncertainty import tolerance_mask

        keep = tolerance_mask(np.asarray(setup.losses, float), task.tolerance)
        kept = task.space.clip(np.stack(setup.thetas)[keep])
    elif method == "confidence":
        from .confidence_region import confidence_region

        with _isolated() if isolate else contextlib.nullcontext():
            kept, region = confidence_region(task, setup)
    return CellOutcome(cell=int(task.cell), theta=theta, loss=best_loss,
                       n_evaluations=n_runs, algorithm_best_loss=algo_best,
                       budget_exhausted=exhausted, wall_time=time.perf_counter() - started, best_sm=best_sm,
                       tolerance_set=kept, region=region)

