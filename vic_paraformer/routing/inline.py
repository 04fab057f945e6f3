"""A routing kernel stored on the Region itself, so that a Region without an RVIC file (a synthetic
twin, a Region routed from a flow-direction grid) carries its routing in its own netCDF.

Storage (what :func:`with_kernel` adds; the names do not clash with the Region schema):

* dimensions ``routing_source``, ``routing_lag`` and ``outlet``;
* ``routing_uh(routing_source, routing_lag)`` the unit hydrographs (each sums to 1), with attribute
  ``dt_seconds`` (the length of one lag);
* ``routing_source_cell(routing_source)`` the source's **cell id** (the Region's ``cell``
  coordinate, not its position, so that the kernel survives reordering and reading back);
* ``routing_source_area(routing_source)`` the area (m2) of the source's cell draining to its outlet;
* ``routing_source_outlet(routing_source)`` the outlet index of the source;
* coordinates ``outlet_name(outlet)``, ``outlet_lat(outlet)``, ``outlet_lon(outlet)``;
* optionally ``flow_direction(cell)`` (VIC convention 1..8 = N..NW, 0 = sink) the kernel was built from;
* attribute ``routing_kind``: how the kernel was built (``"lohmann"``, ``"linear-reservoir"``).

:func:`kernel_of` reads it back as a :class:`~.kernel.RoutingKernel` on the Region's cell positions;
a source whose cell id is not a cell of the Region is an error naming it (e.g. after
:meth:`Region.subset` dropped the cells of a basin).
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import RoutingError
from .kernel import RoutingKernel

log = logging.getLogger(__name__)

#: The variables and coordinates of an inline kernel (dropped together when replaced).
INLINE_VARS = ("routing_uh", "routing_source_cell", "routing_source_area", "routing_source_outlet",
               "outlet_name", "outlet_lat", "outlet_lon")


def has_inline_kernel(region) -> bool:
    """Whether the Region carries a routing kernel of its own (``routing_uh``)."""
    return "routing_uh" in getattr(region, "ds", region).variables


def with_kernel(region, kernel: RoutingKernel, *, flow_direction=None):
    """A new Region carrying ``kernel`` (built on this Region's cell positions) inline (module
    docstring), replacing any kernel it carried; ``flow_direction`` (one per cell) is stored too."""
    from ..region import Region

    return Region(kernel_dataset(region.ds, kernel, flow_direction=flow_direction), source=region.source)


def kernel_dataset(ds, kernel: RoutingKernel, *, flow_direction=None):
    """``ds`` (a Dataset with a ``cell`` coordinate) with ``kernel`` stored inline, as :func:`with_kernel`."""
    ids = np.asarray(ds["cell"].values)
    if kernel.source_cell.size and kernel.source_cell.max() >= ids.size:
        raise RoutingError(f"{kernel.origin}: the kernel's sources reach cell position {int(kernel.source_cell.max())} "
                           f"but the Region has {ids.size} cells")
    ds = ds.drop_vars([v for v in INLINE_VARS + ("flow_direction",) if v in ds.variables])
    ds = ds.assign_coords(outlet_name=("outlet", np.array(kernel.outlet_name, dtype=str)),
                          outlet_lat=("outlet", kernel.outlet_lat.astype(float), {"units": "degrees_north"}),
                          outlet_lon=("outlet", kernel.outlet_lon.astype(float), {"units": "degrees_east"}))
    ds["routing_uh"] = (("routing_source", "routing_lag"), kernel.uh.astype(float),
                        {"long_name": "unit hydrograph from source cell to outlet (sums to 1)",
                         "dt_seconds": float(kernel.dt)})
    ds["routing_source_cell"] = ("routing_source", ids[kernel.source_cell], {"long_name": "cell id of the source"})
    ds["routing_source_area"] = ("routing_source", kernel.source_area.astype(float),
                                 {"units": "m2", "long_name": "area of the source cell draining to its outlet"})
    ds["routing_source_outlet"] = ("routing_source", kernel.source_outlet.astype(int),
                                   {"long_name": "outlet index of the source"})
    if flow_direction is not None:
        fd = np.asarray(flow_direction).astype(int).ravel()
        if fd.size != ids.size:
            raise RoutingError(f"flow directions: {fd.size} values for {ids.size} Region cells")
        ds["flow_direction"] = ("cell", fd, {"long_name": "D8 flow direction, VIC convention 1..8 = N, NE, E, SE, "
                                                          "S, SW, W, NW; 0 = sink"})
    ds.attrs["routing_kind"] = str(kernel.info.get("kind", "kernel"))
    ds.attrs.pop("routing_file", None)
    return ds


def kernel_of(region) -> RoutingKernel:
    """The inline kernel of a Region (module docstring) on its cell positions; RoutingError when the
    Region carries none or a source's cell is not in it."""
    ds = getattr(region, "ds", region)
    where = getattr(region, "source", None) or "Region"
    if not has_inline_kernel(region):
        raise RoutingError(f"{where}: no routing kernel stored on the Region (variable 'routing_uh')")
    missing = [v for v in INLINE_VARS if v not in ds.variables]
    if missing:
        raise RoutingError(f"{where}: the stored routing kernel lacks {', '.join(missing)}")
    ids = np.asarray(ds["cell"].values)
    pos = {int(c): i for i, c in enumerate(ids)}
    src_ids = np.asarray(ds["routing_source_cell"].values).astype(int)
    cells = np.array([pos.get(int(c), -1) for c in src_ids], int)
    if (cells < 0).any():
        s = int(np.flatnonzero(cells < 0)[0])
        raise RoutingError(f"{where}: routing source {s} drains cell id {src_ids[s]}, which is not a cell of the Region "
                           f"(a routed Region's basins must be kept whole)")
    lat, lon = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    dt = float(ds["routing_uh"].attrs.get("dt_seconds", 86400.0))
    return RoutingKernel(np.asarray(ds["routing_uh"].values, float), cells,
                         np.asarray(ds["routing_source_area"].values, float),
                         np.asarray(ds["routing_source_outlet"].values).astype(int),
                         np.asarray(ds["outlet_lat"].values, float), np.asarray(ds["outlet_lon"].values, float),
                         [str(n) for n in ds["outlet_name"].values], dt=dt, origin=f"{where} (stored routing kernel)",
                         source_lat=lat[cells], source_lon=lon[cells],
                         info={"kind": ds.attrs.get("routing_kind", "kernel"), "inline": True})
