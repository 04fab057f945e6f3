"""Discharge at gauges in an evaluation: every row's runoff + baseflow routed and scored at each gauge.

For a Region with gauges (``obs_q`` and a routing kernel, :func:`vic_paraformer.routing.routing_of`)
each evaluated row (``calibrated``, ``default``, ``nearest``) is routed over **every** day of the
Region (the channels start empty on the first day) and scored on the period's days from the
kernel's length on (:func:`scored_days`) where ``obs_q`` is finite, by one rule for every row:

* ``kge`` Kling-Gupta efficiency, ``nse`` Nash-Sutcliffe efficiency (:mod:`vic_paraformer.metrics`);
* ``bias`` the relative volume error ``100 (sum sim - sum obs) / sum obs`` in % on those days;
* ``n`` the number of days scored.

The scores are a pure function of the routed series and ``obs_q`` on those days, so identical
parameters score identically, whatever the row. :func:`plot_hydrographs` draws observed and routed
discharge per gauge (matplotlib, Agg backend).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .metrics import kge, nse

log = logging.getLogger(__name__)


def has_gauges(region) -> bool:
    """Whether the Region carries discharge at gauges and a routing kernel."""
    ds = region.ds
    return "obs_q" in ds and "gauge_outlet" in ds.variables and ("routing_uh" in ds.variables
                                                                  or bool(ds.attrs.get("routing_file")))


def routed(region, runoff: np.ndarray) -> np.ndarray:
    """Discharge ``(gauge, time)`` (m3/s) at the Region's gauges from daily runoff + baseflow ``(cell, time)`` mm."""
    from .routing import route_region, routing_of

    q = route_region(routing_of(region), runoff)
    return q[np.asarray(region.ds["gauge_outlet"].values, int)]


def scored_days(region, period, n_lags: int) -> np.ndarray:
    """Boolean ``(time,)``: the period's days (all when None) from the kernel's length on."""
    t = region.times
    keep = np.ones(t.size, bool)
    if period is not None:
        keep &= (t >= np.datetime64(str(period[0]))) & (t <= np.datetime64(str(period[1])))
    keep[: max(0, n_lags - 1)] = False
    return keep


def score(sim_q: np.ndarray, obs_q: np.ndarray, days: np.ndarray) -> dict[str, list]:
    """KGE, NSE, bias (%) and the number of days per gauge on ``days`` where ``obs_q`` is finite."""
    s = np.asarray(sim_q, float)[:, days]
    o = np.asarray(obs_q, float)[:, days]
    valid = np.isfinite(o) & np.isfinite(s)
    o = np.where(valid, o, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        so, oo = np.where(valid, s, 0.0).sum(1), np.where(valid, o, 0.0).sum(1)
        bias = np.where(oo > 0, 100.0 * (so - oo) / oo, np.nan)
    return {"kge": kge(s, o).tolist(), "nse": nse(s, o).tolist(), "bias": bias.tolist(),
            "n": valid.sum(1).astype(int).tolist()}


def discharge_report(region, runoff: Mapping[str, np.ndarray], periods: Mapping[str, Any]) -> dict[str, dict]:
    """Per period name: ``{"gauges": [...], "rule": str, "rows": {row: score(...)}}`` for the rows'
    runoff + baseflow ``(cell, time)`` (mm/day, every day of the Region)."""
    from .routing import routing_of

    kernel = routing_of(region).at_step(86400.0)
    obs = np.asarray(region.ds["obs_q"].values, float)
    series = {row: routed(region, r) for row, r in runoff.items()}
    gauges = [str(g) for g in region.ds["gauge"].values]
    out = {}
    for name, per in periods.items():
        days = scored_days(region, per, kernel.n_lags)
        out[name] = {"gauges": gauges, "rows": {row: score(q, obs, days) for row, q in series.items()},
                     "rule": f"every row routed from the region's first day, scored on the period's days from day "
                             f"{kernel.n_lags} (the unit hydrographs' length) where obs_q is finite"}
    return out


def format_discharge(entry: Mapping[str, Any]) -> list[str]:
    """Table lines: one per gauge and row (KGE, NSE, bias %, days)."""
    lines = [f"  {'discharge':<13} {'gauge':<10} {'row':<18} {'n':>5}  {'KGE':>6}  {'NSE':>6}  {'bias%':>6}"]
    for g, gid in enumerate(entry["gauges"]):
        for row, s in entry["rows"].items():
            vals = [s["kge"][g], s["nse"][g], s["bias"][g]]
            txt = "  ".join("     -" if v is None or not np.isfinite(v) else f"{v:6.3f}" if k < 2 else f"{v:6.1f}"
                            for k, v in enumerate(vals))
            lines.append(f"  {'q at gauge':<13} {gid:<10} {row:<18} {s['n'][g]:>5}  {txt}")
    return lines


def plot_hydrographs(region, runoff: Mapping[str, np.ndarray], path: str | Path, period=None) -> Path:
    """A PNG with one panel per gauge: observed discharge and each row's routed discharge over
    ``period`` (default every day)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._io import atomic_path

    obs = np.asarray(region.ds["obs_q"].values, float)
    gauges = [str(g) for g in region.ds["gauge"].values]
    days = scored_days(region, period, 1)
    t = region.times[days]
    series = {row: routed(region, r) for row, r in runoff.items()}
    fig, axes = plt.subplots(len(gauges), 1, figsize=(10, 2.6 * len(gauges)), sharex=True, squeeze=False)
    for g, ax in enumerate(axes[:, 0]):
        ax.plot(t, obs[g, days], color="k", lw=1.0, label="observed")
        for row, q in series.items():
            ax.plot(t, q[g, days], lw=0.9, label=row)
        ax.set_ylabel("m3/s")
        ax.set_title(f"gauge {gauges[g]}", fontsize=9)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    log.info("wrote %s", target)
    return target
