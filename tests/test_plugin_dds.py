"""The DDS strategy plugin (plugins/vic-paraformer-dds), installed as a separate distribution."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.registry import STRATEGY_GROUP, discover, strategies

try:
    md.distribution("vic-paraformer-dds")
    INSTALLED = True
except md.PackageNotFoundError:
    INSTALLED = False

pytestmark = pytest.mark.skipif(
    not INSTALLED, reason="plugin not installed: run `pip install ./plugins/vic-paraformer-dds` (.ci/run does)")


@pytest.fixture(scope="module")
def region_file(tmp_path_factory):
    region = vp.synthetic_region(ny=2, nx=2, years=0.5, seed=5).with_training_cells([1, 2])
    return region.save(tmp_path_factory.mktemp("dds") / "region.nc")


def test_discovered_from_its_own_distribution(capsys):
    assert "dds" in strategies()
    info = discover(STRATEGY_GROUP)["dds"]
    assert info.ok and info.distribution == "vic-paraformer-dds" and info.value == "vic_paraformer_dds:DDSCalibrator"
    assert "Tolson" in info.description
    assert main(["strategies"]) == 0
    assert "dds" in capsys.readouterr().out.split()


def test_cli_calibrates_a_tiny_region_like_the_api(region_file, tmp_path, capsys):
    out = tmp_path / "dds.nc"
    argv = ["calibrate", "--region", str(region_file), "--strategy", "dds", "--seed", "3", "--out", str(out)]
    for o in ("simulator=waterbalance", "repetitions=8", "warmup=30", "n_workers=1"):
        argv += ["--option", o]
    assert main(argv) == 0
    assert "dds: 4 cells (2 trained), 16 evaluations" in capsys.readouterr().out
    cli = CalibrationResult.open(out)
    api = vp.calibrate(vp.Region.open(region_file), strategy="dds", seed=3, simulator="waterbalance", repetitions=8,
                       warmup=30, n_workers=1)
    np.testing.assert_array_equal(cli.values(), api.values())
    assert cli.parameter_space.contains(cli.values())
    # spotpy's DDS maximises; its own best equals our lowest loss, so the sign was handled
    np.testing.assert_allclose(api.history["algorithm_best_objective"], api.history["best_objective"])
