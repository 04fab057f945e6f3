"""CF-1.8 metadata of the netCDF files the toolkit writes (regions, results, simulations, scores).

One table, :data:`VARIABLES`, gives every variable and coordinate the toolkit writes its ``units``
(UDUNITS strings, ``"1"`` for dimensionless numbers and ids; none for string variables, which CF
does not give units), ``long_name`` and, where CF defines one, ``standard_name``. Units of forcing
and observations come from :mod:`vic_paraformer.units`, those of the parameters from
:mod:`vic_paraformer.parameters`, so each unit is written down once.

:func:`annotate` (called by :func:`vic_paraformer._io.to_netcdf_atomic` for the kinds in
:data:`CF_KINDS`) returns a dataset ready to write:

* attributes a variable lacks are added (existing ones are kept, so a variable's own unit wins);
* coordinates get no ``_FillValue`` (encoding ``_FillValue = None``); ``time`` gets CF time units
  (``days since <first day>``, ``standard`` calendar) through its encoding;
* global attributes ``Conventions = "CF-1.8"``, ``history`` (a new first line: ISO time, the
  command line or the Python call, the package version), ``title`` and ``source`` where missing;
* what was added is listed in the global attribute ``vic_paraformer_cf`` (JSON), so that
  :func:`strip_added` gives readers (:meth:`Region.open`, :meth:`CalibrationResult.open`) exactly
  the dataset that was saved.

:func:`flat_attributes` turns nested metadata (a result's options, provenance...) into individual
attributes a netCDF tool such as ``ncdump`` shows one by one.

The command line is recorded with :func:`vic_paraformer.provenance.command_line` (the
``vic-paraformer`` tool wraps every sub-command in it); outside it the history names the Python call
that wrote the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ._version import __version__
from .parameters import PARAMETER_DESCRIPTIONS, PARAMETER_UNITS
from .provenance import history_line
from .units import UNITS

CONVENTIONS = "CF-1.8"
#: Global attribute listing what :func:`annotate` added (read by :func:`strip_added`).
ADDED_ATTR = "vic_paraformer_cf"
#: File kinds (:data:`vic_paraformer.outputs.KIND_NAMES`) written with CF metadata.
CF_KINDS: frozenset[str] = frozenset({"region", "result", "simulation", "surrogate-scores", "sensitivity"})
#: Default ``title`` per file kind.
TITLES: dict[str, str] = {
    "region": "vic_paraformer region: daily forcing, static attributes and observations per cell",
    "result": "vic_paraformer calibration result",
    "simulation": "vic_paraformer simulation output",
    "surrogate-scores": "vic_paraformer surrogate evaluation: scores per cell",
    "sensitivity": "vic_paraformer sensitivity indices per cell, parameter and term",
}


@dataclass(frozen=True)
class VarInfo:
    """CF attributes of one variable: ``units`` (None: a string variable, no units), ``long_name``,
    ``standard_name`` (None: CF defines none) and any further attributes."""

    units: str | None
    long_name: str
    standard_name: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    def attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"long_name": self.long_name}
        if self.units is not None:
            out["units"] = self.units
        if self.standard_name is not None:
            out["standard_name"] = self.standard_name
        out.update(self.extra)
        return out


def _plain_description(text: str) -> str:
    """A parameter description without its trailing unit in parentheses."""
    return text.rsplit(" (", 1)[0] if text.endswith(")") else text


#: Simulated outputs (units as the simulators write them).
SIMULATED: dict[str, VarInfo] = {
    "sm": VarInfo("m3 m-3", "simulated volumetric soil moisture of the top soil layer"),
    "et": VarInfo("mm/day", "simulated daily evapotranspiration"),
    "runoff": VarInfo("mm/day", "simulated daily surface runoff"),
    "baseflow": VarInfo("mm/day", "simulated daily baseflow"),
    "dstorage": VarInfo("mm/day", "simulated daily change of water storage"),
}

#: Score names (:mod:`vic_paraformer.metrics`) and their long names; RMSE has the unit of its variable.
METRICS: dict[str, str] = {"rmse": "root-mean-square error", "pcc": "Pearson correlation coefficient",
                           "nse": "Nash-Sutcliffe efficiency"}

#: Every variable and coordinate the toolkit writes, by name.
VARIABLES: dict[str, VarInfo] = {
    "lat": VarInfo("degrees_north", "latitude of the cell centre", "latitude", (("axis", "Y"),)),
    "lon": VarInfo("degrees_east", "longitude of the cell centre", "longitude", (("axis", "X"),)),
    "time": VarInfo(None, "time (daily values)", "time", (("axis", "T"),)),
    "cell": VarInfo("1", "cell id"),
    "row": VarInfo("1", "grid row index of the cell"),
    "col": VarInfo("1", "grid column index of the cell"),
    "sample": VarInfo("1", "parameter sample index"),
    "attribute": VarInfo(None, "static attribute name"),
    "parameter": VarInfo(None, "parameter name"),
    "term": VarInfo(None, "analysed term of the calibration (see its description attribute)"),
    "index": VarInfo(None, "kind of sensitivity index"),
    "prec": VarInfo(UNITS["prec"], "daily precipitation"),
    "air_temp": VarInfo(UNITS["air_temp"], "daily mean air temperature", "air_temperature"),
    "swdown": VarInfo(UNITS["swdown"], "daily mean downward shortwave radiation",
                      "surface_downwelling_shortwave_flux_in_air"),
    "lwdown": VarInfo(UNITS["lwdown"], "daily mean downward longwave radiation",
                      "surface_downwelling_longwave_flux_in_air"),
    "pressure": VarInfo(UNITS["pressure"], "daily mean surface air pressure", "surface_air_pressure"),
    "vp": VarInfo(UNITS["vp"], "daily mean vapour pressure", "water_vapor_partial_pressure_in_air"),
    "wind": VarInfo(UNITS["wind"], "daily mean wind speed", "wind_speed"),
    "obs_sm": VarInfo(UNITS["obs_sm"], "observed volumetric soil moisture of the top soil layer"),
    "obs_et": VarInfo(UNITS["obs_et"], "observed daily evapotranspiration"),
    "attributes": VarInfo("1", "static cell attributes", extra=(
        ("comment", "one value per cell and attribute name (coordinate 'attribute'); each attribute keeps "
                    "the unit of its source (e.g. fractions, ksat in mm/day, elevation in m)"),)),
    "train_cell": VarInfo("1", "training cell flag", extra=(
        ("flag_values", np.array([0, 1], np.int8)), ("flag_meanings", "not_trained trained"))),
    "held_out": VarInfo("1", "held-out cell flag", extra=(
        ("flag_values", np.array([0, 1], np.int8)), ("flag_meanings", "trained_on held_out"))),
    "et_tower": VarInfo("1", "tower-like cell flag: obs_et is observed", extra=(
        ("flag_values", np.array([0, 1], np.int8)), ("flag_meanings", "no_et_observations et_observed"))),
    "true_obs_scale": VarInfo("1", "true scale of the observation operator (obs = scale sm + offset)"),
    "true_obs_offset": VarInfo(UNITS["obs_sm"], "true offset of the observation operator (obs = scale sm + offset)"),
    **{name: VarInfo(PARAMETER_UNITS[name], f"VIC {name}: {_plain_description(PARAMETER_DESCRIPTIONS[name])}")
       for name in PARAMETER_DESCRIPTIONS},
    **SIMULATED,
}


def info(name: str) -> VarInfo | None:
    """The CF attributes of variable ``name``: from :data:`VARIABLES`, or derived for ``true_<name>``
    (the truth of a synthetic twin) and ``<output>_<metric>`` (a score); None when unknown."""
    if name in VARIABLES:
        return VARIABLES[name]
    if name.startswith("true_") and name[5:] in VARIABLES:
        base = VARIABLES[name[5:]]
        return VarInfo(base.units, f"true {base.long_name} (what the calibrator does not see)", base.standard_name)
    var, _, metric = name.rpartition("_")
    if metric in METRICS and var in VARIABLES:
        base = VARIABLES[var]
        units = base.units if metric == "rmse" else "1"
        return VarInfo(units, f"{METRICS[metric]} of {base.long_name.replace('simulated ', '')}, "
                              "median over parameter samples")
    return None


# ---------------------------------------------------------------------------------------- annotation
def missing_attrs(name: str, attrs: Mapping[str, Any], dtype: Any = np.float64) -> dict[str, Any]:
    """The CF attributes variable ``name`` (of ``dtype``, with ``attrs``) lacks: those of
    :func:`info` (``long_name = name`` for a name it does not know); no units for strings and times."""
    wanted = info(str(name))
    new = {k: v for k, v in (wanted.attrs() if wanted is not None else {"long_name": str(name)}).items()
           if k not in attrs}
    if np.dtype(dtype).kind in ("U", "S", "O", "M"):
        new.pop("units", None)
    return new


def annotate(ds, *, kind: str, call: str | None = None, title: str | None = None):
    """``ds`` (an :class:`xarray.Dataset`) with CF-1.8 metadata, ready to write (see the module
    docstring). The input is not changed; data are not copied."""
    out = ds.copy(deep=False)
    added: dict[str, list[str]] = {}
    for name in list(out.variables):
        var = out.variables[name]
        new = missing_attrs(str(name), var.attrs, var.dtype)
        if new:
            var.attrs = {**var.attrs, **new}
            added[str(name)] = sorted(new)
        if name in out.coords:
            var.encoding = {**var.encoding, "_FillValue": None}
        if np.issubdtype(var.dtype, np.datetime64) and var.size and "units" not in var.encoding:
            first = np.datetime_as_string(np.asarray(var.values).ravel()[0], unit="D")
            var.encoding = {**var.encoding, "units": f"days since {first} 00:00:00", "calendar": "standard"}
    glob: dict[str, Any] = {}
    line = history_line(call or f"write {kind}")
    prepended = "history" in out.attrs
    glob["history"] = f"{line}\n{out.attrs['history']}" if prepended else line
    for key, value in (("Conventions", CONVENTIONS), ("title", title or TITLES.get(kind, f"vic_paraformer {kind}")),
                       ("source", f"vic_paraformer {__version__}")):
        if key not in out.attrs:
            glob[key] = value
    record = {"variables": added, "global": sorted(k for k in glob if k != "history"),
              "history": "prepended" if prepended else "added"}
    out.attrs = {**out.attrs, **glob, ADDED_ATTR: json.dumps(record, sort_keys=True)}
    return out


def add_to_netcdf_variable(nc, name: str) -> None:
    """Give variable ``name`` of an open :class:`netCDF4.Dataset` (written by :func:`annotate`'s
    caller after the annotated dataset) the attributes it lacks, recorded in ``vic_paraformer_cf``
    like those :func:`annotate` added."""
    var = nc.variables[name]
    new = missing_attrs(name, {k: var.getncattr(k) for k in var.ncattrs()}, var.dtype)
    if not new:
        return
    var.setncatts(new)
    record = json.loads(nc.getncattr(ADDED_ATTR))
    record["variables"][name] = sorted(new)
    nc.setncattr(ADDED_ATTR, json.dumps(record, sort_keys=True))


def strip_added(ds):
    """Remove, in place, what :func:`annotate` added to ``ds`` (as listed in its global attribute
    ``vic_paraformer_cf``), so a file reads back as the dataset that was saved. Returns ``ds``."""
    raw = ds.attrs.pop(ADDED_ATTR, None)
    if raw is None:
        return ds
    try:
        record = json.loads(raw)
        variables, glob, hist = record["variables"], record["global"], record["history"]
    except (ValueError, KeyError, TypeError):
        return ds  # not a record we wrote: leave the attributes alone
    for name, keys in variables.items():
        if name in ds.variables:
            for key in keys:
                ds[name].attrs.pop(key, None)
    for key in glob:
        ds.attrs.pop(key, None)
    if hist == "added":
        ds.attrs.pop("history", None)
    elif "history" in ds.attrs:
        rest = str(ds.attrs["history"]).split("\n", 1)
        ds.attrs["history"] = rest[1] if len(rest) > 1 else ""
    return ds


# ---------------------------------------------------------------------------------------- flat metadata
#: Longest list written as one attribute by :func:`flat_attributes`.
MAX_LIST = 64
_INT32 = (-2**31, 2**31 - 1)


def _attr_value(value: Any) -> Any:
    """``value`` as a netCDF attribute value, or None when it has none (None, long or mixed lists)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return np.int8(value)
    if isinstance(value, (int, np.integer)):
        return np.int32(value) if _INT32[0] <= value <= _INT32[1] else np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if not items or len(items) > MAX_LIST:
            return None
        if all(isinstance(v, str) for v in items):
            return ", ".join(items)
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items):
            fits = all(_INT32[0] <= v <= _INT32[1] for v in items)
            return np.asarray(items, np.int32 if fits else np.int64)
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in items):
            return np.asarray(items, np.float64)
        return None
    return str(value)


def flat_attributes(meta: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metadata as individual netCDF attributes: nested keys joined by ``_`` (``options`` ->
    ``{"lr": ...}`` gives ``options_lr``; characters other than letters, digits and ``_`` become
    ``_``), numbers and strings as they are, booleans as 0/1, lists of
    numbers (up to :data:`MAX_LIST`) as numeric attributes, lists of strings joined by ``", "``.
    None, longer lists and lists of mixed items are left out (the JSON copy of the metadata keeps
    them)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}{key}")
        if isinstance(value, Mapping):
            out.update(flat_attributes(value, prefix=f"{name}_"))
            continue
        converted = _attr_value(value)
        if converted is not None:
            out[name] = converted
    return out
