"""Discovery of strategies and simulators through entry points (``importlib.metadata``).

Groups:

``vic_paraformer.strategies``
    :class:`~vic_paraformer.calibrator.Calibrator` subclasses. The built-ins ``sceua``, ``ffn_a``,
    ``lstm_z``, ``paraformer_a`` and ``paraformer_z`` are registered in our own ``setup.cfg``;
    any installed distribution adds its own the same way.
``vic_paraformer.simulators``
    :class:`~vic_paraformer.simulators.base.Simulator` subclasses (``waterbalance``, ``vic``).

Names are case-insensitive and hyphens are accepted for underscores (``paraformer-z``).
A plugin that fails to import gives a warning naming it and the reason; discovery goes on.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from .errors import SimulatorError, StrategyError

log = logging.getLogger(__name__)

STRATEGY_GROUP = "vic_paraformer.strategies"
SIMULATOR_GROUP = "vic_paraformer.simulators"


def normalize_name(name: str) -> str:
    """Canonical spelling of a plugin name: lower case, hyphens as underscores."""
    return name.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class PluginInfo:
    """What discovery knows about one entry point, loaded or not."""

    name: str
    value: str
    group: str
    distribution: str | None
    version: str | None
    obj: Any = None
    error: str | None = None

    @property
    def module(self) -> str:
        return self.value.split(":")[0]

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def description(self) -> str:
        return str(getattr(self.obj, "description", "") or "") if self.obj is not None else ""


def _entry_points(group: str) -> list[md.EntryPoint]:
    eps = md.entry_points(group=group)
    seen: dict[str, md.EntryPoint] = {}
    for ep in eps:  # the first distribution found on sys.path wins, as importlib does
        seen.setdefault(normalize_name(ep.name), ep)
    return list(seen.values())


def discover(group: str, *, load: bool = True) -> dict[str, PluginInfo]:
    """All entry points of ``group`` by canonical name; with ``load`` each is imported.

    Import failures are recorded in :attr:`PluginInfo.error` and warned about, never raised.
    """
    out: dict[str, PluginInfo] = {}
    for ep in _entry_points(group):
        dist = getattr(ep, "dist", None)
        info = dict(name=normalize_name(ep.name), value=ep.value, group=group,
                    distribution=getattr(dist, "name", None), version=getattr(dist, "version", None))
        obj, error = None, None
        if load:
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break discovery
                error = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"plugin {ep.name!r} ({ep.value}, group {group}) failed to load: {error}",
                              RuntimeWarning, stacklevel=2)
        out[info["name"]] = PluginInfo(**info, obj=obj, error=error)
    return dict(sorted(out.items()))


def strategies() -> list[str]:
    """Names of the installed calibration strategies (without importing them)."""
    return sorted(normalize_name(ep.name) for ep in _entry_points(STRATEGY_GROUP))


def simulators() -> list[str]:
    """Names of the installed simulators (without importing them)."""
    return sorted(normalize_name(ep.name) for ep in _entry_points(SIMULATOR_GROUP))


def _load_one(group: str, name: str, kind: str, error_cls: type[Exception]):
    key = normalize_name(name)
    eps = {normalize_name(ep.name): ep for ep in _entry_points(group)}
    if key not in eps:
        installed = ", ".join(sorted(eps)) or "none"
        raise error_cls(f"unknown {kind} {name!r}; installed: {installed}")
    ep = eps[key]
    try:
        return ep.load()
    except Exception as exc:  # noqa: BLE001
        raise error_cls(f"{kind} {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from exc


def get_calibrator_class(name: str):
    """The Calibrator subclass registered as ``name``."""
    return _load_one(STRATEGY_GROUP, name, "strategy", StrategyError)


def get_calibrator(name: str, **options: Any):
    """An instance of the strategy ``name`` built with ``options`` (``seed=...``, ...)."""
    return get_calibrator_class(name)(**options)


def get_simulator_class(name: str):
    """The Simulator subclass registered as ``name``."""
    return _load_one(SIMULATOR_GROUP, name, "simulator", SimulatorError)


def get_simulator(name: str, **options: Any):
    """An instance of the simulator ``name`` built with ``options``."""
    return get_simulator_class(name)(**options)


def calibrate(region, strategy: str = "paraformer_z", **options: Any):
    """Calibrate ``region`` with the named strategy; returns a CalibrationResult."""
    calibrator = get_calibrator(strategy, **options)
    calibrator.check(region)
    return calibrator.calibrate(region)


def make_listing_package(module_name: str, lister) -> None:
    """Make the sub-package ``module_name`` callable as ``lister``.

    ``vic_paraformer.strategies()`` and ``vic_paraformer.simulators()`` are public functions, but Python
    rebinds those names of the parent package to the sub-packages of the same name as soon as any module
    in them is imported. Giving the sub-package a ``__call__`` keeps ``vic_paraformer.strategies()``
    working whichever object the name points to.
    """
    import sys
    import types

    class _ListingPackage(types.ModuleType):
        def __call__(self) -> list[str]:
            return lister()

    _ListingPackage.__call__.__doc__ = lister.__doc__
    sys.modules[module_name].__class__ = _ListingPackage
