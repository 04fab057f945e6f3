"""A VIC twin from any Region: export -> import round trip, twin observations by VIC, the benchmark with VIC.

The round trips need only the sample data; tests marked ``vic`` run the real image driver and skip
with a reason without it.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
import pytest

from test_vic_runner import REAL_VIC, SAMPLE, VARS, WALNUT, needs_sample, needs_vic_exe
from vic_paraformer.cli.main import main
from vic_paraformer.errors import VICError
from vic_paraformer.region import Region
from vic_paraformer.vic.export import disaggregate, export_vic, region_grid
from vic_paraformer.vic.twin import twin_observations
from vic_paraformer.vic.importer import region_from_vic

TEMPLATE = SAMPLE / "image/WalnutGulch/parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
DOMAIN = SAMPLE / "image/WalnutGulch/parameters/domain.WalnutGulch.0.0625_deg.nc"
FORCING = ("prec", "air_temp", "swdown", "lwdown", "pressure", "vp", "wind")
PARAMS = ("infilt", "Ds", "Dsmax", "Ws", "expt")
MAPPED = ("porosity", "field_capacity", "wilting_point", "residual_moisture", "ksat", "soil_depth1", "soil_depth2",
          "soil_depth3", "veg_fraction", "root_fraction1", "root_fraction2", "root_fraction3")


def _same_forcing(a: Region, b: Region) -> None:
    assert np.array_equal(a.cells, b.cells)
    assert (a.times == b.times).all()
    np.testing.assert_allclose(b.ds["lat"].values, a.ds["lat"].values, atol=1e-9)
    np.testing.assert_allclose(b.ds["lon"].values, a.ds["lon"].values, atol=1e-9)
    for k in FORCING:
        np.testing.assert_allclose(b.ds[k].values, a.ds[k].values, rtol=2e-6, atol=2e-5, err_msg=k)


def test_disaggregation_keeps_the_daily_values():
    rng = np.random.default_rng(0)
    daily = {k: rng.random((3, 5)) * 10 for k in FORCING}
    sub = disaggregate(daily, 8)
    for k, v in sub.items():
        agg = v.reshape(3, 5, 8).sum(-1) if k == "prec" else v.reshape(3, 5, 8).mean(-1)
        np.testing.assert_allclose(agg, daily[k], rtol=1e-12, atol=1e-12)
    assert (sub["swdown"] >= 0).all() and (sub["swdown"].reshape(3, 5, 8)[..., 0] == 0).all()  # night


@needs_sample
def test_export_import_round_trip_of_an_imported_setup(tmp_path):
    region = region_from_vic(WALNUT, variables=VARS, end="2008-02-29")
    res = export_vic(region, TEMPLATE, DOMAIN, tmp_path / "twin")
    back = region_from_vic(res.global_param_file)
    _same_forcing(region, back)
    assert back.attribute_names == region.attribute_names
    np.testing.assert_allclose(back.attributes(), region.attributes(), rtol=1e-5, atol=1e-5)
    for p in PARAMS:
        np.testing.assert_array_equal(back.ds[p].values, region.ds[p].values)
    assert res.parameters_from == "the Region's current values"
    with pytest.raises(VICError, match="not empty"):
        export_vic(region, TEMPLATE, DOMAIN, tmp_path / "twin")


@needs_sample
def test_export_import_round_trip_of_a_synthetic_twin(tmp_path, synthetic_tiny):
    region = synthetic_tiny
    res = export_vic(region, TEMPLATE, DOMAIN, tmp_path / "twin")
    back = region_from_vic(res.global_param_file, res.observations)
    _same_forcing(region, back)
    for name in MAPPED:
        a = region.attributes()[:, region.attribute_names.index(name)]
        b = back.attributes()[:, back.attribute_names.index(name)]
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=name)
    # params.nc (what the global file runs) keeps the template cell's defaults: the default row of a
    # benchmark must not be the oracle; the truth is in params_true.nc
    assert res.parameters_from.startswith("the template cell's own values")
    assert res.true_params is not None and res.true_params.name == "params_true.nc"
    _, _, rows, cols = region_grid(back)
    with xr.open_dataset(res.true_params) as tp, xr.open_dataset(res.params) as dp:
        for p in PARAMS:
            t = tp[p].values[0] if p == "expt" else tp[p].values
            np.testing.assert_allclose(t[rows, cols], region.ds[f"true_{p}"].values, rtol=1e-12)
            d = dp[p].values[0] if p == "expt" else dp[p].values
            np.testing.assert_allclose(back.ds[p].values, d[rows, cols], rtol=1e-12)
            assert np.isfinite(back.ds[p].values).all()
            assert not np.allclose(back.ds[p].values, region.ds[f"true_{p}"].values), p
    np.testing.assert_array_equal(np.isfinite(back.ds["obs_sm"].values), np.isfinite(region.ds["obs_sm"].values))
    np.testing.assert_allclose(back.ds["obs_sm"].values, region.ds["obs_sm"].values, equal_nan=True, rtol=1e-6)
    assert set(res.unmapped_attributes) == {"sand", "silt", "clay", "slope", "aridity"}
    saved = Region.open(res.region)
    for p in PARAMS:
        np.testing.assert_allclose(saved.ds[f"true_{p}"].values, region.ds[f"true_{p}"].values)
    assert saved.ds.attrs["vic_global_param_file"] == str(res.global_param_file.resolve())


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_twin_observations_come_from_vic_with_the_true_parameters(tmp_path, synthetic_tiny):
    from vic_paraformer.simulators.vic import VICSimulator

    region = synthetic_tiny.sel_time("2015-04-01", "2015-09-30")
    rc = main(["vic", "export", "--region", str(_save(region, tmp_path)), "--template", str(TEMPLATE), "--domain",
               str(DOMAIN), "--out", str(tmp_path / "twin"), "--twin-observations", "--sm-noise", "0.01",
               "--seed", "3", "--exe", REAL_VIC, "--workdir", str(tmp_path / "runs"), "--spinup-years", "0"])
    assert rc == 0
    twin = Region.open(tmp_path / "twin" / "region.nc")
    obs = twin.observations("obs_sm")
    assert 0.3 < np.isfinite(obs).mean() < 0.6  # every 2-3 days
    truth = twin.parameters(prefix="true_")
    assert truth is not None
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(
        twin, _params_dataset(twin, truth))
    resid = obs - sim["sm"].values
    ok = np.isfinite(resid)
    assert 0.006 < np.std(resid[ok]) < 0.014  # the noise added, nothing else
    assert np.isfinite(twin.observations("obs_et")).all()
    assert json.loads(twin.ds.attrs["vic_twin_observations"])["seed"] == 3


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_benchmark_end_to_end_on_a_tiny_twin(tmp_path):
    from vic_paraformer.synthetic import synthetic_region

    region = synthetic_region(ny=4, nx=4, years=3, seed=0)
    res = export_vic(region, TEMPLATE, DOMAIN, tmp_path / "twin", options={"FULL_ENERGY": "FALSE"})
    twin_observations(res.out_dir, exe=REAL_VIC, workdir=str(tmp_path / "runs"))
    rc = main(["benchmark", "--simulator", "vic", "--region", str(res.region), "--out", str(tmp_path / "bench"),
               "--quick", "--strategies", "sceua", "--surrogate-samples", "4", "--exe", REAL_VIC, "--workdir",
               str(tmp_path / "runs"), "--workers", "2", "--spinup-years", "0"])
    assert rc == 0
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    text = (tmp_path / "bench" / "table.md").read_text()
    assert "sceua" in text and "oracle" in text
    assert results["config"]["simulator"] == "vic" if "config" in results else True
    assert not list((tmp_path / "runs").glob("vicrun_*"))


def _save(region: Region, tmp_path) -> object:
    path = tmp_path / "region.nc"
    region.save(path)
    return path


def _params_dataset(region: Region, values: np.ndarray):
    from vic_paraformer.parameters import ParameterSpace

    return ParameterSpace.preset("vic").to_dataset(values, region.cells)
