"""Routing a real VIC run: the Stehekin sample (10 days) run by the image driver, its runoff +
baseflow routed with the sample's RVIC parameter file and with the Lohmann and linear-reservoir
kernels on the same sources, outlets and areas. The figures are logged (``-s`` shows them)."""

from __future__ import annotations

import numpy as np
import pytest

from test_vic_runner import REAL_VIC, SAMPLE, VARS, _params, needs_sample, needs_vic_exe
from vic_paraformer.metrics import kge_components
from vic_paraformer.routing import linear_reservoir_kernel, lohmann_kernel, read_rvic, route
from vic_paraformer.routing.convolve import route_direct
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.importer import region_from_vic

STEHEKIN = SAMPLE / "image/Stehekin/parameters"


@pytest.mark.vic
@needs_sample
@needs_vic_exe
def test_route_a_vic_run_with_rvic_and_the_fallbacks(tmp_path):
    region = region_from_vic(STEHEKIN / "Stehekin_image_test.global.txt", variables=VARS)
    out = VICSimulator(exe=REAL_VIC, workdir=tmp_path / "runs").simulate(region, _params(region))
    runoff = np.asarray(out["runoff"].values, float) + np.asarray(out["baseflow"].values, float)  # mm/day
    assert runoff.shape == (region.n_cells, region.n_days) and np.isfinite(runoff).all() and runoff.sum() > 0
    rvic = read_rvic(STEHEKIN / "stehekin_parameters_01.rvic.prm.Stehekin.20150727.nc", region)
    kernels = {"rvic": rvic, "lohmann": lohmann_kernel(region, None, like=rvic, max_days=10),
               "linear": linear_reservoir_kernel(region, like=rvic, k_days=2.0, max_days=10)}
    q = {name: route(k, runoff) for name, k in kernels.items()}
    np.testing.assert_allclose(q["rvic"], route_direct(rvic, runoff), rtol=1e-10, equal_nan=True)
    used = np.setdiff1d(np.arange(rvic.n_outlets), rvic.outlets_without_sources())
    vol_in = np.bincount(rvic.source_outlet, weights=runoff[rvic.source_cell].sum(1) / 1000 * rvic.source_area,
                         minlength=rvic.n_outlets)
    lines = [f"Stehekin {region.n_days} days, {region.n_cells} cells; outlet 0 mean runoff+baseflow "
             f"{runoff[rvic.source_cell[rvic.source_outlet == 0]].mean():.3f} mm/day"]
    for name, k in kernels.items():
        qe = route(k, runoff, extend=True)
        np.testing.assert_allclose(np.nansum(qe[used], axis=1) * k.dt, vol_in[used], rtol=1e-9)  # all water arrives
        inside = np.nansum(q[name][used], axis=1) * k.dt / vol_in[used]
        lines.append(f"{name:8s} outlet 0 mean Q {np.mean(q[name][0]):8.3f} m3/s, peak {np.max(q[name][0]):8.3f}, "
                     f"share of the volume out within the run: median {np.median(inside):.3f}")
        assert np.isfinite(q[name][used]).all() and (q[name][used] >= 0).all()
    for name in ("lohmann", "linear"):
        c = kge_components(q[name][used], q["rvic"][used])
        lines.append(f"{name} vs rvic over {used.size} outlets: KGE median {np.nanmedian(c['kge']):.3f}, "
                     f"r median {np.nanmedian(c['r']):.3f}, beta median {np.nanmedian(c['beta']):.3f}")
        assert np.nanmedian(c["r"]) > 0  # the same runoff moves both the same way
    print("\n".join(lines))
