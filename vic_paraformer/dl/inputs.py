"""The network inputs of the DL strategies: :class:`InputNormalization` (stored in model files).

Attributes are standardised with the mean/std over the calibrated region's cells, forcing per
variable over the training cells' days (``prec`` after ``log1p``), observed soil moisture with
the mean/std of the training cells' observations; all through the
:class:`~vic_paraformer.normalizer.Normalizer` that the surrogate uses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StrategyError
from ..normalizer import LOG_FORCING, Normalizer, safe_std
from ..region import Region

#: Series channels besides the forcing: observed sm (gaps = 0) and its mask.
N_SERIES_EXTRA = 2


@dataclass
class InputNormalization:
    """Standardisation statistics of the network inputs (see the module docstring)."""

    attribute_names: list[str]
    attribute_mean: list[float]
    attribute_std: list[float]
    forcing_names: list[str]
    forcing_mean: list[float]
    forcing_std: list[float]
    sm_mean: float
    sm_std: float

    @classmethod
    def fit(cls, region: Region, train_idx: np.ndarray) -> "InputNormalization":
        """Statistics of ``region`` (attributes over all cells, the rest over the cells at ``train_idx``,
        the only cells whose forcing and observations are read)."""
        names = list(region.forcing_names)
        att = Normalizer.fit(region.attributes())
        part = region.load_cells(np.asarray(train_idx))
        forcing = Normalizer.fit(part.forcing(), [n in LOG_FORCING for n in names])
        obs = part.observations("obs_sm")
        obs = obs[np.isfinite(obs)]
        return cls(list(region.attribute_names), list(att.mean), list(att.std), names, list(forcing.mean),
                   list(forcing.std), float(obs.mean()), float(safe_std(np.array([obs.std()]))[0]))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def attributes(self, region: Region) -> np.ndarray:
        """Normalised attributes ``(C, n_attr)`` in the stored order (RegionError if one is missing)."""
        a = region.attributes(self.attribute_names)
        return Normalizer(tuple(self.attribute_mean), tuple(self.attribute_std)).transform(a)

    def series(self, region: Region, use_obs: np.ndarray) -> np.ndarray:
        """Network series input ``(C, T, n_forcing + 2)``: forcing, observed sm (gaps 0), mask.

        Observations of cells where ``use_obs`` is False are hidden (all missing).
        """
        missing = [n for n in self.forcing_names if n not in region.forcing_names]
        if missing:
            raise StrategyError(f"region lacks forcing {missing} needed by the model")
        forcing = Normalizer.for_names(self.forcing_mean, self.forcing_std, self.forcing_names)
        f = forcing.transform(region.forcing(self.forcing_names), dtype=np.float64)
        if region.has("obs_sm"):
            obs = region.observations("obs_sm")
        else:
            obs = np.full((region.n_cells, region.n_days), np.nan)
        mask = np.isfinite(obs) & np.asarray(use_obs, bool)[:, None]
        z = np.where(mask, (np.nan_to_num(obs) - self.sm_mean) / self.sm_std, 0.0)
        return np.concatenate([f, z[..., None], mask[..., None].astype(np.float64)], axis=-1).astype(np.float32)
