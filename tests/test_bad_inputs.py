"""Bad-input catalogue: every case runs the command line in-process and asserts its exit code, one
readable error line naming the culprit, and that no input file changed (sha256 before and after).

The inputs are built once per module in a shared folder (a 3 x 3-cell, one-year synthetic twin, a
result, a one-epoch surrogate and damaged variants of each); outputs go to a fresh folder per case.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.synthetic import synthetic_region


def _save_raw(ds: xr.Dataset, path: Path) -> None:
    ds.to_netcdf(path)


def _variant(base: xr.Dataset, edit) -> xr.Dataset:
    ds = base.copy(deep=True)
    out = edit(ds)
    return out if isinstance(out, xr.Dataset) else ds


REGION_VARIANTS = {
    "air_temp_K": lambda ds: ds.__setitem__("air_temp", ds["air_temp"] + 273.15),
    "pressure_Pa": lambda ds: ds.__setitem__("pressure", ds["pressure"] * 1000),
    "pressure_hPa": lambda ds: ds.__setitem__("pressure", ds["pressure"] * 10),
    "vp_Pa": lambda ds: ds.__setitem__("vp", ds["vp"] * 1000),
    "prec_m_day": lambda ds: ds.__setitem__("prec", ds["prec"] / 1000),
    "prec_kg_s": lambda ds: ds.__setitem__("prec", ds["prec"] / 86400),
    "prec_negative": lambda ds: ds["prec"].values.__setitem__((0, 3), -1.0),
    "swdown_negative": lambda ds: ds.__setitem__("swdown", -ds["swdown"]),
    "lwdown_negative": lambda ds: ds.__setitem__("lwdown", -ds["lwdown"]),
    "wind_negative": lambda ds: ds.__setitem__("wind", ds["wind"] - 10.0),
    "air_temp_nan": lambda ds: ds["air_temp"].values.__setitem__((1, 5), np.nan),
    "obs_et_negative": lambda ds: ds.__setitem__("obs_et", ds["obs_et"] - 5.0),
    "obs_et_Wm2": lambda ds: ds.__setitem__("obs_et", ds["obs_et"] * 28.4),
    "obs_sm_percent": lambda ds: ds.__setitem__("obs_sm", ds["obs_sm"] * 100),
    "duplicate_ids": lambda ds: ds.assign_coords(cell=np.r_[ds["cell"].values[:-1], ds["cell"].values[0]]),
    "wind_dims": lambda ds: ds.assign(wind=("time", ds["wind"].values[0])),
    "no_wind": lambda ds: ds.drop_vars("wind"),
    "lat_bad": lambda ds: ds.assign_coords(lat=("cell", np.r_[95.0, ds["lat"].values[1:]])),
    "not_daily": lambda ds: ds.assign_coords(time=ds["time"].values[0] + np.arange(ds.sizes["time"]) * np.timedelta64(6, "h")),
    "no_obs": lambda ds: ds.drop_vars([v for v in ("obs_sm", "obs_et", "train_cell") if v in ds]),
    "units_K": lambda ds: (ds.__setitem__("air_temp", ds["air_temp"] + 273.15), ds["air_temp"].attrs.__setitem__("units", "K")),
    "units_odd": lambda ds: ds["wind"].attrs.__setitem__("units", "furlongs per fortnight"),
    "obs_early": lambda ds: ds.__setitem__("obs_sm", ds["obs_sm"].where(np.arange(ds.sizes["time"]) < 30)),
    "obs_sm_above_porosity": lambda ds: ds.__setitem__(
        "obs_sm", ds["obs_sm"].where(~(ds["cell"] == ds["cell"].values[2]), 0.9)),
}


# ---- physical plausibility of VIC inputs: damaged copies of VIC's WalnutGulch sample ----------------
SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
WALNUT_DIR = SAMPLE / "image" / "WalnutGulch" / "parameters"
WALNUT_GLOBAL = WALNUT_DIR / "global_param.WalnutGulch.MOD_IGBP.txt"
WALNUT_PARAMS = WALNUT_DIR / "params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
# cell (row 0, col 0) is lat 31.65625, lon -110.15625; its tiles 8 and 11 (0-based 7, 10) have cover, tile 1 none
VIC_VARIANTS = {
    "Dsmax_negative": lambda nc: nc["Dsmax"].__setitem__((0, 0), -5.0),
    "Ws_zero": lambda nc: nc["Ws"].__setitem__(slice(None), 0.0),
    "Ws_above_one": lambda nc: nc["Ws"].__setitem__((1, 2), 1.2),
    "infilt_huge": lambda nc: nc["infilt"].__setitem__(slice(None), 1e20),
    "infilt_negative": lambda nc: nc["infilt"].__setitem__((0, 1), -0.1),
    "Ds_negative": lambda nc: nc["Ds"].__setitem__((0, 0), -0.1),
    "Ds_above_one": lambda nc: nc["Ds"].__setitem__((0, 0), 1.5),
    "expt_low": lambda nc: nc["expt"].__setitem__((0, 0, 0), 2.0),
    "depth_zero": lambda nc: nc["depth"].__setitem__((1, 0, 0), 0.0),
    "init_moist_above_pores": lambda nc: nc["init_moist"].__setitem__((0, 0, 0), 500.0),
    "Cv_sum": lambda nc: nc["Cv"].__setitem__((0, 0, 0), 0.5),
    "bulk_above_soil": lambda nc: nc["bulk_density"].__setitem__((0, 0, 0), 2720.0),
    "Wpwp_above_Wcr": lambda nc: nc["Wpwp_FRACT"].__setitem__((0, 0, 0), 0.6),
    "resid_above_wilting": lambda nc: nc["resid_moist"].__setitem__((0, 0, 0), 0.3),
    "Ksat_zero": lambda nc: nc["Ksat"].__setitem__((2, 0, 0), 0.0),
    "quartz_above_one": lambda nc: nc["quartz"].__setitem__((0, 0, 0), 1.5),
    "root_fract_sum": lambda nc: nc["root_fract"].__setitem__((7, slice(None), 0, 0), [0.05, 0.3, 0.15]),
    "LAI_negative": lambda nc: nc["LAI"].__setitem__((10, 5, 0, 0), -1.0),
    "albedo_above_one": lambda nc: nc["albedo"].__setitem__((7, 0, 0, 0), 1.5),
    "avg_T_kelvin": lambda nc: nc["avg_T"].__setitem__(slice(None), nc["avg_T"][:] + 273.15),
    "elev_nodata": lambda nc: nc["elev"].__setitem__((0, 0), -9999.0),
    "AreaFract_sum": lambda nc: nc["AreaFract"].__setitem__((0, 0, 0), 0.8),
    "annual_prec_negative": lambda nc: nc["annual_prec"].__setitem__((0, 0), -5.0),
}


def _vic_inputs(d: Path, files: dict) -> None:
    """A damaged copy of WalnutGulch's parameter file and a global file naming it per VIC_VARIANTS, a
    result on its cells, a few observations and a Region of the intact setup (5 days)."""
    import netCDF4

    from vic_paraformer.vic.importer import region_from_vic

    if not WALNUT_GLOBAL.is_file():
        return
    text = WALNUT_GLOBAL.read_text().replace("${VIC_SAMPLE_DATA}", str(SAMPLE))
    for name, edit in VIC_VARIANTS.items():
        params = d / f"vic_{name}.params.nc"
        shutil.copyfile(WALNUT_PARAMS, params)
        params.chmod(0o644)
        with netCDF4.Dataset(params, "a") as nc:
            edit(nc)
        glob = d / f"vic_{name}.global.txt"
        glob.write_text("\n".join(f"PARAMETERS {params}" if ln.startswith("PARAMETERS") else ln
                                  for ln in text.splitlines()) + "\n")
        files[f"vic_{name}"], files[f"vic_params_{name}"] = glob, params
    region = region_from_vic(WALNUT_GLOBAL, variables={"VIC_SAMPLE_DATA": str(SAMPLE)}, end="2008-01-05")
    files["vic_region"] = region.save(d / "vic_region.nc")
    space = ParameterSpace.preset("vic")
    params = space.to_dataset(np.tile(space.midpoint(), (region.n_cells, 1)), region.cells).assign_coords(
        lat=("cell", region.ds["lat"].values), lon=("cell", region.ds["lon"].values))
    files["vic_result"] = CalibrationResult(params=params, strategy="fixed", parameter_space=space).save(
        d / "vic_result.nc")
    files["vic_obs"] = d / "vic_obs.csv"
    files["vic_obs"].write_text("time,lat,lon,obs_sm\n2008-01-02,31.65625,-110.15625,0.2\n")


#: Run configurations of the "options: checked before any work" block.
CONFIG_VARIANTS = {
    "ngs": "strategy: paraformer_a\noptions:\n  ngs: 3\n  epochs: 1\n",
    "bad_value": "strategy: sceua\noptions:\n  ngs: 0\n",
    "nan": "strategy: sceua\noptions:\n  wb_weight: .nan\n",
    "train": "epochs: 0\npreset: test\n",
    "seed": "seed: -1\n",
}
# ---------------------------------------------------------------- files: the real culprit named (fixtures)
SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
WALNUT = SAMPLE / "image/WalnutGulch"


def _with_attrs(src: Path, dst: Path, **attrs) -> Path:
    """A byte copy of netCDF ``src`` with global attributes set (a file from another version)."""
    import netCDF4

    shutil.copyfile(src, dst)
    with netCDF4.Dataset(dst, "a") as nc:
        nc.setncatts(attrs)
    return dst


def _torch_with(src: Path, dst: Path, **entries) -> Path:
    import torch

    data = torch.load(src, weights_only=True)
    data.update(entries)
    torch.save(data, dst)
    return dst


def _model_file(region_path: Path, out: Path) -> Path:
    """A small (untrained) DL model file of the catalogue region, written through the model-file API."""
    from vic_paraformer.dl import model_file
    from vic_paraformer.dl.inputs import InputNormalization
    from vic_paraformer.dl.networks import build_network, network_config
    from vic_paraformer.region import Region

    region = Region.open(region_path)
    space = ParameterSpace.preset("vic")
    config = network_config("ffn_a", len(region.attribute_names), 0, space.n, {"hidden_size": 8, "dropout": 0.0})
    norm = InputNormalization.fit(region, np.arange(region.n_cells))
    return model_file.save(out, build_network(config), model_file.payload(
        strategy="ffn_a", network_config=config, uses_series=False, window=60, param_windows=1, normalization=norm,
        parameter_space=space, options={}, seed=0, train_cells=region.training_cells, obs_operator=None))


def _vic_setup(d: Path, name: str, *, params: Path | None = None, domain: Path | None = None,
               forcing_prefix: str | None = None) -> Path:
    """A copy of the WalnutGulch global file naming the given (damaged) copies; the rest stays the sample's."""
    text = (WALNUT / "parameters/global_param.WalnutGulch.MOD_IGBP.txt").read_text()
    text = text.replace("${VIC_SAMPLE_DATA}", str(SAMPLE)).replace("${VIC_SAMPLE_RESULTS}", str(d))
    lines = []
    for ln in text.splitlines():
        key = ln.split()[0] if ln.split() else ""
        if key == "PARAMETERS" and params is not None:
            ln = f"PARAMETERS {params}"
        elif key == "DOMAIN" and domain is not None:
            ln = f"DOMAIN {domain}"
        elif key == "FORCING1" and forcing_prefix is not None:
            ln = f"FORCING1 {forcing_prefix}"
        lines.append(ln)
    out = d / f"global.{name}.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def _nc_edit(src: Path, dst: Path, edit) -> Path:
    with xr.open_dataset(src, decode_times=False) as ds:
        ds = ds.load()
    edit(ds).to_netcdf(dst)
    return dst


def _file_variants(d: Path, files: dict) -> None:
    """Damaged, foreign-version and misplaced copies of the toolkit's files, and damaged copies of a real
    VIC sample setup (WalnutGulch, 10 days; skipped cases without the sample data)."""
    files["model"] = _model_file(files["region"], d / "model.pt")
    files["truncated_model"] = d / "truncated_model.pt"
    files["truncated_model"].write_bytes(files["model"].read_bytes()[:-200])
    files["model_v9"] = _torch_with(files["model"], d / "model_v9.pt", version=9)
    files["surrogate_v2"] = _torch_with(files["surrogate"], d / "surrogate_v2.pt", version=2,
                                        versions={"vic-paraformer": "9.0.0"})
    files["surrogate_cut_late"] = d / "surrogate_cut_late.pt"
    files["surrogate_cut_late"].write_bytes(files["surrogate"].read_bytes()[:-100])
    files["truncated_result"] = d / "truncated_result.nc"
    data = files["result"].read_bytes()
    files["truncated_result"].write_bytes(data[:len(data) * 2 // 3])
    files["result_v2"] = _with_attrs(files["result"], d / "result_v2.nc", vic_paraformer_format_version=2,
                                     vic_paraformer_version="9.0.0")
    files["region_v2"] = _with_attrs(files["region"], d / "region_v2.nc", vic_paraformer_format_version=2,
                                     vic_paraformer_version="9.0.0")
    files["simulation"] = d / "simulation.nc"
    assert main(["-q", "simulate", "--region", str(files["region"]), "--params", "true", "--out",
                 str(files["simulation"])]) == 0
    if not (WALNUT / "parameters").is_dir():
        return
    v = d / "vic"
    v.mkdir()
    params = WALNUT / "parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
    domain = WALNUT / "parameters/domain.WalnutGulch.0.0625_deg.nc"
    forcing = WALNUT / "forcings/livneh_NAmerExt_15Oct2014.WalnutGulch.2008.nc"
    files["vx_global"] = _vic_setup(v, "ok")
    files["vx_params"] = params
    files["vx_params_truncated"] = v / "params_truncated.nc"
    files["vx_params_truncated"].write_bytes(params.read_bytes()[:60000])
    files["vx_global_params_truncated"] = _vic_setup(v, "params_truncated", params=files["vx_params_truncated"])
    files["vx_global_expt_2d"] = _vic_setup(v, "expt_2d", params=_nc_edit(
        params, v / "params_expt_2d.nc", lambda ds: ds.assign(expt=(("lat", "lon"), ds["expt"].values[0]))))
    files["vx_global_mask_lonlat"] = _vic_setup(v, "mask_lonlat", domain=_nc_edit(
        domain, v / "domain_mask_lonlat.nc", lambda ds: ds.assign(mask=(("lon", "lat"), ds["mask"].values.T))))
    (v / "forcing_cut").mkdir()
    (v / "forcing_cut" / "f.2008.nc").write_bytes(forcing.read_bytes()[:1_000_000])
    files["vx_global_forcing_truncated"] = _vic_setup(v, "forcing_truncated", forcing_prefix=f"{v}/forcing_cut/f.")
    (v / "forcing_dims").mkdir()
    _nc_edit(forcing, v / "forcing_dims" / "f.2008.nc",
             lambda ds: ds.assign(prec=(("lat", "lon", "time"), ds["prec"].values.transpose(1, 2, 0))))
    files["vx_global_forcing_dims"] = _vic_setup(v, "forcing_dims", forcing_prefix=f"{v}/forcing_dims/f.")
    with xr.open_dataset(domain) as dom:
        lat, lon = dom["lat"].values, dom["lon"].values
    rows = [{"time": "2008-01-02", "lat": la, "lon": lo, "obs_sm": 25.0 + i} for i, la in enumerate(lat) for lo in lon]
    import pandas as pd

    files["vx_obs"] = v / "obs.csv"
    pd.DataFrame(rows).assign(obs_sm=0.2).to_csv(files["vx_obs"], index=False)
    files["vx_obs_percent"] = v / "obs_percent.csv"
    pd.DataFrame(rows).to_csv(files["vx_obs_percent"], index=False)
    files["vx_region"] = v / "vic_region.nc"
    assert main(["-q", "vic", "import", "--global", str(files["vx_global"]), "--out", str(files["vx_region"])]) == 0


@pytest.fixture(scope="module")
def inp(tmp_path_factory):
    """Every input file of the catalogue, built once."""
    d = tmp_path_factory.mktemp("inputs")
    region = synthetic_region(ny=3, nx=3, years=1, seed=0)
    files = {"region": region.save(d / "region.nc")}
    with xr.open_dataset(files["region"]) as ds:  # closed: a file left open across training crashes HDF5 later
        base = ds.load()
    for name, edit in REGION_VARIANTS.items():
        files[name] = d / f"{name}.nc"
        _save_raw(_variant(base, edit), files[name])
    space = ParameterSpace.preset("vic")
    values = np.tile(space.midpoint(), (region.n_cells, 1))
    params = space.to_dataset(values, region.cells).assign_coords(lat=("cell", region.ds["lat"].values),
                                                                  lon=("cell", region.ds["lon"].values))
    result = CalibrationResult(params=params, strategy="fixed", parameter_space=space,
                               train_cells=region.training_cells)
    files["result"] = result.save(d / "result.nc")
    with xr.open_dataset(files["result"]) as ds:
        rds = ds.load()
    files["result_no_Ws"] = d / "result_no_Ws.nc"
    _save_raw(rds.drop_vars("Ws"), files["result_no_Ws"])
    files["result_Ws_out"] = d / "result_Ws_out.nc"
    _save_raw(rds.assign(Ws=rds["Ws"] * 0 + 1.5), files["result_Ws_out"])
    files["result_moved"] = d / "result_moved.nc"
    _save_raw(rds.assign_coords(lat=rds["lat"] + 30.0), files["result_moved"])
    files["text"] = d / "notes.txt"
    files["text"].write_text("some notes\n")
    files["global"] = d / "global.txt"
    files["global"].write_text("MODEL_STEPS_PER_DAY 1\nPARAMETERS params.nc\n")
    files["obs_csv"] = d / "obs.csv"
    files["obs_csv"].write_text("cell,time,obs_sm\n0,2015-04-01,0.2\n")
    files["bad_yaml"] = d / "run.yaml"
    files["bad_yaml"].write_text("options: [1\n")
    files["truncated_region"] = d / "truncated.nc"
    files["truncated_region"].write_bytes(files["region"].read_bytes()[:2000])
    files["surrogate"] = d / "surrogate.pt"
    rc = main(["-q", "surrogate", "train", "--region", str(files["region"]), "--out", str(files["surrogate"]),
               "--preset", "test", "--epochs", "1", "--samples", "4", "--hidden", "8", "--no-progress"])
    assert rc == 0 and files["surrogate"].exists()
    files["truncated_surrogate"] = d / "truncated.pt"
    files["truncated_surrogate"].write_bytes(files["surrogate"].read_bytes()[:3000])
    files["template"] = files["result"]  # any netCDF stands for a VIC parameter template here
    (d / "sub").mkdir()
    os.symlink(files["region"], d / "link_to_region.nc")
    files["link"] = d / "link_to_region.nc"
    files["dotdot"] = d / "sub" / ".." / "region.nc"
    files["dir"] = d
    _vic_inputs(d, files)
    # --- options: checked before any work (run configurations with settings that do not fit) ---
    for name, text in CONFIG_VARIANTS.items():
        files[f"cfg_{name}"] = d / f"{name}.yaml"
        files[f"cfg_{name}"].write_text(text)
    _file_variants(d, files)
    # --- station networks and observation formats -------------------------------------------
    from test_stations import write_network

    for name, kw in (("net", {}), ("net_stuck", {"stuck": "B"}), ("net_hot", {"hot": "C"}),
                     ("net_missing", {"drop_table": "C"})):
        net = write_network(d / name, **kw)
        files[f"{name}_met"], files[f"{name}_table"] = net / "met", net / "stations.csv"
    files["net_obs"] = d / "net" / "obs.csv"
    files["obs_offsets"] = d / "obs_offsets.csv"
    files["obs_offsets"].write_text("site,time,obs_sm\nA,2016-05-02T06:00:00-06:00,0.21\nB,2016-05-02T12:00:00Z,0.22\n")
    files["obs_header_only"] = d / "obs_header_only.csv"
    files["obs_header_only"].write_text("site,time,obs_sm\n")
    # quiet and tidy: a region recorded as made with VIC (a waterbalance surrogate then warns)
    files["region_vic"] = d / "region_vic.nc"
    _save_raw(base.assign_attrs(simulator="vic"), files["region_vic"])
    return files


def _digest(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# case id -> (argv with {placeholders}, exit code, text the error line must contain)
CASES: dict[str, tuple[str, int, str]] = {
    # outputs that are inputs (refused whatever --overwrite says)
    "train-out-is-region": ("surrogate train --region {region} --out {region}", 1, "is the input --region"),
    "simulate-out-is-region": ("simulate --region {region} --params true --out {region}", 1, "is the input --region"),
    "simulate-out-is-params": ("simulate --region {region} --params {result} --out {result} --overwrite", 1,
                               "is the input --params"),
    "calibrate-model-out-is-surrogate": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                                         "--out {out}/r.nc --model-out {surrogate}", 1, "is the input --surrogate"),
    "calibrate-model-out-is-region": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                                      "--out {out}/r.nc --model-out {region}", 1, "is the input --region"),
    "calibrate-out-is-surrogate": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} "
                                   "--out {surrogate}", 1, "is the input --surrogate"),
    "calibrate-out-is-region": ("calibrate --region {region} --strategy sceua --out {region}", 1, "is the input --region"),
    "calibrate-out-symlink-to-region": ("calibrate --region {region} --strategy sceua --out {link}", 1,
                                        "is the input --region"),
    "calibrate-out-dotdot-region": ("calibrate --region {region} --strategy sceua --out {dotdot}", 1,
                                    "is the input --region"),
    "calibrate-out-equals-model-out": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                                       "--out {out}/x --model-out {out}/x", 1, "same file as --out"),
    "apply-out-is-model": ("calibrate --apply {surrogate} --region {region} --out {surrogate}", 1, "is the input --apply"),
    "vic-import-out-is-global": ("vic import --global {global} --out {global}", 1, "is the input --global"),
    "vic-import-out-is-obs": ("vic import --global {global} --obs {obs_csv} --out {obs_csv}", 1, "is the input --obs"),
    "vic-run-out-is-global": ("vic run --global {global} --out {global}", 1, "is the input --global"),
    "vic-verify-out-holds-obs": ("vic verify --global {global} --result {result} --obs {obs_csv} --out {dir}", 1,
                                 "holding the input"),
    "write-params-out-is-template": ("vic write-params --template {template} --result {region} --out {template}", 1,
                                     "is the input --template"),
    "evaluate-out-is-result": ("evaluate --region {region} --result {result} --out {result}", 1, "is the input --result"),
    "evaluate-out-is-region": ("evaluate --region {region} --result {result} --out {region}", 1, "is the input --region"),
    "benchmark-out-holds-region": ("benchmark --quick --region {region} --out {dir}", 1, "holding the input --region"),
    "surrogate-evaluate-out-holds-surrogate": ("surrogate evaluate --surrogate {surrogate} --region {region} "
                                               "--out {dir}", 1, "holding the input"),
    # outputs of another kind, or unusable places
    "simulate-out-over-text": ("simulate --region {region} --params true --out {text}", 1,
                               "exists and is a text file"),
    "synth-out-over-surrogate": ("synth --out {surrogate} --ny 2 --nx 2 --years 0.1", 1,
                                 "exists and is a surrogate checkpoint"),
    "calibrate-out-over-foreign-netcdf": ("calibrate --region {region} --strategy sceua --out {region_copy}", 1,
                                          "exists and is a vic_paraformer region"),
    "evaluate-out-over-region-copy": ("evaluate --region {region} --result {result} --out {region_copy}", 1,
                                      "--overwrite"),
    "calibrate-out-is-folder": ("calibrate --region {region} --strategy sceua --out {out}", 1, "is a folder"),
    "simulate-out-under-file": ("simulate --region {region} --params true --out {out}/f.txt/sim.nc", 1,
                                "is a file, not a folder"),
    "synth-out-read-only": ("synth --out /proc/vicpf-region.nc --ny 2 --nx 2", 1, "cannot write in folder /proc"),
    "benchmark-out-is-file": ("benchmark --quick --out {text}", 1, "not a folder"),
    "surrogate-evaluate-out-is-file": ("surrogate evaluate --surrogate {surrogate} --region {region} --out {text}", 1,
                                       "not a folder"),
    "demo-out-is-file": ("demo --out {text}", 1, "not a folder"),
    "train-store-is-file": ("surrogate train --region {region} --out {out}/s.pt --store {text}", 1, "--store"),
    # forcing and observation units / signs
    "air-temp-kelvin": ("simulate --region {air_temp_K} --params true --out {out}/s.nc", 1, "looks like K"),
    "pressure-pascal": ("simulate --region {pressure_Pa} --params true --out {out}/s.nc", 1, "looks like Pa"),
    "pressure-hpa": ("simulate --region {pressure_hPa} --params true --out {out}/s.nc", 1, "looks like hPa"),
    "vp-pascal": ("simulate --region {vp_Pa} --params true --out {out}/s.nc", 1, "'vp'"),
    "prec-m-per-day": ("simulate --region {prec_m_day} --params true --out {out}/s.nc", 1, "looks like m/day"),
    "prec-kg-per-s": ("simulate --region {prec_kg_s} --params true --out {out}/s.nc", 1, "kg m-2 s-1"),
    "prec-negative": ("simulate --region {prec_negative} --params true --out {out}/s.nc", 1, "negative precipitation"),
    "swdown-negative": ("simulate --region {swdown_negative} --params true --out {out}/s.nc", 1,
                        "negative values in forcing 'swdown'"),
    "lwdown-negative": ("simulate --region {lwdown_negative} --params true --out {out}/s.nc", 1, "'lwdown'"),
    "wind-negative": ("simulate --region {wind_negative} --params true --out {out}/s.nc", 1, "wind component"),
    "air-temp-nan": ("simulate --region {air_temp_nan} --params true --out {out}/s.nc", 1, "'air_temp' is not finite"),
    "obs-et-negative": ("evaluate --region {obs_et_negative} --result {result} --out {out}/m.json", 1,
                        "negative values in observation 'obs_et'"),
    "obs-et-latent-heat": ("evaluate --region {obs_et_Wm2} --result {result} --out {out}/m.json", 1, "W m-2"),
    "obs-sm-percent": ("evaluate --region {obs_sm_percent} --result {result} --out {out}/m.json", 1, "percent"),
    "units-unknown-attribute": ("simulate --region {units_odd} --params true --out {out}/s.nc", 0,
                                "units attribute 'furlongs per fortnight' not recognised"),
    "units-kelvin-attribute-converted": ("simulate --region {units_K} --params true --out {out}/s.nc", 0,
                                         "converted air_temp from K to degC"),
    "obs-sm-above-porosity": ("simulate --region {obs_sm_above_porosity} --params true --out {out}/s.nc", 0,
                              "exceeds the porosity"),
    # region schema and files
    "region-duplicate-ids": ("simulate --region {duplicate_ids} --params true --out {out}/s.nc", 1,
                             "cell ids must be unique"),
    "region-wrong-dims": ("simulate --region {wind_dims} --params true --out {out}/s.nc", 1, "variable 'wind' has dims"),
    "region-missing-var": ("simulate --region {no_wind} --params true --out {out}/s.nc", 1, "missing variable 'wind'"),
    "region-lat-out-of-range": ("simulate --region {lat_bad} --params true --out {out}/s.nc", 1, "is 95; expected"),
    "region-not-daily": ("simulate --region {not_daily} --params true --out {out}/s.nc", 1, "not daily"),
    "region-is-text": ("simulate --region {text} --params true --out {out}/s.nc", 1, "is a text file, not a netCDF region"),
    "region-missing": ("simulate --region {out}/nope.nc --params true --out {out}/s.nc", 1, "region file not found"),
    "region-is-folder": ("simulate --region {dir} --params true --out {out}/s.nc", 1, "is a folder"),
    "region-truncated": ("simulate --region {truncated_region} --params true --out {out}/s.nc", 1,
                         "damaged or truncated"),
    "region-without-obs-calibrate": ("calibrate --region {no_obs} --strategy sceua --surrogate {surrogate} "
                                     "--out {out}/r.nc", 1, "obs_sm"),
    # calibration results
    "result-missing-Ws": ("evaluate --region {region} --result {result_no_Ws} --out {out}/m.json", 1,
                          "lacks parameter variable(s) Ws"),
    "result-out-of-bounds-file": ("evaluate --region {region} --result {result_Ws_out} --out {out}/m.json", 1,
                                  "result file has Ws=1.5"),
    "result-elsewhere": ("evaluate --region {region} --result {result_moved} --out {out}/m.json", 1,
                         "result_moved.nc: calibration result was made for another region or grid: its cell"),
    "result-is-text": ("evaluate --region {region} --result {text} --out {out}/m.json", 1,
                       "is a text file, not a calibration result"),
    "result-is-region": ("evaluate --region {region} --result {region} --out {out}/m.json", 1,
                         "is a vic_paraformer region (netCDF), not a calibration result"),
    "simulate-params-missing-var": ("simulate --region {region} --params {result_no_Ws} --out {out}/s.nc", 1,
                                    "lacks parameter variable(s) ['Ws']"),
    # surrogate files (no torch advice passed on)
    "surrogate-is-text": ("surrogate evaluate --surrogate {text} --region {region}", 1,
                          "is a text file, not a surrogate checkpoint"),
    "surrogate-truncated": ("surrogate evaluate --surrogate {truncated_surrogate} --region {region}", 1,
                            "the surrogate checkpoint is damaged or truncated"),
    "surrogate-is-region": ("surrogate evaluate --surrogate {region} --region {region}", 1,
                            "not a surrogate checkpoint"),
    "apply-model-is-text": ("calibrate --apply {text} --region {region} --out {out}/r.nc", 1,
                            "is a text file, not a DL model file"),
    # options
    "max-time-negative": ("surrogate train --region {region} --out {out}/s.pt --max-time -1", 2,
                          "argument --max-time: expected a number > 0, got -1"),
    "threads-zero": ("surrogate train --region {region} --out {out}/s.pt --threads 0", 2,
                     "argument --threads: expected an integer >= 1, got 0"),
    "epochs-zero": ("surrogate train --region {region} --out {out}/s.pt --epochs 0", 2, "argument --epochs"),
    "samples-text": ("surrogate train --region {region} --out {out}/s.pt --samples many", 2,
                     "argument --samples: expected an integer >= 1, got 'many'"),
    "period-not-dates": ("evaluate --region {region} --result {result} --out {out}/m.json --period foo bar", 2,
                         "period start 'foo' is not a date"),
    "period-reversed": ("evaluate --region {region} --result {result} --out {out}/m.json --period 2015-09-01 "
                        "2015-06-01", 2, "after it ends"),
    "period-without-observations": ("evaluate --region {region} --result {result} --out {out}/m.json --period "
                                    "2030-01-01 2030-02-01", 1, "period 2030-01-01..2030-02-01 has no days"),
    "simulate-period-not-dates": ("simulate --region {region} --params true --out {out}/s.nc --period x y", 2,
                                  "period start 'x' is not a date"),
    "n-workers-zero": ("simulate --region {region} --params true --out {out}/s.nc --n-workers 0", 2,
                       "argument --n-workers"),
    "synth-years-zero": ("synth --out {out}/r.nc --years 0", 2, "argument --years: expected a number > 0"),
    "synth-noise-negative": ("synth --out {out}/r.nc --sm-noise -0.1", 2, "argument --sm-noise"),
    "seed-not-int": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --seed x", 2, "argument --seed"),
    "strategy-unknown": ("calibrate --region {region} --strategy nope --out {out}/r.nc", 2, "unknown strategy 'nope'"),
    "option-without-value": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --option ngs", 2,
                             "option 'ngs' is not key=value"),
    "option-unknown": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --option bogus=1", 2,
                       "unknown option(s) ['bogus']"),
    "variables-unknown": ("evaluate --region {region} --result {result} --out {out}/m.json --variables foo", 2,
                          "cannot evaluate variable(s) ['foo']"),
    "calibrate-no-region": ("calibrate --strategy sceua --out {out}/r.nc", 2, "--region is required"),
    "config-bad-yaml": ("calibrate --config {bad_yaml} --region {region} --out {out}/r.nc", 1,
                        "run.yaml: not valid YAML (line 2, column 1"),
    "config-missing": ("calibrate --config {out}/nope.yaml --region {region} --out {out}/r.nc", 1,
                       "configuration file not found"),
    "synth-start-not-date": ("synth --out {out}/r.nc --start foo", 2, "argument --start: expected a date"),
    "benchmark-unknown-strategy": ("benchmark --quick --strategies nope --out {out}/b", 2,
                                   "--strategies: unknown strategy 'nope'"),
    "train-cells-bad-spec": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --train-cells das:x", 2,
                             "--train-cells 'das:x'"),
    "train-cells-unknown-id": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --train-cells 999", 1,
                               "cell id(s) [999] not in the region"),
    "train-period-not-dates": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --train-period foo "
                               "bar", 2, "'foo' is not a date"),
    "parameter-space-unknown": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --parameter-space "
                                "nope", 2, "unknown parameter preset 'nope'"),
    "surrogate-not-found": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --surrogate "
                            "{out}/nope.pt", 1, "nope.pt not found"),
    "simulator-unknown": ("simulate --region {region} --params true --out {out}/s.nc --simulator nope", 2,
                          "unknown simulator 'nope'"),
    "simulator-option-unknown": ("simulate --region {region} --params true --out {out}/s.nc --option bogus=1", 2,
                                 "unknown option(s) ['bogus'] for simulator 'waterbalance'"),
    "surrogate-preset-unknown": ("surrogate train --region {region} --out {out}/s.pt --preset nope", 2,
                                 "unknown surrogate preset 'nope'"),
    "refine-out-dir-is-file": ("refine --region {region} --strategy sceua --surrogate {surrogate} --out-dir {text}",
                               1, "--out-dir"),
    "refine-out-dir-holds-surrogate": ("refine --region {region} --strategy sceua --surrogate {surrogate} "
                                       "--out-dir {dir}", 1, "holding the input"),
    # strategies: nothing to train on, surrogate made for other bounds or another simulator
    "dl-all-obs-in-warmup": ("calibrate --region {obs_early} --strategy paraformer_z --surrogate {surrogate} "
                             "--out {out}/r.nc -o epochs=1", 1, "is usable: all lie in the surrogate's"),
    "sceua-all-obs-in-warmup": ("calibrate --region {obs_early} --strategy sceua --surrogate {surrogate} "
                                "--out {out}/r.nc", 1, "have no obs_sm after the"),
    "sceua-surrogate-other-bounds": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} "
                                     "--parameter-space paper --out {out}/r.nc", 1, "surrogate trained on bounds"),
    "dl-surrogate-other-bounds": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                                  "--parameter-space paper --out {out}/r.nc -o epochs=1", 1,
                                  "surrogate trained on bounds"),
    "sceua-surrogate-other-simulator": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} "
                                        "-o simulator=vic --out {out}/r.nc", 2,
                                        "sceua takes surrogate or simulator, not both"),
    "dl-non-finite-loss": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                           "--out {out}/r.nc -o epochs=2 -o lr=1e30", 1, "non-finite training loss at epoch 1"),
    "vic-export-out-holds-template": ("vic export --region {region} --template {template} --out {dir}", 1,
                                      "holding the input"),
    "vic-export-out-is-file": ("vic export --region {region} --template {template} --out {text}", 1, "not a folder"),
    "vic-timeout-zero": ("vic run --global {global} --out {out}/s.nc --timeout 0", 2, "argument --timeout"),
    # physical plausibility of VIC inputs
    "vic-import-Dsmax-negative": ("vic import --global {vic_Dsmax_negative} --out {out}/r.nc", 1,
                                  "vic_Dsmax_negative.params.nc: Dsmax = -5 at cell lat 31.6562, lon -110.1562 is "
                                  "outside the physically plausible range: Dsmax >= 0"),
    "vic-import-Ws-zero": ("vic import --global {vic_Ws_zero} --out {out}/r.nc", 1,
                           "Ws = 0 at cell lat 31.6562, lon -110.1562 is outside the physically plausible range: "
                           "0 < Ws < 1; 14 more cell(s) fail"),
    "vic-import-Ws-above-one": ("vic import --global {vic_Ws_above_one} --out {out}/r.nc", 1,
                                "Ws = 1.2 at cell lat 31.7188, lon -110.0312"),
    "vic-import-infilt-huge": ("vic import --global {vic_infilt_huge} --out {out}/r.nc", 1,
                               "infilt = 1e+20 at cell lat 31.6562, lon -110.1562 is outside the physically "
                               "plausible range: 0 < infilt <= 1; 14 more cell(s) fail"),
    "vic-import-infilt-negative": ("vic import --global {vic_infilt_negative} --out {out}/r.nc", 1,
                                   "infilt = -0.1 at cell lat 31.6562, lon -110.0938"),
    "vic-import-Ds-negative": ("vic import --global {vic_Ds_negative} --out {out}/r.nc", 1,
                               "Ds = -0.1 at cell lat 31.6562, lon -110.1562 is outside the physically plausible "
                               "range: 0 <= Ds <= 1"),
    "vic-import-Ds-above-one": ("vic import --global {vic_Ds_above_one} --out {out}/r.nc", 1, "Ds = 1.5"),
    "vic-import-expt-below-3": ("vic import --global {vic_expt_low} --out {out}/r.nc", 1,
                                "expt (layer 1) = 2 at cell lat 31.6562, lon -110.1562 is outside the physically "
                                "plausible range: expt >= 3"),
    "vic-import-depth-zero": ("vic import --global {vic_depth_zero} --out {out}/r.nc", 1,
                              "depth (layer 2) = 0 at cell lat 31.6562, lon -110.1562 is outside the physically "
                              "plausible range: 0.001 <= depth <= 50"),
    "vic-import-init-moist-above-pores": ("vic import --global {vic_init_moist_above_pores} --out {out}/r.nc", 1,
                                          "init_moist (layer 1) = 500 at cell lat 31.6562, lon -110.1562 is outside "
                                          "the physically plausible range: init_moist <= porosity x depth x 1000"),
    "vic-import-Cv-sum": ("vic import --global {vic_Cv_sum} --out {out}/r.nc", 1,
                          "Cv (sum over the tiles) = 1.5 at cell lat 31.6562, lon -110.1562 is outside the physically "
                          "plausible range: sum of Cv over the tiles <= 1"),
    "vic-import-bulk-above-soil-density": ("vic import --global {vic_bulk_above_soil} --out {out}/r.nc", 1,
                                           "bulk_density (layer 1) = 2720 at cell lat 31.6562, lon -110.1562 is "
                                           "outside the physically plausible range: bulk_density < soil_density"),
    "vic-import-Wpwp-above-Wcr": ("vic import --global {vic_Wpwp_above_Wcr} --out {out}/r.nc", 1,
                                  "Wpwp_FRACT (layer 1) = 0.6 at cell lat 31.6562, lon -110.1562 is outside the "
                                  "physically plausible range: Wpwp_FRACT <= Wcr_FRACT"),
    "vic-import-resid-above-wilting": ("vic import --global {vic_resid_above_wilting} --out {out}/r.nc", 1,
                                       "resid_moist <= Wpwp_FRACT x porosity"),
    "vic-import-Ksat-zero": ("vic import --global {vic_Ksat_zero} --out {out}/r.nc", 1,
                             "Ksat (layer 3) = 0 at cell lat 31.6562, lon -110.1562"),
    "vic-import-quartz-above-one": ("vic import --global {vic_quartz_above_one} --out {out}/r.nc", 1,
                                    "quartz (layer 1) = 1.5"),
    "vic-import-root-fract-sum": ("vic import --global {vic_root_fract_sum} --out {out}/r.nc", 1,
                                  "root_fract (tile 8, sum over the zones) = 0.5 at cell lat 31.6562"),
    "vic-import-LAI-negative": ("vic import --global {vic_LAI_negative} --out {out}/r.nc", 1,
                                "LAI (tile 11, month 6) = -1 at cell lat 31.6562, lon -110.1562"),
    "vic-import-albedo-above-one": ("vic import --global {vic_albedo_above_one} --out {out}/r.nc", 1,
                                    "albedo (tile 8, month 1) = 1.5"),
    "vic-import-avg-T-kelvin": ("vic import --global {vic_avg_T_kelvin} --out {out}/r.nc", 1,
                                "avg_T = 291.15 at cell lat 31.6562, lon -110.1562 is outside the physically plausible "
                                "range: -60 <= avg_T <= 50; 14 more cell(s) fail"),
    "vic-import-elev-nodata": ("vic import --global {vic_elev_nodata} --out {out}/r.nc", 1,
                               "elev = -9999 at cell lat 31.6562"),
    "vic-import-snow-bands-sum": ("vic import --global {vic_AreaFract_sum} --out {out}/r.nc", 1,
                                  "AreaFract (sum over the bands) = 0.8"),
    "vic-import-annual-prec-negative": ("vic import --global {vic_annual_prec_negative} --out {out}/r.nc", 1,
                                        "annual_prec = -5"),
    "vic-import-allow-out-of-range": ("vic import --global {vic_Ws_zero} --out {out}/r.nc --end 2008-01-03 "
                                      "--allow-out-of-range", 0, "accepted (allow_out_of_range): Ws on 15 cell(s)"),
    "vic-run-infilt-huge": ("vic run --global {vic_infilt_huge} --out {out}/s.nc", 1, "infilt = 1e+20"),
    "vic-verify-original-infilt-huge": ("vic verify --global {vic_infilt_huge} --result {vic_result} --obs {vic_obs} "
                                        "--out {out}/v", 1, "vic_infilt_huge.params.nc: infilt = 1e+20"),
    "vic-write-params-template-Cv-sum": ("vic write-params --template {vic_params_Cv_sum} --result {vic_result} "
                                         "--out {out}/p.nc", 1, "vic_Cv_sum.params.nc: Cv (sum over the tiles) = 1.5 "
                                                                "at cell lat 31.6562, lon -110.1562"),
    "vic-write-params-allow-out-of-range": ("vic write-params --template {vic_params_Cv_sum} --result {vic_result} "
                                            "--out {out}/p.nc --allow-out-of-range", 0,
                                            "accepted (allow_out_of_range): Cv on 1 cell(s)"),
    "vic-export-template-albedo-above-one": ("vic export --region {vic_region} --template {vic_params_albedo_above_one} "
                                             "--out {out}/x", 1, "(as written to params.nc): albedo (tile 8, month 1) "
                                                                 "= 1.5 at cell lat 31.6562"),
    # options: checked before any work
    "obs-operator-unknown": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} --out {out}/r.nc "
                             "--obs-operator bogus", 2, "unknown observation operator 'bogus'"),
    "refine-rounds-negative": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                               "--out {out}/r.nc --refine-rounds -2", 2,
                               "argument --refine-rounds: expected an integer >= 0, got -2"),
    "anchor-share-above-one": ("surrogate train --region {region} --out {out}/s.pt --anchor-share 2", 2,
                               "--anchor-share 2.0: expected a finite number in [0, 1)"),
    "anchor-share-nan": ("surrogate train --region {region} --out {out}/s.pt --anchor-share nan", 2,
                         "argument --anchor-share: expected a finite number, got 'nan'"),
    "dl-lr-nan": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} --out {out}/r.nc "
                  "-o lr=.nan", 2, "--option lr=.nan: lr must be a finite number"),
    "dl-lr-inf": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} --out {out}/r.nc "
                  "-o lr=inf", 2, "--option lr=inf: lr must be a finite number"),
    "dl-epochs-nan": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} --out {out}/r.nc "
                      "-o epochs=nan", 2, "--option epochs=nan: epochs must be a finite number"),
    "dl-lr-negative": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} --out {out}/r.nc "
                       "-o lr=-0.1", 2, "lr must be a finite number > 0, got -0.1"),
    "dl-weight-decay-negative": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                                 "--out {out}/r.nc -o weight_decay=-1", 2, "weight_decay must be a finite number >= 0"),
    "sceua-pcento-nan": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} --out {out}/r.nc "
                         "-o pcento=.nan", 2, "pcento must be a finite number"),
    "sceua-ngs-zero": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} --out {out}/r.nc "
                       "-o ngs=0", 2, "ngs (number of complexes) must be a positive integer, got 0"),
    "wb-weight-inf": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} --out {out}/r.nc "
                      "-o wb_weight=1e400", 2, "wb_weight must be a finite number"),
    "train-samples-one": ("surrogate train --region {region} --out {out}/s.pt --samples 1", 2,
                          "--samples 1: a surrogate needs at least 4 parameter samples per cell"),
    "benchmark-surrogate-samples-two": ("benchmark --quick --out {out}/b --surrogate-samples 2", 2,
                                        "--surrogate-samples 2: a surrogate needs at least 4"),
    "config-option-not-for-strategy": ("calibrate --config {cfg_ngs} --region {region} --surrogate {surrogate} "
                                       "--out {out}/r.nc", 2,
                                       "option 'ngs' from config ngs.yaml does not apply to strategy 'paraformer_a'; "
                                       "its options are:"),
    "config-option-value-invalid": ("calibrate --config {cfg_bad_value} --region {region} --surrogate {surrogate} "
                                    "--out {out}/r.nc", 2, "(ngs set in config bad_value.yaml)"),
    "config-option-nan": ("calibrate --config {cfg_nan} --region {region} --surrogate {surrogate} --out {out}/r.nc",
                          2, "option wb_weight from config nan.yaml: expected a finite number"),
    "config-train-epochs-zero": ("surrogate train --config {cfg_train} --region {region} --out {out}/s.pt", 2,
                                 "--epochs from config train.yaml: expected an integer >= 1, got 0"),
    "config-seed-negative": ("calibrate --config {cfg_seed} --region {region} --strategy sceua --out {out}/r.nc", 2,
                             "--seed -1 from config seed.yaml: expected a whole number >= 0"),
    "refine-strategy-option-unknown": ("refine --region {region} --strategy sceua --surrogate {surrogate} "
                                       "--out-dir {out}/ref -o bogus=1", 2, "unknown option(s) ['bogus']"),
    "refine-sigma-nan": ("refine --region {region} --strategy sceua --surrogate {surrogate} --out-dir {out}/ref "
                         "--sigma nan", 2, "argument --sigma: expected a number >= 0, got 'nan'"),
    "spinup-negative": ("evaluate --region {region} --result {result} --out {out}/m.json --spinup-years -1", 2,
                        "argument --spinup-years: expected an integer >= 0, got -1"),
    "evaluate-simulator-option-nan": ("evaluate --region {region} --result {result} --out {out}/m.json "
                                      "--simulator-option max_batch=.nan", 2,
                                      "--simulator-option max_batch=.nan: max_batch must be a finite number"),
    "refine-without-surrogate": ("calibrate --region {region} --strategy sceua -o simulator=waterbalance "
                                 "--out {out}/r.nc --refine-rounds 2", 2, "refinement needs a surrogate"),
    "synth-obs-interval-reversed": ("synth --out {out}/r.nc --obs-interval 3 1", 2,
                                    "--obs-interval 3 1: expected 1 <= MIN <= MAX days"),
    "synth-lat-out-of-range": ("synth --out {out}/r.nc --lat 100", 2, "--lat 100.0: expected a finite number in [-90, 90]"),
    "vic-start-not-date": ("vic import --global {global} --out {out}/r.nc --start foo", 2,
                           "argument --start: expected a date"),
    "surrogate-evaluate-seed-negative": ("surrogate evaluate --surrogate {surrogate} --region {region} --seed -3", 2,
                                         "argument --seed: expected an integer >= 0, got -3"),
    "calibrate-threads-zero": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                               "--out {out}/r.nc --threads 0", 2, "argument --threads: expected an integer >= 1"),
    # files: the real culprit named
    "model-file-truncated": ("calibrate --apply {truncated_model} --region {region} --out {out}/r.nc", 1,
                             "truncated_model.pt: the DL model file is damaged or truncated"),
    "model-file-is-surrogate": ("calibrate --apply {surrogate} --region {region} --out {out}/r.nc", 1,
                                "surrogate.pt: is a surrogate checkpoint (torch), not a DL model file"),
    "model-file-newer-version": ("calibrate --apply {model_v9} --region {region} --out {out}/r.nc", 1,
                                 "model_v9.pt: the DL model file was written in format version 9"),
    "model-file-other-region": ("calibrate --apply {model} --region {vx_region} --out {out}/r.nc", 1,
                                "model.pt: DL model file was made for another region or grid: trained on attributes"),
    "result-truncated": ("evaluate --region {region} --result {truncated_result} --out {out}/m.json", 1,
                         "truncated_result.nc: the calibration result is damaged or truncated ("),
    "result-newer-version": ("evaluate --region {region} --result {result_v2} --out {out}/m.json", 1,
                             "the calibration result was written in format version 2 by vic_paraformer 9.0.0; "
                             "this vic_paraformer"),
    "surrogate-newer-version": ("surrogate evaluate --surrogate {surrogate_v2} --region {region}", 1,
                                "surrogate_v2.pt: the surrogate checkpoint was written in format version 2 by "
                                "vic_paraformer 9.0.0"),
    "surrogate-truncated-near-end": ("surrogate evaluate --surrogate {surrogate_cut_late} --region {region}", 1,
                                     "surrogate_cut_late.pt: the surrogate checkpoint is damaged or truncated"),
    "surrogate-other-region": ("surrogate evaluate --surrogate {surrogate} --region {vx_region}", 1,
                               "surrogate.pt: surrogate was made for another region or grid: trained on attributes"),
    "region-other-version": ("simulate --region {region_v2} --params true --out {out}/s.nc", 1,
                             "region_v2.nc: the netCDF region was written in format version 2"),
    "region-is-result": ("simulate --region {result} --params true --out {out}/s.nc", 1,
                         "result.nc: is a calibration result (netCDF), not a netCDF region"),
    "params-is-simulation": ("simulate --region {region} --params {simulation} --out {out}/s.nc", 1,
                             "simulation.nc: is a simulation output (netCDF), not a parameter netCDF file"),
    "verify-result-other-region": ("vic verify --global {vx_global} --result {result} --obs {vx_obs} "
                                   "--out {out}/v", 1, "result.nc: calibration result was made for another region "
                                                       "or grid: its 9 cell(s) at lat"),
    "write-params-result-other-region": ("vic write-params --template {vx_params} --result {result} "
                                         "--out {out}/p.nc", 1, "calibration result was made for another region"),
    "write-params-template-truncated": ("vic write-params --template {vx_params_truncated} --result {result} "
                                       "--out {out}/p.nc", 1, "params_truncated.nc: the VIC parameter file is "
                                                              "damaged or truncated (60000 of its"),
    "vic-import-obs-percent": ("vic import --global {vx_global} --obs {vx_obs_percent} --out {out}/r.nc", 1,
                               "obs_percent.csv: column 'obs_sm' reaches 27: looks like percent"),
    "vic-import-params-truncated": ("vic import --global {vx_global_params_truncated} --out {out}/r.nc", 1,
                                    "params_truncated.nc: the parameter file is damaged or truncated"),
    "vic-import-param-wrong-shape": ("vic import --global {vx_global_expt_2d} --out {out}/r.nc", 1,
                                     "params_expt_2d.nc: parameter file variable 'expt' has dims (lat, lon), shape "
                                     "(3, 5); expected (nlayer, lat, lon), shape (3, 3, 5)"),
    "vic-import-domain-mask-dims": ("vic import --global {vx_global_mask_lonlat} --out {out}/r.nc", 1,
                                    "domain_mask_lonlat.nc: domain file variable 'mask' has dims (lon, lat), shape "
                                    "(5, 3); expected (lat, lon), shape (3, 5)"),
    "vic-import-forcing-truncated": ("vic import --global {vx_global_forcing_truncated} --out {out}/r.nc", 1,
                                     "f.2008.nc: the forcing file is damaged or truncated (1000000 of its"),
    "vic-import-forcing-dims": ("vic import --global {vx_global_forcing_dims} --out {out}/r.nc", 1,
                                "f.2008.nc: forcing file variable 'prec' has dims (lat, lon, time), shape (3, 5, "
                                "2928); expected (time, lat, lon)"),
    # station networks and observation formats
    "stations-stuck-shortwave": ("stations --met {net_stuck_met} --stations {net_stuck_table} --out {out}/r.nc", 0,
                                 "station B, swdown: stuck_shortwave"),
    "stations-impossible-temperature": ("stations --met {net_hot_met} --stations {net_hot_table} --out {out}/r.nc", 0,
                                        "station C, air_temp: range"),
    "stations-not-in-table": ("stations --met {net_missing_met} --stations {net_missing_table} --out {out}/r.nc", 1,
                              "station C is not in the stations table"),
    "stations-obs-utc-offsets": ("stations --met {net_met} --stations {net_table} --obs {obs_offsets} --out {out}/r.nc",
                                 0, "obs_sm: 2 of 4 cells with data"),
    "stations-obs-header-only": ("stations --met {net_met} --stations {net_table} --obs {obs_header_only} "
                                 "--out {out}/r.nc", 1, "obs_header_only.csv: no data rows"),
    "obs-format-unknown": ("evaluate --region {region} --result {result} --obs {obs_csv} --obs-format nope "
                           "--out {out}/m.json", 2, "argument --obs-format"),
    "train-cells-fraction-above-one": ("calibrate --region {region} --strategy sceua --out {out}/r.nc "
                                       "--train-cells fraction:1.5", 2,
                                       "--train-cells fraction:1.5: expected fraction:F with 0 < F <= 1"),
    "obs-depth-reversed": ("vic import --global {global} --obs {obs_csv} --depth 0.5 0.1 --out {out}/r.nc", 2,
                           "argument --depth: expected TOP BOTTOM in metres with 0 <= TOP <= BOTTOM"),
    "obs-options-without-obs": ("evaluate --region {region} --result {result} --min-coverage 0.5 --out {out}/m.json",
                                1, "--min-coverage only apply with --obs PATH"),
    # quiet and tidy: scratch folders, the clean command, progress bars
    "clean-scratch-is-file": ("clean --scratch {text}", 2, "argument --scratch: " ),
    "clean-scratch-missing": ("clean --scratch {out}/nope", 2, "argument --scratch: folder"),
    "clean-older-than-negative": ("clean --older-than -1", 2, "argument --older-than: expected a number >= 0, got -1"),
    "clean-older-than-text": ("clean --older-than soon", 2, "argument --older-than: expected a number >= 0"),
    "simulate-scratch-is-file": ("simulate --region {region} --params true --out {out}/s.nc --scratch {text}", 2,
                                 "argument --scratch: "),
    "train-scratch-is-file": ("surrogate train --region {region} --out {out}/s.pt --scratch {text}", 2,
                              "argument --scratch: "),
    "progress-and-no-progress": ("simulate --region {region} --params true --out {out}/s.nc --progress --no-progress",
                                 2, "not allowed with argument"),
    # parameter uncertainty: which values write-params writes
    "write-params-member-text": ("vic write-params --template {template} --result {result} --out {out}/p.nc "
                                 "--member first", 2, "--member must be 'median', 'point' or a member number"),
    "write-params-member-negative": ("vic write-params --template {template} --result {result} --out {out}/p.nc "
                                     "--member -1", 2, "--member must be 'median', 'point' or a member number"),
    "write-params-member-without-ensemble": ("vic write-params --template {template} --result {result} "
                                             "--out {out}/p.nc --member 0", 1, "the result has no parameter uncertainty"),
    # ensemble spread: evaluate / vic verify --ensemble need a result with a parameter ensemble
    "evaluate-ensemble-without-one": ("evaluate --region {region} --result {result} --ensemble --out {out}/m.json", 1,
                                      "result.nc: no parameter ensemble to run"),
    "vic-verify-ensemble-without-one": ("vic verify --global {global} --result {result} --obs {obs_csv} --out {out}/v "
                                        "--ensemble", 1, "result.nc: no parameter ensemble to run"),
    # parameter uncertainty of the per-cell optimisers: the confidence-region options
    "uncertainty-method-unknown": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --option "
                                   "simulator=waterbalance --option uncertainty=posterior", 2,
                                   "uncertainty must be one of ['confidence', 'tolerance'] or None, got 'posterior'"),
    "uncertainty-level-one": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --option "
                              "simulator=waterbalance --option uncertainty_level=1", 2,
                              "uncertainty_level must be a number in (0, 1), got 1"),
    "uncertainty-directions-negative": ("calibrate --region {region} --strategy dds --out {out}/r.nc --option "
                                        "simulator=waterbalance --option uncertainty_directions=-2", 2,
                                        "uncertainty_directions must be a non-negative integer or None, got -2"),
    # Dask clusters: the scheduler address
    "scheduler-not-an-address": ("--scheduler localhost calibrate --region {region} --strategy sceua --out {out}/r.nc",
                                 2, "argument --scheduler: expected a Dask scheduler address like tcp://host:8786, "
                                    "got 'localhost'"),
    "scheduler-without-port": ("calibrate --region {region} --strategy sceua --out {out}/r.nc "
                               "--scheduler tcp://127.0.0.1", 2, "argument --scheduler: expected a Dask scheduler"),
    # parameter sets (--parameters)
    "parameters-unknown-name": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} "
                                "--parameters infilt,depth4 --out {out}/r.nc", 2,
                                "--parameters 'infilt,depth4': unknown parameter(s) depth4; expected a set"),
    "parameters-expt-tied-and-per-layer": ("calibrate --region {region} --strategy sceua --surrogate {surrogate} "
                                           "--parameters expt,expt1 --out {out}/r.nc", 2, "exclude each other"),
    "parameters-surrogate-of-another-set": (
        "calibrate --region {region} --strategy sceua --surrogate {surrogate} --parameters vic-classic "
        "--out {out}/r.nc", 1, "covers the parameter set paper (infilt, Ds, Dsmax, Ws, expt); strategy 'sceua' "
        "calibrates vic-classic (infilt, Ds, Dsmax, Ws, depth2, depth3)"),
    "parameters-surrogate-train-unknown": ("surrogate train --region {region} --out {out}/s.pt --parameters bogus", 2,
                                           "--parameters 'bogus': unknown parameter(s) bogus"),
    "parameters-benchmark-unknown": ("benchmark --out {out}/b --parameters Ksat", 2,
                                     "--parameters 'Ksat': unknown parameter(s) Ksat"),
    # discharge at gauges: the twin's river network, basin calibration, the benchmark's objective
    "synth-gauges-negative": ("synth --out {out}/r.nc --gauges -1", 2, "argument --gauges: expected an integer >= 0"),
    "synth-gauges-grid-too-small": ("synth --out {out}/r.nc --ny 2 --nx 2 --years 0.1 --gauges 2", 1,
                                    "a twin with gauges needs at least 3 x 3 cells"),
    "calibrate-q-without-gauges": ("calibrate --region {region} --strategy sceua -o simulator=waterbalance "
                                   "-o warmup=30 --objective sm+q --out {out}/r.nc", 1,
                                   "has no gauges (no 'obs_q'"),
    "benchmark-objective-unknown": ("benchmark --out {out}/b --objective sm+z", 2, "--objective: unknown objective 'sm+z'"),
    # ---- discharge objectives of the regional DL strategies and MPR: a region without gauges ----
    "dl-discharge-without-gauges": ("calibrate --region {region} --strategy ffn_a --surrogate {surrogate} "
                                    "--objective sm+q --out {out}/r.nc", 1, "has no gauges (no 'obs_q'"),
    "mpr-discharge-without-gauges": ("calibrate --region {region} --strategy mpr --surrogate {surrogate} "
                                     "--objective sm:1,q:0.5 --out {out}/r.nc", 1, "has no gauges (no 'obs_q'"),
}

# quiet and tidy: case id -> (argv, exit code, text stderr must hold exactly once, texts it must not hold)
ONCE_CASES: dict[str, tuple[str, int, str, tuple[str, ...]]] = {
    "surrogate-simulator-mismatch-warned-once": (
        "calibrate --region {region_vic} --strategy sceua --surrogate {surrogate} -o repetitions=20 "
        "-o n_workers=2 --out {out}/r.nc", 0, "the surrogate imitates simulator 'waterbalance'", ()),
    "no-bars-when-stderr-is-not-a-terminal": (
        "surrogate train --region {region} --out {out}/s.pt --preset test --epochs 1 --samples 4 --hidden 8", 0,
        "run configuration written to", ("%|", "it/s]", "epoch/s]")),
    "bars-with-progress": (
        "surrogate train --region {region} --out {out}/s.pt --preset test --epochs 1 --samples 4 --hidden 8 "
        "--progress", 0, "training surrogate:   0%|", ()),
    "clean-lists-nothing-in-an-empty-folder": ("clean --scratch {out}", 0, "no scratch folders of vic-paraformer", ()),
}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, inp, tmp_path, capsys):
    template, code, needle = CASES[case]
    if "{vx_" in template and "vx_global" not in inp:
        pytest.skip(f"VIC sample data not found at {SAMPLE}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "f.txt").write_text("a file\n")
    region_copy = tmp_path / "other_region.nc"
    shutil.copyfile(inp["region"], region_copy)
    names = {k: str(v) for k, v in inp.items()}
    names.update(out=str(out), region_copy=str(region_copy))
    if any(f"{{{k}_" in template and f"{k}_region" not in names for k in ("vic", "vx")):
        pytest.skip(f"VIC sample data not found at {SAMPLE}")
    argv = template.format(**names).split()
    before = _digest(inp["dir"])
    copy_before = hashlib.sha256(region_copy.read_bytes()).hexdigest()
    rc, err = _run(argv, capsys)
    assert _digest(inp["dir"]) == before, f"{case}: an input file changed"
    assert hashlib.sha256(region_copy.read_bytes()).hexdigest() == copy_before
    assert rc == code, f"{case}: exit {rc}, stderr: {err}"
    assert "Traceback" not in err and "np.float" not in err and "unexpected error" not in err, err
    if code == 0:
        assert needle in err, f"{case}: {needle!r} not in {err!r}"
        return
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, f"{case}: expected one error line, got {err!r}"
    assert needle in lines[0], f"{case}: {needle!r} not in {lines[0]!r}"
    assert not any(p.name.endswith(".tmp") for p in out.rglob("*")), "temporary file left behind"


@pytest.mark.parametrize("case", sorted(ONCE_CASES))
def test_said_once(case, inp, tmp_path, capsys):
    """Each warning (or line) once per command, worker processes included; no bars in a log."""
    template, code, once, never = ONCE_CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    argv = template.format(out=out, **{k: str(v) for k, v in inp.items()}).split()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    cap = capsys.readouterr()
    err, text = cap.err, cap.err + cap.out
    assert rc == code, f"{case}: exit {rc}, stderr: {err}"
    assert text.count(once) == 1, f"{case}: {once!r} {text.count(once)} times in {text!r}"
    for bad in never:
        assert bad not in err, f"{case}: {bad!r} in {err!r}"


def test_scratch_removed_after_an_interrupted_command(inp, tmp_path, capsys, monkeypatch):
    import vic_paraformer.surrogate.train as train_mod

    seen = []

    def interrupted_generation(region, store, **kwargs):
        seen.append(Path(store))
        (Path(store) / "part.npy").write_bytes(b"0" * 1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "generate_training_data", interrupted_generation)
    scratch = tmp_path / "scratch"
    rc, err = _run(["surrogate", "train", "--region", str(inp["region"]), "--out", str(tmp_path / "s.pt"),
                    "--scratch", str(scratch)], capsys)
    assert rc == 130 and "interrupted" in err, err
    assert seen and scratch in seen[0].parents, seen  # the store was inside --scratch
    assert list(scratch.iterdir()) == [], "scratch left behind after Ctrl-C"


def test_clean_removes_a_killed_commands_scratch_only(tmp_path, capsys):
    """A scratch folder whose process died without cleaning (as after SIGKILL) is found and removed by
    'clean --yes'; a folder without the marker, named alike, is never touched."""
    import subprocess
    import sys

    root = tmp_path / "tmp"
    root.mkdir()
    made = subprocess.run([sys.executable, "-c", "import sys; from vic_paraformer.scratch import make_scratch; "
                           "d = make_scratch('surrogate-train', sys.argv[1]); (d / 'store').mkdir(); print(d)",
                           str(root)], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))).stdout.strip()
    leftover = Path(made)
    lookalike = root / "vic-paraformer-surrogate-train-abcd1234"
    lookalike.mkdir()
    (lookalike / "mine.txt").write_text("not scratch\n")
    rc, err = _run(["clean", "--scratch", str(root)], capsys)
    assert rc == 0 and leftover.is_dir()  # listed, not removed without --yes
    rc, err = _run(["clean", "--scratch", str(root), "--older-than", "5"], capsys)
    assert rc == 0 and leftover.is_dir()  # younger than 5 hours
    rc, _ = _run(["clean", "--scratch", str(root), "--yes"], capsys)
    assert rc == 0
    assert not leftover.exists(), "the killed command's scratch folder is still there"
    assert (lookalike / "mine.txt").read_text() == "not scratch\n", "a folder without the marker was touched"


def test_full_disk_found_before_work(inp, tmp_path, capsys, monkeypatch):
    import vic_paraformer.outputs as outputs

    class Usage:
        free = 1024

    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: Usage)
    rc, err = _run(["simulate", "--region", str(inp["region"]), "--params", "true", "--out", str(tmp_path / "s.nc")],
                   capsys)
    assert rc == 1 and "only 1 KiB free in" in err and not (tmp_path / "s.nc").exists()


def test_overwrite_replaces_other_kind_but_never_an_input(inp, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    rc, err = _run(["simulate", "--region", str(inp["region"]), "--params", "true", "--out", str(target),
                    "--overwrite"], capsys)
    assert rc == 0, err
    from vic_paraformer.outputs import file_kind

    assert file_kind(target) == "simulation"
    rc, err = _run(["simulate", "--region", str(inp["region"]), "--params", "true", "--out", str(inp["region"]),
                    "--overwrite"], capsys)
    assert rc == 1 and "is the input --region" in err


def test_interrupted_training_leaves_nothing_at_out(inp, tmp_path, capsys, monkeypatch):
    import vic_paraformer.surrogate as surrogate_pkg
    from vic_paraformer.surrogate.model import Surrogate

    def fake_train(region, simulator, *, out, **kwargs):
        Surrogate.load(inp["surrogate"]).save(out)  # a best-so-far snapshot, as training writes
        raise KeyboardInterrupt

    monkeypatch.setattr(surrogate_pkg, "train_surrogate", fake_train)
    target = tmp_path / "s.pt"
    rc, err = _run(["surrogate", "train", "--region", str(inp["region"]), "--out", str(target)], capsys)
    assert rc == 130 and "interrupted" in err
    assert list(tmp_path.iterdir()) == [], "interrupted training left a file"


def test_sigterm_is_handled_like_ctrl_c(inp, tmp_path, capsys, monkeypatch):
    import vic_paraformer.cli.synth_cmd as synth_cmd

    def fake_region(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr("vic_paraformer.synthetic.write_synthetic_region", fake_region)
    rc, err = _run(["synth", "--out", str(tmp_path / "r.nc")], capsys)
    assert rc == 143 and err.strip().splitlines()[-1].startswith("vic-paraformer: terminated (SIGTERM)")
    assert signal.getsignal(signal.SIGTERM) is not synth_cmd  # handler restored
    assert list(tmp_path.iterdir()) == []


def test_output_modes_follow_umask(inp, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "m.json"
        rc, err = _run(["evaluate", "--region", str(inp["region"]), "--result", str(inp["result"]), "--out", str(out)],
                       capsys)
        assert rc == 0, err
        assert out.stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        rc, err = _run(["synth", "--out", str(tmp_path / "new" / "r.nc"), "--ny", "2", "--nx", "2", "--years", "0.2"],
                       capsys)
        assert rc == 0, err
        assert (tmp_path / "new" / "r.nc").stat().st_mode & 0o777 == 0o640
        assert (tmp_path / "new").stat().st_mode & 0o777 == 0o750
    finally:
        os.umask(old)


def test_catalogue_size():
    assert len(CASES) >= 60


def test_interrupted_api_training_leaves_a_file_loaders_refuse(inp, tmp_path, monkeypatch):
    """Training through the API snapshots its best epoch marked incomplete; Surrogate.load refuses it."""
    import vic_paraformer.surrogate.train as train_mod
    from vic_paraformer.errors import SurrogateError
    from vic_paraformer.region import Region
    from vic_paraformer.surrogate import train_surrogate
    from vic_paraformer.surrogate.model import Surrogate

    real = train_mod._snapshot

    def snapshot_then_interrupt(*args, **kwargs):
        snap = real(*args, **kwargs)
        save = snap.save

        def save_and_interrupt(path):
            save(path)
            raise KeyboardInterrupt  # Ctrl-C right after the first snapshot

        snap.save = save_and_interrupt
        return snap

    monkeypatch.setattr(train_mod, "_snapshot", snapshot_then_interrupt)
    out = tmp_path / "s.pt"
    with pytest.raises(KeyboardInterrupt):
        train_surrogate(Region.open(inp["region"]), "waterbalance", preset="test", epochs=3, n_samples=2,
                        hidden_size=8, out=out, progress=False)
    with pytest.raises(SurrogateError, match="incomplete surrogate"):
        Surrogate.load(out)
    assert Surrogate.load(out, allow_incomplete=True).info["incomplete"] is True


# --- options: checked before any work ---------------------------------------------------------
OPTION_CASES = [c for c in CASES if list(CASES).index(c) >= list(CASES).index("obs-operator-unknown")]


@pytest.mark.parametrize("case", ["obs-operator-unknown", "refine-rounds-negative", "anchor-share-above-one",
                                  "dl-lr-nan", "dl-lr-inf", "dl-epochs-nan", "dl-weight-decay-negative",
                                  "sceua-pcento-nan", "train-samples-one", "config-option-not-for-strategy",
                                  "config-option-value-invalid", "config-train-epochs-zero",
                                  "refine-strategy-option-unknown", "evaluate-simulator-option-nan",
                                  "refine-without-surrogate", "option-unknown", "strategy-unknown",
                                  "simulator-option-unknown", "period-reversed", "variables-unknown"])
def test_invalid_options_fail_before_any_data_is_read(case, inp, tmp_path, capsys, monkeypatch):
    """Every invalid option exits 2 without opening a region, a result or a surrogate."""
    import vic_paraformer.calibrator as calibrator_mod
    import vic_paraformer.region as region_mod
    import vic_paraformer.surrogate.model as model_mod

    def refuse(*args, **kwargs):
        raise AssertionError("data read before the options were checked")

    monkeypatch.setattr(region_mod.Region, "open", classmethod(refuse))
    monkeypatch.setattr(model_mod.Surrogate, "load", classmethod(refuse))
    monkeypatch.setattr(calibrator_mod.CalibrationResult, "open", classmethod(refuse))
    template, code, needle = CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    argv = template.format(**{k: str(v) for k, v in inp.items()}, out=str(out)).split()
    rc, err = _run(argv, capsys)
    assert rc == 2 == code, f"{case}: exit {rc}, stderr: {err}"
    assert needle in err and "data read before" not in err
    assert list(out.iterdir()) == []


def test_option_block_is_large_enough():
    assert len(OPTION_CASES) >= 14


def test_config_error_lists_few_option_names(inp, tmp_path, capsys):
    rc, err = _run(["calibrate", "--config", str(inp["cfg_ngs"]), "--region", str(inp["region"]), "--surrogate",
                    str(inp["surrogate"]), "--out", str(tmp_path / "r.nc")], capsys)
    line = [ln for ln in err.splitlines() if "error:" in ln][0]
    assert rc == 2 and line.startswith("vic-paraformer calibrate: error: option 'ngs' from config ngs.yaml")
    assert "(see `vic-paraformer strategies paraformer_a`)" in line and len(line) < 300, line
    listed = line.split("its options are: ", 1)[1].split(", … ")[0].split(", ")
    assert 1 <= len(listed) <= 8


def test_degenerate_sceua_budget_is_warned(caplog):
    import logging

    from vic_paraformer.workflow import CalibrationSpec, check_spec

    with caplog.at_level(logging.WARNING, logger="vic_paraformer"):
        check_spec(CalibrationSpec(region="r.nc", strategy="sceua", options={"simulator": "waterbalance",
                                                                              "repetitions": 40}))
    assert "repetitions 40 <= the initial population of ngs x (2 x 5 + 1) = 55 runs" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vic_paraformer"):
        check_spec(CalibrationSpec(region="r.nc", strategy="sceua", options={"simulator": "waterbalance",
                                                                              "repetitions": 400}))
    assert "initial population" not in caplog.text


def test_few_surrogate_samples_are_warned(inp, tmp_path, capsys, caplog, monkeypatch):
    import vic_paraformer.surrogate as surrogate_pkg

    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # the checks passed; no need to train

    monkeypatch.setattr(surrogate_pkg, "train_surrogate", stop)
    rc, err = _run(["surrogate", "train", "--region", str(inp["region"]), "--out", str(tmp_path / "s.pt"),
                    "--samples", "4"], capsys)
    assert rc == 130 and "--samples 4: few parameter samples per cell" in err


# --- disk space: estimated from the output's size; a full disk reported in one line --------------
class _Usage:
    def __init__(self, free):
        self.free, self.total, self.used = free, 10 * 2**30, 0


def _no_temp_left(folder: Path) -> bool:
    return not any(p.name.endswith(".tmp") or p.name.startswith(".") for p in folder.rglob("*"))


def test_space_estimate_refuses_big_write_and_accepts_small_one(inp, tmp_path, monkeypatch):
    import xarray as xr

    import vic_paraformer.outputs as outputs
    from vic_paraformer._io import to_netcdf_atomic
    from vic_paraformer.errors import OutputError

    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: _Usage(2 * 2**20))
    small = xr.open_dataset(inp["region"]).load()  # a 9-cell, one-year region: ~200 kB
    assert outputs.dataset_bytes(small) < 2 * 2**20
    to_netcdf_atomic(small, tmp_path / "small.nc", kind="region")
    assert (tmp_path / "small.nc").exists()
    big = xr.Dataset({"sm": (("cell", "time"), np.zeros((100, 12_500)))})  # 10 MB
    with pytest.raises(OutputError, match=r"big.nc: only 2.0 MiB free in .*; about 10.\d MiB is needed "
                                          r"\(100 cell x 12500 time, 1 variables\); nothing was written"):
        to_netcdf_atomic(big, tmp_path / "big.nc", kind="simulation")
    assert not (tmp_path / "big.nc").exists() and _no_temp_left(tmp_path)


def test_simulate_checks_the_output_size_before_work(inp, tmp_path, capsys, monkeypatch):
    import vic_paraformer.outputs as outputs
    import vic_paraformer.region as region_mod

    def refuse(*args, **kwargs):
        raise AssertionError("data read before the space was checked")

    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: _Usage(100 * 1024))
    monkeypatch.setattr(region_mod.Region, "open", classmethod(refuse))
    rc, err = _run(["simulate", "--region", str(inp["region"]), "--params", "true", "--out", str(tmp_path / "s.nc")],
                   capsys)
    assert rc == 1 and "only 100 KiB free in" in err
    assert "(9 cells x 365 days x 5 variables, 8 bytes each)" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failure", ["enospc", "hdf"])
def test_full_disk_during_a_write_is_one_line_and_leaves_nothing(failure, inp, tmp_path, capsys, monkeypatch):
    import errno

    import xarray as xr

    import vic_paraformer.outputs as outputs

    real = xr.Dataset.to_netcdf

    def write_then_fail(self, path=None, *args, **kwargs):
        real(self, path, *args, **kwargs)  # the partial file exists when the disk fills up
        if failure == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: _Usage(300 * 1024))
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", write_then_fail)
    folder = tmp_path / "o"
    folder.mkdir()
    target = folder / "s.nc"
    rc, err = _run(["simulate", "--region", str(inp["region"]), "--params", "true", "--out", str(target)], capsys)
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert rc == 1 and len(lines) == 1, err
    assert f"{target}: no space left on the device of {folder}" in lines[0] and " free" in lines[0]
    assert "nothing was written" in lines[0] and "unexpected error" not in err
    assert list(folder.iterdir()) == [], "a partial or temporary file was left behind"
