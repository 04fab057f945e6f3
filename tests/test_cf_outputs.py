"""The netCDF files the toolkit writes follow CF-1.8 (regions, results, simulations, surrogate scores):
units and long names on every variable and coordinate, no fill value on coordinates, Conventions and
history, metadata as individual attributes; and they read back exactly as they were saved."""

from __future__ import annotations

import json
import shutil
import subprocess

import netCDF4
import numpy as np
import pytest
import xarray as xr

from vic_paraformer import CalibrationResult, Region, cf, provenance
from vic_paraformer.cli.main import main
from vic_paraformer.observation import fit
from vic_paraformer.outputs import file_kind
from vic_paraformer.parameters import ParameterSpace

from _helpers import grid_region


def _coordinate_names(nc: netCDF4.Dataset) -> set[str]:
    names = {n for n in nc.variables if n in nc.dimensions}
    for var in nc.variables.values():
        if "coordinates" in var.ncattrs():
            names |= set(var.getncattr("coordinates").split())
    return names


def assert_cf(path, *, history: str) -> dict:
    """Check the raw attributes of ``path`` (netCDF4, no decoding); return its global attributes."""
    with netCDF4.Dataset(path) as nc:
        glob = {k: nc.getncattr(k) for k in nc.ncattrs()}
        coords = _coordinate_names(nc)
        assert {"lat", "lon", "cell"} <= coords
        for name, var in nc.variables.items():
            attrs = set(var.ncattrs())
            assert "long_name" in attrs, f"{path}: {name} has no long_name"
            if var.dtype is not str:
                assert "units" in attrs, f"{path}: {name} has no units"
            if name in coords:
                assert "_FillValue" not in attrs, f"{path}: coordinate {name} has a _FillValue"
        assert nc["lat"].units == "degrees_north" and nc["lat"].standard_name == "latitude"
        assert nc["lon"].units == "degrees_east" and nc["lon"].standard_name == "longitude"
        if "time" in nc.variables:
            assert nc["time"].units.startswith("days since ") and nc["time"].calendar == "standard"
    assert glob["Conventions"] == "CF-1.8"
    first = glob["history"].split("\n")[0]
    assert history in first and "vic_paraformer " in first and first[:4].isdigit() and first[10] == "T", first
    assert glob["title"] and glob["source"].startswith("vic_paraformer ")
    ncdump = shutil.which("ncdump")
    if ncdump:   # what a netCDF user sees
        header = subprocess.run([ncdump, "-h", str(path)], capture_output=True, text=True, check=True).stdout
        with netCDF4.Dataset(path) as nc:
            for name, var in nc.variables.items():
                if var.dtype is not str:
                    assert f"\t\t{name}:units = " in header, name
        assert ':Conventions = "CF-1.8"' in header
    return glob


def test_region_file_is_cf_and_reads_back_exactly(tmp_path):
    region = grid_region().with_training_cells([0, 5])
    space = ParameterSpace.resolve(None)
    mid = (np.asarray(space.lower) + np.asarray(space.upper)) / 2
    params = space.to_dataset(np.tile(mid, (region.n_cells, 1)), region.cells)
    for name in params.data_vars:
        params[name].attrs = {}   # as imported from a VIC parameter file
    region = region.with_parameters(params)
    path = region.save(tmp_path / "region.nc")
    assert_cf(path, history="Python API Region.save")
    with netCDF4.Dataset(path) as nc:
        assert {n: nc[n].units for n in space.names} == {"infilt": "1", "Ds": "1", "Dsmax": "mm day-1", "Ws": "1",
                                                         "expt": "1"}
        assert all(len(nc[n].long_name) > 10 for n in space.names)
        assert nc["train_cell"].flag_meanings == "not_trained trained"
        assert nc["prec"].units == "mm/day" and nc["air_temp"].standard_name == "air_temperature"
    back = Region.open(path)
    xr.testing.assert_identical(back.ds, region.ds)
    lazy = Region.open(path, chunks=5)
    xr.testing.assert_identical(lazy.ds, region.ds)
    # a region that was saved, opened and saved again reads back the same once more
    again = Region.open(back.save(tmp_path / "again.nc"))
    xr.testing.assert_identical(again.ds, region.ds)


def test_result_file_is_cf_with_metadata_as_attributes(tmp_path):
    space = ParameterSpace.resolve(None)
    vals = np.tile((np.asarray(space.lower) + np.asarray(space.upper)) / 2, (3, 1))
    params = space.to_dataset(vals, np.array([0, 1, 2])).assign_coords(lat=("cell", [40.0, 40.1, 40.2]),
                                                                        lon=("cell", [-100.0, -100.1, -100.2]))
    rng = np.random.default_rng(0)
    sim = 0.1 + 0.3 * rng.random((3, 40))
    op = fit("linear", sim, 1.1 * sim + 0.01, cells=[0, 1, 2], lat=[40.0, 40.1, 40.2], lon=[-100.0, -100.1, -100.2])
    res = CalibrationResult(params=params, strategy="sceua", parameter_space=space, obs_operator=op, seed=7,
                            options={"rep": 500, "loss": "rmse", "layers": [32, 16], "flag": True, "sub": {"a": 0.5}},
                            history={"train_loss": [1.0, 0.5]}, n_evaluations=1500, wall_time=2.5,
                            train_cells=np.array([0, 2]), info={"versions": {"numpy": "x"}}, warmup_days=30,
                            spinup_years=1)
    path = res.save(tmp_path / "result.nc")
    glob = assert_cf(path, history="Python API CalibrationResult.save")
    assert glob["strategy"] == "sceua" and glob["seed"] == 7 and glob["n_evaluations"] == 1500
    assert glob["options_rep"] == 500 and glob["options_loss"] == "rmse" and glob["options_flag"] == 1
    np.testing.assert_array_equal(glob["options_layers"], [32, 16])
    assert glob["options_sub_a"] == 0.5 and glob["info_versions_numpy"] == "x"
    assert glob["obs_operator_kind"] == "linear" and glob["warmup_days"] == 30 and glob["spinup_years"] == 1
    assert glob["parameter_space_names"] == "infilt, Ds, Dsmax, Ws, expt"
    assert json.loads(glob["vic_paraformer_result"])["history"] == {"train_loss": [1.0, 0.5]}
    back = CalibrationResult.open(path)
    xr.testing.assert_identical(back.params, res.params)
    for key in ("strategy", "options", "seed", "history", "n_evaluations", "wall_time", "info", "warmup_days",
                "spinup_years"):
        assert getattr(back, key) == getattr(res, key), key
    np.testing.assert_array_equal(back.train_cells, res.train_cells)
    assert back.obs_operator.to_dict() == json.loads(json.dumps(res.obs_operator.to_dict()))


def test_result_file_of_an_earlier_version_still_opens(tmp_path):
    space = ParameterSpace.resolve(None)
    vals = np.tile((np.asarray(space.lower) + np.asarray(space.upper)) / 2, (2, 1))
    res = CalibrationResult(params=space.to_dataset(vals, np.array([3, 4])), strategy="x", parameter_space=space,
                            seed=1, train_cells=np.array([4]))
    ds = res.to_dataset()
    ds.attrs = {"title": ds.attrs["title"], "vic_paraformer_result": ds.attrs["vic_paraformer_result"]}
    ds.to_netcdf(tmp_path / "old.nc")   # no CF metadata, no kind attribute: as written before
    back = CalibrationResult.open(tmp_path / "old.nc")
    xr.testing.assert_identical(back.params, res.params)
    assert back.seed == 1 and back.train_cells.tolist() == [4]


def test_cli_synth_and_simulate_files_are_cf(tmp_path, capsys):
    region_nc, sim_nc = tmp_path / "region.nc", tmp_path / "sim.nc"
    args = ["synth", "--ny", "3", "--nx", "2", "--years", "1", "--seed", "1", "--train-k", "2",
            "--difficulty", "realistic", "--out", str(region_nc)]
    assert main(args) == 0
    assert_cf(region_nc, history="vic-paraformer " + " ".join(args))
    in_memory = Region.open(region_nc)
    assert "history" not in in_memory.ds.attrs and cf.ADDED_ATTR not in in_memory.ds.attrs
    assert not any("long_name" in in_memory.ds[v].attrs for v in ("lat", "cell", "prec"))
    assert main(["simulate", "--region", str(region_nc), "--params", "true", "--out", str(sim_nc)]) == 0
    assert_cf(sim_nc, history="vic-paraformer simulate --region")
    with netCDF4.Dataset(sim_nc) as nc:
        assert nc["sm"].units == "m3 m-3" and nc["et"].units == "mm/day"
    capsys.readouterr()


def test_surrogate_scores_file_is_cf(small_surrogate, synthetic_tiny, tmp_path):
    from vic_paraformer.surrogate.evaluate import evaluate_surrogate, write_report

    region = synthetic_tiny.subset(synthetic_tiny.cells[:4])
    report = evaluate_surrogate(small_surrogate, region, n_samples=1, seed=3)
    paths = write_report(report, tmp_path / "rep")
    glob = assert_cf(paths["scores"], history="Python API write_report")
    assert file_kind(paths["scores"]) == "surrogate-scores"
    assert glob["n_samples"] == 1 and glob["simulator"] == "waterbalance"
    assert glob["summary_all_sm_nse_median"] == pytest.approx(report["summary"]["all"]["sm"]["nse"]["median"])
    with xr.open_dataset(paths["scores"]) as ds:
        np.testing.assert_allclose(ds["sm_nse"].values, report["per_cell"]["sm_nse"])
        assert ds["sm_rmse"].attrs["units"] == "m3 m-3" and ds["et_nse"].attrs["units"] == "1"
        np.testing.assert_array_equal(ds["cell"].values, region.cells)
        np.testing.assert_array_equal(ds["lat"].values, region.ds["lat"].values)


def test_history_is_prepended_and_stripped_back():
    ds = grid_region().ds.copy()
    ds.attrs = {"history": "2020-01-01T00:00:00Z: made by hand", "title": "mine"}
    with provenance.command_line(["vic-paraformer", "synth", "--out", "a b.nc"]):
        out = cf.annotate(ds, kind="region")
    lines = out.attrs["history"].split("\n")
    assert lines[1] == "2020-01-01T00:00:00Z: made by hand" and lines[0].endswith(
        "vic-paraformer synth --out 'a b.nc' (vic_paraformer %s)" % provenance.__version__)
    assert out.attrs["title"] == "mine" and ds.attrs == {"history": lines[1], "title": "mine"}   # input unchanged
    assert out["lat"].encoding["_FillValue"] is None and "_FillValue" not in ds["lat"].encoding
    back = cf.strip_added(out.copy())
    assert back.attrs == ds.attrs
    for name in ds.variables:
        assert back[name].attrs == ds[name].attrs, name


def test_source_date_epoch_fixes_the_history_time(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert provenance.history_line("x").startswith("1970-01-01T00:00:00Z: Python API x")


def test_flat_attributes():
    flat = cf.flat_attributes({"a": 1, "b": {"c": "x", "d": None, "e": [1.5, 2]}, "f": True, "g": ["p", "q"],
                               "h": list(range(cf.MAX_LIST + 1)), "i": [1, "mixed"], "j k": 2 ** 40, "sm+et": "x/y"})
    assert set(flat) == {"a", "b_c", "b_e", "f", "g", "j_k", "sm_et"}
    assert flat["a"] == 1 and flat["b_c"] == "x" and flat["f"] == 1 and flat["g"] == "p, q" and flat["j_k"] == 2 ** 40
    assert flat["b_e"].dtype == np.float64 and flat["j_k"].dtype == np.int64 and flat["a"].dtype == np.int32


def test_every_known_variable_has_units_and_a_long_name():
    for name, info in cf.VARIABLES.items():
        assert info.long_name, name
        # label coordinates (names, not quantities) carry no units
        assert info.units is not None or name in ("time", "attribute", "parameter", "term", "index"), name
    assert cf.info("true_Dsmax").units == "mm day-1" and cf.info("et_rmse").units == "mm/day"
    assert cf.info("sm_pcc").units == "1" and cf.info("unknown_thing") is None


@pytest.mark.vic
def test_vic_run_and_imported_region_files_are_cf(tmp_path, capsys):
    from test_vic_runner import REAL_VIC, SAMPLE, VARS, WALNUT
    from vic_paraformer.vic.importer import region_from_vic

    if REAL_VIC is None or not (SAMPLE / "image").is_dir():
        pytest.skip("needs the VIC image driver and the VIC sample data")
    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-20")
    assert_cf(region.save(tmp_path / "region.nc"), history="Python API Region.save")
    xr.testing.assert_identical(Region.open(tmp_path / "region.nc").ds, region.ds)
    out = tmp_path / "run.nc"
    assert main(["vic", "run", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--end", "2008-01-20",
                 "--out", str(out), "--exe", REAL_VIC, "--workdir", str(tmp_path / "runs")]) == 0
    assert_cf(out, history="vic-paraformer vic run --global")
    with xr.open_dataset(out) as ds:
        np.testing.assert_allclose(ds["lat"].values, region.ds["lat"].values)
    capsys.readouterr()
