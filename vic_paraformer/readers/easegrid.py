"""EASE-Grid 2.0 global grids (EPSG:6933) and the equal-area latitude coordinate.

The global EASE-Grid 2.0 is a cylindrical equal-area projection of the WGS84 ellipsoid with true
scale at 30 degrees (Brodzik et al. 2012, "EASE-Grid 2.0: Incremental but Significant Improvements
for Earth-Gridded Data Sets", ISPRS Int. J. Geo-Inf. 1(1), doi:10.3390/ijgi1010032; NSIDC grid
definition files ``EASE2_M36km.gpd`` / ``EASE2_M09km.gpd``). The grids used by the SMAP
radiometer products:

==========  ==================  ======  ======
grid        cell size (m)       rows    cols
==========  ==================  ======  ======
M36 (36 km) 36032.220840584     406     964
M09 (9 km)   9008.055210146     1624    3856
==========  ==================  ======  ======

The grid's upper-left corner is at ``x = -cols/2 * size`` (longitude -180) and ``y = rows/2 *
size`` (latitude 85.0445664); row 0 is the northernmost row. Because the projection is
cylindrical, ``x`` depends on longitude only and ``y`` on latitude only, so every EASE cell is a
latitude-longitude rectangle on the ellipsoid and its edges follow from the formulas below
(Snyder 1987, "Map Projections -- A Working Manual", USGS PP 1395, pp. 76-85, ellipsoidal
cylindrical equal-area):

* forward: ``x = a k0 (lambda - lambda0)``, ``y = a q(phi) / (2 k0)`` with
  ``k0 = cos(phi_1) / sqrt(1 - e^2 sin^2 phi_1)`` and the authalic function
  ``q(phi) = (1 - e^2) [sin(phi) / (1 - e^2 sin^2 phi) - 1/(2e) ln((1 - e sin phi)/(1 + e sin phi))]``;
* inverse: ``beta = asin(2 y k0 / (a q_p))`` and ``phi = beta + (e^2/3 + 31 e^4/180 + 517 e^6/5040)
  sin 2beta + (23 e^4/360 + 251 e^6/3780) sin 4beta + 761 e^6/45360 sin 6beta`` (series accurate to
  well below a millimetre), ``lambda = x / (a k0)``.

``q`` is also the equal-area latitude coordinate the regridding uses: the area of the ellipsoid
between two parallels and two meridians is ``a^2/2 * (lambda_2 - lambda_1) * (q_2 - q_1)``. These
few lines replace a dependency on pyproj, which is not among the toolkit's requirements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: WGS84 semi-major axis (m) and eccentricity.
A_WGS84 = 6378137.0
E_WGS84 = 0.081819190843
E2 = E_WGS84 ** 2
#: Latitude of true scale of the global EASE-Grid 2.0 (degrees).
TRUE_SCALE_LAT = 30.0


def authalic_q(lat_deg) -> np.ndarray:
    """Snyder's ``q`` of latitude(s) in degrees on the WGS84 ellipsoid (equal-area coordinate)."""
    s = np.sin(np.radians(np.asarray(lat_deg, float)))
    e = E_WGS84
    return (1 - E2) * (s / (1 - E2 * s * s) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))


Q_POLE = float(authalic_q(90.0))
_S1 = np.sin(np.radians(TRUE_SCALE_LAT))
K0 = float(np.cos(np.radians(TRUE_SCALE_LAT)) / np.sqrt(1 - E2 * _S1 * _S1))


def ellipsoid_area_km2(lat_lo, lat_hi, lon_lo, lon_hi) -> np.ndarray:
    """Area (km2) of latitude-longitude rectangles on the WGS84 ellipsoid."""
    dq = authalic_q(lat_hi) - authalic_q(lat_lo)
    dlam = np.radians(np.asarray(lon_hi, float) - np.asarray(lon_lo, float))
    return np.abs(A_WGS84 ** 2 / 2 * dlam * dq) / 1e6


def forward(lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:6933 map coordinates ``(x, y)`` in metres of latitude/longitude in degrees."""
    x = A_WGS84 * K0 * np.radians(np.asarray(lon_deg, float))
    y = A_WGS84 * authalic_q(lat_deg) / (2 * K0)
    return x, y


def inverse(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude in degrees of EPSG:6933 map coordinates in metres."""
    beta = np.arcsin(np.clip(2 * np.asarray(y, float) * K0 / (A_WGS84 * Q_POLE), -1.0, 1.0))
    e4, e6 = E2 ** 2, E2 ** 3
    phi = (beta + (E2 / 3 + 31 * e4 / 180 + 517 * e6 / 5040) * np.sin(2 * beta)
           + (23 * e4 / 360 + 251 * e6 / 3780) * np.sin(4 * beta) + 761 * e6 / 45360 * np.sin(6 * beta))
    lon = np.degrees(np.asarray(x, float) / (A_WGS84 * K0))
    return np.degrees(phi), lon


@dataclass(frozen=True)
class EaseGrid:
    """One global EASE-Grid 2.0 grid: its name, cell size (m), rows and columns."""

    name: str
    cell_m: float
    rows: int
    cols: int

    @property
    def km(self) -> float:
        """The nominal cell size in km (36 or 9)."""
        return round(self.cell_m / 1000.0)

    @property
    def x0(self) -> float:
        return -self.cols / 2 * self.cell_m

    @property
    def y0(self) -> float:
        return self.rows / 2 * self.cell_m

    def row_bounds(self, rows) -> np.ndarray:
        """``(n, 2)`` latitude bounds (south, north) in degrees of the given rows."""
        r = np.asarray(rows, float)
        north, _ = inverse(0.0, self.y0 - r * self.cell_m)
        south, _ = inverse(0.0, self.y0 - (r + 1) * self.cell_m)
        return np.stack([south, north], axis=-1)

    def col_bounds(self, cols) -> np.ndarray:
        """``(n, 2)`` longitude bounds (west, east) in degrees of the given columns."""
        c = np.asarray(cols, float)
        _, west = inverse(self.x0 + c * self.cell_m, 0.0)
        _, east = inverse(self.x0 + (c + 1) * self.cell_m, 0.0)
        return np.stack([west, east], axis=-1)

    def centres(self, rows, cols) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude (degrees) of the centres of cells ``(rows, cols)``."""
        lat, _ = inverse(0.0, self.y0 - (np.asarray(rows, float) + 0.5) * self.cell_m)
        _, lon = inverse(self.x0 + (np.asarray(cols, float) + 0.5) * self.cell_m, 0.0)
        return lat, lon

    def index(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (integers, possibly outside the grid) of the cells holding ``(lat, lon)``."""
        x, y = forward(lat, lon)
        return np.floor((self.y0 - y) / self.cell_m).astype(int), np.floor((x - self.x0) / self.cell_m).astype(int)


#: The global grids of the SMAP radiometer products.
EASE2_M36 = EaseGrid("EASE-Grid 2.0 global 36 km", 36032.220840584, 406, 964)
EASE2_M09 = EaseGrid("EASE-Grid 2.0 global 9 km", 9008.055210146, 1624, 3856)
GRIDS: tuple[EaseGrid, ...] = (EASE2_M36, EASE2_M09)

__all__ = ("EaseGrid", "EASE2_M36", "EASE2_M09", "GRIDS", "authalic_q", "forward", "inverse", "ellipsoid_area_km2")
