"""Training/test splits in time and space, as the command line spells them.

A held-out score needs two things kept apart: the days a model learns from and the days it is
scored on (``--train-period`` / ``--test-period``), and the cells it learns from and the cells it
never saw (``--train-cells``). This module turns those settings into periods and cell ids:

* :func:`resolve_periods` -- ``train`` and ``test`` as ``(start, end)`` day pairs (inclusive).
  Given only a test period, the training period is every day before it; given only a training
  period, the test period is every day after it. The two must not overlap.
* :func:`parse_train_cells` -- an explicit list of cell ids (``"3,17,40"``), a text file with
  ids separated by commas, spaces or newlines (``#`` starts a comment), or ``das:K``, the paper's
  DAS-Sk spatial sampling (one training cell per k x k block, :meth:`Region.spatial_split`); on a
  point set (stations, no ``row``/``col``) ``das:K`` takes ``round(n / K**2)`` evenly spread points
  by the split's seeded farthest-point sampling, always with seed 0, so the same region and ``K``
  give the same training points in every run; it warns when it keeps fewer than a third of the
  points (use ``fraction:F`` or ``farthest:N`` to choose how many).
* ``fraction:F`` (0 < F <= 1) -- ``max(1, floor(F n + 0.5))`` cells (half rounded up, so
  ``fraction:0.5`` of 11 stations trains on 6), spread over the region by seeded k-means
  clustering of the positions (:func:`spread_cells`): as many clusters as training cells, and in
  each cluster the member nearest its centre, so every part of the network has a training cell
  near it and the held-out cells lie among them.
* ``farthest:N`` -- ``N`` cells by seeded farthest-point sampling (:func:`farthest_cells`): the
  first at random, then repeatedly the cell farthest from every cell chosen so far; this reaches
  the network's edges first.

  Both are seeded with the run's seed (``calibrate --seed``, default 0): the same region, spec and
  seed give the same cells, recorded in the result.
* :func:`split_region` -- a region cut to its training days and cells, with what to record about
  the split; :func:`split_message` says it in one line.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import RegionError, VicParaformerError
from .region import Period, Region, parse_period

log = logging.getLogger(__name__)


class SelectionError(VicParaformerError, ValueError):
    """A period or a training-cell selection is malformed or does not fit the region."""


def _parse(values: Sequence | None, what: str) -> Period | None:
    try:
        return parse_period(values, what)
    except RegionError as exc:
        raise SelectionError(str(exc)) from None


def _fmt(p: Period) -> str:
    return str(Period(*p))


def resolve_periods(region: Region, train: Sequence | None = None,
                    test: Sequence | None = None) -> tuple[Period | None, Period | None]:
    """The training and test periods of ``region`` from the user's settings (either may be None).

    Missing halves are completed from the region: with only ``test``, training is every day before
    it; with only ``train``, the test period is every day after it (None when there is none). Both
    are clipped to the days the region has; a period outside the region or overlapping periods
    are errors naming the dates.
    """
    tr, te = _parse(train, "--train-period"), _parse(test, "--test-period")
    first, last = region.times[0].normalize(), region.times[-1].normalize()
    span = f"the region covers {first.date()}..{last.date()}"
    for p, what in ((tr, "--train-period"), (te, "--test-period")):
        if p is not None and (p[1] < first or p[0] > last):
            raise SelectionError(f"{what} {_fmt(p)} lies outside the region's days ({span})")
    if te is not None and tr is None:
        if te[0] <= first:
            raise SelectionError(f"--test-period {_fmt(te)} leaves no days before it to train on ({span}); "
                                 "give --train-period too")
        tr = Period(first, te[0] - pd.Timedelta(days=1))
    elif tr is not None and te is None and tr[1] < last:
        te = Period(tr[1] + pd.Timedelta(days=1), last)
    clip = lambda p: None if p is None else Period(max(p[0], first), min(p[1], last))  # noqa: E731
    tr, te = clip(tr), clip(te)
    if tr is not None and te is not None and tr[0] <= te[1] and te[0] <= tr[1]:
        raise SelectionError(f"--train-period {_fmt(tr)} and --test-period {_fmt(te)} overlap: a test score "
                             "on days the model learnt from is not a held-out score")
    return tr, te


_DAS = re.compile(r"das:(\d+)", re.I)
_FRACTION = re.compile(r"fraction:(.*)", re.I)
_FARTHEST = re.compile(r"farthest:(.*)", re.I)


def _unit_vectors(region: Region) -> np.ndarray:
    lat = np.radians(np.asarray(region.ds["lat"].values, float))
    lon = np.radians(np.asarray(region.ds["lon"].values, float))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _distance_km(xyz: np.ndarray) -> np.ndarray:
    dot = np.clip(xyz @ xyz.T, -1.0, 1.0)
    return 6371.0 * np.arccos(dot)


def farthest_cells(region: Region, n: int, seed: int = 0) -> np.ndarray:
    """``n`` cell ids by seeded farthest-point sampling of the cells' positions (sorted by id).

    The first cell is drawn with ``numpy.random.default_rng(seed)``; each next one is the cell
    farthest (great-circle) from all chosen so far, ties to the lowest position.
    """
    dist = _distance_km(_unit_vectors(region))
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(region.n_cells))]
    nearest = dist[chosen[0]].copy()
    while len(chosen) < n:
        nearest[chosen] = -1.0
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        nearest = np.minimum(nearest, dist[nxt])
    return np.sort(region.cells[np.asarray(chosen)])


def spread_cells(region: Region, n: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """``n`` cell ids spread over the region: seeded k-means (k-means++ start, Lloyd iterations) of
    the positions on the unit sphere into ``n`` clusters, and in each the cell nearest its centre
    (sorted by id; the same region, ``n`` and ``seed`` give the same cells)."""
    xyz = _unit_vectors(region)
    m = len(xyz)
    if n >= m:
        return np.sort(region.cells)
    rng = np.random.default_rng(seed)
    centres = [xyz[int(rng.integers(m))]]
    for _ in range(1, n):
        d2 = np.min(((xyz[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(m, 1.0 / m)
        centres.append(xyz[int(rng.choice(m, p=p))])
    c = np.asarray(centres)
    for _ in range(iterations):
        label = np.argmin(((xyz[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        new = np.array([xyz[label == k].mean(0) if (label == k).any() else c[k] for k in range(n)])
        if np.allclose(new, c):
            break
        c = new
    chosen: list[int] = []
    taken = np.zeros(m, bool)
    for k in range(n):   # the free cell nearest each centre (one per cluster, distinct)
        d = ((xyz - c[k]) ** 2).sum(-1)
        d[taken] = np.inf
        i = int(np.argmin(d))
        chosen.append(i)
        taken[i] = True
    return np.sort(region.cells[np.asarray(chosen)])


def _count(spec: str, text: str, region: Region) -> int:
    m = _FRACTION.fullmatch(spec)
    if m:
        try:
            f = float(m.group(1))
        except ValueError:
            f = math.nan
        if not (0.0 < f <= 1.0):
            raise SelectionError(f"--train-cells {spec}: expected fraction:F with 0 < F <= 1, e.g. fraction:0.5")
        return max(1, int(math.floor(f * region.n_cells + 0.5)))
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= region.n_cells:
        raise SelectionError(f"--train-cells {spec}: expected farthest:N with 1 <= N <= {region.n_cells} (the "
                             f"region's cells)")
    return k


def _ids_from_text(text: str, source: str) -> list[int]:
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    out = []
    for tok in re.split(r"[\s,;]+", body.strip()):
        if not tok:
            continue
        try:
            out.append(int(tok))
        except ValueError:
            raise SelectionError(f"--train-cells {source}: {tok!r} is not an integer cell id") from None
    return out


def parse_train_cells(spec: str, region: Region, seed: int = 0) -> np.ndarray:
    """Cell ids selected by ``spec``: ``das:K``, ``fraction:F``, ``farthest:N``, a file of ids, or a
    comma-separated list of ids (module docstring). ``seed`` seeds ``fraction`` and ``farthest``."""
    spec = str(spec).strip()
    if not spec:
        raise SelectionError("--train-cells is empty; expected das:K, fraction:F, farthest:N, a file of cell ids, "
                             "or ids like 3,17,40")
    m = _FRACTION.fullmatch(spec) or _FARTHEST.fullmatch(spec)
    if m:
        n = _count(spec, m.group(1), region)
        return spread_cells(region, n, seed) if spec.lower().startswith("fraction") else \
            farthest_cells(region, n, seed)
    m = _DAS.fullmatch(spec)
    if m:
        k = int(m.group(1))
        if k < 1:
            raise SelectionError(f"--train-cells {spec}: K must be at least 1")
        try:
            train = np.asarray(region.spatial_split(k, seed=0).train)
        except RegionError as exc:   # e.g. a point set of one point
            raise SelectionError(f"--train-cells {spec}: {exc}; list the cell ids instead") from None
        if not region.has_grid and 3 * len(train) < region.n_cells:
            log.warning("--train-cells %s keeps %d of %d stations (round(n / K^2)) for training; on a station "
                        "network fraction:0.5 or farthest:N choose how many", spec, len(train), region.n_cells)
        return train
    path = Path(spec)
    if path.is_file():
        ids = _ids_from_text(path.read_text(), str(path))
        if not ids:
            raise SelectionError(f"--train-cells {path}: the file lists no cell ids")
    elif spec.lower().startswith("das"):
        raise SelectionError(f"--train-cells {spec!r}: expected das:K with an integer K, e.g. das:4")
    elif re.fullmatch(r"[\d\s,;]+", spec):
        ids = _ids_from_text(spec, repr(spec))
    else:
        raise SelectionError(f"--train-cells {spec!r}: no such file, and not das:K, fraction:F, farthest:N or a list "
                             "of cell ids like 3,17,40")
    ids_arr = np.unique(np.asarray(ids, dtype=np.int64))
    missing = np.setdiff1d(ids_arr, region.cells)
    if missing.size:
        raise SelectionError(f"--train-cells {spec}: cell id(s) {missing[:5].tolist()} not in the region "
                             f"(ids {int(region.cells.min())}..{int(region.cells.max())})")
    return ids_arr


def describe(train: Period | None, test: Period | None) -> dict[str, list[str] | None]:
    """The periods as ISO day strings (for a result's metadata)."""
    iso = lambda p: None if p is None else Period(*p).iso()  # noqa: E731
    return {"train_period": iso(train), "test_period": iso(test)}


def split_region(region, train_period=None, test_period=None, train_cells=None, *,
                 subset: bool = False, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """``region`` cut to its training days and cells, and what to record about the split.

    The training cells are flagged (``train_cell``) for a strategy, or with ``subset`` the region is
    reduced to them (the surrogate learns from simulator runs, not observations).
    """
    train, test = resolve_periods(region, train_period, test_period)
    cells = parse_train_cells(train_cells, region, seed) if train_cells is not None else None
    out = region.sel_time(*train) if train is not None else region
    if cells is not None:
        out = out.subset(cells) if subset else out.with_training_cells(cells)
    meta: dict[str, Any] = describe(train, test)
    if train_cells is not None:
        meta["train_cells_spec"] = str(train_cells)
    return out, meta


def split_message(full, region, meta: dict[str, Any], *, subset: bool = False) -> str:
    """One line saying which cells and days a run learns from and what is held out."""
    days = f"{region.times[0].date()}..{region.times[-1].date()} ({region.n_days} days)"
    test = meta.get("test_period")
    held = f"; test period {test[0]}..{test[1]} held out" if test else ""
    which = f" ({meta['train_cells_spec']})" if "train_cells_spec" in meta else ""
    n_cells = region.n_cells if subset else len(region.training_cells)
    return f"training on {n_cells} of {full.n_cells} cells{which}, days {days}{held}"
