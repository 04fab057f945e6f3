"""Cell areas, great-circle distances and matching points to a Region's cells."""

from __future__ import annotations

import numpy as np

from ..errors import RoutingError
from ..geo import EARTH_RADIUS_KM, great_circle_km

#: Earth radius (m) of VIC domain files' cell areas (checked against the Stehekin domain file).
EARTH_RADIUS = EARTH_RADIUS_KM * 1000.0


def grid_spacing(values: np.ndarray) -> float | None:
    """The smallest positive spacing between the distinct values (degrees), None for a single value."""
    u = np.unique(np.round(np.asarray(values, float), 8))
    if u.size < 2:
        return None
    return float(np.diff(u).min())


def spherical_cell_area(lat: np.ndarray, dlat: float, dlon: float) -> np.ndarray:
    """Area (m2) of lat/lon cells centred at ``lat`` with sides ``dlat`` x ``dlon`` degrees."""
    lat = np.asarray(lat, float)
    top = np.deg2rad(np.clip(lat + dlat / 2, -90, 90))
    bottom = np.deg2rad(np.clip(lat - dlat / 2, -90, 90))
    return EARTH_RADIUS ** 2 * np.deg2rad(dlon) * np.abs(np.sin(top) - np.sin(bottom))


def cell_areas(ds, what: str = "Region") -> np.ndarray:
    """Area (m2) of each cell of a Region dataset: its ``cell_area`` variable where present (a VIC
    domain file's ``area``), else the spherical area of a regular lat/lon cell from the grid spacing."""
    if "cell_area" in ds.variables:
        a = np.asarray(ds["cell_area"].values, float)
        if not np.all(np.isfinite(a) & (a > 0)):
            raise RoutingError(f"{what}: cell_area must be positive and finite (m2)")
        return a
    lat, lon = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    dlat, dlon = grid_spacing(lat), grid_spacing(lon)
    if dlat is None and dlon is None:
        raise RoutingError(f"{what}: cannot tell the cell size of a single-cell Region; give it a cell_area "
                           f"variable (m2)")
    dlat = dlat if dlat is not None else dlon
    dlon = dlon if dlon is not None else dlat
    return spherical_cell_area(lat, dlat, dlon)


def haversine(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (m) between points (degrees)."""
    return great_circle_km(lat1, lon1, lat2, lon2) * 1000.0


def match_cells(lat, lon, cell_lat, cell_lon, tol_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """For each point the position of the nearest cell (degrees, longitudes compared modulo 360) and
    its distance in degrees; the position is -1 where the nearest cell is farther than ``tol_deg``."""
    lat = np.atleast_1d(np.asarray(lat, float))
    lon = np.atleast_1d(np.asarray(lon, float))
    cl, cn = np.asarray(cell_lat, float), np.asarray(cell_lon, float)
    dlon = (lon[:, None] - cn[None, :] + 180.0) % 360.0 - 180.0
    d = np.hypot(lat[:, None] - cl[None, :], dlon)
    best = d.argmin(axis=1)
    dist = d[np.arange(lat.size), best]
    return np.where(dist <= tol_deg, best, -1), dist
