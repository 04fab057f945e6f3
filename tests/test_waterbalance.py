"""Tests of the embedded ``waterbalance`` simulator (VIC-style stand-in)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from vic_paraformer import ParameterSpace, SimulatorError, get_simulator
from vic_paraformer.region import Region
from vic_paraformer.simulators.waterbalance import (SOIL_ATTRIBUTES, WaterBalanceSimulator, run_waterbalance,
                                                    soil_from_region)

NAMES = ("infilt", "Ds", "Dsmax", "Ws", "expt")


@pytest.fixture(scope="module")
def sim():
    return WaterBalanceSimulator(device="cpu", dtype="float64")


@pytest.fixture(scope="module")
def truth(synthetic_tiny):
    return synthetic_tiny.parameters(prefix="true_")


def _run(sim, region, theta):
    return sim.run_arrays(region, theta)


def test_forcing_order_matches_region():
    from vic_paraformer.region import FORCING_VARS
    from vic_paraformer.simulators.waterbalance import FORCING_ORDER

    assert tuple(FORCING_VARS) == FORCING_ORDER


def test_registered_and_options():
    s = get_simulator("waterbalance", device="cpu", dtype="float32")
    assert isinstance(s, WaterBalanceSimulator) and s.dtype == torch.float32
    with pytest.raises(SimulatorError, match="unknown option"):
        WaterBalanceSimulator(bogus=1)
    with pytest.raises(SimulatorError, match="dtype"):
        WaterBalanceSimulator(dtype="float16")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mass_balance_closes_every_cell(synthetic_tiny, truth, dtype):
    region = synthetic_tiny
    forcing = torch.as_tensor(region.forcing(), dtype=getattr(torch, dtype))
    soil = soil_from_region(region, dtype=getattr(torch, dtype))
    # truth plus two extreme corners of the space
    space = ParameterSpace.preset("vic")
    thetas = [truth, np.tile(space.lower, (region.n_cells, 1)), np.tile(space.upper, (region.n_cells, 1))]
    cold = forcing.clone()
    cold[..., 1] -= 12.0  # long snowy winters: the snowpack must conserve mass too
    for theta, f in [(t, forcing) for t in thetas] + [(truth, cold)]:
        with torch.no_grad():
            out = run_waterbalance(f, soil, torch.as_tensor(theta))
        if f is cold:
            assert out["swe"].max() > 50
        prec = f[..., 0].double().sum(1)
        resid = (f[..., 0].double() - out["et"].double() - out["runoff"].double() - out["baseflow"].double()
                 - out["dstorage"].double()).sum(1)
        assert torch.all(prec > 100)
        assert torch.all(resid.abs() / prec < 1e-4), (resid / prec).abs().max()
        for k in ("et", "runoff", "baseflow"):
            assert torch.all(out[k] >= -1e-6), k
        sm = out["sm"]
        por = torch.as_tensor(region.attribute("porosity"))[:, None]
        assert torch.all(sm >= 0) and torch.all(sm <= por + 1e-5)


def _vary(sim, region, truth, name, low, high):
    j = NAMES.index(name)
    lo, hi = truth.copy(), truth.copy()
    lo[:, j], hi[:, j] = low, high
    return _run(sim, region, lo), _run(sim, region, hi)


def test_infilt_more_surface_runoff(sim, synthetic_tiny, truth):
    lo, hi = _vary(sim, synthetic_tiny, truth, "infilt", 0.02, 0.4)
    assert np.all(hi["runoff"].sum(-1) > lo["runoff"].sum(-1))


def test_dsmax_more_baseflow(sim, synthetic_tiny, truth):
    lo, hi = _vary(sim, synthetic_tiny, truth, "Dsmax", 1.0, 20.0)
    assert np.all(hi["baseflow"].sum(-1) > lo["baseflow"].sum(-1))


def test_ws_less_baseflow(sim, synthetic_tiny, truth):
    lo, hi = _vary(sim, synthetic_tiny, truth, "Ws", 0.3, 0.9)
    assert np.all(hi["baseflow"].sum(-1) < lo["baseflow"].sum(-1))


def test_expt_slower_drainage_wetter_top_less_baseflow(sim, synthetic_tiny, truth):
    lo, hi = _vary(sim, synthetic_tiny, truth, "expt", 4.0, 15.0)
    assert np.all(hi["sm"].mean(-1) > lo["sm"].mean(-1))
    assert np.all(hi["baseflow"].sum(-1) < lo["baseflow"].sum(-1))


def test_ds_more_baseflow_at_low_moisture(synthetic_tiny):
    """Dry-down without rain from a bottom layer below Ws * Wmax3: higher Ds drains more."""
    region = synthetic_tiny
    n = region.n_cells
    forcing = torch.as_tensor(region.forcing()[:, :60].copy(), dtype=torch.float64)
    forcing[..., 0] = 0.0
    soil = soil_from_region(region)
    state0 = soil.wwp + 0.5 * (soil.wfc - soil.wwp)
    ws = 0.9
    assert torch.all(state0[:, 2] < ws * soil.wmax[:, 2])
    base = torch.tensor([0.2, 0.0, 10.0, ws, 8.0], dtype=torch.float64).repeat(n, 1)
    res = []
    for ds in (0.05, 0.5):
        th = base.clone()
        th[:, 1] = ds
        with torch.no_grad():
            res.append(run_waterbalance(forcing, soil, th, state0=state0)["baseflow"])
    assert torch.all(res[1][:, 0] > res[0][:, 0])
    assert torch.all(res[1].sum(1) > res[0].sum(1))


@pytest.mark.parametrize("where", ["truth", "lower", "upper"])
def test_gradients_finite_and_nonzero(synthetic_tiny, where):
    region = synthetic_tiny.sel_time(None, "2016-03-31")
    forcing = torch.as_tensor(region.forcing(), dtype=torch.float64)
    soil = soil_from_region(region)
    obs = torch.as_tensor(region.observations("obs_sm"))
    space = ParameterSpace.preset("vic")
    values = {"truth": region.parameters(prefix="true_"), "lower": np.tile(space.lower, (region.n_cells, 1)),
              "upper": np.tile(space.upper, (region.n_cells, 1))}[where]
    theta = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    sm = run_waterbalance(forcing, soil, theta)["sm"]
    mask = torch.isfinite(obs)
    loss = ((sm - torch.nan_to_num(obs)) ** 2)[mask].mean()
    loss.backward()
    assert torch.all(torch.isfinite(theta.grad))
    # every parameter of every cell moves the loss (the baseflow parameters through the bottom layer's
    # back-up into the upper layers)
    assert torch.all(theta.grad != 0), (theta.grad == 0).sum(0)


def test_simulate_cell_and_sample_dims(sim, synthetic_tiny, truth):
    region = synthetic_tiny
    space = ParameterSpace.preset("vic")
    p_cell = space.to_dataset(truth, region.cells)
    out = sim.simulate(region, p_cell)
    assert out["sm"].dims == ("cell", "time") and out.sizes["time"] == region.n_days
    assert set(out.data_vars) >= {"sm", "et", "runoff", "baseflow", "dstorage"}
    samples = np.stack([truth, space.sample(region.n_cells, seed=1)])
    p_s = space.to_dataset(samples, region.cells, dims=("sample", "cell"))
    out_s = sim.simulate(region, p_s, period=("2016-01-01", "2016-06-30"))
    assert out_s["sm"].dims == ("sample", "cell", "time")
    assert out_s.sizes["time"] == 182
    np.testing.assert_allclose(out_s["sm"].isel(sample=0).values,
                               out["sm"].sel(time=slice("2016-01-01", "2016-06-30")).values, rtol=1e-6)
    # chunking over the batch does not change results
    small = WaterBalanceSimulator(device="cpu", max_batch=11).simulate(region, p_s)
    np.testing.assert_array_equal(small["sm"].values, sim.simulate(region, p_s)["sm"].values)


def test_float32_close_to_float64(synthetic_tiny, truth):
    a = WaterBalanceSimulator(device="cpu", dtype="float32").run_arrays(synthetic_tiny, truth)
    b = WaterBalanceSimulator(device="cpu", dtype="float64").run_arrays(synthetic_tiny, truth)
    assert np.abs(a["sm"] - b["sm"]).max() < 2e-3


def test_bad_params_rejected(sim, synthetic_tiny, truth):
    space = ParameterSpace.preset("vic")
    bad = truth.copy()
    bad[3, 3] = 1.5
    with pytest.raises(SimulatorError, match="Ws"):
        sim.simulate(synthetic_tiny, space.to_dataset(bad, synthetic_tiny.cells))
    ds = space.to_dataset(truth, synthetic_tiny.cells).drop_vars("expt")
    with pytest.raises(SimulatorError, match="expt"):
        sim.simulate(synthetic_tiny, ds)


def test_missing_attributes_use_defaults_and_bad_ones_are_named(sim, synthetic_tiny, truth):
    ds = synthetic_tiny.ds.sel(attribute=["sand", "clay"])
    region = Region(ds)
    soil = soil_from_region(region)
    assert torch.allclose(soil.wmax[:, 0], torch.full((region.n_cells,), SOIL_ATTRIBUTES["porosity"] * 100.0,
                                                      dtype=torch.float64))
    out = sim.run_arrays(region, truth)
    assert np.all(np.isfinite(out["sm"]))
    att = synthetic_tiny.ds["attributes"].copy()
    att.loc[{"cell": synthetic_tiny.cells[2], "attribute": "field_capacity"}] = 0.9
    bad = Region(synthetic_tiny.ds.assign(attributes=att))
    with pytest.raises(SimulatorError, match=r"cell 2: expected field_capacity < porosity"):
        soil_from_region(bad)


def test_simulate_cli_true_and_file_params(synthetic_tiny, tmp_path, capsys):
    from vic_paraformer.cli.main import main

    region_nc = synthetic_tiny.save(tmp_path / "region.nc")
    before = region_nc.read_bytes()
    out = tmp_path / "sim.nc"
    assert main(["simulate", "--region", str(region_nc), "--params", "true", "--out", str(out),
                 "--period", "2016-01-01", "2016-01-31"]) == 0
    ds = xr.open_dataset(out)
    assert ds["sm"].dims == ("cell", "time") and ds.sizes["time"] == 31
    ref = WaterBalanceSimulator(device="cpu").simulate(
        synthetic_tiny, ParameterSpace.preset().to_dataset(synthetic_tiny.parameters(prefix="true_"), synthetic_tiny.cells),
        period=("2016-01-01", "2016-01-31"))
    np.testing.assert_array_equal(ds["sm"].values, ref["sm"].values)
    ds.close()
    # a parameter file covering some cells simulates those cells
    cells = synthetic_tiny.cells[[1, 5, 6]]
    pfile = tmp_path / "p.nc"
    ParameterSpace.preset().to_dataset(np.tile(ParameterSpace.preset().midpoint(), (3, 1)), cells).to_netcdf(pfile)
    assert main(["simulate", "--region", str(region_nc), "--params", str(pfile), "--out", str(out)]) == 0
    with xr.open_dataset(out) as ds2:
        np.testing.assert_array_equal(ds2["cell"].values, cells)
    assert region_nc.read_bytes() == before
    capsys.readouterr()
    # errors are one line, no output written
    bad = tmp_path / "bad.nc"
    xr.Dataset({"infilt": ("cell", [0.1])}).to_netcdf(bad)
    assert main(["simulate", "--region", str(region_nc), "--params", str(bad), "--out", str(tmp_path / "o.nc")]) == 1
    err = capsys.readouterr().err
    assert "lacks parameter variable(s)" in err and "Ds" in err
    assert not (tmp_path / "o.nc").exists()
    plain = tmp_path / "plain.nc"
    synthetic_tiny.ds.drop_vars([f"true_{n}" for n in NAMES]).to_netcdf(plain)
    assert main(["simulate", "--region", str(plain), "--params", "true", "--out", str(tmp_path / "o.nc")]) == 1
    assert "true_infilt" in capsys.readouterr().err


# ---------------------------------------------------------------- layer depths, per-layer expt, Ksat multiplier
@pytest.mark.parametrize("depths", [(0.1, 0.1), (1.5, 1.5), (0.2, 1.4)])
def test_mass_balance_closes_with_changed_depths(synthetic_tiny, truth, depths):
    from vic_paraformer.simulators._wb_core import FULL_PARAMETERS

    region = synthetic_tiny
    forcing = torch.as_tensor(region.forcing(), dtype=torch.float64)
    soil = soil_from_region(region)
    n = region.n_cells
    full = np.column_stack([truth[:, :4], truth[:, 4], np.full(n, 4.0), np.full(n, 15.0),
                            np.full(n, depths[0]), np.full(n, depths[1]), np.full(n, 2.0)])
    assert full.shape == (n, len(FULL_PARAMETERS))
    with torch.no_grad():
        out = run_waterbalance(forcing, soil, torch.as_tensor(full), return_layers=True)
    prec = forcing[..., 0].sum(1)
    resid = (forcing[..., 0] - out["et"] - out["runoff"] - out["baseflow"] - out["dstorage"]).sum(1)
    assert torch.all(resid.abs() / prec < 1e-9), (resid / prec).abs().max()
    por = torch.as_tensor(region.attribute("porosity"))
    cap = por[:, None] * torch.tensor([1.0, depths[0] * 1000.0, depths[1] * 1000.0])[None, :]
    cap[:, 0] = por * region.attribute("soil_depth1")[0] * 1000.0
    assert torch.all(out["layers"] <= cap[:, None, :] + 1e-6) and torch.all(out["layers"] >= -1e-9)


def test_depths_change_the_simulation_and_default_to_the_region(sim, synthetic_tiny, truth):
    region = synthetic_tiny
    names = ("infilt", "Ds", "Dsmax", "Ws", "expt", "depth2", "depth3")
    own = np.column_stack([truth, region.attribute("soil_depth2"), region.attribute("soil_depth3")])
    a = sim.run_arrays(region, truth)
    b = sim.run_arrays(region, own, names)          # the region's own depths: the same run
    np.testing.assert_allclose(b["sm"], a["sm"], rtol=0, atol=1e-6)
    deep = own.copy()
    deep[:, 5:] = 1.5
    c = sim.run_arrays(region, deep, names)
    assert np.abs(c["baseflow"] - a["baseflow"]).mean() > 1e-3
    # vic-classic: expt keeps the region's own value (none here: the typical 12), layer depths set
    ds = ParameterSpace.preset("vic", names=("infilt", "Ds", "Dsmax", "Ws", "depth2", "depth3")).to_dataset(
        deep[:, [0, 1, 2, 3, 5, 6]], region.cells)
    out = sim.simulate(region, ds)
    twelve = truth.copy()
    twelve[:, 4] = 12.0
    ref = sim.run_arrays(region, np.column_stack([twelve, deep[:, 5:]]), names)
    np.testing.assert_allclose(out["sm"].values, ref["sm"], atol=1e-6)


def test_changed_depths_redistribute_the_roots_as_vic_does():
    """VIC's calc_root_fractions with the region's layers as root zones (roots even within each): a
    layer gets the roots of the depths it spans, the bottom layer those below the column too."""
    from vic_paraformer.simulators._wb_core import root_fractions_for_depths

    t = lambda *v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    roots, old = t(0.3, 0.5, 0.2), t(100.0, 300.0, 600.0)
    cases = [((100.0, 300.0, 600.0), (0.3, 0.5, 0.2)),        # unchanged
             ((100.0, 600.0, 300.0), (0.3, 0.6, 0.1)),        # layer 2 reaches half of zone 3
             ((100.0, 150.0, 100.0), (0.3, 0.25, 0.45)),      # column 0.35 m: roots below it go to layer 3
             ((100.0, 1200.0, 500.0), (0.3, 0.7, 0.0))]       # layer 2 holds every root below layer 1
    for new, want in cases:
        got = root_fractions_for_depths(roots, old, t(*new))
        np.testing.assert_allclose(got.numpy(), [want], atol=1e-12)
    batch = root_fractions_for_depths(roots.repeat(4, 1), old.repeat(4, 1), torch.cat([t(*c[0]) for c in cases]))
    np.testing.assert_allclose(batch.numpy(), [c[1] for c in cases], atol=1e-12)


def test_depth3_reaches_et_through_the_roots_in_layer_3(sim, synthetic_tiny, truth):
    """Layer 3 holds water for transpiration by its roots, as in VIC: a deeper layer 3 (1.5 m against
    0.5 m) raises the mean ET (measured: 0.036 mm/day averaged over the cells). It does not when layer 3
    holds no roots: none in the region (measured: -0.006 mm/day, through baseflow alone), or a 1.5 m
    layer 2 reaching below the region's root zone, so that it takes every root below layer 1
    (measured: -0.004 mm/day). This is the only signal through which ET observations can identify
    depth3 (README, ``--parameters``)."""
    names = ("infilt", "Ds", "Dsmax", "Ws", "expt", "depth2", "depth3")
    ds = synthetic_tiny.ds.copy(deep=True)
    ds["attributes"].loc[{"attribute": "root_fraction3"}] = 0.0
    rootless = Region(ds)

    def et_gain(region, depth2=None):
        n = region.n_cells
        d2 = region.attribute("soil_depth2") if depth2 is None else np.full(n, depth2)
        th = [np.column_stack([truth, d2, np.full(n, d3)]) for d3 in (0.5, 1.5)]
        shallow, deep = (sim.run_arrays(region, t, names)["et"].mean(axis=1) for t in th)
        return float(np.mean(deep - shallow))

    with_roots, without, deep2 = et_gain(synthetic_tiny), et_gain(rootless), et_gain(synthetic_tiny, 1.5)
    assert with_roots > 0.02 and with_roots - without > 0.02, (with_roots, without)
    assert with_roots - deep2 > 0.02, (with_roots, deep2)


def test_expt_per_layer_and_ksat_multiplier(sim, synthetic_tiny, truth):
    region = synthetic_tiny
    names = ("infilt", "Ds", "Dsmax", "Ws", "expt1", "expt2", "expt3", "Ksat_mult")
    tied = np.column_stack([truth[:, :4], truth[:, 4], truth[:, 4], truth[:, 4], np.ones(region.n_cells)])
    np.testing.assert_allclose(sim.run_arrays(region, tied, names)["sm"], sim.run_arrays(region, truth)["sm"],
                               atol=1e-6)
    slow = tied.copy()
    slow[:, 7] = 0.1
    assert not np.allclose(sim.run_arrays(region, slow, names)["baseflow"], sim.run_arrays(region, tied, names)["baseflow"])
    bad = xr.Dataset({"infilt": ("cell", truth[:, 0]), "depth2": ("cell", np.full(region.n_cells, -0.1))},
                     coords={"cell": region.cells})
    with pytest.raises(SimulatorError, match="'depth2' = -0.1"):
        sim.simulate(region, bad)


def test_a_subset_of_the_paper_parameters_keeps_the_regions_own_values_for_the_others(synthetic_tiny):
    """`--parameters expt` (what `auto` picks on the clean twin): the water balance runs with the four
    others at the region's own values, as if they had been given."""
    from vic_paraformer.parameters import ParameterSpace, default_parameters
    from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

    region = synthetic_tiny.subset(synthetic_tiny.cells[:3]).sel_time("2015-04-01", "2015-07-31")
    five = ParameterSpace.preset("vic")
    values, _ = default_parameters(region, five)
    values[:, five.names.index("expt")] = [6.0, 9.0, 14.0]
    only = ParameterSpace.preset("vic", names=("expt",))
    sim = WaterBalanceSimulator()
    full = sim.simulate(region, five.to_dataset(values, region.cells))
    part = sim.simulate(region, only.to_dataset(values[:, [five.names.index("expt")]], region.cells))
    np.testing.assert_allclose(part["sm"].values, full["sm"].values)
    np.testing.assert_allclose(part["et"].values, full["et"].values)
    # the same through the ensemble runner (surrogate training data, sensitivity samples)
    from vic_paraformer.ensemble import EnsembleRunner

    runner = EnsembleRunner(simulator=sim, n_workers=1, chunk_size=2, progress=False)
    sampled = only.to_dataset(values[None, :, [five.names.index("expt")]], region.cells, dims=("sample", "cell"))
    out = runner.run(region, sampled)
    np.testing.assert_allclose(out["sm"].values[0], full["sm"].values, rtol=1e-5, atol=1e-6)
    # a Dataset that merely lacks one of the five (no declared set) is still an error naming it
    with pytest.raises(SimulatorError, match="expt"):
        sim.simulate(region, five.to_dataset(values, region.cells).drop_vars("expt"))
