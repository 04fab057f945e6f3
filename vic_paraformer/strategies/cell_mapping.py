"""Process mapping of the per-cell strategies: per-cell seeds and :func:`map_cells`.

One small picklable task per cell is mapped over cells by
:class:`vic_paraformer.ensemble.EnsembleRunner` (local process pool or Dask), or run in process
when ``n_workers=1``. Each cell is seeded from ``(seed, cell id)`` (:func:`cell_seed`), so
results do not depend on the worker count or order.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import StrategyError


def cell_seed(seed: int, cell_id: int) -> int:
    """A 32-bit seed for one cell, mixed from the run seed and the cell id."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(cell_id) & 0xFFFFFFFF]).generate_state(1)[0])


def map_cells(func: Callable, tasks: Sequence, *, n_workers: int | None = None, backend: str = "local",
              scheduler: str | None = None, client=None, desc: str = "cells") -> list:
    """Apply ``func`` to every task through :class:`vic_paraformer.ensemble.EnsembleRunner`, in order.

    ``n_workers=1`` (or a single task) with the local backend runs in this process; otherwise a
    local process pool (``n_workers``, default all cores) or Dask (``scheduler``/``client``, or the
    cluster of an enclosing :func:`vic_paraformer.cluster.use_scheduler`, ``vic-paraformer
    --scheduler``: every cell then goes to the cluster). On Dask the inputs the tasks name are
    checked on every worker first and a worker lost mid-run has its cells rerun on the others
    (:mod:`vic_paraformer.cluster`); each cell's seed depends only on ``(seed, cell)``, so the
    result is the local one. Progress is shown with tqdm; the pool is shut down afterwards, also
    on Ctrl-C.
    """
    from ..cluster import active_client
    from ..ensemble import EnsembleRunner

    if backend not in ("local", "dask"):
        raise StrategyError(f"unknown backend {backend!r}; expected 'local' or 'dask'")
    if backend == "local" and scheduler is None and client is None and active_client() is not None:
        backend, client = "dask", active_client()
    if backend == "local" and len(tasks) <= 1:
        n_workers = 1
    with EnsembleRunner(None, backend=backend, n_workers=n_workers, client=client, scheduler=scheduler) as runner:
        return list(runner.map(func, list(tasks), desc=desc))
