"""Run configuration files (YAML or JSON) for ``vic-paraformer calibrate --config``.

A configuration holds the same settings as the command line; command-line values win::

    # calibrate.yaml
    region: runs/region.nc
    strategy: sceua
    seed: 3
    surrogate: runs/surrogate.pt      # passed as the strategy option ``surrogate``
    out: runs/sceua.nc
    model_out: null                   # DL strategies: where to save the trained model
    parameter_space: vic              # preset name or {names, lower, upper}
    train_period: [2015-04-01, 2017-03-31]   # days to learn from (default: all, or before test_period)
    test_period: [2017-04-01, 2018-03-31]    # days held out, recorded for ``evaluate``
    train_cells: das:4                # das:K, a file of cell ids, or a list of ids
    threads: 1                        # torch CPU threads of a DL strategy (strategy option ``threads``)
    spinup_years: 1                   # spin-up of a simulator the strategy runs (default: the simulator's)
    options:                          # strategy options (see ``vic-paraformer strategies NAME``)
      repetitions: 2000
      n_workers: 4
    refine:                           # with a surrogate: refinement against its simulator
      rounds: 2                       # null: the simulator's default; 0: none
      local: 8
      store: null                     # the surrogate's training store (runs appended to it)
      dir: null                       # default: <out>.refine
      simulator_options: {}

:mod:`vic_paraformer.workflow` runs such a configuration (``CalibrationSpec.from_config``); the
``NAME.config.yaml`` a run writes next to its result holds every setting resolved and is read back
the same way. Unknown top-level keys are rejected with an error naming them (a typo must not be ignored).
``--option key=value`` values are parsed as YAML scalars: ``3`` is an int, ``0.5`` and ``1e-3``
floats, ``true`` a bool, ``null`` None, ``[1, 2]`` a list, anything else a string.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import ConfigError, OptionError

__all__ = ["CONFIG_KEYS", "ConfigError", "OptionError", "load_config", "read_mapping", "parse_option", "parse_options",
           "merged", "run_config_path", "write_run_config", "load_command_config", "non_finite"]

CONFIG_KEYS: dict[str, str] = {
    "region": "path of the region netCDF",
    "strategy": "registered strategy name",
    "seed": "integer random seed",
    "surrogate": "surrogate checkpoint (strategy option 'surrogate')",
    "out": "path of the result netCDF",
    "model_out": "where a DL strategy saves its trained model (strategy option 'model_out')",
    "parameter_space": "bound preset name ('vic', 'paper') or {names, lower, upper}",
    "parameters": "parameters to calibrate: a set (paper, vic-classic, all, auto) or a list of names",
    "train_period": "[START, END] days to learn from (inclusive)",
    "test_period": "[START, END] days held out for evaluation",
    "train_cells": "das:K, a file of cell ids, or a list of cell ids",
    "threads": "torch CPU threads of a DL strategy (strategy option 'threads')",
    "spinup_years": "spin-up years of a simulator the strategy runs (simulator option 'spinup_years')",
    "options": "mapping of strategy options",
    "refine": "mapping of refinement settings with a surrogate: rounds, local, store, dir, simulator_options",
    "obs": "observation file attached to the region before calibrating (replacing its observations)",
    "obs_format": "format of obs: a registered observation reader or auto",
    "obs_options": "mapping of observation reader options: depth [TOP, BOTTOM], flags, min_coverage, energy_closure",
}


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) ``calibrate`` configuration and check its keys."""
    path = Path(path)
    data = read_mapping(path)
    return _checked_calibrate_config(path, data)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML or JSON file (ConfigError naming the file, line and column)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, json.JSONDecodeError):
            msg = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        elif mark is not None:
            msg = f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', None) or 'syntax error'}"
        else:
            msg = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'} ({msg})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def _checked_calibrate_config(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected some of {sorted(CONFIG_KEYS)}")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: 'options' must be a mapping of strategy options, got {type(options).__name__}")
    data["options"] = dict(options)
    if "seed" in data and data["seed"] is not None and (isinstance(data["seed"], bool) or not isinstance(data["seed"], int)):
        raise ConfigError(f"{path}: 'seed' must be an integer, got {data['seed']!r}")
    base = path.parent
    for key in ("region", "surrogate", "out", "model_out", "obs"):  # relative paths are relative to the config file
        v = data.get(key)
        if isinstance(v, str) and v and not Path(v).is_absolute():
            data[key] = str(base / v)
    refine = data.get("refine")
    if refine is not None:
        if not isinstance(refine, dict):
            raise ConfigError(f"{path}: 'refine' must be a mapping of refinement settings, got {type(refine).__name__}")
        refine = dict(refine)
        for key in ("store", "dir"):
            v = refine.get(key)
            if isinstance(v, str) and v and not Path(v).is_absolute():
                refine[key] = str(base / v)
        data["refine"] = refine
    for key in ("train_period", "test_period"):
        v = data.get(key)
        if v is not None:
            if not isinstance(v, (list, tuple)) or len(v) != 2:
                raise ConfigError(f"{path}: '{key}' must be a list of two dates [START, END], got {v!r}")
            data[key] = [str(x) for x in v]
    cells = data.get("train_cells")
    if isinstance(cells, (list, tuple)):
        data["train_cells"] = ",".join(str(c) for c in cells)
    elif isinstance(cells, int) and not isinstance(cells, bool):
        data["train_cells"] = str(cells)
    elif isinstance(cells, str) and not Path(cells).is_absolute() and (base / cells).is_file():
        data["train_cells"] = str(base / cells)
    elif cells is not None and not isinstance(cells, str):
        raise ConfigError(f"{path}: 'train_cells' must be das:K, a file or a list of cell ids, got {cells!r}")
    return data


def non_finite(value: Any, name: str = "") -> list[str]:
    """Names (``name``, ``name.key``, ``name[i]``) under ``value`` that hold NaN or an infinity: a float,
    or text a float reads so (``nan``, ``.inf``, ``-Infinity``), in nested mappings and lists too."""
    import math

    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in non_finite(v, f"{name}.{k}" if name else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in non_finite(v, f"{name}[{i}]")]
    if isinstance(value, bool):
        return []
    if isinstance(value, str):
        return [name] if value.strip().lower().lstrip("+-.") in _NON_FINITE_TEXT else []
    try:
        return [] if math.isfinite(value) else [name]
    except TypeError:
        return []


_NON_FINITE_TEXT = {"nan", "inf", "infinity"}


def parse_option(text: str, *, flag: str = "--option") -> tuple[str, Any]:
    """Parse one ``key=value`` (value as a YAML scalar/list) into ``(key, value)``; OptionError when it
    is not ``key=value`` or the value holds NaN or an infinity."""
    if "=" not in text:
        raise OptionError(f"{flag} {text!r}: expected KEY=VALUE (option {text!r} is not key=value)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise OptionError(f"{flag} {text!r}: option name {key!r} is not a valid name")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads "1e-3" (no dot) as a string
    if non_finite(value):
        raise OptionError(f"{flag} {text}: {key} must be a finite number, got {raw.strip()!r}")
    return key, value


def parse_options(items: Iterable[str] | None, *, flag: str = "--option") -> dict[str, Any]:
    """Parse repeated ``key=value`` strings; a repeated key is an error."""
    out: dict[str, Any] = {}
    for item in items or ():
        k, v = parse_option(item, flag=flag)
        if k in out:
            raise OptionError(f"{flag}: option {k!r} given twice")
        out[k] = v
    return out


def merged(config: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """``config`` with every override that is not None applied on top."""
    out = dict(config)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


#: File name of the run configuration a command writes into an output folder.
RUN_CONFIG_NAME = "config.yaml"


def run_config_path(out: str | Path) -> Path:
    """Where a command whose output is ``out`` writes its run configuration: ``DIR/config.yaml``
    for an output folder, ``NAME.config.yaml`` beside an output file ``NAME.ext``."""
    out = Path(out)
    if out.is_dir() or not out.suffix:
        return out / RUN_CONFIG_NAME
    return out.with_name(out.stem + ".config.yaml")


def write_run_config(path: str | Path, command: str, settings: Mapping[str, Any]) -> Path:
    """Write ``settings`` (the run's full resolved configuration) as YAML, atomically.

    ``vic-paraformer COMMAND --config PATH`` reads the file back and repeats the run.
    """
    from ._io import to_plain, write_text_atomic

    header = (f"# vic-paraformer {command}: the full configuration of this run.\n"
              f"# Repeat it with: vic-paraformer {command} --config {Path(path).name}\n"
              "# (relative paths are relative to this file; command-line flags override any setting here)\n")
    body = yaml.safe_dump(to_plain(dict(settings), nan_as_none=True), sort_keys=False, default_flow_style=False)
    return write_text_atomic(path, header + body)


def load_command_config(path: str | Path, keys: Iterable[str], path_keys: Iterable[str] = ()) -> dict[str, Any]:
    """A run configuration of a command whose settings are its option names (``keys``).

    Unknown keys are rejected; relative paths under ``path_keys`` are taken relative to the file.
    """
    path = Path(path)
    data = read_mapping(path)
    keys = set(keys)
    unknown = sorted(set(data) - keys)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected some of {sorted(keys)}")
    for key in path_keys:
        v = data.get(key)
        if isinstance(v, str) and v and not Path(v).is_absolute():
            data[key] = str(path.parent / v)
    return data
