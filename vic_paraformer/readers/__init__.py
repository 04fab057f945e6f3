"""Observation readers: each observation format turned into daily ``obs_sm`` / ``obs_et`` on a
Region's cells, with units checked, quality flags applied, gaps left as NaN and a QC summary.

Use::

    from vic_paraformer.readers import read_observations
    obs = read_observations("station.csv", region, format="auto")
    region = obs.attach(region)
    print(obs.summary())

Formats are registered like strategies and simulators (group ``vic_paraformer.readers``;
``vic_paraformer.registry.list_readers()``); a third party adds one through an entry point naming
a :class:`~vic_paraformer.readers.base.Reader` subclass. ``format="auto"`` asks every reader
whether it recognises the file (the generic table last).
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path
from typing import Any

from .. import registry
from ..errors import ObservationError
from ..region import Region
from .base import CellTarget, Observations, ReadOptions, Reader, SiteSeries

log = logging.getLogger(__name__)

#: The reader ``auto`` falls back to (tried last).
FALLBACK = "csv"


def get_reader(name: str) -> Reader:
    """An instance of the reader registered as ``name``."""
    cls = registry.load(registry.READER_GROUP, name)
    return cls()


def detect_format(path: str | Path) -> str:
    """The name of the first reader that recognises ``path`` (the generic table last)."""
    path = Path(path)
    names = [n for n in registry.list_readers() if n != FALLBACK] + [FALLBACK]
    for name in names:
        try:
            reader = get_reader(name)
        except ObservationError as exc:
            log.warning("observation format %s unavailable: %s", name, exc)
            continue
        if reader.suffixes and path.suffix.lower() not in reader.suffixes and not path.is_dir():
            continue
        if reader.sniff(path):
            return name
    raise ObservationError(f"{path}: format not recognised; name it with --obs-format "
                           f"({', '.join(registry.list_readers())})")


def read_observations(path: str | Path, target: Region | CellTarget, format: str = "auto",
                      options: ReadOptions | None = None, **option_values: Any) -> Observations:
    """Observations of ``path`` on ``target`` (a Region or a :class:`CellTarget`).

    ``path`` may be a folder or a glob pattern for formats that read several files (satellite
    grids). ``format`` is a registered reader name or ``auto``; ``options`` (or keyword values for
    :class:`ReadOptions`) carry depth, flags, coverage and tolerance choices. The input file is
    only read. ObservationError naming the file when it is missing, unrecognised or unusable.
    """
    path = Path(path)
    if not path.exists() and not (any(ch in str(path) for ch in "*?[") and glob.glob(str(path))):
        raise ObservationError(f"{path}: observation file not found")
    if options is None:
        options = ReadOptions(**option_values)
    elif option_values:
        raise TypeError("pass options or option keywords, not both")
    if isinstance(target, Region):
        target = CellTarget.from_region(target)
    name = detect_format(path) if format in (None, "auto") else format
    reader = get_reader(name)
    obs = reader.read(path, target, options)
    log.info("%s", obs.summary())
    return obs


def attach_observations(region: Region, path: str | Path, format: str | None = "auto",
                        options: ReadOptions | dict[str, Any] | None = None) -> Region:
    """``region`` with the observations of ``path`` (read by :func:`read_observations`) attached,
    replacing the region's own. ``options`` is a :class:`ReadOptions` or its keywords (``depth``
    as ``[TOP, BOTTOM]`` too); an unknown keyword is an ObservationError naming it."""
    if not isinstance(options, ReadOptions):
        opts = dict(options or {})
        known = {"depth", "flags", "min_coverage", "tolerance_km", "energy_closure", "variables"}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ObservationError(f"observation reader option(s) {unknown}: expected some of {sorted(known)}")
        if opts.get("depth") is not None:
            opts["depth"] = tuple(opts["depth"])
        if opts.get("variables") is not None:
            opts["variables"] = tuple(opts["variables"])
        options = ReadOptions(**opts)
    obs = read_observations(path, region, format=format or "auto", options=options)
    return obs.attach(region)


__all__ = ("read_observations", "attach_observations", "detect_format", "get_reader", "CellTarget", "ReadOptions", "Observations",
           "Reader", "SiteSeries")
