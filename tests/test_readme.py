"""The README's two set-up commands and .ci/run stay in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    head = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", head, flags=re.S)


def test_readme_has_exactly_two_commands_demo_and_tests():
    cmds = readme_commands()
    assert len(cmds) == 2
    assert "vic-paraformer demo" in cmds[0]
    assert "pytest" in cmds[1]
    for cmd in cmds:
        assert "constraints.txt" in cmd


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def test_constraints_pin_cpu_torch():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()


def station_commands() -> list[list[str]]:
    import shlex

    text = (ROOT / "README.md").read_text()
    section = text.split("## Station networks", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.+?)\n```", section, flags=re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def test_station_network_example_runs_end_to_end(tmp_path, monkeypatch, capsys):
    """The README's station-network commands, run in a fresh folder: the stuck sensor is reported,
    half the stations train, evaluate scores the held-out stations on the held-out year."""
    import json

    from vic_paraformer.cli.main import main

    cmds = station_commands()
    assert [c[1] for c in cmds] == ["synth", "stations", "calibrate", "evaluate"]
    monkeypatch.chdir(tmp_path)
    outputs = []
    for cmd in cmds:
        assert cmd[0] == "vic-paraformer"
        assert main(cmd[1:]) == 0, cmd
        outputs.append(capsys.readouterr().out)
    assert "S07 swdown stuck_shortwave 2015-06-01..2015-09-28 (120 values)" in outputs[1]
    assert "estimated lwdown at 12 station(s)" in outputs[1]
    assert (tmp_path / "network" / "region.qc.csv").exists()
    metrics = json.loads((tmp_path / "network" / "metrics.json").read_text())
    groups = metrics["groups"]
    assert len(groups["train"]) == 6 and len(groups["untrained"]) == 6
    print("\n".join(outputs))
    assert "held-out" in outputs[3] and "untrained" in outputs[3]
