"""Every ``calibrate``, ``surrogate train`` and ``benchmark`` run writes its full configuration next
to its outputs, and ``--config`` takes that file back to repeat the run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

import vic_paraformer as vp
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.config import run_config_path


@pytest.fixture(scope="module")
def region_file(tmp_path_factory):
    region = vp.synthetic_region(ny=2, nx=3, years=0.5, seed=2).with_training_cells([0, 5])
    return region.save(tmp_path_factory.mktemp("runcfg") / "region.nc")


def _cli(*argv):
    return main([str(a) for a in argv])


def test_calibrate_writes_its_resolved_configuration_and_repeats_from_it(region_file, tmp_path):
    out = tmp_path / "a" / "sceua.nc"
    out.parent.mkdir()
    assert _cli("calibrate", "--region", region_file, "--strategy", "sceua", "--seed", 3, "--out", out,
                "-o", "simulator=waterbalance", "-o", "repetitions=12", "-o", "ngs=2", "-o", "warmup=30",
                "-o", "n_workers=1") == 0
    cfg_path = run_config_path(out)
    assert cfg_path == out.with_name("sceua.config.yaml") and cfg_path.is_file()
    cfg = yaml.safe_load(cfg_path.read_text())
    assert cfg["strategy"] == "sceua" and cfg["seed"] == 3 and cfg["region"] == str(region_file.resolve())
    assert cfg["options"]["kstop"] == 10 and cfg["options"]["repetitions"] == 12  # defaults filled in
    again = tmp_path / "again.nc"
    assert _cli("calibrate", "--config", cfg_path, "--out", again) == 0
    np.testing.assert_array_equal(CalibrationResult.open(again).values(), CalibrationResult.open(out).values())


def test_surrogate_train_writes_its_configuration_and_repeats_from_it(region_file, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "sur.pt"
    assert _cli("surrogate", "train", "--region", region_file, "--preset", "test", "--epochs", 2, "--samples", 4,
                "--seed", 1, "--out", out, "--no-progress") == 0
    cfg_path = tmp_path / "sur.config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    assert cfg["preset"] == "test" and cfg["epochs"] == 2 and cfg["seed"] == 1 and cfg["out"] == str(out.resolve())
    again = tmp_path / "again.pt"
    assert _cli("surrogate", "train", "--config", cfg_path, "--out", again) == 0
    a, b = torch.load(out, weights_only=True), torch.load(again, weights_only=True)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k


def test_unknown_keys_in_a_command_config_are_rejected(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("region: r.nc\nepocs: 3\n")
    assert main(["surrogate", "train", "--config", str(bad)]) != 0
    assert "unknown key(s) ['epocs']" in capsys.readouterr().err


def test_benchmark_writes_config_yaml_in_its_folder_and_reads_it_back(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("vic_paraformer.benchmark.run_benchmark",
                        lambda config, out, **kw: (seen.append(config), __import__("os").makedirs(out, exist_ok=True)))
    out = tmp_path / "bench"
    assert _cli("benchmark", "--quick", "--out", out, "--seeds", 2, "--grid", 6, 6, "--strategies", "sceua") == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["seeds"] == 2 and cfg["grid"] == [6, 6] and cfg["quick"] is True and cfg["strategies"] == ["sceua"]
    again = tmp_path / "again"
    assert _cli("benchmark", "--config", out / "config.yaml", "--out", again) == 0
    assert seen[1].seeds == seen[0].seeds == [0, 1] and (seen[1].ny, seen[1].nx) == (6, 6)
    assert (again / "config.yaml").is_file()
