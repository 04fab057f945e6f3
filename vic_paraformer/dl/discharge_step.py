"""The discharge part of a DL training step: whole gauged basins routed through the frozen surrogate.

Each training step of an objective with ``q`` draws, besides the soil-moisture minibatch, one
*group* of gauges (:meth:`~vic_paraformer.dl.basins.GaugedBasins.groups`) and one window start
``t0``. Every source cell of the group's gauges (training cell or not: discharge observes them
all) gets its parameters from the network, the surrogate runs them over the *discharge window*
``[t0, t0 + window + n_lags - 1)``, their runoff + baseflow (mm/day) is routed with
:class:`~vic_paraformer.routing.torch_route.TorchRouter` to the gauges (m3/s), and the days from
``warmup + n_lags - 1`` on are scored against ``obs_q`` (held-out validation days hidden): the
surrogate's warm-up and then the kernel's length of routing warm-up, so that every scored day
holds routed water of scored-regime runoff only and the scored days are as many as a
soil-moisture window's (``window - warmup``). Series networks read the last ``window`` days of
the discharge window (their training length), with the observations of non-training cells hidden
and each training cell's hidden with probability ``z_dropout``, as in the soil-moisture step.

Memory stays bounded by ``q_cells`` (an option): a group holds at most ``q_cells`` source cells
where its gauges allow, and a gauge whose basin has more is routed in two passes: first every
chunk of ``q_cells`` cells without gradients, giving the discharge and, through the one objective,
its gradient ``dL/dq``; then each chunk again with gradients, back-propagating
``sum(dL/dq * q_chunk)`` (routing is linear, so the chunks' gradients add up to the whole basin's
exactly; the torch RNG is rewound so that dropout draws the same masks). Peak memory is that of
``q_cells`` cells over one discharge window, whatever the basin's size; the cost is one more
forward pass for such basins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import StrategyError
from .basins import GaugedBasins
from .inputs import N_SERIES_EXTRA

log = logging.getLogger(__name__)

@dataclass
class DischargeBatch:
    """One step's routed discharge ``q`` ``(gauges, days)`` on its scored days (a leaf with a gradient
    in two-pass mode), the observations ``obs_q`` on them, and :meth:`backward`, to call after the
    objective's ``backward()`` (it carries ``dL/dq`` into the network in two-pass mode)."""

    q: torch.Tensor
    obs_q: torch.Tensor
    cells: int
    days: int
    _backward: Callable[[], None] | None = None

    def backward(self) -> None:
        if self._backward is not None:
            self._backward()


class DischargeTraining:
    """Tensors and draws of the discharge step for one training run (module docstring).

    ``x_sur``/``a_sur`` are the surrogate's inputs of the basin cells (:attr:`GaugedBasins.rows`),
    ``a_net``/``s_net`` the network's (``s_net`` None for attribute networks), ``obs_q`` the
    observed discharge with the held-out days hidden, ``fit_days`` the days windows may cover.
    ``s_net`` hides the observations of the basin cells that are not training cells.
    """

    def __init__(self, basins: GaugedBasins, x_sur, a_sur, a_net, s_net, obs_q: np.ndarray, *, warmup: int,
                 window: int, fit_days: int, q_cells: int, z_dropout: float, name: str,
                 runoff_index: int, baseflow_index: int, device) -> None:
        self.basins, self.x_sur, self.a_sur, self.a_net, self.s_net = basins, x_sur, a_sur, a_net, s_net
        self.obs_q = torch.as_tensor(obs_q.astype(np.float32), device=device)
        self.warmup, self.window = int(warmup), int(window)
        self.q_cells, self.z_dropout = int(q_cells), float(z_dropout)
        self.r, self.b, self.device = int(runoff_index), int(baseflow_index), device
        lags = basins.n_lags
        self.length = min(self.window + lags - 1, int(fit_days))
        self.lo = self.warmup + lags - 1  # first scored day of a discharge window
        if self.length - self.lo < 2:
            raise StrategyError(
                f"strategy {name!r}: discharge windows need the surrogate's {warmup}-day warm-up, the routing "
                f"kernel's {lags - 1} days and at least 2 scored days; the fitting period has {fit_days} days "
                f"(give a longer period, or a shorter kernel)")
        self.fit_days = int(fit_days)
        self.groups = basins.groups(self.q_cells)
        usable = np.isfinite(obs_q[:, self.lo:fit_days]).any(axis=1)
        if not usable.any():
            raise StrategyError(f"strategy {name!r}: no gauge has discharge observations after the first "
                                f"{self.lo} days (surrogate warm-up + routing kernel) of the fitting period")
        self.groups = [g for g in self.groups if usable[g].any()]
        #: The observed discharge on the days a whole-period run scores (from day ``lo`` on; NaN before).
        self.obs_q_all = basins.obs_q.copy()
        self.obs_q_all[:, :self.lo] = np.nan

    def describe(self) -> dict:
        return {**self.basins.describe(), "window_days": int(self.length), "scored_from_day": int(self.lo),
                "q_cells": self.q_cells, "groups": [[self.basins.gauges[i] for i in g] for g in self.groups]}

    # ------------------------------------------------------------------ one step
    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """A group of gauges and a window start."""
        return self.groups[int(rng.integers(len(self.groups)))], int(rng.integers(0, self.fit_days - self.length + 1))

    def _series(self, idx: torch.Tensor, t0: int, hide: torch.Tensor | None) -> torch.Tensor | None:
        if self.s_net is None:
            return None
        s = self.s_net[idx, t0 + self.length - min(self.window, self.length):t0 + self.length]
        if hide is not None and hide.any():
            s = s.clone()
            s[hide, :, -N_SERIES_EXTRA:] = 0.0
        return s

    def _total(self, net, sur, idx: torch.Tensor, t0: int, hide) -> tuple[torch.Tensor, torch.Tensor]:
        """Network output ``u`` and runoff + baseflow ``(n, length)`` (mm/day) of basin cells ``idx``."""
        u = net(self.a_net[idx], self._series(idx, t0, hide))
        y = sur(self.x_sur[idx, t0:t0 + self.length], self.a_sur[idx], u.clamp(0.0, 1.0))
        return u, y[..., self.r] + y[..., self.b]

    def step(self, net, sur, rng: np.random.Generator) -> DischargeBatch:
        """Draw a group and a window and route it (module docstring)."""
        gauges, t0 = self.draw(rng)
        return self.batch(net, sur, gauges, t0, rng)

    def batch(self, net, sur, gauges, t0: int, rng: np.random.Generator | None = None) -> DischargeBatch:
        """The discharge of ``gauges`` (in ascending order) over the window starting at day ``t0`` (with gradients)."""
        gauges = np.unique(np.asarray(gauges, int))
        cells, router = self.basins.router(gauges, device=self.device)
        idx = torch.as_tensor(cells, device=self.device)
        hide = None
        if self.s_net is not None and rng is not None and self.z_dropout > 0:
            hide = torch.as_tensor(rng.random(len(cells)) < self.z_dropout, device=self.device)
        obs = self.obs_q[torch.as_tensor(np.asarray(gauges), device=self.device), t0 + self.lo:t0 + self.length]
        n = len(cells)
        if n <= self.q_cells:
            _, total = self._total(net, sur, idx, t0, hide)
            q = router(total.unsqueeze(0))[0][:, self.lo:]
            return DischargeBatch(q, obs, n, self.length)
        chunks = [torch.arange(i, min(i + self.q_cells, n), device=self.device) for i in range(0, n, self.q_cells)]
        cuda = self.device.type == "cuda" if hasattr(self.device, "type") else False
        state = (torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if cuda else None)
        with torch.no_grad():
            total = torch.zeros((1, n, self.length), device=self.device)
            for ch in chunks:
                total[0, ch] = self._total(net, sur, idx[ch], t0, None if hide is None else hide[ch])[1]
            q_leaf = router(total)[0][:, self.lo:].detach().requires_grad_(True)
        end_state = (torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if cuda else None)

        def backward() -> None:
            grad = q_leaf.grad
            if grad is None:
                return
            torch.set_rng_state(state[0])
            if cuda:
                torch.cuda.set_rng_state(state[1], self.device)
            grad = torch.nan_to_num(grad)
            for ch in chunks:
                part = torch.zeros((1, n, self.length), device=self.device)
                part = part.index_copy(1, ch, self._total(net, sur, idx[ch], t0, None if hide is None
                                                          else hide[ch])[1].unsqueeze(0))
                q_part = router(part)[0][:, self.lo:]
                (torch.nan_to_num(q_part) * grad).sum().backward()
            torch.set_rng_state(end_state[0])
            if cuda:
                torch.cuda.set_rng_state(end_state[1], self.device)

        return DischargeBatch(q_leaf, obs, n, self.length, backward)

    # ------------------------------------------------------------------ whole period
    def whole_period(self, net, sur, bs: int, param_windows: int) -> np.ndarray:
        """Discharge ``(gauges, days)`` (m3/s) over the whole period at the network's current parameters
        (evaluation mode, no gradients): the basin cells' surrogate runoff + baseflow routed with numpy
        (:meth:`GaugedBasins.route`, as evaluation routes a simulation); score it against :attr:`obs_q_all`."""
        from .cell_params import cell_u

        was = net.training
        net.eval()
        n_days = self.x_sur.shape[1]
        u = cell_u(net, self.a_net, self.s_net, n_days, self.window, param_windows, bs).clamp(0.0, 1.0)
        net.train(was)
        return self.basins.route(basin_runoff(sur, self.x_sur, self.a_sur, u, bs, self.r, self.b))


def basin_runoff(sur, x, a, u, bs: int, r: int, b: int) -> np.ndarray:
    """Runoff + baseflow ``(cells, days)`` (mm/day, float64) of the surrogate's whole-period prediction for
    normalised parameters ``u`` (no gradients), ``bs`` cells at a time."""
    out = []
    with torch.no_grad():
        for i in range(0, len(u), max(1, int(bs))):
            sl = slice(i, i + bs)
            y = sur.predict_tensor(x[sl], a[sl], u[sl]) if hasattr(sur, "predict_tensor") else sur(x[sl], a[sl], u[sl])
            out.append((y[..., r] + y[..., b]).cpu().numpy().astype(float))
    return np.concatenate(out) if out else np.zeros((0, x.shape[1]))
