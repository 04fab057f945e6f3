"""Figures of the benchmark and the demo, written to PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._io import atomic_path  # noqa: E402
from ..metrics import cdf  # noqa: E402

log = logging.getLogger(__name__)


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    log.info("wrote %s", path)
    return path


#: Lowest NSE a CDF axis shows; cells below are counted in the figure and the report.
NSE_AXIS_FLOOR = -1.0


def nse_axis_cut(per_cell: Mapping[str, Mapping[str, np.ndarray]], metric: str = "nse") -> tuple[float, dict[str, int]]:
    """Left end of an NSE CDF axis (the 2nd percentile of all rows, at most 0, at least -1) and, per
    row, the number of cells below it (not shown)."""
    lo = min([np.nanpercentile(m[metric], 2) for m in per_cell.values() if np.isfinite(m[metric]).any()] + [0.0])
    lo = max(float(lo), NSE_AXIS_FLOOR)
    hidden = {name: int(np.sum(np.asarray(m[metric]) < lo)) for name, m in per_cell.items()}
    return lo, hidden


def metric_cdfs(per_cell: Mapping[str, Mapping[str, np.ndarray]], metric: str, path: Path, title: str) -> Path:
    """CDF of a per-cell metric, one line per strategy (paper Fig. 3). ``per_cell[strategy][metric]``.

    NSE axes are cut at :func:`nse_axis_cut`; the cut and the cells left of it are written on the figure.
    """
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, m in per_cell.items():
        x, p = cdf(m[metric])
        if x.size:
            ax.step(x, p, where="post", label=name, ls="--" if name in ("oracle", "default") else "-")
    ax.set_xlabel(f"{metric.upper()} (-)")
    ax.set_ylabel("fraction of cells")
    ax.set_title(title)
    if metric == "nse":
        lo, hidden = nse_axis_cut(per_cell, metric)
        ax.set_xlim(lo, 1.0)
        n_hidden = sum(hidden.values())
        note = f"axis cut at NSE = {lo:.2f}" + (f"; {n_hidden} cell-rows below not shown" if n_hidden else "")
        ax.text(0.98, 0.02, note, transform=ax.transAxes, fontsize=7, va="bottom", ha="right",
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def annual_mean_scatter(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str,
                        label: str = "SM (m3 m-3)") -> Path:
    """Predicted vs observed per-cell mean over the test period, one panel per strategy."""
    n = len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    allv = np.concatenate([np.concatenate([o, s]) for o, s in pairs.values()])
    allv = allv[np.isfinite(allv)]
    lim = (float(allv.min()) * 0.95, float(allv.max()) * 1.05) if allv.size else (0, 1)
    for ax, (name, (obs, sim)) in zip(axes[0], pairs.items()):
        ax.scatter(obs, sim, s=8, alpha=0.7)
        ax.plot(lim, lim, color="k", lw=0.8)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"observed {label}", fontsize=8)
    axes[0][0].set_ylabel(f"simulated {label}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def parameter_maps(maps: Mapping[str, np.ndarray], row: np.ndarray, col: np.ndarray, path: Path, title: str,
                   vmin: float | None = None, vmax: float | None = None, marked: Sequence[int] | None = None,
                   label: str = "value") -> Path:
    """Maps of one parameter per strategy (same colour scale), truth first where given (paper Fig. 5-6).

    ``marked`` are cell indices (positions) to outline, e.g. the training cells; ``label`` names the
    colour bar (parameter and units).
    """
    return parameter_map_grid({label: maps}, row, col, path, title, limits={label: (vmin, vmax)}, marked=marked)


def parameter_map_grid(maps: Mapping[str, Mapping[str, np.ndarray]], row: np.ndarray, col: np.ndarray, path: Path,
                       title: str, limits: Mapping[str, tuple[float | None, float | None]] | None = None,
                       marked: Sequence[int] | None = None) -> Path:
    """One row of maps per parameter (``maps[label][panel]``), one labelled colour bar per row."""
    ny, nx = int(row.max()) + 1, int(col.max()) + 1
    labels = list(maps)
    ncol = max(len(m) for m in maps.values())
    fig, axes = plt.subplots(len(labels), ncol, figsize=(2.6 * ncol + 1.2, 2.6 * len(labels) + 0.4), squeeze=False)
    for r, label in enumerate(labels):
        panels = maps[label]
        vals = np.concatenate([np.asarray(v, float) for v in panels.values()])
        lo, hi = (limits or {}).get(label, (None, None))
        lo = float(np.nanmin(vals)) if lo is None else lo
        hi = float(np.nanmax(vals)) if hi is None else hi
        im = None
        for c, ax in enumerate(axes[r]):
            if c >= len(panels):
                ax.axis("off")
                continue
            name, v = list(panels.items())[c]
            grid = np.full((ny, nx), np.nan)
            grid[row, col] = v
            im = ax.imshow(grid, origin="lower", vmin=lo, vmax=hi, cmap="viridis")
            if marked is not None and len(marked):
                ax.scatter(col[list(marked)], row[list(marked)], marker="s", s=10, facecolors="none", edgecolors="r",
                           lw=0.6)
            ax.set_title(name if r == 0 else name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        cb = fig.colorbar(im, ax=axes[r].tolist(), shrink=0.85)
        cb.set_label(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def loss_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str) -> Path:
    """Training (and validation) loss per epoch for each strategy that records them; the best epoch
    (lowest validation loss, else training loss) is marked."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    drawn = 0
    for name, h in histories.items():
        for key, ls in (("train_loss", "-"), ("val_loss", "--")):
            series = h.get(key) if h else None
            if series:
                line, = ax.plot(np.arange(1, len(series) + 1), series, ls=ls, label=f"{name} {key.split('_')[0]}")
                drawn += 1
        best_key = "val_loss" if h and h.get("val_loss") else "train_loss"
        series = np.asarray(h.get(best_key) or [], float) if h else np.array([])
        if series.size and np.isfinite(series).any():
            b = int(np.nanargmin(series))
            ax.plot(b + 1, series[b], marker="*", ms=9, color=line.get_color(), ls="none")
            ax.annotate(f"best {b + 1}", (b + 1, series[b]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    if not drawn:
        ax.text(0.5, 0.5, "no strategy recorded per-epoch losses", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (RMSE + RBL)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=7)
    return _save(fig, path)


def sm_series(times, obs: np.ndarray, sims: Mapping[str, np.ndarray], cell_labels: Sequence[str], path: Path,
              title: str) -> Path:
    """Observed (points) and simulated (lines) SM over the test period, one panel per cell.

    ``obs`` is ``(panel, time)``; ``sims[name]`` the same shape.
    """
    n = len(cell_labels)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), squeeze=False, sharex=True)
    for i, (ax, label) in enumerate(zip(axes[:, 0], cell_labels)):
        ax.plot(times, obs[i], "k.", ms=3, label="observed")
        for name, sm in sims.items():
            ax.plot(times, sm[i], lw=1.0, ls="--" if name in ("oracle", "default") else "-", label=name)
        ax.set_ylabel("SM (m3 m-3)")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=4)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
