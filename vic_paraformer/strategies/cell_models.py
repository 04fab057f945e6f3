"""Cell models of the per-cell strategies: physical parameters -> one cell's soil moisture.

:class:`SurrogateCellModel` runs a trained surrogate over the cell's whole series,
:class:`SimulatorCellModel` a registered simulator on a one-cell Region. Both are small and
picklable (heavy objects are built lazily in the worker process).
"""

from __future__ import annotations

import abc
from typing import Any, Mapping

import numpy as np

from ..errors import SurrogateError
from ..parameters import ParameterSpace
from ..region import Region


class CellModel(abc.ABC):
    """One cell's model: physical parameters ``(p,)`` -> simulated top-layer soil moisture ``(T,)``.

    Instances are pickled to worker processes, so they hold only small arrays and paths; heavy
    objects (surrogate, simulator) are built lazily in the worker.
    """

    @abc.abstractmethod
    def simulate(self, theta: np.ndarray) -> np.ndarray:
        """Soil moisture (m3/m3) for every day of the cell's period."""

    def simulate_outputs(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Every output the model has (``sm`` at least; ``et``, ``runoff``, ``baseflow`` where known) ``(T,)``."""
        return {"sm": self.simulate(theta)}

    def describe(self) -> str:
        return type(self).__name__


class SurrogateCellModel(CellModel):
    """A cell evaluated through a trained surrogate over the cell's whole series.

    The series is tiled with the surrogate's training windows (``Surrogate.predict_tensor``), as
    :meth:`Surrogate.predict` does.

    ``x`` is the cell's normalised forcing ``(T, n_forcing)`` and ``a`` its normalised
    attributes ``(n_attr,)``, both from ``Surrogate.prepare``. Either ``surrogate_path`` (for
    worker processes) or an in-memory ``surrogate`` is used.
    """

    def __init__(self, x: np.ndarray, a: np.ndarray, space: ParameterSpace, *,
                 surrogate_path: str | None = None, surrogate=None) -> None:
        if surrogate_path is None and surrogate is None:
            raise SurrogateError("SurrogateCellModel needs a surrogate checkpoint path or a Surrogate")
        self.x = np.asarray(x, np.float32)
        self.a = np.asarray(a, np.float32)
        self.space = space
        self.surrogate_path = None if surrogate_path is None else str(surrogate_path)
        self._surrogate = surrogate
        self._xt = self._at = None

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.surrogate_path is not None:
            state["_surrogate"] = None
        state["_xt"] = state["_at"] = None
        return state

    def _get(self):
        if self._surrogate is None:
            from ..surrogate.resolve import load_surrogate_cached  # here: the strategy module loads without torch

            from ..surrogate.fixed import for_space

            self._surrogate = for_space(load_surrogate_cached(self.surrogate_path), self.space)
        return self._surrogate

    def simulate(self, theta: np.ndarray) -> np.ndarray:
        return self.simulate_outputs(theta)["sm"]

    def simulate_outputs(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        sur = self._get()
        if self._xt is None:
            self._xt = torch.as_tensor(self.x)[None]
            self._at = torch.as_tensor(self.a)[None]
        u = torch.as_tensor(self.space.normalize(np.asarray(theta, float)), dtype=torch.float32)[None]
        dev = getattr(sur, "device", None) or "cpu"
        args = (self._xt.to(dev), self._at.to(dev), u.clamp(0.0, 1.0).to(dev))
        with torch.no_grad():
            # predict_tensor tiles long series with training windows; a surrogate without it
            # (any nn.Module following the forward contract) runs on the whole series at once
            y = sur.predict_tensor(*args) if hasattr(sur, "predict_tensor") else sur(*args)
        y = y[0].detach().cpu().numpy().astype(float)
        out = {"sm": y[:, 0]}
        if y.shape[-1] > 1:
            out["et"] = y[:, 1]
        return out

    def describe(self) -> str:
        return f"surrogate {self.surrogate_path or '<in memory>'}"


class SimulatorCellModel(CellModel):
    """A cell evaluated by a registered simulator on a one-cell Region."""

    def __init__(self, cell_ds, simulator: str, space: ParameterSpace, simulator_options: Mapping[str, Any] | None = None) -> None:
        self.cell_ds = cell_ds
        self.simulator = simulator
        self.simulator_options = dict(simulator_options or {})
        self.space = space
        self._sim = self._region = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_sim"] = state["_region"] = None
        return state

    def simulate(self, theta: np.ndarray) -> np.ndarray:
        return self.simulate_outputs(theta)["sm"]

    def simulate_outputs(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        if self._sim is None:
            from ..registry import get_simulator

            self._sim = get_simulator(self.simulator, **self.simulator_options)
            self._region = Region(self.cell_ds, validate=False)
        params = self.space.to_dataset(np.asarray(theta, float)[None, :], self._region.cells)
        out = self._sim.simulate(self._region, params)
        return {k: np.asarray(out[k].values, dtype=float).reshape(-1)
                for k in ("sm", "et", "runoff", "baseflow") if k in out}

    def describe(self) -> str:
        return f"simulator {self.simulator}"
