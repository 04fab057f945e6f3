"""Station networks: met CSVs to a Region with QC, gap filling, estimates and observations
(:mod:`vic_paraformer.stations`), and the ``stations`` command."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from vic_paraformer.cli.main import main
from vic_paraformer.errors import StationError
from vic_paraformer.region import Region
from vic_paraformer.stations import build_station_region
from vic_paraformer.stations.estimate import longwave_brutsaert, standard_pressure

DAYS = pd.date_range("2016-05-01", periods=60, freq="D")
IDS = ["A", "B", "C", "D"]


def write_network(folder, *, stuck=None, hot=None, subdaily=None, drop_table=None, offset=-6.0):
    """Four stations 10-20 km apart, 60 daily rows each (``subdaily``: that station 3-hourly with
    offsets); ``stuck`` gets shortwave 0 on days 10-19, ``hot`` an air temperature of 95 degC on day 5."""
    rng = np.random.default_rng(1)
    met = folder / "met"
    met.mkdir(parents=True)
    lat = np.array([40.0, 40.1, 40.0, 40.15])
    lon = np.array([-100.0, -100.0, -100.15, -100.1])
    doy = np.arange(len(DAYS))
    for i, sid in enumerate(IDS):
        cols = {"prec": np.round(rng.gamma(0.4, 5.0, len(DAYS)) * (rng.random(len(DAYS)) < 0.3), 2),
                "air_temp": np.round(15 + 5 * np.sin(doy / 9.0) + rng.normal(0, 1, len(DAYS)) + i, 2),
                "swdown": np.round(250 + rng.normal(0, 30, len(DAYS)), 1),
                "rh": np.round(np.clip(60 + rng.normal(0, 10, len(DAYS)), 5, 100), 1),
                "wind": np.round(3 + rng.gamma(2.0, 0.5, len(DAYS)), 2)}
        if sid == stuck:
            cols["swdown"][10:20] = 0.0
        if sid == hot:
            cols["air_temp"][5] = 95.0
        if sid == subdaily:
            stamps = [(d + pd.Timedelta(hours=3 * k)).strftime("%Y-%m-%dT%H:%M:%S") + "-06:00"
                      for d in DAYS for k in range(8)]
            frame = {"time": stamps, **{k: np.repeat(v / 8 if k == "prec" else v, 8) for k, v in cols.items()}}
            pd.DataFrame(frame).to_csv(met / f"{sid}.csv", index=False)
        else:
            pd.DataFrame({"time": [str(d.date()) for d in DAYS], **cols}).to_csv(met / f"{sid}.csv", index=False)
    rows = [(s, lat[i], lon[i], 500 + 100 * i, offset, 0.3 + 0.1 * i) for i, s in enumerate(IDS) if s != drop_table]
    pd.DataFrame(rows, columns=["id", "lat", "lon", "elevation", "utc_offset", "sand"]).to_csv(
        folder / "stations.csv", index=False)
    pd.DataFrame({"id": IDS, "porosity": [0.45, 0.42, 0.48, 0.44]}).to_csv(folder / "soil.csv", index=False)
    obs = [(s, str(d.date()), 0.2 + 0.01 * i) for i, s in enumerate(IDS) for d in DAYS[::3]]
    pd.DataFrame(obs, columns=["site", "time", "obs_sm"]).to_csv(folder / "obs.csv", index=False)
    return folder


def test_region_from_network_has_stations_local_days_attributes_and_observations(tmp_path):
    net = write_network(tmp_path)
    build = build_station_region(net / "met", stations=net / "stations.csv", soil=net / "soil.csv",
                                 obs=net / "obs.csv")
    ds = build.region.ds
    assert list(ds["station"].values) == IDS and ds.attrs["time_convention"] == "local"
    assert np.allclose(ds["utc_offset"].values, -6.0)
    assert {"elevation", "sand", "porosity", "mean_annual_prec", "mean_temp", "aridity"} <= set(build.region.attribute_names)
    assert np.allclose(build.region.attribute("porosity"), [0.45, 0.42, 0.48, 0.44])
    # observations matched by station name, on the days they name
    sm = build.region.observations("obs_sm")
    assert np.allclose(sm[2, ::3], 0.22) and np.isnan(sm[2, 1])
    # pressure and longwave estimated (attributes say so), from the documented formulas
    assert ds["pressure"].attrs["estimated"] == "standard_atmosphere"
    assert np.allclose(ds["pressure"].values[3], standard_pressure(800.0), atol=1e-3)
    assert ds["lwdown"].attrs["estimated"] == "brutsaert_cloud_factor"
    assert ds["lwdown"].attrs["estimated_stations"] == "A,B,C,D"
    assert set(build.report()["section"]) == {"estimated"}  # nothing flagged, no gap


def test_longwave_rises_with_cloud_and_humidity():
    ra = np.array([[400.0, 400.0]])
    clear = longwave_brutsaert([[20.0, 20.0]], [[1.0, 2.0]], [[300.0, 300.0]], ra, [0.0])
    cloudy = longwave_brutsaert([[20.0]], [[1.0]], [[60.0]], ra[:, :1], [0.0])
    assert clear[0, 1] > clear[0, 0] and cloudy[0, 0] > clear[0, 0]
    assert 280 < clear[0, 0] < 380 and cloudy[0, 0] == pytest.approx(5.670374419e-8 * 293.15 ** 4, rel=0.1)


def test_stuck_shortwave_and_impossible_temperature_become_reported_gaps(tmp_path, caplog):
    net = write_network(tmp_path, stuck="B", hot="C")
    build = build_station_region(net / "met", stations=net / "stations.csv")
    qc = build.qc.set_index(["station", "variable"])
    stuck = qc.loc[("B", "swdown")]
    assert stuck["rule"] == "stuck_shortwave" and stuck["n_values"] == 10
    assert stuck["first_day"] == "2016-05-11" and stuck["last_day"] == "2016-05-20"
    assert qc.loc[("C", "air_temp")]["rule"] == "range"
    sw = build.region.ds["swdown"].values[1, 10:20]
    assert (sw > 150).all(), "the stuck days are filled from the neighbours"
    assert build.region.ds["air_temp"].values[2, 5] < 40
    fills = build.fills.set_index(["station", "variable", "method"])["n_days"]
    assert fills[("B", "swdown", "neighbours")] == 10 and fills[("C", "air_temp", "interpolated")] == 1
    assert any("station B, swdown: stuck_shortwave" in r.getMessage() for r in caplog.records)
    assert "B swdown stuck_shortwave 2016-05-11..2016-05-20" in build.summary()


def test_subdaily_timestamps_with_offsets_land_on_the_same_local_days(tmp_path):
    daily = build_station_region(write_network(tmp_path / "d") / "met", stations=tmp_path / "d" / "stations.csv")
    sub = build_station_region(write_network(tmp_path / "s", subdaily="D") / "met",
                               stations=tmp_path / "s" / "stations.csv")
    for var in ("prec", "air_temp", "swdown", "wind", "vp"):
        np.testing.assert_allclose(sub.region.ds[var].values[3], daily.region.ds[var].values[3], rtol=1e-4, atol=1e-3)


def test_station_missing_from_the_table_and_soil_rows_are_errors_naming_them(tmp_path):
    net = write_network(tmp_path, drop_table="C")
    with pytest.raises(StationError, match=r"C.csv: station C is not in the stations table"):
        build_station_region(net / "met", stations=net / "stations.csv")
    net2 = write_network(tmp_path / "two")
    pd.DataFrame({"id": IDS[:3], "porosity": [0.4, 0.4, 0.4]}).to_csv(net2 / "soil.csv", index=False)
    with pytest.raises(StationError, match=r"soil.csv: station D has no row"):
        build_station_region(net2 / "met", stations=net2 / "stations.csv", soil=net2 / "soil.csv")


def test_stations_command_writes_region_and_report_and_leaves_inputs(tmp_path, capsys):
    net = write_network(tmp_path, stuck="A")
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in net.rglob("*.csv")}
    out = tmp_path / "out" / "region.nc"
    rc = main(["stations", "--met", str(net / "met"), "--stations", str(net / "stations.csv"), "--obs",
               str(net / "obs.csv"), "--obs-format", "csv", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "A swdown stuck_shortwave" in text and "estimated lwdown at 4 station(s)" in text
    region = Region.open(out)
    assert region.ds.attrs["time_convention"] == "local" and list(region.ds["station"].values) == IDS
    report = pd.read_csv(tmp_path / "out" / "region.qc.csv")
    assert {"qc", "gap_fill", "estimated"} <= set(report["section"])
    assert "stuck_shortwave" in (tmp_path / "out" / "region.qc.txt").read_text()
    assert digest == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in digest}
