"""Shared pytest fixtures. Engineers append their own fixtures below the existing ones."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run each test module with one torch thread: the test machine's 2 cores are shared, and
    oversubscribed torch threads were measured many times slower. The previous setting is restored."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def synthetic_small():
    """An 8 x 8-cell, 3-year synthetic twin region (seed 0) with obs_sm, obs_et and true_<param>."""
    from vic_paraformer.synthetic import synthetic_region

    return synthetic_region(ny=8, nx=8, years=3, seed=0)


@pytest.fixture(scope="session")
def synthetic_tiny():
    """A fast 4 x 4-cell, 2-year synthetic twin region (seed 0)."""
    from vic_paraformer.synthetic import synthetic_region

    return synthetic_region(ny=4, nx=4, years=2, seed=0)


@pytest.fixture(scope="session")
def small_surrogate(synthetic_small):
    """A frozen LSTM surrogate of ``waterbalance`` trained on ``synthetic_small`` (preset "test", seed 0).

    About 5-15 s on one CPU thread; held-out median NSE ~0.97 (sm and et, 5th percentile of sm ~0.5).
    Treat as read-only.
    """
    from vic_paraformer.surrogate import train_surrogate

    return train_surrogate(synthetic_small, "waterbalance", preset="test", seed=0, num_threads=1, progress=False)
