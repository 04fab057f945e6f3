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
   for the training cells and the untrained neighbours. An ``oracle`` row runs the true parameters
   (synthetic twin only): the ceiling that observation noise allows.
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

from .._io import write_text_atomic
from ..calibrator import CalibrationResult, library_versions
from ..errors import VicParaformerError
from ..evaluation import score_simulation
from ..region import Region
from ..registry import get_calibrator_class, get_simulator, strategies as installed_strategies
from .recovery import recovery_error, roughness

log = logging.getLogger(__name__)

METRIC_NAMES = ("rmse", "pcc", "nse")


@dataclass
class BenchmarkConfig:
    """Everything that defines a benchmark run (dumped to ``config.json`` in the output folder)."""

    ny: int = 32
    nx: int = 32
    years: int = 3
    region_seed: int = 0
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
        base = dict(strategy_options=FULL_STRATEGY_OPTIONS)
        base.update(overrides)
        return cls(**base)


# Per-strategy options of the two presets (options a strategy does not know are dropped with a log line).
_DL_QUICK = {"epochs": 15, "threads": 1, "progress": False}
_DL_FULL = {"epochs": 60, "patience": 15, "threads": 1, "progress": False}
QUICK_STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "sceua": {"repetitions": 300},
    "dds": {"repetitions": 300},
    **{name: dict(_DL_QUICK) for name in ("ffn_a", "lstm_z", "paraformer_a", "paraformer_z")},
}
FULL_STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "sceua": {"repetitions": 2000},
    "dds": {"repetitions": 2000},
    **{name: dict(_DL_FULL) for name in ("ffn_a", "lstm_z", "paraformer_a", "paraformer_z")},
}


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


def _options_for(calibrator_cls, name: str, config: BenchmarkConfig, surrogate_path: Path) -> dict[str, Any]:
    wanted = dict(config.strategy_options.get(name, {}))
    accepted = set(getattr(calibrator_cls, "default_options", {}))
    if "surrogate" in accepted:
        wanted["surrogate"] = str(surrogate_path)
    if config.scheduler and "scheduler" in accepted:
        wanted["scheduler"] = config.scheduler
    if config.n_workers and "n_workers" in accepted:
        wanted["n_workers"] = config.n_workers
    dropped = sorted(set(wanted) - accepted)
    if dropped:
        log.info("strategy %s does not take option(s) %s; using its defaults", name, dropped)
    return {k: v for k, v in wanted.items() if k in accepted}


def _score(region: Region, sim_ds, test, datasets: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Per dataset and variable, per-cell metrics of a simulation over the test period."""
    scored = score_simulation(region, sim_ds, test, datasets)["variables"]
    return {d: {var: {m: np.asarray(g[d][m], float) for m in METRIC_NAMES} for var, g in scored.items()}
            for d in datasets}


def _mean_pairs(region: Region, sim_ds, test, datasets: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Observed and simulated test-period mean SM per cell (simulation sampled on observed days only)."""
    obs = region.sel_time(*test).observations("obs_sm")
    sim = np.where(np.isfinite(obs), np.asarray(sim_ds["sm"].values, float), np.nan)
    pos = {c: i for i, c in enumerate(region.cells)}
    out = {}
    for dname, cells in datasets.items():
        idx = np.array([pos[c] for c in cells])
        out[dname] = (np.nanmean(obs[idx], axis=1), np.nanmean(sim[idx], axis=1))
    return out


def _trained_roughness(region: Region, values: np.ndarray, train_cells, k: int, space) -> dict[str, float]:
    """Roughness between neighbouring training cells of a DAS-Sk lattice (k grid cells apart)."""
    row, col = region.grid()
    idx = np.flatnonzero(np.isin(region.cells, train_cells))
    return roughness(values[idx], row[idx], col[idx], space, step=k)


def run_benchmark(config: BenchmarkConfig, out_dir: str | Path, region: Region | None = None,
                  command: str | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the protocol and write results.json, table.md, report.md and figures to ``out_dir``."""
    from ..surrogate import Surrogate, train_surrogate
    from ..synthetic import synthetic_region
    from . import report

    out = Path(out_dir)
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    say = progress or log.info
    started = time.perf_counter()
    config_text = json.dumps(asdict(config), indent=2, default=str)
    # Resume: an interrupted run of the same configuration keeps its surrogate and finished calibrations.
    resume = (out / "config.json").is_file() and (out / "config.json").read_text() == config_text
    if not resume:
        write_text_atomic(out / "config.json", config_text)

    if region is None:
        say(f"generating the synthetic twin region ({config.ny} x {config.nx} cells, {config.years} years, seed {config.region_seed})")
        region = synthetic_region(ny=config.ny, nx=config.nx, years=config.years, seed=config.region_seed)
    region.save(out / "region.nc")
    train_p, test_p = periods(region, config.train_years)
    train_region = region.sel_time(*train_p)
    simulator = get_simulator(config.simulator)
    names = config.strategies or installed_strategies()

    splits = {k: region.spatial_split(k) for k in sorted(set(config.splits) | {config.neighbour_split})}
    datasets_per_split: dict[int, dict[str, np.ndarray]] = {}
    for k, sp in splits.items():
        ds = {}
        if k in config.splits:
            ds[f"DAS-S{k}"] = sp.train
        if k == config.neighbour_split:
            ds[f"DAS-S{k}NG"] = sp.neighbours
        datasets_per_split[k] = ds
        say(f"DAS-S{k}: {len(sp.train)} training cells, {len(sp.neighbours)} untrained neighbours")

    sur_path = out / "surrogate.pt"
    if resume and sur_path.is_file():
        say(f"resuming: reusing {sur_path} and the finished calibrations in {out / 'results'}")
        surrogate = Surrogate.load(sur_path)
        surrogate_time = float(surrogate.info.get("total_seconds", float("nan")))
    else:
        say(f"training the surrogate of '{config.simulator}' once on the training period "
            f"{train_p[0].date()}..{train_p[1].date()}")
        t0 = time.perf_counter()
        surrogate = train_surrogate(train_region, simulator=config.simulator, seed=config.region_seed,
                                    **config.surrogate_options)
        surrogate.save(sur_path)
        surrogate_time = time.perf_counter() - t0

    runs: list[dict[str, Any]] = []
    histories: dict[int, dict[str, dict]] = {k: {} for k in splits}
    maps: dict[int, dict[str, np.ndarray]] = {k: {} for k in splits}
    per_cell: dict[str, dict[str, dict[str, dict[str, np.ndarray]]]] = {}  # dataset -> strategy -> var -> metrics (seed 0)
    scatter: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # dataset -> strategy -> (obs mean, sim mean)
    space = surrogate.parameter_space
    truth = region.parameters(space, prefix="true_")

    if truth is not None:
        say("oracle: simulating the true parameters")
        oracle_sim = simulator.simulate(region, space.to_dataset(truth, region.cells), period=test_p)
        all_ds = {d: c for dd in datasets_per_split.values() for d, c in dd.items()}
        scores = _score(region, oracle_sim, test_p, all_ds)
        runs.append({"strategy": "oracle", "seed": None, "split": None, "scores": scores, "wall_time": 0.0,
                     "n_evaluations": 0})
        for dname, s in scores.items():
            per_cell.setdefault(dname, {})["oracle"] = s
        for dname, pair in _mean_pairs(region, oracle_sim, test_p, all_ds).items():
            scatter.setdefault(dname, {})["oracle"] = pair

    for k, sp in splits.items():
        cal_region = train_region.with_training_cells(sp.train)
        for name in names:
            try:
                cls = get_calibrator_class(name)
            except VicParaformerError as exc:
                log.warning("skipping strategy %s: %s", name, exc)
                continue
            for seed in config.seeds:
                result_path = out / "results" / f"{name}_S{k}_seed{seed}.nc"
                if resume and result_path.is_file():
                    say(f"[DAS-S{k}] {name} (seed {seed}): reusing {result_path}")
                    result = CalibrationResult.open(result_path)
                else:
                    say(f"[DAS-S{k}] calibrating with {name} (seed {seed})")
                    calibrator = cls(seed=seed, **_options_for(cls, name, config, sur_path))
                    result = calibrator.calibrate(cal_region)
                    result.save(result_path)
                sim = simulator.simulate(region, result.params, period=test_p)
                scores = _score(region, sim, test_p, datasets_per_split[k])
                row = {"strategy": name, "seed": seed, "split": k, "scores": scores, "wall_time": result.wall_time,
                       "n_evaluations": result.n_evaluations}
                if truth is not None:
                    row["recovery"] = recovery_error(result.values(), truth, space)
                    if region.has_grid:
                        row["roughness_map"] = roughness(result.values(), *region.grid(), space)
                        row["roughness_trained"] = _trained_roughness(region, result.values(), sp.train, k, space)
                runs.append(row)
                if seed == config.seeds[0]:
                    histories[k][name] = result.history
                    maps[k][name] = result.values()[:, space.names.index("infilt")]
                    for dname, s in scores.items():
                        per_cell.setdefault(dname, {})[name] = s
                    for dname, pair in _mean_pairs(region, sim, test_p, datasets_per_split[k]).items():
                        scatter.setdefault(dname, {})[name] = pair
    results = report.aggregate(runs, config, region, space, truth)
    if truth is not None and region.has_grid:
        for k, sp in splits.items():
            results["recovery"][f"truth|S{k}"] = {"roughness_map": roughness(truth, *region.grid(), space),
                                                  "roughness_trained": _trained_roughness(region, truth, sp.train, k, space)}
    results["surrogate"] = {"path": str(sur_path), "train_seconds": surrogate_time}
    results["wall_time"] = time.perf_counter() - started
    results["versions"] = library_versions()
    results["command"] = command
    report.write_all(out, results, per_cell, histories, maps, scatter, region, space, truth, splits, test_p)
    say(f"benchmark finished in {results['wall_time']:.0f} s; report: {out / 'report.md'}")
    return results
