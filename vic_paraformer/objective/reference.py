"""The water-balance term's reference ET (option ``wb_reference``) and how it is named.

``wb_reference="default"`` (the default): the reference is the run of the *same* model (the
surrogate a strategy calibrates through, or the simulator it runs) at the region's default
parameters (:func:`~vic_paraformer.parameters.default_parameters`), so an ``--objective sm``
calibration learns nothing from observed ET and an ET check afterwards stays independent.
``wb_reference="observed"``: a cell with at least :data:`MIN_ET_OBS` finite ``obs_et`` values on
the loss days takes its observed ET as the reference (NaN on the other days: unknown), the
others the default run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .options import DEFAULT_WB_REFERENCE, check_wb_reference

__all__ = ["MIN_ET_OBS", "reference_et", "describe_reference"]

#: Fewest ``obs_et`` values on the loss days for a cell's observed ET to be its reference (``observed``).
MIN_ET_OBS: int = 30


def reference_et(default_et: np.ndarray, obs_et: np.ndarray | None, loss_days: np.ndarray | None = None,
                 wb_reference: str = DEFAULT_WB_REFERENCE) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell reference ET series ``(cell, time)`` and its source per cell (``"observed"``/``"default run"``).

    ``loss_days`` boolean over time (default all days) counts the observations for ``"observed"``.
    """
    ref = np.asarray(default_et, float).copy()
    src = np.full(ref.shape[0], "default run", dtype=object)
    if check_wb_reference(wb_reference) == "observed" and obs_et is not None:
        o = np.asarray(obs_et, float)
        days = np.ones(o.shape[-1], bool) if loss_days is None else np.asarray(loss_days, bool)
        n = np.isfinite(o[:, days]).sum(axis=1)
        use = n >= MIN_ET_OBS
        ref[use] = o[use]
        src[use] = "observed"
    return ref, src


def describe_reference(wb_reference: str, sources: np.ndarray, model: str, default_source: str) -> dict[str, Any]:
    """``{"kind", "description", "cells_observed"}`` naming the reference actually used.

    ``sources`` is :func:`reference_et`'s per-cell source, ``model`` the model whose default run is the
    reference (e.g. ``"the surrogate"``), ``default_source`` where the default parameters come from.
    """
    kind = check_wb_reference(wb_reference)
    n_obs = int(np.sum(np.asarray(sources) == "observed"))
    run = f"{model}'s run at the default parameters ({default_source})"
    if kind == "default":
        text = run
    else:
        text = (f"observed ET (obs_et, >= {MIN_ET_OBS} values on the loss days) at {n_obs} of {len(sources)} "
                f"training cell(s), elsewhere {run}")
    return {"kind": kind, "description": text, "cells_observed": n_obs}
