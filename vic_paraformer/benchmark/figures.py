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


def metric_cdfs(per_cell: Mapping[str, Mapping[str, np.ndarray]], metric: str, path: Path, title: str) -> Path:
    """CDF of a per-cell metric, one line per strategy (paper Fig. 3). ``per_cell[strategy][metric]``."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, m in per_cell.items():
        x, p = cdf(m[metric])
        if x.size:
            ax.step(x, p, where="post", label=name, ls="--" if name == "oracle" else "-")
    ax.set_xlabel(metric.upper())
    ax.set_ylabel("fraction of cells")
    ax.set_title(title)
    if metric == "nse":
        lo = min([np.nanpercentile(m[metric], 2) for m in per_cell.values() if np.isfinite(m[metric]).any()] + [0.0])
        ax.set_xlim(max(lo, -1.0), 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
                   vmin: float | None = None, vmax: float | None = None, marked: Sequence[int] | None = None) -> Path:
    """Maps of one parameter per strategy (same colour scale), truth first where given (paper Fig. 5-6).

    ``marked`` are cell indices (positions) to outline, e.g. the training cells.
    """
    ny, nx = int(row.max()) + 1, int(col.max()) + 1
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n + 0.8, 3.0), squeeze=False)
    vals = np.concatenate([v for v in maps.values()])
    vmin = float(np.nanmin(vals)) if vmin is None else vmin
    vmax = float(np.nanmax(vals)) if vmax is None else vmax
    im = None
    for ax, (name, v) in zip(axes[0], maps.items()):
        grid = np.full((ny, nx), np.nan)
        grid[row, col] = v
        im = ax.imshow(grid, origin="lower", vmin=vmin, vmax=vmax, cmap="viridis")
        if marked is not None and len(marked):
            ax.scatter(col[list(marked)], row[list(marked)], marker="s", s=12, facecolors="none", edgecolors="r", lw=0.7)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def loss_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str) -> Path:
    """Training (and validation) loss per epoch for each strategy that records them."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    drawn = 0
    for name, h in histories.items():
        for key, ls in (("train_loss", "-"), ("val_loss", "--")):
            series = h.get(key) if h else None
            if series:
                ax.plot(np.arange(1, len(series) + 1), series, ls=ls, label=f"{name} {key.split('_')[0]}")
                drawn += 1
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
