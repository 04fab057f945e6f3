"""River networks on a grid: D8 flow directions from elevation, upstream areas, gauge placement,
and the gauged basins of a routing kernel.

**Flow directions** (:func:`d8_priority_flood`): D8 by priority flood (Barnes, Lehman & Mulla 2014,
Computers & Geosciences 62, 117-127) from the outlets: every edge cell (``mouths="edge"``), or only
the lowest edge cell (``mouths="lowest"``: the whole grid is one catchment draining through it, the
synthetic twin's choice), has direction 0; the lowest cell of the open set is taken next and each of
its unvisited neighbours drains to it, so every cell reaches an outlet along a path that never
climbs more than it must (pits are filled implicitly).
Ties (equal elevations) go to the cell found first (lowest ``(elevation, order)``), so the result is
deterministic. Directions use VIC's numbering 1..8 = N, NE, E, SE, S, SW, W, NW on a grid whose row
0 is the **northern** edge (the synthetic twin's layout).

**Gauges** (:func:`place_gauges`): the first gauge is the outlet of the largest basin; each next
gauge splits the largest incremental basin (cells whose nearest gauge downstream is the same) at
the cell whose upstream count inside that incremental basin is closest to half of it (ties: the
lower cell index). All gauges therefore lie in the largest basin, nested, and the incremental basins
have comparable sizes; cells outside it are ungauged.

**Gauged basins** (:func:`gauge_basins`): from a routing kernel, the cells draining to each gauge's
outlet; a cell belongs to the smallest gauged basin containing it (its incremental basin), and
basins are ordered upstream first (a nested basin is smaller than every basin containing it).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ..errors import RoutingError
from .kernel import RoutingKernel

#: (drow, dcol) on a grid with row 0 at the north, per VIC direction 1..8 (N, NE, E, SE, S, SW, W, NW).
_STEP = {1: (-1, 0), 2: (-1, 1), 3: (0, 1), 4: (1, 1), 5: (1, 0), 6: (1, -1), 7: (0, -1), 8: (-1, -1)}


def d8_priority_flood(elevation: np.ndarray, mouths: str = "edge") -> np.ndarray:
    """VIC-convention D8 directions ``(ny, nx)`` (0 at the outlets) from ``elevation`` ``(ny, nx)`` by
    priority flood from every edge cell or from the lowest one (``mouths``; module docstring)."""
    z = np.asarray(elevation, float)
    if z.ndim != 2 or not np.isfinite(z).all():
        raise RoutingError(f"flow directions need a finite 2-D elevation grid, got shape {z.shape}")
    ny, nx = z.shape
    fdir = np.zeros((ny, nx), int)
    seen = np.zeros((ny, nx), bool)
    if mouths not in ("edge", "lowest"):
        raise RoutingError(f"flow directions: mouths must be 'edge' or 'lowest', got {mouths!r}")
    edge = [(z[r, c], r * nx + c, r, c) for r in range(ny) for c in range(nx) if r in (0, ny - 1) or c in (0, nx - 1)]
    if mouths == "lowest":
        edge = [min(edge)]
    heap: list[tuple[float, int, int, int]] = []
    order = 0
    for level, _, r, c in edge:
        heapq.heappush(heap, (level, order, r, c))
        seen[r, c] = True
        order += 1
    while heap:
        level, _, r, c = heapq.heappop(heap)
        for d, (dr, dc) in _STEP.items():
            rr, cc = r - dr, c - dc   # the neighbour that would drain to (r, c) in direction d
            if 0 <= rr < ny and 0 <= cc < nx and not seen[rr, cc]:
                seen[rr, cc] = True
                fdir[rr, cc] = d
                heapq.heappush(heap, (max(level, z[rr, cc]), order, rr, cc))
                order += 1
    return fdir


def downstream_index(fdir: np.ndarray) -> np.ndarray:
    """Flat index of each cell's downstream cell on a ``(ny, nx)`` direction grid (row 0 north), -1 at outlets."""
    ny, nx = fdir.shape
    down = np.full(ny * nx, -1)
    for i, d in enumerate(np.asarray(fdir, int).ravel()):
        if d in _STEP:
            r, c = divmod(i, nx)
            rr, cc = r + _STEP[d][0], c + _STEP[d][1]
            if 0 <= rr < ny and 0 <= cc < nx:
                down[i] = rr * nx + cc
    return down


def upstream_sets(down: np.ndarray) -> list[set[int]]:
    """For each cell, the cells draining through it (itself included)."""
    ups: list[set[int]] = [{i} for i in range(down.size)]
    for i in range(down.size):
        j, guard = int(down[i]), 0
        while j >= 0:
            ups[j].add(i)
            j = int(down[j])
            guard += 1
            if guard > down.size:
                raise RoutingError("flow directions form a loop")
    return ups


def place_gauges(fdir: np.ndarray, n: int) -> list[int]:
    """Flat cell indices of ``n`` gauges on a direction grid (module docstring), upstream gauges last."""
    if n < 1:
        return []
    down = downstream_index(fdir)
    ups = upstream_sets(down)
    outlets = [i for i in range(down.size) if down[i] < 0]
    first = max(outlets, key=lambda i: (len(ups[i]), -i))
    gauges = [first]
    while len(gauges) < n:
        owner = _owners(down, gauges)
        sizes = {g: int((owner == g).sum()) for g in gauges}
        target = max(gauges, key=lambda g: (sizes[g], -g))
        inc = set(np.flatnonzero(owner == target).tolist())
        half = sizes[target] / 2.0
        cands = [c for c in inc if c != target]
        if not cands:
            break
        best = min(cands, key=lambda c: (abs(len(ups[c] & inc) - half), c))
        gauges.append(int(best))
    return gauges


def _owners(down: np.ndarray, gauges: list[int]) -> np.ndarray:
    """The nearest gauge downstream of each cell (itself if gauged), -1 for ungauged cells."""
    g = set(gauges)
    out = np.full(down.size, -1)
    for i in range(down.size):
        j = i
        while j >= 0 and j not in g:
            j = int(down[j])
        out[i] = j
    return out


@dataclass(frozen=True)
class GaugeBasins:
    """Which cells each gauge calibrates (:func:`gauge_basins`).

    ``cells[k]`` the Region cell positions of gauge ``order[k]``'s incremental basin (the cells whose
    smallest gauged basin is that gauge's); ``upstream[k]`` every cell position draining to it;
    ``order`` the gauge indices upstream first; ``ungauged`` the positions in no gauged basin."""

    order: list[int]
    cells: list[np.ndarray]
    upstream: list[np.ndarray]
    ungauged: np.ndarray


def gauge_basins(kernel: RoutingKernel, gauge_outlet, n_cells: int) -> GaugeBasins:
    """The gauged basins of ``kernel``'s outlets ``gauge_outlet`` (one per gauge) on ``n_cells`` cells:
    each cell goes to the smallest basin containing it; basins upstream first (module docstring).
    Two gauges on the same outlet share its cells (the first one, in gauge order, calibrates them)."""
    outlets = np.asarray(gauge_outlet, int).ravel()
    members = [np.unique(kernel.source_cell[kernel.source_outlet == o]) for o in outlets]
    order = sorted(range(outlets.size), key=lambda g: (members[g].size, g))
    owner = np.full(n_cells, -1)
    for g in order:
        free = members[g][owner[members[g]] < 0]
        owner[free] = g
    return GaugeBasins(order=order, cells=[np.flatnonzero(owner == g) for g in order],
                       upstream=[members[g] for g in order], ungauged=np.flatnonzero(owner < 0))
