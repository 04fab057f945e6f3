"""The model-zoo registry: network name -> :class:`NetworkSpec` (class, inputs, hyperparameters, sizes).

Every network module calls :func:`register` once at import; :mod:`vic_paraformer.dl.modelzoo`
imports them all. :func:`network_config` turns a strategy's options into the plain config dict
stored in model files and :func:`build_network` builds a network from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from torch import nn

from ...errors import StrategyError


@dataclass(frozen=True)
class NetworkSpec:
    """What the zoo knows about one network.

    ``uses_series``: the network reads a series window ``s`` besides the attributes ``a``.
    ``hyperparameters``: architecture options and their types (also strategy options; their
    values per preset are in :mod:`vic_paraformer.dl.presets`).
    """

    name: str
    cls: type[nn.Module]
    uses_series: bool
    hyperparameters: Mapping[str, type]


NETWORKS: dict[str, NetworkSpec] = {}


def register(name: str, cls: type[nn.Module], *, uses_series: bool, hyperparameters: Mapping[str, type]) -> NetworkSpec:
    """Add a network to the zoo (a name may be registered once)."""
    if name in NETWORKS and NETWORKS[name].cls is not cls:
        raise StrategyError(f"network {name!r} is already registered ({NETWORKS[name].cls.__name__})")
    spec = NetworkSpec(name, cls, bool(uses_series), dict(hyperparameters))
    NETWORKS[name] = spec
    return spec


def get_network(name: str) -> NetworkSpec:
    """The spec registered as ``name`` (StrategyError naming the known ones otherwise)."""
    if name not in NETWORKS:
        raise StrategyError(f"unknown network kind {name!r}; expected one of {sorted(NETWORKS)}")
    return NETWORKS[name]


def network_config(name: str, n_attr: int, n_series: int, n_params: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """The plain config ``{"kind", "n_attr"[, "n_series"], "n_params", **hyperparameters}`` of a network."""
    spec = get_network(name)
    config: dict[str, Any] = {"kind": name, "n_attr": int(n_attr)}
    if spec.uses_series:
        config["n_series"] = int(n_series)
    config["n_params"] = int(n_params)
    for key, typ in spec.hyperparameters.items():
        config[key] = typ(options[key])
    return config


def build_network(config: Mapping[str, Any]) -> nn.Module:
    """Build a network from ``{"kind": name, **constructor kwargs}`` (the form stored in model files)."""
    config = dict(config)
    spec = get_network(config.pop("kind", None))
    try:
        return spec.cls(**config)
    except TypeError as exc:
        raise StrategyError(f"invalid configuration for network {spec.name!r}: {exc}") from None
