"""Gauged basins of a Region: the cells that drain to each gauge, its observed discharge, and the
discharge routed from a model's runoff + baseflow (used by the DL trainer and by MPR).

A Region with gauges carries ``obs_q(gauge, time)`` (m3/s) and the outlet each gauge sits on
(``gauge_outlet``), and its routing kernel (:func:`vic_paraformer.routing.gauges.routing_of`).
:meth:`GaugedBasins.of` keeps the kernel's sources that drain to a gauged outlet, re-indexed to the
*basin cells* (:attr:`GaugedBasins.rows`, the sorted union of every gauge's source cells, as
positions in the Region), with one outlet per gauge; the kernel is brought to the daily step of
the Region's series.

Units: the model's runoff and baseflow are mm per day per cell; routing multiplies by each
source's contributing area (m2) and divides by ``1000 * 86400`` (m3/s), the convention of
:func:`vic_paraformer.routing.convolve.route_region`.

Groups for training (:meth:`GaugedBasins.groups`): the gauges are packed, largest basin first,
into groups whose union of source cells is at most ``max_cells`` cells (a gauge with more source
cells than that forms a group of its own); a DL training step routes one group over one window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import StrategyError
from ..routing.convolve import route
from ..routing.gauges import _label, discharge_problem  # noqa: F401  (discharge_problem: the strategies' check)
from ..routing.kernel import RoutingKernel

log = logging.getLogger(__name__)

#: The step (seconds) of the Region's series that routing works at.
DAY_SECONDS = 86400.0


@dataclass
class GaugedBasins:
    """The gauged basins of a Region (module docstring).

    Attributes
    ----------
    kernel:
        Daily kernel whose outlet ``g`` is gauge ``g`` and whose ``source_cell`` indexes :attr:`rows`.
    rows:
        ``(n_basin_cells,)`` positions in the Region of the cells draining to any gauge (sorted).
    gauges:
        Gauge ids.
    obs_q:
        ``(n_gauges, n_days)`` observed discharge (m3/s), NaN where missing.
    """

    kernel: RoutingKernel
    rows: np.ndarray
    gauges: list[str]
    obs_q: np.ndarray
    _routers: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, region, kernel: RoutingKernel | None = None, *, objective: str = "sm+q") -> "GaugedBasins":
        """The gauged basins of ``region`` with its routing kernel (``kernel``, default
        :func:`~vic_paraformer.routing.gauges.routing_of`). StrategyError (one line naming the region)
        when it has no gauges, discharge or routing."""
        problem = discharge_problem(region, objective)
        if problem is not None:
            raise StrategyError(problem)
        if kernel is None:
            from ..routing.gauges import routing_of

            kernel = routing_of(region)
        kernel = kernel.at_step(DAY_SECONDS)
        outlets = np.asarray(region.ds["gauge_outlet"].values, int)
        gauges = [str(g) for g in region.ds["gauge"].values]
        obs_q = np.asarray(region.ds["obs_q"].transpose("gauge", "time").values, float)
        if (outlets < 0).any() or (outlets >= kernel.n_outlets).any():
            g = int(np.flatnonzero((outlets < 0) | (outlets >= kernel.n_outlets))[0])
            raise StrategyError(f"{_label(region)}: gauge {gauges[g]!r} sits on outlet {outlets[g]}; the routing "
                                f"({kernel.origin}) has {kernel.n_outlets} outlets")
        src, dst = [], []
        for g, o in enumerate(outlets):
            s = kernel.sources_of(int(o))
            if not s.size:
                raise StrategyError(f"{_label(region)}: gauge {gauges[g]!r} sits on {kernel.outlet_label(int(o))}, "
                                    f"which no cell drains to in {kernel.origin}")
            src.append(s)
            dst.append(np.full(s.size, g))
        src_all, dst_all = np.concatenate(src), np.concatenate(dst)
        if kernel.source_cell.max() >= region.n_cells:
            raise StrategyError(f"{_label(region)}: the routing ({kernel.origin}) reaches cell position "
                                f"{kernel.source_cell.max()}; the region has {region.n_cells} cells")
        rows = np.unique(kernel.source_cell[src_all])
        local = np.searchsorted(rows, kernel.source_cell[src_all])
        sub = RoutingKernel(kernel.uh[src_all], local, kernel.source_area[src_all], dst_all,
                            kernel.outlet_lat[outlets], kernel.outlet_lon[outlets], gauges, dt=kernel.dt,
                            origin=kernel.origin,
                            source_lat=None if kernel.source_lat is None else kernel.source_lat[src_all],
                            source_lon=None if kernel.source_lon is None else kernel.source_lon[src_all],
                            info=dict(kernel.info))
        return cls(sub, rows, gauges, obs_q)

    @property
    def n_gauges(self) -> int:
        return len(self.gauges)

    @property
    def n_lags(self) -> int:
        """Kernel length in days: discharge on day ``t`` holds runoff of days ``t - n_lags + 1 .. t``."""
        return self.kernel.n_lags

    def cells_of(self, gauges) -> np.ndarray:
        """Positions in :attr:`rows` of the source cells of ``gauges`` (sorted union)."""
        sel = np.isin(self.kernel.source_outlet, np.asarray(gauges, int))
        return np.unique(self.kernel.source_cell[sel])

    def groups(self, max_cells: int) -> list[np.ndarray]:
        """Gauge indices packed into groups of at most ``max_cells`` source cells (module docstring)."""
        sizes = [self.cells_of([g]).size for g in range(self.n_gauges)]
        out: list[list[int]] = []
        for g in sorted(range(self.n_gauges), key=lambda i: -sizes[i]):
            for grp in out:
                if self.cells_of(grp + [g]).size <= max_cells:
                    grp.append(g)
                    break
            else:
                out.append([g])
        return [np.array(sorted(grp)) for grp in out]

    def route(self, total: np.ndarray) -> np.ndarray:
        """Discharge (m3/s) ``(..., n_gauges, T)`` from runoff + baseflow ``(..., n_basin_cells, T)`` in
        mm/day, with numpy (:func:`vic_paraformer.routing.convolve.route`; dry before the first day)."""
        return route(self.kernel, total)

    def router(self, gauges, device=None):
        """``(cells, router)`` for a group of gauges: positions in :attr:`rows` of their source cells
        and a :class:`~vic_paraformer.routing.torch_route.TorchRouter` mapping those cells' runoff +
        baseflow ``(B, n_cells, T)`` to the group's discharge ``(B, n_group, T)``."""
        key = tuple(sorted(int(g) for g in gauges))
        if (key, str(device)) not in self._routers:
            from ..routing.torch_route import TorchRouter

            k = self.kernel
            sel = np.flatnonzero(np.isin(k.source_outlet, key))
            cells = np.unique(k.source_cell[sel])
            out = np.searchsorted(np.asarray(key), k.source_outlet[sel])
            sub = RoutingKernel(k.uh[sel], np.searchsorted(cells, k.source_cell[sel]), k.source_area[sel], out,
                                k.outlet_lat[list(key)], k.outlet_lon[list(key)], [self.gauges[g] for g in key],
                                dt=k.dt, origin=k.origin)
            self._routers[key, str(device)] = (cells, TorchRouter(sub, device=device))
        return self._routers[key, str(device)]

    def describe(self) -> dict:
        """Facts for a result's info: gauges, basin cells, kernel length and origin."""
        return {"gauges": list(self.gauges), "basin_cells": int(self.rows.size), "kernel_days": int(self.n_lags),
                "routing": str(self.kernel.origin),
                "source_cells_per_gauge": [int(self.cells_of([g]).size) for g in range(self.n_gauges)]}
