"""The observation readers' shared rules (time zones, daily coverage, matching, QC) through the
generic table reader; every test checks the input file is left as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vic_paraformer.errors import ObservationError
from vic_paraformer.readers import CellTarget, ReadOptions, detect_format, read_observations
from vic_paraformer.readers.timeaxis import day_of, parse_timestamps
from vic_paraformer.registry import list_readers

DAYS = pd.date_range("2008-01-01", "2008-01-10", freq="D")


def _grid_target(convention="utc", offset=None) -> CellTarget:
    lat = np.array([31.0, 31.0, 31.5, 31.5])
    lon = np.array([-110.0, -109.5, -110.0, -109.5])
    return CellTarget(ids=np.arange(4), lat=lat, lon=lon, days=DAYS, resolution=(0.5, 0.5), convention=convention,
                      utc_offset=offset)


def _read(path: Path, target, **kw):
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        return read_observations(path, target, **kw)
    finally:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the reader changed its input"


def test_offsets_are_converted_not_dropped(tmp_path):
    """Daily values stamped at local midnight with +09:00 land on the day they name (UTC days)."""
    p = tmp_path / "obs.csv"
    rows = [f"2008-01-{d:02d}T00:00:00+09:00,31.0,-110.0,{0.1 + d / 100:.2f}" for d in range(1, 11)]
    p.write_text("time,lat,lon,obs_sm\n" + "\n".join(rows) + "\n")
    obs = _read(p, _grid_target())
    sm = obs.values["obs_sm"][0]
    np.testing.assert_allclose(sm, 0.1 + np.arange(1, 11) / 100, rtol=1e-6)
    assert np.isnan(obs.values["obs_sm"][1:]).all()
    assert obs.qc.set_index(["cell", "variable"]).loc[(0, "obs_sm"), "n_days"] == 10


def test_parse_timestamps_offsets_and_naive():
    t = parse_timestamps(["2008-01-01T00:00:00+09:00", "2008-01-01T00:00:00Z", "2008-01-01 03:00"], what="x",
                         utc_offset_h=-7)
    assert list(t.strftime("%Y-%m-%d %H:%M")) == ["2007-12-31 15:00", "2008-01-01 00:00", "2008-01-01 10:00"]
    with pytest.raises(ObservationError, match="x: 'yesterday' is not a date or time"):
        parse_timestamps(["2008-01-01", "yesterday"], what="x")


def test_day_of_uses_interval_middle_and_local_offset():
    start = parse_timestamps(["2008-01-01T23:30:00Z"], what="x")
    assert day_of(start, step=pd.Timedelta("30min"), stamp="start", offset_h=0)[0] == pd.Timestamp("2008-01-01")
    assert day_of(start, step=pd.Timedelta("30min"), stamp="end", offset_h=0)[0] == pd.Timestamp("2008-01-01")
    assert day_of(start, step=pd.Timedelta("1h"), stamp="start", offset_h=0)[0] == pd.Timestamp("2008-01-02")
    # 23:30 UTC is 16:30 at UTC-7: still the 1st; at UTC+9 it is 08:30 on the 2nd
    assert day_of(start, step=pd.Timedelta(0), stamp="instant", offset_h=-7)[0] == pd.Timestamp("2008-01-01")
    assert day_of(start, step=pd.Timedelta(0), stamp="instant", offset_h=9)[0] == pd.Timestamp("2008-01-02")


def test_subdaily_coverage_rule(tmp_path):
    """Half-hourly values: a day with half its steps missing is NaN and counted as low coverage."""
    t = pd.date_range("2008-01-02", "2008-01-04", freq="30min", inclusive="left", tz="UTC")
    v = np.full(len(t), 0.2)
    v[48:72] = np.nan  # half of 2008-01-03 missing
    df = pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "lat": 31.5, "lon": -109.5, "obs_sm": v})
    p = tmp_path / "hh.csv"
    df.to_csv(p, index=False)
    obs = _read(p, _grid_target())
    sm = obs.values["obs_sm"][3]
    assert sm[1] == pytest.approx(0.2) and np.isnan(sm[2])
    assert obs.qc.set_index(["cell", "variable"]).loc[(3, "obs_sm"), "n_low_coverage"] == 1
    obs = _read(p, _grid_target(), min_coverage=0.5)
    assert obs.values["obs_sm"][3][2] == pytest.approx(0.2)


def test_local_convention_moves_day_boundaries(tmp_path):
    """Hourly UTC readings averaged over local standard-time days of a UTC-7 station."""
    t = pd.date_range("2008-01-02", "2008-01-04", freq="1h", inclusive="left", tz="UTC")
    v = np.where(t < pd.Timestamp("2008-01-03", tz="UTC"), 0.1, 0.3)
    df = pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "site": "A", "obs_sm": v})
    p = tmp_path / "h.csv"
    df.to_csv(p, index=False)
    target = CellTarget(ids=np.array([7]), lat=np.array([31.7]), lon=np.array([-110.0]), days=DAYS,
                        convention="local", utc_offset=np.array([-7.0]), names=np.array(["A"]))
    obs = _read(p, target, min_coverage=0.2)
    sm = obs.values["obs_sm"][0]
    # local day 2008-01-02 runs 07:00Z..07:00Z(+1): 17 h of 0.1 and 7 h of 0.3
    assert sm[1] == pytest.approx((17 * 0.1 + 7 * 0.3) / 24, rel=1e-5)
    assert obs.qc["sites"].iloc[0] == "A"


def test_flags_drop_rows_and_are_counted(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("date,cell,obs_sm,qc\n2008-01-01,0,0.2,G\n2008-01-02,0,0.9,D\n2008-01-03,0,0.25,\n")
    obs = _read(p, _grid_target())
    sm = obs.values["obs_sm"][0]
    assert sm[0] == pytest.approx(0.2) and np.isnan(sm[1]) and sm[2] == pytest.approx(0.25)
    assert obs.qc.set_index(["cell", "variable"]).loc[(0, "obs_sm"), "n_flagged"] == 1
    obs = _read(p, _grid_target(), flags="G,D")
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.9)


def test_percent_column_is_named_and_converted_when_declared(tmp_path):
    p = tmp_path / "pct.csv"
    p.write_text("time,cell,obs_sm\n2008-01-01,0,23.5\n")
    with pytest.raises(ObservationError, match=r"pct\.csv: column 'obs_sm' reaches 23\.5: looks like percent"):
        _read(p, _grid_target())
    q = tmp_path / "pct2.csv"
    q.write_text("time,cell,obs_sm_percent\n2008-01-01,0,23.5\n")
    assert _read(q, _grid_target()).values["obs_sm"][0][0] == pytest.approx(0.235)


@pytest.mark.parametrize("text, needle", [
    ("time,lat,lon,obs_sm\n", "no data rows (the file has a header only)"),
    ("", "the file is empty"),
    ("time,lat,lon,obs_sm\n2012-01-01,31,-110,0.2\n", "no observation falls in the region's days 2008-01-01..2008-01-10"),
    ("when,lat,lon,obs_sm\n2008-01-01,31,-110,0.2\n", "needs a 'time' (or date) column"),
    ("time,lat,lon,soil\n2008-01-01,31,-110,0.2\n", "no observation column"),
    ("time,lat,lon,obs_et\n2008-01-01,31,-110,120\n", "looks like latent heat"),
    ("time,lat,lon,obs_sm\n2008-01-01,31,-110,abc\n", "column 'obs_sm' row 2: 'abc' is not a number"),
    ("time,obs_sm\n2008-01-01,0.2\n", "needs lat and lon, cell, or site columns"),
    ("time,lat,lon,obs_sm\n2008-01-01,60,-110,0.2\n", "none of its 1 site(s) matches a cell"),
])
def test_unusable_tables_name_the_file(tmp_path, text, needle):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ObservationError) as err:
        _read(p, _grid_target(), format="csv")
    assert str(p) in str(err.value) and needle in str(err.value)


def test_auto_detection_and_registry(tmp_path):
    assert "csv" in list_readers()
    p = tmp_path / "o.csv"
    p.write_text("time,cell,obs_et\n2008-01-05,2,1.5\n")
    assert detect_format(p) == "csv"
    assert _read(p, _grid_target()).values["obs_et"][2][4] == pytest.approx(1.5)
    q = tmp_path / "o.dat"
    q.write_text("hello\n")
    with pytest.raises(ObservationError, match=r"o\.dat: format not recognised; name it with --obs-format"):
        read_observations(q, _grid_target())
    with pytest.raises(ObservationError, match="unknown observation format 'nope'"):
        read_observations(p, _grid_target(), format="nope")


def test_options_are_checked():
    with pytest.raises(ObservationError, match="min_coverage"):
        ReadOptions(min_coverage=0)
    with pytest.raises(ObservationError, match="depth"):
        ReadOptions(depth=(0.1, 0.0))
