"""Gauges on a Region: discharge observations matched to a routing kernel's outlets.

A gauge matches the outlet whose name is its id (``USGS-`` prefixes and case ignored, and an
outlet name ending in ``_<id>`` counts), else the nearest outlet within ``tolerance_deg`` of the
gauge's coordinates. The matched outlet must have sources.

Storage on the Region (what :func:`attach_discharge` adds):

* dimension ``gauge``; coordinates ``gauge(gauge)`` (ids), ``gauge_outlet(gauge)`` (outlet index in
  the routing file), ``gauge_outlet_name``, ``gauge_lat``, ``gauge_lon`` (the outlet's position);
* ``obs_q(gauge, time)`` observed discharge in m3/s on the Region's days (NaN where missing);
* attributes ``routing_file`` (the RVIC file, absolute path), ``routing_kind`` and
  ``discharge_file``; the routing kernel is read again from ``routing_file`` when needed.
  A kernel that does not come from a file (Lohmann or linear-reservoir, built from flow
  directions) is stored on the Region instead (:mod:`.inline`), so the Region is self-contained.

:func:`routing_of` gives the kernel of a Region: the one stored on it when there is one, else the
RVIC file named by ``routing_file``. :func:`discharge_problem` says, in one line, why a Region
cannot be calibrated on discharge (every strategy's check).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from ..errors import ObservationError, RoutingError
from .discharge import DischargeRecord
from .inline import INLINE_VARS, has_inline_kernel, kernel_of, with_kernel
from .kernel import RoutingKernel

log = logging.getLogger(__name__)


def _norm(name: str) -> str:
    n = str(name).strip().lower()
    return n[5:] if n.startswith("usgs-") else n


def match_gauges(record: DischargeRecord, kernel: RoutingKernel, *, tolerance_deg: float = 0.1) -> np.ndarray:
    """Outlet index of each gauge of ``record`` (module docstring); ObservationError naming the file
    and gauge when one matches no outlet, RoutingError when its outlet has no sources."""
    names = [_norm(n) for n in kernel.outlet_name]
    out = np.full(len(record.gauge), -1)
    for g, gid in enumerate(record.gauge):
        key = _norm(gid)
        hits = [o for o, n in enumerate(names) if n == key or n.endswith("_" + key)]
        if hits:
            out[g] = hits[0]
            continue
        if not (np.isfinite(record.lat[g]) and np.isfinite(record.lon[g])):
            raise ObservationError(f"{record.source}: gauge {gid!r} matches no outlet name of {kernel.origin} and has no "
                                   f"coordinates (add lat, lon columns, or name the outlet after the gauge)")
        d = np.hypot(kernel.outlet_lat - record.lat[g], (kernel.outlet_lon - record.lon[g] + 180) % 360 - 180)
        best = int(np.argmin(d))
        if d[best] > tolerance_deg:
            raise ObservationError(f"{record.source}: gauge {gid!r} at ({record.lat[g]:.4f}, {record.lon[g]:.4f}) is "
                                   f"{d[best]:.3f} deg from the nearest outlet {kernel.outlet_name[best]!r}; expected "
                                   f"within {tolerance_deg:g} deg")
        out[g] = best
    kernel.require_sources(out)
    return out


def attach_discharge(region, record: DischargeRecord, kernel: RoutingKernel, *, tolerance_deg: float = 0.1):
    """A new Region with the gauges of ``record`` on ``kernel``'s outlets (module docstring)."""
    from ..region import Region

    outlets = match_gauges(record, kernel, tolerance_deg=tolerance_deg)
    ds = region.ds.copy()
    days = region.times
    q = xr.DataArray(record.q, dims=("gauge", "time"), coords={"time": record.time}).reindex(time=days)
    values = q.values
    empty = [record.gauge[g] for g in range(values.shape[0]) if not np.isfinite(values[g]).any()]
    if len(empty) == values.shape[0]:
        raise ObservationError(f"{record.source}: no discharge on the Region's days {days[0].date()}..{days[-1].date()} "
                               f"(the file covers {record.time[0].date()}..{record.time[-1].date()})")
    if empty:
        log.warning("%s: gauge(s) %s have no discharge on the Region's days", record.source, ", ".join(empty))
    ds = ds.assign_coords(gauge=("gauge", np.array(record.gauge, dtype=str)),
                          gauge_outlet=("gauge", outlets.astype(int)),
                          gauge_outlet_name=("gauge", np.array([kernel.outlet_name[o] for o in outlets], dtype=str)),
                          gauge_lat=("gauge", kernel.outlet_lat[outlets]), gauge_lon=("gauge", kernel.outlet_lon[outlets]))
    ds["obs_q"] = (("gauge", "time"), values.astype(np.float64), {"units": "m3 s-1",
                                                                   "long_name": "observed daily mean discharge"})
    ds.attrs["discharge_file"] = record.source
    if "file" not in kernel.info:  # built, not read: the Region carries it
        return with_kernel(Region(ds, source=region.source), kernel)
    ds = ds.drop_vars([v for v in INLINE_VARS if v in ds.variables])
    ds.attrs.update({"routing_file": kernel.info["file"], "routing_kind": kernel.info.get("kind", "rvic")})
    return Region(ds, source=region.source)


def routing_of(region) -> RoutingKernel:
    """The routing kernel of a Region: the one stored on it (:mod:`.inline`), else the RVIC file
    named by its ``routing_file`` attribute; RoutingError when it has neither."""
    from .rvic import read_rvic

    if has_inline_kernel(region):
        return kernel_of(region)
    path = region.ds.attrs.get("routing_file")
    if not path:
        raise RoutingError(f"{region.source or 'Region'}: no routing kernel stored and no routing file recorded "
                           f"(import with --rvic, or build the twin with gauges)")
    return read_rvic(path, region)


def _label(region) -> str:
    return f"region {region.source!r}" if getattr(region, "source", None) else "the region"


def discharge_problem(region, objective: str) -> str | None:
    """Why ``region`` cannot be calibrated on discharge (objective ``objective``), or None when it can:
    it needs gauges with observed discharge (``obs_q``) and their outlets (``gauge_outlet``)."""
    if not region.has("obs_q") or "gauge" not in region.ds.dims:
        return (f"objective {objective!r} fits discharge at gauges, but {_label(region)} has no gauges (no 'obs_q' "
                "discharge observations on gauges); attach them with 'vic import --discharge PATH --rvic PATH' or use "
                "objective 'sm' or 'sm+et'")
    if "gauge_outlet" not in region.ds.variables:
        return (f"objective {objective!r}: the gauges of {_label(region)} have no outlet ('gauge_outlet'); attach "
                "the discharge with its routing ('vic import --discharge PATH --rvic PATH')")
    if not np.isfinite(np.asarray(region.ds["obs_q"].values, float)).any():
        return f"objective {objective!r}: {_label(region)} has no finite discharge observation ('obs_q' is all missing)"
    return None
