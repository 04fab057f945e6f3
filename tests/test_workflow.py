"""The calibration workflow: the command line, ``run_calibration`` and ``vp.calibrate`` run the same
experiment, and every configuration a command writes reads back to the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import vic_paraformer as vp
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.config import ConfigError, run_config_path
from vic_paraformer.region import Region
from vic_paraformer.selection import split_region
from vic_paraformer.simulators.base import Simulator, simulator_class
from vic_paraformer.strategies.spotpy_base import DEFAULT_SIMULATOR_WARMUP, simulator_warmup
from vic_paraformer.surrogate import Surrogate, train_surrogate
from vic_paraformer.surrogate.data import training_simulator_options
from vic_paraformer.workflow import CalibrationSpec, RefineSpec, resolve_options, run_calibration

SCEUA = {"repetitions": 12, "ngs": 2, "n_workers": 1}
FFN = {"epochs": 2, "batches_per_epoch": 2, "progress": False}
QUICK = {"sceua": SCEUA, "ffn_a": FFN}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A one-year 2 x 3 twin and a small surrogate of it whose training runs had a 1-year spin-up."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("workflow")
    region = vp.synthetic_region(ny=2, nx=3, years=1, seed=2)
    region = region.sel_time(region.times[0], region.times[364])
    path = region.save(folder / "region.nc")
    sur = train_surrogate(region, "waterbalance", preset="test", epochs=2, n_samples=4, seed=0, progress=False,
                          simulator_options={"spinup_years": 1})
    sur_path = folder / "surrogate.pt"
    sur.save(sur_path)
    return path, sur_path, region


def _cli(*argv):
    return main([str(a) for a in argv])


def _options(opts: dict) -> list[str]:
    return [x for k, v in opts.items() for x in ("-o", f"{k}={json.dumps(v)}")]


def _values(path):
    return CalibrationResult.open(path).values()


@pytest.mark.parametrize("strategy", ["sceua", "ffn_a"])
def test_cli_workflow_and_vp_calibrate_give_bit_identical_parameters(files, tmp_path, strategy):
    region_file, sur, region = files
    test = [str(region.times[300].date()), str(region.times[-1].date())]
    cli_out = tmp_path / "cli.nc"
    assert _cli("calibrate", "--region", region_file, "--strategy", strategy, "--surrogate", sur, "--seed", 2,
                "--train-cells", "0,5", "--test-period", *test, "--out", cli_out, *_options(QUICK[strategy])) == 0
    spec = CalibrationSpec(region=region_file, strategy=strategy, surrogate=sur, seed=2, train_cells="0,5",
                           test_period=tuple(test), options=dict(QUICK[strategy]), out=tmp_path / "wf.nc")
    outcome = run_calibration(spec)
    full = Region.open(region_file)
    cal, _ = split_region(full, None, test, "0,5")
    api = vp.calibrate(cal, strategy, seed=2, **outcome.options)
    np.testing.assert_array_equal(_values(cli_out), outcome.result.values())
    np.testing.assert_array_equal(api.values(), outcome.result.values())
    assert outcome.config == yaml.safe_load(run_config_path(tmp_path / "wf.nc").read_text())
    if strategy == "ffn_a":
        assert outcome.options["threads"] == 1  # the workflow's default, given to vp.calibrate explicitly


def test_calibrate_with_refinement_and_operator_options_replays_and_records_the_spinup(files, tmp_path, caplog):
    region_file, sur, _ = files
    out = tmp_path / "refined.nc"
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "--surrogate", sur, "--seed", 1,
                "--obs-operator", "linear", "-o", "obs_operator_l2=0.05", "--train-cells", "0,5", *_options(SCEUA),
                "--refine-rounds", 1, "--refine-local", 2, "--out", out) == 0
    cfg_path = run_config_path(out)
    cfg = yaml.safe_load(cfg_path.read_text())
    assert cfg["refine"] == {"rounds": 1, "local": 2, "store": None, "dir": None, "simulator_options": {}}
    assert cfg["options"]["obs_operator"] == "linear" and cfg["options"]["obs_operator_l2"] == 0.05
    first = CalibrationResult.open(out)
    assert "refinement" in first.info and (tmp_path / "refined.nc.refine" / "refine_log.json").is_file()
    # the surrogate's training runs and the refinement runs had a 1-year spin-up
    assert Surrogate.load(sur).info["simulator_options"]["spinup_years"] == 1 and first.spinup_years == 1
    again = tmp_path / "again.nc"
    assert _cli("calibrate", "--config", cfg_path, "--out", again) == 0
    np.testing.assert_array_equal(_values(again), first.values())
    assert (tmp_path / "again.nc.refine" / "refine_log.json").is_file()
    assert yaml.safe_load(run_config_path(again).read_text())["refine"] == cfg["refine"]


def test_a_surrogate_result_without_refinement_records_the_surrogate_spinup(files):
    _, sur, region = files
    result = vp.calibrate(region, "sceua", surrogate=sur, seed=0, **SCEUA)
    assert result.spinup_years == 1


def test_sceua_with_a_spun_up_simulator_calibrates_a_one_year_region_without_warmup(files, tmp_path, capsys):
    region_file, _, region = files
    assert region.n_days == 365
    assert simulator_warmup({"spinup_years": 1}) == 0 and simulator_warmup({}) == DEFAULT_SIMULATOR_WARMUP
    out = tmp_path / "sim.nc"
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "-o", "simulator=waterbalance",
                "--spinup-years", 1, "--train-cells", 0, *_options(SCEUA), "--out", out) == 0
    result = CalibrationResult.open(out)
    assert result.warmup_days == 0 and result.spinup_years == 1
    cfg = yaml.safe_load(run_config_path(out).read_text())
    assert cfg["options"]["simulator_options"] == {"spinup_years": 1}
    # without a spin-up the 365-day warm-up leaves nothing of a 365-day region: refused, naming the option
    capsys.readouterr()
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "-o", "simulator=waterbalance",
                *_options(SCEUA), "--out", tmp_path / "no.nc") != 0
    assert "365-day warm-up" in capsys.readouterr().err


def test_sceua_with_vic_gets_the_default_spinup_and_no_warmup_on_a_one_year_region(files):
    from vic_paraformer.strategies.sceua import SCEUACalibrator

    _, _, region = files
    options = resolve_options(CalibrationSpec(strategy="sceua", options={"simulator": "vic", **SCEUA}))
    assert options["simulator_options"] == {"spinup_years": 1}  # VICSimulator.default_spinup_years
    problems = SCEUACalibrator(**options).validate(region)
    assert not [p for p in problems if "warm-up" in p], problems
    assert any("warm-up" in p for p in SCEUACalibrator(simulator="vic", **SCEUA).validate(region))  # no spin-up


def test_simulator_defaults_are_class_attributes():
    vic, wb = simulator_class("vic"), simulator_class("waterbalance")
    assert (vic.default_spinup_years, vic.default_refine_rounds) == (1, 2)
    assert (wb.default_spinup_years, wb.default_refine_rounds) == (0, 0)
    assert wb.training_data_options == {"dtype": "float32"} and "exe" in vic.run_options and not wb.run_options
    assert simulator_class(None) is Simulator and simulator_class("surrogate") is Simulator
    # training data record their spin-up, the simulator's default unless given
    assert training_simulator_options("vic") == {"spinup_years": 1}
    assert training_simulator_options("waterbalance", {"spinup_years": 2}) == {"dtype": "float32", "spinup_years": 2}


def test_refinement_settings_without_a_surrogate_and_unknown_refine_keys_are_errors(files, tmp_path):
    region_file, _, _ = files
    spec = CalibrationSpec(region=region_file, strategy="sceua", options={"simulator": "waterbalance", **SCEUA},
                           refine=RefineSpec(local=3))
    with pytest.raises(ConfigError, match="refinement needs a surrogate"):
        run_calibration(spec)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"region: {region_file}\nstrategy: sceua\nrefine:\n  rounds: 1\n  locl: 2\n")
    with pytest.raises(ConfigError, match=r"unknown refine key\(s\) \['locl'\]"):
        CalibrationSpec.from_config(bad)


def test_refine_command_writes_its_configuration_and_repeats_from_it(files, tmp_path):
    region_file, sur, _ = files
    out = tmp_path / "refine"
    assert _cli("refine", "--region", region_file, "--strategy", "sceua", "--surrogate", sur, *_options(SCEUA),
                "--rounds", 1, "--local", 2, "--fine-tune-steps", 5, "--seed", 4, "--out-dir", out) == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["rounds"] == 1 and cfg["spinup_years"] == 1 and cfg["simulator"] == "waterbalance" and cfg["surrogate"] == str(sur.resolve())
    again = tmp_path / "again"
    assert _cli("refine", "--config", out / "config.yaml", "--out-dir", again) == 0
    np.testing.assert_array_equal(_values(again / "best.nc"), _values(out / "best.nc"))
    log_a, log_b = (json.loads((d / "refine_log.json").read_text()) for d in (out, again))
    assert log_a == log_b


_TIMES = ("wall_time", "cpu_seconds", "train_seconds", "seconds", "path", "command", "out_dir", "started", "finished")


def _numbers(value):
    """``value`` without timings, paths and dates: what a replay must repeat."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items() if not any(t in k for t in _TIMES)}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


@pytest.mark.slow  # two whole (tiny) benchmark runs: about a minute on 2 shared cores
def test_benchmark_writes_its_configuration_and_repeats_its_numbers_from_it(tmp_path, monkeypatch):
    from vic_paraformer.benchmark import BenchmarkConfig

    quick = BenchmarkConfig.quick.__func__

    def tiny(cls, **overrides):  # the --quick preset cut to seconds
        return quick(cls, **{"splits": (2,), "neighbour_split": 2,
                             "surrogate_options": {"preset": "test", "epochs": 2},
                             "strategy_options": {"sceua": {"repetitions": 12, "ngs": 2, "n_workers": 1}},
                             **overrides})

    monkeypatch.setattr(BenchmarkConfig, "quick", classmethod(tiny))
    out = tmp_path / "bench"
    assert _cli("benchmark", "--quick", "--grid", 2, 2, "--seeds", 1, "--strategies", "sceua", "--surrogate-samples", 4,
                "--out", out) == 0
    again = tmp_path / "again"
    assert _cli("benchmark", "--config", out / "config.yaml", "--out", again) == 0
    first, second = (json.loads((d / "results.json").read_text()) for d in (out, again))
    assert first["runs"] and _numbers(first) == _numbers(second)
