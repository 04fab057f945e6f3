"""The shared reading of the toolkit's own files (:mod:`vic_paraformer.formats`): truncation found from
each format's own header, format versions named both ways, and kinds told apart."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest
import torch
import xarray as xr

from vic_paraformer.errors import RegionError, StrategyError, SurrogateError
from vic_paraformer.formats import FORMAT_VERSIONS, check_version, load_torch, open_netcdf, truncation


def _netcdf(path, fmt: str, record: bool = False):
    with netCDF4.Dataset(path, "w", format=fmt) as nc:
        nc.createDimension("time", None if record else 50)
        nc.createDimension("x", 40)
        nc.setncattr("title", "a test file")
        a = nc.createVariable("a", "f8", ("time", "x"))
        a[:] = np.arange(2000.0).reshape(50, 40)
        b = nc.createVariable("b", "i2", ("x",))
        b[:] = np.arange(40)
        if record:
            c = nc.createVariable("c", "f4", ("time",))
            c[:] = np.arange(50.0)
    return path


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA", "NETCDF4"])
@pytest.mark.parametrize("record", [False, True])
def test_truncation_from_the_header(tmp_path, fmt, record):
    whole = _netcdf(tmp_path / "whole.nc", fmt, record)
    assert truncation(whole) is None
    data = whole.read_bytes()
    for keep in (len(data) - 8, len(data) // 2):
        cut = tmp_path / f"cut{keep}.nc"
        cut.write_bytes(data[:keep])
        found = truncation(cut)
        assert found is not None and found[0] == keep, (fmt, record, keep, found)
        assert found[1] is None or found[1] >= len(data) - 4
    # a classic file cut inside its header: the size it should have is unknown
    head = tmp_path / "head.nc"
    head.write_bytes(data[:20])
    assert truncation(head) is not None


def test_truncated_classic_file_is_not_read_as_zeros(tmp_path):
    """netCDF-C reads a truncated classic file without complaint (the missing data as zeros)."""
    whole = _netcdf(tmp_path / "whole.nc", "NETCDF3_64BIT_OFFSET")
    cut = tmp_path / "cut.nc"
    cut.write_bytes(whole.read_bytes()[:9000])
    with xr.open_dataset(cut) as ds:
        assert float(ds["b"].values.sum()) == 0.0  # what the reader gives: silently wrong
    with pytest.raises(RegionError, match=r"cut\.nc: the netCDF region is damaged or truncated \(9000 of its \d+ bytes"):
        open_netcdf(cut, "region", "netCDF region", RegionError)


def test_versions_named_both_ways(tmp_path):
    with pytest.raises(SurrogateError, match=r"x\.pt: the surrogate was written in format version 3 by vic_paraformer "
                                             r"9\.1; this vic_paraformer \S+ reads format version 1 \(update"):
        check_version(tmp_path / "x.pt", "surrogate", "the surrogate", 3, "9.1", SurrogateError)
    with pytest.raises(SurrogateError, match=r"format version 0; .* \(write it again with this vic_paraformer\)"):
        check_version(tmp_path / "x.pt", "surrogate", "the surrogate", 0, None, SurrogateError)
    with pytest.raises(SurrogateError, match="records no valid format version"):
        check_version(tmp_path / "x.pt", "surrogate", "the surrogate", None, None, SurrogateError)
    check_version(tmp_path / "x.pt", "surrogate", "the surrogate", FORMAT_VERSIONS["surrogate"], None, SurrogateError)


def test_torch_kinds_and_damage(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format": "vic_paraformer.dl_model", "version": 1, "w": torch.zeros(3)}, path)
    assert load_torch(path, "dl-model", "DL model file", StrategyError)["version"] == 1
    with pytest.raises(SurrogateError, match=r"m\.pt: is a DL strategy model file \(torch\), not a surrogate checkpoint"):
        load_torch(path, "surrogate", "surrogate checkpoint", SurrogateError)
    data = bytearray(path.read_bytes())
    data[data.find(b"vic_paraformer.dl_model") + 4] ^= 0xFF  # inside the pickle: the zip checksum finds it
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(StrategyError, match=r"damaged\.pt: the DL model file is damaged or truncated \(its part "
                                            r"data\.pkl fails its checksum"):
        load_torch(damaged, "dl-model", "DL model file", StrategyError)
