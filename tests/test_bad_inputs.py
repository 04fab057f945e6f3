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


@pytest.fixture(scope="module")
def inp(tmp_path_factory):
    """Every input file of the catalogue, built once."""
    d = tmp_path_factory.mktemp("inputs")
    region = synthetic_region(ny=3, nx=3, years=1, seed=0)
    files = {"region": region.save(d / "region.nc")}
    base = xr.open_dataset(files["region"]).load()
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
    rds = xr.open_dataset(files["result"]).load()
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
               "--preset", "test", "--epochs", "1", "--samples", "2", "--hidden", "8", "--no-progress"])
    assert rc == 0 and files["surrogate"].exists()
    files["truncated_surrogate"] = d / "truncated.pt"
    files["truncated_surrogate"].write_bytes(files["surrogate"].read_bytes()[:3000])
    files["template"] = files["result"]  # any netCDF stands for a VIC parameter template here
    (d / "sub").mkdir()
    os.symlink(files["region"], d / "link_to_region.nc")
    files["link"] = d / "link_to_region.nc"
    files["dotdot"] = d / "sub" / ".." / "region.nc"
    files["dir"] = d
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
                         "calibrated for another region"),
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
                            "truncated or damaged"),
    "surrogate-is-region": ("surrogate evaluate --surrogate {region} --region {region}", 1,
                            "not a surrogate checkpoint"),
    "apply-model-is-text": ("calibrate --apply {text} --region {region} --out {out}/r.nc", 1,
                            "is a text file, not a model file"),
    # options
    "max-time-negative": ("surrogate train --region {region} --out {out}/s.pt --max-time -1", 2,
                          "argument --max-time: expected a number > 0, got -1"),
    "threads-zero": ("surrogate train --region {region} --out {out}/s.pt --threads 0", 2,
                     "argument --threads: expected an integer >= 1, got 0"),
    "epochs-zero": ("surrogate train --region {region} --out {out}/s.pt --epochs 0", 2, "argument --epochs"),
    "samples-text": ("surrogate train --region {region} --out {out}/s.pt --samples many", 2,
                     "argument --samples: expected an integer >= 1, got 'many'"),
    "period-not-dates": ("evaluate --region {region} --result {result} --out {out}/m.json --period foo bar", 1,
                         "period start 'foo' is not a date"),
    "period-reversed": ("evaluate --region {region} --result {result} --out {out}/m.json --period 2015-09-01 "
                        "2015-06-01", 1, "after it ends"),
    "period-without-observations": ("evaluate --region {region} --result {result} --out {out}/m.json --period "
                                    "2030-01-01 2030-02-01", 1, "period 2030-01-01..2030-02-01 has no days"),
    "simulate-period-not-dates": ("simulate --region {region} --params true --out {out}/s.nc --period x y", 1,
                                  "period start 'x' is not a date"),
    "n-workers-zero": ("simulate --region {region} --params true --out {out}/s.nc --n-workers 0", 2,
                       "argument --n-workers"),
    "synth-years-zero": ("synth --out {out}/r.nc --years 0", 2, "argument --years: expected a number > 0"),
    "synth-noise-negative": ("synth --out {out}/r.nc --sm-noise -0.1", 2, "argument --sm-noise"),
    "seed-not-int": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --seed x", 2, "argument --seed"),
    "strategy-unknown": ("calibrate --region {region} --strategy nope --out {out}/r.nc", 1, "unknown strategy 'nope'"),
    "option-without-value": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --option ngs", 1,
                             "option 'ngs' is not key=value"),
    "option-unknown": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --option bogus=1", 1,
                       "unknown option(s) ['bogus']"),
    "variables-unknown": ("evaluate --region {region} --result {result} --out {out}/m.json --variables foo", 1,
                          "cannot evaluate variable(s) ['foo']"),
    "calibrate-no-region": ("calibrate --strategy sceua --out {out}/r.nc", 1, "--region is required"),
    "config-bad-yaml": ("calibrate --config {bad_yaml} --region {region} --out {out}/r.nc", 1,
                        "run.yaml: not valid YAML (line 2, column 1"),
    "config-missing": ("calibrate --config {out}/nope.yaml --region {region} --out {out}/r.nc", 1,
                       "configuration file not found"),
    "synth-start-not-date": ("synth --out {out}/r.nc --start foo", 2, "argument --start: expected a date"),
    "benchmark-unknown-strategy": ("benchmark --quick --strategies nope --out {out}/b", 1,
                                   "--strategies: unknown 'nope'"),
    "train-cells-bad-spec": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --train-cells das:x", 1,
                             "--train-cells 'das:x'"),
    "train-cells-unknown-id": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --train-cells 999", 1,
                               "cell id(s) [999] not in the region"),
    "train-period-not-dates": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --train-period foo "
                               "bar", 1, "'foo' is not a date"),
    "parameter-space-unknown": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --parameter-space "
                                "nope", 1, "unknown parameter preset 'nope'"),
    "surrogate-not-found": ("calibrate --region {region} --strategy sceua --out {out}/r.nc --surrogate "
                            "{out}/nope.pt", 1, "nope.pt not found"),
    "simulator-unknown": ("simulate --region {region} --params true --out {out}/s.nc --simulator nope", 1,
                          "unknown simulator 'nope'"),
    "simulator-option-unknown": ("simulate --region {region} --params true --out {out}/s.nc --option bogus=1", 1,
                                 "unknown option(s) ['bogus'] for simulator 'waterbalance'"),
    "surrogate-preset-unknown": ("surrogate train --region {region} --out {out}/s.pt --preset nope", 1,
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
                                        "-o simulator=vic --out {out}/r.nc", 1,
                                        "sceua takes surrogate or simulator, not both"),
    "dl-non-finite-loss": ("calibrate --region {region} --strategy paraformer_z --surrogate {surrogate} "
                           "--out {out}/r.nc -o epochs=2 -o lr=1e30", 1, "non-finite training loss at epoch 1"),
    "vic-export-out-holds-template": ("vic export --region {region} --template {template} --out {dir}", 1,
                                      "holding the input"),
    "vic-export-out-is-file": ("vic export --region {region} --template {template} --out {text}", 1, "not a folder"),
    "vic-timeout-zero": ("vic run --global {global} --out {out}/s.nc --timeout 0", 2, "argument --timeout"),
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
}

# quiet and tidy: case id -> (argv, exit code, text stderr must hold exactly once, texts it must not hold)
ONCE_CASES: dict[str, tuple[str, int, str, tuple[str, ...]]] = {
    "surrogate-simulator-mismatch-warned-once": (
        "calibrate --region {region_vic} --strategy sceua --surrogate {surrogate} -o repetitions=20 "
        "-o n_workers=2 --out {out}/r.nc", 0, "the surrogate imitates simulator 'waterbalance'", ()),
    "no-bars-when-stderr-is-not-a-terminal": (
        "surrogate train --region {region} --out {out}/s.pt --preset test --epochs 1 --samples 2 --hidden 8", 0,
        "run configuration written to", ("%|", "it/s]", "epoch/s]")),
    "bars-with-progress": (
        "surrogate train --region {region} --out {out}/s.pt --preset test --epochs 1 --samples 2 --hidden 8 "
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
    out = tmp_path / "out"
    out.mkdir()
    (out / "f.txt").write_text("a file\n")
    region_copy = tmp_path / "other_region.nc"
    shutil.copyfile(inp["region"], region_copy)
    names = {k: str(v) for k, v in inp.items()}
    names.update(out=str(out), region_copy=str(region_copy))
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
    assert rc == 1 and "only 0.0 MiB free in" in err and not (tmp_path / "s.nc").exists()


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
