"""Per-basin calibration of the spotpy strategies with discharge at gauges (objectives with ``q``).

A gauge sees the routed sum of its basin's cells, so a per-cell search cannot fit it. With an
objective holding ``q`` the spotpy strategies (SCE-UA, DDS) work in two stages:

1. **Per cell**, every training cell is calibrated as without discharge, on the objective's other
   terms (``sm``, ``et``): soil moisture identifies ``expt`` per cell (and the layer depths where
   calibrated).
2. **Per gauged basin**, the runoff-generation parameters that soil moisture hardly sees
   (:data:`BASIN_PARAMETERS`: ``infilt`` for surface runoff, ``Ds``, ``Dsmax``, ``Ws`` for baseflow,
   those the space has; every parameter when it has none of them) are searched as **one set for all
   the basin's cells** (lumped), the
   other parameters keeping each cell's value from stage 1 (an untrained cell: its nearest training
   cell's), against the objective: the ``sm`` (and ``et``) terms pooled over the basin's training
   cells plus the objective's ``q`` weight times ``1 - q_metric`` at its gauge, on the days after the
   warm-up and the unit hydrographs' length (the channels start empty). A basin without training
   cells is fitted on discharge alone. ``q_metric="lognse"`` weighs the low flows (baseflow), KGE
   (the default) the whole hydrograph.

* **Basins.** From the Region's routing kernel (:func:`vic_paraformer.routing.routing_of`), each cell
  belongs to the smallest gauged basin containing it (its incremental basin; nested gauges split a
  basin), :func:`vic_paraformer.routing.network.gauge_basins`. Cells in no gauged basin keep their
  stage-1 parameters.
* **Order.** Basins are calibrated upstream first, by levels: a basin's level is one more than the
  highest level of the gauged basins nested in it (0 without any). The basins of one level are
  independent and are optimised together (in lockstep with the local backend, one batched model call
  per step). While a basin is optimised, the cells of the basins nested in it keep their calibrated
  parameters: their routed discharge is computed once and added to the basin's own.
* **Models.** A simulator runs the basin's cells (all of them, trained or not: they all feed the
  gauge); a surrogate predicts their runoff and baseflow (a surrogate without those outputs cannot
  fit discharge: a clear error).
* **Uncertainty.** A basin cell's tolerance set is its stage-1 set with the basin parameters replaced
  by the basin's own tolerance set (candidates within the tolerance of the basin's best).

Long module (over 400 lines): the two stages, the basins' order and their batched optimisation
belong together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import StrategyError
from ..parameters import ParameterSpace
from .cell_models import CellModel
from .spotpy_setup import CellObjective

log = logging.getLogger(__name__)

#: The parameters a gauged basin shares (searched against discharge); the others stay per cell. On the
#: synthetic twin, SM alone leaves infilt and the baseflow parameters unrecovered and the routed
#: discharge 20-60 % low, while it recovers expt per cell (r 0.93): sharing expt too loses that fit.
BASIN_PARAMETERS: tuple[str, ...] = ("infilt", "Ds", "Dsmax", "Ws")


def basin_columns(space: ParameterSpace) -> np.ndarray:
    """Columns of ``space`` a basin shares (:data:`BASIN_PARAMETERS` present, else all)."""
    cols = [j for j, n in enumerate(space.names) if n in BASIN_PARAMETERS]
    return np.array(cols if cols else range(space.n), int)


def sub_space(space: ParameterSpace, cols: np.ndarray) -> ParameterSpace:
    """The parameters ``cols`` of ``space`` as a space of their own."""
    return ParameterSpace(tuple(space.names[j] for j in cols), tuple(space.lower[j] for j in cols),
                          tuple(space.upper[j] for j in cols), space.preset_name)


# ------------------------------------------------------------------ rows of cells run with one parameter set each
class RowRunner:
    """Runs several cells, each with its own parameter set: a simulator on their sub-Region, or a
    surrogate on their prepared inputs. Small and picklable (the heavy objects are built lazily)."""

    def __init__(self, space: ParameterSpace, *, cell_ds=None, simulator: str | None = None,
                 simulator_options: Mapping[str, Any] | None = None, x: np.ndarray | None = None,
                 a: np.ndarray | None = None, surrogate_path: str | None = None, surrogate=None) -> None:
        self.space = space
        self.cell_ds, self.simulator = cell_ds, simulator
        self.simulator_options = dict(simulator_options or {})
        self.x = None if x is None else np.asarray(x, np.float32)
        self.a = None if a is None else np.asarray(a, np.float32)
        self.surrogate_path = surrogate_path
        self._surrogate = surrogate
        self._sim = self._region = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_sim"] = state["_region"] = None
        if self.surrogate_path is not None:
            state["_surrogate"] = None
        return state

    @property
    def n_rows(self) -> int:
        return int(self.cell_ds.sizes["cell"]) if self.cell_ds is not None else int(self.x.shape[0])

    @classmethod
    def concat(cls, runners: Sequence["RowRunner"]) -> "RowRunner":
        """One runner over the rows of several (same simulator or surrogate), in order."""
        import xarray as xr

        first = runners[0]
        if first.cell_ds is not None:
            ds = xr.concat([r.cell_ds for r in runners], dim="cell", data_vars="all", combine_attrs="override")
            return cls(first.space, cell_ds=ds, simulator=first.simulator, simulator_options=first.simulator_options)
        return cls(first.space, x=np.concatenate([r.x for r in runners]), a=np.concatenate([r.a for r in runners]),
                   surrogate_path=first.surrogate_path, surrogate=first._surrogate)

    def run(self, thetas: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs ``(rows, T)`` (``sm``, ``et``, ``runoff``, ``baseflow``) with physical parameters ``thetas`` ``(rows, p)``."""
        thetas = np.asarray(thetas, float)
        if self.cell_ds is not None:
            from ..region import Region
            from ..registry import get_simulator

            if self._sim is None:
                self._sim = get_simulator(self.simulator, **self.simulator_options)
                self._region = Region(self.cell_ds, validate=False)
            out = self._sim.simulate(self._region, self.space.to_dataset(thetas, self._region.cells))
            return {k: np.asarray(out[k].transpose("cell", ...).values, float)
                    for k in ("sm", "et", "runoff", "baseflow") if k in out}
        import torch

        sur = self._get()
        u = torch.as_tensor(np.asarray(self.space.normalize(thetas), float), dtype=torch.float32).clamp(0.0, 1.0)
        dev = getattr(sur, "device", None) or "cpu"
        with torch.no_grad():
            y = sur.predict_tensor(torch.as_tensor(self.x).to(dev), torch.as_tensor(self.a).to(dev), u.to(dev))
        y = y.detach().cpu().numpy().astype(float)
        names = tuple(getattr(sur, "output_names", ("sm", "et", "runoff", "baseflow")[:y.shape[-1]]))
        return {n: y[..., j] for j, n in enumerate(names)}

    def _get(self):
        if self._surrogate is None:
            from ..surrogate.resolve import load_surrogate_cached

            from ..surrogate.fixed import for_space

            self._surrogate = for_space(load_surrogate_cached(self.surrogate_path), self.space)
        return self._surrogate


# ------------------------------------------------------------------ one basin
@dataclass
class BasinRouting:
    """A basin's own cells routed to its gauge: ``uh`` ``(S, L)``, ``row`` ``(S,)`` positions in the
    basin's rows, ``weight`` ``(S,)`` = area / (1000 dt); ``q_fixed`` ``(T,)`` the discharge of the
    nested basins (their parameters fixed), m3/s."""

    uh: np.ndarray
    row: np.ndarray
    weight: np.ndarray
    q_fixed: np.ndarray

    def discharge(self, runoff: np.ndarray) -> np.ndarray:
        """Discharge (m3/s) at the gauge from the basin rows' runoff + baseflow ``(rows, T)`` (mm/day)."""
        t = runoff.shape[-1]
        n_fft = 1 << int(np.ceil(np.log2(max(t + self.uh.shape[1] - 1, 1))))
        src = np.asarray(runoff, float)[self.row]
        routed = np.fft.irfft(np.fft.rfft(src, n_fft, axis=-1) * np.fft.rfft(self.uh, n_fft, axis=-1), n_fft,
                              axis=-1)[:, :t]
        return self.q_fixed + self.weight @ routed


class BasinModel(CellModel):
    """One gauged basin: the shared parameters ``(len(cols),)`` -> every basin cell's outputs ``(rows, T)``
    and the discharge ``q`` ``(T,)`` at its gauge. ``base`` ``(rows, p)`` holds each cell's own
    parameters; ``cols`` are the columns the basin shares."""

    def __init__(self, runner: RowRunner, routing: BasinRouting, base: np.ndarray, cols: np.ndarray) -> None:
        self.runner, self.routing = runner, routing
        self.base, self.cols = np.asarray(base, float), np.asarray(cols, int)

    def rows_theta(self, theta: np.ndarray) -> np.ndarray:
        """Every basin cell's full parameter set with the shared ones ``theta``."""
        th = self.base.copy()
        th[:, self.cols] = np.asarray(theta, float)[None]
        return th

    def simulate(self, theta: np.ndarray) -> np.ndarray:
        return self.simulate_outputs(theta)["sm"]

    def simulate_outputs(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        th = self.rows_theta(theta)
        out = self.with_discharge(self.runner.run(th))
        out["cell_theta"] = th
        return out

    def with_discharge(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``rows`` (the basin cells' outputs) as ``cell_<name>``, with ``q`` the gauge's discharge; ``sm``
        is ``q`` too (what the optimiser's bookkeeping compares with the task's observations, ``obs_q``)."""
        if "runoff" not in rows or "baseflow" not in rows:
            raise StrategyError("fitting discharge needs a model that simulates runoff and baseflow (a surrogate "
                                "trained with the four outputs sm, et, runoff, baseflow, or a simulator)")
        out = {f"cell_{k}": v for k, v in rows.items()}
        out["q"] = out["sm"] = self.routing.discharge(rows["runoff"] + rows["baseflow"])
        return out

    def describe(self) -> str:
        return f"basin of {self.runner.n_rows} cells"


@dataclass
class BasinObjective:
    """A basin's objective (module docstring): its training cells' :class:`CellObjective` s pooled,
    plus discharge at its gauge. ``rows`` are the training cells' positions among the basin's rows,
    ``obs_sm`` ``(len(rows), T)`` their observations (NaN where none or in the warm-up)."""

    cells: list[CellObjective]
    rows: np.ndarray
    obs_sm: np.ndarray
    obs_q: np.ndarray
    q_days: np.ndarray
    template: CellObjective = field(default_factory=CellObjective)

    def value(self, out: dict[str, np.ndarray], mask: np.ndarray, obs: np.ndarray,
              theta: np.ndarray | None = None) -> float:
        """The basin's objective for one candidate (:meth:`evaluate`'s total)."""
        return self.evaluate(out, mask, obs, theta)[0]

    def evaluate(self, out: dict[str, np.ndarray], mask: np.ndarray, obs: np.ndarray,
                 theta: np.ndarray | None = None) -> tuple[float, float]:
        """``(objective, data fit)`` for one candidate, as :meth:`CellObjective.evaluate`; ``inf`` for a
        broken run."""
        sm_all = np.asarray(out["cell_sm"], float)
        if not np.all(np.isfinite(sm_all)) or not np.all(np.isfinite(out["q"])):
            return float("inf"), float("inf")
        t = self.template
        o = t.objective.options
        d = np.ones(sm_all.shape[-1], bool) if t.loss_days is None else t.loss_days
        rows = self.rows
        sm = sm_all[rows][:, d]
        kw: dict[str, Any] = {"q": np.asarray(out["q"], float)[self.q_days][None],
                              "obs_q": self.obs_q[self.q_days][None]}
        et = None if "cell_et" not in out else np.asarray(out["cell_et"], float)[rows][:, d]
        if o.uses_et:
            if et is None:
                raise StrategyError(f"objective {o.objective!r} needs a model that simulates ET")
            kw.update(et=et, obs_et=np.stack([c.obs_et[d] for c in self.cells]) if self.cells else et * np.nan)
        if rows.size and o.loss == "wb" and et is not None and all(c.ref_et is not None for c in self.cells):
            kw.update(wb_et=et, ref_et=np.stack([c.ref_et[d] for c in self.cells]))
            if all(c.prec is not None for c in self.cells):
                kw.update(runoff=out["cell_runoff"][rows][:, d], baseflow=out["cell_baseflow"][rows][:, d],
                          prec=np.stack([c.prec[d] for c in self.cells]),
                          ref_q_ratio=[c.ref_q_ratio for c in self.cells])
        if rows.size and o.prior_weight > 0 and "cell_theta" in out and all(c.prior_u is not None for c in self.cells):
            u = np.asarray(t.space.normalize(np.asarray(out["cell_theta"], float)[rows]), float)
            kw.update(u=u, prior_u=np.stack([c.prior_u for c in self.cells]))
        terms = t.objective.evaluate(sm, self.obs_sm[:, d], **kw)
        fit = terms["fit"] if np.isfinite(terms["fit"]) else float("inf")
        return terms["total"], fit


# ------------------------------------------------------------------ the plan
@dataclass
class BasinPlan:
    """The gauged basins of a Region for per-basin calibration (module docstring)."""

    gauge: list[int]            # gauge index (in the Region's ``gauge`` dimension) of each basin
    cells: list[np.ndarray]     # incremental cells (Region positions) of each basin
    nested: list[np.ndarray]    # cells of the basins nested in it (Region positions)
    level: list[int]
    ungauged: np.ndarray        # Region positions in no gauged basin
    kernel: Any = None

    @property
    def levels(self) -> list[list[int]]:
        """Basin indices per level, upstream first."""
        top = max(self.level) if self.level else -1
        return [[b for b, lv in enumerate(self.level) if lv == k] for k in range(top + 1)]


def plan_basins(region, objective: str = "sm+q") -> BasinPlan:
    """The basins of ``region``'s gauges on its routing kernel (daily step); a one-line error naming the
    ``objective`` when the region has no gauged discharge to fit."""
    from ..routing import routing_of
    from ..routing.network import gauge_basins

    from ..routing.gauges import discharge_problem

    if (msg := discharge_problem(region, objective)) is not None:
        raise StrategyError(msg)
    kernel = routing_of(region).at_step(86400.0)
    outlets = np.asarray(region.ds["gauge_outlet"].values, int)
    gb = gauge_basins(kernel, outlets, region.n_cells)
    owner = np.full(region.n_cells, -1)
    for b, cells in enumerate(gb.cells):
        owner[cells] = b
    nested, level = [], []
    for b in range(len(gb.order)):
        inner = np.setdiff1d(gb.upstream[b], gb.cells[b])
        nested.append(inner)
    for b in range(len(gb.order)):  # upstream first: nested basins come earlier in this order
        inside = {int(owner[c]) for c in nested[b] if owner[c] >= 0}
        level.append(1 + max((level[k] for k in inside), default=-1))
    return BasinPlan(gauge=list(gb.order), cells=gb.cells, nested=nested, level=level, ungauged=gb.ungauged,
                     kernel=kernel)


def basin_routing(plan: BasinPlan, b: int, outlet: int, fixed_runoff: np.ndarray | None, n_days: int) -> BasinRouting:
    """The routing of basin ``b``'s own cells to ``outlet``, with the nested basins' discharge from
    ``fixed_runoff`` (Region positions x days, runoff + baseflow of the calibrated cells; rows outside
    the nested cells are ignored)."""
    k = plan.kernel
    src = np.flatnonzero(k.source_outlet == outlet)
    own = {int(c): j for j, c in enumerate(plan.cells[b])}
    mine = np.array([s for s in src if int(k.source_cell[s]) in own], int)
    others = np.array([s for s in src if int(k.source_cell[s]) not in own], int)
    q_fixed = np.zeros(n_days)
    if others.size:
        if fixed_runoff is None:
            raise StrategyError("nested basins must be calibrated before the basin containing them")
        w = k.source_area[others] / (1000.0 * k.dt)
        r = fixed_runoff[k.source_cell[others]]
        n_fft = 1 << int(np.ceil(np.log2(max(n_days + k.n_lags - 1, 1))))
        routed = np.fft.irfft(np.fft.rfft(r, n_fft, axis=-1) * np.fft.rfft(k.uh[others], n_fft, axis=-1), n_fft,
                              axis=-1)[:, :n_days]
        q_fixed = w @ routed
    return BasinRouting(uh=k.uh[mine], row=np.array([own[int(k.source_cell[s])] for s in mine], int),
                        weight=k.source_area[mine] / (1000.0 * k.dt), q_fixed=q_fixed)


def without_q(objective):
    """The calibration's Objective without its discharge term (for cells in no gauged basin)."""
    from ..objective import ObjectiveOptions

    o = objective.options
    weights = {k: v for k, v in o.weights.items() if k != "q"}
    spec = ",".join(f"{k}:{v:g}" for k, v in weights.items())
    return replace(objective, options=ObjectiveOptions(**{**o.as_dict(), "objective": spec}))


# ------------------------------------------------------------------ driving the calibration
@dataclass
class BasinCalibration:
    """What :func:`calibrate_basins` found: ``values`` ``(cell, p)`` for every Region cell; ``units`` the
    outcomes (the training cells of stage 1, then the basins upstream first); ``sets`` every Region
    cell's tolerance set (None without uncertainty); ``train_sm`` the training cells' soil moisture at
    their final parameters; ``info`` what to record."""

    values: np.ndarray
    units: list
    sets: list | None
    train_sm: np.ndarray
    info: dict


def _runner(cal, region, cells: np.ndarray, prepared) -> RowRunner:
    o = cal.options
    if o.get("surrogate") is not None:
        sur, path, x, a = prepared
        return RowRunner(cal.parameter_space, x=x[cells], a=a[cells], surrogate_path=path,
                         surrogate=sur if path is None else None)
    return RowRunner(cal.parameter_space, cell_ds=region.ds.isel(cell=list(cells)).load(), simulator=o["simulator"],
                     simulator_options=o.get("simulator_options"))


def calibrate_basins(cal, region, tasks: list, warmup: int, run_units) -> BasinCalibration:
    """Calibrate ``region`` in the two stages of the module docstring. ``tasks`` are the per-cell tasks
    of the training cells (with their objectives), ``run_units(tasks)`` the calibrator's way of running
    a list of tasks (lockstep or one by one) returning their outcomes in order."""
    from .cell_geometry import nearest_trained
    from .cell_mapping import cell_seed

    if not tasks:
        raise StrategyError(f"{cal.name}: no training cells to calibrate")
    space = cal.parameter_space
    plan = plan_basins(region, str(cal.options.get("objective")))
    n, n_days = region.n_cells, region.n_days
    pos = {int(c): i for i, c in enumerate(region.cells)}
    train = np.array([t.cell for t in tasks])
    task_at = {pos[int(t.cell)]: k for k, t in enumerate(tasks)}
    full = tasks[0].objective.objective   # the calibration's Objective, with its q term
    # stage 1: every training cell on its own, without discharge
    for t in tasks:
        t.objective = replace(t.objective, objective=without_q(t.objective.objective))
    units = list(run_units(tasks))
    near = nearest_trained(region, train)
    values = np.stack([units[j].theta for j in near])
    sets = None
    if all(u.tolerance_set is not None for u in units):
        sets = [units[j].tolerance_set for j in near]
    train_sm = np.stack([u.best_sm if u.best_sm is not None else np.full(n_days, np.nan) for u in units])
    # stage 2: the basins' shared parameters against discharge, upstream first
    cols = basin_columns(space)
    sub = sub_space(space, cols)
    prepared = None
    if cal.options.get("surrogate") is not None:
        sur, path = cal._surrogate(region)
        x, a = sur.prepare(region)
        to_np = (lambda v: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v))
        if path is None and not cal._in_process(2):
            path = cal._checkpoint_for_workers(sur)
        prepared = (sur, path, to_np(x), to_np(a))
    obs_sm = region.observations("obs_sm").copy()
    obs_sm[:, :warmup] = np.nan
    obs_q_all = np.asarray(region.ds["obs_q"].values, float)
    gauge_ids = [str(g) for g in region.ds["gauge"].values]
    outlets = np.asarray(region.ds["gauge_outlet"].values, int)
    q_start = max(int(warmup), plan.kernel.n_lags - 1)
    fixed = np.zeros((n, n_days))
    described = []
    for level in plan.levels:
        level_tasks, models = [], []
        for b in level:
            g = plan.gauge[b]
            cells = plan.cells[b]
            runner = _runner(cal, region, cells, prepared)
            model = BasinModel(runner, basin_routing(plan, b, int(outlets[g]), fixed, n_days), values[cells], cols)
            rows = np.array([j for j, c in enumerate(cells) if int(c) in task_at], int)
            members = [tasks[task_at[int(cells[j])]].objective for j in rows]
            template = replace(tasks[0].objective, objective=full)
            obj = BasinObjective(cells=members, rows=rows, obs_sm=obs_sm[cells[rows]] if rows.size else
                                 np.zeros((0, n_days)), obs_q=obs_q_all[g], q_days=np.arange(n_days) >= q_start,
                                 template=template)
            q_obs = obs_q_all[g].copy()
            if not np.isfinite(q_obs[q_start:]).any():
                raise StrategyError(f"gauge {gauge_ids[g]!r} has no discharge after the {q_start}-day warm-up "
                                    f"(warm-up and unit-hydrograph length)")
            first = int(region.cells[cells[0]])
            level_tasks.append(replace(tasks[0], cell=first, model=model, obs=q_obs, warmup=q_start, space=sub,
                                       seed=cell_seed(cal.seed, first), objective=obj))
            models.append(model)
            described.append({"gauge": gauge_ids[g], "cells": [int(region.cells[c]) for c in cells],
                              "training_cells": int(rows.size), "level": int(plan.level[b]),
                              "nested_cells": int(plan.nested[b].size)})
        log.info("%s: %d gauged basin(s) at level %d: %s shared per basin", cal.name, len(level_tasks),
                 plan.level[level[0]], ", ".join(sub.names))
        outcomes = list(run_units(level_tasks))
        for b, model, oc in zip(level, models, outcomes):
            cells = plan.cells[b]
            units.append(oc)
            th = model.rows_theta(oc.theta)
            values[cells] = th
            final = model.runner.run(th)
            fixed[cells] = final["runoff"] + final["baseflow"]
            for j, c in enumerate(cells):
                if int(c) in task_at:
                    train_sm[task_at[int(c)]] = final["sm"][j]
                if sets is not None and oc.tolerance_set is not None:
                    own = np.repeat(th[j][None], len(oc.tolerance_set), axis=0)
                    own[:, cols] = oc.tolerance_set
                    sets[int(c)] = np.concatenate([own, th[j][None]])
    info = {"calibration_units": f"stage 1 per training cell without discharge; stage 2 {', '.join(sub.names)} "
                                 "shared per gauged basin (its incremental cells) against its gauge",
            "basin_parameters": list(sub.names), "gauged_basins": described,
            "ungauged_cells": [int(region.cells[c]) for c in plan.ungauged], "discharge_days_from": int(q_start)}
    return BasinCalibration(values=values, units=units, sets=sets, train_sm=train_sm, info=info)
