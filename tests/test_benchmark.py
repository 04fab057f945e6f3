"""A reduced run of the paper's protocol: the files and the table's structure, not its numbers."""

import json

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer.benchmark import BenchmarkConfig, periods, run_benchmark
from vic_paraformer.benchmark.recovery import recovery_error, roughness
from vic_paraformer.benchmark.report import markdown_table


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    config = BenchmarkConfig.quick(
        ny=8, nx=8, splits=(2, 4), neighbour_split=4, strategies=["sceua", "paraformer_a"], seeds=[0, 1],
        surrogate_options={"preset": "test"},
        strategy_options={"sceua": {"repetitions": 40, "n_workers": 1},
                          "paraformer_a": {"epochs": 2, "batches_per_epoch": 3, "threads": 1, "progress": False,
                                           "preset": "small"}})
    results = run_benchmark(config, out, command="pytest reduced benchmark")
    return out, results


def test_writes_every_file(reduced):
    out, results = reduced
    for name in ("results.json", "table.md", "report.md", "config.json", "surrogate.pt", "region.nc"):
        assert (out / name).is_file(), name
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"cdf_nse_DAS-S2.png", "cdf_pcc_DAS-S4NG.png", "scatter_sm_DAS-S4.png", "maps_S2.png",
            "loss_S4.png", "series_sm_S4.png"} <= figs
    assert len(list((out / "results").glob("*.nc"))) == 2 * 2 * 2  # strategies x splits x seeds
    report = (out / "report.md").read_text()
    assert "pytest reduced benchmark" in report and "Seeds: [0, 1]" in report
    for fig in results["figures"]:
        assert f"]({fig})" in report and (out / fig).is_file()
        assert f"![" in report.split(f"]({fig})")[0].rsplit("\n", 1)[-1]   # embedded, not linked


def test_results_json_layout(reduced):
    out, _ = reduced
    res = json.loads((out / "results.json").read_text())
    assert set(res["table"]) == {"sm", "sm_op", "et"}
    assert set(res["table"]["sm"]) == {"DAS-S2", "DAS-S4", "DAS-S4NG"}
    row = res["table"]["sm"]["DAS-S4NG"]["sceua"]
    assert row["nse"]["n"] == 2  # two seeds
    assert row["worst"]["mean"] <= row["nse"]["mean"]
    assert set(res["table"]["sm"]["DAS-S4"]) == {"sceua", "paraformer_a", "oracle", "default"}
    assert set(row) == {"rmse", "pcc", "nse", "worst", "n_cells"}
    assert set(res["cost"]) == {"sceua|S2", "sceua|S4", "paraformer_a|S2", "paraformer_a|S4"}
    assert res["cost"]["sceua|S4"]["n_evaluations"]["mean"] > 0
    assert res["cost"]["sceua|S4"]["cpu_seconds"]["mean"] > 0
    assert set(res["recovery"]["sceua|S4"]["correlation"]) == set(vp.PARAMETER_NAMES)
    assert "default|all" in res["recovery"]
    assert set(res["identifiability"]["by_parameter"]) == set(vp.PARAMETER_NAMES)
    wb = res["water_balance"]
    assert {"oracle|all", "default|all", "sceua|S4"} <= set(wb)
    assert abs(wb["oracle|all"]["et_bias"]["mean"]) < 1e-9 and wb["sceua|S4"]["et_mae"]["mean"] >= 0
    assert set(res["recovery"]["sceua|S4"]["error"]) == set(vp.PARAMETER_NAMES)
    assert "truth|S4" in res["recovery"]
    # SCE-UA's intervals, split by the benchmark's own identifiability flags (its results record none)
    rec = res["recovery"]["sceua|S4"]
    assert {"coverage_identifiable", "coverage_not_identifiable"} <= set(rec)
    assert "expt" in rec["coverage_identifiable"]
    assert {"coverage_trained", "width_untrained"} <= set(rec)  # and by cell: training cells, untrained ones


def test_table_has_paper_layout(reduced):
    out, _ = reduced
    table = (out / "table.md").read_text()
    assert "### Soil moisture (calibrated variable)" in table and "### ET (uncalibrated variable)" in table
    header = next(line for line in table.splitlines() if line.startswith("| strategy | DAS-S2 RMSE (m3 m-3)"))
    assert header.count("|") == 1 + 1 + 4 * 3  # strategy + (3 metrics + worst NSE) x 3 datasets
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert {"sceua", "paraformer_a", "oracle", "default", "truth", "truth (oracle)"} <= set(rows)
    assert "own linear observation operator" in table and "Water balance" in table and "CPU time (s)" in table
    assert "| default + H |" in table and "### Verdicts" in table
    assert "| default |" in table
    assert "±" in table  # spread over the two seeds


def test_report_has_glossary_interpretation_and_recovery_correlation(reduced):
    """The report (the demo writes the same one) explains every abbreviation and shows r per parameter."""
    out, results = reduced
    report = (out / "report.md").read_text()
    assert "## Glossary" in report and "## Interpretation" in report
    for term in ("DAS-Sk", "DAS-SkNG", "oracle", "default", "RBL", "NSE", "PCC", "RMSE", "ET", "SM"):
        assert f"- **{term}**:" in report, term
    assert "### Parameter recovery" in report
    header = next(line for line in report.splitlines() if line.startswith("| strategy | training set | infilt error"))
    for p in vp.PARAMETER_NAMES:
        assert f"{p} r" in header
    assert "Seeds: [0, 1] (2 seeds" in report and "mean ± s.d. over 2 seeds" in report
    assert "x axis is cut at NSE" in report


def test_negative_recovery_correlation_is_flagged():
    from vic_paraformer.benchmark.report import interpretation, recovery_warnings

    m = lambda v: {"mean": v, "sd": 0.0, "n": 1}  # noqa: E731
    res = {"recovery": {"paraformer_z|S4": {"error": {"infilt": m(0.44), "Ds": m(0.1)},
                                            "correlation": {"infilt": m(-0.93), "Ds": m(0.5)}}}}
    warns = recovery_warnings(res)
    assert len(warns) == 1 and "infilt map" in warns[0] and "r = -0.93" in warns[0] and "Ds map" not in warns[0]
    assert "anti-correlated" in interpretation(res)


def test_water_balance_hand_values():
    from vic_paraformer.benchmark.diagnostics import water_balance_summary

    s = water_balance_summary({"et": np.array([500.0, 700.0])}, {"et": np.array([600.0, 600.0])})
    assert s == {"et_mean": 600.0, "et_bias": 0.0, "et_mae": 100.0}


def test_oracle_row_uses_the_true_forcing(reduced):
    from vic_paraformer.synthetic import true_forcing_region

    out, results = reduced
    region = vp.Region.open(out / "region.nc")
    assert region.ds.attrs["difficulty"] == "realistic" and region.has("true_prec")
    _, test = periods(region, 2)
    space = vp.ParameterSpace.preset("vic")
    truth = space.to_dataset(region.parameters(space, prefix="true_"), region.cells)
    sim = vp.get_simulator("waterbalance")
    et_true = float(sim.simulate(true_forcing_region(region), truth, period=test)["et"].sum("time").mean())
    et_seen = float(sim.simulate(region, truth, period=test)["et"].sum("time").mean())
    oracle = results["water_balance"]["oracle|all"]["et_mean"]["mean"]
    assert abs(oracle - et_true) < 1e-6 * et_true and abs(et_true - et_seen) > 1.0
    # the oracle is the ceiling: above every calibrated row on SM NSE
    for dname, rows in results["table"]["sm"].items():
        assert all(rows["oracle"]["nse"]["mean"] > m["nse"]["mean"] for s, m in rows.items() if s != "oracle"), dname


def test_periods_need_three_years():
    region = vp.synthetic_region(ny=2, nx=2, years=2, seed=0)
    with pytest.raises(vp.VicParaformerError, match="needs 3 years"):
        periods(region, train_years=2)


def test_recovery_and_roughness_hand_values():
    space = vp.ParameterSpace.preset("vic")
    lo, hi = np.array(space.lower), np.array(space.upper)
    truth = np.tile(lo, (4, 1))
    values = truth + 0.5 * (hi - lo)
    assert all(abs(v - 0.5) < 1e-12 for v in recovery_error(values, truth, space).values())
    row, col = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    checker = truth.copy()
    checker[[1, 2]] = hi  # a checkerboard: every neighbour pair differs by the full range
    assert all(abs(v - 1.0) < 1e-12 for v in roughness(checker, row, col, space).values())
    assert all(v == 0 for v in roughness(truth, row, col, space).values())


def test_markdown_table_marks_missing_values():
    res = {"table": {"sm": {"DAS-S4": {"a": {"rmse": {"mean": 0.1, "sd": 0.0, "n": 1},
                                              "pcc": {"mean": float("nan"), "sd": float("nan"), "n": 0},
                                              "nse": {"mean": 0.5, "sd": 0.1, "n": 2}}}}}}
    table = markdown_table(res)
    assert "| a | 0.100 | – | 0.500 ± 0.100 | – |" in table


def test_rerun_of_the_same_configuration_resumes(reduced):
    """An interrupted benchmark continues: same config -> surrogate and finished calibrations reused."""
    out, results = reduced
    config = BenchmarkConfig(**{k: v for k, v in json.loads((out / "config.json").read_text()).items()})
    config.splits = tuple(config.splits)
    messages = []
    again = run_benchmark(config, out, command="pytest reduced benchmark", progress=messages.append)
    assert any(m.startswith("resuming") for m in messages)
    assert not any("calibrating with" in m for m in messages)
    assert json.dumps(again["table"], sort_keys=True) == json.dumps(results["table"], sort_keys=True)  # NaN-safe
    # fewer seeds (or strategies) reuse the stored calibrations too
    config.seeds = [1]
    messages.clear()
    fewer = run_benchmark(config, out, command="pytest reduced benchmark", progress=messages.append)
    assert any(m.startswith("resuming") for m in messages) and not any("calibrating with" in m for m in messages)
    assert fewer["table"]["sm"]["DAS-S4NG"]["sceua"]["nse"]["n"] == 1
    # an interrupted run: report only from what finished
    (out / "results" / "sceua_S2_seed1.nc").unlink()
    messages.clear()
    partial = run_benchmark(config, out, command="pytest", progress=messages.append, report_only=True)
    assert not any("calibrating with" in m for m in messages)
    assert partial["missing_calibrations"] == ["sceua_S2_seed1.nc"]
    assert "### Missing calibrations" in (out / "report.md").read_text()
    with pytest.raises(vp.VicParaformerError, match="report_only"):
        run_benchmark(config, out / "elsewhere", report_only=True)


def test_separation_hand_values():
    """Spread of the seed means against the largest and the pooled (RMS) seed-to-seed s.d."""
    from vic_paraformer.benchmark.report import separation

    def cell(values):
        v = np.asarray(values, float)
        return {"nse": {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": v.size}}

    rows = {"a": cell([0.50, 0.54]), "b": cell([0.40, 0.40]), "c": cell([0.30, 0.36]),
            "default": cell([0.10]), "oracle": cell([0.90])}
    sep = separation({"table": {"sm": {"X": rows}}}, "X")
    sd_a, sd_c = np.std([0.50, 0.54], ddof=1), np.std([0.30, 0.36], ddof=1)
    pooled = np.sqrt((sd_a ** 2 + 0.0 + sd_c ** 2) / 3)
    assert (sep["best"], sep["worst"], sep["max_sd_strategy"]) == ("a", "c", "c")
    assert sep["spread"] == pytest.approx(0.52 - 0.33)
    assert sep["ratio"] == pytest.approx(0.19 / sd_c) and sep["ratio_pooled"] == pytest.approx(0.19 / pooled)
    assert sep["oracle_margin"] == pytest.approx(0.90 - 0.52) and sep["default_margin"] == pytest.approx(0.42)
    one_seed = separation({"table": {"sm": {"X": {"a": cell([0.5]), "b": cell([0.4])}}}}, "X")
    assert np.isnan(one_seed["ratio"]) and np.isnan(one_seed["pooled_seed_sd"])


def test_verdicts_cover_every_strategy_dataset_and_variable(reduced):
    _, results = reduced
    v = results["verdicts"]
    keys = {(r["strategy"], r["dataset"], r["variable"]) for r in v}
    assert ("sceua", "DAS-S4NG", "sm_op") in keys and ("paraformer_a", "DAS-S2", "et") in keys
    for r in v:
        assert r["n_repetitions"] == 2
        if not r["n_cells"]:  # e.g. ET on a set without flux towers
            assert r["verdict"] == "not scored"
            continue
        assert r["verdict"] in ("better", "no detectable change", "worse", "too few cells to tell")
        assert (r["verdict"] == "too few cells to tell") == (r["n_cells"] < 5)
        assert r["ci"][0] <= r["median"] <= r["ci"][1]


def test_unchanged_parameters_show_exactly_no_change_in_the_benchmark(tmp_path, monkeypatch):
    """A strategy that returns the default parameters: every paired difference with the default row is exactly 0."""
    import time

    from vic_paraformer.benchmark import protocol
    from vic_paraformer.calibrator import Calibrator
    from vic_paraformer.parameters import default_parameters

    class Unchanged(Calibrator):
        name = "unchanged"
        default_options: dict = {}

        def calibrate(self, region):
            values, _ = default_parameters(region, self.parameter_space)
            return self._result(region, values, started=time.perf_counter())

    monkeypatch.setattr(protocol, "get_calibrator_class", lambda name: Unchanged)
    monkeypatch.setattr(protocol, "installed_strategies", lambda: ["unchanged"])
    config = BenchmarkConfig.quick(ny=6, nx=6, splits=(3,), neighbour_split=3, strategies=["unchanged"], seeds=[0],
                                   surrogate_options={"preset": "test"})
    results = run_benchmark(config, tmp_path / "b")
    v = [r for r in results["verdicts"] if r["strategy"] == "unchanged"]
    assert {r["variable"] for r in v} == {"sm", "sm_op", "et"}
    for r in v:
        if r["n_cells"]:
            assert r["median"] == 0.0 and r["ci"] == [0.0, 0.0], r
            # four training cells of DAS-S3 are too few for a verdict; never better or worse
            assert r["verdict"] == ("no detectable change" if r["n_cells"] >= 5 else "too few cells to tell"), r


def test_benchmark_with_the_vic_classic_set(tmp_path):
    """``--parameters vic-classic``: the twin's truth holds the layer depths, the surrogate and SCE-UA cover
    the six parameters, and the results and report list them."""
    from vic_paraformer.surrogate import Surrogate

    config = BenchmarkConfig.quick(ny=6, nx=6, splits=(3,), neighbour_split=3, strategies=["sceua"], seeds=[0],
                                   surrogate_options={"preset": "test"}, parameters="vic-classic",
                                   strategy_options={"sceua": {"repetitions": 20, "n_workers": 1}})
    results = run_benchmark(config, tmp_path / "b")
    names = ["infilt", "Ds", "Dsmax", "Ws", "depth2", "depth3"]
    assert results["parameters"] == names
    assert list(Surrogate.load(tmp_path / "b" / "surrogate.pt").parameter_space.names) == names
    rec = results["recovery"]
    assert any(set(v["error"]) == set(names) for v in rec.values()), rec
    report = (tmp_path / "b" / "report.md").read_text()
    assert "Calibrated parameters: vic-classic (infilt, Ds, Dsmax, Ws, depth2, depth3)" in report
    import xarray as xr

    with xr.open_dataset(tmp_path / "b" / "region.nc") as ds:
        assert "true_depth2" in ds and "true_depth3" in ds and "true_expt" not in ds


@pytest.mark.slow
def test_benchmark_with_discharge_compares_recovery_with_and_without_q(tmp_path):
    """--objective sm+q: every strategy runs without and with discharge (through the surrogate's runoff and
    baseflow), and the report has the recovery of Ds, Dsmax, Ws for both."""
    from vic_paraformer.benchmark.protocol import strategy_variants

    assert strategy_variants(["sceua"], "sm:1,et:0.5,q:2") == [("sceua", "sceua", "sm:1,et:0.5"),
                                                              ("sceua+q", "sceua", "sm:1,et:0.5,q:2")]
    config = BenchmarkConfig.quick(ny=5, nx=5, splits=(2,), neighbour_split=2, strategies=["sceua"], seeds=[0],
                                   surrogate_options={"preset": "test"}, objective="sm+q", gauges=2,
                                   strategy_options={"sceua": {"repetitions": 30, "ngs": 2, "n_workers": 1}})
    results = run_benchmark(config, tmp_path, command="pytest discharge benchmark")
    dr = results["discharge_recovery"]
    assert set(dr) == {"default", "sceua", "sceua+q"} and set(dr["sceua"]) == {"Ds", "Dsmax", "Ws"}
    assert all(np.isfinite(m["mean"]) and m["n"] == 1 for k in ("sceua", "sceua+q") for m in dr[k].values())
    with_q = vp.CalibrationResult.open(tmp_path / "results" / "sceua+q_S2_seed0.nc")
    assert with_q.options["objective"] == "sm+q" and len(with_q.info["gauged_basins"]) == 2
    assert vp.CalibrationResult.open(tmp_path / "results" / "sceua_S2_seed0.nc").options["objective"] == "sm"
    report = (tmp_path / "report.md").read_text()
    assert "## Recovery with and without discharge" in report and "| sceua+q |" in report


def test_ensemble_option_reaches_the_dl_strategies_only(tmp_path):
    """``--ensemble K`` (config ``ensemble``) gives the DL strategies deep ensembles of K members, so their
    interval rows exist; strategies without an ``ensemble`` option are left alone; the full preset uses 4."""
    from vic_paraformer.benchmark.protocol import BenchmarkConfig, _options_for
    from vic_paraformer.registry import get_calibrator_class

    sur = tmp_path / "sur.pt"
    cfg = BenchmarkConfig.quick(ensemble=3)
    assert _options_for(get_calibrator_class("ffn_a"), "ffn_a", cfg, sur)["ensemble"] == 3
    assert "ensemble" not in _options_for(get_calibrator_class("sceua"), "sceua", cfg, sur)
    assert "ensemble" not in _options_for(get_calibrator_class("ffn_a"), "ffn_a", BenchmarkConfig.quick(), sur)
    assert BenchmarkConfig.full().ensemble == 4
