"""Shared ``--train-period`` / ``--test-period`` / ``--train-cells`` options of calibrate and surrogate train.

The split itself is :func:`vic_paraformer.selection.split_region`.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_split_arguments", "split_message", "split_region", "CELLS_HELP"]

CELLS_HELP = ("cells to learn from: das:K (the paper's DAS-Sk sampling, one cell per K x K block of the grid; on "
              "a station network n/K^2 evenly spread stations), fraction:F (F of the cells, half rounded up, "
              "spread by seeded k-means), farthest:N (N cells by seeded farthest-point sampling), "
              "a file of cell ids, or ids like 3,17,40")


def add_split_arguments(p: argparse.ArgumentParser, *, cells_help: str = CELLS_HELP) -> None:
    p.add_argument("--train-period", nargs=2, metavar=("START", "END"), default=None,
                   help="learn only from these days (inclusive, YYYY-MM-DD); default: all days before "
                        "--test-period, else all days")
    p.add_argument("--test-period", nargs=2, metavar=("START", "END"), default=None,
                   help="days held out for 'evaluate' (recorded in the output); default: the days after "
                        "--train-period. Without --train-period, training uses the days before it")
    p.add_argument("--train-cells", metavar="SPEC", default=None, help=cells_help)


def split_region(region, train_period=None, test_period=None, train_cells=None, *, subset: bool = False):
    """:func:`vic_paraformer.selection.split_region` (imported on use: ``--help`` loads no xarray)."""
    from ..selection import split_region as split

    return split(region, train_period, test_period, train_cells, subset=subset)


def split_message(full, region, meta: dict[str, Any], *, subset: bool = False) -> str:
    """:func:`vic_paraformer.selection.split_message`."""
    from ..selection import split_message as message

    return message(full, region, meta, subset=subset)
