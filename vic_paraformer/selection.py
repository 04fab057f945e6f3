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
  give the same training points in every run.
* :func:`split_region` -- a region cut to its training days and cells, with what to record about
  the split; :func:`split_message` says it in one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import RegionError, VicParaformerError
from .region import Period, Region, parse_period


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


def parse_train_cells(spec: str, region: Region) -> np.ndarray:
    """Cell ids selected by ``spec``: ``das:K``, a file of ids, or a comma-separated list of ids."""
    spec = str(spec).strip()
    if not spec:
        raise SelectionError("--train-cells is empty; expected das:K, a file of cell ids, or ids like 3,17,40")
    m = _DAS.fullmatch(spec)
    if m:
        k = int(m.group(1))
        if k < 1:
            raise SelectionError(f"--train-cells {spec}: K must be at least 1")
        try:
            return np.asarray(region.spatial_split(k, seed=0).train)
        except RegionError as exc:   # e.g. a point set of one point
            raise SelectionError(f"--train-cells {spec}: {exc}; list the cell ids instead") from None
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
        raise SelectionError(f"--train-cells {spec!r}: no such file, and not das:K or a list of cell ids like 3,17,40")
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
                 subset: bool = False) -> tuple[Any, dict[str, Any]]:
    """``region`` cut to its training days and cells, and what to record about the split.

    The training cells are flagged (``train_cell``) for a strategy, or with ``subset`` the region is
    reduced to them (the surrogate learns from simulator runs, not observations).
    """
    train, test = resolve_periods(region, train_period, test_period)
    cells = parse_train_cells(train_cells, region) if train_cells is not None else None
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
