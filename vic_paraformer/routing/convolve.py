"""Runoff + baseflow (mm per step per cell) to discharge (m3/s) at outlets, with numpy.

``Q_o(t) = sum_{s->o} A_s / (1000 dt) * sum_k uh[s, k] R_s(t - k)`` (see the package docstring):
steps before the first one are taken as dry (no initial channel storage), and water still in the
channels after the last step is not returned unless ``extend`` asks for the kernel's tail.
"""

from __future__ import annotations

import numpy as np

from ..errors import RoutingError
from .kernel import RoutingKernel


def _check_runoff(kernel: RoutingKernel, runoff: np.ndarray) -> None:
    if runoff.ndim < 2:
        raise RoutingError(f"{kernel.origin}: runoff must be (..., cells, time), got shape {runoff.shape}")
    n_cells = runoff.shape[-2]
    if kernel.source_cell.size and kernel.source_cell.max() >= n_cells:
        raise RoutingError(f"{kernel.origin}: the kernel's sources reach cell position {kernel.source_cell.max()} but "
                           f"the runoff has {n_cells} cells")


def route(kernel: RoutingKernel, runoff, *, extend: bool = False) -> np.ndarray:
    """Discharge (m3/s) at every outlet: ``(..., n_outlets, n_time)`` from runoff + baseflow
    ``(..., n_cells, n_time)`` in mm per step of ``kernel.dt`` seconds (leading dimensions are
    batches, e.g. parameter sets). ``extend`` adds ``n_lags - 1`` steps of dry runoff so that all
    the water reaches the outlets (volume in = volume out). Outlets without sources get NaN."""
    r = np.asarray(runoff, dtype=float)
    _check_runoff(kernel, r)
    if extend:
        pad = [(0, 0)] * (r.ndim - 1) + [(0, kernel.n_lags - 1)]
        r = np.pad(r, pad)
    n_t = r.shape[-1]
    src = r[..., kernel.source_cell, :]  # (..., S, T)
    n_fft = 1 << int(np.ceil(np.log2(max(n_t + kernel.n_lags - 1, 1))))
    routed = np.fft.irfft(np.fft.rfft(src, n_fft, axis=-1) * np.fft.rfft(kernel.uh, n_fft, axis=-1), n_fft,
                          axis=-1)[..., :n_t]
    q = np.einsum("...st,so->...ot", routed, kernel.matrix())
    q[..., kernel.outlets_without_sources(), :] = np.nan
    return q


def route_direct(kernel: RoutingKernel, runoff) -> np.ndarray:
    """The same as :func:`route` by VIC's convolution ring, step by step (slow; the reference that
    :func:`route` is tested against). ``runoff`` is ``(n_cells, n_time)``."""
    r = np.asarray(runoff, dtype=float)
    _check_runoff(kernel, r)
    ring = np.zeros((kernel.n_lags, kernel.n_outlets))
    out = np.zeros((kernel.n_outlets, r.shape[-1]))
    for t in range(r.shape[-1]):
        ring = np.roll(ring, -1, axis=0)
        ring[-1] = 0.0
        for s in range(kernel.n_sources):
            ring[:, kernel.source_outlet[s]] += kernel.uh[s] * r[kernel.source_cell[s], t] * kernel.source_area[s]
        out[:, t] = ring[0] / (1000.0 * kernel.dt)
    out[kernel.outlets_without_sources()] = np.nan
    return out


def route_region(kernel: RoutingKernel, runoff, baseflow=None, *, dt: float = 86400.0) -> np.ndarray:
    """Discharge (m3/s) from a simulation's runoff and baseflow (``(..., n_cells, n_time)``, mm per
    step of ``dt`` seconds; daily by default): the kernel is brought to ``dt`` first."""
    total = np.asarray(runoff, float) if baseflow is None else np.asarray(runoff, float) + np.asarray(baseflow, float)
    return route(kernel.at_step(dt), total)
