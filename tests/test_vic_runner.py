"""Running VIC through the adapter.

Without VIC: a small fake ``vic_image.exe`` (a Python script written into tmp_path) exercises the
run directory, the command line, environment, timeouts, exit codes and reading of history files.
With VIC (``VIC_IMAGE_EXE`` or ``vic_image.exe`` on PATH; marked ``vic``): the real image driver
on the WalnutGulch sample.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vic_paraformer.cli.main import main
from vic_paraformer.errors import VICError
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.importer import region_from_vic
from vic_paraformer.vic.runner import EXE_ENV, command, find_executable

SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
needs_sample = pytest.mark.skipif(not (SAMPLE / "image").is_dir(), reason=f"VIC sample data not found at {SAMPLE}")
VARS = {"VIC_SAMPLE_DATA": str(SAMPLE)}
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
PARAMS = ["infilt", "Ds", "Dsmax", "Ws", "expt"]


def _real_vic() -> str | None:
    exe = os.environ.get(EXE_ENV) or shutil.which("vic_image.exe")
    return exe if exe and os.access(exe, os.X_OK) else None


REAL_VIC = _real_vic()
needs_vic_exe = pytest.mark.skipif(REAL_VIC is None, reason=f"VIC image driver not found (set {EXE_ENV} or put "
                                                            "vic_image.exe on PATH)")

FAKE = '''\
#!{python}
"""Fake VIC image driver for tests: mode {mode!r}."""
import os, sys, time
mode = {mode!r}
args = sys.argv[1:]
gfile = args[args.index("-g") + 1]
vals = {{}}
outfile = None
for line in open(gfile):
    code = line.split("#", 1)[0].split()
    if code:
        vals[code[0].upper()] = code[1:]
        if code[0].upper() == "OUTFILE":
            outfile = code[1]
log = os.path.join(vals["LOG_DIR"][0], "vic.log.fake.txt")
with open(log, "w") as f:
    f.write("[INFO] fake VIC started pid %d\\n" % os.getpid())
if mode == "fail":
    print("[ERROR] ../fake/vic_init.c:748: errno: None: Model will not function with layer 0 depth", file=sys.stderr)
    sys.exit(1)
if mode == "sleep":
    with open(os.path.join(os.path.dirname(gfile), "pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
import datetime as dt
import netCDF4, numpy as np
with open(os.path.join(os.path.dirname(gfile), "env.txt"), "w") as f:
    f.write(os.environ.get("OMP_NUM_THREADS", "unset"))
if mode == "nowrite":
    sys.exit(0)
p = netCDF4.Dataset(vals["PARAMETERS"][0])
run = p["run_cell"][:].filled(0) == 1
infilt = p["infilt"][:].filled(np.nan)
init = p["init_moist"][:].filled(np.nan)
lat, lon = p["lat"][:], p["lon"][:]
start = dt.datetime(int(vals["STARTYEAR"][0]), int(vals["STARTMONTH"][0]), int(vals["STARTDAY"][0]))
end = dt.datetime(int(vals["ENDYEAR"][0]), int(vals["ENDMONTH"][0]), int(vals["ENDDAY"][0]))
days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
fill = np.float32(9.96921e36)
name = os.path.join(vals["RESULT_DIR"][0], "%s.%s.nc" % (outfile, start.strftime("%Y-%m-%d")))
with netCDF4.Dataset(name, "w") as o:
    o.createDimension("time", None); o.createDimension("nlayer", init.shape[0])
    o.createDimension("lat", len(lat)); o.createDimension("lon", len(lon))
    t = o.createVariable("time", "f8", ("time",))
    t.units = "days since 0001-01-01 00:00:00"; t.calendar = "proleptic_gregorian"
    t[:] = netCDF4.date2num(days, t.units, t.calendar)
    o.createVariable("lat", "f8", ("lat",))[:] = lat
    o.createVariable("lon", "f8", ("lon",))[:] = lon
    n = len(days)
    k = np.arange(n, dtype=float)[:, None, None]
    series = {{
        "OUT_EVAP": 0.5 + infilt[None] + 0 * k, "OUT_RUNOFF": 0.1 * k + 0 * infilt[None],
        "OUT_BASEFLOW": 0.01 + 0 * k + 0 * infilt[None], "OUT_PREC": 1.0 + 0 * k + 0 * infilt[None],
        "OUT_SWE": 0 * k + 0 * infilt[None],
    }}
    for v, a in series.items():
        var = o.createVariable(v, "f4", ("time", "lat", "lon"), fill_value=fill)
        var[:] = np.where(run[None], a, fill)
    sm = init[None] * (1.0 - infilt[None, None]) - 0.5 * k[..., None]
    sm = np.where(run[None, None], sm, fill)
    if mode == "nan":
        sm[-1, 0, run.nonzero()[0][0], run.nonzero()[1][0]] = np.nan
    var = o.createVariable("OUT_SOIL_MOIST", "f4", ("time", "nlayer", "lat", "lon"), fill_value=fill)
    var[:] = sm
'''


def fake_vic(tmp_path: Path, mode: str = "ok") -> Path:
    exe = tmp_path / f"fake_vic_{mode}.exe"
    exe.write_text(FAKE.format(python=sys.executable, mode=mode))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@pytest.fixture(scope="module")
def region():
    return region_from_vic(WALNUT, variables=VARS) if (SAMPLE / "image").is_dir() else None


def walnut_result(values, end: str, **fields):
    """(region, CalibrationResult) for the WalnutGulch sample up to ``end``: ``values`` ``(p,)`` for every cell,
    or None for the setup's own parameters; ``fields`` go to the result (train_cells, obs_operator, info ...)."""
    from vic_paraformer.calibrator import CalibrationResult
    from vic_paraformer.parameters import ParameterSpace, default_parameters

    region = region_from_vic(WALNUT, variables=VARS, end=end)
    space = ParameterSpace.preset("vic")
    vals = default_parameters(region, space)[0] if values is None else np.tile(values, (region.n_cells, 1))
    params = space.to_dataset(vals, region.cells).assign_coords(lat=("cell", region.ds["lat"].values),
                                                                lon=("cell", region.ds["lon"].values))
    return region, CalibrationResult(params=params, parameter_space=space, **{"strategy": "fixed", **fields})


def _params(region, scale: float = 1.0, samples: int | None = None) -> xr.Dataset:
    vals = {n: region.ds[n].values * (scale if n == "infilt" else 1.0) for n in PARAMS}
    if samples is None:
        return xr.Dataset({n: ("cell", v) for n, v in vals.items()}, coords={"cell": region.cells})
    data = {n: (("sample", "cell"), np.stack([v * (1 + 0.5 * s if n == "infilt" else 1) for s in range(samples)]))
            for n, v in vals.items()}
    return xr.Dataset(data, coords={"cell": region.cells})


# ------------------------------------------------------------------------------------------ executable
def test_find_executable_errors(tmp_path, monkeypatch):
    with pytest.raises(VICError, match="does not exist"):
        find_executable(tmp_path / "missing.exe")
    plain = tmp_path / "plain.exe"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    with pytest.raises(VICError, match="is not executable"):
        find_executable(plain)
    monkeypatch.setenv(EXE_ENV, str(tmp_path / "gone.exe"))
    with pytest.raises(VICError, match=r"gone\.exe \(from \$VIC_IMAGE_EXE\) does not exist"):
        find_executable()
    monkeypatch.delenv(EXE_ENV)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(VICError, match="VIC image driver not found"):
        find_executable()
    exe = fake_vic(tmp_path)
    monkeypatch.setenv(EXE_ENV, str(exe))
    assert find_executable() == exe.resolve()


def test_command_line(tmp_path):
    exe = fake_vic(tmp_path)
    assert command(exe, tmp_path / "g.txt") == [str(exe), "-g", str(tmp_path / "g.txt")]
    launcher = tmp_path / "mpiexec"
    launcher.write_text("#!/bin/sh\necho 'mpiexec (OpenRTE) 4.1.2'\n")
    launcher.chmod(0o755)
    argv = command(exe, tmp_path / "g.txt", mpi_procs=2, mpiexec=str(launcher))
    assert argv[:3] == [str(launcher), "-n", "2"] and argv[-3:] == [str(exe), "-g", str(tmp_path / "g.txt")]


# ------------------------------------------------------------------------------------------ fake VIC
@needs_sample
def test_fake_run_reads_outputs(tmp_path, region, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    sim = VICSimulator(exe=fake_vic(tmp_path), workdir=tmp_path / "runs", keep_runs=True)
    out = sim.simulate(region, _params(region))
    assert out["sm"].dims == ("cell", "time") and out.sizes == {"cell": 15, "time": 10}
    run = Path(out.attrs["vic_run_dir"])
    assert (run / "env.txt").read_text() == "1"  # OpenMP threads forced to 1
    with xr.open_dataset(run / "params.nc") as p:
        row, col = region.grid()
        init = p["init_moist"].values[:, row, col]
        depth0 = p["depth"].values[0, row, col]
    k = np.arange(10)[None, :]
    expected_sm = (init[0][:, None] * (1 - region.ds["infilt"].values[:, None]) - 0.5 * k) / (depth0[:, None] * 1000)
    np.testing.assert_allclose(out["sm"].values, expected_sm, rtol=1e-5)
    np.testing.assert_allclose(out["et"].values, 0.5 + region.ds["infilt"].values[:, None] + 0 * k, rtol=1e-6)
    # storage change: day 1 against init_moist, then day-to-day differences
    total = init.sum(axis=0)[:, None] * (1 - region.ds["infilt"].values[:, None]) - 1.5 * k
    np.testing.assert_allclose(out["dstorage"].values[:, 1:], np.diff(total, axis=1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out["dstorage"].values[:, 0], total[:, 0] - init.sum(axis=0), rtol=1e-4, atol=1e-3)
    glob = (run / "global.txt").read_text()
    assert f"PARAMETERS {run / 'params.nc'}" in glob and "OUTFILE vicpf_daily" in glob


@needs_sample
def test_fake_ensemble_and_period(tmp_path, region):
    sim = VICSimulator(exe=fake_vic(tmp_path), workdir=tmp_path / "runs", progress=False)
    out = sim.simulate(region, _params(region, samples=3), period=("2008-01-03", "2008-01-05"))
    assert out["et"].dims == ("sample", "cell", "time") and out.sizes["sample"] == 3 and out.sizes["time"] == 3
    infilt = region.ds["infilt"].values
    for s in range(3):
        np.testing.assert_allclose(out["et"].values[s, :, 0], 0.5 + infilt * (1 + 0.5 * s), rtol=1e-6)
    assert list((tmp_path / "runs").iterdir()) == []  # run directories cleaned up


@needs_sample
def test_fake_vic_error_exit(tmp_path, region):
    sim = VICSimulator(exe=fake_vic(tmp_path, "fail"), workdir=tmp_path / "runs")
    with pytest.raises(VICError, match=r"VIC exited with status 1 in run directory .*vicrun_.*\[ERROR\].*layer 0 depth"):
        sim.simulate(region, _params(region))
    kept = list((tmp_path / "runs").iterdir())
    assert len(kept) == 1 and (kept[0] / "logs" / "vic.stderr.log").read_text().startswith("[ERROR]")
    # in an ensemble the first failure stops the rest
    sim = VICSimulator(exe=fake_vic(tmp_path, "fail"), workdir=tmp_path / "runs2", progress=False)
    with pytest.raises(VICError, match="VIC exited with status 1"):
        sim.simulate(region, _params(region, samples=4))


@needs_sample
def test_fake_vic_timeout_kills_child(tmp_path, region):
    sim = VICSimulator(exe=fake_vic(tmp_path, "sleep"), workdir=tmp_path / "runs", timeout=1.5)
    t0 = time.perf_counter()
    with pytest.raises(VICError, match=r"did not finish within 1\.5 s and was killed; run directory .*vicrun_"):
        sim.simulate(region, _params(region))
    assert time.perf_counter() - t0 < 30
    pid = int(next((tmp_path / "runs").iterdir()).joinpath("pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@needs_sample
def test_fake_vic_nan_and_missing_outputs(tmp_path, region):
    sim = VICSimulator(exe=fake_vic(tmp_path, "nan"), workdir=tmp_path / "runs")
    with pytest.raises(VICError, match=r"OUT_SOIL_MOIST is NaN/fill at simulated cell 0 on 2008-01-10.*run directory"):
        sim.simulate(region, _params(region))
    sim = VICSimulator(exe=fake_vic(tmp_path, "nowrite"), workdir=tmp_path / "runs2")
    with pytest.raises(VICError, match=r"VIC wrote no history file vicpf_daily\.\*\.nc"):
        sim.simulate(region, _params(region))


@needs_sample
def test_simulator_setup_errors(tmp_path, region):
    plain = region.__class__(region.ds.drop_attrs() if hasattr(region.ds, "drop_attrs") else
                             region.ds.assign_attrs({}).copy(), source="synthetic")
    plain.ds.attrs.clear()
    with pytest.raises(VICError, match="not imported from a VIC setup"):
        VICSimulator(exe=fake_vic(tmp_path)).simulate(plain, _params(region))
    with pytest.raises(VICError, match="does not exist"):
        VICSimulator(exe=tmp_path / "nothing.exe").simulate(region, _params(region))
    # the global file can be given explicitly instead
    sim = VICSimulator(exe=fake_vic(tmp_path), global_param_file=WALNUT, variables=VARS, workdir=tmp_path / "r")
    assert sim.simulate(plain, _params(region)).sizes["cell"] == 15


@needs_sample
def test_cli_import(tmp_path):
    out = tmp_path / "region.nc"
    rc = main(["vic", "import", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--out", str(out),
               "--end", "2008-02-29"])
    assert rc == 0
    with xr.open_dataset(out) as ds:
        assert ds.sizes["cell"] == 15 and ds.sizes["time"] == 60
        assert ds.attrs["vic_global_param_file"] == str(WALNUT.resolve())


# ------------------------------------------------------------------------------------------ real VIC
@pytest.mark.vic
@needs_sample
@needs_vic_exe
@pytest.mark.parametrize("keep_user_outputs", [False, True])
def test_vic_outputs_equal_history_files(tmp_path, region, keep_user_outputs):
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", keep_runs=True, keep_user_outputs=keep_user_outputs)
    out = sim.simulate(region, _params(region))
    run = Path(out.attrs["vic_run_dir"])
    row, col = region.grid()
    with netCDF4.Dataset(sorted((run / "results").glob("vicpf_daily.*.nc"))[0]) as h, \
            netCDF4.Dataset(run / "params.nc") as p:
        depth0 = p["depth"][0][row, col]
        sm_direct = h["OUT_SOIL_MOIST"][:, 0][:, row, col] / (depth0 * 1000.0)
        np.testing.assert_allclose(out["sm"].values, np.asarray(sm_direct).T, rtol=1e-6)
        for ours, theirs in (("et", "OUT_EVAP"), ("runoff", "OUT_RUNOFF"), ("baseflow", "OUT_BASEFLOW")):
            np.testing.assert_allclose(out[ours].values, np.asarray(h[theirs][:][:, row, col]).T, rtol=1e-6)
        times = netCDF4.num2date(h["time"][:], h["time"].units, h["time"].calendar)
        assert [str(t)[:10] for t in times] == [str(t.date()) for t in region.times]
    # VIC's own precipitation equals our daily aggregation of the forcing
    np.testing.assert_allclose(out["prec"].values, region.ds["prec"].values, rtol=1e-5, atol=1e-4)
    # water balance closes with our storage change (float32 outputs)
    resid = out["prec"] - out["et"] - out["runoff"] - out["baseflow"] - out["dstorage"]
    assert float(abs(resid).max()) < 1e-3
    user_files = list((run / "results").glob("fluxes.*.nc"))
    assert bool(user_files) == keep_user_outputs


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_changed_parameters_change_soil_moisture(tmp_path):
    region = region_from_vic(WALNUT, variables=VARS, end="2008-03-31")
    params = _params(region, samples=2)
    params["infilt"][1] = 0.4
    params["expt"][1] = 4.0
    params["Ws"][1] = 0.3
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", progress=False)
    out = sim.simulate(region, params)
    assert out.sizes["sample"] == 2 and np.isfinite(out["sm"].values).all()
    diff = np.abs(out["sm"].values[1] - out["sm"].values[0])
    assert diff.max() > 1e-3, diff.max()
    assert np.abs(out["baseflow"].values[1] - out["baseflow"].values[0]).max() > 1e-3
    # the same parameters reproduce the same outputs
    again = sim.simulate(region, params.isel(sample=0))
    np.testing.assert_array_equal(again["sm"].values, out["sm"].values[0])


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_ensemble_through_the_ensemble_runner(tmp_path):
    """VIC ensembles go through EnsembleRunner (here two worker processes, one chunk per sample)."""
    from vic_paraformer.ensemble import EnsembleRunner

    region = region_from_vic(WALNUT, variables=VARS, end="2008-02-29")
    params = _params(region, samples=3)
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", progress=False)
    with EnsembleRunner(sim, n_workers=2, chunk_size=region.n_cells, progress=False) as runner:
        out = runner.run(region, params)
    assert dict(out.sizes)["sample"] == 3 and np.isfinite(out["sm"].values).all()
    direct = sim.simulate(region, params.isel(sample=2))
    np.testing.assert_allclose(out["sm"].values[2], direct["sm"].values, atol=1e-6)
    assert not list((tmp_path / "runs").glob("vicrun_*"))  # run folders cleaned up


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_rejects_parameter_file(tmp_path):
    src = SAMPLE / "image/WalnutGulch/parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
    bad = tmp_path / "bad.nc"
    shutil.copyfile(src, bad)
    bad.chmod(0o644)
    with netCDF4.Dataset(bad, "a") as nc:
        nc["depth"][0, 1, 1] = 0.0001
    region = region_from_vic(WALNUT, variables=VARS)
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", template_params=bad)
    with pytest.raises(VICError, match=r"VIC exited with status 1 in run directory .*vicrun_.*\[ERROR\].*depth"):
        sim.simulate(region, _params(region))


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_mpi_matches_serial(tmp_path):
    if shutil.which("mpiexec") is None:
        pytest.skip("mpiexec not on PATH")
    region = region_from_vic(WALNUT, variables=VARS)
    serial = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "a").simulate(region, _params(region))
    mpi = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "b", mpi_procs=2).simulate(region, _params(region))
    np.testing.assert_allclose(mpi["sm"].values, serial["sm"].values, rtol=1e-6)


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_verify_cli(tmp_path, capsys):
    from vic_paraformer.observation import ObservationOperator

    region, _ = walnut_result([0.3, 0.05, 5.0, 0.6, 6.0], "2008-02-29")
    # a stored linear operator on the first three cells (nearest of them elsewhere): H(sm) = a sm + b
    tc = region.cells[:3]
    op = ObservationOperator(kind="linear", cells=tc, lat=region.ds["lat"].values[:3], lon=region.ds["lon"].values[:3],
                             a=[0.5, 0.6, 0.7], b=[-0.01, 0.0, 0.01])
    _, res = walnut_result([0.3, 0.05, 5.0, 0.6, 6.0], "2008-02-29", strategy="truth", obs_operator=op, train_cells=tc)
    params = res.params
    res.save(tmp_path / "result.nc")
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs")
    obs = sim.simulate(region, params)
    sm = 0.6 * obs["sm"].values.copy() + 0.005
    sm[:, ::3] = np.nan
    rows = [{"time": str(t.date()), "lat": la, "lon": lo, "obs_sm": sm[i, j]}
            for i, (la, lo) in enumerate(zip(region.ds["lat"].values, region.ds["lon"].values))
            for j, t in enumerate(region.times) if np.isfinite(sm[i, j])]
    pd.DataFrame(rows).to_csv(tmp_path / "obs.csv", index=False)
    rc = main(["vic", "verify", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--end", "2008-02-29",
               "--result", str(tmp_path / "result.nc"), "--obs", str(tmp_path / "obs.csv"), "--out",
               str(tmp_path / "report"), "--exe", REAL_VIC, "--workdir", str(tmp_path / "runs")])
    assert rc == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    from vic_paraformer import metrics

    # hand check of the scores through H: a linear operator of the stored kind fitted to the calibrated run on the
    # training cells (in sample: the result records no fitting window), nearest of them elsewhere
    from vic_paraformer.observation import fit

    with xr.open_dataset(tmp_path / "report" / "sim_calibrated.nc") as ds:
        cal_sm = ds["sm"].values
    refit = fit("linear", cal_sm[:3], sm[:3], cells=tc, lat=region.ds["lat"].values[:3],
                lon=region.ds["lon"].values[:3])
    h = refit.apply_region(cal_sm, region)
    got = np.array(report["variables"]["sm_through_H"]["all"]["rmse"], float)
    np.testing.assert_allclose(got, metrics.rmse(h, sm), rtol=1e-6)
    assert report["variables"]["sm"]["all"]["summary"]["rmse"]["n"] == 15
    assert report["scored"] == "fitting window unknown" and report["scoring_rule"]["kind"] == "linear"
    wb = report["water_balance"]
    assert len(wb["cells"]) == 15 and {"default_ET", "calibrated_baseflow", "calibrated_closure"} <= set(wb["cells"][0])
    assert (tmp_path / "report" / "water_balance.csv").is_file()
    out = capsys.readouterr().out
    assert "sm through H" in out and "water balance" in out
    assert (tmp_path / "report" / "params.calibrated.nc").is_file()


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_verify_refuses_an_impossible_original_unless_allowed(tmp_path, capsys):
    src = SAMPLE / "image/WalnutGulch/parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"
    bad = tmp_path / "params.nc"
    shutil.copyfile(src, bad)
    bad.chmod(0o644)
    with netCDF4.Dataset(bad, "a") as nc:
        nc["infilt"][:] = 1e20  # VIC runs with it (exit 0) and the "original" scores far below any calibration
    text = WALNUT.read_text().replace("${VIC_SAMPLE_DATA}", str(SAMPLE))
    gfile = tmp_path / "global.txt"
    gfile.write_text("\n".join(f"PARAMETERS {bad}" if ln.startswith("PARAMETERS") else ln
                               for ln in text.splitlines()) + "\n")
    region, res = walnut_result([0.3, 0.05, 5.0, 0.6, 6.0], "2008-01-31")
    res.save(tmp_path / "result.nc")
    sm = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(region, res.params)["sm"].values
    rows = [{"time": str(t.date()), "lat": la, "lon": lo, "obs_sm": sm[i, j]}
            for i, (la, lo) in enumerate(zip(region.ds["lat"].values, region.ds["lon"].values))
            for j, t in enumerate(region.times) if j % 2 == 0]
    pd.DataFrame(rows).to_csv(tmp_path / "obs.csv", index=False)
    argv = ["vic", "verify", "--global", str(gfile), "--end", "2008-01-31", "--result", str(tmp_path / "result.nc"),
            "--obs", str(tmp_path / "obs.csv"), "--exe", REAL_VIC, "--workdir", str(tmp_path / "runs")]
    rc = main(argv + ["--out", str(tmp_path / "refused")])
    err = capsys.readouterr().err
    assert rc == 1 and "params.nc: infilt = 1e+20 at cell lat 31.6562, lon -110.1562 is outside the physically " \
                       "plausible range: 0 < infilt <= 1; 14 more cell(s) fail" in err
    assert not (tmp_path / "refused" / "report.json").exists()
    rc = main(argv + ["--out", str(tmp_path / "report"), "--allow-out-of-range"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.err.count("accepted (allow_out_of_range): infilt on 15 cell(s)") == 1
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    [entry] = report["out_of_range"]
    assert entry["variable"] == "infilt" and entry["n_cells"] == 15 and entry["example"]["value"] == 1e20
    assert entry["file"] == str(bad) and entry["allowed"] == "0 < infilt <= 1"
    assert "the original parameters hold values outside the physically plausible ranges (accepted): infilt on 15 " \
           "cell(s)" in captured.out
    with netCDF4.Dataset(tmp_path / "report" / "params.calibrated.nc") as nc:
        np.testing.assert_allclose(nc["infilt"][:][region.grid()], 0.3)  # the calibrated file holds the result


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_runs_calibrated_layer_depths(tmp_path):
    """A vic-classic parameter set (infilt, Ds, Dsmax, Ws, depth2, depth3): the depths (thinner and thicker
    than the sample's, init_moist following them) go into each run's parameter file and change VIC's output."""
    from vic_paraformer.parameters import build_space, default_parameters
    from vic_paraformer.vic.params import write_parameters

    region = region_from_vic(WALNUT, variables=VARS, end="2008-03-31")
    space = build_space("vic-classic")
    own, _ = default_parameters(region, space)
    changed = own.copy()
    changed[:, 4], changed[:, 5] = 0.1, 1.4          # depth2 thin, depth3 deep
    theta = np.stack([own, changed])
    params = space.to_dataset(theta, region.cells, dims=("sample", "cell"))
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", progress=False)
    out = sim.simulate(region, params)
    assert np.isfinite(out["sm"].values).all() and np.isfinite(out["baseflow"].values).all()
    assert np.abs(out["baseflow"].values[1] - out["baseflow"].values[0]).max() > 1e-3
    assert np.abs(out["et"].values[1] - out["et"].values[0]).max() > 1e-4
    # the parameter file written for the calibrated set, run on its own, reads back the same outputs
    one = space.to_dataset(changed, region.cells).assign_coords(lat=("cell", region.ds["lat"].values),
                                                                 lon=("cell", region.ds["lon"].values))
    pfile = write_parameters(one, sim.setup(region).template, tmp_path / "params.nc")
    with xr.open_dataset(pfile) as p:
        depth = p["depth"].values
        moist = p["init_moist"].values
        por = 1 - p["bulk_density"].values / p["soil_density"].values
        ok = np.isfinite(depth[1])
        np.testing.assert_allclose(depth[1][ok & (p["run_cell"].values == 1)], 0.1, rtol=1e-6)
        assert np.all(moist[:, ok] <= por[:, ok] * depth[:, ok] * 1000.0 + 1e-3)
    again = sim.run_parameter_file(region, pfile)
    np.testing.assert_allclose(again["sm"].values, out["sm"].values[1], atol=1e-6)
