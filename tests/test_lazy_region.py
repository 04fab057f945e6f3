"""Regions opened lazily (dask chunks over cells) behave like regions read into memory."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from vic_paraformer import Region, RegionError
from vic_paraformer.region import cells_per_chunk
from vic_paraformer.registry import get_calibrator

from _dl_fakes import FakeSurrogate, twin_region


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    region = twin_region(ny=4, nx=4, days=150, untrained=2)
    return region, region.save(tmp_path_factory.mktemp("lazy") / "twin.nc")


def test_lazy_open_reads_by_chunks_with_identical_values(saved):
    region, path = saved
    lazy = Region.open(path, chunks=5)
    assert lazy.lazy and not Region.open(path).lazy and lazy.chunk_cells == 5
    assert lazy.ds["prec"].chunks[0] == (5, 5, 5, 1)
    np.testing.assert_array_equal(lazy.training_cells, region.training_cells)
    np.testing.assert_array_equal(lazy.forcing(), region.forcing())
    pieces = list(lazy.iter_chunks())
    assert [sl for sl, _ in pieces] == [slice(0, 5), slice(5, 10), slice(10, 15), slice(15, 16)]
    assert not any(p.lazy for _, p in pieces)
    np.testing.assert_array_equal(np.concatenate([p.observations() for _, p in pieces]), region.observations())


def test_lazy_validation_names_the_bad_cell(saved, tmp_path):
    region, _ = saved
    ds = region.ds.copy(deep=True)
    ds["prec"][12, 7] = -1.0  # in the third chunk
    bad = tmp_path / "bad.nc"
    ds.to_netcdf(bad)
    with pytest.raises(RegionError, match=r"bad.nc: negative precipitation.*cell 12"):
        Region.open(bad, chunks=5)


@pytest.mark.parametrize("strategy, options", [
    ("paraformer_a", dict(preset="small", window=50, epochs=4, batch_size=16, batches_per_epoch=2, progress=False)),
    # a series network: its parameters for every cell come from the region's chunks of cells
    ("paraformer_z", dict(preset="small", window=50, epochs=2, batch_size=8, batches_per_epoch=2, progress=False)),
    ("sceua", dict(simulator="waterbalance", repetitions=12, n_workers=1, warmup=20)),
])
def test_lazy_region_gives_the_same_calibration(saved, strategy, options):
    region, path = saved
    sur = {"surrogate": FakeSurrogate()} if strategy != "sceua" else {}
    if strategy == "sceua":  # the simulator in the loop is slow: three training cells
        path = region.with_training_cells(region.training_cells[:3]).save(path.with_name("three.nc"))
    eager = get_calibrator(strategy, seed=2, **sur, **options).calibrate(Region.open(path))
    lazy = get_calibrator(strategy, seed=2, **sur, **options).calibrate(Region.open(path, chunks=3))
    xr.testing.assert_identical(lazy.params, eager.params)
    assert lazy.n_evaluations == eager.n_evaluations


def test_cells_per_chunk_follows_the_budget():
    assert cells_per_chunk(1.0, 1000, bytes_per_cell_day=500) == 2000
    assert cells_per_chunk(1e-12, 1000) == 1  # a tiny budget still makes progress, one cell at a time
    with pytest.raises(RegionError, match="budget"):
        cells_per_chunk(0, 10)


@pytest.mark.parametrize("strategy", ["paraformer_a", "paraformer_z"])
def test_apply_in_chunks_of_a_lazy_region_matches_in_memory(saved, tmp_path, strategy):
    from vic_paraformer.dl.model_file import apply_model, load

    region, path = saved
    opts = dict(preset="small", window=50, epochs=2, batch_size=16, batches_per_epoch=2, progress=False)
    get_calibrator(strategy, seed=1, surrogate=FakeSurrogate(), model_out=tmp_path / "m.pt", **opts).calibrate(region)
    whole = apply_model(tmp_path / "m.pt", Region.open(path), num_threads=1)
    lazy = apply_model(tmp_path / "m.pt", Region.open(path, chunks=3), num_threads=1)
    np.testing.assert_allclose(lazy.params.to_array().values, whole.params.to_array().values, rtol=1e-6, atol=1e-9)
    one = load(tmp_path / "m.pt").parameters(region, chunk_cells=16, batch_size=16)
    np.testing.assert_allclose(load(tmp_path / "m.pt").parameters(region, chunk_cells=5, batch_size=2), one,
                               rtol=1e-6, atol=1e-9)


def _unreadable(block):
    raise AssertionError("read a variable an attribute network does not need")


@pytest.mark.parametrize("strategy", ["paraformer_a", "ffn_a"])
def test_apply_of_an_attribute_network_reads_only_the_attributes(saved, tmp_path, strategy):
    """An attribute network's parameters come from the attributes alone: the forcing and the
    observations of a lazily opened region are never read (the values match the in-memory apply)."""
    from vic_paraformer.dl.model_file import apply_model

    region, path = saved
    opts = dict(preset="small", window=50, epochs=2, batch_size=16, batches_per_epoch=2, progress=False)
    get_calibrator(strategy, seed=1, surrogate=FakeSurrogate(), model_out=tmp_path / "m.pt", **opts).calibrate(region)
    lazy = Region.open(path, chunks=3)
    for name in lazy.forcing_names + ["obs_sm"]:
        var = lazy.ds[name]
        lazy.ds[name] = var.copy(data=var.data.map_blocks(_unreadable, dtype=var.dtype))
    with pytest.raises(AssertionError, match="does not need"):
        lazy.forcing()  # the trap works
    applied = apply_model(tmp_path / "m.pt", lazy, num_threads=1)
    whole = apply_model(tmp_path / "m.pt", region, num_threads=1)
    np.testing.assert_allclose(applied.values(), whole.values(), rtol=1e-6, atol=1e-9)
