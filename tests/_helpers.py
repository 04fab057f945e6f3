"""Small builders shared by the foundation tests (no simulator needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vic_paraformer.region import FORCING_VARS, make_region


def random_forcing(rng: np.random.Generator, n: int, days: int) -> dict[str, np.ndarray]:
    """Plausible random daily forcing ``(cell, time)`` for every Region forcing variable."""
    forcing = {
        "prec": rng.gamma(0.5, 4.0, (n, days)),
        "air_temp": 10 + 5 * rng.standard_normal((n, days)),
        "swdown": 150 + 50 * rng.random((n, days)),
        "lwdown": 300 + 20 * rng.random((n, days)),
        "pressure": 95 + rng.random((n, days)),
        "vp": 1 + 0.2 * rng.random((n, days)),
        "wind": 2 + rng.random((n, days)),
    }
    assert set(forcing) == set(FORCING_VARS)
    return forcing


def grid_region(ny: int = 4, nx: int = 4, days: int = 30, seed: int = 0, obs: bool = True, **overrides):
    """A valid Region on an ny x nx grid with random but plausible forcing."""
    rng = np.random.default_rng(seed)
    n = ny * nx
    row, col = np.divmod(np.arange(n), nx)
    forcing = random_forcing(rng, n, days)
    forcing.update({k: v for k, v in overrides.pop("forcing", {}).items()})
    obs_sm = None
    if obs:
        obs_sm = 0.2 + 0.1 * rng.random((n, days))
        obs_sm[:, ::2] = np.nan
    kwargs = dict(lat=45 + 0.125 * row, lon=-120 + 0.125 * col, time=pd.date_range("2015-04-01", periods=days),
                  forcing=forcing, attributes=rng.random((n, 3)), attribute_names=["sand", "clay", "elev"],
                  row=row, col=col, obs_sm=obs_sm)
    kwargs.update(overrides)
    return make_region(**kwargs)


def undertrained_twin():
    """(3 x 3 one-year twin with training cells 0, 4, 8, a surrogate of it trained one epoch on 16 runs):
    a surrogate that is deliberately far from the simulator, built in seconds."""
    import torch

    import vic_paraformer as vp
    from vic_paraformer.surrogate import train_surrogate

    torch.set_num_threads(1)
    region = vp.synthetic_region(ny=3, nx=3, years=1, seed=2).with_training_cells([0, 4, 8])
    sur = train_surrogate(region, "waterbalance", preset="test", seed=0, num_threads=1, progress=False, epochs=1,
                          n_samples=16)
    return region, sur
