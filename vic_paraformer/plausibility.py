"""Physically plausible values of VIC parameter-file variables: one table, checked at every VIC input.

VIC's image driver checks almost none of its soil and vegetation values (``Ws = 0`` runs and gives
NaN baseflow, ``infilt = 1e20`` runs and gives nonsense), so a setup with impossible values would be
imported, run and scored as if it were a real "original". :data:`RANGES` gives the range of each
variable, :data:`RELATIONS` the rules between variables (``Wpwp_FRACT <= Wcr_FRACT``, the initial
moisture below the pore volume, cover fractions summing to at most 1, ...).
:mod:`vic_paraformer.vic.outofrange` applies both to VIC files at import, verification, parameter
writing and export. ``docs/vic-parameter-ranges.md`` is :func:`markdown_table`.

Rules of the check
    * Only simulated cells are checked (``mask == 1`` and ``run_cell == 1``), as the caller selects.
    * Missing values (NaN, fill values above 1e30, and a variable's documented no-data flag such as
      ``annual_prec = -99``) are skipped: missing values are the importer's business, not a range's.
    * Vegetation values (``tile`` in the dims column) are checked only on tiles with some cover
      (``Cv > 0``): VIC never uses the others, and real files leave them empty.
    * Ranges are hard limits of what is physically possible or what VIC can compute with, chosen
      so that real setups pass (the VIC sample setups Stehekin, WalnutGulch and FindleyLake do) and
      unit mistakes (Kelvin, g cm-3, mm for m) fail; they are not "typical" ranges.

Not checked: ``phi_s`` (read but unused by VIC 5; the samples hold -99), ``off_gmt``, ``gridcell``,
``cellnum``, ``Nveg`` and lake or carbon variables.

The calibrated parameters' limits here are also :data:`vic_paraformer.parameters.VIC_VALID` (what
parameter spaces are compared with and results are clipped into before writing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

INF = float("inf")
#: Absolute values above this are netCDF fill values (VIC's files use 9.969e36), i.e. missing.
FILL_ABOVE = 1e30


@dataclass(frozen=True)
class Range:
    """The plausible range of one parameter-file variable.

    ``dims``: the variable's dims before ``(lat, lon)`` in words (``cell``, ``layer``, ``tile``,
    ``tile, zone``, ``tile, month``, ``band``); vegetation (``tile``) values are checked on tiles
    with cover only. ``nodata``: flag values that mean "missing" (skipped). ``why``: the reason for
    the limits, as the documentation shows it.
    """

    name: str
    units: str
    dims: str
    lower: float
    lower_inclusive: bool
    upper: float
    upper_inclusive: bool
    why: str
    nodata: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        """The range as a formula, e.g. ``0 < Ws < 1`` or ``Dsmax >= 0``."""
        lo = "" if self.lower == -INF else f"{self.lower:g} {'<=' if self.lower_inclusive else '<'} "
        hi = "" if self.upper == INF else f" {'<=' if self.upper_inclusive else '<'} {self.upper:g}"
        if lo and not hi:
            return f"{self.name} {'>=' if self.lower_inclusive else '>'} {self.lower:g}"
        return f"{lo}{self.name}{hi}"

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Elementwise: inside the range (NaN counts as inside; the caller masks missing values)."""
        v = np.asarray(values, float)
        with np.errstate(invalid="ignore"):
            ok_lo = (v >= self.lower) if self.lower_inclusive else (v > self.lower)
            ok_hi = (v <= self.upper) if self.upper_inclusive else (v < self.upper)
        return (ok_lo & ok_hi) | np.isnan(v)

    @property
    def is_vegetation(self) -> bool:
        return self.dims.startswith("tile") and self.name != "Cv"


_GEO = "from the Dead Sea shore (-430 m) to Everest (8849 m); no-data markers such as -9999 fail"
_FRACTION = "a fraction"

#: Every checked variable with its range (see the module docstring for the rules).
RANGES: tuple[Range, ...] = (
    # calibrated soil parameters
    Range("infilt", "1", "cell", 0.0, False, 1.0, True,
          "shape b of the variable infiltration capacity curve i = i_m [1 - (1 - A)^(1/b)], i_m = (1 + b) W_max. "
          "VIC documents 1e-5..0.4 and calibration bounds in the literature stop at 1 (b = 1 already makes the "
          "largest point infiltration capacity twice the soil's maximum moisture); b <= 0 degenerates the curve "
          "(VIC's classic driver rejects it)"),
    Range("Ds", "1", "cell", 0.0, True, 1.0, True,
          "fraction of Dsmax where non-linear baseflow begins; 0 (no linear baseflow below Ws) is well defined"),
    Range("Dsmax", "mm/day", "cell", 0.0, True, INF, True,
          "maximum baseflow velocity; 0 switches baseflow off, negative values silently give none"),
    Range("Ws", "1", "cell", 0.0, False, 1.0, False,
          "fraction of maximum soil moisture where non-linear baseflow begins; VIC divides by Ws and by 1 - Ws "
          "(Ws = 0 gives NaN baseflow with exit status 0)"),
    Range("expt", "1", "layer", 3.0, True, INF, True,
          "Brooks-Corey exponent 3 + 2 / lambda with a pore-size distribution index lambda > 0"),
    Range("c", "1", "cell", 0.0, False, INF, True,
          "exponent of the non-linear baseflow curve (usually 2); c <= 0 makes baseflow infinite at Ws"),
    # soil
    Range("depth", "m", "layer", 0.001, True, 50.0, True,
          "layer thickness; VIC stops below 1 mm; more than 50 m is a unit mistake (cm or mm)"),
    Range("Ksat", "mm/day", "layer", 0.0, False, INF, True, "saturated hydraulic conductivity"),
    Range("bulk_density", "kg m-3", "layer", 10.0, True, 3000.0, True,
          "peat is about 50..300 kg m-3, mineral soils up to about 2000; values near 1.5 are in g cm-3"),
    Range("soil_density", "kg m-3", "layer", 500.0, True, 5000.0, True,
          "particle density: organic matter about 1300, quartz 2650, iron oxides up to 5000; values near 2.65 are "
          "in g cm-3"),
    Range("Wcr_FRACT", "1", "layer", 0.0, False, 1.0, True, "critical moisture as a fraction of the maximum"),
    Range("Wpwp_FRACT", "1", "layer", 0.0, False, 1.0, True, "wilting point as a fraction of the maximum"),
    Range("init_moist", "mm", "layer", 0.0, True, INF, True,
          "initial moisture of the layer; its upper limit is the pore volume (see the relations)"),
    Range("resid_moist", "m3 m-3", "layer", 0.0, True, 1.0, False, "residual volumetric moisture"),
    Range("quartz", "1", "layer", 0.0, True, 1.0, True, "quartz content, a fraction of the soil solids"),
    Range("bubble", "cm", "layer", 0.0, True, INF, True, "bubbling (air entry) pressure"),
    Range("elev", "m", "cell", -500.0, True, 9000.0, True, f"mean elevation, {_GEO}"),
    Range("avg_T", "degC", "cell", -60.0, True, 50.0, True,
          "average soil temperature; values above 200 are in Kelvin"),
    Range("dp", "m", "cell", 0.0, False, INF, True, "soil thermal damping depth (typically 4 m)"),
    Range("rough", "m", "cell", 0.0, False, INF, True,
          "bare-soil roughness length; it enters log(z / z0), so 0 is impossible"),
    Range("snow_rough", "m", "cell", 0.0, False, INF, True,
          "snow roughness length; it enters log(z / z0), so 0 is impossible"),
    Range("annual_prec", "mm", "cell", 0.0, True, 20000.0, True,
          "average annual precipitation (the wettest places get about 12 000 mm); -99 is the no-data flag VIC's "
          "own files use (the image driver does not use the value in the water balance)", nodata=(-99.0,)),
    Range("fs_active", "1", "cell", 0.0, True, 1.0, True, "frozen-soil flag (0 or 1)"),
    # vegetation tiles
    Range("Cv", "1", "tile", 0.0, True, 1.0, True, "cover fraction of each vegetation tile (all tiles)"),
    Range("root_depth", "m", "tile, zone", 0.0, True, INF, True, "thickness of each root zone"),
    Range("root_fract", "1", "tile, zone", 0.0, True, 1.0, True, "fraction of the roots in each zone"),
    Range("LAI", "m2 m-2", "tile, month", 0.0, True, 20.0, True,
          "monthly leaf area index (the densest canopies reach about 10..15)"),
    Range("albedo", "1", "tile, month", 0.0, True, 1.0, True, "monthly vegetation albedo"),
    Range("fcanopy", "1", "tile, month", 0.0, True, 1.0, True, "monthly canopy cover fraction"),
    Range("veg_rough", "m", "tile, month", 0.0, True, INF, True, "vegetation roughness length"),
    Range("displacement", "m", "tile, month", 0.0, True, INF, True, "displacement height"),
    Range("overstory", "1", "tile", 0.0, True, 1.0, True, "overstory flag (0 or 1)"),
    Range("rarc", "s m-1", "tile", 0.0, True, INF, True, "architectural resistance"),
    Range("rmin", "s m-1", "tile", 0.0, True, INF, True, "minimum stomatal resistance"),
    Range("RGL", "W m-2", "tile", 0.0, True, INF, True, "radiation limit for transpiration"),
    Range("wind_h", "m", "tile", 0.0, True, INF, True, "height of the wind measurement"),
    Range("rad_atten", "1", "tile", 0.0, True, 1.0, True, "radiation attenuation factor"),
    Range("wind_atten", "1", "tile", 0.0, True, 1.0, True, "wind attenuation through the overstory"),
    Range("trunk_ratio", "1", "tile", 0.0, True, 1.0, True, "ratio of trunk height to tree height"),
    Range("max_snow_albedo", "1", "tile", 0.0, True, 1.0, True, "maximum snow albedo"),
    # snow bands
    Range("AreaFract", "1", "band", 0.0, True, 1.0, True, "area fraction of each snow band"),
    Range("elevation", "m", "band", -500.0, True, 9000.0, True, f"snow-band elevation, {_GEO}"),
    Range("Pfactor", "1", "band", 0.0, True, INF, True, "precipitation factor of each snow band"),
)
#: Variable name -> its :class:`Range`.
RANGE_OF: Mapping[str, Range] = {r.name: r for r in RANGES}

#: Tolerances of the sums (cover and snow-band fractions as VIC's sample files store them in float32).
CV_SUM_TOLERANCE = 1e-3
ROOT_SUM_TOLERANCE = 1e-2
BAND_SUM_TOLERANCE = 1e-3
#: Relative tolerance of the initial moisture against the pore volume (a saturated start is allowed).
PORE_TOLERANCE = 1e-4


def _porosity(v: Mapping[str, np.ndarray]) -> np.ndarray:
    return 1.0 - v["bulk_density"] / v["soil_density"]


def _rel_wilting(v):
    limit = v["Wpwp_FRACT"] * _porosity(v)
    return v["resid_moist"], limit, v["resid_moist"] <= limit + 1e-9


def _rel_wpwp(v):
    return v["Wpwp_FRACT"], v["Wcr_FRACT"], v["Wpwp_FRACT"] <= v["Wcr_FRACT"]


def _rel_density(v):
    return v["bulk_density"], v["soil_density"], v["bulk_density"] < v["soil_density"]


def _rel_pores(v):
    limit = _porosity(v) * v["depth"] * 1000.0
    return v["init_moist"], limit, v["init_moist"] <= limit * (1 + PORE_TOLERANCE) + 1e-9


def _rel_top_layer(v):
    d = v["depth"]
    if d.shape[0] < 2:
        return d[:1], d[:1], np.ones(d[:1].shape, bool)
    return d[:1], d[1:2], d[:1] <= d[1:2]


def _rel_cover(v):
    total = np.nansum(v["Cv"], axis=0)
    return total, np.full(total.shape, 1.0 + CV_SUM_TOLERANCE), total <= 1.0 + CV_SUM_TOLERANCE


def _rel_roots(v):
    total = np.nansum(v["root_fract"], axis=1)  # (tile, cell)
    covered = np.nan_to_num(v["Cv"]) > 0
    leafless = np.nanmax(np.nan_to_num(v["LAI"]), axis=1) <= 0 if "LAI" in v else np.zeros(total.shape, bool)
    ok = ~covered | (np.abs(total - 1.0) <= ROOT_SUM_TOLERANCE) | (leafless & (total == 0))
    return total, np.ones(total.shape), ok


def _rel_bands(v):
    total = np.nansum(v["AreaFract"], axis=0)
    return total, np.ones(total.shape), np.abs(total - 1.0) <= BAND_SUM_TOLERANCE


@dataclass(frozen=True)
class Relation:
    """A rule between variables. ``test(values)`` returns ``(value, limit, ok)`` arrays (last axis = cell;
    ``ok`` False where the rule fails); the finding names ``variable``, shows ``value`` and ``limit``."""

    variable: str
    rule: str
    dims: str
    needs: tuple[str, ...]
    why: str
    test: Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray]]
    label: str = ""


#: Rules between variables (each applies when the file has every variable it ``needs``).
RELATIONS: tuple[Relation, ...] = (
    Relation("depth", "depth of layer 1 <= depth of layer 2", "cell", ("depth",),
             "VIC stops on a top layer thicker than the second", _rel_top_layer, "layer 1"),
    Relation("bulk_density", "bulk_density < soil_density", "layer", ("bulk_density", "soil_density"),
             "porosity = 1 - bulk_density / soil_density must be positive", _rel_density),
    Relation("Wpwp_FRACT", "Wpwp_FRACT <= Wcr_FRACT", "layer", ("Wpwp_FRACT", "Wcr_FRACT"),
             "the wilting point lies below the critical point (VIC stops otherwise)", _rel_wpwp),
    Relation("init_moist", "init_moist <= porosity x depth x 1000", "layer",
             ("init_moist", "bulk_density", "soil_density", "depth"),
             "the initial moisture (mm) fits in the layer's pores; a saturated start is allowed", _rel_pores),
    Relation("resid_moist", "resid_moist <= Wpwp_FRACT x porosity", "layer",
             ("resid_moist", "Wpwp_FRACT", "bulk_density", "soil_density"),
             "the residual moisture lies below the wilting point (VIC stops otherwise)", _rel_wilting),
    Relation("Cv", f"sum of Cv over the tiles <= 1 (+ {CV_SUM_TOLERANCE:g})", "cell", ("Cv",),
             "the tiles cover at most the cell (VIC quietly rescales larger sums)", _rel_cover, "sum over the tiles"),
    Relation("root_fract", f"root_fract of a tile with cover sums to 1 (+- {ROOT_SUM_TOLERANCE:g}); 0 allowed for a "
             "tile without leaves (bare soil)", "tile", ("root_fract", "Cv"),
             "the zones hold all of a tile's roots (VIC rescales other sums with a warning)", _rel_roots,
             "sum over the zones"),
    Relation("AreaFract", f"sum of AreaFract over the bands = 1 (+- {BAND_SUM_TOLERANCE:g})", "cell", ("AreaFract",),
             "the snow bands cover the cell (VIC stops otherwise)", _rel_bands, "sum over the bands"),
)

#: Every variable the check reads.
CHECKED_VARIABLES: tuple[str, ...] = tuple(dict.fromkeys(
    [r.name for r in RANGES] + [n for rel in RELATIONS for n in rel.needs] + ["LAI"]))


def missing(values: np.ndarray, nodata: Sequence[float] = ()) -> np.ndarray:
    """Elementwise: NaN, a fill value or a no-data flag."""
    v = np.asarray(values, float)
    out = ~np.isfinite(v) | (np.abs(v) > FILL_ABOVE)
    for flag in nodata:
        out |= v == flag
    return out


# ---------------------------------------------------------------------------------------- docs
def markdown_table() -> str:
    """The end of ``docs/vic-parameter-ranges.md``: the ranges, then the relations, as markdown tables."""

    def cell(x: str) -> str:
        return x.replace("|", "\\|")

    lines = ["| variable | units | per | allowed | why |", "|---|---|---|---|---|"]
    for r in RANGES:
        why = r.why + (f" (no-data flag: {', '.join(f'{x:g}' for x in r.nodata)})" if r.nodata else "")
        lines.append(f"| `{r.name}` | {r.units} | {r.dims} | `{r.text}` | {cell(why)} |")
    lines += ["", "## Relations between variables", "", "| variable named | rule | per | why |", "|---|---|---|---|"]
    for rel in RELATIONS:
        lines.append(f"| `{rel.variable}` | {cell(rel.rule)} | {rel.dims} | {cell(rel.why)} |")
    return "\n".join(lines) + "\n"


__all__ = ["CHECKED_VARIABLES", "RANGES", "RANGE_OF", "RELATIONS", "Range", "Relation", "markdown_table", "missing"]
