"""The base class of per-cell spotpy strategies (SCE-UA here, DDS in a plugin).

A per-cell strategy optimises each training cell on its own: it minimises the RMSE between
simulated and observed top-layer soil moisture on the observed days after a warm-up, against
either a trained surrogate (the default) or a real simulator (``waterbalance`` or ``vic``).
Untrained cells get the parameters of the nearest trained cell.

The machinery lives in modules with one job each:

* :mod:`.cell_geometry`  great-circle distance, nearest trained cell
* :mod:`.cell_models`    parameters -> one cell's soil moisture (surrogate or simulator)
* :mod:`.spotpy_setup`   the spotpy setup class and one cell's run (:func:`run_cell`), with
                         spotpy's traps (evaluation counting, direction, bounds, printing, RNG)
* :mod:`.cell_mapping`   per-cell seeds and the mapping of cells over processes or Dask

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
from .spotpy_setup import CellObjective, CellOutcome, CellTask, run_cell
from ..objective import (DEFAULT_ET_WEIGHT, DEFAULT_WB_WEIGHT, ObjectiveError, check_loss, check_objective,
                         pooled_std, reference_et)
from ..observation import DEFAULT_L2, NEW_CELL_RULES, ObservationOperatorError, check_operator_name
from ..observation import fit as fit_operator
from ..parameters import default_parameters

log = logging.getLogger(__name__)

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
        Maximum number of model runs per training cell (a hard cap, counted by us).
    ``warmup``
        Days at the start excluded from the loss (None: the surrogate's ``warmup``; with a
        simulator 0 when it runs with a spin-up, else :data:`DEFAULT_SIMULATOR_WARMUP` days,
        :func:`simulator_warmup`).
    ``n_workers``, ``backend``, ``scheduler``
        Parallel execution over cells through :class:`vic_paraformer.ensemble.EnsembleRunner`:
        ``backend="local"`` with ``n_workers`` processes (default None: all cores; ``1``: in this
        process) or ``backend="dask"`` with ``scheduler="tcp://host:port"`` (Dask workers load the
        surrogate from its path, so it must be on a filesystem they share). A surrogate given as an
        object is saved to a temporary checkpoint for local workers. Results do not depend on the
        number of workers (each cell has its own seed).

    ``obs_operator``, ``obs_operator_l2``, ``obs_operator_new_cells``
        Observation operator (``identity``, ``linear``, ``cdf``; :mod:`vic_paraformer.observation`):
        each objective evaluation compares ``H(sim)`` with obs, ``H`` fitted in closed form to that
        candidate's simulation (the operator is fitted jointly with the parameters). The operator
        at the best parameters is stored in the result.
    ``loss``, ``wb_weight``
        ``"wb"`` (default): the soil-moisture misfit plus the water-balance term of
        :mod:`vic_paraformer.objective` (long-term ET, and with a simulator also the runoff ratio,
        near the default-parameter run or obs_et); ``"paper"``: the RMSE only.
    ``objective``, ``et_weight``
        ``"sm"`` (default) or ``"sm+et"`` (needs obs_et; both RMSEs scaled by the observations'
        standard deviation, ET weighted by ``et_weight``).

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
        "obs_operator": "identity",
        "obs_operator_l2": DEFAULT_L2,
        "obs_operator_new_cells": "nearest",
        "loss": "wb",
        "wb_weight": DEFAULT_WB_WEIGHT,
        "prior_weight": 0.0,
        "wb_tolerance": 0.0,
        "objective": "sm",
        "et_weight": DEFAULT_ET_WEIGHT,
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
        "obs_operator": "observation operator H fitted with each candidate (closed form): 'identity', 'linear' "
                        "(per-cell a*sm+b) or 'cdf' (per-cell CDF matching); see vic_paraformer.observation",
        "obs_operator_l2": "ridge weight of the linear operator towards the identity ((m3/m3)^2)",
        "obs_operator_new_cells": "operator for cells it was not fitted on: 'nearest' fitted cell or 'identity'",
        "loss": "'wb': SM misfit + water-balance term (ET, and with a simulator the runoff ratio, near the "
                "default-parameter run or obs_et) (default); 'paper': RMSE only",
        "wb_weight": "weight of the water-balance term (1: a 10 % ET departure costs as much as 0.01 m3/m3 RMSE)",
        "wb_tolerance": "relative ET departure from the reference left free by the water-balance term (0: none, "
                        "the default)",
        "prior_weight": "weight of a pull towards the region's default parameters: prior_weight * mean((u - "
                        "u_default)^2) in normalised units (0: off, the default)",
        "objective": "'sm' or 'sm+et' (needs obs_et; RMSEs scaled by the observations' standard deviation)",
        "et_weight": "weight of the ET term for objective 'sm+et'",
    }
    option_types: ClassVar[Mapping[str, str]] = {"surrogate": "path", "simulator": "str", "warmup": "int",
                                                 "n_workers": "int", "scheduler": "str", "obs_operator": "str",
                                                 "obs_operator_new_cells": "str", "loss": "str", "objective": "str",
                                                 "wb_weight": "float", "et_weight": "float", "prior_weight": "float", "wb_tolerance": "float",
                                                 "obs_operator_l2": "float"}

    _tmpdir = None
    _surrogate_checks: dict | None = None

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
        for key, check in (("obs_operator", check_operator_name), ("loss", check_loss), ("objective", check_objective)):
            try:
                o[key] = check(o[key] if not (key == "obs_operator" and isinstance(o[key], bool))
                               else ("linear" if o[key] else "identity"))
            except (ObservationOperatorError, ObjectiveError) as exc:
                problems.append(str(exc))
        if o.get("obs_operator_new_cells") not in NEW_CELL_RULES:
            problems.append(f"obs_operator_new_cells must be one of {list(NEW_CELL_RULES)}, got "
                            f"{o.get('obs_operator_new_cells')!r}")
        for key in ("obs_operator_l2", "wb_weight", "et_weight", "prior_weight", "wb_tolerance"):
            try:
                if float(o[key]) < 0:
                    problems.append(f"{key} must be >= 0, got {o[key]!r}")
            except (TypeError, ValueError):
                problems.append(f"{key} must be a number, got {o[key]!r}")
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
        if o.get("objective") == "sm+et" and not region.has("obs_et"):
            problems.append("objective 'sm+et' needs ET observations (variable 'obs_et' in the region)")
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
            sur, path = self._surrogate(region)
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
        """Give each task its :class:`CellObjective` (operator, water-balance reference, ET objective)."""
        o = self.options
        if o["obs_operator"] == "identity" and o["loss"] == "paper" and o["objective"] == "sm" \
                and not float(o["prior_weight"]) > 0:
            return {"loss": "paper", "objective": "sm", "obs_operator_kind": "identity"}
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = [pos[t.cell] for t in tasks]
        loss_days = np.zeros(region.n_days, bool)
        loss_days[warmup:] = True
        obs_et = region.observations("obs_et") if region.has("obs_et") else None
        info: dict[str, Any] = {"loss": o["loss"], "objective": o["objective"], "obs_operator_kind": o["obs_operator"]}
        ref = q_ratio = None
        if o["loss"] == "wb":
            values, source = default_parameters(region, self.parameter_space)
            sub = region.subset(region.cells[rows])
            if o.get("surrogate") is not None:
                sur = self._surrogate()[0]
                default_et = np.asarray(sur.predict(sub, values[rows])["et"].values, float)
                q_ratio = np.full(len(rows), np.nan)
            else:
                from ..registry import get_simulator

                sim = get_simulator(o["simulator"], **dict(o.get("simulator_options") or {}))
                run = sim.simulate(sub, self.parameter_space.to_dataset(values[rows], sub.cells))
                default_et = np.asarray(run["et"].values, float)
                q = (np.asarray(run["runoff"].values, float) + np.asarray(run["baseflow"].values, float))[:, loss_days]
                p = np.asarray(sub.ds["prec"].values, float)[:, loss_days]
                q_ratio = q.sum(1) / np.maximum(p.sum(1), 1e-9)
            ref, src = reference_et(default_et, None if obs_et is None else obs_et[rows], loss_days)
            info.update(reference="default parameters: " + source, reference_et=[str(x) for x in src],
                        default_et_mm_per_year=(np.nanmean(default_et[:, loss_days], 1) * 365.25).tolist())
        sm_scale = pooled_std(region.observations("obs_sm")[rows][:, warmup:])
        et_scale = pooled_std(obs_et[rows][:, warmup:]) if obs_et is not None else 1.0
        prec = np.asarray(region.ds["prec"].values, float)
        prior_u = None
        if float(o["prior_weight"]) > 0:
            p_vals, p_src = default_parameters(region, self.parameter_space)
            prior_u = np.asarray(self.parameter_space.normalize(p_vals), float)
            info.update(prior_weight=float(o["prior_weight"]), prior="default parameters: " + p_src)
        for k, t in enumerate(tasks):
            i = rows[k]
            t.objective = CellObjective(
                operator=o["obs_operator"], operator_options={"l2": float(o["obs_operator_l2"])}
                if o["obs_operator"] == "linear" else {}, loss=o["loss"], wb_weight=float(o["wb_weight"]),
                objective=o["objective"], et_weight=float(o["et_weight"]), sm_scale=sm_scale, et_scale=et_scale,
                loss_days=loss_days, ref_et=None if ref is None else ref[k],
                ref_q_ratio=float("nan") if q_ratio is None else float(q_ratio[k]), prec=prec[i],
                obs_et=None if obs_et is None else obs_et[i], prior_weight=float(o["prior_weight"]),
                wb_tolerance=float(o["wb_tolerance"]),
                prior_u=None if prior_u is None else prior_u[i], space=self.parameter_space)
        return info

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
        if self.options.get("surrogate") is not None and self._surrogate_checks is not None:
            info["surrogate_checks"] = dict(self._surrogate_checks)
        n_eval = int(sum(o.n_evaluations for o in outcomes))
        log.info("%s: %d model runs, median best objective %.4g", self.name, n_eval,
                 float(np.median(history["best_objective"])))
        info.update(getattr(self, "_objective_info", {}))
        if info.get("loss") != "paper" or info.get("obs_operator_kind") != "identity":
            info["objective"] = (f"{info.get('objective', 'sm')} through the {info.get('obs_operator_kind')} observation "
                                 f"operator, loss {info.get('loss')} (see vic_paraformer.objective), on the days "
                                 "after the warm-up")
        op = self._final_operator(region, train, outcomes, warmup)
        return self._result(region, values, started=started, history=history, n_evaluations=n_eval, info=info,
                            obs_operator=op, warmup_days=warmup)

    def _final_operator(self, region: Region, train: np.ndarray, outcomes: list[CellOutcome], warmup: int):
        """The operator fitted to the best simulation of each training cell (None: identity)."""
        o = self.options
        if o["obs_operator"] == "identity" or any(oc.best_sm is None for oc in outcomes):
            return None
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = np.array([pos[int(oc.cell)] for oc in outcomes])
        obs = region.observations("obs_sm")[rows].copy()
        obs[:, :warmup] = np.nan
        sims = np.stack([oc.best_sm for oc in outcomes])
        kw = {"l2": float(o["obs_operator_l2"])} if o["obs_operator"] == "linear" else {}
        return fit_operator(o["obs_operator"], sims, obs, cells=region.cells[rows], lat=region.ds["lat"].values[rows],
                            lon=region.ds["lon"].values[rows], new_cells=o["obs_operator_new_cells"], **kw)


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)
