import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vic_paraformer import Region, RegionError

from _helpers import grid_region


def test_roundtrip_save_open(tmp_path):
    region = grid_region().with_training_cells([0, 5])
    path = region.save(tmp_path / "r.nc")
    back = Region.open(path)
    xr.testing.assert_identical(back.ds, region.ds)
    np.testing.assert_array_equal(back.training_cells, [0, 5])
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_missing_variable():
    ds = grid_region().ds.drop_vars("wind")
    with pytest.raises(RegionError, match="missing variable 'wind'"):
        Region(ds)


def test_wrong_dims():
    ds = grid_region().ds
    ds["prec"] = ds["prec"].isel(time=0)
    with pytest.raises(RegionError, match="'prec' has dims"):
        Region(ds)


def test_non_daily_time_axis():
    ds = grid_region(days=5).ds
    ds = ds.assign_coords(time=pd.date_range("2015-01-01", periods=5, freq="3h"))
    with pytest.raises(RegionError, match="not daily"):
        Region(ds)


@pytest.mark.parametrize("coord,value,match", [("lat", 95.0, "lat of cell 0"), ("lon", -200.0, "lon of cell 0")])
def test_lat_lon_out_of_range(coord, value, match):
    ds = grid_region().ds
    vals = ds[coord].values.copy()
    vals[0] = value
    ds = ds.assign_coords({coord: ("cell", vals)})
    with pytest.raises(RegionError, match=match):
        Region(ds)


def test_all_nan_observations_in_training_cell():
    region = grid_region()
    ds = region.ds.copy()
    obs = ds["obs_sm"].values.copy()
    obs[3] = np.nan
    ds["obs_sm"] = (("cell", "time"), obs)
    ds["train_cell"] = ("cell", np.isin(ds["cell"].values, [1, 3]))
    with pytest.raises(RegionError, match=r"training cell 3 .*no valid obs_sm"):
        Region(ds)
    # without the flag, the empty cell is simply not a training cell
    assert 3 not in Region(ds.drop_vars("train_cell")).training_cells


def test_negative_precipitation():
    region = grid_region()
    prec = region.ds["prec"].values.copy()
    prec[2, 4] = -1.0
    ds = region.ds.assign(prec=(("cell", "time"), prec))
    with pytest.raises(RegionError, match=r"negative precipitation .*cell 2.*2015-04-05"):
        Region(ds)


def test_open_reports_file_name(tmp_path):
    bad = grid_region().ds.drop_vars("attributes")
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path)
    with pytest.raises(RegionError, match=r"bad.nc: missing variable 'attributes'"):
        Region.open(path)
    with pytest.raises(RegionError, match="not found"):
        Region.open(tmp_path / "nope.nc")


def test_sel_time_and_subset_keep_ids():
    region = grid_region(days=30).with_training_cells([1, 2])
    sub = region.subset([2, 7, 1])
    np.testing.assert_array_equal(sub.cells, [2, 7, 1])
    np.testing.assert_array_equal(sub.training_cells, [2, 1])
    part = region.sel_time("2015-04-05", "2015-04-14")
    assert part.n_days == 10
    np.testing.assert_array_equal(part.training_cells, [1, 2])
    with pytest.raises(RegionError, match="no days"):
        region.sel_time("2020-01-01", "2020-02-01")


def test_spatial_split_16x16_k8():
    region = grid_region(ny=16, nx=16, days=3, obs=False)
    split = region.spatial_split(8)
    assert len(split.train) == 4
    row, col = region.grid()
    rc = {(int(row[c]), int(col[c])) for c in split.train}
    assert rc == {(4, 4), (4, 12), (12, 4), (12, 12)}
    # each training cell has its 8 neighbours, none of them trained
    assert len(split.neighbours) == 32
    assert not set(split.neighbours) & set(split.train)
    for c in split.neighbours:
        assert min(max(abs(row[c] - r), abs(col[c] - cc)) for r, cc in rc) == 1




def test_parse_period_gives_one_type_from_every_spelling():
    import datetime as dt

    from vic_paraformer.region import Period, parse_period

    want = Period(pd.Timestamp("2016-01-01"), pd.Timestamp("2016-12-31"))
    for spelling in (["2016-01-01", "2016-12-31"], ("2016-01-01T06:00", "2016-12-31 23:59"),
                     slice("2016-01-01", "2016-12-31"), (dt.date(2016, 1, 1), np.datetime64("2016-12-31")), want):
        got = parse_period(spelling)
        assert type(got) is Period and got == want and isinstance(got.start, pd.Timestamp)
    assert str(want) == "2016-01-01..2016-12-31" and want.iso() == ["2016-01-01", "2016-12-31"]
    assert parse_period(None) is None
    with pytest.raises(RegionError, match="--test-period end 'x' is not a date"):
        parse_period(["2016-01-01", "x"], "--test-period")
    with pytest.raises(RegionError, match="starts 2016-02-01 after it ends 2016-01-01"):
        parse_period(["2016-02-01", "2016-01-01"])
    with pytest.raises(RegionError, match="must be two dates"):
        parse_period("2016-01-01")
