r"""Paired comparisons of two simulations against the same observations, with an interval and a verdict.

A calibration is worth keeping only if its parameters score better than the ones the modeller
already has, on the same cells, days and observations, by more than sampling noise. This module
turns two rows of a comparison (e.g. "calibrated + H" and "default + H") into:

``median``, ``mean``
    the median and mean over cells of the per-cell paired difference ``metric(a) - metric(b)``;
``ci``
    a :data:`LEVEL` (95 %) bootstrap percentile interval of the median difference;
``verdict``
    ``"better"`` when the interval lies wholly on the better side of 0, ``"worse"`` when it lies
    wholly on the other side, else ``"no detectable change"``. Identical simulations give a
    difference of exactly 0 and "no detectable change".

The bootstrap
-------------
Each replicate resamples cells with replacement. Where a group has at most
:data:`BLOCK_CELLS_MAX` cells, each replicate also resamples the days, in consecutive blocks of
:data:`BLOCK_DAYS` days (the same blocks for every cell, which keeps the cells' correlation), and
recomputes every cell's metric from the resampled days: with two stations, the spread over days is
the only honest measure of uncertainty. Larger groups resample cells only (the days' sampling error
is then small next to the cells' spread), and so do all groups of a region of more than
:data:`BLOCK_REGION_MAX` cells (whose block sums would cost memory in proportion to cells x blocks). :data:`N_BOOT` replicates from a fixed seed make the interval reproducible.

The per-cell statistics are block sums (:func:`block_sums`): for each cell and block the number of
valid pairs ``n``, ``sum o``, ``sum o^2`` and ``sum (s - o)^2``, from which NSE and RMSE of any set of
blocks follow in closed form. A replicate's NSE keeps each cell's observed variance over all the
scored days and resamples the mean squared error only: drawing the quiet blocks alone would divide
by a near-zero variance and swing NSE by whole units. Sums from consecutive chunks of cells concatenate along the cells.
Where several independent repetitions exist (seeds of a benchmark), :func:`compare_values`
resamples repetitions and cells of per-cell values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .metrics import nse_from_sums, rmse_from_sums

__all__ = ["BLOCK_DAYS", "BLOCK_CELLS_MAX", "BLOCK_REGION_MAX", "N_BOOT", "LEVEL", "SEED", "VERDICTS", "BlockSums", "block_sums",
           "concat_sums", "compare", "compare_values", "verdict_of", "format_comparison"]

#: Days per resampling block (soil moisture stays correlated for weeks).
BLOCK_DAYS: int = 30
#: Largest group whose days are resampled in blocks as well as its cells.
BLOCK_CELLS_MAX: int = 200
#: Largest region whose per-cell sums are kept per block (beyond it, one block per cell: the sums of
#: cells x blocks x rows would cost memory, and so many cells make the spread over cells dominate).
BLOCK_REGION_MAX: int = 5000
#: Fewest cells :func:`compare_values` gives a verdict for: it has per-cell values only (no days to
#: resample), and a handful of cells resampled among themselves gives an interval that looks sure
#: of itself without being so.
MIN_CELLS_VALUES: int = 5
#: Bootstrap replicates.
N_BOOT: int = 1000
#: Confidence level of the interval.
LEVEL: float = 0.95
#: Seed of the bootstrap's random numbers (fixed: the same inputs give the same interval).
SEED: int = 0
VERDICTS: tuple[str, ...] = ("better", "no detectable change", "worse")
#: The verdict where there are too few cells to tell.
TOO_FEW = "too few cells to tell"
#: Metrics a comparison can use, with the sign that makes a positive difference better.
HIGHER_IS_BETTER: dict[str, bool] = {"nse": True, "rmse": False}
_REPLICATE_CHUNK = 100


@dataclass
class BlockSums:
    """Per-cell, per-block sums of one simulation against observations (arrays ``(cell, block)``)."""

    n: np.ndarray
    so: np.ndarray
    soo: np.ndarray
    see: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.n.shape[0])

    def take(self, rows: Sequence[int] | np.ndarray) -> "BlockSums":
        rows = np.asarray(rows, dtype=int)
        return BlockSums(self.n[rows], self.so[rows], self.soo[rows], self.see[rows])

    def merged_blocks(self) -> "BlockSums":
        """One block spanning all days."""
        return BlockSums(*(x.sum(axis=1, keepdims=True) for x in (self.n, self.so, self.soo, self.see)))


def block_sums(sim: np.ndarray, obs: np.ndarray, block_days: int = BLOCK_DAYS) -> BlockSums:
    """Block sums of ``sim`` against ``obs``, both ``(cell, day)`` over the scored days.

    Days where either is not finite are left out; the last block may be shorter. ``block_days``
    of 0 (or at least the number of days) gives one block.
    """
    sim = np.asarray(sim, dtype=float)
    obs = np.asarray(obs, dtype=float)
    if sim.shape != obs.shape or sim.ndim != 2:
        raise ValueError(f"sim {sim.shape} and obs {obs.shape} must be (cell, day) arrays of one shape")
    n_days = sim.shape[1]
    size = n_days if block_days <= 0 else min(int(block_days), max(n_days, 1))
    edges = np.arange(0, max(n_days, 1), size)
    ok = np.isfinite(sim) & np.isfinite(obs)
    o = np.where(ok, obs, 0.0)
    e = np.where(ok, sim - obs, 0.0)

    def add(x):
        return np.add.reduceat(x, edges, axis=1) if n_days else np.zeros((sim.shape[0], 1))

    return BlockSums(add(ok.astype(float)), add(o), add(o * o), add(e * e))


def concat_sums(parts: Sequence[BlockSums]) -> BlockSums:
    """Block sums of consecutive chunks of cells, in order."""
    return BlockSums(*(np.concatenate([getattr(p, k) for p in parts], axis=0) for k in ("n", "so", "soo", "see")))


def _metric(n, so, soo, see, metric: str) -> np.ndarray:
    if metric == "nse":
        return nse_from_sums(n, so, soo, see)
    if metric == "rmse":
        return rmse_from_sums(n, see)
    raise ValueError(f"unknown comparison metric {metric!r}; choose one of {sorted(HIGHER_IS_BETTER)}")


def _resampled(s: BlockSums, counts: np.ndarray, metric: str) -> np.ndarray:
    """Each cell's metric on resampled days, ``(cell, replicate)``; ``counts`` ``(block, replicate)``.

    For NSE the observations' variance is held at its value over all days, and only the mean squared
    error is resampled: a replicate that happens to draw the quiet blocks would otherwise divide by a
    near-zero variance and swing every cell's NSE by whole units."""
    n = s.n @ counts
    see = s.see @ counts
    if metric == "nse":
        n_all, so, soo = s.n.sum(1), s.so.sum(1), s.soo.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (soo - so * so / n_all) / n_all
            out = 1.0 - (see / n) / var[:, None]
        return np.where((n >= 2) & (var[:, None] > 0), out, np.nan)
    return _metric(n, None, None, see, metric)


def verdict_of(ci: Sequence[float], metric: str = "nse") -> str:
    """``better`` / ``worse`` / ``no detectable change`` for an interval of ``a - b``."""
    lo, hi = float(ci[0]), float(ci[1])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no detectable change"
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    lo, hi = sorted((sign * lo, sign * hi))
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "no detectable change"


def _summary(diff: np.ndarray, reps: np.ndarray, metric: str, method: str, n_blocks: int) -> dict[str, Any]:
    alpha = (1.0 - LEVEL) / 2.0
    reps = reps[np.isfinite(reps)]
    ci = [float(np.quantile(reps, alpha)), float(np.quantile(reps, 1 - alpha))] if reps.size else [np.nan, np.nan]
    return {"metric": metric, "n_cells": int(diff.size),
            "median": float(np.median(diff)) if diff.size else float("nan"),
            "mean": float(np.mean(diff)) if diff.size else float("nan"),
            "ci": ci, "level": LEVEL, "verdict": verdict_of(ci, metric) if diff.size else "not scored",
            "method": method, "n_blocks": int(n_blocks), "n_boot": N_BOOT}


def compare(a: BlockSums, b: BlockSums, metric: str = "nse", *, n_boot: int = N_BOOT, seed: int = SEED,
            block_cells_max: int = BLOCK_CELLS_MAX) -> dict[str, Any]:
    """The paired difference ``metric(a) - metric(b)`` over cells, its interval and verdict.

    ``a`` and ``b`` are block sums of two simulations against the same observations over the same
    cells and days. Cells where either metric is undefined are left out (``n_cells`` counts the rest).
    """
    if a.n.shape != b.n.shape:
        raise ValueError(f"paired rows must have the same cells and blocks, got {a.n.shape} and {b.n.shape}")
    full_a = _metric(*(x.sum(1) for x in (a.n, a.so, a.soo, a.see)), metric)
    full_b = _metric(*(x.sum(1) for x in (b.n, b.so, b.soo, b.see)), metric)
    keep = np.isfinite(full_a) & np.isfinite(full_b)
    diff = (full_a - full_b)[keep]
    rng = np.random.default_rng(seed)
    n = diff.size
    if n == 0:
        return _summary(diff, np.array([]), metric, "none", 0)
    n_blocks = a.n.shape[1]
    if n <= block_cells_max and n_blocks > 1:
        ak, bk = a.take(np.flatnonzero(keep)), b.take(np.flatnonzero(keep))
        reps = np.empty(n_boot)
        for start in range(0, n_boot, _REPLICATE_CHUNK):
            k = min(_REPLICATE_CHUNK, n_boot - start)
            counts = np.stack([np.bincount(rng.integers(0, n_blocks, n_blocks), minlength=n_blocks)
                               for _ in range(k)], axis=1).astype(float)          # (block, replicate)
            ma = _resampled(ak, counts, metric)
            mb = _resampled(bk, counts, metric)
            d = ma - mb                                                            # (cell, replicate)
            pick = rng.integers(0, n, (n, k))
            with warnings.catch_warnings():  # a replicate whose resampled days leave a metric undefined
                warnings.simplefilter("ignore", RuntimeWarning)
                reps[start:start + k] = np.nanmedian(np.take_along_axis(d, pick, axis=0), axis=0)
        method = f"cells and {BLOCK_DAYS}-day blocks of days resampled"
    else:
        reps = np.empty(n_boot)
        for start in range(0, n_boot, _REPLICATE_CHUNK):
            k = min(_REPLICATE_CHUNK, n_boot - start)
            reps[start:start + k] = np.median(diff[rng.integers(0, n, (k, n))], axis=1)
        method = "cells resampled"
        n_blocks = 1
    return _summary(diff, reps, metric, method, n_blocks)


def compare_values(a: np.ndarray, b: np.ndarray, metric: str = "nse", *, n_boot: int = N_BOOT,
                   seed: int = SEED) -> dict[str, Any]:
    """Paired comparison of per-cell metric values ``(repetition, cell)`` (e.g. seeds x cells).

    Each replicate resamples repetitions, then cells, and takes the median of the paired
    differences; the point values are over every (repetition, cell) pair. ``n_cells`` counts the
    cells with a value; with fewer than :data:`MIN_CELLS_VALUES` the verdict is :data:`TOO_FEW`.
    """
    a = np.atleast_2d(np.asarray(a, float))
    b = np.atleast_2d(np.asarray(b, float))
    if a.shape != b.shape:
        raise ValueError(f"paired values must have one shape, got {a.shape} and {b.shape}")
    d = a - b
    flat = d[np.isfinite(d)]
    rng = np.random.default_rng(seed)
    reps = np.full(n_boot, np.nan)
    n_rep, n_cell = d.shape
    if flat.size:
        for i in range(n_boot):
            r = rng.integers(0, n_rep, n_rep)
            c = rng.integers(0, n_cell, n_cell)
            x = d[np.ix_(r, c)]
            x = x[np.isfinite(x)]
            if x.size:
                reps[i] = np.median(x)
    method = ("repetitions and cells resampled" if n_rep > 1 else "cells resampled")
    out = _summary(flat, reps, metric, method, 1)
    out["n_repetitions"] = int(n_rep)
    n_cells = int(np.isfinite(d).any(axis=0).sum())
    out["n_cells"] = n_cells
    if 0 < n_cells < MIN_CELLS_VALUES:
        out["verdict"] = TOO_FEW
    return out


def format_comparison(label: str, c: Mapping[str, Any]) -> str:
    """One verdict line, e.g. ``sm through H  untrained  dNSE +0.031 [+0.012, +0.050]  better (240 cells)``."""
    if c.get("verdict") == "not scored" or not c.get("n_cells"):
        return f"{label}: not scored (no cell with observations in both rows)"
    m = c["metric"].upper()
    lo, hi = c["ci"]
    return (f"{label}: d{m} {c['median']:+.3f} [{lo:+.3f}, {hi:+.3f}] -> {c['verdict']} "
            f"({c['n_cells']} cells{', ' + str(c['n_repetitions']) + ' seeds' if c.get('n_repetitions', 1) > 1 else ''})")
