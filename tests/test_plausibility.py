"""The table of physically plausible VIC values, its documentation and the check of parameter files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vic_paraformer.errors import VICError
from vic_paraformer.parameters import PARAMETER_NAMES, VIC_VALID, ParameterSpace, vic_clip_limits
from vic_paraformer.plausibility import RANGE_OF, RANGES, RELATIONS, markdown_table
from vic_paraformer.vic.outofrange import check, enforce, read_cells

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or ROOT.parent / "shared" / "vic-sample-data")
SAMPLE_PARAMS = sorted(p for p in SAMPLE.glob("image/*/parameters/*.nc") if not p.name.startswith(("domain", "stehekin_parameters")))


def test_docs_are_the_code_table():
    doc = (ROOT / "docs" / "vic-parameter-ranges.md").read_text()
    assert doc.endswith(markdown_table()), "docs/vic-parameter-ranges.md differs from plausibility.markdown_table()"
    for r in RANGES:
        assert f"`{r.text}`" in doc
    assert "docs/vic-parameter-ranges.md" in (ROOT / "README.md").read_text()


def test_table_is_consistent():
    names = [r.name for r in RANGES]
    assert len(names) == len(set(names))
    for r in RANGES:
        assert r.lower < r.upper and r.why and r.units and r.dims
    for rel in RELATIONS:
        assert rel.variable in rel.needs and rel.rule and rel.why
    # the calibrated parameters' limits are the ones parameter spaces and parameter files use
    for n in PARAMETER_NAMES:
        r = RANGE_OF[n]
        assert VIC_VALID[n] == (r.lower, r.lower_inclusive, r.upper, r.upper_inclusive)


@pytest.mark.parametrize("name, inside, outside", [
    ("Ws", [1e-6, 0.5, 0.999999], [0.0, 1.0, 1.2, -0.1]),
    ("infilt", [1e-5, 0.4, 1.0], [0.0, -0.1, 1.0001, 1e20]),
    ("Ds", [0.0, 0.1, 1.0], [-0.1, 1.5]),
    ("Dsmax", [0.0, 10.0, 1e3], [-5.0]),
    ("expt", [3.0, 11.5, 40.0], [2.0, 0.0]),
    ("depth", [0.001, 0.1, 2.2], [0.0, 0.0005, 100.0]),
    ("avg_T", [-20.0, 18.0], [290.0]),
    ("bulk_density", [150.0, 1500.0], [1.5, 3500.0]),
    ("soil_density", [1300.0, 2650.0], [2.65]),
    ("Cv", [0.0, 1.0], [1.5, -0.1]),
    ("albedo", [0.0, 0.2, 1.0], [1.5]),
])
def test_ranges(name, inside, outside):
    r = RANGE_OF[name]
    assert r.contains(np.array(inside)).all(), r.text
    assert not r.contains(np.array(outside)).any(), r.text


def test_range_text():
    assert RANGE_OF["Ws"].text == "0 < Ws < 1"
    assert RANGE_OF["Dsmax"].text == "Dsmax >= 0"
    assert RANGE_OF["infilt"].text == "0 < infilt <= 1"
    assert RANGE_OF["expt"].text == "expt >= 3"


def test_vic_limits_follow_the_table():
    assert vic_clip_limits("infilt") == (1e-6, 1.0)
    assert ParameterSpace.preset("vic").vic_problems() == []
    space = ParameterSpace(("infilt",), (0.001,), (5.0,))
    assert space.vic_problems() == ["infilt upper bound 5 is above VIC's valid <= 1"]


def _cells(n=3, nl=3, nveg=2, nband=2):
    """Plausible values of 3 cells: name -> array with the cell last."""
    depth = np.tile([[0.1], [0.3], [1.0]], (1, n))[:nl]
    v = {"infilt": np.full(n, 0.2), "Ds": np.full(n, 0.1), "Dsmax": np.full(n, 10.0), "Ws": np.full(n, 0.7),
         "expt": np.full((nl, n), 11.0), "c": np.full(n, 2.0), "depth": depth, "Ksat": np.full((nl, n), 500.0),
         "bulk_density": np.full((nl, n), 1500.0), "soil_density": np.full((nl, n), 2650.0),
         "Wcr_FRACT": np.full((nl, n), 0.5), "Wpwp_FRACT": np.full((nl, n), 0.3),
         "init_moist": depth * 1000 * 0.3, "resid_moist": np.zeros((nl, n)), "elev": np.full(n, 1500.0),
         "annual_prec": np.full(n, 300.0), "Cv": np.tile([[0.6], [0.4]], (1, n)),
         "root_fract": np.tile([[[0.3], [0.7]], [[0.0], [0.0]]], (1, 1, n)),
         "root_depth": np.tile([[[0.3], [0.7]], [[0.0], [0.0]]], (1, 1, n)),
         "LAI": np.concatenate([np.full((1, 12, n), 2.0), np.zeros((1, 12, n))]),
         "albedo": np.full((nveg, 12, n), 0.2), "AreaFract": np.tile([[0.4], [0.6]], (1, n))}
    return v


LAT, LON = np.array([31.5, 31.6, 31.7]), np.array([-110.1, -110.2, -110.3])


def test_plausible_values_pass():
    assert check(_cells(), LAT, LON, file="p.nc") == []


@pytest.mark.parametrize("edit, variable, text", [
    (lambda v: v["Ws"].__setitem__(1, 0.0), "Ws", "p.nc: Ws = 0 at cell lat 31.6000, lon -110.2000 is outside the "
                                                 "physically plausible range: 0 < Ws < 1"),
    (lambda v: v["Dsmax"].__setitem__(slice(None), -5.0), "Dsmax", "Dsmax = -5 at cell lat 31.5000, lon -110.1000 "
                                                                   "is outside the physically plausible range: "
                                                                   "Dsmax >= 0; 2 more cell(s) fail"),
    (lambda v: v["expt"].__setitem__((1, 2), 2.0), "expt", "expt (layer 2) = 2 at cell lat 31.7000"),
    (lambda v: v["bulk_density"].__setitem__((0, 0), 2700.0), "bulk_density",
     "bulk_density (layer 1) = 2700 at cell lat 31.5000, lon -110.1000 is outside the physically plausible range: "
     "bulk_density < soil_density (here 2650)"),
    (lambda v: v["init_moist"].__setitem__((0, 0), 80.0), "init_moist", "init_moist (layer 1) = 80 at cell lat "
                                                                        "31.5000"),
    (lambda v: v["Wpwp_FRACT"].__setitem__((2, 0), 0.6), "Wpwp_FRACT", "Wpwp_FRACT <= Wcr_FRACT (here 0.5)"),
    (lambda v: v["resid_moist"].__setitem__((0, 0), 0.2), "resid_moist", "resid_moist <= Wpwp_FRACT x porosity"),
    (lambda v: v["Cv"].__setitem__((1, 2), 0.9), "Cv", "Cv (sum over the tiles) = 1.5 at cell lat 31.7000"),
    (lambda v: v["root_fract"].__setitem__((0, 1, 0), 0.2), "root_fract", "root_fract (tile 1, sum over the zones) = 0.5"),
    (lambda v: v["AreaFract"].__setitem__((0, 0), 0.2), "AreaFract", "AreaFract (sum over the bands) = 0.8"),
    (lambda v: v["albedo"].__setitem__((0, 4, 0), 1.5), "albedo", "albedo (tile 1, month 5) = 1.5"),
    (lambda v: v["depth"].__setitem__((0, 0), 0.5), "depth", "depth (layer 1) = 0.5 at cell lat 31.5000, lon -110.1000 "
                                                             "is outside the physically plausible range: depth of "
                                                             "layer 1 <= depth of layer 2 (here 0.3)"),
    (lambda v: v["annual_prec"].__setitem__(0, -5.0), "annual_prec", "annual_prec = -5"),
])
def test_each_rule_finds_its_value(edit, variable, text):
    v = _cells()
    edit(v)
    found = check(v, LAT, LON, file="p.nc")
    assert found and found[0].variable == variable, [f.line() for f in found]
    assert text in found[0].line()


def test_missing_values_and_empty_tiles_are_skipped():
    v = _cells()
    v["annual_prec"][:] = -99.0  # the no-data flag of VIC's files
    v["Ws"][0] = np.nan
    v["Dsmax"][1] = 9.969e36  # a fill value
    v["albedo"][1] = 7.0  # tile 2 has cover: found
    assert [f.variable for f in check(v, LAT, LON, file="p.nc")] == ["albedo"]
    v["Cv"][:] = [[1.0], [0.0]]  # tile 2 without cover: its values are never used by VIC
    v["root_fract"][1] = 0.3
    assert check(v, LAT, LON, file="p.nc") == []


def test_bare_tile_may_have_no_roots_but_a_leafy_one_must():
    v = _cells()
    assert check(v, LAT, LON, file="p.nc") == []  # tile 2: cover, no leaves, no roots
    v["LAI"][1] = 1.0
    assert [f.variable for f in check(v, LAT, LON, file="p.nc")] == ["root_fract"]


def test_enforce_raises_one_line_or_warns_once(caplog):
    v = _cells()
    v["Ws"][:] = 0.0
    v["infilt"][2] = 1e20
    found = check(v, LAT, LON, file="p.nc")
    with pytest.raises(VICError) as err:
        enforce(found)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("p.nc: infilt = 1e+20 at cell lat 31.7000")
    assert "also out of range: Ws" in msg and "--allow-out-of-range" in msg
    with caplog.at_level(logging.WARNING):
        records = enforce(found, allow=True)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert [r["variable"] for r in records] == ["infilt", "Ws"]
    assert records[1]["n_cells"] == 3 and records[1]["example"] == {"lat": 31.5, "lon": -110.1, "value": 0.0,
                                                                      "where": ""}
    json.dumps(records)
    assert enforce([], allow=False) == []


@pytest.mark.skipif(not SAMPLE_PARAMS, reason=f"VIC sample data not found at {SAMPLE}")
def test_every_sample_parameter_file_passes():
    setups = {p.parts[-3] for p in SAMPLE_PARAMS}
    assert setups == {"Stehekin", "WalnutGulch", "FindleyLake"}
    for path in SAMPLE_PARAMS:
        with xr.open_dataset(path, decode_times=False) as ds:
            rows, cols = np.nonzero(ds["run_cell"].fillna(0).values == 1)
            values = read_cells(ds, rows, cols)
            assert {"Ws", "infilt", "Cv", "init_moist", "root_fract"} <= set(values), path
            found = check(values, ds["lat"].values[rows], ds["lon"].values[cols], file=str(path))
        assert found == [], [f.line() for f in found]
