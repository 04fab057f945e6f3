"""The flux-tower readers (``ameriflux``, ``fluxnet``) on small files written in the documented layouts.

Layouts followed:

* AmeriFlux BASE: "Data Variables", https://ameriflux.lbl.gov/data/aboutdata/data-variables/ and
  https://ameriflux.lbl.gov/data/data-processing-pipelines/base-publish/ -- ``AMF_<SITE>_BASE_HH_<ver>.csv``,
  two ``#`` comment lines (site, version), TIMESTAMP_START/TIMESTAMP_END as YYYYMMDDHHMM in local
  standard time, -9999 missing, qualifiers ``_H_V_R`` (vertical index numbered from top to bottom).
* FLUXNET2015: https://fluxnet.org/data/fluxnet2015-dataset/fullset-data-product/ --
  ``FLX_<SITE>_FLUXNET2015_FULLSET_HH_<years>_<ver>.csv`` with LE_F_MDS / LE_F_MDS_QC (HH: 0 measured,
  1 good, 2 medium, 3 poor gap-fill; DD: fraction of measured or good-quality gap-filled
  half-hours), LE_CORR, TA_F, SWC_F_MDS_1 (%) with _QC; DD files with TIMESTAMP YYYYMMDD.
* BADM (BIF) CSV: https://ameriflux.lbl.gov/data/aboutdata/badm-data-product/ -- SITE_ID, GROUP_ID,
  VARIABLE_GROUP, VARIABLE, DATAVALUE.

Every read checks that the input file is left as it was (sha256).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vic_paraformer.errors import ObservationError
from vic_paraformer.readers import CellTarget, ReadOptions, detect_format, read_observations
from vic_paraformer.readers.fluxterms import latent_heat_of_vaporisation, le_to_et
from vic_paraformer.registry import list_readers

DAYS = pd.date_range("2008-01-01", "2008-01-10", freq="D")
SITE = "US-Tst"
LAT, LON = 35.0, -106.0


def _target(convention="utc", offset=None, names=True) -> CellTarget:
    return CellTarget(ids=np.array([10, 11]), lat=np.array([LAT, 40.0]), lon=np.array([LON, -100.0]), days=DAYS,
                      convention=convention, utc_offset=None if offset is None else np.array([offset, offset]),
                      names=np.array([SITE, "other"]) if names else None)


def _read(path: Path, target, **kw):
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        return read_observations(path, target, **kw)
    finally:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the reader changed its input"


def _hh_times(start="2008-01-02", end="2008-01-05", step="30min"):
    t = pd.date_range(start, end, freq=step, inclusive="left")
    return t, t + pd.Timedelta(step)


def _write_hh(path: Path, cols: dict, start="2008-01-02", end="2008-01-05", step="30min", comments=True) -> Path:
    """A half-hourly file: ``cols`` maps a column name to a constant or an array (NaN -> -9999)."""
    t0, t1 = _hh_times(start, end, step)
    df = pd.DataFrame({"TIMESTAMP_START": t0.strftime("%Y%m%d%H%M"), "TIMESTAMP_END": t1.strftime("%Y%m%d%H%M")})
    for k, v in cols.items():
        arr = np.broadcast_to(np.asarray(v, float), (len(t0),)).copy()
        df[k] = np.where(np.isfinite(arr), arr, -9999)
    head = f"# Site: {SITE}\n# Version: 1-5\n" if comments else ""
    path.write_text(head + df.to_csv(index=False))
    return path


def _base(tmp_path, cols, **kw) -> Path:
    return _write_hh(tmp_path / f"AMF_{SITE}_BASE_HH_1-5.csv", cols, **kw)


def _flx_hh(tmp_path, cols, **kw) -> Path:
    return _write_hh(tmp_path / f"FLX_{SITE}_FLUXNET2015_FULLSET_HH_2008-2008_1-4.csv", cols, comments=False, **kw)


def _flx_dd(tmp_path, cols: dict, days=pd.date_range("2008-01-02", "2008-01-06")) -> Path:
    df = pd.DataFrame({"TIMESTAMP": days.strftime("%Y%m%d")})
    for k, v in cols.items():
        arr = np.broadcast_to(np.asarray(v, float), (len(days),)).copy()
        df[k] = np.where(np.isfinite(arr), arr, -9999)
    p = tmp_path / f"FLX_{SITE}_FLUXNET2015_FULLSET_DD_2008-2008_1-4.csv"
    p.write_text(df.to_csv(index=False))
    return p


def _qc(obs, var="obs_et", cell=10):
    return obs.qc.set_index(["cell", "variable"]).loc[(cell, var)]


def _et(le, t):
    """ET (mm/day) of LE (W m-2) at t degC, by hand."""
    return le * 86400.0 / (2.501e6 - 2361.0 * t)


UTC0 = {"utc_offset": 0}


# ------------------------------------------------------------------------------- conversion
def test_lambda_of_temperature_by_hand():
    assert latent_heat_of_vaporisation(20.0) == pytest.approx(2.45378e6)
    assert latent_heat_of_vaporisation(0.0) == pytest.approx(2.501e6)
    assert le_to_et(100.0, 20.0) == pytest.approx(100 * 86400 / 2.45378e6)


def test_base_latent_heat_to_daily_et(tmp_path):
    """LE 100 W m-2 all day at 20 degC -> 100*86400/2.45378e6 mm; at 10 degC the larger lambda."""
    t0, _ = _hh_times()
    ta = np.where(t0 < pd.Timestamp("2008-01-03"), 20.0, 10.0)
    p = _base(tmp_path, {"LE": 100.0, "TA": ta, "H": 40.0})
    obs = _read(p, _target(), extra=UTC0)
    et = obs.values["obs_et"][0]
    assert et[1] == pytest.approx(100 * 86400 / 2.45378e6, rel=1e-9)
    assert et[2] == pytest.approx(100 * 86400 / (2.501e6 - 23610.0), rel=1e-9)
    assert np.isnan(et[0]) and np.isnan(et[4:]).all()
    assert np.isnan(obs.values["obs_et"][1]).all()
    assert obs.support["obs_et"]["format"] == "ameriflux"
    assert obs.support["obs_et"]["latent_heat"] == "LE"
    assert _qc(obs)["sites"] == SITE


def test_missing_air_temperature_falls_back_to_20C_with_a_note(tmp_path):
    t0, _ = _hh_times()
    ta = np.where(t0.hour < 12, 5.0, np.nan)
    p = _base(tmp_path, {"LE_1_1_1": 100.0, "TA_1_1_1": ta})
    obs = _read(p, _target(), extra=UTC0)
    half = (_et(100, 5.0) + _et(100, 20.0)) / 2
    assert obs.values["obs_et"][0][1] == pytest.approx(half, rel=1e-9)
    assert "step(s) without air temperature (TA_1_1_1): lambda at 20 degC" in _qc(obs)["notes"]
    q = _base(tmp_path, {"LE": 100.0})
    obs = _read(q, _target(), extra=UTC0)
    assert obs.values["obs_et"][0][1] == pytest.approx(_et(100, 20.0))
    assert "no air temperature column: lambda at 20 degC" in _qc(obs)["notes"]


def test_coverage_rule_on_half_hourly_latent_heat(tmp_path):
    t0, _ = _hh_times()
    le = np.full(len(t0), 100.0)
    le[(t0 >= pd.Timestamp("2008-01-03")) & (t0 < pd.Timestamp("2008-01-03 12:00"))] = np.nan  # -9999, half a day
    p = _base(tmp_path, {"LE": le, "TA": 20.0})
    obs = _read(p, _target(), extra=UTC0)
    et = obs.values["obs_et"][0]
    assert et[1] == pytest.approx(_et(100, 20)) and np.isnan(et[2]) and et[3] == pytest.approx(_et(100, 20))
    assert _qc(obs)["n_low_coverage"] == 1 and _qc(obs)["n_days"] == 2
    obs = _read(p, _target(), extra=UTC0, min_coverage=0.5)
    assert obs.values["obs_et"][0][2] == pytest.approx(_et(100, 20))


def test_base_range_check_counts_invalid_and_summary(tmp_path, capsys):
    t0, _ = _hh_times()
    le = np.full(len(t0), 100.0)
    le[5] = 5000.0
    le[7] = -450.0
    p = _base(tmp_path, {"LE": le, "TA": 20.0})
    obs = _read(p, _target(), extra=UTC0)
    row = _qc(obs)
    assert row["n_invalid"] == 2 and row["n_flagged"] == 0
    assert "2 LE value(s) outside -200..1000 W m-2 left out" in row["notes"]
    assert obs.values["obs_et"][0][1] == pytest.approx(_et(100, 20))  # 46 of 48 steps: above 0.75
    print(obs.summary())
    out = capsys.readouterr().out
    assert "obs_et: 1 of 2 cells with data, 3 cell-days, 0 values flagged, 2 invalid, 0 days below coverage" in out
    with pytest.raises(ObservationError, match=r"AmeriFlux BASE files carry no quality flags; the flags option"):
        _read(p, _target(), extra=UTC0, flags="0,1")


# ------------------------------------------------------------------------------------- flags
def test_fluxnet_hh_flags_default_and_override(tmp_path):
    t0, _ = _hh_times()
    le = np.full(len(t0), 100.0)
    qc = np.zeros(len(t0))
    day2 = (t0 >= pd.Timestamp("2008-01-03")) & (t0 < pd.Timestamp("2008-01-04"))
    qc[day2] = 1
    le[day2 & (t0.hour < 6)] = 400.0
    qc[day2 & (t0.hour < 6)] = 2  # medium-quality gap-fill: 12 steps
    qc[-1] = 3
    p = _flx_hh(tmp_path, {"LE_F_MDS": le, "LE_F_MDS_QC": qc, "TA_F": 20.0})
    obs = _read(p, _target(), extra=UTC0)
    row = _qc(obs)
    assert row["n_flagged"] == 13
    et = obs.values["obs_et"][0]
    assert et[2] == pytest.approx(_et(100, 20))  # 36 good steps of 48: exactly 0.75 coverage
    obs = _read(p, _target(), extra=UTC0, flags="0,1,2")
    assert obs.values["obs_et"][0][2] == pytest.approx(_et((12 * 400 + 36 * 100) / 48, 20))
    assert _qc(obs)["n_flagged"] == 1
    obs = _read(p, _target(), extra=UTC0, flags="0")
    assert np.isnan(obs.values["obs_et"][0][2]) and obs.values["obs_et"][0][1] == pytest.approx(_et(100, 20))
    with pytest.raises(ObservationError, match=r"flags 'good': expected FLUXNET _QC classes 0-3"):
        _read(p, _target(), extra=UTC0, flags="good")


def test_fluxnet_daily_file_qc_fraction_and_days(tmp_path):
    p = _flx_dd(tmp_path, {"LE_F_MDS": [100, 120, 80, 100, 90], "LE_F_MDS_QC": [1.0, 0.9, 0.5, 0.8, 0.76],
                           "TA_F": [20, 10, 0, 20, 20]})
    obs = _read(p, _target())  # daily values: no UTC offset needed
    et = obs.values["obs_et"][0]
    assert et[1] == pytest.approx(_et(100, 20)) and et[2] == pytest.approx(_et(120, 10))
    assert np.isnan(et[3])  # 50 % measured/good half-hours: below the 0.75 default
    assert et[5] == pytest.approx(_et(90, 20))
    assert _qc(obs)["n_flagged"] == 1
    assert "taken as the region's days" in _qc(obs)["notes"]
    obs = _read(p, _target(), flags="0.5")
    assert obs.values["obs_et"][0][3] == pytest.approx(_et(80, 0))
    with pytest.raises(ObservationError, match=r"a daily FLUXNET _QC is the fraction"):
        _read(p, _target(), flags="0,1,2")
    # with an offset the local day's middle (local noon) decides: the same dates at UTC-7
    obs = _read(p, _target(), extra={"utc_offset": -7})
    np.testing.assert_allclose(obs.values["obs_et"][0][[1, 2]], [_et(100, 20), _et(120, 10)])


# ----------------------------------------------------------------------------- energy closure
def test_energy_closure_bowen_ratio_preserving_by_hand(tmp_path):
    t0, _ = _hh_times()
    am = t0.hour < 12
    le = np.where(am, 100.0, 50.0)
    h = np.where(am, 50.0, 25.0)
    rn = np.where(am, 300.0, 0.0)
    g = np.where(am, 30.0, -10.0)
    g2 = g.copy()
    g[t0 >= pd.Timestamp("2008-01-04")] = np.nan  # last day: no soil heat flux at all
    g2[t0 >= pd.Timestamp("2008-01-04")] = np.nan
    p = _base(tmp_path, {"LE": le, "H": h, "NETRAD": rn, "G_1_1_1": g, "G_2_1_1": g2, "TA": 20.0})
    plain = _read(p, _target(), extra=UTC0)
    obs = _read(p, _target(), extra=UTC0, energy_closure=True)
    factor = (24 * (300 - 30) + 24 * (0 + 10)) / (24 * 150 + 24 * 75)  # sum(Rn - G) / sum(H + LE)
    assert factor == pytest.approx(6720 / 5400)
    base = _et(75.0, 20)
    assert plain.values["obs_et"][0][1] == pytest.approx(base)
    assert obs.values["obs_et"][0][1] == pytest.approx(base * factor)
    assert np.isnan(obs.values["obs_et"][0][3]) and plain.values["obs_et"][0][3] == pytest.approx(base)
    row = _qc(obs)
    assert row["n_flagged"] == 48 and "energy closure: 48 LE value(s) on days without a closure factor" in row["notes"]
    assert obs.support["obs_et"]["energy_closure"] is True
    q = _base(tmp_path, {"LE": le, "TA": 20.0})
    with pytest.raises(ObservationError, match=r"energy-balance closure needs H, NETRAD, G"):
        _read(q, _target(), extra=UTC0, energy_closure=True)


def test_fluxnet_le_corr_is_used_for_energy_closure(tmp_path):
    p = _flx_hh(tmp_path, {"LE_F_MDS": 100.0, "LE_F_MDS_QC": 0, "LE_CORR": 130.0, "TA_F": 20.0})
    assert _read(p, _target(), extra=UTC0).values["obs_et"][0][1] == pytest.approx(_et(100, 20))
    obs = _read(p, _target(), extra=UTC0, energy_closure=True)
    assert obs.values["obs_et"][0][1] == pytest.approx(_et(130, 20))
    assert obs.support["obs_et"]["latent_heat"] == "LE_CORR"
    assert "energy-balance closure: the file's LE_CORR" in _qc(obs)["notes"]


# ---------------------------------------------------------------------------- soil moisture
def test_base_swc_percent_and_depth_selection(tmp_path):
    p = _base(tmp_path, {"LE": 100.0, "TA": 20.0, "SWC_1_1_1": 20.0, "SWC_2_1_1": 24.0, "SWC_1_2_1": 30.0,
                         "SWC_1_3_1": 40.0})
    obs = _read(p, _target(), extra=UTC0)
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.22)  # V = 1 sensors, two positions averaged
    sup = obs.support["obs_sm"]
    assert sup["depth_m"] is None and sup["depth_known"] is False and sup["sensors"] == ["SWC_1_1_1", "SWC_2_1_1"]
    assert "obs_sm: soil water depth unknown" in _qc(obs, "obs_sm")["notes"]
    with pytest.raises(ObservationError, match=r"depths of SWC_1_1_1, SWC_1_2_1, SWC_1_3_1, SWC_2_1_1 are unknown.*"
                                               r"swc_depths"):
        _read(p, _target(), extra=UTC0, depth=(0.2, 0.5))
    depths = {"utc_offset": 0, "swc_depths": "1=0.05,2=0.3,3=-0.6"}
    obs = _read(p, _target(), extra=depths, depth=(0.2, 0.5))
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.30)
    assert obs.support["obs_sm"]["depth_m"] == [0.3, 0.3] and obs.support["obs_sm"]["depth_known"] is True
    obs = _read(p, _target(), extra=depths, depth=(0.0, 0.7))
    assert obs.values["obs_sm"][0][1] == pytest.approx((20 + 24 + 30 + 40) / 400)
    with pytest.raises(ObservationError, match=r"no soil water sensor between 1 and 2 m; the file has SWC_1_1_1 0.05 m"):
        _read(p, _target(), extra=depths, depth=(1.0, 2.0))


def test_fluxnet_swc_layer_one_is_shallowest_with_flags(tmp_path):
    t0, _ = _hh_times()
    qc = np.where(t0 < pd.Timestamp("2008-01-03"), 0, 3)
    p = _flx_hh(tmp_path, {"LE_F_MDS": 50.0, "LE_F_MDS_QC": 0, "TA_F": 20.0, "SWC_F_MDS_1": 25.0,
                           "SWC_F_MDS_1_QC": qc, "SWC_F_MDS_2": 35.0, "SWC_F_MDS_2_QC": 0})
    obs = _read(p, _target(), extra=UTC0, variables=("obs_sm",))
    sm = obs.values["obs_sm"][0]
    assert sm[1] == pytest.approx(0.25) and np.isnan(sm[2])
    assert _qc(obs, "obs_sm")["n_flagged"] == 96 and "obs_et" not in obs.values
    obs = _read(p, _target(), extra={"utc_offset": 0, "swc_depths": {"SWC_F_MDS_1": [0, 0.1], "2": 0.3}},
                variables=("obs_sm",), depth=(0.2, 0.4), flags="0,1,2,3")
    assert obs.values["obs_sm"][0][2] == pytest.approx(0.35)


# ----------------------------------------------------------------------------------- time
def test_local_standard_time_to_utc_and_local_days(tmp_path):
    """LE 100 W m-2 during local (UTC-7) day 2008-01-03 only, 0 otherwise."""
    t0, _ = _hh_times()
    le = np.where((t0 >= pd.Timestamp("2008-01-03")) & (t0 < pd.Timestamp("2008-01-04")), 100.0, 0.0)
    p = _base(tmp_path, {"LE": le, "TA": 20.0})
    obs = _read(p, _target(), extra={"utc_offset": -7})
    et = obs.values["obs_et"][0]
    # UTC day 2008-01-03 runs 17:00 (2nd) .. 17:00 (3rd) local: 17 h of the wet local day
    assert et[2] == pytest.approx(_et(100, 20) * 17 / 24)
    assert et[3] == pytest.approx(_et(100, 20) * 7 / 24)
    # a Region with local days: the cell's own offset, the file's days exactly (no option needed)
    obs = _read(p, _target("local", -7.0))
    assert obs.values["obs_et"][0][2] == pytest.approx(_et(100, 20)) and obs.values["obs_et"][0][3] == 0.0
    assert "read with the cell's UTC offset -7 h" in _qc(obs)["notes"]
    with pytest.raises(ObservationError) as err:
        _read(p, _target())
    msg = str(err.value)
    assert str(p) in msg and "local standard time" in msg and "utc_offset" in msg and "\n" not in msg


def test_badm_file_gives_offset_position_and_depths(tmp_path):
    p = _base(tmp_path, {"LE": 100.0, "TA": 20.0, "SWC_1_1_1": 20.0, "SWC_1_2_1": 30.0})
    bif = tmp_path / "AMF_US-Tst_BIF_20240101.csv"
    rows = [("1", "GRP_UTC_OFFSET", "UTC_OFFSET", "-7"), ("2", "GRP_LOCATION", "LOCATION_LAT", str(LAT)),
            ("2", "GRP_LOCATION", "LOCATION_LONG", str(LON)),
            ("3", "GRP_VAR_INFO", "VAR_INFO_VARNAME", "SWC_1_1_1"), ("3", "GRP_VAR_INFO", "VAR_INFO_HEIGHT", "-0.05"),
            ("3", "GRP_VAR_INFO", "VAR_INFO_DATE", "2005"),
            ("4", "GRP_VAR_INFO", "VAR_INFO_VARNAME", "SWC_1_2_1"), ("4", "GRP_VAR_INFO", "VAR_INFO_HEIGHT", "-0.2"),
            ("4", "GRP_VAR_INFO", "VAR_INFO_DATE", "2005")]
    bif.write_text("SITE_ID,GROUP_ID,VARIABLE_GROUP,VARIABLE,DATAVALUE\n"
                   + "".join(f"{SITE},{g},{grp},{v},{d}\n" for g, grp, v, d in rows))
    target = _target(names=False)
    obs = _read(p, target, extra={"badm": str(bif)}, depth=(0.1, 0.3))
    # UTC-7: the first UTC day holds 17 h of the file (below coverage), the next a full day
    assert np.isnan(obs.values["obs_sm"][0][1]) and obs.values["obs_sm"][0][2] == pytest.approx(0.30)
    assert obs.support["obs_sm"]["depth_m"] == [0.2, 0.2]
    assert "UTC offset -7 h from the BADM file" in _qc(obs)["notes"]
    assert _qc(obs)["sites"] == SITE


# --------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cols, kw, needle", [
    ({"H": 10.0, "TA": 20.0}, {"extra": UTC0}, "no latent heat column (LE, LE_H_V_R, LE_#, or LE_F_MDS)"),
    ({"LE": np.nan, "TA": 20.0}, {"extra": UTC0}, "column 'LE' holds no value (all -9999 or empty)"),
    ({"LE": 100.0}, {}, "timestamps are local standard time and the file does not give the site's UTC offset"),
    ({"LE": 100.0}, {"extra": {"utc_offset": "east"}}, "option utc_offset='east': expected a number in -12..14"),
    ({"LE": 100.0}, {"extra": {"utc_offset": 0, "lat": 35.0}}, "options lat and lon go together"),
    ({"LE": 100.0, "SWC_1_1_1": 20.0}, {"extra": {"utc_offset": 0, "swc_depths": "deep"}}, "option swc_depths='deep'"),
])
def test_unusable_base_files_name_the_file(tmp_path, cols, kw, needle):
    p = _base(tmp_path, cols)
    with pytest.raises(ObservationError) as err:
        _read(p, _target(), **kw)
    assert str(p) in str(err.value) and needle in str(err.value), str(err.value)


def test_site_without_position_and_bad_rows(tmp_path):
    p = _base(tmp_path, {"LE": 100.0, "TA": 20.0})
    with pytest.raises(ObservationError, match=r"site US-Tst has no position; pass the reader options lat and lon"):
        _read(p, _target(names=False), extra=UTC0)
    obs = _read(p, _target(names=False), extra={"utc_offset": 0, "lat": LAT + 0.01, "lon": LON})
    assert _qc(obs)["n_days"] == 3
    text = p.read_text().splitlines()
    text[5] = "20080102xx00," + text[5].split(",", 1)[1]
    q = tmp_path / "AMF_US-Tst_BASE_HH_2-5.csv"
    q.write_text("\n".join(text) + "\n")
    with pytest.raises(ObservationError, match=r"column 'TIMESTAMP_START' row 6: '20080102xx00' is not "
                                               r"TIMESTAMP_START as YYYYMMDDHHMM"):
        _read(q, _target(), extra=UTC0)
    text = p.read_text().splitlines()
    text[4] = text[4].rsplit(",", 1)[0] + ",warm"
    r = tmp_path / "AMF_US-Tst_BASE_HH_3-5.csv"
    r.write_text("\n".join(text) + "\n")
    with pytest.raises(ObservationError, match=r"column 'TA' row 5: 'warm' is not a number"):
        _read(r, _target(), extra=UTC0)
    m = tmp_path / f"FLX_{SITE}_FLUXNET2015_FULLSET_MM_2008-2008_1-4.csv"
    m.write_text("TIMESTAMP,LE_F_MDS,LE_F_MDS_QC\n200801,50,1\n")
    with pytest.raises(ObservationError, match=r"'200801' is not a daily TIMESTAMP YYYYMMDD; monthly files are not read"):
        _read(m, _target())


def test_negative_daily_et_is_set_to_zero_with_a_note(tmp_path):
    t0, _ = _hh_times()
    le = np.where(t0 < pd.Timestamp("2008-01-03"), -20.0, 50.0)
    p = _base(tmp_path, {"LE": le, "TA": 0.0})
    obs = _read(p, _target(), extra=UTC0)
    assert obs.values["obs_et"][0][1] == 0.0 and obs.values["obs_et"][0][2] == pytest.approx(_et(50, 0))
    assert "1 day(s) of net condensation (daily ET < 0) set to 0 mm/day" in _qc(obs)["notes"]


# -------------------------------------------------------------------------------- detection
def test_detection_by_name_and_header(tmp_path):
    assert {"ameriflux", "fluxnet"} <= set(list_readers())
    base = _base(tmp_path, {"LE": 100.0})
    flx = _flx_hh(tmp_path, {"LE_F_MDS": 100.0, "LE_F_MDS_QC": 0})
    assert detect_format(base) == "ameriflux" and detect_format(flx) == "fluxnet"
    renamed = tmp_path / "tower.csv"
    renamed.write_bytes(base.read_bytes())
    assert detect_format(renamed) == "ameriflux"
    renamed2 = tmp_path / "tower2.csv"
    renamed2.write_bytes(flx.read_bytes())
    assert detect_format(renamed2) == "fluxnet"
    amf_flx = tmp_path / f"AMF_{SITE}_FLUXNET_FULLSET_HH_2008-2008_3-5.csv"
    amf_flx.write_bytes(flx.read_bytes())
    assert detect_format(amf_flx) == "ameriflux"
    obs = _read(amf_flx, _target(), extra=UTC0)
    assert obs.support["obs_et"]["product"] == "AmeriFlux FLUXNET" and _qc(obs)["n_days"] == 3
    other = tmp_path / "obs.csv"
    other.write_text("time,cell,obs_et\n2008-01-05,10,1.5\n")
    assert detect_format(other) == "csv"


def test_read_options_flags_none_means_documented_default():
    assert ReadOptions().flags is None and ReadOptions().energy_closure is False


# ------------------------------------------------------------------------------ command line
SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data")
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"


@pytest.mark.skipif(not WALNUT.is_file(), reason=f"VIC sample data not found at {SAMPLE}")
def test_vic_import_reads_a_base_file_with_energy_closure(tmp_path, capsys):
    """``vic import --obs AMF_..._BASE_HH --obs-option ... --energy-closure`` puts corrected ET on the cell."""
    from vic_paraformer.cli.main import main
    from vic_paraformer.region import Region

    setup = ["vic", "import", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--start", "2008-01-01",
             "--end", "2008-01-10"]
    assert main([*setup, "--out", str(tmp_path / "plain.nc")]) == 0
    plain = Region.open(tmp_path / "plain.nc")
    lat, lon = float(plain.ds["lat"].values[0]), float(plain.ds["lon"].values[0])
    p = _base(tmp_path, {"LE": 100.0, "H": 50.0, "NETRAD": 200.0, "G": 20.0, "TA": 20.0})
    opts = ["--obs", str(p), "--obs-option", "utc_offset=0", "--obs-option", f"lat={lat}", "--obs-option",
            f"lon={lon}"]
    assert opts[4:] == ["--obs-option", f"lat={lat}", "--obs-option", f"lon={lon}"]
    assert main([*setup, *opts, "--energy-closure", "--out", str(tmp_path / "r.nc")]) == 0
    r = Region.open(tmp_path / "r.nc")
    et = r.ds["obs_et"].values
    assert et[0, 2] == pytest.approx(_et(100, 20) * 180 / 150, rel=1e-5)
    assert np.isfinite(et).sum() == 3 and r.ds["obs_et"].attrs["source_format"] == "ameriflux"
    capsys.readouterr()
    assert main([*setup, *opts[:2], *opts[4:], "--out", str(tmp_path / "x.nc")]) == 1  # no utc_offset
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(p) in err and "utc_offset" in err
    with pytest.raises(SystemExit) as exit_:
        main([*setup, *opts, "--obs-option", "offset=3", "--out", str(tmp_path / "y.nc")])
    assert exit_.value.code == 2 and "unknown reader option 'offset'" in capsys.readouterr().err


def test_all_values_flagged_is_an_error_naming_the_flags(tmp_path):
    p = _flx_hh(tmp_path, {"LE_F_MDS": 100.0, "LE_F_MDS_QC": 3, "TA_F": 20.0})
    with pytest.raises(ObservationError, match=r"no value of 'LE_F_MDS' passes the quality flags and range checks "
                                               r"\(144 flagged, 0 invalid\); see --flags"):
        _read(p, _target(), extra=UTC0)
    assert _qc(_read(p, _target(), extra=UTC0, flags="3"))["n_days"] == 3
