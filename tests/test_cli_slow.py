"""The README's main job and the quick benchmark, end to end through the CLI (slow: ``pytest -m slow``)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _cli(*args, timeout=900):
    out = subprocess.run([sys.executable, "-m", "vic_paraformer.cli.main", *args], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_demo(tmp_path):
    stdout = _cli("demo", "--out", str(tmp_path / "demo"))
    assert "paraformer_z" in stdout and "sceua" in stdout and "oracle" in stdout
    assert (tmp_path / "demo" / "results" / "paraformer_z_S4_seed0.nc").is_file()
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "twin difficulty `realistic`" in report
    assert "## Glossary" in report and "- **DAS-SkNG**:" in report and "- **oracle**:" in report
    assert "### Parameter recovery" in report and " | infilt r | " in report
    assert "![SM time series, DAS-S4](figures/series_sm_S4.png)" in report


def test_benchmark_quick(tmp_path):
    _cli("benchmark", "--quick", "--out", str(tmp_path / "bench"))
    table = (tmp_path / "bench" / "table.md").read_text()
    for name in ("sceua", "ffn_a", "lstm_z", "paraformer_a", "paraformer_z", "oracle", "default"):
        assert f"| {name} |" in table
