"""Per-cell network outputs: one ``u`` per cell, averaged over windows for the series networks.

A series network (ParaFormer-Z, LSTM-Z) gives one parameter set per *window* of a cell's series;
a cell's ``u`` is the mean over ``param_windows`` evenly spaced windows covering its period
(:func:`param_window_starts`). Attribute networks give one ``u`` per cell directly.
"""

from __future__ import annotations

import numpy as np
import torch


def param_window_starts(n_days: int, window: int, k: int) -> list[int]:
    """``k`` evenly spaced starts of ``window``-day windows covering ``n_days`` (fewer if short)."""
    if n_days <= window:
        return [0]
    return sorted(set(np.linspace(0, n_days - window, max(1, k)).round().astype(int).tolist()))


def cell_u(net: torch.nn.Module, a_net: torch.Tensor, s_net: torch.Tensor | None, n_days: int, window: int,
           param_windows: int, bs: int) -> torch.Tensor:
    """Network output per cell ``(C, p)`` (unclamped, no gradients); with a series input, the
    mean over :func:`param_window_starts` windows."""
    out = []
    starts = param_window_starts(n_days, window, param_windows) if s_net is not None else [0]
    length = min(window, n_days)
    with torch.no_grad():
        for i in range(0, len(a_net), max(1, bs)):
            sl = slice(i, i + bs)
            if s_net is None:
                out.append(net(a_net[sl], None))
            else:
                out.append(torch.stack([net(a_net[sl], s_net[sl, t:t + length]) for t in starts]).mean(0))
    return torch.cat(out) if out else torch.zeros((0, 0))
