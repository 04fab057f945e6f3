"""The base class of per-cell spotpy strategies (SCE-UA here, DDS in a plugin).

A per-cell strategy optimises each training cell on its own: it minimises the RMSE between
simulated and observed top-layer soil moisture on the observed days after a warm-up, against
either a trained surrogate (the default) or a real simulator (``waterbalance`` or ``vic``).
Untrained cells get the parameters of the nearest trained cell. With an objective holding ``q``
(discharge at gauges) the cells of each gauged basin then share their runoff parameters (infilt, Ds,
Dsmax, Ws), searched against their SM (and ET) and the gauge's discharge (:mod:`.basins`).

The machinery lives in modules with one job each:

* :mod:`.cell_geometry`  great-circle distance, nearest trained cell
* :mod:`.cell_models`    parameters -> one cell's soil moisture (surrogate or simulator)
* :mod:`.spotpy_setup`   the spotpy setup class and one cell's run (:func:`run_cell`), with
                         spotpy's traps (evaluation counting, direction, bounds, printing, RNG)
* :mod:`.cell_mapping`   per-cell seeds and the mapping of cells over processes or Dask
* :mod:`.lockstep`       every cell's optimiser advancing together, one batched model call per step
* :mod:`.basins`         runoff parameters shared per gauged basin for objectives with discharge

The surrogate is resolved with :func:`vic_paraformer.surrogate.resolve.resolve_surrogate`, as
for the DL strategies.

Long module (over 400 lines): the shared options of every spotpy strategy with their checks, the
per-cell tasks with their objectives (operator, water-balance reference from the default run) and
the assembly of the result; the per-cell machinery itself lives in the modules above.

To build a new spotpy strategy, subclass :class:`SpotpyCellCalibrator` and set
``algorithm``, ``maximize`` and the two hooks :meth:`SpotpyCellCalibrator.algorithm_kwargs`
and :meth:`SpotpyCellCalibrator.sample_kwargs` (see :mod:`vic_paraformer.strategies.sceua`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from ..calibrator import Calibrator
from ..errors import StrategyError, VicParaformerError
from ..region import Region
from ..result import CalibrationResult
from .cell_geometry import nearest_trained
from .cell_mapping import cell_seed, map_cells
from .cell_models import SimulatorCellModel, SurrogateCellModel
from .lockstep import can_batch, run_lockstep
from .spotpy_setup import CellObjective, CellOutcome, CellTask, run_cell
from ..objective import (OBJECTIVE_OPTION_DEFAULTS, OBJECTIVE_OPTION_HELP, OBJECTIVE_OPTION_TYPES, Objective,
                         ObjectiveOptions, describe_reference, objective_option_problems, pooled_std, reference_et)
from ..objective import fit_operator
from ..parameters import default_parameters

log = logging.getLogger(__name__)

#: Default ``uncertainty_tolerance``: candidates whose objective is within 5 % of the cell's best
#: form its tolerance set (``uncertainty="tolerance"``, see :mod:`vic_paraformer.uncertainty`).
DEFAULT_UNCERTAINTY_TOLERANCE = 0.05
#: The ``uncertainty`` methods: the confidence region (default) or the tolerance set.
UNCERTAINTY_METHODS = ("confidence", "tolerance")

#: Warm-up days used with a simulator that runs without spin-up when the ``warmup`` option is not given.
DEFAULT_SIMULATOR_WARMUP = 365


def simulator_warmup(simulator_options: Mapping[str, Any] | None) -> int:
    """Warm-up days with a simulator when the ``warmup`` option is not given: 0 when the simulator
    runs with a spin-up (``spinup_years`` >= 1: the first year is run before day 0, so day 0 starts
    from a spun-up state), else :data:`DEFAULT_SIMULATOR_WARMUP` days (the state is still settling
    from its initial values)."""
    spin = (simulator_options or {}).get("spinup_years") or 0
    return 0 if int(spin) >= 1 else DEFAULT_SIMULATOR_WARMUP


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
        Maximum number of the optimiser's model runs per training cell (a hard cap, counted by us; the
        confidence region's line searches, ``uncertainty_directions``, come on top and are reported in
        the result's ``info["uncertainty_runs"]``).
    ``warmup``
        Days at the start excluded from the loss (None: the surrogate's ``warmup``; with a
        simulator 0 when it runs with a spin-up, else :data:`DEFAULT_SIMULATOR_WARMUP` days,
        :func:`simulator_warmup`).
    ``uncertainty``
        How the per-cell parameter uncertainty is made (None: none). ``"confidence"`` (default): the
        cell's joint confidence region at level ``uncertainty_level`` (default 0.90) by the classical
        nonlinear-regression F test on the data-fit term, with the number of observations corrected
        for the residuals' lag-1 autocorrelation, sampled by ``uncertainty_directions`` line searches
        from the best candidate (default None: ``4 p``; about 6 extra model runs each, on top of
        ``repetitions``); the result stores per cell the region's projection onto each parameter
        (``q05``/``q95``) and its members' median (see :mod:`vic_paraformer.uncertainty`).
        With ``uncertainty_model_error`` (default True) the interval is then widened, in quadrature
        around the point value, by the model-error term ``z * sigma / s_j`` that the DL ensembles use
        too (:func:`vic_paraformer.error_terms.model_error_halfwidth`: ``sigma`` the cell's
        model-data mismatch, ``s_j`` its soil moisture's sensitivity to parameter ``j`` at the point
        value, 2 p more model runs): the region alone assumes the model reproduces the observations
        up to noise, which a forcing error, a surrogate's bias or an unknown observation operator
        break. Untrained cells, which copy the nearest training cell, are widened as well by the
        transfer term (:func:`vic_paraformer.error_terms.transfer_halfwidth`: the error of copying a
        calibrated value across the cell's distance to its training cell, from the training cells'
        own differences at that distance). ``"tolerance"``: the tolerance set below, at no extra
        model runs.
    ``uncertainty_tolerance``
        With ``uncertainty="tolerance"`` (default :data:`DEFAULT_UNCERTAINTY_TOLERANCE`, 0.05): every
        candidate the algorithm evaluated for a cell whose objective is within this fraction of the
        cell's best (``loss <= best + tol * |best|``) joins the cell's tolerance set; the result stores
        its 5/50/95 % quantiles per cell (the 5-95 % interval widened where needed to hold the best
        candidate, the point value) and the set's size. None: no uncertainty (either method).
        Candidates from an optimiser are not a posterior sample: the set describes how flat the
        objective is around the optimum within the runs made, and it shrinks as the search converges
        (measured on the clean twin: it covers the truth far less often than 90 %).
    ``n_workers``, ``backend``, ``scheduler``
        Parallel execution over cells through :class:`vic_paraformer.ensemble.EnsembleRunner`:
        ``backend="local"`` with ``n_workers`` processes (default None: all cores; ``1``: in this
        process) or ``backend="dask"`` with ``scheduler="tcp://host:port"`` (Dask workers load the
        surrogate from its path, so it must be on a filesystem they share). A surrogate given as an
        object is saved to a temporary checkpoint for local workers. Results do not depend on the
        number of workers (each cell has its own seed).
    ``lockstep``
        With the local backend (default True): the cells' optimisers advance together and each step
        evaluates one candidate of every cell still optimising in one batched model call (one
        simulator run over those cells, or one surrogate pass), ``n_workers`` groups of cells in
        parallel (:mod:`vic_paraformer.strategies.lockstep`). Same candidates and results as the
        per-cell runs for a fixed seed, far fewer simulator processes. False: one model call per
        candidate per cell.

    The objective's options (``obs_operator``, ``obs_operator_l2``, ``obs_operator_new_cells``,
    ``loss``, ``wb_weight``, ``wb_tolerance``, ``wb_reference``, ``prior_weight``, ``objective``,
    ``et_weight``) are declared once for every strategy family in
    :class:`vic_paraformer.objective.ObjectiveOptions`. Each candidate is scored by
    :class:`vic_paraformer.objective.Objective` with the operator fitted in closed form to that
    candidate's simulation (jointly with the parameters); the operator at the best parameters is
    stored in the result. With a simulator, loss ``wb`` also keeps the runoff ratio near the
    default run's.

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
        "uncertainty": "confidence",
        "uncertainty_level": 0.90,
        "uncertainty_directions": None,
        "uncertainty_model_error": True,
        "uncertainty_tolerance": DEFAULT_UNCERTAINTY_TOLERANCE,
        "lockstep": True,
        **OBJECTIVE_OPTION_DEFAULTS,
    }
    default_options: ClassVar[Mapping[str, Any]] = common_options
    option_help: ClassVar[Mapping[str, str]] = {
        "surrogate": "surrogate checkpoint (.pt) to evaluate parameter sets with (the default mode)",
        "simulator": "instead of a surrogate, a registered simulator: 'waterbalance' or 'vic'",
        "simulator_options": "keyword arguments of that simulator (e.g. {exe: /path/vic_image.exe})",
        "repetitions": "most model runs per training cell (a hard cap, counted by us)",
        "warmup": "days at the start excluded from the loss (None: the surrogate's warm-up; with a simulator 0 "
                  "when it runs with a spin-up, else 365)",
        "n_workers": "worker processes over cells (None: all cores; 1: in this process)",
        "backend": "'local' process pool or 'dask'",
        "scheduler": "Dask scheduler address tcp://host:port (with backend 'dask')",
        "uncertainty": "per-cell parameter uncertainty: 'confidence' (the joint confidence region of the data-fit "
                       "term by the F test, sampled by line searches) or 'tolerance' (evaluated candidates within "
                       "uncertainty_tolerance of the best); None: none",
        "uncertainty_level": "confidence level of the region (uncertainty 'confidence')",
        "uncertainty_directions": "line searches sampling the confidence region, about 6 model runs each (None: 4 x "
                                  "the number of parameters; 0: the optimiser's candidates only)",
        "uncertainty_model_error": "with uncertainty 'confidence': widen each interval by the model-error term "
                                   "z * sigma / s_j (the parameter change whose SM change equals the cell's model-data "
                                   "mismatch; 2 x the number of parameters more runs per cell) and, at untrained "
                                   "cells, by the transfer term (the error of copying a value across that distance)",
        "uncertainty_tolerance": "with uncertainty 'tolerance': keep the evaluated candidates whose objective is within "
                                 "this fraction of the cell's best and store their 5/50/95 % quantiles per cell "
                                 "(None: no uncertainty)",
        "lockstep": "advance every cell's optimiser together: one simulator run (or surrogate pass) evaluates one "
                    "candidate of every cell (same results; local backend only)",
        **OBJECTIVE_OPTION_HELP,
    }
    option_types: ClassVar[Mapping[str, str]] = {"surrogate": "path", "simulator": "str", "warmup": "int",
                                                 "n_workers": "int", "scheduler": "str",
                                                 "uncertainty_tolerance": "float", "uncertainty": "str",
                                                 "uncertainty_level": "float", "uncertainty_directions": "int",
                                                 "uncertainty_model_error": "bool", **OBJECTIVE_OPTION_TYPES}

    _tmpdir = None
    _surrogate_checks: dict | None = None
    _lockstep_calls: int | None = None

    # hooks -----------------------------------------------------------------------------
    def algorithm_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the spotpy algorithm's constructor."""
        return {}

    def sample_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for ``sampler.sample(repetitions, ...)``."""
        return {}

    def __init__(self, *, seed: int = 0, parameter_space=None, **options: Any) -> None:
        self._space_given = parameter_space is not None
        super().__init__(seed=seed, parameter_space=parameter_space, **options)

    # validation ------------------------------------------------------------------------
    def option_problems(self) -> list[str]:
        problems = super().option_problems()
        o = self.options
        if "q" in _objective_terms(o.get("objective")) and type(self).calibrate is not SpotpyCellCalibrator.calibrate:
            # a subclass with a calibration of its own does not go through the per-basin search
            problems.append(f"objective {o.get('objective')!r} fits discharge at gauges, which {self.name} cannot see "
                            "(its search does not route the cells to the gauges); use objective 'sm' or 'sm+et' with it")
        sur, simname = o.get("surrogate"), o.get("simulator")
        if sur is not None and simname is not None:
            problems.append(f"{self.name} takes surrogate or simulator, not both")
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
        except (TypeError, ValueError, OverflowError):
            problems.append(f"repetitions must be an integer, got {o.get('repetitions')!r}")
        nw = o.get("n_workers")
        if nw is not None and (not isinstance(nw, int) or nw < 1):
            problems.append(f"n_workers must be a positive integer or None, got {nw!r}")
        if o.get("backend", "local") not in ("local", "dask"):
            problems.append(f"backend must be 'local' or 'dask', got {o.get('backend')!r}")
        elif o.get("backend", "local") == "dask" and not o.get("scheduler"):
            problems.append("backend='dask' needs scheduler='tcp://host:port'")
        w = o.get("warmup")
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 0):
            problems.append(f"warmup must be a non-negative number of days, got {w!r}")
        tol = o.get("uncertainty_tolerance")
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 10):
            problems.append(f"uncertainty_tolerance must be a number in [0, 10) or None, got {tol!r}")
        if "uncertainty" in o and o["uncertainty"] not in (None, *UNCERTAINTY_METHODS):
            problems.append(f"uncertainty must be one of {list(UNCERTAINTY_METHODS)} or None, got {o['uncertainty']!r}")
        lvl = o.get("uncertainty_level", 0.9)
        if isinstance(lvl, bool) or not isinstance(lvl, (int, float)) or not 0 < lvl < 1:
            problems.append(f"uncertainty_level must be a number in (0, 1), got {lvl!r}")
        nd = o.get("uncertainty_directions")
        if nd is not None and (isinstance(nd, bool) or not isinstance(nd, int) or nd < 0):
            problems.append(f"uncertainty_directions must be a non-negative integer or None, got {nd!r}")
        if not isinstance(o.get("uncertainty_model_error", True), bool):
            problems.append(f"uncertainty_model_error must be true or false, got {o.get('uncertainty_model_error')!r}")
        problems += objective_option_problems(o)
        return problems

    def validate(self, region: Region) -> list[str]:
        from ..surrogate.resolve import surrogate_file_problem  # here: listing options must not need torch

        problems = super().validate(region)
        o = self.options
        sur, w = o.get("surrogate"), o.get("warmup")
        if sur is None and o.get("simulator") is None:
            problems.append(f"{self.name} needs surrogate=<checkpoint> (the default mode) or "
                            "simulator='waterbalance'|'vic' to evaluate parameter sets")
        elif (msg := surrogate_file_problem(sur)) is not None:
            problems.append(msg)
        elif sur is not None:
            if not problems:
                try:
                    surrogate = self._surrogate(region)[0]
                    surrogate.check_region(region)
                    if w is None:
                        w = int(getattr(surrogate, "warmup", 0))
                except VicParaformerError as exc:
                    problems.append(str(exc))
        elif w is None:
            w = simulator_warmup(o.get("simulator_options"))
        if "q" in _objective_terms(o.get("objective")):
            from .basins import plan_basins

            try:
                plan_basins(region, str(o.get("objective")))
            except VicParaformerError as exc:
                problems.append(str(exc))
        if "et" in _objective_terms(o.get("objective")) and not region.has("obs_et"):
            problems.append(f"objective {o.get('objective')!r} needs ET observations (variable 'obs_et' in the region)")
        if isinstance(w, int) and w >= region.n_days:
            problems.append(f"the training cells have no obs_sm after the {w}-day warm-up (set the 'warmup' option "
                            f"to fewer days: the region has only {region.n_days} days)")
        if not problems and isinstance(w, int) and region.has("obs_sm"):
            obs = region.ds["obs_sm"].sel(cell=region.training_cells).values[:, w:]
            empty = region.training_cells[~np.isfinite(obs).any(axis=1)]
            if empty.size:
                problems.append(f"training cell(s) {empty[:5].tolist()} have no obs_sm after the {w}-day warm-up "
                                "(set the 'warmup' option to fewer days)")
        return problems

    # work ------------------------------------------------------------------------------
    def _surrogate(self, region: Region | None = None):
        """The resolved surrogate and its checkpoint path (None: in memory); adopts its parameter space
        (see :func:`~vic_paraformer.surrogate.resolve.resolve_surrogate`; the checks go to the result's info)."""
        from ..surrogate.resolve import resolve_surrogate

        resolved = resolve_surrogate(self.options.get("surrogate"), self.parameter_space, space_given=self._space_given,
                                     strategy=self.name, region=region, simulator=self.options.get("simulator"))
        self.parameter_space = resolved.parameter_space
        self._surrogate_checks = resolved.checks
        return resolved.surrogate, resolved.path

    def _lockstep(self, tasks: list[CellTask]) -> bool:
        """Whether to calibrate ``tasks`` in lockstep (option ``lockstep``, local backend, batchable models)."""
        o = self.options
        return bool(o.get("lockstep", True)) and o.get("backend", "local") == "local" and len(tasks) > 1 \
            and can_batch([t.model for t in tasks])

    def _run_units(self, tasks: list[CellTask]) -> list[CellOutcome]:
        """Optimise ``tasks`` (cells, or gauged basins): in lockstep where :meth:`_lockstep` allows, else one
        by one over the workers; outcomes in task order."""
        if not tasks:
            return []
        if self._lockstep(tasks):
            outcomes, stats = run_lockstep(tasks, n_workers=self.options.get("n_workers"),
                                           desc=f"{self.name} cell groups")
            self._lockstep_calls = (self._lockstep_calls or 0) + stats.calls
            return outcomes
        return map_cells(run_cell, tasks, n_workers=self.options.get("n_workers"),
                         backend=self.options.get("backend", "local"), scheduler=self.options.get("scheduler"),
                         desc=f"{self.name} cells")

    def _in_process(self, n_tasks: int) -> bool:
        o = self.options
        return o.get("backend", "local") == "local" and (o.get("n_workers") == 1 or n_tasks <= 1)

    def _checkpoint_for_workers(self, sur) -> str:
        """Save an in-memory surrogate to a temporary checkpoint that worker processes can load."""
        if not hasattr(sur, "save"):
            raise StrategyError(f"the surrogate object ({type(sur).__name__}) has no file and cannot be saved for "
                                "worker processes; pass surrogate=<checkpoint path> or n_workers=1")
        if self._tmpdir is None:
            from ..scratch import scratch_subdir

            self._tmpdir = scratch_subdir("surrogate")  # marked: 'vic-paraformer clean' finds a leftover
        return str(sur.save(Path(self._tmpdir) / "surrogate.pt"))

    def _tasks(self, region: Region, cells: np.ndarray) -> tuple[list[CellTask], int, str]:
        o = self.options
        obs_all = region.ds["obs_sm"]
        pos = {int(c): i for i, c in enumerate(region.cells)}
        base = dict(space=self.parameter_space, algorithm=self.algorithm, max_evaluations=int(o["repetitions"]),
                    maximize=self.maximize, algorithm_kwargs=self.algorithm_kwargs(), sample_kwargs=self.sample_kwargs(),
                    **self._uncertainty_task_options())
        tasks: list[CellTask] = []
        if o.get("surrogate") is not None:
            from ..error_terms import surrogate_sm_error

            sur, path = self._surrogate(region)
            base["model_sigma"] = surrogate_sm_error(sur)
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
            warmup = int(o["warmup"]) if o.get("warmup") is not None else simulator_warmup(o.get("simulator_options"))
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
        self._objective_info = self._attach_objectives(region, tasks, warmup)
        return tasks, warmup, mode

    def _attach_objectives(self, region: Region, tasks: list[CellTask], warmup: int) -> dict[str, Any]:
        """Give each task its :class:`CellObjective` (the calibration's Objective and the cell's inputs)."""
        o = self.options
        opts = ObjectiveOptions.from_options(o)
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = [pos[t.cell] for t in tasks]
        loss_days = np.zeros(region.n_days, bool)
        loss_days[warmup:] = True
        obs_et = region.observations("obs_et") if region.has("obs_et") else None
        info: dict[str, Any] = {"loss": opts.loss, "objective": opts.objective, "obs_operator_kind": opts.obs_operator}
        ref = q_ratio = None
        if opts.loss == "wb":
            values, source = default_parameters(region, self.parameter_space)
            sub = region.subset(region.cells[rows])
            if o.get("surrogate") is not None:
                sur = self._surrogate()[0]
                default_et = np.asarray(sur.predict(sub, values[rows])["et"].values, float)
                q_ratio = np.full(len(rows), np.nan)
                model = "the surrogate"
            else:
                from ..registry import get_simulator

                sim = get_simulator(o["simulator"], **dict(o.get("simulator_options") or {}))
                run = sim.simulate(sub, self.parameter_space.to_dataset(values[rows], sub.cells))
                default_et = np.asarray(run["et"].values, float)
                q = (np.asarray(run["runoff"].values, float) + np.asarray(run["baseflow"].values, float))[:, loss_days]
                p = np.asarray(sub.ds["prec"].values, float)[:, loss_days]
                q_ratio = q.sum(1) / np.maximum(p.sum(1), 1e-9)
                model = f"the {o['simulator']} simulator"
            ref, src = reference_et(default_et, None if obs_et is None else obs_et[rows], loss_days, opts.wb_reference)
            info.update(reference="default parameters: " + source, reference_et=[str(x) for x in src],
                        wb_reference=describe_reference(opts.wb_reference, src, model, source),
                        default_et_mm_per_year=(np.nanmean(default_et[:, loss_days], 1) * 365.25).tolist())
            log.info("%s: water-balance reference ET: %s", self.name, info["wb_reference"]["description"])
        objective = Objective(
            opts, sm_scale=pooled_std(region.observations("obs_sm")[rows][:, warmup:]),
            et_scale=pooled_std(obs_et[rows][:, warmup:]) if obs_et is not None else 1.0)
        prec = np.asarray(region.ds["prec"].values, float)
        prior_u = None
        if opts.prior_weight > 0:
            p_vals, p_src = default_parameters(region, self.parameter_space)
            prior_u = np.asarray(self.parameter_space.normalize(p_vals), float)
            info.update(prior_weight=opts.prior_weight, prior="default parameters: " + p_src)
        for k, t in enumerate(tasks):
            i = rows[k]
            t.objective = CellObjective(
                objective=objective, loss_days=loss_days, ref_et=None if ref is None else ref[k],
                ref_q_ratio=float("nan") if q_ratio is None else float(q_ratio[k]), prec=prec[i],
                obs_et=None if obs_et is None else obs_et[i], prior_u=None if prior_u is None else prior_u[i],
                space=self.parameter_space)
        return info

    def calibrate(self, region: Region) -> CalibrationResult:
        """Calibrate every training cell independently; untrained cells copy the nearest trained cell. With
        an objective holding ``q`` the gauged basins then share their runoff parameters (:mod:`.basins`)."""
        started = time.perf_counter()
        self.check(region)
        self._lockstep_calls = None
        train = np.asarray(region.training_cells)
        basins = None
        try:
            tasks, warmup, mode = self._tasks(region, train)
            log.info("%s: calibrating %d training cell(s) against %s, up to %d runs each",
                     self.name, len(tasks), mode, self.options["repetitions"])
            if ObjectiveOptions.from_options(self.options).uses_q:
                from .basins import calibrate_basins

                basins = calibrate_basins(self, region, tasks, warmup, self._run_units)
                outcomes = basins.units
            else:
                outcomes = self._run_units(tasks)
        finally:
            if self._tmpdir is not None:
                import shutil

                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None
        near = nearest_trained(region, train)
        if basins is None:
            thetas = np.stack([o.theta for o in outcomes])
            values = thetas[near]
        else:
            values = basins.values
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
        if basins is not None:
            info.update(basins.info)
        if self._lockstep_calls is not None:
            info["lockstep_batched_calls"] = int(self._lockstep_calls)
        if self.options.get("surrogate") is not None and self._surrogate_checks is not None:
            info["surrogate_checks"] = dict(self._surrogate_checks)
        n_eval = int(sum(o.n_evaluations for o in outcomes))
        if any(o.region is not None for o in outcomes):
            info["uncertainty_runs"] = int(sum(o.region["runs"] for o in outcomes if o.region is not None))
        log.info("%s: %d model runs, median best objective %.4g", self.name, n_eval,
                 float(np.median(history["best_objective"])))
        info.update(getattr(self, "_objective_info", {}))
        if info.get("loss") != "paper" or info.get("obs_operator_kind") != "identity":
            info["objective"] = (f"{info.get('objective', 'sm')} through the {info.get('obs_operator_kind')} observation "
                                 f"operator, loss {info.get('loss')} (see vic_paraformer.objective), on the days "
                                 "after the warm-up")
        sims = None if basins is None else basins.train_sm
        op = self._final_operator(region, train, outcomes[:len(train)], warmup, sims=sims)
        result = self._result(region, values, started=started, history=history, n_evaluations=n_eval, info=info,
                              obs_operator=op, warmup_days=warmup)
        from ..uncertainty import ParameterUncertainty

        tol = self.options.get("uncertainty_tolerance")
        if tol is None or self.options.get("uncertainty", "confidence") is None:
            return result
        tol = float(tol)
        rule = {"tolerance": tol, "rule": f"evaluated candidates with objective <= best + {tol:g} x |best| per "
                                          "training cell, 5-95 % interval widened to hold the best candidate; "
                                          "untrained cells copy the nearest training cell's"}
        if basins is not None and basins.sets is not None:
            rule["rule"] += "; in a gauged basin the shared parameters take the basin's own set"
            kind = "confidence region" if self.options.get("uncertainty", "confidence") == "confidence" else "tolerance set"
            unc = ParameterUncertainty.from_sets(basins.sets, kind, info=rule)
        elif basins is None and all(oc.tolerance_set is not None for oc in outcomes):
            if all(oc.region is not None for oc in outcomes):
                level = float(self.options.get("uncertainty_level", 0.9))
                stats = {k: [round(oc.region[k], 4) for oc in outcomes]
                         for k in ("n", "r1", "n_eff", "ratio", "sigma", "runs")}
                with_error = all("half" in oc.region for oc in outcomes)
                unc = ParameterUncertainty.from_regions(
                    [oc.tolerance_set for oc in outcomes], "confidence region" + (" + model-error term" if with_error
                                                                                  else ""),
                    info={"level": level, **{f"region_{k}": v for k, v in stats.items()},
                          "rule": f"{level:.0%} joint confidence region of the data-fit term per training cell "
                                  "(SSE <= SSE_min (1 + p/(n_eff - p) F(p, n_eff - p)), n_eff from the residuals' "
                                  "lag-1 autocorrelation), sampled by line searches from the best candidate; "
                                  "q05/q95 are its projection onto each parameter, widened to hold the point value"
                                  + ("; then widened in quadrature around the point value by the model-error term "
                                     "z * sigma / s_j (vic_paraformer.error_terms.model_error_halfwidth)"
                                     if with_error else "") + "; untrained cells copy the nearest training cell's"
                                  + (", widened in quadrature by the transfer term (vic_paraformer.error_terms."
                                     "transfer_halfwidth)" if with_error else "")})
                if with_error:
                    unc.info["sigma_model"] = round(float(outcomes[0].region.get("sigma_model", 0.0)), 6)
                    unc = self._widened(unc, np.stack([oc.region["half"] for oc in outcomes]),
                                        np.stack([oc.theta for oc in outcomes]))
                unc = unc.take(near)
                if with_error:
                    unc = self._with_transfer_term(region, unc, train, np.stack([oc.theta for oc in outcomes]),
                                                   values, level)
            else:
                unc = ParameterUncertainty.from_sets([oc.tolerance_set for oc in outcomes], "tolerance set",
                                                     info=rule).take(near)
        else:
            return result
        # the best candidate (the point value) belongs to every set but may lie outside its 5-95 %
        # quantiles (an optimum at the edge of its basin): widen the interval to hold it
        unc.quantiles[0] = np.minimum(unc.quantiles[0], values)
        unc.quantiles[2] = np.maximum(unc.quantiles[2], values)
        # the middle slot is the point value, the centre of the set: the set's per-parameter median is no
        # fitted parameter set, and the values written by default must be the values calibrated and scored
        unc.quantiles[1] = values
        result.uncertainty = unc
        return result

    def _with_transfer_term(self, region: Region, unc, train: np.ndarray, train_values: np.ndarray,
                            values: np.ndarray, level: float):
        """``unc`` (every cell of ``region``) with the untrained cells' intervals widened by the transfer
        term (:func:`vic_paraformer.error_terms.transfer_halfwidth` of the training cells' point values)."""
        from ..error_terms import region_transfer_halfwidth

        space = self.parameter_space
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = np.array([pos[int(c)] for c in train], int)
        half = region_transfer_halfwidth(np.asarray(space.normalize(train_values), float), region.ds["lat"].values,
                                         region.ds["lon"].values, rows, level)
        untrained = np.ones(region.n_cells, bool)
        untrained[rows] = False
        if untrained.any():
            unc.info["transfer_halfwidth_median"] = {n: round(float(np.median(half[untrained, j])), 4)
                                                     for j, n in enumerate(space.names)}
        return self._widened(unc, half, values)

    def _widened(self, unc, half: np.ndarray, points: np.ndarray):
        """``unc`` widened by the half-widths ``half`` (normalised, one row per row of ``unc``) in
        quadrature around the point values ``points`` (:func:`vic_paraformer.error_terms.widen`)."""
        from ..error_terms import widen

        space = self.parameter_space
        centre = np.asarray(space.normalize(points), float)
        q = np.asarray(space.normalize(unc.quantiles), float)
        q[0], q[2] = np.minimum(q[0], centre), np.maximum(q[2], centre)  # the interval holds its point value
        wide = space.clip(space.denormalize(widen(q, half, centre)))
        wide[1] = unc.quantiles[1]
        unc.quantiles = wide
        return unc

    def _uncertainty_task_options(self) -> dict[str, Any]:
        """The CellTask fields of the ``uncertainty*`` options."""
        o = self.options
        method = o.get("uncertainty", "confidence")
        tol = o.get("uncertainty_tolerance")
        if tol is None or method is None:
            method = tol = None  # uncertainty_tolerance=None: the older way of switching it off
        nd = o.get("uncertainty_directions")
        return dict(uncertainty=method, tolerance=None if tol is None else float(tol),
                    level=float(o.get("uncertainty_level", 0.9)),
                    directions=4 * self.parameter_space.n if nd is None else int(nd),
                    model_error=bool(o.get("uncertainty_model_error", True)) and method == "confidence")

    def _final_operator(self, region: Region, train: np.ndarray, outcomes: list[CellOutcome], warmup: int,
                        sims: np.ndarray | None = None):
        """The operator fitted to the best simulation of each training cell (``sims``, one row per
        training cell; default the outcomes' best ones) (None: identity)."""
        o = self.options
        if o["obs_operator"] == "identity" or (sims is None and any(oc.best_sm is None for oc in outcomes)):
            return None
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = np.array([pos[int(c)] for c in train]) if sims is not None else \
            np.array([pos[int(oc.cell)] for oc in outcomes])
        obs = region.observations("obs_sm")[rows].copy()
        obs[:, :warmup] = np.nan
        if sims is None:
            sims = np.stack([oc.best_sm for oc in outcomes])
        opts = ObjectiveOptions.from_options(o)
        return fit_operator(opts.obs_operator, sims, obs, cells=region.cells[rows], lat=region.ds["lat"].values[rows],
                            lon=region.ds["lon"].values[rows], new_cells=opts.obs_operator_new_cells,
                            **opts.operator_options)


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _objective_terms(objective) -> dict[str, float]:
    """The terms of an objective option (none for a missing or invalid one: its check reports it)."""
    from ..objective import ObjectiveError, objective_weights

    try:
        return objective_weights(objective if objective is not None else "sm")
    except ObjectiveError:
        return {}
