"""A tiny differentiable fake surrogate and a twin region for the DL-strategy tests.

The fake follows the surrogate contract of :mod:`vic_paraformer.surrogate` (``prepare``,
``check_region``, ``parameter_space``, ``warmup``, ``forward(x, a, theta_u) -> (B, L, 2)``) but is
cheap: soil moisture is a smooth function of the day's forcing, the attributes and the parameters,
so the tests can check learning without a trained LSTM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.region import FORCING_VARS, make_region

from _helpers import random_forcing

ATTRS = ["sand", "clay", "elev", "slope"]


class FakeSurrogate(nn.Module):
    """sm = 0.1 + 0.3 sigmoid(z_t (0.5 + u0) + 2 (u1 - 0.5) + (u2 - 0.5) a0 + (u3 - 0.5) z_t), z_t = tanh(x_t . w)."""

    def __init__(self, space: ParameterSpace | None = None, warmup: int = 5) -> None:
        super().__init__()
        self.parameter_space = space or ParameterSpace.preset("vic")
        self.forcing_names = list(FORCING_VARS)
        self.attribute_names = list(ATTRS)
        self.warmup = warmup
        g = torch.Generator().manual_seed(123)
        self.w = nn.Parameter(torch.randn(len(FORCING_VARS), generator=g), requires_grad=False)

    def check_region(self, region) -> None:
        from vic_paraformer.errors import SurrogateError

        if region.attribute_names != self.attribute_names:
            raise SurrogateError(f"fake surrogate expects attributes {self.attribute_names}")

    def prepare(self, region):
        f = region.forcing().astype(np.float64)
        f = (f - f.mean(axis=(0, 1))) / np.where(f.std(axis=(0, 1)) > 0, f.std(axis=(0, 1)), 1.0)
        a = region.attributes(self.attribute_names)
        return torch.as_tensor(f, dtype=torch.float32), torch.as_tensor(a, dtype=torch.float32)

    def forward(self, x, a, theta_u):
        z = torch.tanh(x @ self.w)
        u = theta_u.unsqueeze(1)
        s = z * (0.5 + u[..., 0]) + 2 * (u[..., 1] - 0.5) + (u[..., 2] - 0.5) * a[:, None, 0] + (u[..., 3] - 0.5) * z
        sm = 0.1 + 0.3 * torch.sigmoid(s)
        return torch.stack([sm, 2 * sm], dim=-1)


def true_u(attributes: np.ndarray) -> np.ndarray:
    """Normalised 'true' parameters as a smooth function of the attributes."""
    m = np.array([[1.5, -1.0, 0.5, 0.8, 0.0], [-1.0, 1.5, 0.3, -0.5, 0.0], [0.5, 0.5, -1.2, 0.3, 0.0],
                  [0.2, -0.4, 0.6, 1.0, 0.0]])
    return 1 / (1 + np.exp(-(attributes - 0.5) @ m * 2))


def twin_region(ny: int = 4, nx: int = 4, days: int = 150, seed: int = 0, obs_every: int = 2, untrained: int = 0):
    """A region whose obs_sm comes from the fake surrogate with parameters ``true_u(A)``.

    ``untrained`` cells (the last ones) get no observations.
    """
    rng = np.random.default_rng(seed)
    n = ny * nx
    row, col = np.divmod(np.arange(n), nx)
    forcing = random_forcing(rng, n, days)
    att = rng.random((n, len(ATTRS))).astype(np.float32)
    region = make_region(lat=45 + 0.125 * row, lon=-120 + 0.125 * col, time=pd.date_range("2015-04-01", periods=days),
                         forcing=forcing, attributes=att, attribute_names=ATTRS, row=row, col=col)
    sur = FakeSurrogate()
    x, a = sur.prepare(region)
    with torch.no_grad():
        sm = sur(x, a, torch.as_tensor(true_u(att), dtype=torch.float32))[..., 0].numpy().astype(float)
    sm = sm + 0.005 * rng.standard_normal(sm.shape)
    sm[:, 1::obs_every] = np.nan
    if untrained:
        sm[-untrained:] = np.nan
    ds = region.ds.assign(obs_sm=(("cell", "time"), sm))
    from vic_paraformer.region import Region

    return Region(ds)


def surrogate_rmse(sur, region, values: np.ndarray, cells=None) -> float:
    """RMSE of the fake surrogate's sm (parameters ``values`` (C, p) physical) against obs_sm, after warm-up."""
    x, a = sur.prepare(region)
    u = torch.as_tensor(sur.parameter_space.normalize(values), dtype=torch.float32)
    with torch.no_grad():
        sm = sur(x, a, u)[..., 0].numpy()
    obs = region.observations("obs_sm")
    idx = np.arange(region.n_cells) if cells is None else np.flatnonzero(np.isin(region.cells, cells))
    d = (sm - obs)[idx, sur.warmup:]
    return float(np.sqrt(np.nanmean(d ** 2)))
