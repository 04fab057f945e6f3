"""The traps a VIC user hits: run paths, relative global files, placeholders, parameter variables,
scoring periods, early checks, interrupted runs, parallel ensembles.

Tests marked ``vic`` run the real image driver (``VIC_IMAGE_EXE`` or ``vic_image.exe`` on PATH) on
the WalnutGulch sample and skip with a reason without it; the others use a fake executable.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest

from test_vic_runner import (REAL_VIC, SAMPLE, VARS, WALNUT, _params, fake_vic, needs_sample, needs_vic_exe,
                             walnut_result)
from vic_paraformer.cli.main import main
from vic_paraformer.errors import VICError
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.globalfile import GlobalFileError, GlobalParamFile
from vic_paraformer.vic.importer import region_from_vic

WALNUT_PARAMS = SAMPLE / "image/WalnutGulch/parameters/params.WalnutGulch.MOD_IGBP.0.0625_deg.nc"


def _relative_global(tmp_path: Path, results: str = "${VIC_SAMPLE_RESULTS}/x") -> Path:
    """The WalnutGulch global file in tmp_path/setup with every path relative to that folder."""
    setup = tmp_path / "setup"
    setup.mkdir(exist_ok=True)
    rel = os.path.relpath(SAMPLE, setup)
    text = WALNUT.read_text().replace("${VIC_SAMPLE_DATA}", rel).replace("${VIC_SAMPLE_RESULTS}/sample_image", results)
    g = setup / "global.txt"
    g.write_text(text)
    return g


def _vic_pids_under(folder: Path) -> list[int]:
    """Live processes whose working folder is inside ``folder`` (the VIC children of a run)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cwd = os.readlink(d / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(folder)) and int(d.name) != os.getpid():
            out.append(int(d.name))
    return out


# ------------------------------------------------------------------------------------------ global file
@needs_sample
def test_relative_paths_resolve_against_the_global_files_folder(tmp_path, monkeypatch):
    g = _relative_global(tmp_path)
    monkeypatch.chdir(tmp_path)  # not the global file's folder
    gf = GlobalParamFile.read(g, {"VIC_SAMPLE_RESULTS": "unused"})
    assert gf.parameters_path == WALNUT_PARAMS.resolve() or gf.parameters_path.resolve() == WALNUT_PARAMS.resolve()
    assert Path(gf.forcing_prefix).is_absolute()
    text = gf.for_run(parameters=tmp_path / "p.nc", result_dir=tmp_path / "r", log_dir=tmp_path / "l")
    for line in text.splitlines():
        tok = line.split("#")[0].split()
        if tok and tok[0] in ("DOMAIN", "FORCING1", "PARAMETERS"):
            assert Path(tok[1]).is_absolute(), line
    # a missing relative file names the folder it was resolved against
    (tmp_path / "setup" / "bad.txt").write_text(g.read_text().replace("params.WalnutGulch", "nothere"))
    with pytest.raises(GlobalFileError, match="relative to the global file's folder"):
        GlobalParamFile.read(tmp_path / "setup" / "bad.txt").parameters_path


def test_unfilled_placeholders_error_when_used_and_warn_otherwise(tmp_path, caplog):
    lines = ["RESULT_DIR ${NOT_SET_RESULTS}/x", "OUTFILE ${NOT_SET_OUT}", "WIND_H ${NOT_SET_WIND}"]
    gf = GlobalParamFile(lines, path=tmp_path / "g.txt")
    with pytest.raises(GlobalFileError, match=r"g.txt:3: placeholder \$\{NOT_SET_WIND\} has no value"):
        gf.check_placeholders()
    gf = GlobalParamFile(lines[:2], path=tmp_path / "g2.txt")
    with caplog.at_level(logging.WARNING, logger="vic_paraformer"):
        gf.check_placeholders()
    assert "NOT_SET_RESULTS" in caplog.text and "not used for runs" in caplog.text
    with pytest.raises(GlobalFileError, match="NOT_SET_OUT"):
        gf.check_placeholders(keep_user_outputs=True)  # the user's output stream is then used


@needs_sample
def test_import_checks_every_variable_vic_reads_and_names_the_users_file(tmp_path):
    bad = tmp_path / "params_no_snow_rough.nc"
    with netCDF4.Dataset(WALNUT_PARAMS) as src, netCDF4.Dataset(bad, "w") as dst:
        for name, dim in src.dimensions.items():
            dst.createDimension(name, len(dim))
        for name, var in src.variables.items():
            if name == "snow_rough":
                continue
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
            v = dst.createVariable(name, var.datatype, var.dimensions, fill_value=fill)
            v.set_auto_maskandscale(False)
            var.set_auto_maskandscale(False)
            v[:] = var[:]
    g = tmp_path / "global.txt"
    g.write_text(WALNUT.read_text().replace("${VIC_SAMPLE_DATA}/image/WalnutGulch/parameters/params.WalnutGulch."
                                            "MOD_IGBP.0.0625_deg.nc", str(bad)))
    with pytest.raises(VICError, match=r"params_no_snow_rough.nc: parameter file \(PARAMETERS of .*global.txt\) "
                                       r"lacks 1 item.*'snow_rough' \(always read"):
        region_from_vic(g, variables=VARS)
    # an option switches more variables on
    g.write_text(WALNUT.read_text().replace("FROZEN_SOIL\tFALSE", "FROZEN_SOIL\tFALSE\nSPATIAL_SNOW TRUE"))
    with pytest.raises(VICError, match="max_snow_distrib_slope.*SPATIAL_SNOW TRUE"):
        region_from_vic(g, variables=VARS)


@needs_sample
def test_import_is_quiet_about_nan_annual_prec(caplog):
    with caplog.at_level(logging.INFO, logger="vic_paraformer"):
        region = region_from_vic(WALNUT, variables=VARS, end="2008-03-31")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "annual_prec" in r.getMessage()]
    ap = region.attributes()[:, region.attribute_names.index("annual_prec")]
    np.testing.assert_allclose(ap, region.ds["prec"].values.mean(axis=1) * 365.25, rtol=1e-5)


def test_vic_simulator_rejects_n_workers():
    with pytest.raises(Exception, match="EnsembleRunner"):
        VICSimulator(n_workers=2)


# ------------------------------------------------------------------------------------------ early checks
@needs_sample
def test_surrogate_train_checks_length_before_any_vic_run(tmp_path, capsys):
    region = region_from_vic(WALNUT, variables=VARS)  # 10 days
    region.save(tmp_path / "r.nc")
    exe = fake_vic(tmp_path, "fail")
    t0 = time.perf_counter()
    rc = main(["surrogate", "train", "--region", str(tmp_path / "r.nc"), "--simulator", "vic", "--out",
               str(tmp_path / "s.pt"), "--exe", str(exe), "--workdir", str(tmp_path / "runs"), "--workers", "2",
               "--timeout", "30", "--no-progress"])
    assert rc == 1 and time.perf_counter() - t0 < 20
    assert "needs at least 20" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    rc = main(["surrogate", "train", "--region", str(tmp_path / "r.nc"), "--out", str(tmp_path / "s.pt"),
               "--exe", str(exe)])
    assert rc == 2 and "only apply to --simulator vic" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ interruption
_SIGTERM_SCRIPT = """
import sys
from vic_paraformer.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _sigterm_run(tmp_path: Path, args: list[str], workdir: Path, wait_for: int = 1) -> tuple[subprocess.CompletedProcess, list[int]]:
    proc = subprocess.Popen([sys.executable, "-c", _SIGTERM_SCRIPT, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    children: list[int] = []
    while time.time() < deadline:
        children = _vic_pids_under(workdir) if workdir.exists() else []
        if len(children) >= wait_for:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert children, f"no VIC child seen: {proc.communicate()}"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), children


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = []
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().split(")")[-1].split()[0] != "Z":
                        alive.append(p)
            except OSError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


@needs_sample
def test_sigterm_kills_the_vic_child_and_removes_its_folder(tmp_path):
    exe = fake_vic(tmp_path, "sleep")
    work = tmp_path / "runs"
    res, children = _sigterm_run(tmp_path, ["vic", "run", "--global", str(WALNUT), "--var",
                                            f"VIC_SAMPLE_DATA={SAMPLE}", "--out", str(tmp_path / "o.nc"),
                                            "--exe", str(exe), "--workdir", str(work)], work)
    assert res.returncode != 0
    assert _gone(children), f"VIC child(ren) {children} still running"
    assert not list(work.glob("vicrun_*")), res.stderr
    assert not (tmp_path / "o.nc").exists()


# ------------------------------------------------------------------------------------------ real VIC
@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_relative_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-31")
    sim = VICSimulator(exe=REAL_VIC, workdir="rel/runs", keep_runs=True)
    out = sim.simulate(region, _params(region))
    assert np.isfinite(out["sm"].values).all()
    assert Path(out.attrs["vic_run_dir"]).is_absolute()
    assert Path(out.attrs["vic_run_dir"]).parent == (tmp_path / "rel/runs").resolve()


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_relative_path_global_file(tmp_path, monkeypatch):
    g = _relative_global(tmp_path)
    monkeypatch.chdir(tmp_path)
    region = region_from_vic(g, end="2008-01-31")
    assert region.n_cells == 15
    out = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(region, _params(region))
    ref = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(
        region_from_vic(WALNUT, variables=VARS, end="2008-01-31"), _params(region))
    np.testing.assert_allclose(out["sm"].values, ref["sm"].values, rtol=1e-6)


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_verify_scores_the_calibration_period_and_the_period_after(tmp_path, capsys):
    region, res = walnut_result([0.3, 0.05, 5.0, 0.6, 6.0], "2008-03-31", strategy="truth",
                                info={"calibration_period": ["2008-01-01", "2008-02-15"]})
    params = res.params
    res.save(tmp_path / "result.nc")
    obs = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(region, params)
    rows = [{"time": str(t.date()), "lat": la, "lon": lo, "obs_sm": float(obs["sm"].values[i, j])}
            for i, (la, lo) in enumerate(zip(region.ds["lat"].values, region.ds["lon"].values))
            for j, t in enumerate(region.times) if j % 2 == 0]
    pd.DataFrame(rows).to_csv(tmp_path / "obs.csv", index=False)
    common = ["vic", "verify", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--end", "2008-03-31",
              "--result", str(tmp_path / "result.nc"), "--obs", str(tmp_path / "obs.csv"), "--exe", REAL_VIC,
              "--workdir", str(tmp_path / "runs"), "--spinup-years", "0"]
    assert main(common + ["--out", str(tmp_path / "rep")]) == 0
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert list(report["periods"]) == ["held_out", "calibration"]
    assert report["periods"]["calibration"]["period"] == ["2008-01-01", "2008-02-15"]
    assert report["periods"]["calibration"]["scored"] == "in-sample"
    assert report["periods"]["held_out"]["period"] == ["2008-02-16", "2008-03-31"]
    assert report["periods"]["held_out"]["scored"] == "held-out"
    assert "scored on calibration 2008-01-01..2008-02-15" in text and "scored on held out 2008-02-16" in text
    for p in report["periods"].values():
        assert p["variables"]["sm"]["all"]["summary"]["rmse"]["median"] < 1e-5
    # an explicit scoring period, labelled by its overlap with the fitting window
    assert main(common + ["--out", str(tmp_path / "rep2"), "--score-start", "2008-02-01"]) == 0
    report = json.loads((tmp_path / "rep2" / "report.json").read_text())
    assert list(report["periods"]) == ["score"] and report["periods"]["score"]["period"] == ["2008-02-01", "2008-03-31"]
    assert report["scored"].startswith("partly in-sample (15 of 60 days")
    assert "observations outside the scored periods" in capsys.readouterr().out


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_verify_of_the_setups_own_parameters_shows_exactly_no_change(tmp_path, capsys):
    """A result holding the setup's own parameters: every paired difference is exactly 0 in real VIC."""
    from vic_paraformer.observation import ObservationOperator

    region, _ = walnut_result(None, "2008-03-31")
    tc = region.cells[:2]
    op = ObservationOperator(kind="linear", cells=tc, lat=region.ds["lat"].values[:2], lon=region.ds["lon"].values[:2],
                             a=[0.5, 0.6], b=[0.0, 0.01])
    _, res = walnut_result(None, "2008-03-31", strategy="unchanged", train_cells=tc, obs_operator=op,
                           info={"calibration_period": ["2008-01-01", "2008-02-15"]})
    res.save(tmp_path / "result.nc")
    rng = np.random.default_rng(0)
    rows = [{"time": str(t.date()), "lat": la, "lon": lo, "obs_sm": 0.45 * 0.2 + rng.normal(0, 0.02)}
            for la, lo in zip(region.ds["lat"].values, region.ds["lon"].values) for t in region.times]
    pd.DataFrame(rows).to_csv(tmp_path / "obs.csv", index=False)
    assert main(["vic", "verify", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--end", "2008-03-31",
                 "--result", str(tmp_path / "result.nc"), "--obs", str(tmp_path / "obs.csv"), "--exe", REAL_VIC,
                 "--workdir", str(tmp_path / "runs"), "--spinup-years", "0", "--out", str(tmp_path / "rep")]) == 0
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    for entry in report["periods"].values():
        for var, groups in entry["difference"].items():
            for g, m in groups.items():
                assert all(v == 0.0 for v in m.values() if v is not None), (var, g, m)
        same = [c for c in entry["comparisons"] if c["baseline"].startswith("default")
                and (" + H" in c["row"]) == (" + H" in c["baseline"])]
        assert same and all(c["median"] == 0.0 and c["verdict"] == "no detectable change" for c in same if c["n_cells"])
        # nothing blames the calibration: a drain without spin-up shows in the default run as well
        assert all("default run's does too" in w for w in entry["water_balance"]["warnings"])
    assert "calibrated + H vs default + H: dNSE +0.000 [+0.000, +0.000] -> no detectable change" in text


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_sigterm_during_a_parallel_ensemble(tmp_path):
    """SIGTERM to vic-paraformer while worker processes run real VIC: no VIC child survives, no folder is left."""
    long_region = region_from_vic(WALNUT, variables=VARS, end="2008-12-31")
    long_region.save(tmp_path / "r.nc")
    work = tmp_path / "runs"
    res, children = _sigterm_run(tmp_path, ["surrogate", "train", "--region", str(tmp_path / "r.nc"), "--simulator",
                                            "vic", "--preset", "test", "--samples", "8", "--out",
                                            str(tmp_path / "s.pt"), "--exe", REAL_VIC, "--workdir", str(work),
                                            "--workers", "2", "--no-progress"], work)
    assert res.returncode != 0
    assert _gone(children, 20), f"VIC child(ren) {children} still running"
    time.sleep(0.5)
    assert not _vic_pids_under(work)
    assert not list(work.glob("vicrun_*")), res.stderr


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_two_workers_are_faster_than_one(tmp_path):
    from vic_paraformer.ensemble import EnsembleRunner

    region = region_from_vic(WALNUT, variables=VARS, end="2008-06-30")
    params = _params(region, samples=6)
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", progress=False)
    walls = {}
    outs = {}
    for n in (1, 2):
        with EnsembleRunner(sim, n_workers=n, progress=False) as runner:
            if n > 1:
                runner.run(region, params.isel(sample=[0, 1]))  # start the pool outside the timing
            t0 = time.perf_counter()
            outs[n] = runner.run(region, params)
            walls[n] = time.perf_counter() - t0
    np.testing.assert_allclose(outs[1]["sm"].values, outs[2]["sm"].values, atol=1e-6)
    assert walls[2] < 0.85 * walls[1], walls


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_vic_run_with_a_result_runs_the_results_parameters(tmp_path):
    import xarray as xr

    from vic_paraformer.calibrator import CalibrationResult
    from vic_paraformer.parameters import ParameterSpace

    region = region_from_vic(WALNUT, variables=VARS, end="2008-01-31")
    space = ParameterSpace.preset("vic")
    values = np.tile([0.3, 0.05, 5.0, 0.6, 6.0], (region.n_cells, 1))
    params = space.to_dataset(values, region.cells).assign_coords(lat=("cell", region.ds["lat"].values),
                                                                  lon=("cell", region.ds["lon"].values))
    CalibrationResult(params=params, strategy="fixed", parameter_space=space).save(tmp_path / "result.nc")
    assert main(["vic", "run", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--end", "2008-01-31",
                 "--result", str(tmp_path / "result.nc"), "--exe", REAL_VIC, "--workdir", str(tmp_path / "runs"),
                 "--spinup-years", "0", "--out", str(tmp_path / "sim.nc")]) == 0
    ref = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(region, params)
    with xr.open_dataset(tmp_path / "sim.nc") as out:
        np.testing.assert_array_equal(out["sm"].values, ref["sm"].values)
    assert not list((tmp_path / "runs").glob("*"))  # the parameter file was written in the run directory
