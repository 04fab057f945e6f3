"""The routing kernel: unit hydrographs from source cells to outlets, and its checks.

A :class:`RoutingKernel` holds, for each source (a Region cell draining to an outlet), a unit
hydrograph normalised to sum to 1 over its lags, the area (m2) of the cell that drains to the outlet
and the outlet it drains to. A cell may be the source of several outlets (nested basins). Time
offsets of RVIC files are folded into the unit hydrographs as leading zeros.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import RoutingError

log = logging.getLogger(__name__)

#: Tolerance on the sum of a normalised unit hydrograph.
UH_SUM_TOL = 1e-3


@dataclass
class RoutingKernel:
    """Unit hydrographs from a Region's cells to outlets (see the package docstring for the convention).

    Attributes
    ----------
    uh:
        ``(n_sources, n_lags)`` unit hydrographs, each summing to 1 (lag 0 = the same step).
    source_cell:
        ``(n_sources,)`` position of each source's cell in the Region (0-based, not the cell id).
    source_area:
        ``(n_sources,)`` area in m2 of the source's cell that drains to its outlet.
    source_outlet:
        ``(n_sources,)`` outlet index of each source.
    outlet_lat, outlet_lon, outlet_name:
        ``(n_outlets,)`` outlet positions (degrees) and names.
    dt:
        Length of one lag in seconds (the runoff's step).
    origin:
        Where the kernel came from (a file path, or the builder's name), for error messages.
    """

    uh: np.ndarray
    source_cell: np.ndarray
    source_area: np.ndarray
    source_outlet: np.ndarray
    outlet_lat: np.ndarray
    outlet_lon: np.ndarray
    outlet_name: list[str]
    dt: float = 86400.0
    origin: str = "routing kernel"
    source_lat: np.ndarray | None = None
    source_lon: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.uh = np.asarray(self.uh, dtype=float)
        self.source_cell = np.asarray(self.source_cell, dtype=int)
        self.source_area = np.asarray(self.source_area, dtype=float)
        self.source_outlet = np.asarray(self.source_outlet, dtype=int)
        self.outlet_lat = np.asarray(self.outlet_lat, dtype=float)
        self.outlet_lon = np.asarray(self.outlet_lon, dtype=float)
        self.outlet_name = [str(n) for n in self.outlet_name]
        self.validate()

    @property
    def n_sources(self) -> int:
        return int(self.uh.shape[0])

    @property
    def n_outlets(self) -> int:
        return int(self.outlet_lat.size)

    @property
    def n_lags(self) -> int:
        return int(self.uh.shape[1])

    def _source(self, s: int) -> str:
        if self.source_lat is not None and self.source_lon is not None:
            return f"source {s} at ({self.source_lat[s]:.4f}, {self.source_lon[s]:.4f})"
        return f"source {s} (cell position {self.source_cell[s]})"

    def outlet_label(self, o: int) -> str:
        """``outlet NAME (lat, lon)`` for messages."""
        return f"outlet {self.outlet_name[o]!r} ({self.outlet_lat[o]:.4f}, {self.outlet_lon[o]:.4f})"

    def validate(self) -> None:
        """Raise RoutingError (one line naming the origin and the source or outlet) when the kernel
        is inconsistent: shapes, negative or non-finite values, a unit hydrograph that does not sum
        to 1 within :data:`UH_SUM_TOL`, a non-positive area or an outlet index out of range."""
        n = self.uh.shape[0] if self.uh.ndim == 2 else -1
        if self.uh.ndim != 2 or n < 1 or self.uh.shape[1] < 1:
            raise RoutingError(f"{self.origin}: unit hydrographs must be (sources, lags) with at least one of each, "
                               f"got shape {self.uh.shape}")
        for name in ("source_cell", "source_area", "source_outlet"):
            if getattr(self, name).shape != (n,):
                raise RoutingError(f"{self.origin}: {name} has shape {getattr(self, name).shape}, expected ({n},)")
        if not (self.outlet_lon.shape == self.outlet_lat.shape == (len(self.outlet_name),)):
            raise RoutingError(f"{self.origin}: outlet_lat, outlet_lon and outlet names differ in length")
        if not np.isfinite(self.dt) or self.dt <= 0:
            raise RoutingError(f"{self.origin}: unit-hydrograph time step {self.dt} s; expected > 0 seconds")
        bad = np.flatnonzero(~np.isfinite(self.uh).all(axis=1) | (self.uh < 0).any(axis=1))
        if bad.size:
            raise RoutingError(f"{self.origin}: unit hydrograph of {self._source(bad[0])} has negative or non-finite "
                               f"values")
        sums = self.uh.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > UH_SUM_TOL)
        if bad.size:
            raise RoutingError(f"{self.origin}: unit hydrograph of {self._source(bad[0])} sums to "
                               f"{sums[bad[0]]:.6g}; expected 1 (within {UH_SUM_TOL:g})")
        bad = np.flatnonzero(~np.isfinite(self.source_area) | (self.source_area <= 0))
        if bad.size:
            raise RoutingError(f"{self.origin}: contributing area of {self._source(bad[0])} is "
                               f"{self.source_area[bad[0]]:g} m2; expected > 0")
        bad = np.flatnonzero((self.source_outlet < 0) | (self.source_outlet >= self.n_outlets))
        if bad.size:
            raise RoutingError(f"{self.origin}: {self._source(bad[0])} drains to outlet index "
                               f"{self.source_outlet[bad[0]]}; the file has {self.n_outlets} outlets")
        if (self.source_cell < 0).any():
            raise RoutingError(f"{self.origin}: negative cell position in source_cell")

    def sources_of(self, outlet: int) -> np.ndarray:
        """Indices of the sources draining to ``outlet``."""
        return np.flatnonzero(self.source_outlet == outlet)

    def outlets_without_sources(self) -> np.ndarray:
        """Outlet indices no source drains to (their discharge is NaN)."""
        return np.setdiff1d(np.arange(self.n_outlets), self.source_outlet)

    def require_sources(self, outlets) -> None:
        """RoutingError naming the first of ``outlets`` that has no sources."""
        empty = set(self.outlets_without_sources().tolist())
        for o in np.atleast_1d(outlets):
            if int(o) in empty:
                raise RoutingError(f"{self.origin}: {self.outlet_label(int(o))} has no sources (no cell drains to it); "
                                   f"pick another outlet for the gauge")

    def upstream_area(self) -> np.ndarray:
        """Contributing area (m2) of each outlet."""
        return np.bincount(self.source_outlet, weights=self.source_area, minlength=self.n_outlets)

    def matrix(self) -> np.ndarray:
        """``(n_sources, n_outlets)`` weights turning routed mm per step into m3/s: ``A_s / (1000 dt)``
        in the column of the source's outlet."""
        m = np.zeros((self.n_sources, self.n_outlets))
        m[np.arange(self.n_sources), self.source_outlet] = self.source_area / (1000.0 * self.dt)
        return m

    def at_step(self, dt: float) -> "RoutingKernel":
        """The kernel at a coarser step ``dt`` (seconds, a whole multiple of this kernel's step): the
        unit hydrographs summed over blocks of ``dt / self.dt`` lags. The same kernel when equal."""
        if np.isclose(dt, self.dt):
            return self
        ratio = dt / self.dt
        if ratio < 1 or not np.isclose(ratio, round(ratio)):
            raise RoutingError(f"{self.origin}: unit-hydrograph step {self.dt:g} s does not fit the runoff step "
                               f"{dt:g} s; expected the runoff step to be a whole multiple of it")
        r = int(round(ratio))
        lags = -(-self.n_lags // r) * r
        uh = np.zeros((self.n_sources, lags))
        uh[:, :self.n_lags] = self.uh
        out = RoutingKernel(uh.reshape(self.n_sources, lags // r, r).sum(-1), self.source_cell, self.source_area,
                            self.source_outlet, self.outlet_lat, self.outlet_lon, self.outlet_name, dt=float(dt),
                            origin=self.origin, source_lat=self.source_lat, source_lon=self.source_lon,
                            info=dict(self.info))
        return out
