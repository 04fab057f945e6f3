"""AmeriFlux BASE half-hourly/hourly files, and the AmeriFlux FLUXNET-format product.

Format: AmeriFlux "Data Variables", https://ameriflux.lbl.gov/data/aboutdata/data-variables/, and
the BASE data product, https://ameriflux.lbl.gov/data/data-processing-pipelines/base-publish/.
A BASE file ``AMF_<SITE>_BASE_HH_<version>.csv`` (``_HR_`` hourly) starts with two comment lines
(``# Site: US-Xxx``, ``# Version: ...``), then a header of variable names and rows with
``TIMESTAMP_START``/``TIMESTAMP_END`` (``YYYYMMDDHHMM``, local standard time, the offset in the
site's BADM ``UTC_OFFSET``) and ``-9999`` for missing values. Variable names carry qualifiers:
position ``_H_V_R`` (horizontal, vertical, replicate; "vertical indices are numbered from top to
bottom", so ``V = 1`` is the shallowest soil sensor; a name without qualifier is ``_1_1_1``), layer
index ``_#``, ``_PI`` (computed by the site team), ``_F`` (gap-filled).
See :mod:`vic_paraformer.readers.flux` for the UTC offset, position, ET and closure rules.

Read from a BASE file:

* ``obs_et`` from the latent heat flux ``LE`` (W m-2): ``LE`` itself, else the ``LE_H_V_R`` /
  ``LE_#`` column with the lowest indices, else ``LE_PI``...; gap-filled variants (``_F``) are not
  used (the ``le_column`` reader option names another column). lambda(T) from ``TA`` (same choice
  order). BASE has no quality flags: ``--flags`` is an error; LE outside -200..1000 W m-2 is
  counted as invalid and left out. ``--energy-closure`` uses ``NETRAD``, ``H`` and the mean of the
  shallowest ``G`` plates.
* ``obs_sm`` from ``SWC`` columns (percent, divided by 100), any position or layer qualifier:
  the vertical index orders the depths (1 = shallowest); values outside 0..100 % are invalid.

A file of the AmeriFlux FLUXNET product (``AMF_<SITE>_FLUXNET_FULLSET_HH_...csv``, or any file
with ``LE_F_MDS``) is read with the FLUXNET rules (:mod:`vic_paraformer.readers.fluxnet`).

Rejected (one-line errors naming the file): no ``TIMESTAMP_START``; a timestamp or value that is
not a number (column and row named); no ``LE`` column and no ``SWC`` column; a column holding only
-9999; a file without a UTC offset or a site without a position; ``--flags`` on a BASE file.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ObservationError
from .base import ReadOptions
from .flux import FluxReader
from .fluxfile import sniff_header
from .fluxterms import Layout, SwcSensor
from .fluxnet import fluxnet_layout

NAME_RE = re.compile(r"^AMF_[A-Za-z]{2}-[A-Za-z0-9]{3}_(BASE|FLUXNET)_", re.I)
_QUAL = r"(?:_(\d+)_(\d+)_(\d+)|_(\d+))?"


def _variants(columns: list[str], base: str) -> list[tuple[tuple, str]]:
    """(sort key, column) of the measured (not gap-filled) variants of ``base``, best first:
    the bare name, then position/layer qualifiers by index, then ``_PI`` ones."""
    out = []
    rx = re.compile(rf"^{base}(_PI)?{_QUAL}$")
    for c in columns:
        m = rx.match(c)
        if not m:
            continue
        pi, h, v, r, layer = m.groups()
        idx = (int(h), int(v), int(r)) if h else ((1, int(layer), 0) if layer else (0, 0, 0))
        out.append(((1 if pi else 0, idx), c))
    return sorted(out)


def _first(columns: list[str], base: str) -> str | None:
    found = _variants(columns, base)
    return found[0][1] if found else None


def base_layout(path: Path, columns: list[str], options: ReadOptions) -> Layout:
    """The columns of an AmeriFlux BASE file."""
    le = options.extra.get("le_column")
    if le is not None and le not in columns:
        raise ObservationError(f"{path}: option le_column={le!r}: no such column; found {columns[:12]}")
    le = le or _first(columns, "LE")
    swc = []
    for (pi, idx), c in _variants(columns, "SWC"):
        v = idx[1] if idx != (0, 0, 0) else 1
        swc.append(SwcSensor(c, v))
    g = _variants(columns, "G")
    g_cols = tuple(c for key, c in g if key[1][1] == g[0][0][1][1] and key[0] == g[0][0][0]) if g else ()
    return Layout(product="AmeriFlux BASE", le=le, ta=_first(columns, "TA"), h=_first(columns, "H"),
                  netrad=_first(columns, "NETRAD"), g=g_cols, swc=tuple(swc), has_flags=False)


class AmerifluxReader(FluxReader):
    """AmeriFlux BASE (HH/HR) and AmeriFlux FLUXNET-format CSV files (see the module docstring)."""

    name = "ameriflux"
    description = "AmeriFlux BASE CSV (HH/HR; LE -> ET, SWC -> soil moisture) and the AmeriFlux FLUXNET product"
    suffixes = (".csv",)

    def sniff(self, path: Path) -> bool:
        if NAME_RE.match(path.name):
            return True
        _, columns = sniff_header(path)
        return "TIMESTAMP_START" in columns and "LE_F_MDS" not in columns and \
            any(re.match(rf"^LE(_PI)?{_QUAL}$", c) for c in columns)

    def layout(self, path: Path, columns: list[str], options: ReadOptions, daily: bool) -> Layout:
        if "LE_F_MDS" in columns or any(SwcName.match(c) for c in columns) or "_FLUXNET_" in path.name.upper():
            return fluxnet_layout(columns, "AmeriFlux FLUXNET")
        if daily:
            raise ObservationError(f"{path}: a daily file without LE_F_MDS; AmeriFlux BASE files are half-hourly or "
                                   f"hourly (TIMESTAMP_START/TIMESTAMP_END)")
        return base_layout(path, columns, options)

    def _le_names(self) -> str:
        return "LE, LE_H_V_R, LE_#, or LE_F_MDS"


SwcName = re.compile(r"^SWC_F_MDS_\d+$")

__all__ = ("AmerifluxReader", "base_layout")
