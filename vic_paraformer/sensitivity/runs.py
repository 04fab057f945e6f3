"""Model runs of a sensitivity analysis: every parameter set at every cell, through a surrogate or a simulator.

The sets of the design are shared by every cell (the same ``(run, p)`` matrix; the indices of
each cell are estimated from its own outputs). Parameters of the model that the analysed space
does not vary stay at the region's own values (:func:`~vic_paraformer.parameters.default_parameters`).
Besides the design's sets, each cell is run once at those default values: the water-balance
reference of the calibration objective (the same model at the default parameters).

``surrogate``: :meth:`Surrogate.predict_ensemble` (batched over every (set, cell) pair, no
gradients; every output it predicts: ``sm``, ``et`` and, for surrogates trained since they predict
them, ``runoff`` and ``baseflow``; the default run's runoff and baseflow are not returned, so that
the objective leaves out the runoff ratio as a calibration through a surrogate does). ``simulator``: :class:`~vic_paraformer.ensemble.EnsembleRunner`
(``sm``, ``et``, ``runoff``, ``baseflow``).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from ..parameters import PARAMETER_NAMES, ParameterSpace, default_parameters
from ..region import Region
from .design import SensitivityError

log = logging.getLogger(__name__)

#: The outputs the terms read.
OUTPUTS: tuple[str, ...] = ("sm", "et", "runoff", "baseflow")


def _full_sets(space: ParameterSpace, model_space: ParameterSpace, x: np.ndarray, defaults: np.ndarray) -> np.ndarray:
    """``(S, C, p_model)``: the design's sets ``x`` ``(S, p)`` for ``space``'s parameters, the cells'
    ``defaults`` ``(C, p_model)`` for the model's others."""
    n_s, n_c = len(x), len(defaults)
    theta = np.broadcast_to(defaults, (n_s, n_c, model_space.n)).copy()
    for j, name in enumerate(space.names):
        theta[:, :, model_space.names.index(name)] = x[:, j][:, None]
    return theta


def model_space_of(surrogate=None) -> ParameterSpace:
    """The parameters the model takes: the surrogate's space, or every VIC parameter (``vic`` bounds)."""
    return surrogate.parameter_space if surrogate is not None else ParameterSpace.preset("vic")


def check_space(space: ParameterSpace, surrogate=None) -> None:
    """A one-line error when ``space`` names a parameter the model does not take."""
    model = model_space_of(surrogate)
    unknown = [n for n in space.names if n not in model.names]
    if unknown:
        what = "the surrogate" if surrogate is not None else "the simulators"
        raise SensitivityError(f"parameter(s) {unknown} are not inputs of {what}; it takes {list(model.names)}")


def run_sets(region: Region, space: ParameterSpace, x: np.ndarray, *, surrogate=None, simulator=None,
             simulator_options: Mapping[str, Any] | None = None, n_workers: int = 1, batch_size: int = 512,
             progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Outputs at the design's sets and at the default parameters for every cell of ``region``.

    Returns ``(design, default)``: dicts of the outputs the model gives, ``(S, C, T)`` and ``(C, T)``
    (float32), for ``x`` ``(S, p)`` in physical units of ``space``.
    """
    if (surrogate is None) == (simulator is None):
        raise SensitivityError("give exactly one model: a surrogate or a simulator")
    check_space(space, surrogate)
    model_space = model_space_of(surrogate)
    defaults, _ = default_parameters(region, model_space)
    theta = np.concatenate([_full_sets(space, model_space, x, defaults), defaults[None]], axis=0)
    if surrogate is not None:
        out = surrogate.predict_ensemble(region, theta, batch_size=batch_size, progress=progress)
        runs = {name: out[..., i] for i, name in enumerate(surrogate.output_names) if name in OUTPUTS}
    else:
        import xarray as xr

        from ..ensemble import EnsembleRunner

        names = list(PARAMETER_NAMES)
        params = xr.Dataset({n: (("sample", "cell"), theta[..., model_space.names.index(n)]) for n in names},
                            coords={"sample": np.arange(len(theta)), "cell": region.cells})
        with EnsembleRunner(simulator, n_workers=n_workers, progress=progress,
                            simulator_options=dict(simulator_options or {}) if isinstance(simulator, str) else None
                            ) as runner:
            ds = runner.run(region, params, outputs=list(OUTPUTS), desc="sensitivity runs")
        runs = {k: np.asarray(ds[k].transpose("sample", "cell", "time").values, dtype=np.float32)
                for k in OUTPUTS if k in ds}
    default = {k: v[-1] for k, v in runs.items()}
    if surrogate is not None:
        # the objective is scored as a calibration through the surrogate scores it: SCE-UA and DDS with
        # a surrogate leave the water-balance term's runoff ratio out, so its reference is not given
        default = {k: v for k, v in default.items() if k not in ("runoff", "baseflow")}
    return {k: v[:-1] for k, v in runs.items()}, default
