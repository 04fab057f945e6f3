"""Training losses of the paper (eq. 13-14): the masked RMSE and the range-boundary loss.

Both live with the rest of the objective in :mod:`vic_paraformer.objective.terms` and are
re-exported here; the DL trainer calls them through :class:`vic_paraformer.objective.Objective`.
"""

from __future__ import annotations

from ..objective.terms import masked_rmse, range_boundary_loss

__all__ = ["masked_rmse", "range_boundary_loss"]
