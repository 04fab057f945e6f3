"""The network registry of the DL strategies: name -> :class:`NetworkSpec` (class, inputs, hyperparameters).

The one table of networks. Torch-free: a network's class is named by a ``"module:Class"`` reference
and imported only when a network is built (:func:`build_network`), so a DL strategy's options can be
listed (``vic-paraformer strategies NAME``) without importing torch.

The built-in networks of :mod:`vic_paraformer.dl.modelzoo` are declared in :data:`NETWORKS` below.
A network of your own: an ``nn.Module`` whose ``forward(a, s)`` returns ``u`` ``(B, p)``, and one
:func:`register` call (with the class or its ``"module:Class"`` reference) before a strategy with
that ``network_kind`` is defined. :func:`network_config` turns a strategy's options into the plain
config dict stored in model files and :func:`build_network` builds a network from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import StrategyError
from ..registry import load_reference


@dataclass(frozen=True)
class NetworkSpec:
    """What the registry knows about one network.

    ``target``: the ``nn.Module`` class or its ``"module:Class"`` reference (imported by :attr:`cls`).
    ``uses_series``: the network reads a series window ``s`` besides the attributes ``a``.
    ``hyperparameters``: architecture options and their types (also strategy options; their
    values per preset are in :mod:`vic_paraformer.dl.presets`).
    """

    name: str
    target: Any
    uses_series: bool
    hyperparameters: Mapping[str, type] = field(default_factory=dict)

    @property
    def cls(self) -> type:
        """The network class (imports its module, and torch, on first use)."""
        return load_reference(self.target) if isinstance(self.target, str) else self.target


_ZOO = "vic_paraformer.dl.modelzoo"
_TRANSFORMER = {"d_model": int, "n_heads": int, "n_layers": int, "dropout": float}

#: network name -> spec; the built-in networks, and any added with :func:`register`.
NETWORKS: dict[str, NetworkSpec] = {spec.name: spec for spec in (
    NetworkSpec("ffn_a", f"{_ZOO}.ffn_a:FFNA", False, {"hidden_size": int, "dropout": float}),
    NetworkSpec("lstm_z", f"{_ZOO}.lstm_z:LSTMZ", True, {"hidden_size": int, "dropout": float}),
    NetworkSpec("paraformer_a", f"{_ZOO}.paraformer_a:ParaFormerA", False, dict(_TRANSFORMER)),
    NetworkSpec("paraformer_z", f"{_ZOO}.paraformer_z:ParaFormerZ", True,
                {**_TRANSFORMER, "attn_dropout": float, "patch_days": int}),
)}


def register(name: str, cls: Any, *, uses_series: bool, hyperparameters: Mapping[str, type]) -> NetworkSpec:
    """Add a network (its class or ``"module:Class"`` reference); a name may be registered once
    (registering the same spec again is allowed, another one under a taken name is a StrategyError)."""
    spec = NetworkSpec(name, cls, bool(uses_series), dict(hyperparameters))
    if name in NETWORKS and NETWORKS[name] != spec:
        raise StrategyError(f"network {name!r} is already registered ({NETWORKS[name].target})")
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


def build_network(config: Mapping[str, Any]):
    """Build a network (an ``nn.Module``) from ``{"kind": name, **constructor kwargs}``, the form
    stored in model files."""
    config = dict(config)
    spec = get_network(config.pop("kind", None))
    try:
        return spec.cls(**config)
    except TypeError as exc:
        raise StrategyError(f"invalid configuration for network {spec.name!r}: {exc}") from None
