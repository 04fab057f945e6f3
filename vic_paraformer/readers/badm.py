"""A flux site's BADM metadata (BADM Interchange Format, BIF) as the flux readers use it: the UTC
offset of its timestamps, its position and the depths of its soil-water sensors.

A BIF file is a table with the columns ``SITE_ID, GROUP_ID, VARIABLE_GROUP, VARIABLE, DATAVALUE``
(https://ameriflux.lbl.gov/data/aboutdata/badm-data-product/); AmeriFlux FLUXNET and FLUXNET2015
downloads ship it as CSV (``..._BIF_...csv``), BASE-BADM downloads as a spreadsheet, which must be
saved as CSV first. Read here:

* ``GRP_UTC_OFFSET`` / ``UTC_OFFSET``: hours east of UTC of the site's local standard time (a file
  with several different offsets is an error: pass the ``utc_offset`` option instead);
* ``GRP_LOCATION`` / ``LOCATION_LAT``, ``LOCATION_LONG``: degrees;
* ``GRP_VAR_INFO`` / ``VAR_INFO_VARNAME``, ``VAR_INFO_HEIGHT`` (m, negative below ground),
  ``VAR_INFO_DATE``: the depth of each ``SWC`` sensor (the latest entry per variable). A FLUXNET
  layer (``SWC_F_MDS_1``) gets the depths of the sensors with that vertical index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ObservationError

BIF_COLUMNS = ("SITE_ID", "GROUP_ID", "VARIABLE_GROUP", "VARIABLE", "DATAVALUE")
_SWC_POS = re.compile(r"^SWC(?:_PI)?(?:_F)?_(\d+)_(\d+)_(\d+)$")
_SWC_LAYER = re.compile(r"^SWC(?:_PI)?(?:_F)?_(\d+)$")


@dataclass
class SiteMetadata:
    """What a flux reader takes from a BIF file (None where the file does not say)."""

    site: str
    utc_offset: float | None = None
    lat: float | None = None
    lon: float | None = None
    swc_heights: dict[str, float] = field(default_factory=dict)  # variable -> height (m, negative down)
    swc_dates: dict[str, str] = field(default_factory=dict)  # variable -> VAR_INFO_DATE of that height

    def swc_depth(self, column: str, v: int) -> tuple[float, float] | None:
        """(top, bottom) depth in metres of ``column`` (or, for a layer column, of the sensors with
        vertical index ``v``); None when unknown."""
        if column in self.swc_heights:
            d = abs(self.swc_heights[column])
            return (d, d)
        found = []
        for name, h in self.swc_heights.items():
            m = _SWC_POS.match(name)
            if (m and int(m.group(2)) == v) or (name == "SWC" and v == 1):
                found.append(abs(h))
            m = _SWC_LAYER.match(name)
            if m and int(m.group(1)) == v:
                found.append(abs(h))
        return (min(found), max(found)) if found else None


def read_badm(path: Path, site: str) -> SiteMetadata:
    """The metadata of ``site`` in the BIF CSV ``path``; ObservationError naming the file."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        raise ObservationError(f"{path}: a BADM spreadsheet; save its sheet as CSV (columns {', '.join(BIF_COLUMNS)}) "
                               f"and pass that as the badm option")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ObservationError(f"{path}: BADM file not found (the badm option)") from None
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ObservationError(f"{path}: cannot read as a BADM CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip().upper() for c in df.columns]
    missing = [c for c in BIF_COLUMNS if c not in df.columns]
    if missing:
        raise ObservationError(f"{path}: not a BADM (BIF) table: lacks {missing}; expected columns {list(BIF_COLUMNS)}")
    df = df.apply(lambda c: c.str.strip())
    sites = set(df["SITE_ID"])
    if site in sites:
        df = df[df["SITE_ID"] == site]
    elif len(sites) == 1:
        site = next(iter(sites))
    else:
        raise ObservationError(f"{path}: no BADM entry for site {site}; the file has {sorted(sites)[:5]}")
    meta = SiteMetadata(site=site)
    offsets = {_num(path, v, "UTC_OFFSET") for v in df.loc[df["VARIABLE"] == "UTC_OFFSET", "DATAVALUE"]}
    if len(offsets) > 1:
        raise ObservationError(f"{path}: site {site} has several UTC offsets {sorted(offsets)}; pass the reader option "
                               f"utc_offset for the file's period")
    meta.utc_offset = offsets.pop() if offsets else None
    for var, attr in (("LOCATION_LAT", "lat"), ("LOCATION_LONG", "lon")):
        vals = df.loc[df["VARIABLE"] == var, "DATAVALUE"]
        if len(vals):
            setattr(meta, attr, _num(path, vals.iloc[0], var))
    info = df[df["VARIABLE_GROUP"] == "GRP_VAR_INFO"]
    for _, g in info.groupby("GROUP_ID"):
        kv = dict(zip(g["VARIABLE"], g["DATAVALUE"]))
        name, height = kv.get("VAR_INFO_VARNAME", ""), kv.get("VAR_INFO_HEIGHT", "")
        if name.startswith("SWC") and height:
            date = kv.get("VAR_INFO_DATE", "")
            if name not in meta.swc_heights or date >= meta.swc_dates[name]:
                meta.swc_heights[name] = _num(path, height, f"VAR_INFO_HEIGHT of {name}")
                meta.swc_dates[name] = date
    return meta


def _num(path: Path, text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ObservationError(f"{path}: {what} {text!r} is not a number") from None
    if not np.isfinite(v):
        raise ObservationError(f"{path}: {what} {text!r} is not a number")
    return v


__all__ = ("SiteMetadata", "read_badm", "BIF_COLUMNS")
