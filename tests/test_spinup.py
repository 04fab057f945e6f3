"""Spin-up: the first year repeated before the region's first day (waterbalance and, marked vic, VIC)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import vic_paraformer as vp
from vic_paraformer.errors import SimulatorError
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator


def test_waterbalance_spinup_equals_running_the_first_year_before():
    region = vp.synthetic_region(ny=2, nx=2, years=1.5, seed=3)
    theta = region.parameters(prefix="true_")
    spun = WaterBalanceSimulator(device="cpu", spinup_years=2).run_arrays(region, theta)
    plain = WaterBalanceSimulator(device="cpu").run_arrays(region, theta)
    # by hand: a region whose forcing is year 1, year 1, then the whole record
    ds = region.ds
    first = ds.isel(time=slice(0, 365))
    pre = xr.concat([first, first, ds], dim="time", data_vars="minimal", coords="minimal", compat="override")
    pre = pre.assign_coords(time=np.arange(np.datetime64("2000-01-01"), np.datetime64("2000-01-01") + pre.sizes["time"]))
    long = WaterBalanceSimulator(device="cpu").run_arrays(vp.Region(pre, validate=False), theta)
    for k in ("sm", "et", "baseflow"):
        np.testing.assert_allclose(spun[k], long[k][:, 730:], rtol=1e-6, atol=1e-7)
    assert spun["sm"].shape == plain["sm"].shape == (4, region.n_days)
    assert np.abs(spun["sm"][:, 0] - plain["sm"][:, 0]).max() > 1e-4  # it starts somewhere else
    with pytest.raises(SimulatorError, match="spinup_years must be a whole number >= 0, got -1"):
        WaterBalanceSimulator(spinup_years=-1)


SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data"
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
EXE = os.environ.get("VIC_IMAGE_EXE") or shutil.which("vic_image.exe")
needs_vic = pytest.mark.skipif(not (EXE and os.access(EXE, os.X_OK) and WALNUT.is_file()),
                               reason="VIC image driver (VIC_IMAGE_EXE) or the WalnutGulch sample not found")


@pytest.mark.vic
@needs_vic
def test_vic_spinup_through_state_files(tmp_path):
    from vic_paraformer.simulators.vic import VICSimulator
    from vic_paraformer.vic.importer import region_from_vic

    region = region_from_vic(WALNUT, variables={"VIC_SAMPLE_DATA": str(SAMPLE)}, end="2008-03-31")
    params = region.ds[list(vp.ParameterSpace.preset().names)]
    runs = {n: VICSimulator(exe=EXE, workdir=tmp_path, spinup_years=n, keep_runs=(n == 1)).simulate(region, params)
            for n in (0, 1, 2)}
    d01 = np.abs(runs[1]["sm"].values[:, 0] - runs[0]["sm"].values[:, 0]).max()
    d12 = np.abs(runs[2]["sm"].values[:, 0] - runs[1]["sm"].values[:, 0]).max()
    assert d01 > 1e-3 and d12 < d01  # the spin-up moves the start state and converges
    run_dir = Path(runs[1].attrs["vic_run_dir"])
    assert (run_dir / "states" / "spinup1.20080401_00000.nc").is_file()
    text = (run_dir / "global.txt").read_text()
    assert "INIT_STATE " + str(run_dir / "states" / "spinup1.20080401_00000.nc") in text
    for k in ("et", "runoff", "baseflow"):
        assert np.all(np.isfinite(runs[2][k].values))


def test_cli_spinup_defaults_and_conflicts():
    import argparse

    from vic_paraformer.cli._spinup import spinup_years, with_spinup
    from vic_paraformer.config import ConfigError

    none = argparse.Namespace(spinup_years=None)
    assert spinup_years(none, "vic") == 1 and spinup_years(none, "waterbalance") == 0
    assert with_spinup({"dtype": "float32"}, argparse.Namespace(spinup_years=3), "waterbalance") == \
        {"dtype": "float32", "spinup_years": 3}
    with pytest.raises(ConfigError, match="both as --spinup-years"):
        with_spinup({"spinup_years": 2}, argparse.Namespace(spinup_years=3), "vic")
