"""spatial_split on point sets (station networks without row/col)."""

import numpy as np
import pandas as pd
import pytest

from vic_paraformer import RegionError
from vic_paraformer.region import make_region

from _helpers import random_forcing


def point_region(n=200, seed=1, lat=None, lon=None):
    rng = np.random.default_rng(seed)
    lat = 35 + rng.uniform(-3, 3, n) if lat is None else np.asarray(lat, float)
    lon = -98 + rng.uniform(-4, 4, n) if lon is None else np.asarray(lon, float)
    n = len(lat)
    return make_region(lat=lat, lon=lon, time=pd.date_range("2015-04-01", periods=3),
                       forcing=random_forcing(rng, n, 3), attributes=rng.random((n, 2)), attribute_names=["a", "b"])


def _km(region):
    lat, lon = np.radians(region.ds["lat"].values), np.radians(region.ds["lon"].values)
    h = (np.sin((lat[:, None] - lat[None]) / 2) ** 2
         + np.cos(lat[:, None]) * np.cos(lat[None]) * np.sin((lon[:, None] - lon[None]) / 2) ** 2)
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


@pytest.mark.parametrize("k", [2, 4])
def test_200_random_points_give_disjoint_documented_sets(k):
    region = point_region()
    assert not region.has_grid
    split = region.spatial_split(k, seed=0)
    train, neigh = set(split.train.tolist()), set(split.neighbours.tolist())
    assert len(train) == round(200 / k ** 2)
    assert train.isdisjoint(neigh) and neigh
    assert list(split.train) == sorted(split.train) and list(split.neighbours) == sorted(split.neighbours)
    dist = _km(region)
    spacing = np.median((dist + np.diag(np.full(200, np.inf))).min(axis=1))
    to_train = dist[:, split.train].min(axis=1)
    # held-out points are near (within 1.5 network spacings) but not at a training point
    assert np.all(to_train[split.neighbours] <= 1.5 * spacing)
    assert np.all(to_train[split.neighbours] > 0.01 * spacing)
    others = np.setdiff1d(region.cells, np.concatenate([split.train, split.neighbours]))
    assert np.all(to_train[others] > 1.5 * spacing)
    # farthest-point sampling spreads the training points: no two closer than the typical spacing
    dt = dist[np.ix_(split.train, split.train)] + np.diag(np.full(len(train), np.inf))
    assert dt.min() > spacing


def test_point_split_is_seeded():
    region = point_region()
    a, b = region.spatial_split(4, seed=3), region.spatial_split(4, seed=3)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.neighbours, b.neighbours)
    assert not np.array_equal(a.train, region.spatial_split(4, seed=4).train)


def test_colocated_point_is_not_held_out():
    # a 5 x 5 lattice of stations plus one station placed at the first training station's location
    la, lo = np.meshgrid(35 + 0.5 * np.arange(5), -98 + 0.5 * np.arange(5), indexing="ij")
    region = point_region(lat=la.ravel(), lon=lo.ravel())
    first = region.spatial_split(2, seed=0)
    t = int(first.train[0])
    lat = np.append(la.ravel(), la.ravel()[t])
    lon = np.append(lo.ravel(), lo.ravel()[t])
    split = point_region(lat=lat, lon=lon).spatial_split(2, seed=0)
    pair = {t, 25}
    assert pair & set(split.train.tolist()), "the test needs one of the co-located pair to be trained"
    assert not pair & set(split.neighbours.tolist())


def test_point_split_errors():
    with pytest.raises(RegionError, match="k >= 1"):
        point_region().spatial_split(0)
    with pytest.raises(RegionError, match="at least 2 points"):
        point_region(lat=[35.0], lon=[-98.0]).spatial_split(2)
