"""The one calibration objective: :class:`Objective` (its terms are documented in :mod:`vic_paraformer.objective`).

Every consumer calls it: the DL trainer (minibatch loss and validation loss), the spotpy cell
objective (per candidate, on float64 tensors without gradients), refinement's verified loss and,
for the observation operator, evaluation (through :func:`~vic_paraformer.objective.operators.fit`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .operators import ObservationOperator, apply_torch, fit_apply_torch
from .options import ObjectiveError, ObjectiveOptions
from .terms import discharge_term, masked_rmse, prior_term, range_boundary_loss, runoff_ratio_term, wb_term

if TYPE_CHECKING:
    import torch

__all__ = ["Objective", "pooled_std", "PROFILE"]

#: ``operator=PROFILE``: fit the options' operator in closed form to the given simulation itself.
PROFILE = "profile"
_ORDER = ("rbl", "fit", "wb", "runoff_ratio", "prior")


def pooled_std(x: np.ndarray, rows: Sequence[int] | None = None) -> float:
    """Standard deviation of the finite values of ``x`` (rows ``rows``), at least 1e-6 (1 with < 2 values):
    the scale of an RMSE in objective ``sm+et``."""
    x = np.asarray(x, float)
    if rows is not None:
        x = x[np.asarray(rows, int)]
    v = x[np.isfinite(x)]
    return float(max(np.std(v), 1e-6)) if v.size > 1 else 1.0


@dataclass(frozen=True)
class Objective:
    """The calibration objective for one calibration's options.

    ``sm_scale``/``et_scale`` are the observations' standard deviations (:func:`pooled_std`) that
    make the RMSEs unitless in an objective of more than ``sm`` (``sm+et``, ``sm+q``, ...);
    ``range_boundary`` adds the paper's range-boundary
    loss on the unclamped normalised parameters ``u`` (DL training).
    """

    options: ObjectiveOptions = ObjectiveOptions()
    sm_scale: float = 1.0
    et_scale: float = 1.0
    range_boundary: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | ObjectiveOptions, **kw: Any) -> "Objective":
        """From a strategy's (or a result's) options; ``kw`` as the constructor's."""
        opts = options if isinstance(options, ObjectiveOptions) else ObjectiveOptions.from_options(options)
        return cls(options=opts, **kw)

    def without_range_boundary(self) -> "Objective":
        return replace(self, range_boundary=False)

    # ------------------------------------------------------------------ the objective
    def terms(self, sm: torch.Tensor, obs_sm: torch.Tensor, *,
              operator: ObservationOperator | str | None = PROFILE, positions: Sequence[int] | None = None,
              et: torch.Tensor | None = None, obs_et: torch.Tensor | None = None,
              wb_et: torch.Tensor | None = None, ref_et: torch.Tensor | None = None,
              runoff: torch.Tensor | None = None, baseflow: torch.Tensor | None = None,
              prec: torch.Tensor | None = None, ref_q_ratio: torch.Tensor | None = None,
              q: torch.Tensor | None = None, obs_q: torch.Tensor | None = None,
              u: torch.Tensor | None = None, prior_u: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each term present and their sum ``"total"`` (0-d tensors), for ``(cell, day)`` tensors on the loss days.

        ``sm``/``obs_sm``: simulated and observed soil moisture; ``operator``: :data:`PROFILE` (fit the
        options' operator to ``sm`` itself), a stored :class:`ObservationOperator` applied with row
        ``i`` at fitted cell ``positions[i]`` (default ``i``), or None (identity). ``et``/``obs_et``:
        the ET of the ``sm+et`` term (the same days as ``sm``). ``wb_et``/``ref_et``: simulated and
        reference ET of the water-balance term (``wb_et`` defaults to ``et``; no term without
        ``ref_et`` or with loss ``paper``); ``runoff``/``baseflow``/``prec``/``ref_q_ratio`` ``(cell,)``:
        the runoff-ratio term (simulators). ``q``/``obs_q`` ``(gauge, time)``: routed and observed
        discharge (m3/s) of an objective with ``q``, scored by the ``q_metric`` option
        (:func:`~vic_paraformer.objective.terms.discharge_term`, as ``"q_loss"``). ``u``/``prior_u``: normalised parameters ``(cell, p)``
        and their prior (prior term; ``u`` also feeds the range-boundary loss).
        """
        o = self.options
        h = sm
        if isinstance(operator, ObservationOperator):
            h = apply_torch(operator, sm, np.arange(sm.shape[0]) if positions is None else positions)
        elif operator == PROFILE:
            if o.obs_operator != "identity":
                h = fit_apply_torch(o.obs_operator, sm, obs_sm, **o.operator_options)
        elif operator is not None:
            raise ObjectiveError(f"operator must be an ObservationOperator, {PROFILE!r} or None, got {operator!r}")
        out: dict[str, torch.Tensor] = {}
        if self.range_boundary and u is not None:
            out["rbl"] = range_boundary_loss(u, [0.0] * u.shape[-1], [1.0] * u.shape[-1])
        fit = out["sm_rmse"] = masked_rmse(h, obs_sm)
        weights = o.weights
        if len(weights) > 1 or weights["sm"] != 1.0:
            fit = weights["sm"] * fit / self.sm_scale
        if "et" in weights:
            if et is None or obs_et is None:
                raise ObjectiveError(f"objective {o.objective!r} needs simulated ET and ET observations ('obs_et')")
            out["et_rmse"] = masked_rmse(et, obs_et)
            fit = fit + weights["et"] * o.et_weight * out["et_rmse"] / self.et_scale
        if "q" in weights:
            if q is None or obs_q is None:
                raise ObjectiveError(f"objective {o.objective!r} needs routed discharge and discharge observations "
                                     "('obs_q' at gauges)")
            out["q_loss"] = discharge_term(q, obs_q, o.q_metric)
            fit = fit + weights["q"] * out["q_loss"]
        out["fit"] = fit
        if o.loss == "wb" and ref_et is not None:
            e = et if wb_et is None else wb_et
            if e is None:
                raise ObjectiveError("the water-balance term needs simulated ET")
            out["wb"] = wb_term(e, ref_et, o.wb_weight, o.wb_tolerance)
            if runoff is not None and baseflow is not None and prec is not None and ref_q_ratio is not None:
                out["runoff_ratio"] = runoff_ratio_term(runoff, baseflow, prec, ref_q_ratio, o.wb_weight)
        if o.prior_weight > 0 and u is not None and prior_u is not None:
            out["prior"] = prior_term(u, prior_u, o.prior_weight)
        parts = [out[k] for k in _ORDER if k in out]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        out["total"] = total
        return out

    def __call__(self, sm: torch.Tensor, obs_sm: torch.Tensor, **kw: Any) -> torch.Tensor:
        """The objective's value (:meth:`terms`' ``"total"``), differentiable."""
        return self.terms(sm, obs_sm, **kw)["total"]

    # ------------------------------------------------------------------ numpy callers
    def evaluate(self, sm: np.ndarray, obs_sm: np.ndarray, **kw: Any) -> dict[str, float]:
        """:meth:`terms` on numpy arrays, as float64 tensors without gradients; floats out, a non-finite
        total as ``inf`` (a broken run is the worst candidate)."""
        import torch

        def tensor(x):
            return None if x is None else torch.as_tensor(np.asarray(x, dtype=np.float64))

        args = {k: (v if k in ("operator", "positions") else tensor(v)) for k, v in kw.items()}
        with torch.no_grad():
            terms = self.terms(tensor(sm), tensor(obs_sm), **args)
        out = {k: float(v) for k, v in terms.items()}
        if not np.isfinite(out["total"]):
            out["total"] = float("inf")
        return out

    def value(self, sm: np.ndarray, obs_sm: np.ndarray, **kw: Any) -> float:
        """:meth:`evaluate`'s total."""
        return self.evaluate(sm, obs_sm, **kw)["total"]
