"""``vic-paraformer calibrate`` / ``evaluate`` and the --config file format."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.config import ConfigError, load_config, parse_option, parse_options
from vic_paraformer.evaluation import evaluate

OPTS = ["simulator=waterbalance", "repetitions=12", "ngs=2", "warmup=30", "n_workers=1"]
API_OPTS = dict(simulator="waterbalance", repetitions=12, ngs=2, warmup=30, n_workers=1)



@pytest.fixture(scope="module")
def region_file(tmp_path_factory):
    region = vp.synthetic_region(ny=2, nx=3, years=0.5, seed=2).with_training_cells([0, 5])
    return region.save(tmp_path_factory.mktemp("cli") / "region.nc")


def _cli(*argv):
    return main([str(a) for a in argv])


def test_cli_and_api_give_the_same_parameters_for_the_same_seed(region_file, tmp_path, capsys):
    before = region_file.read_bytes()
    out = tmp_path / "sceua.nc"
    argv = ["calibrate", "--region", region_file, "--strategy", "sceua", "--seed", 3, "--out", out]
    for o in OPTS:
        argv += ["--option", o]
    assert _cli(*argv) == 0
    printed = capsys.readouterr().out
    assert "sceua: 6 cells (2 trained), 24 evaluations" in printed and f"written {out}" in printed
    cli = CalibrationResult.open(out)
    api = vp.calibrate(vp.Region.open(region_file), strategy="sceua", seed=3, **API_OPTS)
    np.testing.assert_array_equal(cli.values(), api.values())
    assert cli.seed == 3 and cli.n_evaluations == api.n_evaluations == 24
    assert cli.options["simulator"] == "waterbalance" and cli.options["repetitions"] == 12
    other = vp.calibrate(vp.Region.open(region_file), strategy="sceua", seed=4, **API_OPTS)
    assert not np.array_equal(other.values(), api.values())
    assert region_file.read_bytes() == before  # the input is never modified


def test_config_file_and_command_line_overrides(region_file, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"region: {region_file}\nstrategy: sceua\nseed: 3\nout: from_config.nc\n"
                   "options:\n  simulator: waterbalance\n  repetitions: 50\n  ngs: 2\n  warmup: 30\n  n_workers: 1\n")
    assert _cli("calibrate", "--config", cfg, "--option", "repetitions=12") == 0
    res = CalibrationResult.open(tmp_path / "from_config.nc")  # relative 'out' is relative to the config file
    api = vp.calibrate(vp.Region.open(region_file), strategy="sceua", seed=3, **API_OPTS)
    np.testing.assert_array_equal(res.values(), api.values())
    assert res.options["repetitions"] == 12

    js = tmp_path / "run.json"
    js.write_text(json.dumps({"strategy": "sceua", "options": {"repetitions": 5}}))
    assert load_config(js) == {"strategy": "sceua", "options": {"repetitions": 5}}
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: sceua\nrepetitions: 5\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['repetitions'\]"):
        load_config(bad)
    bad.write_text("options: [1, 2]\n")
    with pytest.raises(ConfigError, match="'options' must be a mapping"):
        load_config(bad)
    bad.write_text("strategy: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    assert parse_option("ngs=3") == ("ngs", 3) and parse_option("peps=1e-3") == ("peps", 0.001)
    assert parse_option("simulator=vic") == ("simulator", "vic") and parse_option("warmup=null") == ("warmup", None)
    with pytest.raises(ConfigError, match="not key=value"):
        parse_option("ngs")
    with pytest.raises(ConfigError, match="given twice"):
        parse_options(["ngs=1", "ngs=2"])


def test_problems_are_reported_in_one_line_without_output(region_file, tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "--out", out) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "strategy 'sceua' cannot calibrate" in err and "surrogate=<checkpoint>" in err
    assert not out.exists()
    # invalid options are usage errors (exit 2, argparse's convention)
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "--option", "bogus=1", "--out", out) == 2
    assert "unknown option(s) ['bogus']" in capsys.readouterr().err
    assert _cli("calibrate", "--region", region_file, "--strategy", "nope", "--out", out) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "--out", region_file) == 1
    assert "is the input --region" in capsys.readouterr().err
    assert _cli("calibrate", "--region", tmp_path / "none.nc", "--strategy", "sceua", "--out", out) == 1
    assert "region file not found" in capsys.readouterr().err
    assert _cli("calibrate", "--apply", tmp_path / "model.pt", "--region", region_file, "--out", out) == 1
    assert "model file not found" in capsys.readouterr().err
    assert _cli("calibrate", "--apply", tmp_path / "model.pt", "--strategy", "sceua", "--region", region_file,
                "--out", out) == 2
    assert "--apply takes only" in capsys.readouterr().err
    assert not out.exists()


def test_interrupt_leaves_no_output(region_file, tmp_path, monkeypatch, capsys):
    def interrupted(task, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("vic_paraformer.strategies.spotpy_base.run_cell", interrupted)
    monkeypatch.setattr("vic_paraformer.strategies.lockstep.run_cell", interrupted)  # cells in lockstep
    out = tmp_path / "x.nc"
    argv = ["calibrate", "--region", region_file, "--strategy", "sceua", "--out", out]
    for o in OPTS:
        argv += ["--option", o]
    assert _cli(*argv) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_calibrate_with_surrogate_flag_and_evaluate(region_file, tmp_path, capsys):
    from test_sceua import tiny_surrogate

    region = vp.Region.open(region_file)
    sur = tiny_surrogate(region, tmp_path / "sur.pt")
    out = tmp_path / "r.nc"
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "--surrogate", tmp_path / "sur.pt",
                "--option", "repetitions=20", "--option", "ngs=2", "-o", "n_workers=1", "--seed", 1, "--out", out) == 0
    res = CalibrationResult.open(out)
    assert res.info["warmup_days"] == sur.warmup and res.n_evaluations <= 40
    capsys.readouterr()

    metrics = tmp_path / "m.json"
    assert _cli("evaluate", "--region", region_file, "--result", out, "--simulator", "waterbalance",
                "--period", "2015-06-01", "2015-09-30", "--out", metrics) == 0
    printed = capsys.readouterr().out
    assert "sm raw        train      calibrated             2" in printed
    assert "sm raw        untrained  default                4" in printed
    assert "(122 days, partly in-sample (121 of 122 days" in printed and "calibrated + H vs default + H" in printed
    data = json.loads(metrics.read_text())
    assert data == evaluate(region, res, "waterbalance", ("2015-06-01", "2015-09-30"))
    assert data["period"] == ["2015-06-01", "2015-09-30"] and data["simulator"] == "waterbalance"
    assert _cli("evaluate", "--region", region_file, "--result", out, "--out", out) == 1
    assert "is the input --result" in capsys.readouterr().err


def test_apply_a_saved_dl_model(tmp_path, capsys):
    from _dl_fakes import FakeSurrogate, twin_region

    twin = twin_region(ny=2, nx=3, days=60)
    model = tmp_path / "ffn.pt"
    vp.get_calibrator("ffn_a", surrogate=FakeSurrogate(), seed=0, model_out=str(model), preset="small", window=30,
                      epochs=1, batch_size=8, progress=False).calibrate(twin)
    region_file = twin.save(tmp_path / "twin.nc")
    out = tmp_path / "applied.nc"
    assert _cli("calibrate", "--apply", model, "--region", region_file, "--out", out) == 0
    assert "ffn_a: 6 cells" in capsys.readouterr().out
    from vic_paraformer.dl.model_file import apply_model

    np.testing.assert_allclose(CalibrationResult.open(out).values(), apply_model(model, twin).values(), rtol=1e-6)
