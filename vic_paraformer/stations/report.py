"""The QC report of a station network next to the region: ``NAME.qc.csv`` (every QC flag, gap fill
and estimate, columns :data:`~vic_paraformer.stations.build.REPORT_COLUMNS`) and ``NAME.qc.txt``
(the text summary), both written atomically."""

from __future__ import annotations

from pathlib import Path

from .._io import atomic_path, write_text_atomic

__all__ = ("report_paths", "write_report")


def report_paths(out: str | Path) -> tuple[Path, Path]:
    """The CSV and text report paths for the region file ``out``."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix else out
    return stem.with_name(stem.name + ".qc.csv"), stem.with_name(stem.name + ".qc.txt")


def write_report(build, out: str | Path) -> tuple[Path, Path]:
    """Write the QC report of ``build`` (a :class:`~vic_paraformer.stations.build.StationBuild`) next to ``out``."""
    csv_path, txt_path = report_paths(out)
    with atomic_path(csv_path) as tmp:
        build.report().to_csv(tmp, index=False)
    write_text_atomic(txt_path, build.summary() + "\n")
    return csv_path, txt_path
