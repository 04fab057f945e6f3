"""The one scoring rule: which operator every row of a comparison goes through, and which days it is scored on.

Every report that compares parameter sets (``evaluate``, ``vic verify``, the benchmark) scores each
row — the default parameters, the calibrated ones, any baseline — by the same rule, so that
identical parameters score identically and a difference measures the parameters alone:

Operator (:class:`OperatorRule`)
    Each row's simulated soil moisture goes through its *own* observation operator, fitted by the
    same rule: the same kind (the result's operator kind; ``linear`` when the result used none, so
    that "default + H", the do-nothing baseline, is always reported), the same options (``l2``,
    ``n_quantiles``), on the same cells (the result's training cells), over the same days (the
    fitting window: the days the calibration actually learned from), and carried to other cells by
    the same ``new_cells`` rule. The operator stored with a result is *not* used for scoring: it was
    fitted to the calibrated run only.

Periods (:func:`fitting_window`, :func:`default_periods`, :func:`period_label`)
    A result records the span of observations it was fitted on, after warm-up
    (``info["calibration_period"]``). By default a report scores the days after that span when the
    data extend beyond it (``"held_out"``) and the span itself beside it (``"calibration"``,
    labelled in-sample). A scoring window that overlaps the fitting window is labelled in-sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import VicParaformerError
from .observation import ObservationOperator, fit as fit_operator

log = logging.getLogger(__name__)

__all__ = ["DO_NOTHING_KIND", "OperatorRule", "fitting_window", "default_periods", "period_label", "in_sample_days"]

#: Operator kind of the do-nothing baseline for a result calibrated without an operator.
DO_NOTHING_KIND = "linear"


def fitting_window(times: pd.DatetimeIndex, obs: np.ndarray, warmup_days: int | None = 0) -> tuple[str, str] | None:
    """First and last day (ISO dates) with a finite observation in ``obs`` ``(cell, day)`` after the
    first ``warmup_days`` days; None when there is none."""
    obs = np.asarray(obs, dtype=float)
    w = int(warmup_days or 0)
    has = np.isfinite(obs).any(axis=0) if obs.size else np.zeros(len(times), bool)
    has[:w] = False
    idx = np.flatnonzero(has)
    if not idx.size:
        return None
    return str(pd.Timestamp(times[idx[0]]).date()), str(pd.Timestamp(times[idx[-1]]).date())


def in_sample_days(period: Sequence, fit_period: Sequence | None) -> int:
    """Days shared by ``period`` and ``fit_period`` (inclusive ranges)."""
    if fit_period is None or period is None:
        return 0
    s = max(pd.Timestamp(period[0]), pd.Timestamp(fit_period[0]))
    e = min(pd.Timestamp(period[1]), pd.Timestamp(fit_period[1]))
    return max(int((e - s).days) + 1, 0)


def period_label(period: Sequence, fit_period: Sequence | None) -> str:
    """``held-out``, ``in-sample`` (inside the fitting window) or ``partly in-sample (N of M days)``;
    ``fitting window unknown`` when the result records none."""
    if fit_period is None:
        return "fitting window unknown"
    shared = in_sample_days(period, fit_period)
    total = int((pd.Timestamp(period[1]) - pd.Timestamp(period[0])).days) + 1
    if shared == 0:
        return "held-out"
    if shared >= total:
        return "in-sample"
    return f"partly in-sample ({shared} of {total} days in the fitting window)"


def default_periods(fit_period: Sequence | None, times: pd.DatetimeIndex) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """``{"held_out": after the fitting window, "calibration": the fitting window}``, each clipped to
    ``times`` and present only where it holds days; the whole span (``"all"``) without a window."""
    t0, t1 = pd.Timestamp(times[0]), pd.Timestamp(times[-1])
    if fit_period is None:
        log.warning("the result records no fitting window; scoring every day %s..%s", t0.date(), t1.date())
        return {"all": (t0, t1)}
    fs, fe = pd.Timestamp(fit_period[0]), pd.Timestamp(fit_period[1])
    out: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    if fe < t1:
        out["held_out"] = (max(fe + pd.Timedelta(days=1), t0), t1)
    if fe >= t0 and fs <= t1:
        out["calibration"] = (max(fs, t0), min(fe, t1))
    if not out:
        raise VicParaformerError(f"the data {t0.date()}..{t1.date()} do not overlap the result's fitting window "
                                 f"{fs.date()}..{fe.date()}; give a scoring period")
    return out


@dataclass(frozen=True)
class OperatorRule:
    """How every row's operator is fitted (see the module docstring)."""

    kind: str
    fit_cells: tuple[int, ...]
    fit_period: tuple[str, str] | None
    new_cells: str = "nearest"
    options: Mapping[str, Any] = field(default_factory=dict)
    stored_kind: str = "identity"

    @classmethod
    def for_result(cls, result, region) -> "OperatorRule":
        """The rule for scoring rows beside ``result`` on ``region``."""
        op = result.obs_operator
        kind = op.kind if not op.is_identity else DO_NOTHING_KIND
        cells = np.asarray(result.train_cells if len(result.train_cells) else region.training_cells)
        cal = (result.info or {}).get("calibration_period")
        options = {k: v for k, v in (op.options or {}).items() if k in ("l2", "n_quantiles")}
        return cls(kind=kind, fit_cells=tuple(int(c) for c in cells), fit_period=tuple(cal) if cal else None,
                   new_cells=op.new_cells if not op.is_identity else "nearest", options=options, stored_kind=op.kind)

    def fit_days(self, times: pd.DatetimeIndex, fallback=None) -> np.ndarray:
        """Mask of the fitting days in ``times`` (``fallback`` period when the rule has no window)."""
        window = self.fit_period or fallback
        if window is None:
            return np.ones(len(times), bool)
        return np.asarray((times >= pd.Timestamp(window[0])) & (times <= pd.Timestamp(window[1])))

    def fit(self, sim: np.ndarray, obs: np.ndarray, times: pd.DatetimeIndex, cells: Sequence[int],
            lat: Sequence[float], lon: Sequence[float], fallback=None) -> ObservationOperator:
        """The operator for one row: ``sim`` and ``obs`` ``(cell, day)`` of the fit cells over ``times``."""
        days = self.fit_days(pd.DatetimeIndex(times), fallback)
        return fit_operator(self.kind, np.asarray(sim, float)[:, days], np.asarray(obs, float)[:, days],
                            cells=cells, lat=lat, lon=lon, new_cells=self.new_cells, **dict(self.options))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "stored_kind": self.stored_kind, "options": dict(self.options),
                "new_cells": self.new_cells, "n_fit_cells": len(self.fit_cells),
                "fit_period": list(self.fit_period) if self.fit_period else None,
                "rule": "every row through its own operator of this kind, fitted on the result's training cells "
                        "over the fitting window"}
