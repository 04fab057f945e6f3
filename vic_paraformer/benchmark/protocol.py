"""The paper's evaluation protocol, end to end (ParaFormer paper section 4).

1. A region (the built-in synthetic twin by default) is split in time — train on two years, test on
   the following year — and in space: DAS-Sk training cells (one per k x k block, k = 4 and 8) and
   the untrained neighbours of the DAS-S8 cells (DAS-S8NG).
2. The LSTM surrogate is trained once on the training period (the simulator's response to sampled
   parameters), and shared by every strategy.
3. Every strategy calibrates each training set with each seed, seeing only the training period and
   learning only from its training cells.
4. The *simulator* (not the surrogate) is run with the calibrated parameters from the first day, and
   RMSE/PCC/NSE of soil moisture (calibrated) and ET (never calibrated) are computed on the test year
   for the training cells and the untrained neighbours: SM raw (model top layer against the
   observations) and through a per-cell linear observation operator ``obs ~ a sim + b``
   (:mod:`vic_paraformer.observation`, ``"linear"``) fitted on the cell's training-period observations
   at the calibrated parameters (what a satellite-product rescaling would do; for untrained cells it
   uses their training-year observations, which no strategy saw).

Besides the strategies, two reference rows: ``default`` (the region's prior parameters:
:func:`vic_paraformer.parameters.default_parameters`, i.e. its ``infilt .. expt`` variables where
present, e.g. from a VIC parameter file, else typical VIC values; the paper's VIC/NLDAS row) and, for synthetic twins, ``oracle`` (true parameters run with the
*true* forcing, SM mapped through the *true* observation operator: the ceiling the observation noise
allows). Also written: per-strategy water balance (test-year ET and runoff against the truth's),
parameter recovery (error and correlation with the truth), the simulator's sensitivity of SM and ET
to each parameter (identifiability), and cost (wall time, evaluations, CPU seconds of the process
and its children).

Long module (over 400 lines): the protocol's steps (split, surrogate, strategies, scoring,
resume) run in one loop over seeds and strategies.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import xarray as xr

from .._io import write_text_atomic
from ..errors import VicParaformerError
from ..evaluation import score_simulation
from ..provenance import library_versions
from ..region import Region
from ..errors import StrategyError
from ..registry import get_calibrator_class, get_simulator, strategies as installed_strategies
from ..scoring import DO_NOTHING_KIND, OperatorRule
from ..parameters import default_parameters
from ..result import CalibrationResult
from ..workflow import identifiable_selector
from .diagnostics import CpuClock, sensitivity, water_balance, water_balance_summary
from .recovery import identifiable_mask, interval_recovery, recovery_correlation, recovery_error, roughness

log = logging.getLogger(__name__)

METRIC_NAMES = ("rmse", "pcc", "nse")


@dataclass
class BenchmarkConfig:
    """Everything that defines a benchmark run (dumped to ``config.json`` in the output folder)."""

    ny: int = 32
    nx: int = 32
    years: int = 3
    region_seed: int = 0
    difficulty: str = "realistic"
    train_years: int = 2
    splits: tuple[int, ...] = (4, 8)
    neighbour_split: int = 8
    strategies: list[str] | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    simulator: str = "waterbalance"
    surrogate_options: dict[str, Any] = field(default_factory=lambda: {"preset": "benchmark"})
    strategy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduler: str | None = None
    n_workers: int | None = None
    simulator_options: dict[str, Any] = field(default_factory=dict)
    #: The calibrated parameters (``--parameters``: a set or comma-separated names; None: ``paper``): the
    #: synthetic twin's truth, the surrogate and every strategy cover them.
    parameters: str | list[str] | None = None
    #: The strategies' objective (``--objective``; None: each strategy's default, ``sm``). With ``q`` every
    #: strategy runs twice, without discharge (the objective's other terms, row ``<name>``) and with it
    #: (row ``<name>+q``), the synthetic twin gets ``gauges`` gauged outlets, and the report compares
    #: the recovery of the baseflow parameters (:data:`DISCHARGE_PARAMETERS`) with and without discharge.
    objective: str | None = None
    gauges: int = 3
    #: Members of the DL strategies' deep ensembles (option ``ensemble``; 0 or 1: none, so their interval
    #: rows are missing). Each member is a full training run: the DL strategies cost this many times more.
    ensemble: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> "BenchmarkConfig":
        """Small settings for CI's smoke test and a first look (minutes on 2 CPU cores)."""
        base = dict(ny=16, nx=16, seeds=[0], surrogate_options={"preset": "demo"},
                    strategy_options=QUICK_STRATEGY_OPTIONS)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def demo(cls, **overrides: Any) -> "BenchmarkConfig":
        """The README's demo: ParaFormer-Z and SCE-UA on a 12 x 12 twin, trained on DAS-S4, one seed."""
        base = dict(ny=12, nx=12, splits=(4,), neighbour_split=4, strategies=["paraformer_z", "sceua"], seeds=[0],
                    surrogate_options={"preset": "demo"}, strategy_options=QUICK_STRATEGY_OPTIONS)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def full(cls, **overrides: Any) -> "BenchmarkConfig":
        base = dict(strategy_options=FULL_STRATEGY_OPTIONS, ensemble=4)
        base.update(overrides)
        return cls(**base)


# Per-strategy options of the two presets (options a strategy does not know are dropped with a log line).
_DL_QUICK = {"epochs": 15, "threads": 1, "progress": False}
_DL_FULL = {"epochs": 60, "patience": 15, "threads": 1, "progress": False}
QUICK_STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "sceua": {"repetitions": 300},
    "mpr": {"repetitions": 300},
    "dds": {"repetitions": 300},
    **{name: dict(_DL_QUICK) for name in ("ffn_a", "lstm_z", "paraformer_a", "paraformer_z")},
}
FULL_STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "sceua": {"repetitions": 2000},
    "dds": {"repetitions": 2000},
    **{name: dict(_DL_FULL) for name in ("ffn_a", "lstm_z", "paraformer_a", "paraformer_z")},
}


#: The parameters discharge constrains that soil moisture hardly sees (the report's with/without table).
DISCHARGE_PARAMETERS: tuple[str, ...] = ("Ds", "Dsmax", "Ws")


def strategy_variants(names: list[str], objective: str | None) -> list[tuple[str, str, str | None]]:
    """``(row label, strategy name, objective option)`` of every calibration to run (see
    :attr:`BenchmarkConfig.objective`)."""
    from ..objective import objective_weights

    if objective is None:
        return [(n, n, None) for n in names]
    weights = objective_weights(objective)
    if "q" not in weights:
        return [(n, n, objective) for n in names]
    rest = ",".join(f"{k}:{v:g}" for k, v in weights.items() if k != "q") or "sm"
    return [v for n in names for v in ((n, n, rest), (f"{n}+q", n, objective))]


def _uses_q(objective: str | None) -> bool:
    from ..objective import objective_weights

    return objective is not None and "q" in objective_weights(objective)


def discharge_recovery(runs: list[dict], params: tuple[str, ...] = DISCHARGE_PARAMETERS) -> dict[str, dict[str, Any]]:
    """Per row label: mean (and s.d.) over seeds and splits of the recovery correlation of ``params`` (a
    constant map, e.g. the default row's, has none: NaN with n 0)."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        corr = run.get("correlation")
        if not corr or run["strategy"] in ("oracle",):
            continue
        slot = out.setdefault(run["strategy"], {p: [] for p in params})
        for p in params:
            if p in corr and corr[p] is not None and np.isfinite(corr[p]):
                slot[p].append(float(corr[p]))
    return {label: {p: {"mean": float(np.mean(v)) if v else float("nan"),
                        "sd": float(np.std(v)) if len(v) > 1 else float("nan"), "n": len(v)}
                    for p, v in slot.items()} for label, slot in out.items()}


def periods(region: Region, train_years: int) -> tuple[tuple[pd.Timestamp, pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp]]:
    """Training period (first ``train_years`` years) and test period (the year after)."""
    t0 = region.times[0]
    train_end = t0 + pd.DateOffset(years=train_years) - pd.Timedelta(days=1)
    test_end = train_end + pd.DateOffset(years=1)
    if region.times[-1] < test_end:
        raise VicParaformerError(
            f"the benchmark needs {train_years + 1} years of data (train {train_years}, test 1); the region covers "
            f"{t0.date()}..{region.times[-1].date()}")
    return (t0, train_end), (train_end + pd.Timedelta(days=1), test_end)


def _split_identifiability(cal_region: Region, surrogate, space, config: BenchmarkConfig) -> dict[str, Any]:
    """``{"identifiability": record}`` for a split whose results record none: the Sobol analysis of the
    objective (the benchmark's, default ``sm``) on the split's training cells through the benchmark's
    surrogate (:func:`vic_paraformer.sensitivity.identifiability_record`), so that every strategy's
    interval rows are split by the same flags."""
    from ..sensitivity.identifiability import identifiability_record, training_indices

    options = {"objective": config.objective} if config.objective else None
    ds = training_indices(cal_region, surrogate=surrogate, space=space, objective_options=options,
                          seed=config.region_seed)
    return {"identifiability": identifiability_record(ds)}


def _options_for(calibrator_cls, name: str, config: BenchmarkConfig, surrogate_path: Path) -> dict[str, Any]:
    wanted = dict(config.strategy_options.get(name, {}))
    accepted = set(getattr(calibrator_cls, "default_options", {}))
    if "surrogate" in accepted:
        wanted["surrogate"] = str(surrogate_path)
    if config.scheduler and "scheduler" in accepted:
        wanted["scheduler"] = config.scheduler
    if config.n_workers and "n_workers" in accepted:
        wanted["n_workers"] = config.n_workers
    if config.ensemble > 1 and "ensemble" in accepted:
        wanted["ensemble"] = int(config.ensemble)
    dropped = sorted(set(wanted) - accepted)
    if dropped:
        log.info("strategy %s does not take option(s) %s; using its defaults", name, dropped)
    return {k: v for k, v in wanted.items() if k in accepted}


def _score(region: Region, sim_ds, test, datasets: dict[str, np.ndarray],
           variables=("sm", "et")) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Per dataset and variable, per-cell metrics of a simulation over the test period."""
    scored = score_simulation(region, sim_ds, test, datasets, variables)["variables"]
    return {d: {var: {m: np.asarray(g[d][m], float) for m in METRIC_NAMES} for var, g in scored.items()}
            for d in datasets}


def _mean_pairs(region: Region, sim_sm: np.ndarray, test, datasets: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Observed and simulated test-period mean SM per cell (simulation sampled on observed days only)."""
    obs = region.sel_time(*test).observations("obs_sm")
    sim = np.where(np.isfinite(obs), sim_sm, np.nan)
    pos = {c: i for i, c in enumerate(region.cells)}
    out = {}
    for dname, cells in datasets.items():
        idx = np.array([pos[c] for c in cells])
        with np.errstate(all="ignore"):
            out[dname] = (np.nanmean(obs[idx], axis=1), np.nanmean(sim[idx], axis=1))
    return out


def _trained_roughness(region: Region, values: np.ndarray, train_cells, k: int, space) -> dict[str, float]:
    """Roughness between neighbouring training cells of a DAS-Sk lattice (k grid cells apart)."""
    row, col = region.grid()
    idx = np.flatnonzero(np.isin(region.cells, train_cells))
    return roughness(values[idx], row[idx], col[idx], space, step=k)


def _resume_key(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in ("seeds", "strategies")}


def _series_cells(region: Region, split) -> dict[str, int]:
    """A trained cell (the training cell nearest the region's centre) and its nearest untrained neighbour."""
    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    pos = {c: i for i, c in enumerate(region.cells)}
    tr = np.array([pos[c] for c in split.train])
    d = (lat[tr] - lat.mean()) ** 2 + (lon[tr] - lon.mean()) ** 2
    t = int(tr[np.argmin(d)])
    out = {"trained": int(region.cells[t])}
    if len(split.neighbours):
        nb = np.array([pos[c] for c in split.neighbours])
        dn = (lat[nb] - lat[t]) ** 2 + (lon[nb] - lon[t]) ** 2
        out["untrained"] = int(region.cells[nb[np.argmin(dn)]])
    return out


class _Evaluator:
    """Runs the simulator for one parameter set and derives every score of a benchmark row."""

    def __init__(self, region: Region, simulator, space, train_p, test_p, datasets, truth_wb=None,
                 fit_cells: dict[str, np.ndarray] | None = None):
        self.region, self.simulator, self.space = region, simulator, space
        self.train_p, self.test_p, self.datasets = train_p, test_p, datasets
        self.truth_wb = truth_wb
        # the one scoring rule: each row through its own linear operator, fitted on the dataset's training
        # cells over the training period, carried to other cells by the nearest rule
        fit_cells = fit_cells or {d: cells for d, cells in datasets.items()}
        self.rules = {d: OperatorRule(kind=DO_NOTHING_KIND, fit_cells=tuple(int(c) for c in fit_cells[d]),
                                      fit_period=(str(train_p[0].date()), str(train_p[1].date())))
                      for d in datasets}
        obs = region.observations("obs_sm")
        times = region.times
        self.train_idx = np.flatnonzero((times >= train_p[0]) & (times <= train_p[1]))
        self.test_idx = np.flatnonzero((times >= test_p[0]) & (times <= test_p[1]))
        self.obs_train = obs[:, self.train_idx]

    def run(self, values: np.ndarray, sim_region: Region | None = None, operator=None) -> dict[str, Any]:
        """``operator(sm)`` (e.g. the twin's true one, for the oracle) is applied to the raw SM scores."""
        sim_region = sim_region or self.region
        sim = self.simulator.simulate(sim_region, self.space.to_dataset(values, self.region.cells))
        sm = np.asarray(sim["sm"].values, float)
        test_ds = sim.isel(time=self.test_idx)
        raw = test_ds.copy()
        if operator is not None:
            raw["sm"] = (raw["sm"].dims, operator(sm)[:, self.test_idx])
        scores = _score(self.region, raw, self.test_p, self.datasets)
        lat, lon, cells = self.region.ds["lat"].values, self.region.ds["lon"].values, self.region.cells
        obs = self.region.observations("obs_sm")
        through: dict[tuple[int, ...], xr.Dataset] = {}  # one fit per set of training cells (S8 and S8NG share one)
        for d, rule in self.rules.items():
            if rule.fit_cells not in through:
                rows = np.flatnonzero(np.isin(cells, rule.fit_cells))
                op = rule.fit(sm[rows], obs[rows], self.region.times, cells[rows], lat[rows], lon[rows])
                fitted = test_ds[["sm"]].copy()
                fitted["sm"] = (fitted["sm"].dims, op.apply_region(sm[:, self.test_idx], self.region))
                through[rule.fit_cells] = fitted
            scores[d]["sm_op"] = _score(self.region, through[rule.fit_cells], self.test_p, {d: self.datasets[d]},
                                        variables=("sm",))[d]["sm"]
        wb = water_balance(sim, self.test_p)
        return {"scores": scores, "sim_sm": np.asarray(raw["sm"].values, float), "wb": wb,
                "water_balance": water_balance_summary(wb, self.truth_wb)}


def run_benchmark(config: BenchmarkConfig, out_dir: str | Path, region: Region | None = None,
                  command: str | None = None, progress: Callable[[str], None] | None = None,
                  report_only: bool = False) -> dict[str, Any]:
    """Run the protocol and write results.json, table.md, report.md and figures to ``out_dir``.

    ``report_only``: calibrate nothing; rebuild the report from the calibrations an earlier run of
    this configuration left in ``out_dir`` (those missing are listed in the report).
    """
    from ..surrogate import Surrogate, train_surrogate
    from ..synthetic import synthetic_region, true_forcing_region, true_observation_operator
    from . import report

    out = Path(out_dir)
    say = progress or log.info
    started = time.perf_counter()
    cpu_started = CpuClock.now()
    config_text = json.dumps(asdict(config), indent=2, default=str)
    # Resume: an interrupted run of the same configuration keeps its surrogate and finished calibrations.
    # The seed list and the strategy list may differ (each calibration is stored per strategy, split and
    # seed, and does not depend on which others run).
    resume = False
    if (out / "config.json").is_file():
        try:
            before = json.loads((out / "config.json").read_text())
        except ValueError:
            before = None
        resume = before is not None and _resume_key(before) == _resume_key(json.loads(config_text))
    if report_only and not (resume and (out / "surrogate.pt").is_file()):
        raise VicParaformerError(f"{out}: report_only needs the surrogate and calibrations of an earlier run of the "
                                 "same configuration there")
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    write_text_atomic(out / "config.json", config_text)

    from ..parameters import build_space

    bench_space = build_space(config.parameters, region=region, seed=config.region_seed,
                              selector=identifiable_selector()) \
        if config.parameters != "auto" or region is not None else None
    if region is None:
        if bench_space is None:
            raise VicParaformerError("benchmark --parameters auto needs a --region (the synthetic twin's truth must "
                                     "name its parameters before the identifiable ones can be chosen)")
        say(f"generating the {config.difficulty} synthetic twin region ({config.ny} x {config.nx} cells, "
            f"{config.years} years, seed {config.region_seed})")
        with_q = _uses_q(config.objective)
        region = synthetic_region(ny=config.ny, nx=config.nx, years=config.years, seed=config.region_seed,
                                  difficulty=config.difficulty, parameter_space=bench_space,
                                  gauges=int(config.gauges) if with_q else 0)
    region.save(out / "region.nc")
    train_p, test_p = periods(region, config.train_years)
    train_region = region.sel_time(*train_p)
    simulator = get_simulator(config.simulator, **dict(config.simulator_options))
    names = config.strategies or installed_strategies()
    unknown = [n for n in names if n not in installed_strategies()]
    if unknown:
        raise StrategyError(f"unknown strateg{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
                            f"installed: {', '.join(installed_strategies())}")

    splits = {k: region.spatial_split(k, seed=config.region_seed)
              for k in sorted(set(config.splits) | {config.neighbour_split})}
    datasets_per_split: dict[int, dict[str, np.ndarray]] = {}
    for k, sp in splits.items():
        ds = {}
        if k in config.splits:
            ds[f"DAS-S{k}"] = sp.train
        if k == config.neighbour_split:
            ds[f"DAS-S{k}NG"] = sp.neighbours
        datasets_per_split[k] = ds
        say(f"DAS-S{k}: {len(sp.train)} training cells, {len(sp.neighbours)} untrained neighbours")
    all_ds = {d: c for dd in datasets_per_split.values() for d, c in dd.items()}
    fit_cells = {d: splits[k].train for k, dd in datasets_per_split.items() for d in dd}

    sur_path = out / "surrogate.pt"
    if resume and sur_path.is_file():
        say(f"resuming: reusing {sur_path} and the finished calibrations in {out / 'results'}")
        surrogate = Surrogate.load(sur_path)
        surrogate_time = float(surrogate.info.get("total_seconds", float("nan")))
    else:
        say(f"training the surrogate of '{config.simulator}' once on the training period "
            f"{train_p[0].date()}..{train_p[1].date()}")
        t0 = time.perf_counter()
        sur_kw = dict(config.surrogate_options)
        if config.simulator_options:
            sur_kw.setdefault("simulator_options", dict(config.simulator_options))
        if config.n_workers:
            sur_kw.setdefault("n_workers", int(config.n_workers))
        sur_kw.setdefault("parameter_space", bench_space)
        surrogate = train_surrogate(train_region, simulator=config.simulator, seed=config.region_seed, **sur_kw)
        surrogate.save(sur_path)
        surrogate_time = time.perf_counter() - t0

    runs: list[dict[str, Any]] = []
    histories: dict[int, dict[str, dict]] = {k: {} for k in splits}
    maps: dict[int, dict[str, np.ndarray]] = {k: {} for k in splits}
    per_cell: dict[str, dict[str, dict[str, dict[str, np.ndarray]]]] = {}  # dataset -> strategy -> var -> metrics (seed 0)
    scatter: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # dataset -> strategy -> (obs mean, sim mean)
    series_cells = {k: _series_cells(region, sp) for k, sp in splits.items()}
    series: dict[int, dict[str, np.ndarray]] = {k: {} for k in splits}   # split -> row name -> sm (cell, test day)
    pos = {c: i for i, c in enumerate(region.cells)}
    space = surrogate.parameter_space
    truth = region.parameters(space, prefix="true_")
    oracle_region = true_forcing_region(region)

    def keep_series(k: int, name: str, sm: np.ndarray) -> None:
        series[k][name] = np.stack([sm[pos[c]] for c in series_cells[k].values()])

    truth_wb = None
    evaluator = _Evaluator(region, simulator, space, train_p, test_p, all_ds, fit_cells=fit_cells)
    if truth is not None:
        say("oracle: simulating the true parameters with the true forcing")
        row = evaluator.run(truth, sim_region=oracle_region, operator=lambda sm: true_observation_operator(region, sm))
        truth_wb = row["wb"]
        evaluator.truth_wb = truth_wb
        row["water_balance"] = water_balance_summary(truth_wb, truth_wb)
        runs.append({"strategy": "oracle", "seed": None, "split": None, "scores": row["scores"], "wall_time": 0.0,
                     "n_evaluations": 0, "water_balance": row["water_balance"]})
        for dname, s in row["scores"].items():
            per_cell.setdefault(dname, {})["oracle"] = s
        for dname, pair in _mean_pairs(region, row["sim_sm"], test_p, all_ds).items():
            scatter.setdefault(dname, {})["oracle"] = pair
        for k in splits:
            keep_series(k, "oracle", row["sim_sm"])

    default_values, default_source = default_parameters(region, space)
    say(f"default: simulating {default_source}")
    row = evaluator.run(default_values)
    drow = {"strategy": "default", "seed": None, "split": None, "scores": row["scores"], "wall_time": 0.0,
            "n_evaluations": 0, "water_balance": row["water_balance"], "source": default_source}
    if truth is not None:
        drow["recovery"] = recovery_error(default_values, truth, space)
        drow["correlation"] = recovery_correlation(default_values, truth, space)
    runs.append(drow)
    for dname, s in row["scores"].items():
        per_cell.setdefault(dname, {})["default"] = s
    for k in splits:
        keep_series(k, "default", row["sim_sm"])

    sens_base = truth if truth is not None else default_values
    rng = np.random.default_rng(config.region_seed)
    sens_cells = np.sort(rng.choice(region.cells, size=min(64, region.n_cells), replace=False))
    say(f"identifiability: the simulator's sensitivity to each parameter on {len(sens_cells)} cells")
    identifiability = sensitivity(simulator, oracle_region, sens_base, space, test_p, sens_cells)

    classes = {}
    for label, name, objective in strategy_variants(list(names), config.objective):
        try:
            cls = get_calibrator_class(name)
            if objective is not None:
                cls(parameter_space=space, **{**_options_for(cls, name, config, sur_path), "objective": objective})
            classes[label] = (name, cls, objective)
        except VicParaformerError as exc:
            log.warning("skipping %s: %s", label, exc)
            say(f"skipping {label}: {exc}")
    cal_regions = {k: train_region.with_training_cells(sp.train) for k, sp in splits.items()}
    evaluators = {k: _Evaluator(region, simulator, space, train_p, test_p, datasets_per_split[k], truth_wb,
                                fit_cells=fit_cells) for k in splits}
    # The neighbour split (the spatial test) first, then the others; within a split seed by seed, so an
    # interrupted run leaves complete seeds of the most informative split behind.
    order = sorted(splits, key=lambda k: (k != config.neighbour_split, k))
    reused = 0
    skipped: list[str] = []
    split_flags: dict[int, dict[str, Any]] = {}
    for k in order:
        sp = splits[k]
        cal_region, evaluator_k = cal_regions[k], evaluators[k]
        for seed in config.seeds:
            for name, (strategy, cls, objective) in classes.items():
                result_path = out / "results" / f"{name}_S{k}_seed{seed}.nc"
                cpu_path = result_path.with_suffix(".cpu.json")
                if report_only and not result_path.is_file():
                    skipped.append(result_path.name)
                    continue
                if resume and result_path.is_file():
                    reused += 1
                    say(f"[DAS-S{k}] {name} (seed {seed}): reusing {result_path}")
                    result = CalibrationResult.open(result_path)
                    cpu = json.loads(cpu_path.read_text())["cpu_seconds"] if cpu_path.is_file() else float("nan")
                else:
                    say(f"[DAS-S{k}] calibrating with {name} (seed {seed})")
                    options = _options_for(cls, strategy, config, sur_path)
                    if objective is not None:
                        options["objective"] = objective
                    calibrator = cls(seed=seed, parameter_space=space, **options)
                    with CpuClock() as clock:
                        result = calibrator.calibrate(cal_region)
                    cpu = clock.seconds
                    result.save(result_path)
                    write_text_atomic(cpu_path, json.dumps({"cpu_seconds": cpu}))
                values = result.values()
                ev = evaluator_k.run(values)
                row = {"strategy": name, "seed": seed, "split": k, "scores": ev["scores"],
                       "wall_time": result.wall_time, "n_evaluations": result.n_evaluations, "cpu_seconds": cpu,
                       "water_balance": ev["water_balance"]}
                if truth is not None:
                    row["recovery"] = recovery_error(values, truth, space)
                    row["correlation"] = recovery_correlation(values, truth, space)
                    if result.uncertainty is not None:
                        lo, hi = result.uncertainty.interval()
                        mask = identifiable_mask(result.info, result.cells, space.names)
                        if mask is None:  # the result records none: the benchmark's own flags for the split
                            if k not in split_flags:
                                say(f"[DAS-S{k}] identifiability of the objective on the training cells (Sobol, "
                                    "through the benchmark's surrogate)")
                                split_flags[k] = _split_identifiability(cal_region, surrogate, space, config)
                            mask = identifiable_mask(split_flags[k], result.cells, space.names)
                        row["interval"] = interval_recovery(lo, hi, values, truth, space, mask,
                                                            trained=np.isin(result.cells, sp.train))
                    if region.has_grid:
                        row["roughness_map"] = roughness(values, *region.grid(), space)
                        row["roughness_trained"] = _trained_roughness(region, values, sp.train, k, space)
                runs.append(row)
                if name not in maps[k]:   # figures show the first seed that ran
                    histories[k][name] = result.history
                    maps[k][name] = values
                    for dname, s in ev["scores"].items():
                        per_cell.setdefault(dname, {})[name] = s
                    for dname, pair in _mean_pairs(region, ev["sim_sm"], test_p, datasets_per_split[k]).items():
                        scatter.setdefault(dname, {})[name] = pair
                    keep_series(k, name, ev["sim_sm"])
    results = report.aggregate(runs, config, region, space, truth)
    results["identifiability"] = {"cells": [int(c) for c in sens_cells], "step": 0.1,
                                  "around": "truth" if truth is not None else "default", "by_parameter": identifiability}
    results["default_source"] = default_source
    if _uses_q(config.objective):
        results["discharge_recovery"] = discharge_recovery(runs)
    if truth is not None and region.has_grid:
        for k, sp in splits.items():
            results["recovery"][f"truth|S{k}"] = {"roughness_map": roughness(truth, *region.grid(), space),
                                                  "roughness_trained": _trained_roughness(region, truth, sp.train, k, space)}
    results["surrogate"] = {"path": str(sur_path), "train_seconds": surrogate_time}
    results["reused_calibrations"] = reused
    results["missing_calibrations"] = skipped
    if skipped:
        say(f"report only: {len(skipped)} calibration(s) missing, left out: {', '.join(skipped)}")
    results["wall_time"] = time.perf_counter() - started
    results["cpu_seconds"] = CpuClock.now() - cpu_started
    results["versions"] = library_versions()
    results["command"] = command
    results["region"] = {"difficulty": str(region.ds.attrs.get("difficulty", "not a synthetic twin")),
                         "n_cells": int(region.n_cells), "n_days": int(region.n_days)}
    obs_test = region.sel_time(*test_p).observations("obs_sm")
    series_obs = {k: np.stack([obs_test[pos[c]] for c in cells.values()]) for k, cells in series_cells.items()}
    report.write_all(out, results, per_cell, histories, maps, scatter, region, space, truth, splits, test_p,
                     series={k: (series_cells[k], series_obs[k], series[k]) for k in splits})
    say(f"benchmark finished in {results['wall_time']:.0f} s; report: {out / 'report.md'}")
    return results
