"""The README's Quick start stays runnable: every command parses, the periods and cells it names fit the twin."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from vic_paraformer.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.+?)\n```", section, flags=re.S).group(1)
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_quickstart_commands_parse_and_hold_out_a_test_period():
    cmds = quickstart_commands()
    assert [c[1] for c in cmds] == ["synth", "surrogate", "surrogate", "calibrate", "evaluate", "strategies"]
    parser = build_parser()
    parsed = [parser.parse_args(c[1:]) for c in cmds]
    assert all(c[0] == "vic-paraformer" for c in cmds)
    train, cal = parsed[1], parsed[3]
    assert train.test_period == cal.test_period == ["2017-04-01", "2018-03-31"]
    assert cal.train_cells == "das:4" and cal.strategy == "paraformer_z"
    assert all(str(getattr(p, "out", "quickstart/")).startswith("quickstart/") for p in parsed[:5])
    gitignore = ROOT / ".gitignore"  # a git checkout (an unpacked sdist has none)
    if gitignore.exists():
        assert "quickstart/" in gitignore.read_text().splitlines()
