"""The ISMN station soil-moisture reader on small archives built in the documented layouts.

The files follow the ``Readme.txt`` shipped with ISMN downloads ("Variables stored in separate
files (Header+values)" and "(CEOP formatted)"; https://ismn.earth; Dorigo et al. 2021, HESS 25,
5749-5804): folders ``NETWORK/STATION``, file names
``CSE_NETWORK_STATION_sm_FROM_TO_SENSOR_START_END.stm``, a header line
``CSE NETWORK STATION LAT LON ELEVATION FROM TO SENSOR`` then records
``yyyy/mm/dd HH:MM VALUE ISMN_FLAG PROVIDER_FLAG`` (UTC), or 15-field CEOP lines; quality flags as
in ``ISMN_qualityflags_description.txt`` (Dorigo et al. 2013, Vadose Zone J. 12(3)).

Every read checks that no input file changed and that nothing was written next to the inputs.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vic_paraformer.errors import ObservationError
from vic_paraformer.readers import CellTarget, detect_format, read_observations
from vic_paraformer.readers.ismn import accepted_flags
from vic_paraformer.registry import list_readers

DAYS = pd.date_range("2008-01-01", "2008-01-10", freq="D")
HOURS = pd.date_range("2008-01-02", "2008-01-06", freq="1h", inclusive="left")


# ---------------------------------------------------------------------------------------- builders
def _name(net, station, var, d_from, d_to, sensor, times) -> str:
    return (f"{net}_{net}_{station}_{var}_{d_from:.6f}_{d_to:.6f}_{sensor}_"
            f"{times[0]:%Y%m%d}_{times[-1]:%Y%m%d}.stm")


def write_header_values(folder: Path, net, station, lat, lon, d_from, d_to, sensor, records, var="sm") -> Path:
    """One Header+values file: records are (time, value, ISMN flag)."""
    folder.mkdir(parents=True, exist_ok=True)
    times = [r[0] for r in records] or [pd.Timestamp("2008-01-02")]
    p = folder / _name(net, station, var, d_from, d_to, sensor, times)
    head = (f"{net:<10} {net:<15} {station:<17} {lat:10.5f} {lon:11.5f} {1200.0:7.2f} {d_from:7.2f} {d_to:7.2f} "
            f"{sensor}\n")
    body = "".join(f"{t:%Y/%m/%d %H:%M} {v:8.4f} {f} M\n" for t, v, f in records)
    p.write_text(head + body)
    return p


def write_ceop(folder: Path, net, station, lat, lon, d_from, d_to, sensor, records) -> Path:
    """One CEOP-formatted file (15 fields a line, nominal and actual UTC times)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / _name(net, station, "sm", d_from, d_to, sensor, [r[0] for r in records])
    lines = [f"{t:%Y/%m/%d %H:%M} {t:%Y/%m/%d %H:%M} {net:<10} {net:<15} {station:<17} {lat:10.5f} {lon:11.5f} "
             f"{350.0:7.2f} {d_from:7.2f} {d_to:7.2f} {v:8.4f} {f} M\n" for t, v, f in records]
    p.write_text("".join(lines))
    return p


def build_archive(root: Path) -> Path:
    """Two stations, two networks, both layouts.

    NET1/StationA (lat 31.1, lon -110.1 -> cell 0), Header+values: two sensors at 0.05 m (0.20 and
    0.30, averaged), the first flagged D06 with 0.9 on 2008-01-03 00-05 h; a sensor at 0.20 m
    (0.40, outside the default depth); a soil temperature file; static variables.
    NET2/StationB (lat 31.6, lon -109.4 -> cell 3), CEOP: 0.00-0.05 m, 0.15; ten hours missing on
    2008-01-04 (below coverage); on 2008-01-05 two C01 values (-0.01), one G value of 1.2 (invalid)
    and one M record.
    """
    a = root / "NET1" / "StationA"
    s1 = [(t, 0.9 if (t.day == 3 and t.hour < 6) else 0.20, "D06" if (t.day == 3 and t.hour < 6) else "G")
          for t in HOURS]
    write_header_values(a, "NET1", "StationA", 31.1, -110.1, 0.05, 0.05, "Hydraprobe", s1)
    write_header_values(a, "NET1", "StationA", 31.1, -110.1, 0.05, 0.05, "ThetaProbe-ML2X",
                        [(t, 0.30, "G") for t in HOURS])
    write_header_values(a, "NET1", "StationA", 31.1, -110.1, 0.20, 0.20, "Hydraprobe", [(t, 0.40, "G") for t in HOURS])
    write_header_values(a, "NET1", "StationA", 31.1, -110.1, 0.05, 0.05, "Hydraprobe", [(t, 12.5, "G") for t in HOURS],
                        var="ts")
    (a / "NET1_NET1_StationA_static_variables.csv").write_text(
        "quantity_name;unit;depth_from[m];depth_to[m];value;description;quantity_source_name;\n"
        "saturation;m^3*m^-3;0.00;0.30;0.46;;HWSD;\n")
    rec = []
    for t in HOURS:
        if t.day == 4 and t.hour < 10:
            continue
        v, f = 0.15, "G"
        if t.day == 5 and t.hour in (1, 2):
            v, f = -0.01, "C01"
        elif t.day == 5 and t.hour == 3:
            v = 1.2
        elif t.day == 5 and t.hour == 4:
            v, f = float("nan"), "M"
        rec.append((t, v, f))
    write_ceop(root / "NET2" / "StationB", "NET2", "StationB", 31.6, -109.4, 0.0, 0.05, "Stevens-Hydra-Probe", rec)
    return root


def _grid_target(convention="utc", offset=None) -> CellTarget:
    lat = np.array([31.0, 31.0, 31.5, 31.5])
    lon = np.array([-110.0, -109.5, -110.0, -109.5])
    return CellTarget(ids=np.arange(4), lat=lat, lon=lon, days=DAYS, resolution=(0.5, 0.5), convention=convention,
                      utc_offset=offset)


def _tree(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _read(path: Path, target=None, **kw):
    """read_observations, checking every input file is unchanged and nothing new appeared."""
    watch = path if path.is_dir() else path.parent
    before = _tree(watch)
    try:
        return read_observations(path, target if target is not None else _grid_target(), **kw)
    finally:
        assert _tree(watch) == before, "the reader changed or added files next to its input"


@pytest.fixture()
def archive(tmp_path) -> Path:
    return build_archive(tmp_path / "ismn")


def _qc(obs, cell):
    return obs.qc.set_index(["cell", "variable"]).loc[(cell, "obs_sm")]


# ---------------------------------------------------------------------------------------- reading
def test_archive_folder_defaults(archive):
    """Default depth 0-0.1 m and flag G: two sensors averaged, flagged hours left out, CEOP read."""
    obs = _read(archive, format="ismn")
    sm = obs.values["obs_sm"]
    a, b = sm[0], sm[3]
    # StationA: mean of 0.20 and 0.30; on 2008-01-03 hours 0-5 only the second sensor (0.30)
    assert a[1] == pytest.approx(0.25) and a[3] == pytest.approx(0.25) and a[4] == pytest.approx(0.25)
    assert a[2] == pytest.approx((6 * 0.30 + 18 * 0.25) / 24)
    assert np.isnan(a[0]) and np.isnan(a[5:]).all()
    # StationB: 2008-01-04 has 14 of 24 hours (< 0.75) -> NaN; 2008-01-05 keeps 20 valid hours of 0.15
    assert b[1] == pytest.approx(0.15) and b[2] == pytest.approx(0.15)
    assert np.isnan(b[3]) and b[4] == pytest.approx(0.15)
    assert np.isnan(sm[1]).all() and np.isnan(sm[2]).all()
    qa, qb = _qc(obs, 0), _qc(obs, 3)
    assert qa["sites"] == "StationA" and qa["n_flagged"] == 6 and qa["n_invalid"] == 0 and qa["n_days"] == 4
    assert "2 sensors averaged" in qa["notes"]
    assert qb["sites"] == "StationB" and qb["n_flagged"] == 2 and qb["n_invalid"] == 1
    assert qb["n_low_coverage"] == 1 and qb["n_days"] == 3
    assert obs.summary() == (f"{archive} (ismn):\n  obs_sm: 2 of 4 cells with data, 7 cell-days, 8 values flagged, "
                             f"1 invalid, 1 days below coverage")
    sup = obs.support["obs_sm"]
    assert sup["depth_m"] == [0.0, 0.05] and sup["depth_range_m"] == [0.0, 0.1]
    assert sup["network"] == "NET1, NET2" and sup["format"] == "ismn"
    assert sup["sensor"] == "Hydraprobe, Stevens-Hydra-Probe, ThetaProbe-ML2X"


def test_flag_override_accepts_listed_codes(archive):
    obs = _read(archive, format="ismn", flags="G,D06")
    a = obs.values["obs_sm"][0]
    assert a[2] == pytest.approx((6 * (0.9 + 0.3) / 2 + 18 * 0.25) / 24)
    assert _qc(obs, 0)["n_flagged"] == 0
    # accepting C01 keeps the negative values past the flags; the physical range then rejects them
    obs = _read(archive, format="ismn", flags="g, c01")
    q = _qc(obs, 3)
    assert q["n_flagged"] == 0 and q["n_invalid"] == 3
    assert obs.values["obs_sm"][3][4] == pytest.approx(0.15)


def test_multi_code_flags_need_every_code_accepted(tmp_path):
    t = pd.date_range("2008-01-02", periods=24, freq="1h")
    recs = [(x, 0.2 if x.hour < 12 else 0.4, "G" if x.hour < 12 else "D02,D03") for x in t]
    p = write_header_values(tmp_path / "N" / "S", "N", "S", 31.1, -110.1, 0.0, 0.05, "5TM", recs)
    obs = _read(p, format="ismn", flags="G,D02", min_coverage=0.5)
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.2) and _qc(obs, 0)["n_flagged"] == 12
    obs = _read(p, format="ismn", flags="G,D02,D03", min_coverage=0.5)
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.3) and _qc(obs, 0)["n_flagged"] == 0


def test_depth_selection_widens_to_deeper_sensors(archive):
    obs = _read(archive, format="ismn", depth=(0.0, 0.3))
    a = obs.values["obs_sm"][0]
    assert a[1] == pytest.approx((0.20 + 0.30 + 0.40) / 3)
    assert obs.support["obs_sm"]["depth_m"] == [0.0, 0.2]
    # only the deeper sensor: StationB (0-0.05) is not within 0.1-0.3 m, StationA's 0.20 m sensor is
    obs = _read(archive, format="ismn", depth=(0.1, 0.3))
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.40) and np.isnan(obs.values["obs_sm"][3]).all()
    assert obs.support["obs_sm"]["depth_m"] == [0.2, 0.2] and obs.support["obs_sm"]["network"] == "NET1"


def test_station_folder_single_file_and_zip(archive, tmp_path):
    st = archive / "NET1" / "StationA"
    obs = _read(st, format="ismn")
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.25) and np.isnan(obs.values["obs_sm"][3]).all()
    assert obs.support["obs_sm"]["network"] == "NET1"
    net = _read(archive / "NET2", format="ismn")
    assert net.values["obs_sm"][3][1] == pytest.approx(0.15)
    one = sorted((archive / "NET2" / "StationB").glob("*.stm"))[0]
    assert _read(one, format="ismn").values["obs_sm"][3][4] == pytest.approx(0.15)
    zpath = tmp_path / "Data_separate_files_header_20080101_20080110.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(archive.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(archive).as_posix())
    folder = _read(archive, format="ismn")
    zipped = _read(zpath, format="ismn")
    np.testing.assert_allclose(zipped.values["obs_sm"], folder.values["obs_sm"], equal_nan=True)
    assert zipped.summary().splitlines()[1] == folder.summary().splitlines()[1]


def test_timestamps_are_utc_and_local_days_shift(tmp_path):
    """Hourly UTC readings averaged over the local standard-time days of a UTC-7 point cell."""
    recs = [(t, 0.1 if t < pd.Timestamp("2008-01-03") else 0.3, "G") for t in HOURS[:48]]
    p = write_header_values(tmp_path / "N" / "S", "N", "S", 31.7, -110.0, 0.0, 0.05, "5TM", recs)
    target = CellTarget(ids=np.array([7]), lat=np.array([31.71]), lon=np.array([-110.01]), days=DAYS,
                        convention="local", utc_offset=np.array([-7.0]))
    obs = _read(p, target, format="ismn", min_coverage=0.2)
    sm = obs.values["obs_sm"][0]
    # local day 2008-01-02 runs 07:00Z..07:00Z(+1): 17 h of 0.1 and 7 h of 0.3
    assert sm[1] == pytest.approx((17 * 0.1 + 7 * 0.3) / 24)
    # local 2008-01-01 holds 00:00-06:00Z of the 2nd: 7 of 24 hours
    assert sm[0] == pytest.approx(0.1)
    utc = _read(p, CellTarget(ids=np.array([7]), lat=np.array([31.71]), lon=np.array([-110.01]), days=DAYS),
                format="ismn")
    assert utc.values["obs_sm"][0][1] == pytest.approx(0.1) and utc.values["obs_sm"][0][2] == pytest.approx(0.3)
    far = CellTarget(ids=np.array([7]), lat=np.array([32.5]), lon=np.array([-110.0]), days=DAYS)
    with pytest.raises(ObservationError, match=r"none of its 1 site\(s\) matches a cell.*S \(lat 31\.7000"):
        _read(p, far, format="ismn")


def test_units_percent_named_and_converted_on_request(tmp_path):
    recs = [(t, 25.0, "G") for t in HOURS[:24]]
    p = write_header_values(tmp_path / "N" / "S", "N", "S", 31.1, -110.1, 0.0, 0.05, "5TM", recs)
    with pytest.raises(ObservationError) as err:
        _read(p, format="ismn", flags="G,C02")
    assert str(p) in str(err.value) and "looks like percent; ISMN soil moisture is m3 m-3" in str(err.value)
    obs = _read(p, format="ismn", extra={"sm_units": "percent"})
    assert obs.values["obs_sm"][0][1] == pytest.approx(0.25)
    with pytest.raises(ObservationError, match="option sm_units 'kg'"):
        _read(p, format="ismn", extra={"sm_units": "kg"})


def test_auto_detection_and_registry(archive, tmp_path):
    assert "ismn" in list_readers()
    one = sorted((archive / "NET1" / "StationA").glob("*_sm_*.stm"))[0]
    ceop = sorted((archive / "NET2" / "StationB").glob("*.stm"))[0]
    assert detect_format(one) == "ismn" and detect_format(ceop) == "ismn" and detect_format(archive) == "ismn"
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(ceop, "NET2/StationB/" + ceop.name)
    assert detect_format(zpath) == "ismn"
    assert _read(archive).format == "ismn"
    csv = tmp_path / "o.csv"
    csv.write_text("time,cell,obs_sm\n2008-01-05,2,0.15\n")
    assert detect_format(csv) == "csv"


# ---------------------------------------------------------------------------------------- errors
def test_no_sensor_in_depth_range_names_file_and_depths(archive, tmp_path):
    deep = sorted((archive / "NET1" / "StationA").glob("*_sm_0.200000_*.stm"))[0]
    with pytest.raises(ObservationError) as err:
        _read(deep, format="ismn")
    msg = str(err.value)
    assert str(deep) in msg and "no soil moisture sensor within the depth range 0-0.1 m" in msg
    assert "depths found: 0.2-0.2 m" in msg
    with pytest.raises(ObservationError) as err:
        _read(archive, format="ismn", depth=(0.5, 1.0))
    assert str(archive) in str(err.value) and "depths found: 0-0.05 m, 0.05-0.05 m, 0.2-0.2 m" in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("", "the file is empty; expected an ISMN header line"),
    ("NET NET S 31.1 -110.1 1200.0 0.05 0.05 5TM\n", "no records after the header"),
    ("NET NET S north -110.1 1200.0 0.05 0.05 5TM\n2008/01/02 00:00 0.2 G M\n", "damaged ISMN header on line 1"),
    ("NET NET S\n2008/01/02 00:00 0.2 G M\n", "damaged ISMN header on line 1"),
    ("2008/01/02 00:00 0.2 G M\n2008/01/02 01:00 0.2 G M\n", "line 1 is a record, not the ISMN header line"),
    ("NET NET S 31.1 -110.1 1200.0 0.10 0.05 5TM\n2008/01/02 00:00 0.2 G M\n", "expected 0 <= DEPTH_FROM <= DEPTH_TO"),
    ("NET NET S 95.0 -110.1 1200.0 0.0 0.05 5TM\n2008/01/02 00:00 0.2 G M\n", "outside -90..90"),
    ("NET NET S 31.1 -110.1 1200.0 0.0 0.05 5TM\n2008/01/02 00:00 0.2 G M\n2008/01/02 01:00 wet G M\n",
     "line 3: value 'wet' is not a number"),
    ("NET NET S 31.1 -110.1 1200.0 0.0 0.05 5TM\n2008/01/02 00:00 0.2 G M\n2008/01/02 01:00 0.2\n",
     "line 3: no ISMN quality flag"),
    ("NET NET S 31.1 -110.1 1200.0 0.0 0.05 5TM\n2008/01/02 00:00 0.2 G M\n2008/31/02 01:00 0.2 G M\n",
     "date or time is not yyyy/mm/dd HH:MM"),
    ("NET NET S 31.1 -110.1 1200.0 0.0 0.05 5TM\n2012/01/02 00:00 0.2 G M\n",
     "no observation falls in the region's days 2008-01-01..2008-01-10"),
])
def test_damaged_files_name_the_file(tmp_path, text, needle):
    folder = tmp_path / "NET" / "S"
    folder.mkdir(parents=True)
    p = folder / "NET_NET_S_sm_0.000000_0.050000_5TM_20080102_20080102.stm"
    p.write_text(text)
    with pytest.raises(ObservationError) as err:
        _read(p, format="ismn")
    assert str(p) in str(err.value) and needle in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_unusable_inputs_and_options(tmp_path, archive):
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "readme.txt").write_text("x\n")
    with pytest.raises(ObservationError, match=r"nothing: no ISMN data files \(\*\.stm\) found"):
        _read(empty, format="ismn")
    ts = sorted((archive / "NET1" / "StationA").glob("*_ts_*.stm"))[0]
    with pytest.raises(ObservationError,
                       match=r"_ts_.*: no soil moisture file \(variable 'sm'\); found variable\(s\) ts"):
        _read(ts, format="ismn")
    bad_name = tmp_path / "station.stm"
    bad_name.write_text("NET NET S 31.1 -110.1 1200.0 0.0 0.05 5TM\n2008/01/02 00:00 0.2 G M\n")
    with pytest.raises(ObservationError, match=r"station\.stm: the file name does not follow the ISMN naming"):
        _read(bad_name, format="ismn")
    with pytest.raises(ObservationError, match=r"flags 'G,good': GOOD is not an ISMN soil-moisture quality flag"):
        _read(archive, format="ismn", flags="G,good")
    with pytest.raises(ObservationError, match="M marks a missing value"):
        accepted_flags("G,M")
    assert accepted_flags(None) == {"G"} and accepted_flags(" g , c03 ") == {"G", "C03"}
    with pytest.raises(ObservationError, match=r"ISMN files hold soil moisture \(obs_sm\)"):
        _read(archive, format="ismn", variables=("obs_et",))


def test_missing_ismn_package_is_named(archive, monkeypatch):
    monkeypatch.setitem(sys.modules, "ismn", None)
    with pytest.raises(ObservationError, match=r"needs the 'ismn' package.*pip install 'vic-paraformer\[ismn\]'"):
        _read(archive, format="ismn")
