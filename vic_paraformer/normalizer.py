"""Standardisation of network inputs and outputs, shared by the surrogate and the DL strategies.

A :class:`Normalizer` maps physical values ``(..., n)`` to the network scale column by column:
``log1p(max(x, 0))`` first for the columns flagged ``log1p`` (precipitation), then
``(x - mean) / std``. Statistics are fitted in float64 over all leading axes; a standard
deviation that is not finite or below 1e-8 is replaced by 1 (a constant column is only centred).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: Forcing variables that are ``log1p``-transformed before standardisation.
LOG_FORCING: tuple[str, ...] = ("prec",)


def safe_std(s) -> np.ndarray:
    """``s`` with non-finite or tiny (<= 1e-8) entries replaced by 1."""
    s = np.asarray(s, dtype=np.float64)
    return np.where(np.isfinite(s) & (s > 1e-8), s, 1.0)


def log_columns(values: np.ndarray, flags: Sequence[bool]) -> np.ndarray:
    """A copy of ``values`` with ``log1p(max(x, 0))`` applied to the flagged last-axis columns."""
    out = np.array(values, dtype=np.float64, copy=True)
    for i, flag in enumerate(flags):
        if flag:
            out[..., i] = np.log1p(np.maximum(out[..., i], 0.0))
    return out


@dataclass(frozen=True)
class Normalizer:
    """Per-column ``(log1p ->) standardise`` with stored statistics (see the module docstring)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    log1p: tuple[bool, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        flags = tuple(bool(v) for v in self.log1p) or (False,) * len(self.mean)
        if not len(flags) == len(self.mean) == len(self.std):
            raise ValueError(f"Normalizer needs as many log1p flags ({len(flags)}), means ({len(self.mean)}) and "
                             f"standard deviations ({len(self.std)})")
        object.__setattr__(self, "log1p", flags)

    @classmethod
    def fit(cls, values, log1p: Sequence[bool] = (), *, finite_rows: bool = False) -> "Normalizer":
        """Statistics of ``values`` ``(..., n)`` over all leading axes (as one float64 matrix).

        ``finite_rows`` drops the rows (over the leading axes) that have any non-finite entry.
        """
        v = np.asarray(values, dtype=np.float64)
        n = v.shape[-1]
        flags = tuple(bool(x) for x in log1p) or (False,) * n
        v = log_columns(v, flags).reshape(-1, n) if any(flags) else v.reshape(-1, n)
        if finite_rows:
            v = v[np.all(np.isfinite(v), axis=1)]
        return cls(tuple(v.mean(0)), tuple(safe_std(v.std(0))), flags)

    @classmethod
    def fit_series(cls, values, log1p: Sequence[bool] = (), *, cells=None) -> "Normalizer":
        """Statistics of a large series ``(C, T, n)``, one column at a time.

        Each column is converted to float64 on its own, so the extra memory is one variable's
        values, not a float64 copy of the whole series. ``cells`` (indices into the first axis)
        restricts the statistics to those cells.
        """
        values = np.asarray(values)
        n = values.shape[-1]
        flags = tuple(bool(x) for x in log1p) or (False,) * n
        mean, std = np.empty(n), np.empty(n)
        for i in range(n):
            v = (values[..., i] if cells is None else values[cells, ..., i]).astype(np.float64)
            if flags[i]:
                v = np.log1p(np.maximum(v, 0.0))
            mean[i], std[i] = v.mean(), v.std()
        return cls(tuple(mean), tuple(safe_std(std)), flags)

    @classmethod
    def for_names(cls, mean, std, names: Sequence[str], log_names: Sequence[str] = LOG_FORCING) -> "Normalizer":
        """A normalizer whose ``log1p`` flags mark the columns named in ``log_names``."""
        return cls(tuple(mean), tuple(std), tuple(n in log_names for n in names))

    def transform(self, values, dtype=np.float32) -> np.ndarray:
        """Physical ``(..., n)`` -> network scale, computed in float64 one column at a time and
        stored as ``dtype``."""
        values = np.asarray(values)
        out = np.empty(values.shape, dtype=dtype)
        for i, flag in enumerate(self.log1p):
            v = values[..., i].astype(np.float64)
            if flag:
                v = np.log1p(np.maximum(v, 0.0))
            out[..., i] = (v - self.mean[i]) / self.std[i]
        return out

    def inverse(self, values) -> np.ndarray:
        """Network scale -> physical units (float64; the ``log1p`` columns are mapped back with ``expm1``)."""
        v = np.asarray(values, dtype=np.float64) * np.asarray(self.std) + np.asarray(self.mean)
        for i, flag in enumerate(self.log1p):
            if flag:
                v[..., i] = np.expm1(v[..., i])
        return v
