"""Find and report VIC parameter-file values outside the plausible ranges (simulator layer).

:func:`check` applies :data:`vic_paraformer.plausibility.RANGES` and
:data:`~vic_paraformer.plausibility.RELATIONS` to the values of the simulated cells (see the rules in
:mod:`vic_paraformer.plausibility`) and returns a :class:`Finding` per failing variable or relation;
:func:`read_cells` takes those values from a parameter Dataset; :func:`enforce` turns findings into
one error line naming the file, variable, cell (lat/lon), value, allowed range and how many more
cells fail -- or, where the caller allows out-of-range values, into one warning and plain records
that the output keeps (Region attribute ``vic_out_of_range``, the verification report's
``out_of_range``, the written parameter file's ``vic_paraformer_out_of_range`` attribute).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import VICError
from ..plausibility import CHECKED_VARIABLES, RANGE_OF, RANGES, RELATIONS, missing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One variable of one file with values outside its range (or breaking a relation)."""

    file: str
    variable: str
    allowed: str
    value: float
    lat: float
    lon: float
    where: str
    n_cells: int
    limit: float | None = None

    def line(self) -> str:
        """The finding as one line: file, variable, cell, value, the allowed range, the count."""
        where = f" ({self.where})" if self.where else ""
        limit = f" (here {self.limit:g})" if self.limit is not None and np.isfinite(self.limit) else ""
        more = f"; {self.n_cells - 1} more cell(s) fail" if self.n_cells > 1 else ""
        return (f"{self.file}: {self.variable}{where} = {self.value:g} at cell lat {self.lat:.4f}, lon {self.lon:.4f} "
                f"is outside the physically plausible range: {self.allowed}{limit}{more}")

    def as_dict(self) -> dict[str, Any]:
        """The finding as a plain record (for region attributes, result info and reports)."""
        return {"file": self.file, "variable": self.variable, "allowed": self.allowed, "n_cells": int(self.n_cells),
                "example": {"lat": float(self.lat), "lon": float(self.lon), "value": float(self.value),
                            "where": self.where}}


def _labels(dims: str, index: tuple[int, ...]) -> str:
    words = {"layer": "layer", "tile": "tile", "zone": "zone", "month": "month", "band": "band"}
    parts = [d.strip() for d in dims.split(",") if d.strip() != "cell"]
    return ", ".join(f"{words.get(d, d)} {i + 1}" for d, i in zip(parts, index))


def _first(bad: np.ndarray) -> tuple[int, tuple[int, ...], int]:
    """(cell, leading index, number of cells) of the first failing cell (cells in order)."""
    flat = bad.reshape(-1, bad.shape[-1])
    per_cell = flat.any(axis=0)
    cell = int(np.flatnonzero(per_cell)[0])
    lead = int(np.flatnonzero(flat[:, cell])[0])
    index = np.unravel_index(lead, bad.shape[:-1]) if bad.ndim > 1 else ()
    return cell, tuple(int(i) for i in index), int(per_cell.sum())


def _covered(values: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray | None:
    if "Cv" not in values:
        return None
    cv = np.nan_to_num(np.asarray(values["Cv"], float)) > 0  # (tile, cell)
    return cv.reshape(cv.shape[:1] + (1,) * (len(shape) - 2) + cv.shape[1:])


def check(values: Mapping[str, np.ndarray], lat: np.ndarray, lon: np.ndarray, *, file: str) -> list[Finding]:
    """The findings of :data:`RANGES` and :data:`RELATIONS` over ``values`` (name -> array whose last
    axis is the cell; ``lat``/``lon`` per cell), one per failing variable or relation, table order."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    vals = {k: np.asarray(v, float) for k, v in values.items()}
    out: list[Finding] = []
    for r in RANGES:
        if r.name not in vals:
            continue
        a = vals[r.name]
        bad = ~missing(a, r.nodata) & ~r.contains(a)
        if r.is_vegetation:
            cov = _covered(vals, a.shape)
            if cov is not None:
                bad &= cov
        if bad.any():
            cell, index, n = _first(bad)
            out.append(Finding(str(file), r.name, r.text, float(a[index + (cell,)]), lat[cell], lon[cell],
                               _labels(r.dims, index), n))
    for rel in RELATIONS:
        if not all(n in vals for n in rel.needs):
            continue
        clean = {k: np.where(missing(vals[k], RANGE_OF[k].nodata if k in RANGE_OF else ()), np.nan, vals[k])
                 for k in set(rel.needs) | ({"LAI"} & set(vals))}
        with np.errstate(invalid="ignore", divide="ignore"):
            value, limit, ok = rel.test(clean)
        value, limit = np.asarray(value, float), np.broadcast_to(np.asarray(limit, float), np.shape(value))
        bad = ~np.asarray(ok, bool) & np.isfinite(value) & ~np.isnan(limit)
        if bad.any():
            cell, index, n = _first(bad)
            where = ", ".join(x for x in (_labels(rel.dims, index), rel.label) if x)
            out.append(Finding(str(file), rel.variable, rel.rule, float(value[index + (cell,)]), lat[cell], lon[cell],
                               where, n, limit=float(limit[index + (cell,)])))
    return out


def read_cells(ds, rows: np.ndarray, cols: np.ndarray, *, grid_dims: tuple[str, str] | None = None
               ) -> dict[str, np.ndarray]:
    """The checked variables of a parameter Dataset at grid cells ``(rows, cols)``: name -> array with
    the leading dims kept and the cell last (variables not on the grid are left out)."""
    dims = grid_dims or (tuple(ds["run_cell"].dims[-2:]) if "run_cell" in ds.variables else ("lat", "lon"))
    out = {}
    for name in CHECKED_VARIABLES:
        if name in ds.variables and tuple(ds[name].dims[-2:]) == tuple(dims):
            out[name] = np.asarray(ds[name].values, dtype=np.float64)[..., rows, cols]
    return out


def message(findings: Sequence[Finding]) -> str:
    """One error line: the first finding, the other failing variables, and how to accept them."""
    first = findings[0].line()
    others = [f.variable for f in findings[1:]]
    also = f"; also out of range: {', '.join(dict.fromkeys(others))}" if others else ""
    return (f"{first}{also} (see docs/vic-parameter-ranges.md; --allow-out-of-range / allow_out_of_range=True "
            "accepts such values)")


def enforce(findings: Sequence[Finding], *, allow: bool = False, what: str = "VIC input") -> list[dict[str, Any]]:
    """Raise :class:`~vic_paraformer.errors.VICError` on findings unless ``allow``; then log one warning
    and return the findings as records (empty when there are none)."""
    if not findings:
        return []
    if not allow:
        raise VICError(message(findings))
    log.warning("%s with values outside the physically plausible ranges, accepted (allow_out_of_range): %s", what,
                "; ".join(f"{f.variable} on {f.n_cells} cell(s), e.g. {f.value:g} at lat {f.lat:.4f}, lon {f.lon:.4f} "
                          f"(allowed {f.allowed})" for f in findings))
    return [f.as_dict() for f in findings]


def summary(records: Sequence[Mapping[str, Any]]) -> str:
    """One line naming the recorded out-of-range findings (for reports)."""
    return "; ".join(f"{r['variable']} on {r['n_cells']} cell(s) of {r['file']} (e.g. {r['example']['value']:g}; "
                     f"allowed {r['allowed']})" for r in records)


__all__ = ["Finding", "check", "enforce", "message", "read_cells", "summary"]
