"""A surrogate of more parameters than a calibration varies: :class:`FixedParameterSurrogate`.

``--parameters auto`` (or any named subset) with a surrogate trained on a larger set: the strategy
varies its own parameters, and every other parameter the surrogate reads stays at the region's own
value (:func:`vic_paraformer.parameters.default_parameters`: the VIC parameter file's, else a typical
VIC value), per cell, exactly as a simulator runs a partial parameter set. So one surrogate serves
``all``, ``auto`` and any subset, and a comparison between them is made through the same model.

The fixed values travel with each cell as extra columns of the attributes that :meth:`prepare`
returns: every caller slices forcing and attributes by the same rows (cells, windows, chunks), so
the fixed values stay with their cell without any caller knowing about them. The wrapper passes
everything else through to the wrapped surrogate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..parameters import ParameterSpace, default_parameters
from ..region import Region


class FixedParameterSurrogate:
    """``surrogate`` with the parameters outside ``space`` held at each cell's own value.

    ``space`` names a subset of the surrogate's parameters (any order); its bounds are the
    surrogate's. Raises ``ValueError`` when a name is not among the surrogate's parameters.
    """

    def __init__(self, surrogate: Any, space: ParameterSpace) -> None:
        full: ParameterSpace = surrogate.parameter_space
        missing = [n for n in space.names if n not in full.names]
        if missing:
            raise ValueError(f"the surrogate does not cover {', '.join(missing)} (it covers {', '.join(full.names)})")
        self.base = surrogate
        self.full_space = full
        cols = [full.names.index(n) for n in space.names]
        self.parameter_space = ParameterSpace(tuple(space.names), tuple(full.lower[j] for j in cols),
                                              tuple(full.upper[j] for j in cols))
        self._cols = cols
        self.fixed_names = tuple(n for n in full.names if n not in space.names)
        self._fixed_cols = [full.names.index(n) for n in self.fixed_names]

    def __getattr__(self, name: str) -> Any:  # everything else is the wrapped surrogate's
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    # ------------------------------------------------------------------ the fixed values
    def _full_physical(self, region: Region, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, float)
        full = np.array(default_parameters(region, self.full_space)[0], float)
        full[:, self._cols] = values
        return full

    def _split(self, a: torch.Tensor, theta_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attributes without the fixed columns, and the full normalised parameters (differentiable in ``theta_u``)."""
        k = len(self._fixed_cols)
        attrs, fixed = (a[..., :-k], a[..., -k:]) if k else (a, a[..., :0])
        fixed = fixed.to(theta_u.dtype)
        columns: list[torch.Tensor] = []
        for j in range(self.full_space.n):
            if j in self._cols:
                columns.append(theta_u[..., self._cols.index(j)])
            else:
                columns.append(fixed[..., self._fixed_cols.index(j)])
        return attrs, torch.stack(columns, dim=-1)

    # ------------------------------------------------------------------ the surrogate's surface
    def prepare(self, region: Region) -> tuple[torch.Tensor, torch.Tensor]:
        """The wrapped surrogate's forcing and attributes, the fixed parameters (normalised) appended to the latter."""
        x, a = self.base.prepare(region)
        u = np.asarray(self.full_space.normalize(default_parameters(region, self.full_space)[0]), float)
        fixed = torch.as_tensor(u[:, self._fixed_cols], dtype=a.dtype, device=a.device)
        return x, torch.cat([a, fixed], dim=-1)

    def predict_tensor(self, x: torch.Tensor, a: torch.Tensor, theta_u: torch.Tensor) -> torch.Tensor:
        attrs, full = self._split(a, theta_u)
        return self.base.predict_tensor(x, attrs, full)

    def __call__(self, x: torch.Tensor, a: torch.Tensor, theta_u: torch.Tensor) -> torch.Tensor:
        attrs, full = self._split(a, theta_u)
        return self.base(x, attrs, full)

    def predict(self, region: Region, params, batch_size: int = 256, *, progress: bool = False):
        """The wrapped surrogate's :meth:`predict` with the calibrated ``params`` ``(cell, p)`` (physical units,
        this wrapper's order; or a Dataset with one variable per parameter) and the fixed ones at the region's own."""
        if hasattr(params, "data_vars"):
            params = np.stack([np.asarray(params[n].values, float) for n in self.parameter_space.names], axis=-1)
        return self.base.predict(region, self._full_physical(region, params), batch_size, progress=progress)

    def __repr__(self) -> str:
        return (f"<FixedParameterSurrogate varying {', '.join(self.parameter_space.names)}; "
                f"{', '.join(self.fixed_names)} at the region's own values>")


def for_space(surrogate: Any, space: ParameterSpace) -> Any:
    """``surrogate`` itself when it covers exactly ``space``'s parameters (in order), else wrapped in a
    :class:`FixedParameterSurrogate` for that subset (a worker process that loads the checkpoint by
    path rebuilds what the calibrating process resolved)."""
    if isinstance(surrogate, FixedParameterSurrogate) or list(surrogate.parameter_space.names) == list(space.names):
        return surrogate
    return FixedParameterSurrogate(surrogate, space)
