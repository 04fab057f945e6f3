"""Writing a sensitivity analysis: the indices file, the maps and the table of region medians."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from .._io import atomic_path, to_netcdf_atomic, write_text_atomic
from .design import TOTAL_KIND

log = logging.getLogger(__name__)

#: File kind of the indices file (:data:`vic_paraformer.outputs.KIND_NAMES`).
KIND = "sensitivity"


def write_indices(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the indices (:func:`~.indices.compute_indices`) as a CF netCDF file, atomically."""
    return to_netcdf_atomic(ds, path, kind=KIND, call="vic_paraformer.sensitivity.write_indices")


def open_indices(path: str | Path) -> xr.Dataset:
    """Read an indices file written by :func:`write_indices` (loaded; the file is closed)."""
    from ..cf import strip_added

    with xr.open_dataset(path) as ds:
        return strip_added(ds.load())


def median_table(ds: xr.Dataset) -> str:
    """Markdown: the region median (over cells) of the first-order and total index (sobol) or of
    ``mu_star_norm`` (morris), one row per parameter, one column per term."""
    method = ds.attrs.get("method", "sobol")
    kinds = ("S1", "ST") if method == "sobol" else ("mu_star_norm",)
    terms = [str(t) for t in ds["term"].values]
    head = "| parameter | " + " | ".join(f"{t} {k}" for t in terms for k in kinds) + " |"
    rule = "|" + "---|" * (1 + len(terms) * len(kinds))
    rows = [head, rule]
    for p in ds["parameter"].values:
        cells = []
        for t in terms:
            for k in kinds:
                v = ds["indices"].sel(parameter=p, term=t, index=k).values
                v = v[np.isfinite(v)]
                cells.append(f"{np.median(v):.2f}" if v.size else "n/a")
        rows.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def write_table(ds: xr.Dataset, path: str | Path) -> Path:
    """Write :func:`median_table` with a heading saying what it shows."""
    method = ds.attrs.get("method", "sobol")
    text = (f"# Sensitivity: region medians over {ds.sizes['cell']} cell(s)\n\n"
            f"Method {method}, {ds.attrs.get('base_samples')} base samples, model {ds.attrs.get('model')}.\n\n"
            + median_table(ds))
    return write_text_atomic(path, text)


def plot_maps(ds: xr.Dataset, folder: str | Path) -> list[Path]:
    """One PNG per term (``map_<term>.png``): the total index of each parameter per cell, a panel per
    parameter on the region's grid (``row``/``col``) or at the cells' lat/lon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    kind = TOTAL_KIND[ds.attrs.get("method", "sobol")]
    params = [str(p) for p in ds["parameter"].values]
    grid = "row" in ds.coords and "col" in ds.coords
    paths = []
    for term in ds["term"].values:
        fig, axes = plt.subplots(1, len(params), figsize=(2.6 * len(params) + 0.8, 2.8), squeeze=False)
        for ax, p in zip(axes[0], params):
            v = ds["indices"].sel(term=term, parameter=p, index=kind).values.astype(float)
            if grid:
                rows, cols = ds["row"].values.astype(int), ds["col"].values.astype(int)
                img = np.full((rows.max() + 1, cols.max() + 1), np.nan)
                img[rows, cols] = v
                im = ax.imshow(img, vmin=0, vmax=1, cmap="viridis", origin="upper")
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                im = ax.scatter(ds["lon"].values, ds["lat"].values, c=v, vmin=0, vmax=1, cmap="viridis", s=25)
                ax.tick_params(labelsize=6)
            ax.set_title(f"{p}\nmedian {np.nanmedian(v) if np.isfinite(v).any() else float('nan'):.2f}", fontsize=8)
        fig.colorbar(im, ax=list(axes[0]), shrink=0.8, label=f"{kind} of {term}")
        fig.suptitle(f"{term}: {kind} ({ds.attrs.get('method')}, {ds.attrs.get('model')})", fontsize=9)
        path = folder / f"map_{term}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        log.info("wrote %s", path)
        paths.append(path)
    return paths
