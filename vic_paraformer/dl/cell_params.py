"""Per-cell network outputs: one ``u`` per cell, averaged over windows for the series networks.

A series network (ParaFormer-Z, LSTM-Z) gives one parameter set per *window* of a cell's series;
a cell's ``u`` is the mean over ``param_windows`` evenly spaced windows covering its period
(:func:`param_window_starts`). Attribute networks give one ``u`` per cell directly.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch


def param_window_starts(n_days: int, window: int, k: int) -> list[int]:
    """``k`` evenly spaced starts of ``window``-day windows covering ``n_days`` (fewer if short)."""
    if n_days <= window:
        return [0]
    return sorted(set(np.linspace(0, n_days - window, max(1, k)).round().astype(int).tolist()))


@contextlib.contextmanager
def sdpa_attention():
    """Run ``nn.MultiheadAttention`` through ``scaled_dot_product_attention`` in inference too.

    Without gradients PyTorch takes the "fast path" of its transformer modules, which on CPU
    materialises every attention matrix with batched matrix products; the fused SDPA kernel the
    training path uses was measured 1.5-2.3x faster for ParaFormer-Z windows (same outputs to float
    rounding). For the few attribute tokens of ParaFormer-A the fast path is the faster one, so
    only series networks use this. The previous setting is restored on exit.
    """
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):  # pragma: no cover - older torch
        yield
        return
    old = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(old)


def cell_u(net: torch.nn.Module, a_net: torch.Tensor, s_net: torch.Tensor | None, n_days: int, window: int,
           param_windows: int, bs: int) -> torch.Tensor:
    """Network output per cell ``(C, p)`` (unclamped, no gradients); with a series input, the
    mean over :func:`param_window_starts` windows.

    ``bs`` cells go through the network at once; for a series network all their windows go in the
    same forward pass (``bs x windows`` rows), with attention on the fused kernel
    (:func:`sdpa_attention`; attribute networks, whose few tokens the fast path handles better,
    keep it). There is no loop over cells.
    """
    out = []
    starts = param_window_starts(n_days, window, param_windows) if s_net is not None else [0]
    length = min(window, n_days)
    with torch.no_grad(), (sdpa_attention() if s_net is not None else contextlib.nullcontext()):
        for i in range(0, len(a_net), max(1, bs)):
            sl = slice(i, i + bs)
            if s_net is None:
                out.append(net(a_net[sl], None))
            else:
                a = a_net[sl]
                s = torch.cat([s_net[sl, t:t + length] for t in starts])  # (windows x cells, L, f)
                u = net(a.repeat(len(starts), 1), s)
                out.append(u.reshape(len(starts), len(a), -1).mean(0))
    return torch.cat(out) if out else torch.zeros((0, 0))
