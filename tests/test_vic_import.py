"""Import of the shared VIC sample setups as Regions (no VIC needed)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vic_paraformer.errors import VICError
from vic_paraformer.region import FORCING_VARS, Region
from vic_paraformer.vic.globalfile import GlobalFileError
from vic_paraformer.vic.importer import region_from_vic

SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
pytestmark = pytest.mark.skipif(not (SAMPLE / "image").is_dir(), reason=f"VIC sample data not found at {SAMPLE}")
VARS = {"VIC_SAMPLE_DATA": str(SAMPLE)}
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
STEHEKIN = SAMPLE / "image/Stehekin/parameters/global_param.Stehekin.MOD_IGBP.txt"
WB_NAMES = ["soil_depth1", "soil_depth2", "soil_depth3", "porosity", "field_capacity", "wilting_point",
            "residual_moisture", "ksat", "veg_fraction", "root_fraction1", "root_fraction2", "root_fraction3"]


@pytest.fixture(scope="module")
def walnut_year() -> Region:
    return region_from_vic(WALNUT, variables=VARS, end="2008-12-31")


def _direct_daily(global_file: Path, prefix_var: dict, start, n_days, steps) -> dict:
    """Daily sums/means computed straight from the forcing file with netCDF4 (independent path)."""
    gf_text = global_file.read_text().replace("${VIC_SAMPLE_DATA}", str(SAMPLE))
    prefix = [ln.split()[1] for ln in gf_text.splitlines() if ln.startswith("FORCING1")][0]
    year = pd.Timestamp(start).year
    out = {}
    with netCDF4.Dataset(f"{prefix}{year}.nc") as nc:
        t = netCDF4.num2date(nc["time"][:], nc["time"].units, nc["time"].calendar)
        t0 = [i for i, x in enumerate(t) if (x.year, x.month, x.day, x.hour) == (year, pd.Timestamp(start).month,
                                                                              pd.Timestamp(start).day, 0)][0]
        mask = nc["mask"][:] if "mask" in nc.variables else None
        for name, var in prefix_var.items():
            a = np.asarray(nc[var][t0:t0 + n_days * steps], float)
            out[name] = a.reshape(n_days, steps, *a.shape[1:])
    return out, mask


def test_walnut_region_cells_and_forcing_totals(walnut_year):
    r = walnut_year
    assert r.n_cells == 15 and r.n_days == 366
    assert r.has_grid and sorted(zip(*r.grid())) == [(i, j) for i in range(3) for j in range(5)]
    assert list(r.cells) == [row * 5 + col for row, col in zip(*r.grid())]
    names = {"prec": "prec", "air_temp": "temp", "wind": "wind", "swdown": "shortwave"}
    direct, _ = _direct_daily(WALNUT, names, "2008-01-01", 366, 8)
    row, col = r.grid()
    prec = direct["prec"].sum(axis=1)[:, row, col].T
    np.testing.assert_allclose(r.ds["prec"].values, prec, rtol=1e-5, atol=1e-5)
    # the yearly totals per cell equal the sum of every 3-hourly value
    np.testing.assert_allclose(r.ds["prec"].values.sum(axis=1), direct["prec"].sum(axis=(0, 1))[row, col], rtol=1e-5)
    for name in ("air_temp", "wind", "swdown"):
        np.testing.assert_allclose(r.ds[name].values, direct[name].mean(axis=1)[:, row, col].T, rtol=1e-5, atol=1e-4)
    assert r.times[0] == pd.Timestamp("2008-01-01") and r.times[-1] == pd.Timestamp("2008-12-31")


def test_walnut_parameters_and_attributes(walnut_year):
    r = walnut_year
    with xr.open_dataset(SAMPLE / "image/WalnutGulch/parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc") as p:
        row, col = r.grid()
        for name in ("infilt", "Ds", "Dsmax", "Ws"):
            np.testing.assert_allclose(r.ds[name].values, p[name].values[row, col])
        np.testing.assert_allclose(r.ds["expt"].values, p["expt"].values[0, row, col])
        np.testing.assert_allclose(r.attribute("soil_depth1"), p["depth"].values[0, row, col], rtol=1e-6)
        np.testing.assert_allclose(r.attribute("ksat"), p["Ksat"].values[0, row, col], rtol=1e-6)
        por = 1 - p["bulk_density"].values[0, row, col] / p["soil_density"].values[0, row, col]
        np.testing.assert_allclose(r.attribute("porosity"), por, rtol=1e-6)
        np.testing.assert_allclose(r.attribute("veg_fraction") + r.attribute("bare_fraction"), 1.0, rtol=1e-6)
    for name in WB_NAMES:
        assert name in r.attribute_names, name
    roots = np.stack([r.attribute(f"root_fraction{k}") for k in (1, 2, 3)])
    np.testing.assert_allclose(roots.sum(axis=0)[r.attribute("veg_fraction") > 0], 1.0, rtol=1e-6)
    assert np.all(r.attribute("wilting_point") < r.attribute("field_capacity"))
    assert np.all(r.attribute("field_capacity") <= r.attribute("porosity"))
    assert np.isfinite(r.attributes()).all()
    assert Path(r.ds.attrs["vic_global_param_file"]) == WALNUT.resolve()


def test_stehekin_uses_mask_and_run_cell():
    r = region_from_vic(STEHEKIN, variables=VARS)
    with xr.open_dataset(SAMPLE / "image/Stehekin/parameters/params.Stehekin.MOD_IGBP.nc") as p:
        expected = int(((p["run_cell"].values == 1)).sum())
    assert expected == 64 and r.n_cells == 64 and r.n_days == 10
    direct, _ = _direct_daily(STEHEKIN, {"prec": "prcp", "pressure": "pres"}, "1949-01-01", 10, 24)
    row, col = r.grid()
    np.testing.assert_allclose(r.ds["prec"].values, direct["prec"].sum(axis=1)[:, row, col].T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r.ds["pressure"].values, direct["pressure"].mean(axis=1)[:, row, col].T, rtol=1e-5)
    assert set(FORCING_VARS) <= set(r.ds.data_vars)


def test_region_round_trip_keeps_setup(tmp_path, walnut_year):
    path = walnut_year.sel_time("2008-01-01", "2008-01-31").save(tmp_path / "region.nc")
    back = Region.open(path)
    assert back.ds.attrs["vic_global_param_file"] == walnut_year.ds.attrs["vic_global_param_file"]
    assert back.n_cells == 15 and back.n_days == 31


def _obs_frame(r: Region, days: int = 5) -> pd.DataFrame:
    rows = []
    for i, (la, lo) in enumerate(zip(r.ds["lat"].values, r.ds["lon"].values)):
        for d in range(days):
            rows.append({"time": str(r.times[d].date()), "lat": la + 0.01, "lon": lo - 0.01, "obs_sm": 0.1 + 0.01 * i,
                         "obs_et": float(d)})
    return pd.DataFrame(rows)


def test_observations_csv_and_netcdf(tmp_path):
    base = region_from_vic(WALNUT, variables=VARS)
    df = _obs_frame(base)
    df.to_csv(tmp_path / "obs.csv", index=False)
    r = region_from_vic(WALNUT, tmp_path / "obs.csv", variables=VARS)
    assert r.has("obs_sm") and r.has("obs_et")
    np.testing.assert_allclose(r.ds["obs_sm"].values[:, 0], 0.1 + 0.01 * np.arange(15), rtol=1e-6)
    assert np.isnan(r.ds["obs_sm"].values[:, 5:]).all()
    assert len(r.training_cells) == 15
    # gridded netCDF (time, lat, lon) with gaps
    row, col = base.grid()
    with xr.open_dataset(SAMPLE / "image/WalnutGulch/parameters/domain.WalnutGulch.0.0625_deg.nc") as dom:
        lat, lon = dom["lat"].values, dom["lon"].values
    grid = np.full((3, 3, 5), np.nan)
    grid[1, row, col] = 0.2 + 0.001 * base.cells
    ds = xr.Dataset({"obs_sm": (("time", "lat", "lon"), grid)},
                    coords={"time": base.times[:3], "lat": lat, "lon": lon})
    ds.to_netcdf(tmp_path / "obs.nc")
    r2 = region_from_vic(WALNUT, tmp_path / "obs.nc", variables=VARS)
    np.testing.assert_allclose(r2.ds["obs_sm"].values[:, 1], 0.2 + 0.001 * base.cells, rtol=1e-6)
    assert np.isnan(r2.ds["obs_sm"].values[:, 0]).all() and not r2.has("obs_et")


def test_observation_outside_domain(tmp_path, caplog):
    """A point outside the simulated cells is left out with a warning naming it; all outside: an error."""
    base = region_from_vic(WALNUT, variables=VARS)
    df = _obs_frame(base, days=1)
    df.loc[3, "lat"] = 45.0
    df.to_csv(tmp_path / "obs.csv", index=False)
    with caplog.at_level("WARNING"):
        r = region_from_vic(WALNUT, tmp_path / "obs.csv", variables=VARS)
    assert "1 of 15 site(s) match no cell" in caplog.text and "lat 45.0000" in caplog.text
    assert np.isfinite(r.ds["obs_sm"].values[:, 0]).sum() == 14
    df["lat"] = 45.0
    df.to_csv(tmp_path / "far.csv", index=False)
    with pytest.raises(VICError, match=r"far\.csv: none of its 5 site\(s\) matches a cell.*lies in no simulated cell"):
        region_from_vic(WALNUT, tmp_path / "far.csv", variables=VARS)
    pd.DataFrame({"time": ["2008-01-01"], "cell": [99], "obs_sm": [0.2]}).to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(VICError, match=r"ids\.csv: .*cell id 99 is not a cell of the region"):
        region_from_vic(WALNUT, tmp_path / "ids.csv", variables=VARS)


def _copy_setup(tmp_path: Path, drop: str | None = None, forcing_years: bool = True) -> Path:
    """WalnutGulch global file pointing at a parameter copy in tmp_path (optionally missing a variable)."""
    src = SAMPLE / "image/WalnutGulch/parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
    dst = tmp_path / "params.nc"
    if drop:
        with xr.open_dataset(src) as p:
            p.drop_vars(drop).to_netcdf(dst)
    else:
        shutil.copyfile(src, dst)
    text = WALNUT.read_text().replace("${VIC_SAMPLE_DATA}", str(SAMPLE))
    lines = [f"PARAMETERS {dst}" if ln.startswith("PARAMETERS") else ln for ln in text.splitlines()]
    g = tmp_path / "global.txt"
    g.write_text("\n".join(lines) + "\n")
    return g


def test_parameter_file_missing_variable(tmp_path):
    g = _copy_setup(tmp_path, drop="Ws")
    with pytest.raises(VICError, match=r"params\.nc: parameter file lacks variable 'Ws'"):
        region_from_vic(g)


def test_missing_forcing_year(tmp_path):
    g = _copy_setup(tmp_path)
    with pytest.raises(GlobalFileError, match=r"global\.txt:\d+: forcing file for year 2009 not found"):
        region_from_vic(g, end="2009-01-05")


def test_placeholder_without_value(monkeypatch):
    monkeypatch.delenv("VIC_SAMPLE_DATA", raising=False)
    with pytest.raises(GlobalFileError, match=r"global_param\.WalnutGulch\.MOD_IGBP\.txt:\d+: placeholder \$\{VIC_SAMPLE_DATA\}"):
        region_from_vic(WALNUT)


def test_forcing_in_wrong_units_is_an_error(tmp_path):
    g = _copy_setup(tmp_path)
    src = SAMPLE / "image/WalnutGulch/forcings/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc"
    with xr.open_dataset(src) as f:
        f = f.load()
    f["temp"] = f["temp"] + 273.15
    f.to_netcdf(tmp_path / "forc.2008.nc")
    text = g.read_text().splitlines()
    g.write_text("\n".join(f"FORCING1 {tmp_path}/forc." if ln.startswith("FORCING1") else ln for ln in text) + "\n")
    with pytest.raises(VICError, match=r"forcing 'temp' \(FORCE_TYPE AIR_TEMP\) has daily values .*Kelvin"):
        region_from_vic(g)


def test_forcing_step_must_match_snow_steps(tmp_path):
    g = _copy_setup(tmp_path)
    text = g.read_text().replace("SNOW_STEPS_PER_DAY    8", "SNOW_STEPS_PER_DAY    24")
    g.write_text(text)
    with pytest.raises(VICError, match="forcing time step is 3 h but SNOW_STEPS_PER_DAY is 24"):
        region_from_vic(g)


def _damage(g: Path, **values) -> None:
    """Set parameter-file values in the copy a global file from _copy_setup names: name -> (index, value)."""
    p = g.parent / "params.nc"
    p.chmod(0o644)
    with netCDF4.Dataset(p, "a") as nc:
        for name, (index, value) in values.items():
            nc[name][index] = value


def test_out_of_range_parameters_are_refused_or_recorded(tmp_path, caplog):
    g = _copy_setup(tmp_path)
    _damage(g, Ws=((slice(None), slice(None)), 0.0), Dsmax=((0, 1), -5.0))
    with pytest.raises(VICError, match=r"params\.nc: Dsmax = -5 at cell lat 31\.6562, lon -110\.0938 is outside the "
                                       r"physically plausible range: Dsmax >= 0; also out of range: Ws"):
        region_from_vic(g, end="2008-01-03")
    import logging

    with caplog.at_level(logging.WARNING):
        r = region_from_vic(g, end="2008-01-03", allow_out_of_range=True)
    warnings = [x for x in caplog.records if x.name == "vic_paraformer.vic.outofrange"]
    assert len(warnings) == 1 and "Ws on 15 cell(s)" in warnings[0].getMessage()
    path = r.save(tmp_path / "region.nc")
    records = json.loads(Region.open(path).ds.attrs["vic_out_of_range"])
    assert [x["variable"] for x in records] == ["Dsmax", "Ws"]
    assert records[1]["n_cells"] == 15 and records[0]["example"]["value"] == -5.0
    np.testing.assert_array_equal(r.ds["Ws"].values, 0.0)  # imported as they are


def test_annual_prec_no_data_flag_means_missing(tmp_path):
    g = _copy_setup(tmp_path)
    _damage(g, annual_prec=((slice(None), slice(None)), -99.0))
    r = region_from_vic(g, end="2008-01-31")
    ap = r.attribute("annual_prec")
    np.testing.assert_allclose(ap, r.ds["prec"].values.mean(axis=1) * 365.25, rtol=1e-5)
    assert np.all(ap > 0)
