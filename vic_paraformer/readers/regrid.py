"""Grid cells to a Region's cells: area-weighted averaging with a coverage fraction.

Every source grid the readers meet (the SMAP EASE-Grid 2.0, a CF latitude-longitude grid) is a
*rectilinear grid of latitude-longitude rectangles*: row ``r`` spans ``lat_bounds[r]`` and column
``c`` spans ``lon_bounds[c]`` (an EASE-Grid 2.0 cell is such a rectangle because the projection is
cylindrical, see :mod:`~vic_paraformer.readers.easegrid`). The Region's cells are rectangles too:
centre plus or minus half the grid spacing (``CellTarget.resolution``). Point cells (stations) are
taken as tiny rectangles, so a station gets the value of the grid cell that contains it.

The overlap of two such rectangles on the WGS84 ellipsoid is exact in the equal-area coordinates
``(longitude, q(latitude))``: area = ``a^2/2 * d_lambda * d_q``. :func:`overlap_matrix` returns, for
every target cell ``i`` and source cell ``j``, the fraction ``w_ij`` of cell ``i``'s area that
``j`` covers. With ``m_j`` = 1 where the source value ``v_j`` is valid:

* coverage of cell ``i``: ``sum_j w_ij m_j`` (the fraction of its area covered by valid values);
* value of cell ``i``: ``sum_j w_ij m_j v_j / sum_j w_ij m_j`` (the area-weighted mean).

This is conservative: ``sum_i area_i * coverage_i * value_i = sum_j v_j m_j * area(j within the
cells)``, so over a fully covered region the area-weighted mean of the cell values equals that of
the source; a constant field stays constant; a cell half covered has coverage 0.5. Longitudes are
compared modulo 360 degrees (a 0..360 grid serves a -180..180 region, and a cell across the
antimeridian collects from both ends).

Why not xarray-regrid's conservative method (the package is not installed): it regrids one
rectilinear grid onto another *full* rectilinear grid, while a Region is a set of cells (a masked,
often sparse subset of a grid, or stations), each cell's coverage is wanted as a result, and the
EASE source is best weighted in the ellipsoid's equal-area coordinate. The sparse overlap matrix
below is exact for these rectangle-on-rectangle cases, about a hundred lines, and adds no
dependency. Curvilinear sources (2-D coordinates varying along both axes) are out of its scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .base import CellTarget
from .easegrid import authalic_q

#: Half-size (degrees) of the rectangle standing for a point cell (a station).
POINT_HALF_DEG = 1e-6


@dataclass(frozen=True)
class RectGrid:
    """A rectilinear grid of latitude-longitude rectangles.

    ``lat_bounds`` ``(n_rows, 2)`` and ``lon_bounds`` ``(n_cols, 2)`` in degrees (each pair in any
    order). Source values are indexed row-major: cell ``(r, c)`` is ``r * n_cols + c``.
    """

    lat_bounds: np.ndarray
    lon_bounds: np.ndarray

    def __post_init__(self) -> None:
        lat = np.sort(np.asarray(self.lat_bounds, float).reshape(-1, 2), axis=1)
        lon = np.sort(np.asarray(self.lon_bounds, float).reshape(-1, 2), axis=1)
        object.__setattr__(self, "lat_bounds", np.clip(lat, -90.0, 90.0))
        object.__setattr__(self, "lon_bounds", lon)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.lat_bounds), len(self.lon_bounds)

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @classmethod
    def from_centres(cls, lat, lon) -> "RectGrid":
        """The grid whose cell edges lie halfway between the given 1-D centres (ends extrapolated)."""
        return cls(_edges_from_centres(lat, "latitude"), _edges_from_centres(lon, "longitude"))

    def subset(self, rows: slice, cols: slice) -> "RectGrid":
        """The grid of ``rows`` x ``cols``."""
        return RectGrid(self.lat_bounds[rows], self.lon_bounds[cols])

    def extent(self) -> tuple[float, float, float, float]:
        """``(south, north, west, east)`` in degrees."""
        return (float(self.lat_bounds.min()), float(self.lat_bounds.max()), float(self.lon_bounds.min()),
                float(self.lon_bounds.max()))


def _edges_from_centres(c, what: str) -> np.ndarray:
    c = np.asarray(c, float).ravel()
    if c.size == 1:
        raise ValueError(f"a single {what} cannot give cell edges; bounds are needed")
    mid = (c[1:] + c[:-1]) / 2
    edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.stack([edges[:-1], edges[1:]], axis=1)


def target_boxes(target: CellTarget) -> np.ndarray:
    """``(n_cells, 4)`` rectangles ``(south, north, west, east)`` of the target's cells (degrees)."""
    lat = np.asarray(target.lat, float)
    lon = np.asarray(target.lon, float)
    if target.resolution is None:
        hl = hn = POINT_HALF_DEG
    else:
        hl, hn = target.resolution[0] / 2, target.resolution[1] / 2
    return np.stack([np.clip(lat - hl, -90, 90), np.clip(lat + hl, -90, 90), lon - hn, lon + hn], axis=1)


def _lon_overlap(boxes: np.ndarray, lon_bounds: np.ndarray) -> np.ndarray:
    """``(n_cells, n_cols)`` longitude overlap (degrees), modulo 360."""
    out = np.zeros((len(boxes), len(lon_bounds)))
    for shift in (-360.0, 0.0, 360.0):
        w = boxes[:, 2:3] + shift
        e = boxes[:, 3:4] + shift
        out += np.clip(np.minimum(e, lon_bounds[None, :, 1]) - np.maximum(w, lon_bounds[None, :, 0]), 0.0, None)
    return out


def overlap_matrix(grid: RectGrid, boxes: np.ndarray, *, chunk: int = 2048) -> sparse.csr_matrix:
    """``(n_cells, grid.size)`` sparse fractions of each target cell's area covered by each source cell."""
    n = len(boxes)
    q_src = authalic_q(grid.lat_bounds)
    rows_i, cols_j, vals = [], [], []
    n_cols = grid.shape[1]
    for start in range(0, n, chunk):
        b = boxes[start:start + chunk]
        q_lo, q_hi = authalic_q(b[:, 0:1]), authalic_q(b[:, 1:2])
        dq = np.clip(np.minimum(q_hi, q_src[None, :, 1]) - np.maximum(q_lo, q_src[None, :, 0]), 0.0, None)
        fq = dq / np.where(q_hi - q_lo > 0, q_hi - q_lo, 1.0)
        fl = _lon_overlap(b, grid.lon_bounds) / np.where(b[:, 3:4] - b[:, 2:3] > 0, b[:, 3:4] - b[:, 2:3], 1.0)
        for k in range(len(b)):
            r = np.nonzero(fq[k] > 0)[0]
            c = np.nonzero(fl[k] > 0)[0]
            if not r.size or not c.size:
                continue
            w = np.outer(fq[k, r], fl[k, c]).ravel()
            rows_i.append(np.full(w.size, start + k))
            cols_j.append((r[:, None] * n_cols + c[None, :]).ravel())
            vals.append(w)
    if not vals:
        return sparse.csr_matrix((n, grid.size))
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_j))),
                             shape=(n, grid.size))


def window(grid: RectGrid, boxes: np.ndarray) -> tuple[slice, slice] | None:
    """The rows and columns of ``grid`` that overlap any of ``boxes`` (one block), or None."""
    q_src = authalic_q(grid.lat_bounds)
    q_lo, q_hi = authalic_q(boxes[:, 0]), authalic_q(boxes[:, 1])
    rows = np.nonzero((q_src[:, 1] > q_lo.min()) & (q_src[:, 0] < q_hi.max()))[0]
    cols = np.nonzero(_lon_overlap(boxes, grid.lon_bounds).max(axis=0) > 0)[0]
    if not rows.size or not cols.size:
        return None
    return slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1)


def regrid(weights: sparse.csr_matrix, values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted means (NaN where nothing valid) and coverage fractions of ``values`` (flat)."""
    m = np.asarray(valid, float).ravel()
    v = np.where(m > 0, np.asarray(values, float).ravel(), 0.0)
    den = weights @ m
    num = weights @ (v * m)
    mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return mean, den


def describe_extent(grid: RectGrid) -> str:
    """``lat S..N, lon W..E`` of a grid, for messages."""
    s, n, w, e = grid.extent()
    return f"lat {s:.3f}..{n:.3f}, lon {w:.3f}..{e:.3f}"


def describe_boxes(boxes: np.ndarray) -> str:
    """``lat S..N, lon W..E`` of the target cells, for messages."""
    return (f"lat {boxes[:, 0].min():.3f}..{boxes[:, 1].max():.3f}, "
            f"lon {boxes[:, 2].min():.3f}..{boxes[:, 3].max():.3f}")


__all__ = ("RectGrid", "overlap_matrix", "target_boxes", "window", "regrid", "describe_extent", "describe_boxes",
           "POINT_HALF_DEG")
