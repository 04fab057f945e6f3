"""docs/paper-fidelity.md is one table, and every reference to one of its rows names a row that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "paper-fidelity.md"


def _rows() -> dict[int, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+)\|", line)
        if m:
            rows[int(m.group(1))] = m.group(2).strip()
    return rows


def test_one_table_with_the_four_columns_and_numbered_rows():
    text = DOC.read_text()
    assert text.count("| # | paper element | paper | ours | why |") == 1
    rows = _rows()
    assert list(rows) == list(range(1, len(rows) + 1)) and len(rows) >= 20
    for element in ("optimiser", "epochs", "batch size", "hold-out", "ParaFormer-Z network",
                    "observations at untrained cells (DAS-S8NG)", "SCE-UA baseline"):
        assert any(element in r for r in rows.values()), element


def test_every_row_reference_exists():
    rows = _rows()
    refs = []
    for path in [*ROOT.joinpath("vic_paraformer").rglob("*.py"), *ROOT.joinpath("docs").glob("*.md"), ROOT / "README.md",
                 *ROOT.joinpath("examples").rglob("*.yaml")]:
        for m in re.finditer(r"paper-fidelity\.md,?\s+rows?\s+(\d+)(?:\s*-\s*(\d+))?", path.read_text()):
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            refs.append((path.name, lo, hi))
            assert 1 <= lo <= hi <= len(rows), f"{path}: {m.group(0)!r} points past the table ({len(rows)} rows)"
    assert len(refs) >= 5
