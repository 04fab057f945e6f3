"""The registries of strategies and simulators: built-ins declared here, merged with entry points.

Groups:

``vic_paraformer.strategies``
    :class:`~vic_paraformer.calibrator.Calibrator` subclasses. Built in: ``sceua``, ``ffn_a``,
    ``lstm_z``, ``paraformer_a``, ``paraformer_z`` and ``mpr`` (:data:`BUILTIN_STRATEGIES`).
``vic_paraformer.simulators``
    :class:`~vic_paraformer.simulators.base.Simulator` subclasses. Built in: ``waterbalance`` and
    ``vic`` (:data:`BUILTIN_SIMULATORS`).
``vic_paraformer.readers``
    :class:`~vic_paraformer.readers.base.Reader` subclasses (observation formats, the values of
    ``--obs-format``). Built in: :data:`BUILTIN_READERS`.

The built-ins are declared in code, as ``"module:Class"`` references imported on first use, so a
checkout that was never installed has them too. Any installed distribution adds its own through an
entry point of the same group (``importlib.metadata``); the two are merged, as xarray merges its
backends.

Rules of the merge:

* Names are case-insensitive and hyphens are accepted for underscores (``paraformer-z``).
* An entry point may add a name; it may not take over a built-in one. An entry point whose name
  is a built-in's and whose target is the same class (e.g. the metadata of an older install of
  this package) is the same registration. Any other pair of registrations under one name -- an
  entry point against a built-in, or two entry points of different distributions with different
  targets -- is a conflict: listing warns about it, and loading the name raises
  :class:`~vic_paraformer.errors.StrategyError` (or ``SimulatorError``) naming every claimant, so
  which class runs is never decided by the order of ``sys.path``.
* A plugin that fails to import gives a warning naming it and the reason; discovery goes on.

The listing functions are :func:`list_strategies` and :func:`list_simulators` (also
``vic_paraformer.list_strategies()``); ``strategies`` and ``simulators`` here are the same functions
under their older names. ``vic_paraformer.strategies`` and ``vic_paraformer.simulators`` are the
sub-packages holding the built-ins.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from ._version import __version__
from .errors import ObservationError, SimulatorError, StrategyError

log = logging.getLogger(__name__)

STRATEGY_GROUP = "vic_paraformer.strategies"
SIMULATOR_GROUP = "vic_paraformer.simulators"
READER_GROUP = "vic_paraformer.readers"
#: The distribution that ships the built-ins (as named in ``setup.cfg``).
DISTRIBUTION = "vic-paraformer"

#: Built-in strategies: name -> ``"module:Class"``.
BUILTIN_STRATEGIES: dict[str, str] = {
    "sceua": "vic_paraformer.strategies.sceua:SCEUACalibrator",
    "ffn_a": "vic_paraformer.strategies.ffn_a:FFNACalibrator",
    "lstm_z": "vic_paraformer.strategies.lstm_z:LSTMZCalibrator",
    "paraformer_a": "vic_paraformer.strategies.paraformer_a:ParaFormerACalibrator",
    "paraformer_z": "vic_paraformer.strategies.paraformer_z:ParaFormerZCalibrator",
    "mpr": "vic_paraformer.strategies.mpr:MPRCalibrator",
}
#: Built-in simulators: name -> ``"module:Class"``.
BUILTIN_SIMULATORS: dict[str, str] = {
    "waterbalance": "vic_paraformer.simulators.waterbalance:WaterBalanceSimulator",
    "vic": "vic_paraformer.simulators.vic:VICSimulator",
}
#: Built-in observation readers: name -> ``"module:Class"`` (``auto`` tries them in this order).
BUILTIN_READERS: dict[str, str] = {
    "csv": "vic_paraformer.readers.table:TableReader",
    "ismn": "vic_paraformer.readers.ismn:IsmnReader",
    "ameriflux": "vic_paraformer.readers.ameriflux:AmerifluxReader",
    "fluxnet": "vic_paraformer.readers.fluxnet:FluxnetReader",
    "cf": "vic_paraformer.readers.cfgrid:CfGridReader",
    "smap": "vic_paraformer.readers.smap:SmapL3Reader",
}
#: group -> its built-ins.
BUILTINS: Mapping[str, Mapping[str, str]] = {STRATEGY_GROUP: BUILTIN_STRATEGIES, SIMULATOR_GROUP: BUILTIN_SIMULATORS,
                                             READER_GROUP: BUILTIN_READERS}
_KINDS = {STRATEGY_GROUP: ("strategy", StrategyError), SIMULATOR_GROUP: ("simulator", SimulatorError),
          READER_GROUP: ("observation format", ObservationError)}


def normalize_name(name: str) -> str:
    """Canonical spelling of a plugin name: lower case, hyphens as underscores."""
    return name.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class PluginInfo:
    """What discovery knows about one registered name, loaded or not.

    ``conflict`` lists the other registrations of the same name (``"distribution: module:Class"``);
    a name with a conflict cannot be loaded.
    """

    name: str
    value: str
    group: str
    distribution: str | None
    version: str | None
    obj: Any = None
    error: str | None = None
    builtin: bool = False
    conflict: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.value.split(":")[0]

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def description(self) -> str:
        return str(getattr(self.obj, "description", "") or "") if self.obj is not None else ""


def load_reference(value: str) -> Any:
    """The object a ``"module:attr[.attr]"`` reference names (the entry-point syntax), imported now."""
    module, _, attrs = value.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for attr in filter(None, attrs.strip().split(".")):
        obj = getattr(obj, attr)
    return obj


def _check_group(group: str) -> None:
    if group not in BUILTINS:
        raise ValueError(f"unknown plugin group {group!r}; expected one of {sorted(BUILTINS)}")


def _registrations(group: str) -> dict[str, list[PluginInfo]]:
    """Every registration of ``group`` by canonical name, built-in first, then entry points in
    ``sys.path`` order; repeated identical targets are kept once."""
    _check_group(group)
    out: dict[str, list[PluginInfo]] = {
        name: [PluginInfo(name=name, value=value, group=group, distribution=DISTRIBUTION, version=__version__,
                          builtin=True)]
        for name, value in BUILTINS[group].items()}
    for ep in md.entry_points(group=group):
        name = normalize_name(ep.name)
        claims = out.setdefault(name, [])
        if any(c.value.replace(" ", "") == ep.value.replace(" ", "") for c in claims):
            continue  # the same class registered twice (e.g. one distribution on sys.path twice)
        dist = getattr(ep, "dist", None)
        claims.append(PluginInfo(name=name, value=ep.value, group=group, distribution=getattr(dist, "name", None),
                                 version=getattr(dist, "version", None)))
    return out


def _claimant(info: PluginInfo) -> str:
    return f"{info.distribution or 'unknown distribution'}{' (built in)' if info.builtin else ''}: {info.value}"


def _resolve(name: str, claims: list[PluginInfo]) -> PluginInfo:
    """One registration of ``name``; several make a conflict recorded on the first (the built-in if any)."""
    first = claims[0]
    if len(claims) == 1:
        return first
    kind = _KINDS[first.group][0]
    others = tuple(_claimant(c) for c in claims)
    error = (f"{kind} {name!r} is registered {len(claims)} times with different classes ({'; '.join(others)}); "
             f"{'a built-in name cannot be taken over by a plugin: ' if first.builtin else ''}"
             f"rename the entry point in group {first.group!r} of the other distribution, or uninstall it")
    return PluginInfo(name=name, value=first.value, group=first.group, distribution=first.distribution,
                      version=first.version, error=error, builtin=first.builtin, conflict=others)


def discover(group: str, *, load: bool = True) -> dict[str, PluginInfo]:
    """Every registered name of ``group`` (built-ins and entry points), sorted; with ``load`` each is
    imported.

    Import failures and name conflicts are recorded in :attr:`PluginInfo.error` and warned about,
    never raised.
    """
    out: dict[str, PluginInfo] = {}
    for name, claims in _registrations(group).items():
        info = _resolve(name, claims)
        if info.conflict:
            warnings.warn(info.error, RuntimeWarning, stacklevel=2)
        elif load:
            try:
                info = PluginInfo(**{**info.__dict__, "obj": load_reference(info.value)})
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break discovery
                error = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"plugin {name!r} ({info.value}, group {group}) failed to load: {error}",
                              RuntimeWarning, stacklevel=2)
                info = PluginInfo(**{**info.__dict__, "error": error})
        out[name] = info
    return dict(sorted(out.items()))


def list_strategies() -> list[str]:
    """Names of the available calibration strategies, built-in and installed (nothing is imported)."""
    return sorted(_registrations(STRATEGY_GROUP))


def list_simulators() -> list[str]:
    """Names of the available simulators, built-in and installed (nothing is imported)."""
    return sorted(_registrations(SIMULATOR_GROUP))


def list_readers() -> list[str]:
    """Names of the available observation formats (readers), built-in and installed."""
    return sorted(_registrations(READER_GROUP))


#: The listing functions under their older names (``vic_paraformer.registry.strategies()``).
strategies = list_strategies
simulators = list_simulators


def load(group: str, name: str) -> Any:
    """The class registered as ``name`` in ``group``; the group's error class if it is unknown, fails
    to import, or is claimed by more than one registration."""
    _check_group(group)
    kind, error_cls = _KINDS[group]
    key = normalize_name(name)
    registrations = _registrations(group)
    if key not in registrations:
        raise error_cls(f"unknown {kind} {name!r}; installed: {', '.join(sorted(registrations)) or 'none'}")
    info = _resolve(key, registrations[key])
    if info.conflict:
        raise error_cls(info.error)
    try:
        return load_reference(info.value)
    except Exception as exc:  # noqa: BLE001
        raise error_cls(f"{kind} {name!r} ({info.value}) failed to load: {type(exc).__name__}: {exc}") from exc


def get_calibrator_class(name: str):
    """The Calibrator subclass registered as ``name``."""
    return load(STRATEGY_GROUP, name)


def get_calibrator(name: str, **options: Any):
    """An instance of the strategy ``name`` built with ``options`` (``seed=...``, ...)."""
    return get_calibrator_class(name)(**options)


def get_simulator_class(name: str):
    """The Simulator subclass registered as ``name``."""
    return load(SIMULATOR_GROUP, name)


def get_simulator(name: str, **options: Any):
    """An instance of the simulator ``name`` built with ``options``."""
    return load(SIMULATOR_GROUP, name)(**options)


def calibrate(region, strategy: str = "paraformer_z", **options: Any):
    """Calibrate ``region`` with the named strategy; returns a CalibrationResult."""
    calibrator = get_calibrator(strategy, **options)
    calibrator.check(region)
    return calibrator.calibrate(region)
