"""MPR's discharge term: every candidate's routed discharge at the gauges, passed to the one objective.

``basin_model(region, rows, name)`` (MPR's batched model) gives ``theta -> runoff + baseflow`` (mm/day)
of the gauged-basin cells; :meth:`JointDischarge.update` routes a candidate's with the numpy
convolution evaluation uses (:meth:`vic_paraformer.dl.basins.GaugedBasins.route`) and keeps the days
from ``warmup + kernel length - 1`` on; :class:`WithDischarge` hands that discharge to every training
cell's objective call (see :mod:`vic_paraformer.strategies.mpr`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dl.basins import GaugedBasins
from ..errors import StrategyError
from ..parameters import ParameterSpace
from ..region import Region
from .transfer import TransferFunctions


class WithDischarge:
    """The calibration's Objective with the current candidate's routed discharge passed to every call
    (what a training cell's objective needs for the ``q`` term)."""

    def __init__(self, objective, source: "JointDischarge") -> None:
        self.objective, self.source = objective, source

    @property
    def options(self):
        return self.objective.options

    def evaluate(self, sm, obs_sm, **kw) -> dict[str, float]:
        return self.objective.evaluate(sm, obs_sm, q=self.source.q, obs_q=self.source.obs_q, **kw)

    def value(self, sm, obs_sm, **kw) -> float:
        return self.evaluate(sm, obs_sm, **kw)["total"]


class JointDischarge:
    """The gauged basins of the region and the current candidate's discharge at them (module docstring)."""

    def __init__(self, region: Region, basin_model, objective: str, tf: TransferFunctions, names: list[str],
                 space: ParameterSpace, warmup: int, name: str) -> None:
        self.basins = GaugedBasins.of(region, objective=str(objective))
        self.tf, self.space = tf, space
        self.attrs = region.attributes(names)[self.basins.rows]
        self.lo = int(warmup) + self.basins.n_lags - 1
        if self.lo + 2 > region.n_days:
            raise StrategyError(f"strategy {name!r}: discharge needs the {warmup}-day warm-up, the routing kernel's "
                                f"{self.basins.n_lags - 1} days and at least 2 scored days; the region has "
                                f"{region.n_days} days")
        self.obs_q = self.basins.obs_q[:, self.lo:]
        self.model = basin_model(region, self.basins.rows, name)
        self.q = None

    def wrap(self, objective) -> WithDischarge:
        return WithDischarge(objective, self)

    def update(self, coef: np.ndarray) -> None:
        """Route the discharge of the candidate coefficients ``coef``."""
        total = self.model(self.tf.apply(self.attrs, self.space, coef))
        self.q = self.basins.route(total)[:, self.lo:]

    def describe(self) -> dict[str, Any]:
        return {**self.basins.describe(), "scored_from_day": self.lo}
