"""Routing kernels where no RVIC file exists: Lohmann et al. unit hydrographs from a flow-direction
grid, or a basin-average linear reservoir.

Lohmann et al. (1996, Tellus 48A 708-721; 1998, Hydrol. Sci. J. 43(1) 131-141), the scheme RVIC
builds its parameter files with: runoff leaves a cell through a within-cell unit hydrograph, then
travels down the channel network by the linearised Saint-Venant (advection-diffusion) equation, whose
impulse response at flow distance ``x`` (m) is

    h(x, t) = x / (2 t sqrt(pi t D)) * exp(-(C t - x)^2 / (4 D t))

with wave velocity ``C`` (m/s, ``velocity``, default 1.5) and diffusivity ``D`` (m2/s,
``diffusion``, default 800), RVIC's defaults. With the same ``C`` and ``D`` on every link the
responses of the links along a path compose into the response at the path's total length, so one
``h`` per source is exact. The within-cell response is a linear reservoir with residence time
``cell_k_days`` (default 1 day) unless ``cell_uh`` (at the kernel's step, like RVIC's UH box) is
given. Both are evaluated hourly, convolved, summed to the kernel's step, cut at ``max_days`` and
renormalised to sum to 1 (a warning says how much was cut when over 5 %).

Flow directions (one per Region cell): ``"vic"`` convention 1..8 = N, NE, E, SE, S, SW, W, NW
(RVIC/VIC routing), ``"arcgis"`` 64, 128, 1, 2, 4, 8, 16, 32 for the same; any other value (0, 9,
-1, 255) is a sink. A cell draining off the Region ends its path there. Every cell is a source of
every outlet on its downstream path (nested basins, as in RVIC).

The linear-reservoir fallback: every cell upstream of an outlet (all cells for one outlet without
flow directions) drains through one reservoir with residence time ``k_days`` (default 2 days):
the share released during step ``j`` of an impulse at the start of step 0 is
``exp(-j dt / k) - exp(-(j + 1) dt / k)``.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..errors import RoutingError
from .geometry import cell_areas, grid_spacing, haversine, match_cells
from .kernel import RoutingKernel

log = logging.getLogger(__name__)

#: (drow in latitude steps, dcol in longitude steps) per direction, VIC/RVIC numbering 1..8.
VIC_DIRECTIONS = {1: (1, 0), 2: (1, 1), 3: (0, 1), 4: (-1, 1), 5: (-1, 0), 6: (-1, -1), 7: (0, -1), 8: (1, -1)}
ARCGIS_TO_VIC = {64: 1, 128: 2, 1: 3, 2: 4, 4: 5, 8: 6, 16: 7, 32: 8}
FINE_DT = 3600.0


def _ds(region):
    return getattr(region, "ds", region)


def _outlets(outlets, ds, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(cell positions, lat, lon, names) of outlets given as (lat, lon) or (name, lat, lon)."""
    lat, lon, names = [], [], []
    for o in outlets:
        if len(o) == 3:
            n, a, b = o
        else:
            a, b = o
            n = f"outlet_{float(a):.4f}_{float(b):.4f}"
        names.append(str(n))
        lat.append(float(a))
        lon.append(float(b))
    if not names:
        raise RoutingError(f"{what}: no outlets given")
    cl, cn = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    sp = [s for s in (grid_spacing(cl), grid_spacing(cn)) if s is not None]
    cells, dist = match_cells(lat, lon, cl, cn, 0.5 * min(sp) if sp else 1e-3)
    bad = np.flatnonzero(cells < 0)
    if bad.size:
        i = int(bad[0])
        raise RoutingError(f"{what}: outlet {names[i]!r} at ({lat[i]:.4f}, {lon[i]:.4f}) is not a cell of the Region "
                           f"(nearest cell {dist[i]:.4f} deg away)")
    return cells, np.asarray(lat), np.asarray(lon), names


def downstream(region, flow_direction, convention: str = "vic") -> np.ndarray:
    """Position of each cell's downstream cell in the Region, -1 for sinks and cells draining off it."""
    ds = _ds(region)
    fdir = np.asarray(flow_direction).astype(int).ravel()
    lat, lon = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    if fdir.size != lat.size:
        raise RoutingError(f"flow directions: {fdir.size} values for {lat.size} Region cells")
    if convention == "arcgis":
        fdir = np.array([ARCGIS_TO_VIC.get(int(v), 0) for v in fdir])
    elif convention != "vic":
        raise RoutingError(f"flow directions: unknown convention {convention!r}; expected 'vic' or 'arcgis'")
    dlat, dlon = grid_spacing(lat), grid_spacing(lon)
    dlat = dlat or dlon or 1.0
    dlon = dlon or dlat
    tlat = np.full(lat.size, np.nan)
    tlon = np.full(lat.size, np.nan)
    for i, d in enumerate(fdir):
        if d in VIC_DIRECTIONS:
            dr, dc = VIC_DIRECTIONS[d]
            tlat[i], tlon[i] = lat[i] + dr * dlat, lon[i] + dc * dlon
    out = np.full(lat.size, -1)
    has = np.isfinite(tlat)
    if has.any():
        out[has], _ = match_cells(tlat[has], tlon[has], lat, lon, 0.25 * min(dlat, dlon))
    return out


def _paths(down: np.ndarray, lat: np.ndarray, lon: np.ndarray, outlet_cells: np.ndarray):
    """(cell, outlet index, flow distance m) for every cell and every outlet on its downstream path."""
    where = {int(c): i for i, c in enumerate(outlet_cells)}
    out = []
    for start in range(down.size):
        c, dist, seen = start, 0.0, set()
        while c >= 0:
            if c in seen:
                raise RoutingError(f"flow directions form a loop through the cell at ({lat[c]:.4f}, {lon[c]:.4f})")
            seen.add(c)
            if c in where:
                out.append((start, where[c], dist))
            nxt = int(down[c])
            if nxt >= 0:
                dist += float(haversine(lat[c], lon[c], lat[nxt], lon[nxt]))
            c = nxt
    return out


def channel_response(distance: float, velocity: float, diffusion: float, n: int, dt: float = FINE_DT) -> np.ndarray:
    """Linearised Saint-Venant impulse response at ``distance`` (m) on ``n`` steps of ``dt`` s (sums to
    at most 1; all of it in step 0 for distance 0)."""
    out = np.zeros(n)
    if distance <= 0:
        out[0] = 1.0
        return out
    t = (np.arange(n) + 0.5) * dt
    h = distance / (2.0 * t * np.sqrt(np.pi * t * diffusion)) * np.exp(-((velocity * t - distance) ** 2) / (4.0 * diffusion * t))
    return h * dt


def reservoir_response(k_seconds: float, n: int, dt: float) -> np.ndarray:
    """Share of an impulse a linear reservoir releases in each of ``n`` steps of ``dt`` seconds."""
    j = np.arange(n + 1) * dt / k_seconds
    return -np.diff(np.exp(-j))


def _finish(uh_fine: np.ndarray, dt: float, n_lags: int, what: str) -> np.ndarray:
    r = int(round(dt / FINE_DT))
    total = -(-uh_fine.size // r) * r
    padded = np.zeros(total)
    padded[:uh_fine.size] = uh_fine
    uh = padded.reshape(-1, r).sum(-1)[:n_lags]
    kept = uh.sum()
    if kept <= 0:
        raise RoutingError(f"{what}: no water reaches the outlet within the kernel length; lengthen max_days")
    if kept < 0.95:
        log.warning("%s: the kernel length keeps %.1f %% of the water; the rest is spread over it", what, 100 * kept)
    return uh / kept


def lohmann_kernel(region, outlets: Sequence, flow_direction=None, *, convention: str = "vic",
                   velocity: float = 1.5, diffusion: float = 800.0, cell_k_days: float = 1.0, cell_uh=None,
                   max_days: int = 30, dt: float = 86400.0, fraction=None, like: RoutingKernel | None = None,
                   sinuosity: float = 1.4) -> RoutingKernel:
    """A routing kernel by Lohmann et al.'s scheme (module docstring) for the Region's cells.

    ``outlets`` are ``(lat, lon)`` or ``(name, lat, lon)``; ``flow_direction`` one value per cell.
    ``fraction`` (per cell, default 1) scales each cell's area. With ``like`` (another kernel on the
    same Region) and no flow directions, the sources, outlets and areas are ``like``'s and the flow
    distance is the great-circle distance between source and outlet cells times ``sinuosity``."""
    ds = _ds(region)
    if velocity <= 0 or diffusion <= 0:
        raise RoutingError(f"Lohmann routing: velocity {velocity} m/s and diffusion {diffusion} m2/s must be > 0")
    if dt % FINE_DT:
        raise RoutingError(f"Lohmann routing: step {dt} s must be a whole number of hours")
    lat, lon = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    n_lags = int(round(max_days * 86400.0 / dt))
    n_fine = int(round(max_days * 86400.0 / FINE_DT))
    if cell_uh is not None:
        cu = np.asarray(cell_uh, float)
        if cu.ndim != 1 or (cu < 0).any() or abs(cu.sum() - 1) > 1e-3:
            raise RoutingError(f"Lohmann routing: the within-cell unit hydrograph must be non-negative and sum to 1, "
                               f"sums to {cu.sum():.6g}")
        cell_fine = np.repeat(cu, int(round(dt / FINE_DT))) / int(round(dt / FINE_DT))
    else:
        cell_fine = reservoir_response(cell_k_days * 86400.0, n_fine, FINE_DT)
    if like is not None and flow_direction is None:
        s_cell, s_out, s_area = like.source_cell, like.source_outlet, like.source_area
        o_lat, o_lon, names = like.outlet_lat, like.outlet_lon, like.outlet_name
        dist = haversine(lat[s_cell], lon[s_cell], o_lat[s_out], o_lon[s_out]) * sinuosity
        origin = f"Lohmann routing like {like.origin}"
    else:
        if flow_direction is None:
            raise RoutingError("Lohmann routing needs flow directions (one per Region cell) or a kernel to copy")
        o_cells, o_lat, o_lon, names = _outlets(outlets, ds, "Lohmann routing")
        triples = _paths(downstream(ds, flow_direction, convention), lat, lon, o_cells)
        s_cell = np.array([t[0] for t in triples], int)
        s_out = np.array([t[1] for t in triples], int)
        dist = np.array([t[2] for t in triples], float)
        frac = np.ones(lat.size) if fraction is None else np.asarray(fraction, float)
        s_area = cell_areas(ds)[s_cell] * frac[s_cell]
        origin = "Lohmann routing"
    cache: dict[float, np.ndarray] = {}
    uh = np.zeros((s_cell.size, n_lags))
    for i, x in enumerate(dist):
        key = round(float(x), 1)
        if key not in cache:
            fine = np.convolve(cell_fine, channel_response(key, velocity, diffusion, n_fine))[:n_fine]
            cache[key] = _finish(fine, dt, n_lags, f"Lohmann routing, {key / 1000:.1f} km")
        uh[i] = cache[key]
    kernel = RoutingKernel(uh, s_cell, s_area, s_out, o_lat, o_lon, names, dt=dt, origin=origin,
                           source_lat=lat[s_cell], source_lon=lon[s_cell],
                           info={"kind": "lohmann", "velocity": velocity, "diffusion": diffusion,
                                 "cell_k_days": cell_k_days, "distance": dist})
    if like is None or flow_direction is not None:  # outlets of a copied kernel keep their sources
        kernel.require_sources(range(kernel.n_outlets))
    return kernel


def linear_reservoir_kernel(region, outlets: Sequence | None = None, flow_direction=None, *, convention: str = "vic",
                            k_days: float = 2.0, max_days: int = 30, dt: float = 86400.0, fraction=None,
                            like: RoutingKernel | None = None) -> RoutingKernel:
    """The basin-average linear-reservoir kernel (module docstring). Without flow directions there
    must be one outlet (every cell drains to it), unless ``like`` gives sources, outlets and areas."""
    ds = _ds(region)
    if k_days <= 0:
        raise RoutingError(f"linear-reservoir routing: residence time {k_days} days must be > 0")
    n_lags = int(round(max_days * 86400.0 / dt))
    uh1 = reservoir_response(k_days * 86400.0, n_lags, dt)
    uh1 = uh1 / uh1.sum()
    lat, lon = np.asarray(ds["lat"].values, float), np.asarray(ds["lon"].values, float)
    if like is not None and flow_direction is None:
        s_cell, s_out, s_area = like.source_cell, like.source_outlet, like.source_area
        o_lat, o_lon, names = like.outlet_lat, like.outlet_lon, like.outlet_name
        origin = f"linear-reservoir routing like {like.origin}"
    else:
        if outlets is None:
            raise RoutingError("linear-reservoir routing: no outlets given")
        o_cells, o_lat, o_lon, names = _outlets(outlets, ds, "linear-reservoir routing")
        if flow_direction is None:
            if len(names) != 1:
                raise RoutingError(f"linear-reservoir routing: {len(names)} outlets need flow directions to tell their "
                                   f"basins apart; give flow directions or one outlet")
            s_cell, s_out = np.arange(lat.size), np.zeros(lat.size, int)
        else:
            triples = _paths(downstream(ds, flow_direction, convention), lat, lon, o_cells)
            s_cell = np.array([t[0] for t in triples], int)
            s_out = np.array([t[1] for t in triples], int)
        frac = np.ones(lat.size) if fraction is None else np.asarray(fraction, float)
        s_area = cell_areas(ds)[s_cell] * frac[s_cell]
        origin = "linear-reservoir routing"
    kernel = RoutingKernel(np.tile(uh1, (s_cell.size, 1)), s_cell, s_area, s_out, o_lat, o_lon, names, dt=dt,
                           origin=origin, source_lat=lat[s_cell], source_lon=lon[s_cell],
                           info={"kind": "linear-reservoir", "k_days": k_days})
    if like is None or flow_direction is not None:  # outlets of a copied kernel keep their sources
        kernel.require_sources(range(kernel.n_outlets))
    return kernel
