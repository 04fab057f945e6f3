"""The synthetic twin's river network: flow directions, nested gauges, the stored routing kernel and
true discharge that conserves the truth's runoff + baseflow."""

from __future__ import annotations

import numpy as np
import pytest

from vic_paraformer.errors import RegionError
from vic_paraformer.region import Region
from vic_paraformer.routing import route, routing_of
from vic_paraformer.routing.geometry import cell_areas
from vic_paraformer.routing.network import d8_priority_flood, downstream_index, gauge_basins, place_gauges
from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator
from vic_paraformer.synthetic import synthetic_region, write_synthetic_region


def test_priority_flood_drains_every_cell_to_the_mouth():
    z = np.array([[5.0, 4, 3], [6, 9, 2], [7, 8, 1]])  # a pit-free slope to the south-east corner
    fd = d8_priority_flood(z, mouths="lowest")
    assert fd[2, 2] == 0 and (fd != 0).sum() == 8
    down = downstream_index(fd)
    for i in range(9):  # every path ends at the mouth
        j = i
        while down[j] >= 0:
            j = down[j]
        assert j == 8
    assert fd[1, 2] == 5 and fd[2, 1] == 3  # south and east into the mouth
    edge = d8_priority_flood(z)  # every edge cell an outlet: only the centre drains
    assert (edge != 0).sum() == 1
    gauges = place_gauges(fd, 2)
    assert gauges[0] == 8 and len(gauges) == 2


def test_twin_without_gauges_is_unchanged_and_with_gauges_adds_only_rivers():
    plain = synthetic_region(4, 4, years=0.2, seed=3)
    rivers = synthetic_region(4, 4, years=0.2, seed=3, gauges=2)
    assert "obs_q" not in plain.ds and "routing_uh" not in plain.ds
    for v in plain.ds.data_vars:
        np.testing.assert_array_equal(plain.ds[v].values, rivers.ds[v].values)
    assert rivers.ds["gauge"].values.tolist() == ["G1", "G2"] and rivers.ds["obs_q"].dims == ("gauge", "time")
    with pytest.raises(RegionError, match="gauges must be a whole number >= 0"):
        synthetic_region(4, 4, years=0.2, gauges=-1)


def test_twin_discharge_conserves_the_truths_runoff_and_baseflow(tmp_path):
    write_synthetic_region(tmp_path / "t.nc", 6, 6, years=0.5, seed=1, gauges=3)
    region = Region.open(tmp_path / "t.nc")
    k = routing_of(region)
    basins = gauge_basins(k, region.ds["gauge_outlet"].values, region.n_cells)
    assert basins.ungauged.size == 0 and sum(c.size for c in basins.cells) == region.n_cells  # one catchment
    assert basins.upstream[-1].size == region.n_cells  # the last (most downstream) gauge drains everything
    truth = region.parameters(prefix="true_")
    out = WaterBalanceSimulator(dtype="float64").run_arrays(region, truth)
    total = out["runoff"].astype(float) + out["baseflow"].astype(float)
    routed = route(k, total, extend=True)  # with the kernel's tail: every drop arrives
    area = cell_areas(region.ds)
    np.testing.assert_allclose(routed[:, :region.n_days], region.ds["true_q"].values, rtol=1e-5)
    for o in range(k.n_outlets):
        cells = np.unique(k.source_cell[k.source_outlet == o])
        volume_in = (total[cells].sum(1) / 1000.0 * area[cells]).sum()  # m3
        np.testing.assert_allclose(routed[o].sum() * 86400.0, volume_in, rtol=1e-9)
    obs = region.ds["obs_q"].values
    ratio = obs / region.ds["true_q"].values
    assert 0.02 < np.std(np.log(ratio)) < 0.08  # the clean twin's 5 % gauge error
