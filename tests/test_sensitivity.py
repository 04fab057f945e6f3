"""Sensitivity indices and identifiability: estimator against a brute-force check, a parameter that
enters nothing, the indices file, the command's errors, the calibration record and real VIC."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from vic_paraformer.cli.main import main
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.sensitivity import (IDENTIFIABLE_THRESHOLD, compute_indices, identifiable, open_indices,
                                        select_identifiable, write_indices)
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

WARMUP = 120


class IgnoresDs(WaterBalanceSimulator):
    """The water balance with ``Ds`` held fixed: Ds enters no output at all."""

    name = "ignores_ds"

    def simulate(self, region, params, *, period=None):
        params = params.copy()
        params["Ds"] = params["Ds"] * 0 + 0.5
        return super().simulate(region, params, period=period)


@pytest.fixture(scope="module")
def short(synthetic_small):
    """One year of the 8 x 8 twin (fast runs)."""
    return synthetic_small.sel_time(None, str(synthetic_small.times[364].date()))


def _oat_spread(region, cells, term):
    """Brute force: per cell, the variance of ``term`` when one parameter walks its range (9 values) and
    the others stay at the midpoint; ``(cell, p)``."""
    space = ParameterSpace.preset("vic")
    sub = region.subset(cells)
    grid = np.linspace(0.0, 1.0, 9)
    sets = []
    for j in range(space.n):
        for g in grid:
            u = np.full(space.n, 0.5)
            u[j] = g
            sets.append(space.denormalize(u))
    theta = np.asarray(sets)
    params = xr.Dataset({n: (("sample", "cell"), np.repeat(theta[:, j:j + 1], len(cells), 1))
                         for j, n in enumerate(space.names)}, coords={"cell": sub.cells})
    out = WaterBalanceSimulator().simulate(sub, params)
    if term == "sm_raw":
        obs = sub.observations("obs_sm")[:, WARMUP:]
        sim = out["sm"].transpose("sample", "cell", "time").values[:, :, WARMUP:]
        y = np.sqrt(np.nanmean((sim - obs[None]) ** 2, axis=-1))
    else:
        y = out[term].transpose("sample", "cell", "time").values[:, :, WARMUP:].mean(-1)
    return y.reshape(space.n, len(grid), len(cells)).var(axis=1).T


@pytest.mark.parametrize("term", ["sm_raw", "runoff", "et"])
def test_indices_rank_parameters_like_a_one_at_a_time_check(short, term):
    cells = short.cells[[0, 27, 63]]
    ds = compute_indices(short, simulator="waterbalance", cells=cells, samples=32, warmup=WARMUP, seed=0)
    st = ds["indices"].sel(term=term, index="ST").values
    spread = _oat_spread(short, cells, term)
    share = spread / spread.sum(1, keepdims=True)
    for c in range(len(cells)):
        assert np.argmax(st[c]) == np.argmax(spread[c]), (term, c, st[c], share[c])
        strong = share[c] > 0.1  # parameters that clearly move the term one at a time
        assert np.all(st[c][strong] > IDENTIFIABLE_THRESHOLD), (term, c, st[c], share[c])
        weak = share[c] < 0.005
        assert np.all(st[c][weak] < 0.1), (term, c, st[c], share[c])


def test_a_parameter_that_enters_nothing_has_zero_total_index_and_is_not_identifiable(synthetic_tiny):
    sim = IgnoresDs()
    cells = synthetic_tiny.cells[:3]
    ds = compute_indices(synthetic_tiny, simulator=sim, cells=cells, samples=16, warmup=WARMUP, seed=0)
    st = ds["indices"].sel(parameter="Ds", index="ST")
    assert np.allclose(st.values, 0.0, atol=1e-9), st.values
    assert np.allclose(ds["indices"].sel(parameter="Ds", index="S1").values, 0.0, atol=1e-9)
    flags = identifiable(ds)
    assert not flags.sel(parameter="Ds").any()
    assert flags.sel(parameter="expt").all()  # the top-layer exponent moves the SM misfit everywhere
    two = synthetic_tiny.subset(synthetic_tiny.training_cells[:2])
    names = select_identifiable(two, simulator=sim, space=ParameterSpace.preset("vic"), seed=0)
    assert "Ds" not in names and "expt" in names
    assert names == [n for n in ParameterSpace.preset("vic").names if n in names]  # space order


def _indices(st: np.ndarray, conf: np.ndarray) -> xr.Dataset:
    """A Sobol indices Dataset (cell x parameter) with the objective's ST and ST_conf as given."""
    n_cells, n_par = st.shape
    vals = np.zeros((n_cells, n_par, 1, 4))
    vals[:, :, 0, 2], vals[:, :, 0, 3] = st, conf
    ds = xr.Dataset({"indices": (("cell", "parameter", "term", "index"), vals)},
                    coords={"cell": np.arange(n_cells), "parameter": ["a", "b", "c"], "term": ["objective"],
                            "index": ["S1", "S1_conf", "ST", "ST_conf"]})
    ds.attrs["method"] = "sobol"
    return ds


def test_auto_keeps_what_matters_on_average_while_the_flag_needs_confidence():
    """The per-cell flag needs the interval's lower end above the threshold; ``auto`` drops a parameter
    only when its total index averaged over the cells stays below it (dropping claims it is negligible)."""
    from vic_paraformer.sensitivity import choose_parameters, parameter_choice_record

    st = np.array([[0.9, 0.12, 0.02], [0.8, 0.09, 0.06], [0.85, 0.15, 0.03]])
    conf = np.array([[0.1, 0.2, 0.05], [0.1, 0.2, 0.05], [0.1, 0.2, 0.05]])
    ds = _indices(st, conf)
    assert identifiable(ds).values.tolist() == [[True, False, False]] * 3  # b straddles 0.05 at every cell
    assert choose_parameters(ds) == ["a", "b"]  # b's mean 0.12 matters; c's mean 0.037 does not
    assert choose_parameters(ds, threshold=0.2) == ["a"]
    rec = parameter_choice_record(ds, ["a", "b"])
    assert rec["calibrated"] == ["a", "b"] and rec["fixed"] == ["c"]
    assert rec["mean_total_index"] == {"a": 0.85, "b": 0.12, "c": pytest.approx(0.0367, abs=1e-4)}
    assert rec["share_identifiable"] == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert rec["mean_halfwidth"]["b"] == pytest.approx(0.2)


def test_morris_also_gives_zero_to_a_parameter_that_enters_nothing(synthetic_tiny):
    ds = compute_indices(synthetic_tiny, simulator=IgnoresDs(), cells=synthetic_tiny.cells[:2], method="morris",
                         samples=6, warmup=WARMUP, seed=1)
    assert list(ds["index"].values) == ["mu_star", "mu_star_conf", "sigma", "mu_star_norm"]
    assert np.allclose(ds["indices"].sel(parameter="Ds", index="mu_star").values, 0.0)
    norm = ds["indices"].sel(term="objective", index="mu_star_norm").values
    assert np.allclose(norm.sum(-1), 1.0)


def test_through_the_surrogate_indices_of_every_output_and_the_objective(small_surrogate, synthetic_small, tmp_path):
    cells = synthetic_small.cells[[5, 40]]
    ds = compute_indices(synthetic_small, surrogate=small_surrogate, cells=cells, samples=8, seed=0)
    assert small_surrogate.output_names == ("sm", "et", "runoff", "baseflow")
    assert list(ds["term"].values) == ["sm_obs", "sm_raw", "et", "runoff", "baseflow", "objective"]
    assert ds.attrs["model"] == "surrogate of waterbalance"
    assert ds.attrs["warmup_days"] == small_surrogate.warmup
    assert np.isfinite(ds["indices"].values).all()
    # the same design twice gives the same indices (seeded)
    again = compute_indices(synthetic_small, surrogate=small_surrogate, cells=cells, samples=8, seed=0)
    np.testing.assert_array_equal(ds["indices"].values, again["indices"].values)


def test_indices_file_schema(synthetic_tiny, tmp_path):
    from vic_paraformer.outputs import file_kind

    ds = compute_indices(synthetic_tiny, simulator="waterbalance", cells=synthetic_tiny.cells[:2], samples=4,
                         warmup=WARMUP)
    path = write_indices(ds, tmp_path / "indices.nc")
    assert file_kind(path) == "sensitivity"
    with xr.open_dataset(path) as raw:
        assert raw["indices"].dims == ("cell", "parameter", "term", "index")
        assert raw.sizes["parameter"] == 5 and raw.sizes["term"] == 6 and raw.sizes["index"] == 4
        assert list(raw["term"].values) == ["sm_obs", "sm_raw", "et", "runoff", "baseflow", "objective"]
        assert list(raw["index"].values) == ["S1", "S1_conf", "ST", "ST_conf"]
        assert raw.attrs["Conventions"] == "CF-1.8" and raw.attrs["method"] == "sobol"
        assert raw["indices"].attrs["units"] == "1"
        assert raw["lat"].attrs["units"] == "degrees_north" and raw["lat"].dims == ("cell",)
        assert {"row", "col"} <= set(raw.coords)
        assert "runoff:" in raw["term"].attrs["description"]
        assert json.loads(raw.attrs["parameter_space"])["names"] == ["infilt", "Ds", "Dsmax", "Ws", "expt"]
    back = open_indices(path)
    np.testing.assert_array_equal(back["indices"].values, ds["indices"].values)


# ---- the command -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def region_file(tmp_path_factory):
    from vic_paraformer.synthetic import synthetic_region

    d = tmp_path_factory.mktemp("sens")
    return synthetic_region(ny=3, nx=3, years=1, seed=0).save(d / "region.nc")


def test_command_help_defaults_agree_with_the_library():
    from vic_paraformer.cli import sensitivity_cmd
    from vic_paraformer.sensitivity import DEFAULT_SAMPLES, METHODS

    assert sensitivity_cmd.METHODS == METHODS and sensitivity_cmd.DEFAULT_SAMPLES == DEFAULT_SAMPLES


CLI_ERRORS = {
    "no-model": ("", "--surrogate is required"),
    "both-models": ("--surrogate {region} --simulator waterbalance", "exclude each other"),
    "bad-method": ("--simulator waterbalance --method fast", "invalid choice: 'fast'"),
    "one-sample": ("--simulator waterbalance --samples 1", "expected an integer >= 2, got 1"),
    "unknown-simulator": ("--simulator nosuch", "nosuch"),
    "bad-objective-option": ("--simulator waterbalance -o loss=bad", "unknown loss 'bad'"),
    "not-an-objective-option": ("--simulator waterbalance -o repetitions=3", "not an objective option"),
    "bad-cells": ("--simulator waterbalance --cells some", "--cells 'some'"),
    "simulator-option-without-simulator": ("--surrogate s.pt --simulator-option spinup_years=1", "need --simulator"),
}


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_cli_errors_exit_2_with_one_line(case, region_file, tmp_path, capsys):
    extra, needle = CLI_ERRORS[case]
    argv = ["sensitivity", "--region", str(region_file), "--out", str(tmp_path / "o"),
            *extra.format(region=region_file).split()]
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert rc == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "o").exists()


def test_cli_data_error_exit_1_when_no_day_is_left(region_file, tmp_path, capsys):
    rc = main(["sensitivity", "--region", str(region_file), "--simulator", "waterbalance", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and "no day is left to analyse" in err and "--warmup" in err


def test_cli_writes_indices_maps_and_medians(region_file, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["sensitivity", "--region", str(region_file), "--simulator", "waterbalance", "--samples", "4",
               "--warmup", "60", "--cells", "0,1,4", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| parameter | sm_obs S1 | sm_obs ST |" in text and "| expt |" in text
    ds = open_indices(out / "indices.nc")
    assert list(ds["cell"].values) == [0, 1, 4]
    assert sorted(p.name for p in out.glob("map_*.png")) == sorted(f"map_{t}.png" for t in ds["term"].values)
    assert (out / "medians.md").read_text().startswith("# Sensitivity: region medians over 3 cell(s)")


# ---- the calibration record ------------------------------------------------------------------------------
@pytest.mark.slow
def test_calibrate_records_identifiability_per_cell_and_parameter(synthetic_tiny, tmp_path):
    from vic_paraformer.calibrator import CalibrationResult
    from vic_paraformer.workflow import CalibrationSpec, run_calibration

    spec = CalibrationSpec(region=synthetic_tiny, strategy="sceua", out=tmp_path / "r.nc", seed=0,
                           options={"simulator": "waterbalance", "repetitions": 30, "n_workers": 1},
                           train_cells="0,5", identifiability=True)
    outcome = run_calibration(spec)
    rec = CalibrationResult.open(tmp_path / "r.nc").info["identifiability"]
    assert rec["cells"] == [0, 5] and rec["parameters"] == ["infilt", "Ds", "Dsmax", "Ws", "expt"]
    assert rec["threshold"] == IDENTIFIABLE_THRESHOLD and rec["term"] == "objective"
    flags = np.asarray(rec["identifiable"])
    total = np.asarray(rec["total_index"], float)
    half = np.asarray(rec["total_index_halfwidth"], float)
    assert flags.shape == (2, 5) and np.all(half >= 0)
    np.testing.assert_array_equal(flags, total - half > IDENTIFIABLE_THRESHOLD)  # the interval's lower end
    assert flags[:, 4].all()  # expt
    assert outcome.config["identifiability"] is True


# ---- real VIC ----------------------------------------------------------------------------------------------
@pytest.mark.vic
def test_indices_through_real_vic_on_walnutgulch(tmp_path, monkeypatch):
    from test_vic_runner import REAL_VIC, VARS, WALNUT, needs_sample  # noqa: F401
    from vic_paraformer.vic.importer import region_from_vic

    if REAL_VIC is None or not WALNUT.exists():
        pytest.skip("VIC image driver or WalnutGulch sample not found")
    region = region_from_vic(WALNUT, variables=VARS, end="2008-03-31")
    cells = region.cells[:2]
    ds = compute_indices(region, simulator="vic", simulator_options={"exe": REAL_VIC, "spinup_years": 0,
                                                                     "workdir": str(tmp_path / "runs")},
                         cells=cells, method="morris", samples=2, warmup=30, seed=0)
    assert ds.attrs["model"] == "vic" and ds.attrs["model_runs_per_cell"] == 2 * 6 + 1
    assert {"sm_raw", "et", "runoff", "baseflow"} <= set(ds["term"].values)
    mu = ds["indices"].sel(index="mu_star")
    assert np.isfinite(mu.sel(term="et").values).all()
    assert float(mu.sel(term="et").max()) > 0  # VIC's ET moves with its soil parameters
