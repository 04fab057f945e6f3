"""Objectives with discharge at gauges: weighted combinations of sm, et and q, the discharge term
(KGE, NSE, log-NSE) and gradients through a routed surrogate to a parameter network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vic_paraformer import metrics
from vic_paraformer.objective import (Objective, ObjectiveError, ObjectiveOptions, check_objective, discharge_term,
                                      objective_weights)
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.region import make_region
from vic_paraformer.routing import RoutingKernel
from vic_paraformer.routing.torch_route import TorchRouter
from vic_paraformer.surrogate import Normalization, Surrogate, SurrogateConfig


@pytest.mark.parametrize("given, canonical, weights", [
    ("sm", "sm", {"sm": 1.0}),
    ("SM + ET", "sm+et", {"sm": 1.0, "et": 1.0}),
    ("q+sm", "sm+q", {"sm": 1.0, "q": 1.0}),
    ("sm:1,et:0.5,q:1", "sm:1,et:0.5,q:1", {"sm": 1.0, "et": 0.5, "q": 1.0}),
    ("sm:1,q:1", "sm+q", {"sm": 1.0, "q": 1.0}),
    ("sm:0,q:2", "sm:0,q:2", {"sm": 0.0, "q": 2.0}),
])
def test_objective_takes_weighted_combinations(given, canonical, weights):
    assert check_objective(given) == canonical
    assert objective_weights(canonical) == weights
    o = ObjectiveOptions(objective=given)
    assert o.objective == canonical and o.uses_q == ("q" in weights) and o.uses_et == ("et" in weights)


@pytest.mark.parametrize("bad", ["q", "sm+runoff", "sm+sm", "sm:x", "sm:-1", "sm:", "sm+et:inf"])
def test_invalid_objectives_are_named(bad):
    with pytest.raises(ObjectiveError, match="objective"):
        ObjectiveOptions(objective=bad)


def test_discharge_term_hand_checked():
    obs = np.array([[1.0, 2.0, 3.0, 4.0, np.nan], [2.0, 2.0, 4.0, 4.0, 3.0]])
    sim = np.array([[1.5, 2.5, 2.5, 5.0, 9.0], [2.0, 3.0, 3.0, 4.0, 3.0]])
    # gauge 0 by hand (the NaN day left out): means 2.875 / 2.5, population std sqrt(1.2969) / sqrt(1.25)
    s, o = sim[0, :4], obs[0, :4]
    r = np.corrcoef(s, o)[0, 1]
    alpha, beta = s.std() / o.std(), s.mean() / o.mean()
    kge0 = 1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)
    assert abs(beta - 1.15) < 1e-12
    k = metrics.kge(sim, obs)
    assert k[0] == pytest.approx(kge0, abs=1e-12)
    t = torch.as_tensor
    assert float(discharge_term(t(sim), t(obs), "kge")) == pytest.approx(np.mean(1 - k), abs=1e-12)
    assert float(discharge_term(t(sim), t(obs), "nse")) == pytest.approx(np.mean(1 - metrics.nse(sim, obs)), abs=1e-12)
    nse_log = metrics.nse(np.log(sim + 1e-3), np.log(obs + 1e-3))
    assert float(discharge_term(t(sim), t(obs), "lognse")) == pytest.approx(np.mean(1 - nse_log), abs=1e-12)
    # a perfect simulation scores 0; a gauge without 2 observations does not count
    assert float(discharge_term(t(obs[1:]), t(obs[1:]))) == pytest.approx(0.0, abs=1e-12)
    one = obs.copy()
    one[0, 1:] = np.nan
    assert float(discharge_term(t(sim), t(one))) == pytest.approx(1 - k[1], abs=1e-12)


def test_objective_sm_plus_q_adds_the_discharge_term():
    rng = np.random.default_rng(0)
    sm, obs_sm = rng.random((3, 20)), rng.random((3, 20))
    q, obs_q = 1 + rng.random((2, 20)), 1 + rng.random((2, 20))
    obj = Objective(ObjectiveOptions(objective="sm:1,q:0.5", loss="paper"), sm_scale=0.2)
    out = obj.evaluate(sm, obs_sm, q=q, obs_q=obs_q)
    rmse = np.sqrt(np.mean((sm - obs_sm) ** 2))
    assert out["q_loss"] == pytest.approx(np.mean(1 - metrics.kge(q, obs_q)), abs=1e-10)
    assert out["total"] == pytest.approx(rmse / 0.2 + 0.5 * out["q_loss"], abs=1e-10)
    nse = Objective(ObjectiveOptions(objective="sm+q", q_metric="NSE", loss="paper")).evaluate(sm, obs_sm, q=q,
                                                                                                obs_q=obs_q)
    assert nse["q_loss"] == pytest.approx(np.mean(1 - metrics.nse(q, obs_q)), abs=1e-10)
    # 'sm' alone keeps the plain RMSE, as before
    assert Objective(ObjectiveOptions(loss="paper"), sm_scale=0.2).value(sm, obs_sm) == pytest.approx(rmse)
    with pytest.raises(ObjectiveError, match="needs routed discharge"):
        obj.evaluate(sm, obs_sm)


def _region(n=6, days=90, seed=0):
    rng = np.random.default_rng(seed)
    forcing = {"prec": rng.gamma(0.6, 5.0, (n, days)), "air_temp": 10 + 5 * rng.random((n, days)),
               "swdown": 150 + 50 * rng.random((n, days)), "lwdown": 300 + 10 * rng.random((n, days)),
               "pressure": np.full((n, days), 95.0), "vp": 1 + rng.random((n, days)),
               "wind": 2 + rng.random((n, days))}
    return make_region(lat=45 + 0.125 * np.arange(n), lon=np.full(n, -120.0),
                       time=pd.date_range("2015-01-01", periods=days), forcing=forcing,
                       attributes=rng.random((n, 3)), attribute_names=["sand", "clay", "elev"],
                       row=np.arange(n), col=np.zeros(n, int))


def test_gradients_reach_the_parameter_network_through_the_routed_surrogate():
    """A parameter network (attributes -> parameters) drives a frozen surrogate of sm, et, runoff and
    baseflow; runoff + baseflow routed to a gauge and scored by KGE give the network gradients."""
    region = _region()
    torch.manual_seed(0)
    space = ParameterSpace.preset("vic")
    f = region.forcing()
    norm = Normalization.fit(f, region.attributes(), np.array([[0.25, 1.5, 0.5, 0.8], [0.35, 2.5, 1.5, 1.2]]),
                             region.forcing_names)
    cfg = SurrogateConfig(n_forcing=f.shape[-1], n_attributes=3, n_parameters=space.n, hidden_size=8, window=60,
                          warmup=10)
    sur = Surrogate(cfg, norm, space, region.forcing_names, region.attribute_names).freeze()
    kernel = RoutingKernel(np.tile([0.5, 0.3, 0.2], (region.n_cells, 1)), np.arange(region.n_cells),
                           np.full(region.n_cells, 1e8), np.zeros(region.n_cells, int), np.array([45.0]),
                           np.array([-120.0]), ["outlet"])
    router = TorchRouter(kernel)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, space.n), torch.nn.Sigmoid())
    x, a = sur.prepare(region)
    y = sur.predict_tensor(x, a, net(a))  # (cells, days, 4)
    r, b = sur.output_index("runoff"), sur.output_index("baseflow")
    q = router(y[..., r] + y[..., b])  # (1 gauge, days), m3/s
    obs_q = q.detach() * 1.3 + torch.linspace(0, 5, region.n_days)
    loss = Objective(ObjectiveOptions(objective="sm+q", loss="paper"))(y[..., 0], y[..., 0].detach() + 0.01,
                                                                          q=q, obs_q=obs_q)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert float(grads[0].abs().sum()) > 0 and float(grads[2].abs().sum()) > 0
    assert all(p.grad is None for p in sur.parameters())  # the surrogate stays frozen


def test_basin_search_refuses_a_discharge_objective_without_gauges():
    from vic_paraformer.errors import StrategyError
    from vic_paraformer.registry import get_calibrator
    from vic_paraformer.synthetic import synthetic_region

    cal = get_calibrator("sceua", objective="sm+q", simulator="waterbalance")  # accepted: per gauged basin
    get_calibrator("dds", objective="sm+q", simulator="waterbalance")
    get_calibrator("mpr", objective="sm+q", simulator="waterbalance")  # its joint search routes the basins
    with pytest.raises(StrategyError, match=r"objective 'sm\+q' fits discharge at gauges, but .* has no gauges \(no 'obs_q'"):
        cal.calibrate(synthetic_region(3, 3, years=0.2))
