"""The routing convolution in torch: differentiable and batched (torch is imported when called).

:class:`TorchRouter` holds a kernel's unit hydrographs and source-to-outlet weights as tensors; its
call maps runoff + baseflow ``(batch, n_cells, n_time)`` in mm per step to discharge
``(batch, n_outlets, n_time)`` in m3/s, equal to :func:`vic_paraformer.routing.convolve.route`.
Gradients flow to the runoff (and so to whatever predicted it, e.g. a surrogate driven by a
parameter network).
"""

from __future__ import annotations

import numpy as np

from .kernel import RoutingKernel


class TorchRouter:
    """Routing in torch for one kernel (built once, called for every batch).

    Parameters
    ----------
    kernel:
        The routing kernel (its step must be the runoff's step; see :meth:`RoutingKernel.at_step`).
    dtype, device:
        Torch dtype and device of the kernel tensors (float32 on CPU by default).
    """

    def __init__(self, kernel: RoutingKernel, *, dtype=None, device=None) -> None:
        import torch

        self.kernel = kernel
        dtype = dtype or torch.float32
        # conv1d is a cross-correlation: flip the unit hydrographs to convolve
        self.weight = torch.as_tensor(kernel.uh[:, ::-1].copy(), dtype=dtype, device=device).unsqueeze(1)
        self.matrix = torch.as_tensor(kernel.matrix(), dtype=dtype, device=device)
        self.cells = torch.as_tensor(kernel.source_cell, dtype=torch.long, device=device)
        self.empty = torch.as_tensor(kernel.outlets_without_sources(), dtype=torch.long, device=device)

    def __call__(self, runoff):
        """Discharge (m3/s) ``(batch, n_outlets, n_time)`` (or ``(n_outlets, n_time)`` for an
        unbatched ``(n_cells, n_time)``) from runoff + baseflow in mm per step."""
        import torch
        import torch.nn.functional as F

        squeeze = runoff.dim() == 2
        x = runoff.unsqueeze(0) if squeeze else runoff
        x = x.to(self.weight.dtype)
        src = x.index_select(1, self.cells)  # (B, S, T)
        lags = self.weight.shape[-1]
        routed = F.conv1d(F.pad(src, (lags - 1, 0)), self.weight, groups=self.weight.shape[0])  # (B, S, T)
        q = torch.einsum("bst,so->bot", routed, self.matrix)
        if self.empty.numel():
            q = q.index_fill(1, self.empty, float("nan"))
        return q[0] if squeeze else q


def route_torch(kernel: RoutingKernel, runoff, **kwargs):
    """One-off :class:`TorchRouter` call (build the router once when routing many batches)."""
    import torch

    t = runoff if isinstance(runoff, torch.Tensor) else torch.as_tensor(np.asarray(runoff))
    return TorchRouter(kernel, dtype=kwargs.pop("dtype", t.dtype if t.is_floating_point() else None), **kwargs)(t)
