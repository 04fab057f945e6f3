"""Satellite and CF grid readers: SMAP L3 radiometer soil moisture and CF netCDF grids, regridded by
area onto a Region's cells.

The SMAP files are built in the layout of the "SMAP L3 Radiometer Global Daily 36 km EASE-Grid Soil
Moisture" data-field documentation (NSIDC, https://nsidc.org/data/spl3smp) and the Level 3 Passive
Soil Moisture Product Specification Document (JPL D-72551): groups Soil_Moisture_Retrieval_Data_AM /
_PM, soil_moisture(_pm) in cm**3/cm**3 with fill -9999, retrieval_qual_flag(_pm) (bit 0: recommended
quality), tb_time_utc(_pm) strings, tb_time_seconds(_pm) (J2000 seconds), latitude/longitude and
EASE_row_index/EASE_column_index (fill 65534), cut to a small window of the 36 km EASE-Grid 2.0. The
grid's published extent (NSIDC EASE2_M36km.gpd: edges at +-180 and +-85.0445664 degrees) checks the
projection formulas. The CF files follow the CF conventions (https://cfconventions.org/). Every read
checks that its input is left as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vic_paraformer.errors import ObservationError
from vic_paraformer.readers import CellTarget, detect_format, read_observations
from vic_paraformer.readers.easegrid import EASE2_M09, EASE2_M36, authalic_q, ellipsoid_area_km2, forward, inverse
from vic_paraformer.readers.regrid import RectGrid, overlap_matrix, regrid, target_boxes
from vic_paraformer.registry import list_readers

DAYS = pd.date_range("2015-04-01", "2015-04-05", freq="D")
GRID = EASE2_M36
R0, C0 = GRID.index(35.0, -100.0)
R0, C0 = int(R0) - 3, int(C0) - 3
NR, NC = 7, 7


def _digest(path: Path) -> str:
    paths = sorted(path.parent.glob(path.name)) if not path.exists() else \
        (sorted(path.iterdir()) if path.is_dir() else [path])
    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def _read(path: Path, target, **kw):
    before = _digest(path)
    try:
        return read_observations(path, target, **kw)
    finally:
        assert _digest(path) == before, "the reader changed its input"


# --------------------------------------------------------------------------------------------------
# SMAP L3 files
def _am_field(day: int) -> np.ndarray:
    r, c = np.indices((NR, NC))
    return 0.10 + 0.01 * r + 0.002 * c + 0.01 * day


def _pm_field(day: int) -> np.ndarray:
    return _am_field(day) + 0.05


def _write_smap(path: Path, day: pd.Timestamp, *, am=None, pm=None, am_flag=None, pm_flag=None,
                strings: bool = True, grid=GRID, r0=R0, c0=C0, nr=NR, nc=NC) -> Path:
    """A cut SMAP L3 file of one day: AM retrievals at 12:30 UTC, PM at 00:40 UTC the next day."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.setncattr("short_name", "SPL3SMP")
        for pass_name, sfx, values, flag, t in (
                ("AM", "", am, am_flag, day + pd.Timedelta(hours=12, minutes=30)),
                ("PM", "_pm", pm, pm_flag, day + pd.Timedelta(days=1, minutes=40))):
            g = ds.createGroup(f"Soil_Moisture_Retrieval_Data_{pass_name}")
            g.createDimension("phony_dim_0", nr)
            g.createDimension("phony_dim_1", nc)
            dims = ("phony_dim_0", "phony_dim_1")
            vals = np.full((nr, nc), -9999.0, np.float32) if values is None else np.asarray(values, np.float32)
            has = vals != -9999.0
            rows, cols = np.indices((nr, nc))
            lat, lon = grid.centres(rows + r0, cols + c0)
            v = g.createVariable(f"soil_moisture{sfx}", "f4", dims, fill_value=-9999.0)
            v.units = "cm**3/cm**3"
            v.valid_min = np.float32(0.02)
            v.valid_max = np.float32(0.5)
            v.long_name = "Representative soil moisture measurement for the Earth based grid cell."
            v[:] = vals
            q = g.createVariable(f"retrieval_qual_flag{sfx}", "u2", dims, fill_value=65534)
            q[:] = np.where(has, 0 if flag is None else flag, 65534).astype(np.uint16)
            for name, arr in ((f"latitude{sfx}", lat), (f"longitude{sfx}", lon)):
                x = g.createVariable(name, "f4", dims, fill_value=-9999.0)
                x.units = "degrees_north" if name.startswith("lat") else "degrees_east"
                x[:] = np.where(has, arr, -9999.0)
            for name, arr in ((f"EASE_row_index{sfx}", rows + r0), (f"EASE_column_index{sfx}", cols + c0)):
                x = g.createVariable(name, "u2", dims, fill_value=65534)
                x[:] = np.where(has, arr, 65534).astype(np.uint16)
            secs = (t - pd.Timestamp("2000-01-01T11:58:55.816")).total_seconds()
            s = g.createVariable(f"tb_time_seconds{sfx}", "f8", dims, fill_value=-9999.0)
            s.units = "seconds"
            s[:] = np.where(has, secs, -9999.0)
            if strings:
                u = g.createVariable(f"tb_time_utc{sfx}", str, dims)
                text = t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                u[:] = np.array([[text if h else "N/A" for h in row] for row in has], dtype=object)
    return path


def _smap_name(day: pd.Timestamp) -> str:
    return f"SMAP_L3_SM_P_{day:%Y%m%d}_R18290_001.h5"


def _pixel_box(r: int, c: int, shrink: float = 0.3) -> tuple[float, float, float, float]:
    """A (lat, lon, dlat, dlon) cell well inside EASE pixel (R0 + r, C0 + c)."""
    (s, n), (w, e) = GRID.row_bounds([R0 + r])[0], GRID.col_bounds([C0 + c])[0]
    return (s + n) / 2, (w + e) / 2, (n - s) * shrink, (e - w) * shrink


def _pixel_target(pixels, days=DAYS, convention="utc", offset=None) -> CellTarget:
    boxes = [_pixel_box(r, c) for r, c in pixels]
    dlat = min(b[2] for b in boxes)
    dlon = min(b[3] for b in boxes)
    return CellTarget(ids=np.arange(len(boxes)) + 10, lat=np.array([b[0] for b in boxes]),
                      lon=np.array([b[1] for b in boxes]), days=days, resolution=(dlat, dlon),
                      convention=convention, utc_offset=offset)


@pytest.fixture()
def smap_dir(tmp_path):
    d = tmp_path / "smap"
    d.mkdir()
    flag0 = np.zeros((NR, NC), np.uint16)
    flag0[2, 2] = 1  # uncertain quality (bit 0 set) on day 0, AM
    for k in range(3):
        day = DAYS[k]
        am = _am_field(k)
        if k == 1:
            am[3, 3] = -9999.0  # no AM retrieval for this pixel on day 1
            am[4, 4] = 0.9  # outside valid_min..valid_max
        _write_smap(d / _smap_name(day), day, am=am, pm=_pm_field(k), am_flag=flag0 if k == 0 else None)
    return d


def test_ease_grid_formulas_match_the_published_grid():
    lat, lon = inverse(EASE2_M36.x0, EASE2_M36.y0)
    assert lat == pytest.approx(85.0445664, abs=1e-7) and lon == pytest.approx(-180.0, abs=1e-9)
    lat9, _ = inverse(0.0, EASE2_M09.y0)
    assert lat9 == pytest.approx(85.0445664, abs=1e-6)
    x, y = forward(np.array([-60.0, 0.0, 37.25]), np.array([-170.0, 0.0, 100.5]))
    back = inverse(x, y)
    np.testing.assert_allclose(back[0], [-60.0, 0.0, 37.25], atol=1e-7)
    np.testing.assert_allclose(back[1], [-170.0, 0.0, 100.5], atol=1e-9)
    # an EASE cell's area on the ellipsoid is the square of its size (equal-area projection)
    (s, n), (w, e) = EASE2_M36.row_bounds([120])[0], EASE2_M36.col_bounds([300])[0]
    assert ellipsoid_area_km2(s, n, w, e) == pytest.approx((EASE2_M36.cell_m / 1000) ** 2, rel=1e-8)


def test_smap_units_flags_passes_and_gaps(smap_dir):
    pixels = [(1, 1), (2, 2), (3, 3), (4, 4)]
    target = _pixel_target(pixels)
    am = _read(smap_dir, target, format="smap", extra={"pass": "AM"})
    v = am.values["obs_sm"]
    assert v.shape == (4, len(DAYS))
    # AM at 12:30 UTC lands on the file's day; day 0 of pixel (2, 2) is uncertain quality -> removed
    for i, (r, c) in enumerate(pixels):
        for k in range(3):
            expect = _am_field(k)[r, c]
            if (k == 0 and (r, c) == (2, 2)) or (k == 1 and (r, c) in ((3, 3), (4, 4))):
                assert np.isnan(v[i, k])
            else:
                assert v[i, k] == pytest.approx(expect, abs=1e-6)
    assert np.isnan(v[:, 3:]).all()
    qc = am.qc.set_index("cell")
    assert qc.loc[11, "n_flagged"] == 1 and qc.loc[13, "n_invalid"] == 1 and qc.loc[12, "n_flagged"] == 0
    assert am.support["obs_sm"]["depth_m"] == [0.0, 0.05] and am.support["obs_sm"]["grid_km"] == 36
    assert am.support["obs_sm"]["format"] == "smap"
    loose = _read(smap_dir, target, format="smap", extra={"pass": "AM"}, flags="all")
    assert loose.values["obs_sm"][1, 0] == pytest.approx(_am_field(0)[2, 2], abs=1e-6)
    assert np.isnan(loose.values["obs_sm"][3, 1])  # 0.9 is invalid whatever the flags


def test_smap_pm_pass_day_rule_utc_and_local(smap_dir):
    """The PM pass at 00:40 UTC belongs to the next UTC day, but to the same local day at UTC-7."""
    target = _pixel_target([(1, 1)])
    utc = _read(smap_dir, target, format="smap", extra={"pass": "PM"}).values["obs_sm"][0]
    assert np.isnan(utc[0])
    np.testing.assert_allclose(utc[1:4], [_pm_field(k)[1, 1] for k in range(3)], atol=1e-6)
    local = _pixel_target([(1, 1)], convention="local", offset=np.array([-7.0]))
    loc = _read(smap_dir, local, format="smap", extra={"pass": "PM"}).values["obs_sm"][0]
    np.testing.assert_allclose(loc[:3], [_pm_field(k)[1, 1] for k in range(3)], atol=1e-6)
    assert np.isnan(loc[3:]).all()
    both = _read(smap_dir, local, format="smap").values["obs_sm"][0]
    np.testing.assert_allclose(both[:3], [(_am_field(k)[1, 1] + _pm_field(k)[1, 1]) / 2 for k in range(3)],
                               atol=1e-6)


def test_smap_both_passes_keep_the_good_one(smap_dir):
    target = _pixel_target([(2, 2)], convention="local", offset=np.array([-7.0]))
    both = _read(smap_dir, target, format="smap", extra={"pass": "both"}).values["obs_sm"][0]
    assert both[0] == pytest.approx(_pm_field(0)[2, 2], abs=1e-6)  # AM flagged: PM alone
    with pytest.raises(ObservationError, match="pass='noon'.*expected AM, PM or both"):
        _read(smap_dir, target, format="smap", extra={"pass": "noon"})
    with pytest.raises(ObservationError, match="flags 'x'.*expected 'recommended', 'all' or bit numbers"):
        _read(smap_dir, target, format="smap", flags="x")


def test_smap_times_from_seconds_glob_and_auto(tmp_path):
    day = DAYS[0]
    p = _write_smap(tmp_path / _smap_name(day), day, am=_am_field(0), pm=_pm_field(0), strings=False)
    assert detect_format(p) == "smap" and "smap" in list_readers() and "cf" in list_readers()
    target = _pixel_target([(0, 0)])
    obs = _read(tmp_path / "SMAP_L3_SM_P_*.h5", target, format="auto", extra={"pass": "AM"})
    assert obs.values["obs_sm"][0, 0] == pytest.approx(_am_field(0)[0, 0], abs=1e-6)


def test_smap_regridding_conserves_area_means_and_reports_coverage(tmp_path):
    day = DAYS[0]
    rng = np.random.default_rng(3)
    field = 0.2 + 0.1 * rng.random((NR, NC))
    p = _write_smap(tmp_path / _smap_name(day), day, am=field, pm=None)
    # a 0.25-degree block well inside the window, not aligned with the EASE cells
    (s, _), (w, _) = GRID.row_bounds([R0 + NR - 2])[0], GRID.col_bounds([C0 + 1])[0]
    lat0, lon0 = s + 0.05, w + 0.07
    lats, lons = np.meshgrid(lat0 + 0.125 + 0.25 * np.arange(4), lon0 + 0.125 + 0.25 * np.arange(4), indexing="ij")
    target = CellTarget(ids=np.arange(16), lat=lats.ravel(), lon=lons.ravel(), days=DAYS, resolution=(0.25, 0.25))
    obs = _read(p, target, format="smap", extra={"pass": "AM"})
    v = obs.values["obs_sm"][:, 0]
    np.testing.assert_allclose(obs.coverage["obs_sm"], 1.0, atol=1e-12)
    # independent integral: sample each cell uniformly in equal-area coordinates (lon, q(lat))
    areas = ellipsoid_area_km2(lats.ravel() - 0.125, lats.ravel() + 0.125, lons.ravel() - 0.125, lons.ravel() + 0.125)
    n = 400
    expect = []
    for la, lo in zip(lats.ravel(), lons.ravel()):
        qs = np.linspace(authalic_q(la - 0.125), authalic_q(la + 0.125), n + 1)
        qs = (qs[1:] + qs[:-1]) / 2
        lat_s = np.interp(qs, authalic_q(np.linspace(la - 0.2, la + 0.2, 4001)), np.linspace(la - 0.2, la + 0.2, 4001))
        lon_s = lo - 0.125 + (np.arange(n) + 0.5) * 0.25 / n
        rr, cc = GRID.index(lat_s[:, None] + 0 * lon_s[None, :], lon_s[None, :] + 0 * lat_s[:, None])
        expect.append(field[rr - R0, cc - C0].mean())
    np.testing.assert_allclose(v, expect, atol=2e-3)
    # whole-block mass: sum(area * value) over the block equals the source integral
    assert np.sum(areas * v) == pytest.approx(np.sum(areas * np.array(expect)), rel=5e-4)


def test_smap_constant_field_and_half_covered_cell(tmp_path):
    day = DAYS[0]
    p = _write_smap(tmp_path / _smap_name(day), day, am=np.full((NR, NC), 0.25), pm=None)
    (s, n) = GRID.row_bounds([R0 + 3])[0]
    east = GRID.col_bounds([C0 + NC - 1])[0][1]  # the window's east edge
    west = GRID.col_bounds([C0])[0][0]
    lat = np.array([(s + n) / 2, (s + n) / 2, (s + n) / 2 + 0.3, (s + n) / 2])
    lon = np.array([east, west + 0.6, west + 1.2, east + 2.0])  # half covered, inside, inside, outside
    target = CellTarget(ids=np.arange(4), lat=lat, lon=lon, days=DAYS, resolution=(0.1, 0.2))
    obs = _read(p, target, format="smap", extra={"pass": "AM"})
    cov = obs.coverage["obs_sm"]
    np.testing.assert_allclose(cov, [0.5, 1.0, 1.0, 0.0], atol=1e-9)
    v = obs.values["obs_sm"][:, 0]
    assert np.isnan(v[0]) and np.isnan(v[3])  # 0.5 < min_coverage 0.75
    np.testing.assert_allclose(v[1:3], 0.25, atol=1e-7)
    assert obs.qc.set_index("cell").loc[0, "n_low_coverage"] == 1
    loose = _read(p, target, format="smap", extra={"pass": "AM"}, min_coverage=0.4)
    assert loose.values["obs_sm"][0, 0] == pytest.approx(0.25, abs=1e-7)


def test_smap_bad_inputs(tmp_path, smap_dir):
    target = _pixel_target([(1, 1)])
    far = CellTarget(ids=np.arange(1), lat=np.array([-20.0]), lon=np.array([30.0]), days=DAYS,
                     resolution=(0.25, 0.25))
    with pytest.raises(ObservationError, match=r"no SMAP retrieval grid of its 3 file\(s\) overlaps the region"):
        _read(smap_dir, far, format="smap")
    good = sorted(smap_dir.iterdir())[0]
    bad = tmp_path / "SMAP_L3_SM_P_20150401_R18290_002.h5"
    bad.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ObservationError, match=r"SMAP_L3_SM_P_20150401_R18290_002.h5: cannot read.*damaged"):
        _read(bad, target, format="smap")
    plain = tmp_path / "plain.h5"
    xr.Dataset({"x": (("y",), np.arange(3.0))}).to_netcdf(plain, engine="netcdf4")
    with pytest.raises(ObservationError, match="plain.h5: no group 'Soil_Moisture_Retrieval_Data_AM'"):
        _read(plain, target, format="smap")
    late = _pixel_target([(1, 1)], days=pd.date_range("2016-01-01", periods=3))
    with pytest.raises(ObservationError, match="no observation falls in the region's cells and days"):
        _read(smap_dir, late, format="smap")


# --------------------------------------------------------------------------------------------------
# CF grids
CF_DAYS = pd.date_range("2015-04-01", periods=3, freq="D")


def _cf_field(nt=3):
    lat = 30.125 + 0.25 * np.arange(8)
    lon = -110.875 + 0.25 * np.arange(8)
    t, y, x = np.indices((nt, 8, 8))
    return lat, lon, 0.15 + 0.01 * y + 0.003 * x + 0.02 * t + 0.001 * (x * y % 3)


def _write_cf(path: Path, *, two_d=False, lon360=False, units="m3 m-3", standard_name=
              "volume_fraction_of_condensed_water_in_soil", scale=1.0, name="sm", extra_vars=None) -> Path:
    lat, lon, f = _cf_field()
    lon_out = lon % 360 if lon360 else lon
    time = np.arange(3.0)
    attrs = {"units": units}
    if standard_name:
        attrs["standard_name"] = standard_name
    if two_d:
        la, lo = np.meshgrid(lat, lon_out, indexing="ij")
        ds = xr.Dataset({name: (("time", "y", "x"), f * scale, attrs)},
                        coords={"lat": (("y", "x"), la, {"standard_name": "latitude", "units": "degrees_north"}),
                                "lon": (("y", "x"), lo, {"standard_name": "longitude", "units": "degrees_east"}),
                                "time": ("time", time, {"units": "days since 2015-04-01", "calendar": "standard"})})
    else:
        ds = xr.Dataset({name: (("time", "lat", "lon"), f * scale, attrs),
                         "lat_bnds": (("lat", "nv"), np.stack([lat - 0.125, lat + 0.125], 1)),
                         "lon_bnds": (("lon", "nv"), np.stack([lon_out - 0.125, lon_out + 0.125], 1))},
                        coords={"lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north",
                                                     "bounds": "lat_bnds"}),
                                "lon": ("lon", lon_out, {"standard_name": "longitude", "units": "degrees_east",
                                                         "bounds": "lon_bnds"}),
                                "time": ("time", time, {"units": "days since 2015-04-01", "calendar": "standard"})})
    for k, v in (extra_vars or {}).items():
        ds[k] = v
    ds.attrs["Conventions"] = "CF-1.8"
    ds.to_netcdf(path, engine="netcdf4")
    return path


def _half_degree_target() -> CellTarget:
    lat, lon = np.meshgrid(30.25 + 0.5 * np.arange(4), -110.75 + 0.5 * np.arange(4), indexing="ij")
    return CellTarget(ids=np.arange(16), lat=lat.ravel(), lon=lon.ravel(), days=CF_DAYS, resolution=(0.5, 0.5))


def _expected_half_degree() -> np.ndarray:
    lat, lon, f = _cf_field()
    w = np.sin(np.radians(lat + 0.125)) - np.sin(np.radians(lat - 0.125))  # spherical band areas
    out = np.zeros((16, 3))
    for i in range(4):
        for j in range(4):
            block = f[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            ww = w[2 * i:2 * i + 2][:, None] * np.ones(2)[None, :]
            out[i * 4 + j] = (block * ww).sum(axis=(1, 2)) / ww.sum()
    return out


def test_cf_quarter_degree_to_half_degree_conserves_means(tmp_path):
    p = _write_cf(tmp_path / "sm.nc")
    assert detect_format(p) == "cf"
    target = _half_degree_target()
    obs = _read(p, target, format="auto")
    v = obs.values["obs_sm"]
    np.testing.assert_allclose(v, _expected_half_degree(), rtol=1e-5)
    np.testing.assert_allclose(obs.coverage["obs_sm"], 1.0, atol=1e-12)
    # area-weighted mean over the fully covered block equals the source's
    lat, lon, f = _cf_field()
    src_area = ellipsoid_area_km2(lat - 0.125, lat + 0.125, 0.0, 0.25)[:, None] * np.ones(8)[None, :]
    cell_area = ellipsoid_area_km2(target.lat - 0.25, target.lat + 0.25, 0.0, 0.5)
    for k in range(3):
        assert np.sum(cell_area * v[:, k]) / cell_area.sum() == pytest.approx(
            np.sum(src_area * f[k]) / src_area.sum(), rel=1e-12)
    assert obs.support["obs_sm"]["grid_deg"] == [0.25, 0.25] and obs.support["obs_sm"]["format"] == "cf"


def test_cf_two_d_coordinates_and_0_360_longitudes(tmp_path):
    target = _half_degree_target()
    two = _read(_write_cf(tmp_path / "two.nc", two_d=True), target, format="cf").values["obs_sm"]
    np.testing.assert_allclose(two, _expected_half_degree(), rtol=1e-5)
    wrap = _read(_write_cf(tmp_path / "wrap.nc", lon360=True), target, format="cf").values["obs_sm"]
    np.testing.assert_allclose(wrap, _expected_half_degree(), rtol=1e-5)


def test_cf_units_percent_and_et(tmp_path):
    target = _half_degree_target()
    pct = _read(_write_cf(tmp_path / "pct.nc", units="%", scale=100.0), target, format="cf").values["obs_sm"]
    np.testing.assert_allclose(pct, _expected_half_degree(), rtol=1e-5)
    et = _read(_write_cf(tmp_path / "et.nc", units="kg m-2 s-1", standard_name="water_evapotranspiration_flux",
                         scale=1e-4, name="et"), target, format="cf")
    assert "obs_sm" not in et.values
    np.testing.assert_allclose(et.values["obs_et"], _expected_half_degree() * 1e-4 * 86400, rtol=1e-5)
    with pytest.raises(ObservationError, match="'mc' is soil moisture content in kg m-2 and its layer thickness "
                                               "is unknown"):
        _read(_write_cf(tmp_path / "mc.nc", units="kg m-2", standard_name="soil_moisture_content", name="mc"),
              target, format="cf")
    mc = _read(tmp_path / "mc.nc", target, format="cf", extra={"layer_thickness_m": 0.05})
    np.testing.assert_allclose(mc.values["obs_sm"], _expected_half_degree() / 50.0, rtol=1e-5)


def test_cf_bad_inputs(tmp_path):
    target = _half_degree_target()
    none = _write_cf(tmp_path / "none.nc", standard_name="air_temperature", units="K", name="tas")
    with pytest.raises(ObservationError, match=r"none.nc: no soil moisture or evapotranspiration variable.*'tas'\]"):
        _read(none, target, format="cf")
    lat, lon, f = _cf_field()
    two = _write_cf(tmp_path / "two.nc", extra_vars={"sm2": (("time", "lat", "lon"), f,
                                                             {"standard_name": "volume_fraction_of_condensed_water_in_soil",
                                                              "units": "m3 m-3"})})
    with pytest.raises(ObservationError, match=r"two.nc: several obs_sm candidates \['sm', 'sm2'\]; name one with "
                                               r"the option variable=NAME"):
        _read(two, target, format="cf")
    picked = _read(two, target, format="cf", extra={"variable": "sm2"})
    np.testing.assert_allclose(picked.values["obs_sm"], _expected_half_degree(), rtol=1e-5)
    with pytest.raises(ObservationError, match="option variable='nope': no such variable"):
        _read(two, target, format="cf", extra={"variable": "nope"})
    far = CellTarget(ids=np.arange(1), lat=np.array([-20.0]), lon=np.array([30.0]), days=CF_DAYS,
                     resolution=(0.5, 0.5))
    with pytest.raises(ObservationError, match=r"sm.nc: the grid \(lat 30.000..32.000, lon -111.000..-109.000\) "
                                               r"does not overlap the region's cells"):
        _read(_write_cf(tmp_path / "sm.nc"), far, format="cf")
    lat, lon, f = _cf_field()
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    curvy = tmp_path / "curvy.nc"
    xr.Dataset({"sm": (("time", "y", "x"), f, {"standard_name": "volume_fraction_of_condensed_water_in_soil",
                                               "units": "m3 m-3"})},
               coords={"lat": (("y", "x"), la + 0.1 * lo, {"standard_name": "latitude"}),
                       "lon": (("y", "x"), lo + 0.1 * la, {"standard_name": "longitude"}),
                       "time": ("time", np.arange(3.0), {"units": "days since 2015-04-01"})}).to_netcdf(curvy)
    with pytest.raises(ObservationError, match="curvy.nc: lat/lon describe a curvilinear grid"):
        _read(curvy, target, format="cf")
    damaged = tmp_path / "damaged.nc"
    damaged.write_bytes((tmp_path / "sm.nc").read_bytes()[:2000])
    with pytest.raises(ObservationError, match="damaged.nc: cannot read as netCDF.*damaged or truncated"):
        _read(damaged, target, format="cf")


def test_regrid_weights_constant_field_and_point_cells():
    grid = RectGrid(np.stack([np.arange(10.0, 12.0, 0.25), np.arange(10.25, 12.25, 0.25)], 1),
                    np.stack([np.arange(0.0, 2.0, 0.25), np.arange(0.25, 2.25, 0.25)], 1))
    target = CellTarget(ids=np.arange(3), lat=np.array([11.0, 12.0, 10.6]), lon=np.array([1.0, 1.0, 0.3]),
                        days=CF_DAYS, resolution=(0.5, 0.5))
    w = overlap_matrix(grid, target_boxes(target))
    mean, cov = regrid(w, np.full(grid.size, 7.0), np.ones(grid.size, bool))
    np.testing.assert_allclose(mean, 7.0)
    # the second cell sticks out of the grid by half its height: the southern half's share of its area
    south = (authalic_q(12.0) - authalic_q(11.75)) / (authalic_q(12.25) - authalic_q(11.75))
    assert 0.5 < south < 0.501
    np.testing.assert_allclose(cov, [1.0, south, 1.0], atol=1e-12)
    points = CellTarget(ids=np.arange(1), lat=np.array([10.3]), lon=np.array([0.6]), days=CF_DAYS)
    values = np.arange(grid.size, dtype=float)
    mean, cov = regrid(overlap_matrix(grid, target_boxes(points)), values, np.ones(grid.size, bool))
    assert mean[0] == 1 * 8 + 2 and cov[0] == pytest.approx(1.0)
