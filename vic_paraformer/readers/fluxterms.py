"""The physics and choices of the flux-tower readers: latent heat to ET with lambda(T), the
energy-balance-closure factor, quality-flag rules, soil-water sensors and their depths (the rules
are documented in :mod:`vic_paraformer.readers.flux`)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ObservationError
from .badm import SiteMetadata
from .base import ReadOptions
from .fluxfile import FluxTable
from .timeaxis import ONE_DAY

LAMBDA_0 = 2.501e6  # J kg-1 at 0 degC
LAMBDA_SLOPE = 2361.0  # J kg-1 K-1
FALLBACK_T_C = 20.0
SECONDS_PER_DAY = 86400.0
LE_RANGE = (-200.0, 1000.0)  # W m-2
SWC_RANGE = (0.0, 100.0)  # percent


def latent_heat_of_vaporisation(t_c: np.ndarray | float) -> np.ndarray:
    """lambda(T) in J kg-1 for air temperature ``t_c`` in degC: 2.501e6 - 2361 T."""
    return LAMBDA_0 - LAMBDA_SLOPE * np.asarray(t_c, float)


def le_to_et(le_wm2: np.ndarray, t_c: np.ndarray | float) -> np.ndarray:
    """Evapotranspiration in mm/day (a rate) of latent heat ``le_wm2`` (W m-2) at ``t_c`` degC."""
    return np.asarray(le_wm2, float) * SECONDS_PER_DAY / latent_heat_of_vaporisation(t_c)


# ------------------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class SwcSensor:
    """A soil-water-content column: its vertical index (1 = shallowest) and, when known, depth (m)."""

    column: str
    v: int
    depth_m: tuple[float, float] | None = None
    qc: str | None = None


@dataclass
class Layout:
    """The columns a flux format uses for one file (``None`` when the file lacks it)."""

    product: str
    le: str | None
    ta: str | None
    h: str | None = None
    netrad: str | None = None
    g: tuple[str, ...] = ()
    le_corr: str | None = None
    qc: dict[str, str] = field(default_factory=dict)  # value column -> its _QC column
    swc: tuple[SwcSensor, ...] = ()
    has_flags: bool = True

    def columns(self) -> list[str]:
        out = [self.le, self.ta, self.h, self.netrad, *self.g, self.le_corr, *self.qc.values()]
        out += [c for s in self.swc for c in (s.column, s.qc)]
        return [c for c in out if c]


def swc_depth_option(path: Path, options: ReadOptions) -> dict[str, tuple[float, float]]:
    """The ``swc_depths`` option as {column name or vertical index (text): (top, bottom) m}."""
    raw = options.extra.get("swc_depths")
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = dict(item.split("=", 1) for item in raw.split(",") if item.strip())
        except ValueError:
            raise ObservationError(f"{path}: option swc_depths={raw!r}: expected KEY=DEPTH pairs such as "
                                   f"'1=0.05,2=0.2' (vertical index or column, metres)") from None
    if not isinstance(raw, Mapping):
        raise ObservationError(f"{path}: option swc_depths: expected a mapping of column or vertical index to depth (m)")
    out = {}
    for k, v in raw.items():
        try:
            pair = (abs(float(v)),) * 2 if np.isscalar(v) or isinstance(v, str) else tuple(sorted(abs(float(x)) for x in v))
        except (TypeError, ValueError):
            raise ObservationError(f"{path}: option swc_depths {k}={v!r}: expected a depth in metres or [top, bottom]") \
                from None
        if len(pair) != 2 or not all(np.isfinite(pair)) or pair[1] > 20:
            raise ObservationError(f"{path}: option swc_depths {k}={v!r}: expected a depth in metres or [top, bottom]")
        out[str(k).strip()] = (float(pair[0]), float(pair[1]))
    return out


def qc_rule(path: Path, options: ReadOptions, daily: bool, layout: Layout) -> Callable[[np.ndarray], np.ndarray]:
    """The function telling which values a file's ``_QC`` column accepts (from ``options.flags``).

    FLUXNET half-hourly/hourly ``_QC``: 0 measured, 1 good-quality gap-fill, 2 medium, 3 poor;
    accepted by default 0 and 1, ``flags`` lists others (``"0"``, ``"0,1,2"``). FLUXNET daily
    ``_QC``: the fraction of the day's half-hours that were measured or good-quality gap-filled;
    accepted by default when at least ``min_coverage`` (the sub-daily coverage rule), ``flags`` a
    fraction written with a decimal point (``"0.5"``). A format without flags (AmeriFlux BASE)
    rejects a ``flags`` option.
    """
    spec = options.flags
    if not layout.has_flags:
        if spec is not None:
            raise ObservationError(f"{path}: {layout.product} files carry no quality flags; the flags option "
                                   f"({spec!r}) does not apply (values are range-checked instead)")
        return lambda qc: np.ones(len(qc), bool)
    if daily:
        threshold = options.min_coverage
        if spec is not None and spec.replace(" ", "") not in ("0,1", "1,0"):
            try:
                threshold = float(spec)
            except ValueError:
                threshold = np.nan
            if "." not in spec or not 0.0 <= threshold <= 1.0:
                raise ObservationError(f"{path}: flags {spec!r}: a daily FLUXNET _QC is the fraction of measured or "
                                       f"good-quality gap-filled half-hours; expected a fraction such as 0.5")
        return lambda qc: np.nan_to_num(qc, nan=-1.0) >= threshold - 1e-9
    classes = {0, 1}
    if spec is not None:
        try:
            classes = {int(x) for x in spec.split(",") if x.strip()}
        except ValueError:
            classes = set()
        if not classes or not classes <= {0, 1, 2, 3}:
            raise ObservationError(f"{path}: flags {spec!r}: expected FLUXNET _QC classes 0-3 separated by commas "
                                   f"(0 measured, 1 good, 2 medium, 3 poor gap-fill)")
    accepted = np.array(sorted(classes), float)
    return lambda qc: np.isin(qc, accepted)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's all-NaN-slice warnings inside a ``with``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield


def with_depth(sensor: SwcSensor, depths: Mapping[str, tuple[float, float]], meta: SiteMetadata | None) -> SwcSensor:
    d = depths.get(sensor.column) or depths.get(str(sensor.v))
    if d is None and meta is not None:
        d = meta.swc_depth(sensor.column, sensor.v)
    return SwcSensor(sensor.column, sensor.v, d, sensor.qc) if d is not None else sensor


def choose_sensors(path: Path, sensors: Sequence[SwcSensor], depth: tuple[float, float] | None) -> list[SwcSensor]:
    """The soil-water sensors to average: those whose depth (its middle) lies in ``depth``, or the
    shallowest (vertical index 1 first) when ``depth`` is None."""
    if depth is None:
        top = min(s.v for s in sensors)
        return [s for s in sensors if s.v == top]
    unknown = [s.column for s in sensors if s.depth_m is None]
    if unknown:
        raise ObservationError(f"{path}: the depths of {', '.join(unknown)} are unknown (the data file does not give "
                               f"them); pass the reader option swc_depths (e.g. '1=0.05,2=0.2', metres) or badm (the "
                               f"site's BADM file) to select a depth of {depth[0]:g}..{depth[1]:g} m")
    top, bottom = depth
    chosen = [s for s in sensors if top - 1e-9 <= (s.depth_m[0] + s.depth_m[1]) / 2 <= bottom + 1e-9]
    if not chosen:
        have = ", ".join(f"{s.column} {_fmt_depth(s.depth_m)}" for s in sensors)
        raise ObservationError(f"{path}: no soil water sensor between {top:g} and {bottom:g} m; the file has {have}")
    return chosen


def _fmt_depth(d: tuple[float, float]) -> str:
    return f"{d[0]:g} m" if d[0] == d[1] else f"{d[0]:g}-{d[1]:g} m"


def closure_factor(table: FluxTable, layout: Layout, le: np.ndarray, options: ReadOptions) -> np.ndarray:
    """Per value, its day's energy-balance-closure factor sum(NETRAD - G) / sum(H + LE) over the
    steps where all four terms are valid (NaN when the day has too few such steps or a
    non-positive sum)."""
    n = le.size
    if layout.h is None or layout.netrad is None or not layout.g:
        missing = [name for name, col in (("H", layout.h), ("NETRAD", layout.netrad), ("G", layout.g or None))
                   if col is None]
        raise ObservationError(f"{table.path}: energy-balance closure needs {', '.join(missing)} in the file "
                               f"(or LE_CORR); drop --energy-closure or use a file with them")
    h = table.data[layout.h]
    rn = table.data[layout.netrad]
    with quiet():
        g = np.nanmean(np.vstack([table.data[c] for c in layout.g]), axis=0)
    ok = np.isfinite(le) & np.isfinite(h) & np.isfinite(rn) & np.isfinite(g)
    day = (table.times + table.step / 2).floor("D") if not table.daily else table.times
    codes, uniq = pd.factorize(day)
    nd = len(uniq)
    avail = np.zeros(nd)
    np.add.at(avail, codes[ok], (rn - g)[ok])
    turb = np.zeros(nd)
    np.add.at(turb, codes[ok], (h + le)[ok])
    count = np.zeros(nd)
    np.add.at(count, codes[ok], 1.0)
    expected = 1.0 if table.daily else ONE_DAY / table.step
    good = (count >= options.min_coverage * expected - 1e-9) & (turb > 0) & (avail > 0)
    per_day = np.where(good, avail / np.where(turb > 0, turb, 1.0), np.nan)
    return per_day[codes] if n else np.zeros(0)


__all__ = ("latent_heat_of_vaporisation", "le_to_et", "SwcSensor", "Layout", "swc_depth_option", "qc_rule",
           "with_depth", "choose_sensors", "closure_factor", "quiet", "LE_RANGE", "SWC_RANGE", "FALLBACK_T_C")
