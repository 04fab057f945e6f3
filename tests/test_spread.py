"""vic_paraformer.spread and ``evaluate --ensemble``: SM and ET across a result's parameter ensemble."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer import metrics
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.errors import ParameterError
from vic_paraformer.spread import ensemble_sets, evaluate_ensemble, format_spread, per_cell_table, plot_cells
from vic_paraformer.uncertainty import ParameterUncertainty

PERIOD = ("2015-04-01", "2015-06-29")


@pytest.fixture(scope="module")
def region():
    return vp.synthetic_region(ny=2, nx=3, years=0.5, seed=3).with_training_cells([0, 4])


def _members(region, k: int = 3, spread: float = 0.15, seed: int = 0) -> np.ndarray:
    space = vp.ParameterSpace.preset()
    truth = space.normalize(region.parameters(space, prefix="true_"))
    rng = np.random.default_rng(seed)
    z = np.clip(truth[None] + spread * rng.standard_normal((k,) + truth.shape), 0.0, 1.0)
    return space.denormalize(z)


def _result(region, members=None, quantiles_only=False) -> CalibrationResult:
    space = vp.ParameterSpace.preset()
    point = region.parameters(space, prefix="true_")
    unc = None
    if members is not None:
        unc = ParameterUncertainty.from_members(members, "deep ensemble", keep_members=not quantiles_only)
    return CalibrationResult(params=space.to_dataset(point, region.cells), strategy="test", parameter_space=space,
                             seed=0, n_evaluations=1, train_cells=np.array([0, 4]), uncertainty=unc)


def test_ensemble_sets_members_quantiles_and_none(region):
    members = _members(region, k=3)
    labels, sets, kind = ensemble_sets(_result(region, members))
    assert kind == "members" and labels == ["member 0", "member 1", "member 2"]
    space = vp.ParameterSpace.preset()
    np.testing.assert_allclose(space.from_dataset(sets[2].params), space.clip(members[2]))
    labels, sets, kind = ensemble_sets(_result(region, members, quantiles_only=True))
    assert kind == "quantile sets" and labels == ["q05", "q50", "q95"]
    np.testing.assert_allclose(space.from_dataset(sets[0].params), space.clip(np.quantile(members, 0.05, axis=0)))
    with pytest.raises(ParameterError, match="res.nc: no parameter ensemble to run") as err:
        ensemble_sets(_result(region), "res.nc")
    assert "\n" not in str(err.value)


def test_spread_of_sm_and_et_and_of_the_metrics_across_members(region):
    members = _members(region, k=3)
    result = _result(region, members)
    block, band = evaluate_ensemble(region, result, "waterbalance", PERIOD)
    # every member run by hand: the band and each member's metrics are those of these runs
    sim = vp.get_simulator("waterbalance")
    space = vp.ParameterSpace.preset()
    runs = [sim.simulate(region, space.to_dataset(space.clip(m), region.cells)) for m in members]
    entry = block["periods"]["score"]
    assert block["kind"] == "members" and block["n_runs"] == 3 and entry["period"] == list(PERIOD)
    window = slice(*PERIOD)
    for var in ("sm", "et"):
        series = np.stack([r[var].sel(time=window).values for r in runs])
        lo, hi = np.quantile(series, [0.05, 0.95], axis=0)
        np.testing.assert_allclose(entry["band"][var]["width"], (hi - lo).mean(axis=1), rtol=1e-5)
        assert min(entry["band"][var]["width"]) > 0  # different members, different series
        np.testing.assert_allclose(band[f"{var}_q95"].values, np.quantile(np.stack([r[var].values for r in runs]),
                                                                          0.95, axis=0), rtol=1e-5)
        obs = region.ds[{"sm": "obs_sm", "et": "obs_et"}[var]].sel(time=window).values
        nse = np.stack([metrics.all_metrics(s, obs)["nse"] for s in series])  # (member, cell)
        got = entry["metrics"][var]["all"]["nse"]
        np.testing.assert_allclose(got["q05"], np.quantile(nse, 0.05, axis=0), rtol=1e-6)
        np.testing.assert_allclose(got["q95"], np.quantile(nse, 0.95, axis=0), rtol=1e-6)
        np.testing.assert_allclose(got["member_medians"], np.median(nse, axis=1), rtol=1e-6)
    text = format_spread(block)
    assert "3 members" in text and "sm 5-95 % band across runs" in text and "sm through H" in text
    table = per_cell_table(block, region)
    assert len(table) == region.n_cells and "et_band_width_score" in table and "sm_nse_q95_score" in table


def test_a_single_repeated_set_has_no_spread(region):
    one = _members(region, k=1)
    block, _ = evaluate_ensemble(region, _result(region, np.repeat(one, 3, axis=0)), "waterbalance", PERIOD)
    entry = block["periods"]["score"]
    assert max(entry["band"]["sm"]["width"]) == 0 and max(entry["band"]["et"]["width"]) == 0
    nse = entry["metrics"]["sm"]["all"]["nse"]
    np.testing.assert_allclose(nse["q05"], nse["q95"])


def test_plot_cells_mixes_training_and_untrained(region):
    cells = plot_cells(region, _result(region), n=4)
    assert len(cells) == 4 and {0, 4} <= set(cells.tolist())


def test_cli_evaluate_ensemble(tmp_path, region, capsys):
    from vic_paraformer.cli.main import main

    rpath, res = tmp_path / "region.nc", tmp_path / "res.nc"
    region.save(rpath)
    _result(region, _members(region, k=3)).save(res)
    out = tmp_path / "m.json"
    assert main(["evaluate", "--region", str(rpath), "--result", str(res), "--test-period", *PERIOD,
                 "--ensemble", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "parameter ensemble: 3 members" in text
    report = json.loads(out.read_text())
    assert report["ensemble"]["labels"] == ["member 0", "member 1", "member 2"]
    assert (tmp_path / "m_ensemble_band.png").stat().st_size > 1000
    # a result without an ensemble: one line, exit 1, nothing written
    plain = tmp_path / "plain.nc"
    _result(region).save(plain)
    out2 = tmp_path / "m2.json"
    assert main(["evaluate", "--region", str(rpath), "--result", str(plain), "--ensemble", "--out", str(out2)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no parameter ensemble to run" in err[0] and not out2.exists()


@pytest.mark.vic
def test_vic_verify_ensemble_runs_each_member_through_real_vic(tmp_path, capsys):
    """Three members on WalnutGulch (two months, no spin-up): one VIC run each; the band and the metric
    spread are those of the members run by hand, and the member that is the truth scores perfectly."""
    import pandas as pd
    import xarray as xr
    from test_vic_runner import REAL_VIC, SAMPLE, WALNUT, walnut_result

    from vic_paraformer.cli.main import main
    from vic_paraformer.simulators.vic import VICSimulator

    if REAL_VIC is None or not WALNUT.exists():
        pytest.skip("VIC image driver or WalnutGulch sample not found")
    end = "2008-02-29"
    truth = np.array([0.3, 0.05, 5.0, 0.6, 6.0])
    region, res = walnut_result(truth, end, strategy="ensemble")
    space = res.parameter_space
    base = np.tile(truth, (region.n_cells, 1))
    members = np.stack([base, base * [0.3, 1, 1, 1, 1.6], base * [1.5, 1, 1, 1, 0.7]])
    res.train_cells = region.cells[:3]
    res.uncertainty = ParameterUncertainty.from_members(members, "deep ensemble")
    res.save(tmp_path / "result.nc")
    sim = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs", spinup_years=0)
    runs = [sim.simulate(region, space.to_dataset(m, region.cells)) for m in members]
    sm = runs[0]["sm"].values
    rows = [{"time": str(t.date()), "lat": la, "lon": lo, "obs_sm": sm[i, j]}
            for i, (la, lo) in enumerate(zip(region.ds["lat"].values, region.ds["lon"].values))
            for j, t in enumerate(region.times)]
    pd.DataFrame(rows).to_csv(tmp_path / "obs.csv", index=False)
    out = tmp_path / "report"
    assert main(["vic", "verify", "--global", str(WALNUT), "--var", f"VIC_SAMPLE_DATA={SAMPLE}", "--end", end,
                 "--result", str(tmp_path / "result.nc"), "--obs", str(tmp_path / "obs.csv"), "--out", str(out),
                 "--exe", REAL_VIC, "--workdir", str(tmp_path / "runs"), "--spinup-years", "0", "--ensemble"]) == 0
    report = json.loads((out / "report.json").read_text())
    ens = report["ensemble"]
    assert ens["kind"] == "members" and ens["n_runs"] == 3 and len(ens["wall_time_s"]) == 3
    entry = next(iter(ens["periods"].values()))
    days = slice(*entry["period"])
    series = np.stack([r["sm"].sel(time=days).values for r in runs])
    lo, hi = np.quantile(series, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(entry["band"]["sm"]["width"], (hi - lo).mean(axis=1), rtol=1e-4, atol=1e-7)
    assert min(entry["band"]["sm"]["width"]) > 0
    rmse = entry["metrics"]["sm"]["all"]["rmse"]
    obs = series[0]  # member 0 is the truth: RMSE 0 there, the others not
    by_member = np.sqrt(np.mean((series - obs) ** 2, axis=2))  # (member, cell)
    assert by_member[0].max() < 1e-6 < by_member[1:].min()
    np.testing.assert_allclose(rmse["q05"], np.quantile(by_member, 0.05, axis=0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(rmse["q95"], np.quantile(by_member, 0.95, axis=0), rtol=1e-3, atol=1e-6)
    with xr.open_dataset(out / "ensemble_band.nc") as band:
        np.testing.assert_allclose(band["et_q50"].values, np.median(np.stack([r["et"].values for r in runs]), axis=0),
                                   rtol=1e-4, atol=1e-5)
    for name in ("ensemble_per_cell.csv", "ensemble_band.png", "params.member_2.nc"):
        assert (out / name).is_file()
    assert "parameter ensemble: 3 members" in capsys.readouterr().out
