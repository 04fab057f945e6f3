"""Transfer functions: each calibrated parameter as a fixed-form function of a cell's attributes.

The form is the one multiscale parameter regionalisation (MPR; Samaniego et al. 2010, Mizukami et
al. 2017 for VIC) uses in its simplest, general version: linear in the logit of the parameter
normalised to its bounds,

    u_p = sigmoid(g_p0 + sum_k g_pk z_k),    p = lower_p + u_p (upper_p - lower_p),

where ``z_k`` is attribute ``k`` standardised over the calibration region (mean 0, sd 1; attributes
named in ``log_attributes`` are log-transformed first, for heavy-tailed ones like saturated
hydraulic conductivity). The standardisation is stored with the coefficients, so the functions
apply unchanged to any cell with the same attributes: untrained neighbours, or a new region.

:class:`TransferFunctions` holds the attribute names, the standardisation and the coefficients, and
prints itself in a readable form (``describe``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import StrategyError
from ..parameters import ParameterSpace

#: Attributes tried by default, in this order, where the region has them with some spread: texture
#: and hydraulic conductivity, soil depth, topography, vegetation, climate -- the predictors of
#: the published VIC regionalisations.
DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "sand", "clay", "ksat", "soil_depth3", "soil_depth_total", "slope", "elev_band_std", "veg_fraction", "lai_mean",
    "aridity", "annual_prec", "mean_annual_prec",
)
#: Attributes log-transformed before standardising by default (when present and positive).
DEFAULT_LOG_ATTRIBUTES: tuple[str, ...] = ("ksat", "aridity")


def logit(u: np.ndarray) -> np.ndarray:
    u = np.clip(np.asarray(u, float), 1e-6, 1 - 1e-6)
    return np.log(u / (1 - u))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


@dataclass
class TransferFunctions:
    """Coefficients ``(n_parameters, 1 + n_attributes)`` (intercept first) of the logit-linear
    functions of standardised attributes, with the standardisation that goes with them."""

    parameters: tuple[str, ...]
    attributes: tuple[str, ...]
    log_attributes: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray

    @classmethod
    def standardised_on(cls, parameters: Sequence[str], names: Sequence[str], values: np.ndarray,
                        log_attributes: Sequence[str] = ()) -> "TransferFunctions":
        """Functions (coefficients zero) whose standardisation is that of ``values`` ``(cells, attrs)``."""
        logs = tuple(n for n in names if n in set(log_attributes))
        x = cls._transform(np.asarray(values, float), tuple(names), logs)
        std = x.std(axis=0)
        return cls(parameters=tuple(parameters), attributes=tuple(names), log_attributes=logs, mean=x.mean(axis=0),
                   std=np.where(std > 0, std, 1.0), coef=np.zeros((len(parameters), 1 + len(names))))

    @staticmethod
    def _transform(values: np.ndarray, names: tuple[str, ...], logs: tuple[str, ...]) -> np.ndarray:
        x = np.array(values, float, copy=True)
        for j, n in enumerate(names):
            if n in logs:
                if np.any(x[:, j] <= 0):
                    raise StrategyError(f"attribute {n!r} has values <= 0 and cannot be log-transformed; drop it from "
                                        "log_attributes")
                x[:, j] = np.log(x[:, j])
        return x

    @property
    def n_coefficients(self) -> int:
        return int(self.coef.size)

    def z(self, values: np.ndarray) -> np.ndarray:
        """Standardised attributes ``(cells, attrs)``."""
        return (self._transform(np.asarray(values, float), self.attributes, self.log_attributes) - self.mean) / self.std

    def normalised(self, values: np.ndarray, coef: np.ndarray | None = None) -> np.ndarray:
        """Normalised parameters ``u`` ``(cells, parameters)`` for attribute values ``(cells, attrs)``."""
        c = self.coef if coef is None else np.asarray(coef, float).reshape(self.coef.shape)
        return sigmoid(c[:, 0][None, :] + self.z(values) @ c[:, 1:].T)

    def apply(self, values: np.ndarray, space: ParameterSpace, coef: np.ndarray | None = None) -> np.ndarray:
        """Physical parameters ``(cells, parameters)`` in ``space`` for attribute values ``(cells, attrs)``."""
        if tuple(space.names) != self.parameters:
            raise StrategyError(f"transfer functions are for parameters {list(self.parameters)}, the space has "
                                f"{list(space.names)}")
        return np.asarray(space.denormalize(self.normalised(values, coef)), float)

    def describe(self, space: ParameterSpace, digits: int = 3) -> list[str]:
        """One readable line per parameter, e.g. ``infilt = 0.001 + 0.499 * sigmoid(-0.41 + 1.2 clay' ...)``
        where ``clay'`` is the standardised attribute (``log`` marks log-transformed ones)."""
        lines = []
        for p, name in enumerate(self.parameters):
            lo, hi = float(space.lower[p]), float(space.upper[p])
            terms = [f"{self.coef[p, 0]:+.{digits}g}"]
            for k, a in enumerate(self.attributes):
                c = self.coef[p, k + 1]
                if abs(c) >= 10 ** -digits:
                    label = f"log({a})'" if a in self.log_attributes else f"{a}'"
                    terms.append(f"{c:+.{digits}g} {label}")
            lines.append(f"{name} = {lo:g} + {hi - lo:g} * sigmoid({' '.join(terms)})")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"form": "logit-linear", "parameters": list(self.parameters), "attributes": list(self.attributes),
                "log_attributes": list(self.log_attributes), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "coefficients": self.coef.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | str) -> "TransferFunctions":
        if isinstance(d, str):
            d = json.loads(d)
        if d.get("form") != "logit-linear":
            raise StrategyError(f"transfer functions of form {d.get('form')!r}: only 'logit-linear' is known")
        return cls(parameters=tuple(d["parameters"]), attributes=tuple(d["attributes"]),
                   log_attributes=tuple(d.get("log_attributes", ())), mean=np.asarray(d["mean"], float),
                   std=np.asarray(d["std"], float), coef=np.asarray(d["coefficients"], float))


def choose_attributes(available: Sequence[str], values: np.ndarray, wanted: Sequence[str] | None) -> list[str]:
    """The attributes the functions use: ``wanted`` (each must exist), or the defaults present with
    some spread (StrategyError when none is)."""
    available = list(available)
    if wanted is not None:
        missing = [a for a in wanted if a not in available]
        if missing:
            raise StrategyError(f"attribute(s) {missing} not in the region; it has {available}")
        return list(wanted)
    out = []
    for a in DEFAULT_ATTRIBUTES:
        if a in available:
            col = np.asarray(values, float)[:, available.index(a)]
            if np.all(np.isfinite(col)) and col.std() > 1e-9 * max(1.0, abs(col.mean())):
                out.append(a)
    if "annual_prec" in out and "mean_annual_prec" in out:
        out.remove("mean_annual_prec")
    if "soil_depth3" in out and "soil_depth_total" in out:
        out.remove("soil_depth_total")
    if not out:
        raise StrategyError(f"none of the default attributes {list(DEFAULT_ATTRIBUTES)} varies over the training "
                            f"cells; name them with the 'attributes' option (the region has {available})")
    return out


__all__ = ("TransferFunctions", "choose_attributes", "DEFAULT_ATTRIBUTES", "DEFAULT_LOG_ATTRIBUTES", "logit",
           "sigmoid")
