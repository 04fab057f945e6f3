"""Every example script runs with its smallest settings and prints metrics."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SAMPLES = Path(os.environ.get("VIC_SAMPLE_DATA") or ROOT.parent / "shared" / "vic-sample-data") / "image"
STRATEGY_SCRIPTS = ["calibrate_mpr.py", "calibrate_sceua.py", "calibrate_ffn_a.py", "calibrate_lstm_z.py", "calibrate_paraformer_a.py",
                    "calibrate_paraformer_z.py"]


@pytest.fixture(scope="module")
def example_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("example-cache")
    return {**os.environ, "VIC_PARAFORMER_EXAMPLES_QUICK": "1", "VIC_PARAFORMER_EXAMPLES_CACHE": str(cache),
            "OMP_NUM_THREADS": "1"}


def _run(args, env, cwd):
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{args[0]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_every_builtin_strategy_has_an_example():
    import vic_paraformer as vp

    builtin = {"sceua", "ffn_a", "lstm_z", "paraformer_a", "paraformer_z", "mpr"}
    assert builtin <= set(vp.registry.strategies())
    assert {f"calibrate_{s}.py" for s in builtin} == set(STRATEGY_SCRIPTS)


@pytest.mark.parametrize("script", STRATEGY_SCRIPTS)
def test_strategy_example_prints_test_period_metrics(script, example_env, tmp_path):
    stdout = _run([str(EXAMPLES / script), "--quick"], example_env, tmp_path)
    assert "test-period SM [train" in stdout and "NSE" in stdout
    assert "test-period SM [untrained" in stdout


def test_discovery_example(example_env, tmp_path):
    stdout = _run([str(EXAMPLES / "discover_and_run.py"), "--quick", "--strategy", "sceua"], example_env, tmp_path)
    assert "installed strategies" in stdout and "paraformer_z" in stdout and "<- picked" in stdout
    assert "test-period SM [train" in stdout


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared VIC sample data not found next to the repository")
def test_vic_setup_example_with_the_stand_in(example_env, tmp_path):
    gfile = SAMPLES / "WalnutGulch" / "parameters" / "global_param.WalnutGulch.MOD_IGBP.txt"
    stdout = _run([str(EXAMPLES / "vic_setup.py"), str(gfile), "--var", f"VIC_SAMPLE_DATA={SAMPLES.parent}",
                   "--start", "2008-01-01", "--end", "2008-12-31", "--out", str(tmp_path / "out"), "--quick",
                   "--simulator", "waterbalance"], example_env, tmp_path)
    assert "new VIC parameter file" in stdout and "NSE" in stdout
    assert (tmp_path / "out" / "params.calibrated.nc").is_file()
