"""Cell geometry of the per-cell strategies: great-circle distance and the nearest trained cell.

A per-cell strategy calibrates only the training cells; every other cell takes the parameters
of the nearest trained cell (:func:`nearest_trained`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import StrategyError
from ..geo import great_circle_km
from ..region import Region


def nearest_trained(region: Region, train_cells: Sequence[int]) -> np.ndarray:
    """For every cell of ``region``, the position in ``train_cells`` of the nearest trained cell.

    Distance is great-circle distance on ``lat``/``lon``; a trained cell maps to itself and ties go
    to the earlier entry of ``train_cells``.
    """
    train_cells = np.asarray(train_cells)
    if train_cells.size == 0:
        raise StrategyError("no trained cells to copy parameters from")
    pos = {int(c): i for i, c in enumerate(region.cells)}
    tidx = np.array([pos[int(c)] for c in train_cells])
    lat, lon = region.ds["lat"].values.astype(float), region.ds["lon"].values.astype(float)
    d = great_circle_km(lat[:, None], lon[:, None], lat[None, tidx], lon[None, tidx])
    out = np.argmin(d, axis=1)
    for i, t in enumerate(tidx):  # exact self-mapping even for duplicated coordinates
        out[t] = i
    return out
