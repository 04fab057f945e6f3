"""Writing calibrated parameters into a copy of a VIC parameter file (no VIC needed)."""

from __future__ import annotations

import json
import os
import hashlib
import logging
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.errors import VICError
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.vic.params import write_parameters

SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
pytestmark = pytest.mark.skipif(not (SAMPLE / "image").is_dir(), reason=f"VIC sample data not found at {SAMPLE}")
STEHEKIN_PARAMS = SAMPLE / "image/Stehekin/parameters/params.Stehekin.MOD_IGBP.nc"
CALIBRATED = {"infilt": ("infilt", False), "Ds": ("Ds", False), "Dsmax": ("Dsmax", False), "Ws": ("Ws", False),
              "expt": ("expt", True), "depth": ("depth", True), "init_moist": ("init_moist", True),
              "Ksat": ("Ksat", True)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _result(cells_rc, seed=0, with_latlon=True, values=None) -> CalibrationResult:
    with xr.open_dataset(STEHEKIN_PARAMS) as p:
        lat, lon = p["lat"].values, p["lon"].values
    rows, cols = zip(*cells_rc)
    space = ParameterSpace.preset("vic")
    vals = space.sample(len(rows), seed=seed) if values is None else values
    params = space.to_dataset(vals, cells=np.arange(len(rows)) + 100)
    if with_latlon:
        params = params.assign_coords(lat=("cell", lat[list(rows)]), lon=("cell", lon[list(cols)]))
    return CalibrationResult(params=params, strategy="test", parameter_space=space)


def _compare_everything_else(template: Path, out: Path, rows, cols, changed: dict[str, np.ndarray],
                            layers=(0, 1, 2)):
    with netCDF4.Dataset(template) as a, netCDF4.Dataset(out) as b:
        assert a.data_model == b.data_model
        assert {k: len(v) for k, v in a.dimensions.items()} == {k: len(v) for k, v in b.dimensions.items()}
        assert {k: a.getncattr(k) for k in a.ncattrs()} == {k: b.getncattr(k) for k in b.ncattrs()}
        assert list(a.variables) == list(b.variables)
        for name, va in a.variables.items():
            vb = b.variables[name]
            assert va.dtype == vb.dtype and va.dimensions == vb.dimensions, name
            attrs_a = {k: va.getncattr(k) for k in va.ncattrs()}
            attrs_b = {k: vb.getncattr(k) for k in vb.ncattrs()}
            assert attrs_a.keys() == attrs_b.keys(), name
            for k in attrs_a:
                np.testing.assert_array_equal(attrs_a[k], attrs_b[k], err_msg=f"{name}.{k}")
            va.set_auto_maskandscale(False)
            vb.set_auto_maskandscale(False)
            da, db = va[:], vb[:]
            if name not in changed:
                np.testing.assert_array_equal(da, db, err_msg=name)
                continue
            # only the calibrated cells (and layers) differ, and they hold the new values
            expected = np.array(da, copy=True)
            if CALIBRATED[name][1]:
                for k in (layers[name] if isinstance(layers, dict) else layers):
                    expected[k, rows, cols] = changed[name][k] if np.ndim(changed[name]) == 2 else changed[name]
            else:
                expected[rows, cols] = changed[name]
            np.testing.assert_array_equal(db, expected, err_msg=name)


def test_only_calibrated_variables_and_cells_change(tmp_path):
    rc = [(2, 0), (3, 4), (5, 9), (0, 2)]
    res = _result(rc)
    before = _sha(STEHEKIN_PARAMS)
    out = write_parameters(res, STEHEKIN_PARAMS, tmp_path / "new.nc")
    assert _sha(STEHEKIN_PARAMS) == before  # template untouched
    rows, cols = [r for r, _ in rc], [c for _, c in rc]
    changed = {n: res.params[n].values for n in ("infilt", "Ds", "Dsmax", "Ws", "expt")}
    _compare_everything_else(STEHEKIN_PARAMS, out, rows, cols, changed)   # a tied expt: every layer
    assert [p.name for p in tmp_path.iterdir()] == ["new.nc"]  # no temporary file left behind


def test_expt_top_layer_only_when_asked(tmp_path):
    rc = [(2, 2), (4, 4)]
    res = _result(rc, seed=3)
    out = write_parameters(res, STEHEKIN_PARAMS, tmp_path / "new.nc", expt_layers=(0,))
    changed = {n: res.params[n].values for n in ("infilt", "Ds", "Dsmax", "Ws", "expt")}
    _compare_everything_else(STEHEKIN_PARAMS, out, [2, 4], [2, 4], changed, layers=(0,))


def test_values_clipped_to_vic_limits_with_warning(tmp_path, caplog):
    rc = [(2, 2), (3, 3), (4, 4)]
    space = ParameterSpace.preset("vic")
    vals = np.tile(space.midpoint(), (3, 1))
    res = _result(rc, values=vals)
    ds = res.params.copy()
    ds["Ws"] = ("cell", np.array([1.0, 0.5, 1.2]))  # VIC needs Ws < 1
    ds["expt"] = ("cell", np.array([2.0, 11.5, 11.5]))  # and expt >= 3
    with caplog.at_level(logging.WARNING, logger="vic_paraformer.vic.params"):
        out = write_parameters(ds, STEHEKIN_PARAMS, tmp_path / "new.nc")
    assert "Ws: 2 of 3 cell(s) clipped" in caplog.text and "expt: 1 of 3 cell(s) clipped" in caplog.text
    with xr.open_dataset(out) as p:
        ws = p["Ws"].values[[2, 3, 4], [2, 3, 4]]
        assert np.all(ws < 1.0) and ws[1] == 0.5
        assert p["expt"].values[0, 2, 2] == 3.0


def test_result_file_and_cli(tmp_path):
    res = _result([(2, 1), (6, 5)], seed=7)
    res.save(tmp_path / "result.nc")
    before = _sha(STEHEKIN_PARAMS)
    rc = main(["vic", "write-params", "--template", str(STEHEKIN_PARAMS), "--result", str(tmp_path / "result.nc"),
               "--out", str(tmp_path / "out.nc")])
    assert rc == 0 and _sha(STEHEKIN_PARAMS) == before
    with xr.open_dataset(tmp_path / "out.nc") as p:
        np.testing.assert_allclose(p["Dsmax"].values[[2, 6], [1, 5]], res.params["Dsmax"].values)


def test_errors(tmp_path, capsys):
    res = _result([(2, 1)], with_latlon=False)
    with pytest.raises(VICError, match="no lat/lon"):
        write_parameters(res, STEHEKIN_PARAMS, tmp_path / "x.nc")
    res = _result([(0, 0)])  # run_cell == 0 there
    with pytest.raises(VICError, match="does not simulate"):
        write_parameters(res, STEHEKIN_PARAMS, tmp_path / "x.nc")
    res = _result([(2, 1)])
    with pytest.raises(VICError, match="would overwrite the template"):
        write_parameters(res, STEHEKIN_PARAMS, STEHEKIN_PARAMS)
    with pytest.raises(VICError, match="VIC parameter file not found"):
        write_parameters(res, tmp_path / "missing.nc", tmp_path / "x.nc")
    ds = res.params.assign_coords(lat=("cell", [10.0]))
    with pytest.raises(VICError, match=r"made for another region or grid: its 1 cell\(s\) at lat 10\.0000"):
        write_parameters(ds, STEHEKIN_PARAMS, tmp_path / "x.nc")
    assert not (tmp_path / "x.nc").exists()
    rc = main(["vic", "write-params", "--template", str(STEHEKIN_PARAMS), "--result", str(tmp_path / "nope.nc"),
               "--out", str(tmp_path / "x.nc")])
    assert rc == 1 and "calibration result not found" in capsys.readouterr().err


def test_infilt_above_its_hard_limit_is_clipped_to_it(tmp_path, caplog):
    res = _result([(2, 2), (3, 3)])
    ds = res.params.copy()
    ds["infilt"] = ("cell", np.array([1e20, 0.3]))
    with caplog.at_level(logging.WARNING, logger="vic_paraformer.vic.params"):
        out = write_parameters(ds, STEHEKIN_PARAMS, tmp_path / "new.nc")
    assert "infilt: 1 of 2 cell(s) clipped into VIC's valid range [1e-06, 1]" in caplog.text
    with xr.open_dataset(out) as p:
        np.testing.assert_array_equal(p["infilt"].values[[2, 3], [2, 3]], [1.0, 0.3])


def _damaged_template(tmp_path: Path) -> Path:
    bad = tmp_path / "template.nc"
    bad.write_bytes(STEHEKIN_PARAMS.read_bytes())
    with netCDF4.Dataset(bad, "a") as nc:
        nc["Dsmax"][2, 2] = -5.0  # a cell the result writes: the written value is the result's
        nc["Wpwp_FRACT"][0, 5, 5] = 0.9  # a cell it leaves alone: written as the template has it
    return bad


def test_values_written_must_be_plausible(tmp_path, capsys):
    bad = _damaged_template(tmp_path)
    res = _result([(2, 2), (3, 3)])
    with xr.open_dataset(bad) as p:
        lat, lon = float(p["lat"][5]), float(p["lon"][5])
    with pytest.raises(VICError, match=rf"template\.nc: Wpwp_FRACT \(layer 1\) = 0\.9 at cell lat {lat:.4f}, lon "
                                       rf"{lon:.4f} is outside the physically plausible range: Wpwp_FRACT <= Wcr_FRACT"):
        write_parameters(res, bad, tmp_path / "new.nc")
    assert not (tmp_path / "new.nc").exists()
    out = write_parameters(res, bad, tmp_path / "new.nc", allow_out_of_range=True)
    with netCDF4.Dataset(out) as nc:
        records = json.loads(nc.getncattr("vic_paraformer_out_of_range"))
        assert nc["Dsmax"][2, 2] == res.params["Dsmax"].values[0]
    assert [r["variable"] for r in records] == ["Wpwp_FRACT"] and records[0]["n_cells"] == 1
    # the command line: refused with one line, accepted with --allow-out-of-range
    res.save(tmp_path / "result.nc")
    argv = ["vic", "write-params", "--template", str(bad), "--result", str(tmp_path / "result.nc"), "--out",
            str(tmp_path / "cli.nc")]
    assert main(argv) == 1 and "Wpwp_FRACT (layer 1) = 0.9" in capsys.readouterr().err
    assert main(argv + ["--allow-out-of-range"]) == 0 and (tmp_path / "cli.nc").is_file()


# ---------------------------------------------------------------- other parameter sets: depths, per-layer expt, multipliers
def _set_result(names, values, rc) -> CalibrationResult:
    with xr.open_dataset(STEHEKIN_PARAMS) as p:
        lat, lon = p["lat"].values, p["lon"].values
    rows, cols = zip(*rc)
    space = ParameterSpace.preset("vic", names=names)
    params = space.to_dataset(np.asarray(values, float), cells=np.arange(len(rows)) + 100)
    params = params.assign_coords(lat=("cell", lat[list(rows)]), lon=("cell", lon[list(cols)]))
    return CalibrationResult(params=params, strategy="test", parameter_space=space)


def test_vic_classic_writes_depths_and_init_moist_only(tmp_path):
    rc = [(2, 2), (4, 4), (3, 5)]
    rows, cols = [r for r, _ in rc], [c for _, c in rc]
    names = ("infilt", "Ds", "Dsmax", "Ws", "depth2", "depth3")
    vals = np.array([[0.2, 0.1, 5.0, 0.8, 0.3, 1.4], [0.3, 0.2, 6.0, 0.7, 1.2, 0.2], [0.1, 0.3, 7.0, 0.6, 0.9, 0.9]])
    out = write_parameters(_set_result(names, vals, rc), STEHEKIN_PARAMS, tmp_path / "new.nc")
    with xr.open_dataset(STEHEKIN_PARAMS) as t:
        depth = t["depth"].values[:, rows, cols].astype(float)
        moist = t["init_moist"].values[:, rows, cols].astype(float)
        por = 1 - t["bulk_density"].values[:, rows, cols] / t["soil_density"].values[:, rows, cols]
    new_depth = depth.copy()
    new_depth[1], new_depth[2] = vals[:, 4], vals[:, 5]
    new_moist = np.minimum(moist * new_depth / depth, por * new_depth * 1000.0)
    changed = {**{n: vals[:, j] for j, n in enumerate(names[:4])}, "depth": new_depth, "init_moist": new_moist}
    with netCDF4.Dataset(out) as b:   # the expectation in the file's own dtype
        for v in ("depth", "init_moist"):
            changed[v] = changed[v].astype(b.variables[v].dtype)
    _compare_everything_else(STEHEKIN_PARAMS, out, rows, cols, changed,
                             layers={"depth": (1, 2), "init_moist": (1, 2)})
    with xr.open_dataset(out) as p:
        got_m = p["init_moist"].values[:, rows, cols]
        got_d = p["depth"].values[:, rows, cols]
        got_p = 1 - p["bulk_density"].values[:, rows, cols] / p["soil_density"].values[:, rows, cols]
    assert np.all(got_m <= got_p * got_d * 1000.0 + 1e-3)            # never above porosity x depth


def test_per_layer_expt_and_ksat_multiplier(tmp_path):
    rc = [(2, 2), (4, 4)]
    rows, cols = [r for r, _ in rc], [c for _, c in rc]
    names = ("expt2", "Ksat_mult")
    vals = np.array([[5.0, 2.0], [9.0, 0.5]])
    out = write_parameters(_set_result(names, vals, rc), STEHEKIN_PARAMS, tmp_path / "new.nc")
    with xr.open_dataset(STEHEKIN_PARAMS) as t:
        ksat = t["Ksat"].values[:, rows, cols].astype(float) * vals[:, 1]
        dtype = t["Ksat"].dtype
    _compare_everything_else(STEHEKIN_PARAMS, out, rows, cols, {"expt": vals[:, 0], "Ksat": ksat.astype(dtype)},
                             layers={"expt": (1,), "Ksat": (0, 1, 2)})


def test_init_moist_rule():
    from vic_paraformer.parameters import scale_init_moist

    np.testing.assert_allclose(scale_init_moist(100.0, 0.5, 1.0, 0.4), 200.0)    # volumetric content kept
    np.testing.assert_allclose(scale_init_moist(180.0, 0.5, 0.2, 0.4), 72.0)     # scaled
    np.testing.assert_allclose(scale_init_moist(190.0, 0.5, 1.0, 0.3), 300.0)    # capped at porosity x depth
    np.testing.assert_allclose(scale_init_moist([50.0], [0.3], [0.3], [0.45]), [50.0])
