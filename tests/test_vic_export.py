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


@needs_sample
def test_a_second_round_trip_is_exact(tmp_path):
    """import -> export -> import is exact up to float32 rounding; the next round trip is bit for bit."""
    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-31")
    first = region_from_vic(export_vic(region, TEMPLATE, DOMAIN, tmp_path / "1").global_param_file)
    second = region_from_vic(export_vic(first, TEMPLATE, DOMAIN, tmp_path / "2").global_param_file)
    assert second.attribute_names == first.attribute_names == region.attribute_names
    np.testing.assert_array_equal(second.attributes(), first.attributes())
    for k in FORCING + PARAMS:
        np.testing.assert_array_equal(second.ds[k].values, first.ds[k].values, err_msg=k)


@needs_sample
def test_importer_and_export_read_one_table_of_relations(tmp_path):
    """Every relation the export writes comes back through the importer: the two read one table."""
    from vic_paraformer.vic import export, importer, variables

    assert importer.ATTRIBUTES is export.ATTRIBUTES is variables.ATTRIBUTES
    assert importer.FORCE_TYPE_OF == {f.region: f.force_type for f in variables.FORCING}
    assert export.FORCING_NAMES == {f.force_type: (f.file_name, f.region) for f in variables.FORCING}
    assert export.PARAMS == PARAMS == tuple(c.name for c in variables.CALIBRATED)

    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-31")
    names = region.attribute_names
    n_layers = sum(n.startswith("soil_depth") and n[-1].isdigit() for n in names)
    with xr.open_dataset(TEMPLATE) as tpl:
        in_template = set(tpl.variables)
    changed, written = [], set()
    for entry in variables.ATTRIBUTES:
        if entry.to_vic is None or entry.group:
            continue
        for name, k in entry.names(n_layers):
            target = entry.target(k)
            if name in names and target not in written and target[0] in in_template:
                written.add(target)
                changed.append(name)
    assert {"soil_depth1", "ksat2", "bulk_density3", "wcr_fract1", "init_sm", "expt2", "veg_fraction"} <= set(changed)
    att = region.attributes().astype(float)
    for name in changed:
        att[:, names.index(name)] *= 0.99 if name in ("veg_fraction",) or name.startswith("bulk_density") else 1.01
    ds = region.ds.copy()
    ds["attributes"] = (("cell", "attribute"), att.astype(np.float32))
    back = region_from_vic(export_vic(Region(ds), TEMPLATE, DOMAIN, tmp_path / "twin").global_param_file)
    assert back.attribute_names == names
    for name in changed:
        np.testing.assert_allclose(back.attributes()[:, names.index(name)], att[:, names.index(name)], rtol=2e-6,
                                   err_msg=name)
    # the summaries derived from them follow (porosity from the bulk density, as the table says)
    assert np.all(back.attributes()[:, names.index("porosity1")] > region.attributes()[:, names.index("porosity1")])


@needs_sample
def test_exported_domain_and_forcing_carry_units_and_long_names(tmp_path, synthetic_tiny):
    import netCDF4

    from vic_paraformer.vic.variables import FORCING

    res = export_vic(synthetic_tiny, TEMPLATE, DOMAIN, tmp_path / "twin")
    for path in (res.domain, *res.forcing):
        with netCDF4.Dataset(path) as nc:
            assert nc.getncattr("Conventions") == "CF-1.8", path
            for name, var in nc.variables.items():
                assert var.getncattr("units") and var.getncattr("long_name"), f"{path.name}: {name}"
            for coord in ("lat", "lon"):
                assert "_FillValue" not in nc.variables[coord].ncattrs()
            assert nc.variables["lat"].units == "degrees_north" and nc.variables["lon"].units == "degrees_east"
    with netCDF4.Dataset(res.forcing[0]) as nc:
        for f in FORCING:
            assert nc.variables[f.file_name].units == f.step_units
        assert nc.variables["time"].calendar == "proleptic_gregorian"
    with netCDF4.Dataset(res.domain) as nc:
        assert nc.variables["area"].units == "m2" and nc.variables["mask"].units == "1"


@needs_sample
def test_export_refuses_implausible_values_unless_allowed(tmp_path):
    import netCDF4

    bad = tmp_path / "template.nc"
    bad.write_bytes(TEMPLATE.read_bytes())
    with netCDF4.Dataset(bad, "a") as nc:
        nc["albedo"][7, 0, 0, 0] = 1.5  # a tile with cover; the export copies it, no attribute rewrites it
    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-05")
    with pytest.raises(VICError, match=r"template\.nc \(as written to params\.nc\): albedo \(tile 8, month 1\) = 1\.5 "
                                       r"at cell lat 31\.6562, lon -110\.1562"):
        export_vic(region, bad, DOMAIN, tmp_path / "twin")
    assert not (tmp_path / "twin" / "params.nc").exists()
    res = export_vic(region, bad, DOMAIN, tmp_path / "twin2", allow_out_of_range=True)
    assert [r["variable"] for r in res.out_of_range] == ["albedo"]
    saved = Region.open(res.region)
    assert json.loads(saved.ds.attrs["vic_out_of_range"])[0]["example"]["value"] == 1.5
    with xr.open_dataset(res.params) as p:
        assert "vic_paraformer_out_of_range" in p.attrs
