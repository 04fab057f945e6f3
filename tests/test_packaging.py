"""Packaging files stay complete: licence, sdist manifest, tox running the CI suite."""

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_matches_metadata():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_sdist_manifest_carries_what_the_tests_and_tox_need():
    manifest = (ROOT / "MANIFEST.in").read_text()
    for entry in ("graft tests", "graft docs", "graft examples", "graft plugins/vic-paraformer-dds"):
        assert entry in manifest.splitlines()
    included = re.search(r"^include (.+)$", manifest, flags=re.M).group(1).split()
    for name in ("LICENSE", "README.md", "constraints.txt", "tox.ini"):
        assert name in included
        assert (ROOT / name).exists()


def test_tox_runs_the_ci_suite_with_the_constraints():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    env = tox["testenv"]
    assert "deps" not in env  # 'deps = -c file' alone is no requirement and fails
    assert "-c {toxinidir}/constraints.txt" in env["install_command"]
    assert "plugins/vic-paraformer-dds" in env["commands_pre"]
    assert "tests plugins/vic-paraformer-dds/tests" in env["commands"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tests plugins/vic-paraformer-dds/tests" in ci
