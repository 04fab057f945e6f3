"""Diagnostics of a benchmark run beyond the scores: the water balance, the simulator's sensitivity
to each parameter (identifiability) and the CPU cost.

All of them run the *simulator* (never the surrogate)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..parameters import ParameterSpace
from ..region import Region

def water_balance(sim_ds, period: tuple) -> dict[str, np.ndarray]:
    """Per-cell totals over ``period`` (mm): ``et`` and ``runoff`` (surface runoff + baseflow where given)."""
    ds = sim_ds.sel(time=slice(period[0], period[1]))
    out: dict[str, np.ndarray] = {}
    if "et" in ds:
        out["et"] = np.asarray(ds["et"].sum("time").values, float)
    q = None
    for name in ("runoff", "baseflow"):
        if name in ds:
            v = np.asarray(ds[name].sum("time").values, float)
            q = v if q is None else q + v
    if q is not None:
        out["runoff"] = q
    return out


def water_balance_summary(wb: dict[str, np.ndarray], truth: dict[str, np.ndarray] | None) -> dict[str, float]:
    """Mean over cells of each total (mm over the period) and, against the truth's, the mean bias and
    the mean absolute per-cell error."""
    out: dict[str, float] = {}
    for k, v in wb.items():
        out[f"{k}_mean"] = float(np.nanmean(v))
        if truth is not None and k in truth:
            out[f"{k}_bias"] = float(np.nanmean(v - truth[k]))
            out[f"{k}_mae"] = float(np.nanmean(np.abs(v - truth[k])))
    return out


def sensitivity(simulator, region: Region, params: np.ndarray, space: ParameterSpace, period: tuple,
                cells: Sequence[int], step: float = 0.1) -> dict[str, dict[str, float]]:
    """The simulator's sensitivity of SM and ET to each parameter (the identifiability column).

    Around ``params`` (``(cell, p)`` for the region's cells, typically the truth), each parameter is
    moved by ``+-step`` of its range (normalised, clipped to [0, 1]) in turn, the region's ``cells``
    are simulated from the first day, and the RMS change of daily SM (m3/m3) and ET (mm/day) over
    ``period`` is averaged over the two directions. A parameter whose sensitivity is well below
    the observation noise cannot be recovered from those observations.
    """
    pos = {c: i for i, c in enumerate(region.cells)}
    idx = np.array([pos[c] for c in cells])
    sub = region.subset(region.cells[idx])
    base_u = space.normalize(np.asarray(params, float)[idx])

    def run(u):
        sim = simulator.simulate(sub, space.to_dataset(space.denormalize(u), sub.cells), period=period)
        return {v: np.asarray(sim[v].values, float) for v in ("sm", "et") if v in sim}

    base = run(base_u)
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(space.names):
        acc: dict[str, list[float]] = {v: [] for v in base}
        for sign in (-1.0, 1.0):
            u = base_u.copy()
            u[:, j] = np.clip(u[:, j] + sign * step, 0.0, 1.0)
            pert = run(u)
            for v in base:
                acc[v].append(float(np.sqrt(np.nanmean((pert[v] - base[v]) ** 2))))
        out[name] = {v: float(np.mean(x)) for v, x in acc.items()}
    return out


@dataclass
class CpuClock:
    """CPU seconds (user + system) of this process and its children, live or finished.

    Finished children count once waited for (``os.times``); descendants still alive at the reading
    (a process pool, the ``forkserver`` that starts its workers) are added through ``psutil`` where
    installed, with the children each of them has reaped (pool workers started by a forkserver are
    its children, not ours).
    """

    start: float = 0.0

    @staticmethod
    def now() -> float:
        t = os.times()
        total = t.user + t.system + t.children_user + t.children_system
        try:
            import psutil

            for child in psutil.Process().children(recursive=True):
                try:
                    ct = child.cpu_times()
                    # children_*: descendants it has reaped (a forkserver's finished pool workers)
                    total += ct.user + ct.system + getattr(ct, "children_user", 0.0) + getattr(ct, "children_system", 0.0)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        except ImportError:  # pragma: no cover - psutil is optional
            pass
        return total

    def __enter__(self) -> "CpuClock":
        self.start = self.now()
        self.wall_start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = self.now() - self.start
        self.wall = time.perf_counter() - self.wall_start
