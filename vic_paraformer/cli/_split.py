"""Shared ``--train-period`` / ``--test-period`` / ``--train-cells`` options of calibrate and surrogate train."""

from __future__ import annotations

import argparse
from typing import Any

CELLS_HELP = ("cells to learn from: das:K (the paper's DAS-Sk sampling, one cell per K x K block of the grid; on "
              "a station network n/K^2 evenly spread stations), "
              "a file of cell ids, or ids like 3,17,40")


def add_split_arguments(p: argparse.ArgumentParser, *, cells_help: str = CELLS_HELP) -> None:
    p.add_argument("--train-period", nargs=2, metavar=("START", "END"), default=None,
                   help="learn only from these days (inclusive, YYYY-MM-DD); default: all days before "
                        "--test-period, else all days")
    p.add_argument("--test-period", nargs=2, metavar=("START", "END"), default=None,
                   help="days held out for 'evaluate' (recorded in the output); default: the days after "
                        "--train-period. Without --train-period, training uses the days before it")
    p.add_argument("--train-cells", metavar="SPEC", default=None, help=cells_help)


def split_region(region, train_period=None, test_period=None, train_cells=None, *,
                 subset: bool = False) -> tuple[Any, dict[str, Any]]:
    """``region`` cut to its training days and cells, and what to record about the split.

    The training cells are flagged (``train_cell``) for a strategy, or with ``subset`` the region is
    reduced to them (the surrogate learns from simulator runs, not observations).
    """
    from ..selection import describe, parse_train_cells, resolve_periods

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
