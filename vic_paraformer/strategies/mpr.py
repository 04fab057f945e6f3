"""MPR: transfer functions of the cell attributes, their coefficients calibrated jointly.

Multiscale parameter regionalisation (Samaniego et al. 2010; for VIC over the contiguous US,
Mizukami et al. 2017) is the regional method large-domain VIC studies use without deep learning:
each parameter is a fixed-form function of the cell attributes and only the few coefficients of
those functions are calibrated, jointly over all training cells, by a global optimiser. It gives
spatially smooth parameters for every cell with attributes and needs no gradients.

Here the functions are linear in the logit of the normalised parameter over standardised attributes
(:mod:`vic_paraformer.strategies.transfer`); with ``P`` parameters and ``K`` attributes there are
``P (K + 1)`` unknowns (40 for the five parameters and seven attributes). Every candidate set of
coefficients is scored on all training cells at once -- one batched surrogate call (or one simulator
run over the training cells) -- by the same objective the other strategies use (observation
operator, loss, water-balance term, weights: :class:`vic_paraformer.objective.Objective`), averaged
over the training cells. The optimiser is spotpy's DDS (default: suited to tens of unknowns and a
fixed budget) or SCE-UA. The search starts from the region's own parameters (the intercepts at the
logit of their mean, slopes zero); ``prior_weight`` (an objective option) pulls the parameters
towards the region's own values, the documented regularisation.

Options (besides the objective's, ``surrogate``, ``simulator``, ``simulator_options`` and
``warmup`` as for SCE-UA):

``repetitions``     joint evaluations (each scores every training cell), default 2000
``optimizer``       ``dds`` (default) or ``sceua``
``attributes``      attribute names (None: :data:`~vic_paraformer.strategies.transfer.DEFAULT_ATTRIBUTES`
                    present in the region with some spread)
``log_attributes``  attributes log-transformed before standardising (default ksat, aridity)
``coef_bound``      search range of each slope, +- this many logits per standard deviation (3)
``intercept_bound`` search range of each intercept, +- logits (6)
``r``, ``ngs``      DDS perturbation size (0.2); SCE-UA complexes (2)

Discharge (objectives with ``q``: ``sm+q``, ``sm+et+q``, weighted forms): the region needs gauges
(``obs_q``) and its routing kernel (:mod:`vic_paraformer.dl.basins`). Every candidate's transfer
functions give parameters to every source cell of the gauged basins too; their whole-period runoff +
baseflow (one more batched surrogate call, or simulator run, over the basin cells) is routed to the
gauges with the numpy convolution evaluation uses and scored from day ``warmup + kernel length - 1``
on. The discharge term (``q`` weight times the mean over gauges of ``1 - q_metric``) enters every
training cell's objective, so the mean over the cells adds it once: one objective, as for the others.

The result's ``info["transfer_functions"]`` holds the fitted coefficients and standardisation and
``info["transfer_functions_text"]`` the functions in a readable form; :func:`apply_transfer_functions`
gives parameters for any region with the same attributes.

Example::

    vp.calibrate(region, strategy="mpr", surrogate="surrogate.pt", repetitions=2000, seed=0)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..errors import StrategyError
from ..objective import ObjectiveOptions
from ..parameters import ParameterSpace, default_parameters
from ..region import Region
from ..result import CalibrationResult
from .spotpy_base import SpotpyCellCalibrator
from .spotpy_setup import BudgetExhausted, CellTask, preserved_global_rng, quiet_spotpy, single_torch_thread
from .transfer import DEFAULT_LOG_ATTRIBUTES, TransferFunctions, choose_attributes, logit

log = logging.getLogger(__name__)

_NOT_USED = ("n_workers", "backend", "scheduler", "lockstep", "uncertainty_tolerance", "uncertainty",
             "uncertainty_level", "uncertainty_directions", "uncertainty_model_error")


class MPRCalibrator(SpotpyCellCalibrator):
    """Transfer functions of attributes, coefficients calibrated jointly over the training cells."""

    name = "mpr"
    description = ("MPR-style regionalisation: logit-linear transfer functions of the attributes, coefficients "
                   "calibrated jointly over the training cells (spotpy DDS or SCE-UA)")
    algorithm = "dds"
    maximize = True
    min_repetitions = 10
    default_options = {**{k: v for k, v in SpotpyCellCalibrator.common_options.items() if k not in _NOT_USED},
                       "repetitions": 2000, "optimizer": "dds", "attributes": None,
                       "log_attributes": list(DEFAULT_LOG_ATTRIBUTES), "coef_bound": 3.0, "intercept_bound": 6.0,
                       "r": 0.2, "ngs": 2}
    option_help = {**{k: v for k, v in SpotpyCellCalibrator.option_help.items() if k not in _NOT_USED},
                   "repetitions": "joint evaluations of the coefficients (each scores every training cell at once)",
                   "optimizer": "'dds' (default: tens of unknowns, fixed budget) or 'sceua'",
                   "attributes": "attribute names the functions use (None: the default texture, conductivity, depth, "
                                 "slope, vegetation and climate attributes present with some spread)",
                   "log_attributes": "attributes log-transformed before standardising",
                   "coef_bound": "search range of each slope: +- this many logits per standard deviation",
                   "intercept_bound": "search range of each intercept: +- this many logits",
                   "r": "DDS perturbation size as a share of each coefficient's range",
                   "ngs": "SCE-UA complexes"}
    option_types = {**SpotpyCellCalibrator.option_types, "attributes": "list of str", "log_attributes": "list of str"}

    def option_problems(self) -> list[str]:
        # the base class refuses discharge for subclasses with a search of their own: MPR's routes the
        # gauged basins of every candidate (JointDischarge), so that refusal does not apply
        refused = f"fits discharge at gauges, which {self.name} cannot see"
        problems = [p for p in super().option_problems() if refused not in p]
        o = self.options
        if o.get("optimizer") not in ("dds", "sceua"):
            problems.append(f"optimizer must be 'dds' or 'sceua', got {o.get('optimizer')!r}")
        for key in ("coef_bound", "intercept_bound"):
            v = o.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                problems.append(f"{key} must be a positive number, got {v!r}")
        r = o.get("r")
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1:
            problems.append(f"r (DDS perturbation size) must be in (0, 1], got {r!r}")
        ngs = o.get("ngs")
        if isinstance(ngs, bool) or not isinstance(ngs, int) or ngs < 1:
            problems.append(f"ngs must be a positive integer, got {ngs!r}")
        for key in ("attributes", "log_attributes"):
            v = o.get(key)
            if v is not None and (isinstance(v, str) or not all(isinstance(a, str) for a in v)):
                problems.append(f"{key} must be a list of attribute names, got {v!r}")
        return problems

    def _in_process(self, n_tasks: int) -> bool:
        return True

    # ------------------------------------------------------------------------------------------
    def calibrate(self, region: Region) -> CalibrationResult:
        started = time.perf_counter()
        self.check(region)
        o = self.options
        train = np.asarray(region.training_cells)
        tasks, warmup, mode = self._tasks(region, train)
        space = self.parameter_space
        names = choose_attributes(region.attribute_names, region.attributes(), o.get("attributes"))
        tf = TransferFunctions.standardised_on(space.names, names, region.attributes(names),
                                               o.get("log_attributes") or ())
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = np.array([pos[int(c)] for c in train])
        attrs_train = region.attributes(names)[rows]
        if tf.n_coefficients > len(train):
            log.warning("%s: %d coefficients from %d training cell(s): the transfer functions are under-determined "
                        "by the cells alone (the search bounds and the start decide part of them); name fewer "
                        "attributes with the 'attributes' option or train on more cells", self.name,
                        tf.n_coefficients, len(train))
        batch = _BatchModel(tasks, region, rows, space, o)
        discharge = None
        if ObjectiveOptions.from_options(o).uses_q:
            from .mpr_discharge import JointDischarge

            discharge = JointDischarge(region, batch.basin_model, batch.options["objective"], tf, names, space, warmup,
                                       self.name)
            for t in tasks:
                t.objective.objective = discharge.wrap(t.objective.objective)
            self._objective_info = {**getattr(self, "_objective_info", {}), "discharge": discharge.describe()}
        start = self._start(region, tf)
        log.info("%s: %d coefficients (%d parameters x (1 + %d attributes: %s)) over %d training cells against %s, "
                 "%s, up to %d joint evaluations", self.name, tf.n_coefficients, space.n, len(names), ", ".join(names),
                 len(train), mode, o["optimizer"], o["repetitions"])
        setup = _JointSetup(batch, tasks, tf, attrs_train, space, start, float(o["coef_bound"]),
                            float(o["intercept_bound"]), int(o["repetitions"]), maximize=o["optimizer"] == "dds",
                            discharge=discharge)
        exhausted = _optimise(setup, o, self.seed)
        tf.coef = setup.best_coef.reshape(tf.coef.shape)
        values = tf.apply(region.attributes(names), space)
        text = tf.describe(space)
        for line in text:
            log.info("%s: %s", self.name, line)
        info = {
            "mode": mode, "warmup_days": warmup, "calibrated_cells": [int(c) for c in train],
            "optimizer": o["optimizer"], "budget_exhausted": exhausted,
            "transfer_functions": tf.to_dict(), "transfer_functions_text": text,
            "objective": "mean over the training cells of the calibration objective (see vic_paraformer.objective)",
        }
        info.update(getattr(self, "_objective_info", {}))
        history = {"best_objective": [setup.best_loss], "objective_trace": list(setup.trace),
                   "evaluations": [float(setup.n_evaluations)]}
        op = self._final_operator(region, train, batch.outcomes(setup), warmup)
        return self._result(region, values, started=started, history=history, n_evaluations=setup.n_evaluations,
                            info=info, obs_operator=op, warmup_days=warmup)

    def _start(self, region: Region, tf: TransferFunctions) -> np.ndarray:
        """The starting coefficients: intercepts at the logit of the mean normalised own parameters, slopes 0."""
        values, _ = default_parameters(region, self.parameter_space)
        u = np.asarray(self.parameter_space.normalize(values), float)
        start = np.zeros_like(tf.coef)
        start[:, 0] = logit(np.clip(u.mean(axis=0), 0.02, 0.98))
        return start.ravel()


class _BatchModel:
    """Parameters of every training cell -> their outputs, in one surrogate call or simulator run."""

    def __init__(self, tasks: list[CellTask], region: Region, rows: np.ndarray, space: ParameterSpace,
                 options: dict[str, Any]) -> None:
        self.tasks, self.space, self.options = tasks, space, options
        self.surrogate = None
        if options.get("surrogate") is not None:
            import torch

            self.surrogate = tasks[0].model._get()
            self.x = torch.as_tensor(np.stack([t.model.x for t in tasks]))
            self.a = torch.as_tensor(np.stack([t.model.a for t in tasks]))
        else:
            from ..registry import get_simulator

            self.sim = get_simulator(options["simulator"], **dict(options.get("simulator_options") or {}))
            self.sub = region.subset(region.cells[rows])

    def outputs(self, theta: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Per training cell, its outputs (``sm``, ``et``, and ``runoff``/``baseflow`` with a simulator)."""
        if self.surrogate is not None:
            import torch

            u = torch.as_tensor(np.asarray(self.space.normalize(theta), np.float32)).clamp(0.0, 1.0)
            dev = getattr(self.surrogate, "device", None) or "cpu"
            with torch.no_grad():
                y = self.surrogate.predict_tensor(self.x.to(dev), self.a.to(dev), u.to(dev))
            y = y.detach().cpu().numpy().astype(float)
            return [{"sm": y[i, :, 0], **({"et": y[i, :, 1]} if y.shape[-1] > 1 else {})} for i in range(len(y))]
        out = self.sim.simulate(self.sub, self.space.to_dataset(theta, self.sub.cells))
        arrays = {k: np.asarray(out[k].values, float) for k in ("sm", "et", "runoff", "baseflow") if k in out}
        return [{k: v[i] for k, v in arrays.items()} for i in range(len(self.tasks))]

    def basin_model(self, region: Region, rows: np.ndarray, name: str):
        """``theta (cells, p) -> runoff + baseflow (cells, days)`` (mm/day) of the region's cells at ``rows``:
        one batched surrogate call or one simulator run."""
        if self.surrogate is not None:
            import torch

            from ..errors import SurrogateError

            try:
                self.surrogate.require_outputs(("runoff", "baseflow"), f"objective {self.options['objective']!r}")
            except SurrogateError as exc:
                raise StrategyError(f"strategy {name!r}: {exc}") from None
            r, b = self.surrogate.output_index("runoff"), self.surrogate.output_index("baseflow")
            dev = getattr(self.surrogate, "device", None) or "cpu"
            x, a = self.surrogate.prepare(region.load_cells(rows))
            x, a = x.to(dev), a.to(dev)

            def run(theta: np.ndarray) -> np.ndarray:
                u = torch.as_tensor(np.asarray(self.space.normalize(theta), np.float32)).clamp(0.0, 1.0).to(dev)
                with torch.no_grad():
                    y = self.surrogate.predict_tensor(x, a, u)
                return (y[..., r] + y[..., b]).cpu().numpy().astype(float)
            return run
        sub = region.subset(region.cells[rows])

        def simulate(theta: np.ndarray) -> np.ndarray:
            out = self.sim.simulate(sub, self.space.to_dataset(theta, sub.cells))
            return np.asarray(out["runoff"].values, float) + np.asarray(out["baseflow"].values, float)
        return simulate

    def outcomes(self, setup: "_JointSetup"):
        """Per training cell, an object with ``cell`` and ``best_sm`` (for the final operator fit)."""
        from .spotpy_setup import CellOutcome

        out = []
        for t, sm, th in zip(self.tasks, setup.best_sm, setup.best_theta):
            out.append(CellOutcome(cell=t.cell, theta=th, loss=float("nan"), n_evaluations=setup.n_evaluations,
                                   algorithm_best_loss=float("nan"), budget_exhausted=False, wall_time=0.0,
                                   best_sm=sm))
        return out


class _JointSetup:
    """The spotpy setup of the joint problem: coefficients -> every training cell's objective, averaged."""

    def __init__(self, batch: _BatchModel, tasks: list[CellTask], tf: TransferFunctions, attrs: np.ndarray,
                 space: ParameterSpace, start: np.ndarray, coef_bound: float, intercept_bound: float,
                 max_evaluations: int, *, maximize: bool, discharge=None) -> None:
        import spotpy

        self.batch, self.tasks, self.tf, self.attrs, self.space = batch, tasks, tf, attrs, space
        self.discharge = discharge
        self.max_evaluations, self.maximize = max_evaluations, maximize
        n_attr = len(tf.attributes)
        self.lower, self.upper = [], []
        self._params = []
        for p, pname in enumerate(space.names):
            for k in range(1 + n_attr):
                b = intercept_bound if k == 0 else coef_bound
                label = f"{pname}_intercept" if k == 0 else f"{pname}_{tf.attributes[k - 1]}"
                guess = float(np.clip(start[p * (1 + n_attr) + k], -b, b))
                self._params.append(spotpy.parameter.Uniform(label, low=-b, high=b, optguess=guess, step=b / 10,
                                                             minbound=-b, maxbound=b))
                self.lower.append(-b)
                self.upper.append(b)
        self.start = np.clip(start, self.lower, self.upper)
        self.n_evaluations = 0
        self.best_loss = float("inf")
        self.best_coef = self.start.copy()
        self.best_sm: list[np.ndarray] = []
        self.best_theta = None
        self.trace: list[float] = []
        self._last = float("inf")

    def parameters(self):
        import spotpy

        return spotpy.parameter.generate(self._params)

    def loss(self, coef: np.ndarray) -> float:
        if self.n_evaluations >= self.max_evaluations:
            raise BudgetExhausted
        coef = np.asarray(coef, float)
        theta = self.tf.apply(self.attrs, self.space, coef)
        outs = self.batch.outputs(theta)
        if self.discharge is not None:
            self.discharge.update(coef)
        self.n_evaluations += 1
        losses = []
        for t, out, th in zip(self.tasks, outs, theta):
            losses.append(t.objective.value(out, t.mask, t.obs[t.mask], th))
        value = float(np.mean(losses)) if np.all(np.isfinite(losses)) else float("inf")
        if value < self.best_loss or self.best_theta is None:
            self.best_loss, self.best_coef, self.best_theta = value, coef.copy(), theta
            self.best_sm = [np.asarray(out["sm"], float) for out in outs]
        self.trace.append(self.best_loss)
        self._last = value
        return value

    def simulation(self, vector) -> np.ndarray:
        self.loss(np.array([vector[i] for i in range(len(self._params))], float))
        return np.array([self._last])

    def evaluation(self) -> np.ndarray:
        return np.array([0.0])

    def objectivefunction(self, simulation, evaluation, params=None) -> float:
        return -self._last if self.maximize else self._last


def _optimise(setup: _JointSetup, options: dict[str, Any], seed: int) -> bool:
    """Run the optimiser until its budget is spent or it converges; True when the budget ran out."""
    import spotpy.algorithms

    with preserved_global_rng(), quiet_spotpy("mpr"), single_torch_thread():
        setup.loss(setup.start)  # the region's own parameters are always a candidate
        if options["optimizer"] == "dds":
            sampler = spotpy.algorithms.dds(setup, dbname="vic_paraformer_mpr", dbformat="ram", save_sim=False,
                                            parallel="seq", random_state=seed, r=float(options["r"]))
            kwargs: dict[str, Any] = {"trials": 1, "x_initial": setup.start}
        else:
            sampler = spotpy.algorithms.sceua(setup, dbname="vic_paraformer_mpr", dbformat="ram", save_sim=False,
                                              parallel="seq", random_state=seed)
            kwargs = {"ngs": int(options["ngs"]), "kstop": 10, "pcento": 0.01, "peps": 0.001}
        try:
            sampler.sample(int(options["repetitions"]), **kwargs)
        except BudgetExhausted:
            return True
    return setup.n_evaluations >= setup.max_evaluations


def apply_transfer_functions(result: CalibrationResult, region: Region) -> np.ndarray:
    """Parameters ``(cells, p)`` of ``region`` from an ``mpr`` result's fitted functions (the region must
    have the attributes the functions use)."""
    d = (result.info or {}).get("transfer_functions")
    if d is None:
        raise StrategyError(f"the result of strategy {result.strategy!r} has no transfer functions (only mpr's do)")
    tf = TransferFunctions.from_dict(d)
    missing = [a for a in tf.attributes if a not in region.attribute_names]
    if missing:
        raise StrategyError(f"the region lacks attribute(s) {missing} the transfer functions use")
    return tf.apply(region.attributes(list(tf.attributes)), result.parameter_space)


__all__ = ("MPRCalibrator", "apply_transfer_functions")
