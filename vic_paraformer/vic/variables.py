"""The relations between VIC's variables and a Region's (simulator layer): one table, read both ways.

:mod:`vic_paraformer.vic.importer` reads a VIC setup into a Region and
:mod:`vic_paraformer.vic.export` writes a Region as a VIC setup; both take every name, unit and
conversion from here, so what one writes the other reads back.

* :data:`FORCING` -- each forcing variable: Region name, VIC ``FORCE_TYPE``, the netCDF variable
  name the export writes, units, how sub-daily steps make the day (``sum`` or ``mean``) and how the
  export splits the day into steps. Plausible daily ranges are :data:`vic_paraformer.units.RANGES`,
  the same table the Region is checked against.
* :data:`CALIBRATED` -- the five calibrated parameters and where they sit in the parameter file.
* :data:`ATTRIBUTES` -- every static attribute an import makes, in the order it makes them: the
  parameter-file variables it comes from (``to_region``) and, where one exists, how a Region's
  value is written back (``to_vic``); attributes without ``to_vic`` are summaries the export cannot
  represent (it lists them as unmapped). A name containing ``{k}`` is one attribute per soil layer
  ``k`` (1 = top). When several attributes write the same parameter-file value (``ksat1`` and
  ``ksat``), the first in the table that the Region has wins.
* :data:`DOMAIN` -- the domain file's variables, with units and long names.

The meaning of each attribute is the table in :mod:`vic_paraformer.vic.importer`'s docstring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from ..plausibility import RANGE_OF, missing
from ..units import UNITS
from .vegetation import root_fractions_by_layer, write_root_fractions, write_veg_fraction

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------- forcing
@dataclass(frozen=True)
class ForcingVariable:
    """One forcing variable of VIC and of the Region.

    ``daily``: ``"sum"`` or ``"mean"`` of the sub-daily steps gives the Region's daily value.
    ``subdaily``: how the export splits a day into steps (see :func:`vic_paraformer.vic.export.disaggregate`):
    ``"even"`` (the daily sum in equal parts), ``"diurnal"`` (daily mean plus a zero-mean cosine),
    ``"daylight"`` (daily mean times a daylight shape of mean 1) or ``"constant"``.
    ``step_units``: the unit of the sub-daily values VIC reads (fixed by VIC, whatever a file's
    ``units`` attribute says). ``hint``: the unit mistake an implausible value suggests.
    """

    region: str
    force_type: str
    file_name: str
    step_units: str
    long_name: str
    standard_name: str
    daily: str
    subdaily: str
    hint: str

    @property
    def units(self) -> str:
        """The Region's (daily) unit."""
        return UNITS[self.region]


FORCING: tuple[ForcingVariable, ...] = (
    ForcingVariable("air_temp", "AIR_TEMP", "temp", "degC", "air temperature", "air_temperature", "mean",
                    "diurnal", "degC (Kelvin?)"),
    ForcingVariable("prec", "PREC", "prec", "mm", "precipitation per forcing step",
                    "lwe_thickness_of_precipitation_amount", "sum", "even", "mm per step"),
    ForcingVariable("pressure", "PRESSURE", "air_pressure", "kPa", "air pressure", "air_pressure", "mean",
                    "constant", "kPa (Pa or hPa?)"),
    ForcingVariable("swdown", "SWDOWN", "shortwave", "W m-2", "downward shortwave radiation at the surface",
                    "surface_downwelling_shortwave_flux_in_air", "mean", "daylight", "W m-2"),
    ForcingVariable("lwdown", "LWDOWN", "longwave", "W m-2", "downward longwave radiation at the surface",
                    "surface_downwelling_longwave_flux_in_air", "mean", "constant", "W m-2"),
    ForcingVariable("vp", "VP", "vapor_pressure", "kPa", "vapour pressure", "water_vapor_partial_pressure_in_air",
                    "mean", "constant", "kPa (Pa or hPa?)"),
    ForcingVariable("wind", "WIND", "wind", "m s-1", "wind speed", "wind_speed", "mean", "constant", "m s-1"),
)
#: Region forcing name -> its :class:`ForcingVariable`.
FORCING_BY_NAME: Mapping[str, ForcingVariable] = {f.region: f for f in FORCING}


# ---------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class CalibratedVariable:
    """A calibrated parameter: its parameter-file variable and soil layer (None: a (lat, lon) variable)."""

    name: str
    vic_var: str
    layer: int | None
    units: str


CALIBRATED: tuple[CalibratedVariable, ...] = (
    CalibratedVariable("infilt", "infilt", None, "1"), CalibratedVariable("Ds", "Ds", None, "1"),
    CalibratedVariable("Dsmax", "Dsmax", None, "mm/day"), CalibratedVariable("Ws", "Ws", None, "1"),
    CalibratedVariable("expt", "expt", 0, "1"),
)


# ---------------------------------------------------------------------------------------- domain
#: Domain-file variable -> (units, long_name, standard_name or "").
DOMAIN: Mapping[str, tuple[str, str, str]] = {
    "lat": ("degrees_north", "latitude of the grid cell centre", "latitude"),
    "lon": ("degrees_east", "longitude of the grid cell centre", "longitude"),
    "mask": ("1", "domain mask (1: the cell is simulated)", ""),
    "area": ("m2", "area of the grid cell", "cell_area"),
    "frac": ("1", "fraction of the grid cell that is land", "land_area_fraction"),
    "elev": ("m", "mean elevation of the grid cell", "surface_altitude"),
}


def cf_attributes(units: str, long_name: str, standard_name: str = "") -> dict[str, str]:
    """``units``, ``long_name`` and (when given) ``standard_name`` of a written variable."""
    out = {"units": units, "long_name": long_name}
    if standard_name:
        out["standard_name"] = standard_name
    return out


# ---------------------------------------------------------------------------------------- attributes
#: VIC's critical moisture ``Wcr`` is about 70 % of field capacity: ``Wcr_FRACT = 0.7 * field_capacity / porosity``.
WCR_PER_FIELD_CAPACITY = 0.7
class CellReader(Protocol):
    """What an attribute's ``to_region`` reads: parameter-file variables at the simulated cells
    (leading dims kept, last axis = cell), as the importer provides them."""

    cache: dict[str, Any]

    def get(self, name: str, required: bool = True) -> np.ndarray | None:
        """Raw values (None when an optional variable is absent)."""

    def fin(self, name: str, required: bool = True) -> np.ndarray | None:
        """Values that must be finite (an optional one with gaps: None and a warning)."""

    def domain(self, name: str) -> np.ndarray | None:
        """A domain-file variable at the cells (None when absent)."""


#: ``to_region(reader, k)`` -> values over cells, or None when the setup does not have them.
ToRegion = Callable[[CellReader, int], "np.ndarray | None"]
#: ``to_vic(v, value, k)`` writes ``value`` into the per-cell parameter values ``v`` (name -> [..., cell]).
ToVic = Callable[[dict, np.ndarray, int], None]


@dataclass(frozen=True)
class Attribute:
    """One Region attribute and its relation to the parameter file.

    ``layers``: ``"none"`` (one attribute), ``"each"`` (one per soil layer), ``"below_top"`` (layers
    2..); ``k`` passed to the conversions is the 0-based layer (0 for ``"none"``). ``target``: the
    parameter-file value ``to_vic`` writes, ``(variable, layer or None)`` -- the first attribute the
    Region has for a target wins. ``aliases``: other attribute names the export accepts.
    ``group``: ``to_vic`` takes the values of every layer at once (a list, None where missing).
    """

    name: str
    units: str
    long_name: str
    to_region: ToRegion
    to_vic: ToVic | Callable[..., None] | None = None
    layers: str = "none"
    target: Callable[[int], "tuple[str, int | None] | None"] | None = None
    aliases: tuple[str, ...] = ()
    group: bool = False

    def names(self, n_layers: int) -> list[tuple[str, int]]:
        """``(attribute name, 0-based layer)`` of each attribute this entry makes."""
        if self.layers == "none":
            return [(self.name, 0)]
        first = 1 if self.layers == "below_top" else 0
        return [(self.name.format(k=k + 1), k) for k in range(first, n_layers)]


def _layer(var: str) -> ToRegion:
    return lambda r, k: r.fin(var)[k]


def _layer_optional(var: str) -> ToRegion:
    def read(r: CellReader, k: int):
        v = r.fin(var, required=False)
        return None if v is None else v[k]
    return read


def _plain_optional(var: str) -> ToRegion:
    return lambda r, k: r.fin(var, required=False)


def _write_layer(var: str, optional: bool = False) -> ToVic:
    def write(v: dict, value: np.ndarray, k: int) -> None:
        if not optional or var in v:
            v[var][k] = value
    return write


def _write_plain(var: str) -> ToVic:
    def write(v: dict, value: np.ndarray, k: int) -> None:
        if var in v:
            v[var] = value
    return write


def _at(var: str, layer: int | None = None) -> Callable[[int], tuple[str, int | None]]:
    return lambda k: (var, k if layer is None else layer)


def _porosity(r: CellReader) -> np.ndarray:
    return 1.0 - r.fin("bulk_density") / r.fin("soil_density")


def porosity_of(v: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per-layer porosity ``1 - bulk_density / soil_density`` of parameter values."""
    return 1.0 - v["bulk_density"] / v["soil_density"]


# -- soil
def _write_depth(v: dict, value: np.ndarray, k: int) -> None:
    # a new thickness keeps the layer's volumetric initial moisture
    old = v["depth"][k].copy()
    v["depth"][k] = value
    v["init_moist"][k] = v["init_moist"][k] * np.where(old > 0, v["depth"][k] / np.where(old > 0, old, 1), 1)


def _write_porosity(v: dict, value: np.ndarray, k: int) -> None:
    v["bulk_density"][k] = (1.0 - value) * v["soil_density"][k]


def _field_capacity(r: CellReader, k: int) -> np.ndarray:
    por = _porosity(r)[0]
    return np.minimum(por, r.fin("Wcr_FRACT")[0] / WCR_PER_FIELD_CAPACITY * por)


def _write_field_capacity(v: dict, value: np.ndarray, k: int) -> None:
    v["Wcr_FRACT"][0] = WCR_PER_FIELD_CAPACITY * value / porosity_of(v)[0]


def _write_wilting_point(v: dict, value: np.ndarray, k: int) -> None:
    v["Wpwp_FRACT"][0] = value / porosity_of(v)[0]


def _write_init_sm(v: dict, value: np.ndarray, k: int) -> None:
    v["init_moist"][0] = value * v["depth"][0] * 1000.0


def _residual(r: CellReader, k: int):
    v = r.fin("resid_moist", required=False)
    return None if v is None else v[0]


# -- vegetation
def _vegetation(r: CellReader) -> dict[str, np.ndarray]:
    """Cover of the tiles with some leaf area, and each such tile's weight among them (cached)."""
    if "vegetation" not in r.cache:
        cv = np.nan_to_num(r.get("Cv"))  # (veg, cell)
        lai = np.nan_to_num(r.get("LAI"))  # (veg, month, cell)
        has_leaf = lai.max(axis=1) > 0
        cv_veg = np.where(has_leaf, cv, 0.0)
        vegf = cv_veg.sum(axis=0)
        w = np.where(vegf > 0, cv_veg / np.where(vegf > 0, vegf, 1), 0.0)  # weights over vegetated tiles
        r.cache["vegetation"] = {"cv": cv, "lai": lai, "vegf": vegf, "w": w}
    return r.cache["vegetation"]


def _monthly_lai(r: CellReader) -> np.ndarray:
    g = _vegetation(r)
    return (g["cv"][:, None, :] * g["lai"]).sum(axis=0)


def _root_fraction(r: CellReader, k: int) -> np.ndarray:
    if "roots" not in r.cache:
        r.cache["roots"] = root_fractions_by_layer(r.get("root_depth"), r.get("root_fract"), r.fin("depth"))
    return (_vegetation(r)["w"] * r.cache["roots"][:, k, :]).sum(axis=0)


def _weighted(var: str) -> ToRegion:
    def read(r: CellReader, k: int):
        v = r.get(var, required=False)
        if v is None:
            return None
        return (_vegetation(r)["w"] * np.nan_to_num(np.where(np.abs(v) > 1e30, 0, v))).sum(axis=0)
    return read


def _albedo(r: CellReader, k: int):
    alb = r.get("albedo", required=False)
    return None if alb is None else (_vegetation(r)["w"] * np.nan_to_num(alb).mean(axis=1)).sum(axis=0)


# -- topography and climate
def _elev(r: CellReader, k: int):
    elev = r.get("elev", required=False)
    if elev is None:
        elev = r.domain("elev")
    return elev if elev is not None and np.all(np.isfinite(elev)) else None


def _bands(r: CellReader) -> dict[str, np.ndarray] | None:
    if "bands" not in r.cache:
        af, be = r.get("AreaFract", required=False), r.get("elevation", required=False)
        if af is None or be is None:
            r.cache["bands"] = None
        else:
            af, be = np.nan_to_num(af), np.nan_to_num(be)
            tot = np.where(af.sum(axis=0) > 0, af.sum(axis=0), 1)
            mean = (af * be).sum(axis=0) / tot
            used = af > 0
            r.cache["bands"] = {
                "std": np.sqrt((af * (be - mean) ** 2).sum(axis=0) / tot),
                "range": np.where(used.any(axis=0), np.where(used, be, -np.inf).max(axis=0)
                                  - np.where(used, be, np.inf).min(axis=0), 0.0)}
    return r.cache["bands"]


def _band_stat(key: str) -> ToRegion:
    def read(r: CellReader, k: int):
        bands = _bands(r)
        return np.zeros(r.fin("depth").shape[-1]) if bands is None else bands[key]
    return read


def _annual_prec(r: CellReader, k: int):
    ap = r.get("annual_prec", required=False)
    return ap if ap is not None and not missing(ap, RANGE_OF["annual_prec"].nodata).any() else None


#: Every attribute an import makes, in its order (see the module docstring).
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("soil_depth{k}", "m", "thickness of soil layer {k}", _layer("depth"), _write_depth, "each",
              _at("depth")),
    Attribute("soil_depth_total", "m", "total soil depth", lambda r, k: r.fin("depth").sum(axis=0)),
    Attribute("ksat{k}", "mm/day", "saturated hydraulic conductivity of soil layer {k}", _layer("Ksat"),
              _write_layer("Ksat"), "each", _at("Ksat")),
    Attribute("bulk_density{k}", "kg m-3", "bulk density of soil layer {k}", _layer("bulk_density"),
              _write_layer("bulk_density"), "each", _at("bulk_density")),
    Attribute("porosity{k}", "m3 m-3", "porosity of soil layer {k} (1 - bulk_density / soil_density)",
              lambda r, k: _porosity(r)[k], _write_porosity, "each", _at("bulk_density")),
    Attribute("wcr_fract{k}", "1", "critical moisture of soil layer {k} as a fraction of its maximum moisture",
              _layer("Wcr_FRACT"), _write_layer("Wcr_FRACT"), "each", _at("Wcr_FRACT")),
    Attribute("wpwp_fract{k}", "1", "wilting point of soil layer {k} as a fraction of its maximum moisture",
              _layer("Wpwp_FRACT"), _write_layer("Wpwp_FRACT"), "each", _at("Wpwp_FRACT")),
    Attribute("porosity", "m3 m-3", "porosity of the top soil layer", lambda r, k: _porosity(r)[0],
              _write_porosity, target=_at("bulk_density", 0)),
    Attribute("ksat", "mm/day", "saturated hydraulic conductivity of the top soil layer", lambda r, k: r.fin("Ksat")[0],
              _write_layer("Ksat"), target=_at("Ksat", 0)),
    Attribute("field_capacity", "m3 m-3", "volumetric field capacity of the top soil layer", _field_capacity,
              _write_field_capacity, target=_at("Wcr_FRACT", 0)),
    Attribute("wilting_point", "m3 m-3", "volumetric wilting point of the top soil layer",
              lambda r, k: r.fin("Wpwp_FRACT")[0] * _porosity(r)[0], _write_wilting_point,
              target=_at("Wpwp_FRACT", 0)),
    Attribute("init_sm", "m3 m-3", "initial volumetric moisture of the top soil layer",
              lambda r, k: r.fin("init_moist")[0] / (r.fin("depth")[0] * 1000.0), _write_init_sm,
              target=_at("init_moist", 0)),
    Attribute("expt{k}", "1", "Brooks-Corey exponent of soil layer {k}", _layer("expt"), _write_layer("expt"),
              "below_top", _at("expt")),
    Attribute("c", "1", "baseflow curve exponent", _plain_optional("c"), _write_plain("c"), target=_at("c")),
    Attribute("quartz{k}", "1", "quartz content of soil layer {k}", _layer_optional("quartz"),
              _write_layer("quartz", optional=True), "each", _at("quartz")),
    Attribute("bubble1", "cm", "bubbling pressure of the top soil layer",
              lambda r, k: _layer_optional("bubble")(r, 0), _write_layer("bubble", optional=True),
              target=_at("bubble", 0)),
    Attribute("residual_moisture", "m3 m-3", "residual moisture of the top soil layer", _residual,
              _write_layer("resid_moist", optional=True), target=_at("resid_moist", 0)),
    Attribute("veg_fraction", "1", "vegetated fraction of the cell (tiles with some leaf area)",
              lambda r, k: np.clip(_vegetation(r)["vegf"], 0, 1), write_veg_fraction, target=_at("Cv")),
    Attribute("bare_fraction", "1", "bare fraction of the cell", lambda r, k: np.clip(1.0 - _vegetation(r)["vegf"], 0, 1)),
    Attribute("lai_mean", "m2 m-2", "mean over months of the cell's leaf area index", lambda r, k: _monthly_lai(r).mean(axis=0)),
    Attribute("lai_max", "m2 m-2", "largest monthly leaf area index of the cell", lambda r, k: _monthly_lai(r).max(axis=0)),
    Attribute("root_fraction{k}", "1", "fraction of the roots in soil layer {k}", _root_fraction,
              write_root_fractions, "each", _at("root_fract"), group=True),
    Attribute("root_depth", "m", "rooting depth of the vegetated tiles",
              lambda r, k: (_vegetation(r)["w"] * np.nan_to_num(r.get("root_depth")).sum(axis=1)).sum(axis=0)),
    Attribute("overstory_fraction", "1", "overstory share of the vegetated tiles", _weighted("overstory")),
    Attribute("rmin_mean", "s m-1", "minimum stomatal resistance of the vegetated tiles", _weighted("rmin")),
    Attribute("albedo_mean", "1", "mean vegetation albedo of the vegetated tiles", _albedo),
    Attribute("elev", "m", "mean elevation", _elev, _write_plain("elev"), target=_at("elev"), aliases=("elevation",)),
    Attribute("elev_band_std", "m", "area-weighted standard deviation of the snow-band elevations", _band_stat("std")),
    Attribute("elev_band_range", "m", "highest minus lowest snow-band elevation", _band_stat("range")),
    Attribute("avg_T", "degC", "average soil temperature", _plain_optional("avg_T"), _write_plain("avg_T"),
              target=_at("avg_T"), aliases=("mean_temp",)),
    Attribute("rough", "m", "bare-soil roughness", _plain_optional("rough"), _write_plain("rough"), target=_at("rough")),
    Attribute("dp", "m", "thermal damping depth", _plain_optional("dp"), _write_plain("dp"), target=_at("dp")),
    Attribute("annual_prec", "mm", "average annual precipitation", _annual_prec, _write_plain("annual_prec"),
              target=_at("annual_prec"), aliases=("mean_annual_prec",)),
)


__all__ = ["ATTRIBUTES", "Attribute", "CALIBRATED", "CalibratedVariable", "DOMAIN", "FORCING",
           "FORCING_BY_NAME", "ForcingVariable", "WCR_PER_FIELD_CAPACITY", "cf_attributes",
           "porosity_of"]
