"""Discharge observations: USGS daily values (RDB, CSV) and generic CSV, matched to outlets and
stored on a Region; ``vic import --rvic --discharge``.

The RDB fixture follows the USGS description of the tab-delimited RDB format
(https://waterdata.usgs.gov/nwis/?tab_delimited_format_info): ``#`` comments, a line of column
names, a line of field formats (width + s/d/n), then rows; daily mean discharge in
``<ts>_00060_00003`` (ft3/s) with approval/qualifier codes in ``<ts>_00060_00003_cd``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vic_paraformer.cli.main import main
from vic_paraformer.errors import ObservationError
from vic_paraformer.region import Region
from vic_paraformer.routing import linear_reservoir_kernel
from vic_paraformer.routing.discharge import CFS_TO_M3S, read_discharge
from vic_paraformer.routing.gauges import attach_discharge, match_gauges
from vic_paraformer.synthetic import synthetic_region

RDB = """# ---------------------------------- WARNING ----------------------------------------
# Some of the data that you have obtained from this U.S. Geological Survey database
# may not have received Director's approval.
#
# Data for the following 1 site(s) are contained in this file
#    USGS 12451000 STEHEKIN RIVER AT STEHEKIN, WA
# -----------------------------------------------------------------------------------
#
# TS_ID       Parameter Statistic     Description
#    134512       00060     00003     Discharge, cubic feet per second (Mean)
#
agency_cd\tsite_no\tdatetime\t134512_00060_00003\t134512_00060_00003_cd
5s\t15s\t20d\t14n\t10s
USGS\t12451000\t2015-04-01\t1000\tA
USGS\t12451000\t2015-04-02\t1100\tA:e
USGS\t12451000\t2015-04-03\tIce\tA
USGS\t12451000\t2015-04-05\t900\tP
# a second site, with its own header
agency_cd\tsite_no\tdatetime\t99_00060_00003\t99_00060_00003_cd
5s\t15s\t20d\t14n\t10s
USGS\t12345678\t2015-04-02\t35.5\tA
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_usgs_rdb(tmp_path):
    rec = read_discharge(_write(tmp_path, "dv.rdb", RDB))
    assert rec.gauge == ["12345678", "12451000"]
    assert [str(t.date()) for t in rec.time] == ["2015-04-01", "2015-04-02", "2015-04-03", "2015-04-04", "2015-04-05"]
    g = rec.gauge.index("12451000")
    np.testing.assert_allclose(rec.q[g], [1000 * CFS_TO_M3S, 1100 * CFS_TO_M3S, np.nan, np.nan, 900 * CFS_TO_M3S])
    assert rec.q[g, 0] == pytest.approx(28.316846592)  # 1000 ft3/s
    assert rec.q[1 - g, 1] == pytest.approx(35.5 * CFS_TO_M3S)
    approved = read_discharge(tmp_path / "dv.rdb", approved_only=True)
    assert np.isnan(approved.q[g, 4]) and approved.q[g, 1] > 0  # provisional dropped, estimated kept


def test_usgs_csv_and_generic_csv(tmp_path):
    api = _write(tmp_path, "api.csv", "monitoring_location_id,parameter_code,statistic_id,time,value,unit_of_measure,"
                                      "approval_status\nUSGS-12451000,00060,00003,2015-04-01,100,ft^3/s,Approved\n"
                                      "USGS-12451000,00060,00003,2015-04-02,200,ft^3/s,Provisional\n"
                                      "USGS-12451000,00065,00003,2015-04-02,5,ft,Approved\n")
    rec = read_discharge(api)
    assert rec.gauge == ["12451000"]
    np.testing.assert_allclose(rec.q[0], [100 * CFS_TO_M3S, 200 * CFS_TO_M3S])
    gen = _write(tmp_path, "q.csv", "time,gauge,q,lat,lon\n2015-04-01,A,1.5,45.01,-120.0\n2015-04-02,A,2.5,45.01,-120.0\n")
    rec = read_discharge(gen)
    assert rec.gauge == ["A"] and rec.q.tolist() == [[1.5, 2.5]] and rec.lat[0] == 45.01
    with pytest.raises(ObservationError, match=r"bad\.csv: discharge CSV lacks column\(s\) q"):
        read_discharge(_write(tmp_path, "bad.csv", "time,gauge,flow\n2015-04-01,A,1\n"), format="csv")
    with pytest.raises(ObservationError, match=r"dv2\.rdb: no daily mean discharge column"):
        read_discharge(_write(tmp_path, "dv2.rdb", RDB.replace("00060_00003", "00065_00003")), format="usgs-rdb")


def test_gauges_matched_and_stored_on_the_region(tmp_path):
    region = synthetic_region(3, 3, years=0.1, start="2015-04-01")
    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    k = linear_reservoir_kernel(region, [("12451000", lat[0], lon[0])], k_days=1.0, max_days=5)
    rec = read_discharge(_write(tmp_path, "dv.rdb", RDB.split("# a second site")[0]))
    assert match_gauges(rec, k).tolist() == [0]  # by id
    near = _write(tmp_path, "q.csv", f"time,gauge,q,lat,lon\n2015-04-03,X,4,{lat[0] + 0.02},{lon[0]}\n")
    r2 = attach_discharge(region, read_discharge(near), k)
    assert r2.ds["obs_q"].dims == ("gauge", "time") and r2.ds["gauge_outlet"].values.tolist() == [0]
    assert float(r2.ds["obs_q"].sel(time="2015-04-03")[0]) == 4.0 and int(np.isfinite(r2.ds["obs_q"]).sum()) == 1
    saved = Region.open(r2.save(tmp_path / "r.nc"))
    assert saved.ds["gauge"].values.tolist() == ["X"] and saved.ds.attrs["routing_kind"] == "linear-reservoir"
    far = _write(tmp_path, "far.csv", f"time,gauge,q,lat,lon\n2015-04-03,Y,4,{lat[0] + 1},{lon[0]}\n")
    with pytest.raises(ObservationError, match=r"far\.csv: gauge 'Y' at .* is 1\.000 deg from the nearest outlet "
                                               r"'12451000'; expected within 0\.1 deg"):
        attach_discharge(region, read_discharge(far), k)
    late = _write(tmp_path, "late.csv", "time,gauge,q\n2030-01-01,12451000,4\n")
    with pytest.raises(ObservationError, match=r"late\.csv: no discharge on the Region's days"):
        attach_discharge(region, read_discharge(late), k)


STEHEKIN = Path("/work/shared/vic-sample-data/image/Stehekin/parameters")


@pytest.mark.skipif(not STEHEKIN.is_dir(), reason="VIC Stehekin sample data absent")
def test_vic_import_with_rvic_and_discharge(tmp_path, capsys):
    q = _write(tmp_path, "q.csv", "time,gauge,q,lat,lon\n1949-01-02,up,3.0,48.44,-120.81\n"
                                  "1949-01-03,outlet_48.1875_-120.6875,2.0,,\n")
    out = tmp_path / "region.nc"
    argv = ["vic", "import", "--global", str(STEHEKIN / "Stehekin_image_test.global.txt"), "--var",
            f"VIC_SAMPLE_DATA={STEHEKIN.parents[2]}", "--out", str(out), "--rvic",
            str(STEHEKIN / "stehekin_parameters_01.rvic.prm.Stehekin.20150727.nc"), "--discharge", str(q)]
    assert main(argv) == 0
    r = Region.open(out)
    assert r.ds["gauge_outlet"].values.tolist() == [1, 0]  # 'outlet_48.1875...' by name, 'up' by position
    assert r.ds["cell_area"].values.min() > 1.2e8 and r.ds.attrs["routing_file"].endswith(".nc")
    assert np.nansum(r.ds["obs_q"].values) == 5.0
    capsys.readouterr()
    assert main(["vic", "import", "--global", "g.txt", "--out", str(tmp_path / "x.nc"), "--discharge", str(q)]) == 2
    assert "--discharge needs --rvic" in capsys.readouterr().err
