"""Training/test periods and training cells from the command line (``--train-period``, ``--train-cells``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import vic_paraformer as vp
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.cli.main import main
from vic_paraformer.config import ConfigError, load_config
from vic_paraformer.selection import SelectionError, parse_train_cells, resolve_periods

D = pd.Timestamp


def test_periods_complete_each_other_and_must_not_overlap(synthetic_tiny):
    region = synthetic_tiny  # 2015-04-01 .. 2017-03-30
    last = region.times[-1]
    tr, te = resolve_periods(region, test=["2016-04-01", "2017-12-31"])
    assert tr == (D("2015-04-01"), D("2016-03-31")) and te == (D("2016-04-01"), last)
    tr, te = resolve_periods(region, train=["2015-04-01", "2016-03-31"])
    assert te == (D("2016-04-01"), last)
    assert resolve_periods(region) == (None, None)
    assert resolve_periods(region, train=["2015-01-01", "2017-12-31"]) == ((D("2015-04-01"), last), None)
    with pytest.raises(SelectionError, match="overlap"):
        resolve_periods(region, train=["2015-04-01", "2016-06-30"], test=["2016-04-01", "2017-03-31"])
    with pytest.raises(SelectionError, match="no days before it"):
        resolve_periods(region, test=["2015-04-01", "2015-12-31"])
    with pytest.raises(SelectionError, match="outside the region"):
        resolve_periods(region, test=["2019-01-01", "2019-12-31"])
    with pytest.raises(SelectionError, match="not a date"):
        resolve_periods(region, test=["soon", "later"])
    with pytest.raises(SelectionError, match="starts 2016-01-01 after it ends 2015-12-31"):
        resolve_periods(region, train=["2016-01-01", "2015-12-31"])


def test_train_cells_from_das_a_list_or_a_file(synthetic_tiny, tmp_path):
    region = synthetic_tiny
    np.testing.assert_array_equal(parse_train_cells("das:2", region), region.spatial_split(2).train)
    np.testing.assert_array_equal(parse_train_cells("DAS:4", region), region.spatial_split(4).train)
    np.testing.assert_array_equal(parse_train_cells("5, 1,3", region), [1, 3, 5])
    f = tmp_path / "cells.txt"
    f.write_text("# training cells\n2\n7 9,11\n")
    np.testing.assert_array_equal(parse_train_cells(str(f), region), [2, 7, 9, 11])
    with pytest.raises(SelectionError, match=r"cell id\(s\) \[99\] not in the region"):
        parse_train_cells("1,99", region)
    with pytest.raises(SelectionError, match="expected das:K"):
        parse_train_cells("das4", region)
    with pytest.raises(SelectionError, match="no such file"):
        parse_train_cells(str(tmp_path / "missing.txt"), region)
    f.write_text("1\nx\n")
    with pytest.raises(SelectionError, match="'x' is not an integer cell id"):
        parse_train_cells(str(f), region)


def test_config_file_takes_periods_and_cells(tmp_path):
    (tmp_path / "cells.txt").write_text("1 2\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("strategy: sceua\ntrain_period: [2015-04-01, 2015-12-31]\ntrain_cells: cells.txt\n")
    data = load_config(cfg)
    assert data["train_period"] == ["2015-04-01", "2015-12-31"] and data["train_cells"] == str(tmp_path / "cells.txt")
    cfg.write_text("train_cells: [3, 4]\n")
    assert load_config(cfg)["train_cells"] == "3,4"
    cfg.write_text("test_period: 2016-01-01\n")
    with pytest.raises(ConfigError, match="two dates"):
        load_config(cfg)


def test_calibrate_learns_only_the_training_split_and_evaluate_scores_the_test_period(synthetic_tiny, tmp_path,
                                                                                     capsys):
    region_file = synthetic_tiny.save(tmp_path / "region.nc")
    out = tmp_path / "r.nc"
    argv = ["calibrate", "--region", region_file, "--strategy", "sceua", "--train-cells", "das:2",
            "--test-period", "2016-10-01", "2017-03-31", "--seed", "0", "--out", out,
            "-o", "simulator=waterbalance", "-o", "repetitions=8", "-o", "ngs=2", "-o", "warmup=30",
            "-o", "n_workers=1"]
    assert main([str(a) for a in argv]) == 0
    res = CalibrationResult.open(out)
    split = synthetic_tiny.spatial_split(2)
    np.testing.assert_array_equal(np.sort(res.train_cells), np.sort(split.train))
    assert len(res.cells) == synthetic_tiny.n_cells
    assert res.info["train_period"] == ["2015-04-01", "2016-09-30"]
    assert res.info["test_period"] == ["2016-10-01", "2017-03-30"] and res.info["train_cells_spec"] == "das:2"
    # same parameters as the API on the same split
    cal = synthetic_tiny.sel_time("2015-04-01", "2016-09-30").with_training_cells(split.train)
    api = vp.calibrate(cal, strategy="sceua", seed=0, simulator="waterbalance", repetitions=8, ngs=2, warmup=30,
                       n_workers=1)
    np.testing.assert_array_equal(res.values(), api.values())
    capsys.readouterr()

    metrics = tmp_path / "m.json"
    assert main(["evaluate", "--region", str(region_file), "--result", str(out), "--out", str(metrics)]) == 0
    printed = capsys.readouterr()
    data = json.loads(metrics.read_text())
    assert data["period"] == ["2016-10-01", "2017-03-30"]
    assert len(data["groups"]["train"]) == len(split.train) == 4
    assert len(data["groups"]["untrained"]) == synthetic_tiny.n_cells - 4
    assert data["variables"]["sm"]["untrained"]["summary"]["nse"]["n"] == 12
    assert "untrained" in printed.out
    # an explicit --test-period wins over the recorded one
    assert main(["evaluate", "--region", str(region_file), "--result", str(out), "--test-period", "2017-01-01",
                 "2017-03-30", "--out", str(metrics)]) == 0
    assert json.loads(metrics.read_text())["period"] == ["2017-01-01", "2017-03-30"]


def test_bad_split_is_one_line_and_writes_nothing(synthetic_tiny, tmp_path, capsys):
    region_file = synthetic_tiny.save(tmp_path / "region.nc")
    out = tmp_path / "r.nc"
    # cells the region lacks: bad data (1); overlapping periods, an option the strategy lacks: usage errors (2)
    for extra, msg, code in ((["--train-cells", "1,500"], "not in the region", 1),
                             (["--train-period", "2015-04-01", "2016-06-30", "--test-period", "2016-01-01",
                               "2016-12-31"], "overlap", 2),
                             (["--threads", "2"], "has no torch threads option", 2)):
        assert main(["calibrate", "--region", str(region_file), "--strategy", "sceua", "--out", str(out),
                     "-o", "simulator=waterbalance", *extra]) == code
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and msg in err, err
        assert not out.exists()


def test_surrogate_train_uses_only_the_training_days_and_cells(synthetic_tiny, tmp_path, monkeypatch):
    seen = {}

    def fake_train(region, simulator, **kw):
        seen["region"] = region
        raise KeyboardInterrupt  # stop before any work

    monkeypatch.setattr("vic_paraformer.surrogate.train_surrogate", fake_train)
    region_file = synthetic_tiny.save(tmp_path / "region.nc")
    assert main(["surrogate", "train", "--region", str(region_file), "--train-cells", "0,1,2",
                 "--test-period", "2016-10-01", "2017-03-31", "--out", str(tmp_path / "s.pt")]) == 130
    r = seen["region"]
    assert r.n_cells == 3 and str(r.times[-1].date()) == "2016-09-30" and str(r.times[0].date()) == "2015-04-01"


def test_das_on_a_point_set_takes_the_point_split():
    # a station network (no row/col): das:K is the point-set DAS split with seed 0, same points every time
    from test_spatial_split import point_region

    region = point_region(n=200)
    assert not region.has_grid
    cells = parse_train_cells("das:4", region)
    np.testing.assert_array_equal(cells, region.spatial_split(4, seed=0).train)
    assert len(cells) == round(200 / 16)
    np.testing.assert_array_equal(parse_train_cells("das:4", region), cells)
    one = point_region(lat=[35.0], lon=[-98.0])
    with pytest.raises(SelectionError, match=r"--train-cells das:2: .*at least 2 points"):
        parse_train_cells("das:2", one)


def _held_out_distance(region, train) -> float:
    """Mean great-circle distance (km) from each held-out point to its nearest training point."""
    from vic_paraformer.readers.sites import great_circle_km

    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    tr = np.isin(region.cells, train)
    d = great_circle_km(lat[~tr][:, None], lon[~tr][:, None], lat[tr][None, :], lon[tr][None, :])
    return float(d.min(axis=1).mean())


def test_fraction_takes_half_rounded_up_spread_and_seeded():
    from test_spatial_split import point_region

    region = point_region(n=61)
    cells = parse_train_cells("fraction:0.5", region)
    assert len(cells) == 31 and len(np.unique(cells)) == 31  # floor(0.5 * 61 + 0.5)
    np.testing.assert_array_equal(parse_train_cells("fraction:0.5", region, seed=0), cells)
    assert not np.array_equal(parse_train_cells("fraction:0.5", region, seed=1), cells)
    assert len(parse_train_cells("fraction:0.1", region)) == 6 and len(parse_train_cells("fraction:1", region)) == 61
    spread = _held_out_distance(region, cells)
    rng = np.random.default_rng(0)
    random = np.mean([_held_out_distance(region, rng.choice(region.cells, 31, replace=False)) for _ in range(20)])
    assert spread < 0.8 * random, (spread, random)


def test_farthest_takes_n_spread_points():
    from test_spatial_split import point_region

    region = point_region(n=80)
    cells = parse_train_cells("farthest:8", region, seed=3)
    assert len(cells) == 8
    np.testing.assert_array_equal(parse_train_cells("farthest:8", region, seed=3), cells)
    from vic_paraformer.readers.sites import great_circle_km

    lat, lon = region.ds["lat"].values, region.ds["lon"].values

    def separation(ids):  # the smallest distance between two chosen points (km)
        i = np.isin(region.cells, ids)
        d = great_circle_km(lat[i][:, None], lon[i][:, None], lat[i][None, :], lon[i][None, :])
        return float(d[~np.eye(len(d), dtype=bool)].min())

    rng = np.random.default_rng(0)
    random = [separation(rng.choice(region.cells, 8, replace=False)) for _ in range(20)]
    assert separation(cells) > max(random), (separation(cells), max(random))


def test_fraction_and_farthest_specs_out_of_range_are_errors(caplog):
    from test_spatial_split import point_region

    region = point_region(n=20)
    for spec in ("fraction:1.5", "fraction:0", "fraction:x", "farthest:0", "farthest:21"):
        with pytest.raises(SelectionError, match=f"--train-cells {spec}"):
            parse_train_cells(spec, region)
    with caplog.at_level("WARNING"):
        parse_train_cells("das:3", region)
    assert any("keeps 2 of 20 stations" in r.getMessage() for r in caplog.records)
