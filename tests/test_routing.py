"""Routing in VIC's convention: the RVIC reader on VIC's Stehekin sample, numpy/torch convolution
(equal, mass-conserving, differentiable), Lohmann and linear-reservoir kernels, and the errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vic_paraformer.errors import RoutingError
from vic_paraformer.routing import RoutingKernel, linear_reservoir_kernel, lohmann_kernel, read_rvic, route
from vic_paraformer.routing.convolve import route_direct
from vic_paraformer.routing.geometry import spherical_cell_area

STEHEKIN = Path("/work/shared/vic-sample-data/image/Stehekin/parameters")
RVIC = STEHEKIN / "stehekin_parameters_01.rvic.prm.Stehekin.20150727.nc"
DOMAIN = STEHEKIN / "domain.stehekin.20151028.nc"
needs_stehekin = pytest.mark.skipif(not (RVIC.exists() and DOMAIN.exists()), reason="VIC Stehekin sample data absent")


def _domain_cells(with_area: bool = True) -> xr.Dataset:
    """The cells of the Stehekin domain file (mask == 1) as a minimal Region dataset."""
    d = xr.open_dataset(DOMAIN)
    m = d["mask"].values == 1
    la, lo = np.meshgrid(d["lat"].values, d["lon"].values, indexing="ij")
    ds = xr.Dataset(coords={"cell": np.arange(m.sum()), "lat": ("cell", la[m]), "lon": ("cell", lo[m])})
    if with_area:
        ds["cell_area"] = ("cell", d["area"].values[m].astype(float))
    return ds


def _grid(n: int = 3, dlat: float = 0.125) -> xr.Dataset:
    lat, lon = np.meshgrid(45.0 + dlat * np.arange(n), -120.0 + dlat * np.arange(n), indexing="ij")
    return xr.Dataset(coords={"cell": np.arange(n * n) + 100, "lat": ("cell", lat.ravel()), "lon": ("cell", lon.ravel())})


@needs_stehekin
def test_rvic_reader_on_stehekin():
    ds = _domain_cells()
    k = read_rvic(RVIC, ds)
    raw = xr.open_dataset(RVIC)
    assert (k.n_sources, k.n_outlets, k.n_lags, k.dt) == (27, 16, 10, 86400.0)
    np.testing.assert_allclose(k.uh.sum(axis=1), 1.0, atol=1e-12)
    # sources sit on their cells; outlets where the file puts them
    np.testing.assert_allclose(ds["lat"].values[k.source_cell], raw["source_lat"].values)
    np.testing.assert_allclose(ds["lon"].values[k.source_cell], raw["source_lon"].values)
    assert (k.outlet_lat[0], k.outlet_lon[0]) == (48.4375, -120.8125)
    assert k.outlet_name[0] == "outlet_48.4375_-120.8125"
    assert k.sources_of(0).tolist() == [0, 1, 2, 3, 4, 5, 6]
    # contributing area = stored sum x outlet cell area (RVIC's scaling undone)
    stored = raw["unit_hydrograph"].values[:, :, 0].sum(axis=0)
    o_area = 1.28170837e8  # the domain's area at latitude 48.4375
    np.testing.assert_allclose(k.source_area[:7], stored[:7] * o_area, rtol=1e-6)
    assert k.outlets_without_sources().tolist() == [15]
    assert k.info["fraction"].max() <= 1.0


@needs_stehekin
def test_rvic_areas_from_the_grid_match_the_domain_file():
    with_file = read_rvic(RVIC, _domain_cells(True))
    from_grid = read_rvic(RVIC, _domain_cells(False))
    np.testing.assert_allclose(from_grid.source_area, with_file.source_area, rtol=1e-3)
    assert spherical_cell_area(np.array([48.3125]), 0.125, 0.125)[0] == pytest.approx(1.28485897e8, rel=1e-4)


@needs_stehekin
def test_numpy_torch_and_vic_ring_agree_and_conserve_mass():
    torch = pytest.importorskip("torch")
    from vic_paraformer.routing.torch_route import TorchRouter

    k = read_rvic(RVIC, _domain_cells())
    rng = np.random.default_rng(0)
    runoff = rng.gamma(0.7, 3.0, size=(3, 16, 60))  # 3 parameter sets, 16 cells, 60 days, mm/day
    q = route(k, runoff)
    assert q.shape == (3, 16, 60)
    np.testing.assert_allclose(q[1], route_direct(k, runoff[1]), rtol=1e-10, equal_nan=True)
    qt = TorchRouter(k, dtype=torch.float64)(torch.as_tensor(runoff)).numpy()
    np.testing.assert_allclose(qt, q, rtol=1e-10, atol=1e-12, equal_nan=True)
    # volume in (mm x contributing area) = volume out (m3/s x dt) once the kernel has drained
    qe = route(k, runoff, extend=True)
    assert qe.shape[-1] == 60 + k.n_lags - 1
    vol_out = np.nansum(qe, axis=-1) * k.dt
    src_mm = runoff[:, k.source_cell, :].sum(-1)
    vol_in = np.stack([np.bincount(k.source_outlet, weights=src_mm[b] / 1000.0 * k.source_area, minlength=16)
                       for b in range(3)])
    np.testing.assert_allclose(vol_out[:, :15], vol_in[:, :15], rtol=1e-10)
    assert np.isnan(q[:, 15]).all()  # no sources: no discharge
    assert vol_out[0, 0] > 1e6  # a real volume, not zeros


def test_gradients_reach_parameters_through_torch_routing():
    torch = pytest.importorskip("torch")
    from vic_paraformer.routing.torch_route import TorchRouter

    ds = _grid(3)
    k = linear_reservoir_kernel(ds, [("g", ds["lat"].values[0], ds["lon"].values[0])], k_days=1.5, max_days=10)
    torch.manual_seed(0)
    params = torch.nn.Parameter(torch.rand(4, 2))  # 4 parameter sets, 2 parameters
    forcing = torch.rand(9, 30)
    runoff = torch.nn.functional.softplus(params[:, :1, None] * forcing[None] * 5 - params[:, 1:, None])  # (4, 9, 30)
    q = TorchRouter(k)(runoff)
    target = torch.ones_like(q) * 5.0
    loss = ((q - target) ** 2).mean()
    loss.backward()
    assert params.grad is not None and torch.all(params.grad.abs() > 0)


def test_lohmann_kernel_from_flow_directions():
    ds = _grid(3)
    # everything drains east then south to the cell at row 0, col 2 (lat 45.0, lon -119.75): VIC numbering
    fdir = np.array([[3, 3, 0], [3, 3, 5], [3, 3, 5]]).ravel()  # row 0 is the southern row
    outlet = ("mouth", 45.0, -119.75)
    inner = ("inner", 45.125, -119.75)
    k = lohmann_kernel(ds, [outlet, inner], fdir, velocity=1.0, diffusion=800.0, max_days=20)
    np.testing.assert_allclose(k.uh.sum(axis=1), 1.0, atol=1e-12)
    area = spherical_cell_area(ds["lat"].values, 0.125, 0.125)
    assert k.sources_of(0).size == 9  # all cells reach the mouth
    np.testing.assert_allclose(k.upstream_area()[0], area.sum(), rtol=1e-12)
    assert k.sources_of(1).size == 6  # rows 1 and 2 drain east, then south through the inner outlet
    far = k.info["distance"]
    lag_mean = (k.uh * np.arange(k.n_lags)).sum(axis=1)
    assert np.corrcoef(far, lag_mean)[0, 1] > 0.95  # farther cells arrive later
    faster = lohmann_kernel(ds, [outlet], fdir, velocity=3.0, max_days=20)
    assert (faster.uh * np.arange(faster.n_lags)).sum(1).mean() < lag_mean[k.source_outlet == 0].mean()


def test_linear_reservoir_kernel_sums_to_one_and_drains_the_basin():
    ds = _grid(2)
    k = linear_reservoir_kernel(ds, [(45.0, -120.0)], k_days=2.0, max_days=40)
    np.testing.assert_allclose(k.uh.sum(axis=1), 1.0, atol=1e-12)
    assert k.uh[0, 0] == pytest.approx((1 - np.exp(-0.5)) / (1 - np.exp(-20)), rel=1e-9)
    r = np.zeros((4, 50))
    r[:, 0] = 10.0
    q = route(k, r, extend=True)
    assert np.nansum(q) * k.dt == pytest.approx(0.01 * k.source_area.sum(), rel=1e-10)


# ---- errors: one line naming the file, source or outlet ----------------------------------------------

@needs_stehekin
def test_source_outside_the_region_is_named():
    ds = _domain_cells()
    ds = ds.isel(cell=ds["lat"].values != 48.5625)  # drop the northern row
    with pytest.raises(RoutingError, match=r"source 0 at \(48\.5625, -120\.9375\) is not a cell of the Region") as e:
        read_rvic(RVIC, ds)
    assert str(RVIC) in str(e.value) and "\n" not in str(e.value)


def test_unit_hydrograph_not_summing_to_one():
    with pytest.raises(RoutingError, match=r"unit hydrograph of source 1 at \(45\.0000, -120\.0000\) sums to 0\.9; "
                                           r"expected 1") as e:
        RoutingKernel(np.array([[0.5, 0.5], [0.6, 0.3]]), [0, 0], [1e6, 1e6], [0, 0], [45.0], [-120.0], ["g"],
                      origin="my.nc", source_lat=np.array([45.0, 45.0]), source_lon=np.array([-120.0, -120.0]))
    assert str(e.value).startswith("my.nc: ")


@needs_stehekin
def test_outlet_without_sources_is_named():
    k = read_rvic(RVIC, _domain_cells())
    k.require_sources([0, 1])
    with pytest.raises(RoutingError, match=r"outlet 'outlet_48\.5625_-120\.6875' \(48\.5625, -120\.6875\) has no sources"):
        k.require_sources([0, 15])


@needs_stehekin
def test_rvic_file_with_an_oversized_unit_hydrograph(tmp_path):
    bad = tmp_path / "bad.rvic.nc"
    shutil.copy(RVIC, bad)
    with xr.open_dataset(RVIC) as ds:
        ds = ds.load()
    ds["unit_hydrograph"][:, 4, 0] = ds["unit_hydrograph"][:, 4, 0] * 3
    ds.to_netcdf(bad)
    with pytest.raises(RoutingError, match=r"bad\.rvic\.nc: unit hydrograph of source 4 at \(48\.4375, -120\.9375\) "
                                           r"sums to 2\.779, 2\.779 times its cell's area"):
        read_rvic(bad, _domain_cells())
    ds.drop_vars("source2outlet_ind").to_netcdf(tmp_path / "short.nc")
    with pytest.raises(RoutingError, match=r"short\.nc: RVIC parameter file lacks variable 'source2outlet_ind'"):
        read_rvic(tmp_path / "short.nc", _domain_cells())


def test_kernel_step_must_divide_the_runoff_step():
    ds = _grid(2)
    k = linear_reservoir_kernel(ds, [(45.0, -120.0)], k_days=1.0, max_days=2, dt=3600.0)
    daily = k.at_step(86400.0)
    np.testing.assert_allclose(daily.uh.sum(1), 1.0)
    assert daily.n_lags == 2
    with pytest.raises(RoutingError, match="unit-hydrograph step 86400 s does not fit the runoff step 3600 s"):
        daily.at_step(3600.0)


def test_a_region_carries_its_own_kernel_through_netcdf(tmp_path):
    from vic_paraformer.region import Region
    from vic_paraformer.routing import routing_of, with_kernel
    from vic_paraformer.synthetic import synthetic_region

    region = synthetic_region(3, 3, years=0.1, seed=1)
    fdir = np.array([[3, 3, 0], [3, 3, 5], [3, 3, 5]]).ravel()
    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    k = lohmann_kernel(region, [("mouth", lat[2], lon[2]), ("inner", lat[5], lon[5])], fdir, max_days=10)
    with pytest.raises(RoutingError, match="no routing kernel stored and no routing file recorded"):
        routing_of(region)
    back = routing_of(Region.open(with_kernel(region, k, flow_direction=fdir).save(tmp_path / "r.nc")))
    for name in ("uh", "source_cell", "source_area", "source_outlet", "outlet_lat", "outlet_lon"):
        np.testing.assert_array_equal(getattr(back, name), getattr(k, name))
    assert back.outlet_name == ["mouth", "inner"] and back.dt == k.dt and back.info["kind"] == "lohmann"
    runoff = np.random.default_rng(0).gamma(1.0, 2.0, (9, 40))
    np.testing.assert_array_equal(route(back, runoff), route(k, runoff))
    # the kernel follows cell ids: reordering the cells routes the same water
    shuffled = Region.open(tmp_path / "r.nc").subset(region.cells[::-1])
    np.testing.assert_allclose(route(routing_of(shuffled), runoff[::-1]), route(k, runoff), rtol=1e-12)
    with pytest.raises(RoutingError, match=r"routing source \d+ drains cell id \d+, which is not a cell of the Region"):
        routing_of(Region.open(tmp_path / "r.nc").subset(region.cells[:4]))
