"""FLUXNET2015 files (FULLSET and SUBSET, half-hourly HH, hourly HR and daily DD) and files of the
same layout (the AmeriFlux FLUXNET product, read also by the ``ameriflux`` reader).

Format: "FLUXNET2015 dataset: data variables", https://fluxnet.org/data/fluxnet2015-dataset/fullset-data-product/
and https://fluxnet.org/data/fluxnet2015-dataset/subset-data-product/ (file names
``FLX_<SITE>_FLUXNET2015_FULLSET_HH_<years>_<version>.csv``; the ONEFlux paper, Pastorello et al.
2020, Sci. Data 7:225, https://doi.org/10.1038/s41597-020-0534-3). Comma-separated, one header line,
``-9999`` missing; ``TIMESTAMP_START``/``TIMESTAMP_END`` (``YYYYMMDDHHMM``) for HH/HR files,
``TIMESTAMP`` (``YYYYMMDD``) for DD files, local standard time (see
:mod:`vic_paraformer.readers.flux` for the UTC offset, the site's position and the conversions).

Read:

* ``obs_et`` from ``LE_F_MDS`` (W m-2, gap-filled with MDS; DD: the daily mean) with its quality
  flag ``LE_F_MDS_QC``: HH/HR 0 measured, 1 good-quality gap-fill, 2 medium, 3 poor (accepted by
  default: 0 and 1; ``--flags`` lists others); DD the fraction of measured or good-quality
  gap-filled half-hours (accepted by default when at least ``min_coverage``; ``--flags 0.5``
  sets another fraction). lambda(T) from ``TA_F`` (degC; else ``TA_F_MDS``, ``TA``). With
  ``--energy-closure`` the file's ``LE_CORR`` (LE corrected for energy-balance closure by the
  daily factor (NETRAD - G) / (H + LE); same flags as LE_F_MDS) is used when present, else the
  closure is computed from ``NETRAD``, ``G_F_MDS``, ``H_F_MDS`` and ``LE_F_MDS``.
* ``obs_sm`` from ``SWC_F_MDS_<n>`` (percent, m3 m-3 after dividing by 100; layer ``n`` = 1 the
  shallowest) with ``SWC_F_MDS_<n>_QC`` read like LE's. Depths come from the ``swc_depths`` or
  ``badm`` options (the data file does not give them).

Rejected (one-line errors naming the file): no ``TIMESTAMP_START``/``TIMESTAMP`` column; weekly,
monthly and yearly files; a timestamp or value that is not a number (column and row named); no
``LE_F_MDS`` and no ``SWC_F_MDS_<n>`` column; a column holding only -9999; a sub-daily file
without a UTC offset (see :mod:`~vic_paraformer.readers.flux`); a site without a position; an
invalid ``--flags``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import ReadOptions
from .flux import FluxReader
from .fluxfile import sniff_header
from .fluxterms import Layout, SwcSensor

NAME_RE = re.compile(r"^FLX_[A-Za-z]{2}-[A-Za-z0-9]{3}_FLUXNET\d*_", re.I)
SWC_RE = re.compile(r"^SWC_F_MDS_(\d+)$")


def fluxnet_layout(columns: list[str], product: str) -> Layout:
    """The columns of a FLUXNET-format file."""
    cols = set(columns)

    def first(*names: str) -> str | None:
        return next((n for n in names if n in cols), None)

    swc = tuple(SwcSensor(c, int(m.group(1)), None, f"{c}_QC" if f"{c}_QC" in cols else None)
                for c in columns for m in [SWC_RE.match(c)] if m)
    qc = {"LE_F_MDS": "LE_F_MDS_QC"} if "LE_F_MDS_QC" in cols else {}
    return Layout(product=product, le=first("LE_F_MDS"), ta=first("TA_F", "TA_F_MDS", "TA"), h=first("H_F_MDS"),
                  netrad=first("NETRAD"), g=tuple(c for c in ("G_F_MDS",) if c in cols), le_corr=first("LE_CORR"),
                  qc=qc, swc=swc, has_flags=True)


class FluxnetReader(FluxReader):
    """FLUXNET2015 FULLSET/SUBSET CSV files, HH/HR and DD (see the module docstring)."""

    name = "fluxnet"
    description = "FLUXNET2015 FULLSET/SUBSET CSV (HH, HR, DD): LE_F_MDS -> ET, SWC_F_MDS_n -> soil moisture"
    suffixes = (".csv",)

    def sniff(self, path: Path) -> bool:
        if NAME_RE.match(path.name):
            return True
        _, columns = sniff_header(path)
        return ("TIMESTAMP_START" in columns or "TIMESTAMP" in columns) and "LE_F_MDS" in columns

    def layout(self, path: Path, columns: list[str], options: ReadOptions, daily: bool) -> Layout:
        return fluxnet_layout(columns, "FLUXNET2015")

    def _le_names(self) -> str:
        return "LE_F_MDS"


__all__ = ("FluxnetReader", "fluxnet_layout")
