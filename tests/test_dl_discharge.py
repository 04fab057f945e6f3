"""The regional DL strategies calibrating on discharge at gauges through the routed surrogate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vic_paraformer.errors import StrategyError
from vic_paraformer.objective import Objective, ObjectiveOptions
from vic_paraformer.registry import get_calibrator
from vic_paraformer.region import Region
from vic_paraformer.routing import lohmann_kernel, route_region
from vic_paraformer.routing.discharge import DischargeRecord
from vic_paraformer.routing.gauges import attach_discharge, routing_of

from _dl_fakes import FakeSurrogate, true_u, twin_region

DSMAX = 2  # position of Dsmax in the 'vic' parameter space
FAST = dict(preset="small", window=60, epochs=12, batch_size=8, batches_per_epoch=4, progress=False, loss="paper",
            val_fraction=0.0)


class RunoffFakeSurrogate(FakeSurrogate):
    """The fake surrogate with runoff and baseflow: sm does not depend on Dsmax (as a surface probe hardly
    sees the baseflow parameters), baseflow is driven by it and runoff by infilt (mm/day)."""

    output_names = ("sm", "et", "runoff", "baseflow")

    def output_index(self, name):
        return self.output_names.index(name)

    def require_outputs(self, names, purpose=""):
        pass

    def predict_tensor(self, x, a, theta_u):
        return self(x, a, theta_u)

    def forward(self, x, a, theta_u):
        z = torch.tanh(x @ self.w)
        u = theta_u.unsqueeze(1)
        s = z * (0.5 + u[..., 0]) + 2 * (u[..., 1] - 0.5) + (u[..., 3] - 0.5) * z
        sm = 0.1 + 0.3 * torch.sigmoid(s)
        runoff = (1.0 + u[..., 0]) * torch.nn.functional.softplus(2 * x[..., 0])
        baseflow = 0.2 + 3.0 * u[..., DSMAX] * torch.sigmoid(2 * z + a[:, None, 1:2].squeeze(-1))
        return torch.stack([sm, 2 * sm, runoff, baseflow], dim=-1)


def gauged_twin(ny: int = 4, nx: int = 4, days: int = 160, seed: int = 0) -> Region:
    """A twin whose columns drain south to one gauge each (Lohmann kernel), with obs_q the fake surrogate's
    runoff + baseflow at the true parameters, routed."""
    region = twin_region(ny=ny, nx=nx, days=days, seed=seed)
    sur = RunoffFakeSurrogate()
    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    row = region.ds["row"].values
    fdir = np.where(row == 0, 0, 5)  # 5 = south; the bottom row are the outlets
    outlets = [(f"g{c}", float(lat[i]), float(lon[i])) for c, i in enumerate(np.flatnonzero(row == 0))]
    kernel = lohmann_kernel(region, outlets, fdir, max_days=6)
    x, a = sur.prepare(region)
    with torch.no_grad():
        y = sur(x, a, torch.as_tensor(true_u(region.attributes()), dtype=torch.float32)).numpy().astype(float)
    q = route_region(kernel, y[..., 2], y[..., 3])
    rec = DischargeRecord(gauge=[o[0] for o in outlets], time=region.times, q=q, lat=np.array([o[1] for o in outlets]),
                          lon=np.array([o[2] for o in outlets]), source="twin discharge")
    return attach_discharge(region, rec, kernel)


@pytest.fixture(scope="module")
def qtwin():
    return gauged_twin()


@pytest.fixture(scope="module")
def qsur():
    return RunoffFakeSurrogate()


def _trainer_parts(region, sur, objective="sm:0,q:1", q_cells=256, **kw):
    """The training run's discharge step, built as the trainer builds it."""
    from vic_paraformer.dl.inputs import InputNormalization
    from vic_paraformer.dl.trainer import _discharge_training

    cal = get_calibrator("ffn_a", surrogate=sur, objective=objective, q_cells=q_cells, **{**FAST, **kw})
    c = cal.train_config()
    rows = np.flatnonzero(np.isin(region.cells, region.training_cells))
    norm = InputNormalization.fit(region, rows)
    held = np.zeros(region.n_days, bool)
    qt = _discharge_training(region, sur, c, norm, region.training_cells, held, sur.warmup, c.window, region.n_days,
                             "ffn_a", torch.device("cpu"))
    return cal, qt


def test_gradients_reach_the_network_through_the_trainer_and_change_it(qtwin, qsur, monkeypatch):
    """With sm weight 0 and q weight 1 one training step changes the network, through discharge only."""
    import vic_paraformer.dl.trainer as trainer

    snaps = {}
    orig = trainer._start_at_prior

    def spy(net, *a, **k):
        snaps["before"] = {n: p.detach().clone() for n, p in net.named_parameters()}
        snaps["net"] = net
        return orig(net, *a, **k)

    monkeypatch.setattr(trainer, "_start_at_prior", spy)
    opts = {**FAST, "epochs": 1, "batches_per_epoch": 1, "start": "random", "weight_decay": 0.0}

    def moved(objective):
        res = get_calibrator("ffn_a", surrogate=qsur, objective=objective, seed=0, **opts).calibrate(qtwin)
        assert res.info["discharge"]["gauges"] == ["g0", "g1", "g2", "g3"]
        return [n for n, p in snaps["net"].named_parameters() if not torch.equal(p.detach(), snaps["before"][n])]

    assert moved("sm:0,q:1"), "no network weight changed after one step on the discharge term"
    assert not moved("sm:0,q:0")  # the control: the same step without the discharge term moves nothing
    # with sm weight 0 the soil-moisture minibatch carries no gradient: a region without gauges fails instead
    # of training on nothing (the same options)
    no_q = Region(qtwin.ds.drop_vars(["obs_q", "gauge", "gauge_outlet"]), validate=False)
    with pytest.raises(StrategyError, match="no gauges"):
        get_calibrator("ffn_a", surrogate=qsur, objective="sm:0,q:1", **opts).calibrate(no_q)


def test_two_pass_chunks_give_the_single_pass_gradient(qtwin, qsur):
    """A basin larger than q_cells is routed in chunks without gradients, then again with them: the
    network's gradient equals the one-pass gradient of the whole basin."""
    from vic_paraformer.dl.networks import build_network, network_config

    grads = []
    for q_cells in (256, 3):
        cal, qt = _trainer_parts(qtwin, qsur, q_cells=q_cells)
        torch.manual_seed(0)
        net = build_network(network_config("ffn_a", qt.a_net.shape[1], 9, 5, cal.train_config().network))
        net.eval()
        b = qt.batch(net, qsur, [0, 2], 7)
        loss = Objective(ObjectiveOptions(objective="sm:0,q:1", loss="paper"))(
            torch.zeros(1, 3), torch.zeros(1, 3), q=b.q, obs_q=b.obs_q)
        net.zero_grad()
        loss.backward()
        b.backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
        assert b.cells == 8
    assert float(grads[0].abs().sum()) > 0
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_trainer_discharge_loss_equals_the_evaluation_one(qtwin, qsur):
    """One loss: for the same parameters the trainer's discharge (minibatch window and whole-period
    validation) scores as the evaluation path does: surrogate prediction, numpy routing of
    route_region on the Region's own kernel (mm/day x area -> m3/s), the one Objective."""
    from vic_paraformer.dl.networks import build_network, network_config

    cal, qt = _trainer_parts(qtwin, qsur)
    torch.manual_seed(1)
    net = build_network(network_config("ffn_a", qt.a_net.shape[1], 9, 5, cal.train_config().network)).eval()
    obj = Objective(ObjectiveOptions(objective="sm:0,q:1", loss="paper"))
    with torch.no_grad():
        u = net(qt.a_net, None).clamp(0, 1)
    params = np.asarray(qsur.parameter_space.denormalize(u.numpy().astype(float)))
    # evaluation: the surrogate at these parameters over the whole period, routed with numpy
    x, a = qsur.prepare(qtwin)
    with torch.no_grad():
        y = qsur(x, a, torch.as_tensor(qsur.parameter_space.normalize(params), dtype=torch.float32)).numpy()
    q_eval = route_region(routing_of(qtwin), y[..., 2].astype(float), y[..., 3].astype(float))
    obs = qtwin.ds["obs_q"].values
    days = np.arange(qtwin.n_days) >= qt.lo
    ref = obj.evaluate(np.zeros((1, 2)), np.zeros((1, 2)), q=q_eval[:, days], obs_q=obs[:, days])["q_loss"]
    # the trainer's validation path
    q_val = qt.whole_period(net, qsur, 8, 1)
    val = obj.evaluate(np.zeros((1, 2)), np.zeros((1, 2)), q=q_val, obs_q=qt.obs_q_all)["q_loss"]
    assert ref > 0.01
    assert val == pytest.approx(ref, rel=1e-4)
    # the training step's window (routing starts dry at t0; the first lo days are not scored)
    t0 = 20
    b = qt.batch(net, qsur, [0, 1, 2, 3], t0)
    with torch.no_grad():
        step = float(obj(torch.zeros(1, 2), torch.zeros(1, 2), q=b.q, obs_q=b.obs_q))
    win = slice(t0 + qt.lo, t0 + qt.length)
    ref_w = obj.evaluate(np.zeros((1, 2)), np.zeros((1, 2)), q=q_eval[:, win], obs_q=obs[:, win])["q_loss"]
    assert step == pytest.approx(ref_w, rel=1e-4)


def test_region_without_gauges_is_a_clear_error(qsur):
    region = twin_region(ny=3, nx=3, days=80)
    region.source = "plain.nc"
    for name in ("ffn_a", "paraformer_z"):
        with pytest.raises(StrategyError) as err:
            get_calibrator(name, surrogate=qsur, objective="sm+q", **FAST).calibrate(region)
        msg = str(err.value)
        assert "\n" not in msg and name in msg and "'plain.nc'" in msg and "no gauges" in msg and "obs_q" in msg


def test_surrogate_without_runoff_is_refused_naming_the_objective(qtwin):
    with pytest.raises(StrategyError, match=r"strategy 'ffn_a': .*runoff"):
        get_calibrator("ffn_a", surrogate=_NoRunoff(), objective="sm+q", **FAST).calibrate(qtwin)


class _NoRunoff(FakeSurrogate):
    output_names = ("sm", "et")

    def require_outputs(self, names, purpose=""):
        from vic_paraformer.errors import SurrogateError

        raise SurrogateError(f"the surrogate predicts sm, et only (no runoff, baseflow); {purpose} needs them")


def _dsmax_error(res, region) -> float:
    assert np.array_equal(res.cells, region.cells)
    u = np.asarray(res.parameter_space.normalize(res.values()), float)[:, DSMAX]
    return float(np.sqrt(np.mean((u - true_u(region.attributes())[:, DSMAX]) ** 2)))


@pytest.mark.parametrize("name", ["ffn_a", "paraformer_a"])
def test_discharge_moves_dsmax_towards_the_truth(name, qtwin, qsur):
    """The fake surrogate's soil moisture does not see Dsmax; discharge does. Training on sm+q brings
    the normalised Dsmax of every cell markedly closer to the truth than sm alone: RMSE over the cells
    measured 0.255 -> 0.129 (ffn_a), 0.322 -> 0.147 (paraformer_a), 0.322 -> 0.116 (paraformer_z), 0.266 ->
    0.162 (lstm_z); threshold: below 0.6 times sm-only's."""
    opts = {**FAST, "epochs": 25, "lr": 3e-3, "optimizer": "adam"}
    sm = get_calibrator(name, surrogate=qsur, objective="sm", seed=0, **opts).calibrate(qtwin)
    smq = get_calibrator(name, surrogate=qsur, objective="sm+q", seed=0, **opts).calibrate(qtwin)
    e_sm, e_q = _dsmax_error(sm, qtwin), _dsmax_error(smq, qtwin)
    assert e_q < 0.6 * e_sm, (e_sm, e_q)


MPR = dict(repetitions=300, attributes=["clay", "elev"], loss="paper", log_attributes=[])


def test_mpr_calibrates_on_discharge_and_moves_dsmax_towards_the_truth(qtwin, qsur):
    """MPR scores every candidate's routed discharge at the gauges: Dsmax, which the fake surrogate's
    soil moisture does not see, comes closer to the truth with sm+q (normalised RMSE over the cells
    measured 0.556 -> 0.087 with 300 evaluations; threshold below 0.6 times sm-only's)."""
    sm = get_calibrator("mpr", surrogate=qsur, objective="sm", seed=0, **MPR).calibrate(qtwin)
    smq = get_calibrator("mpr", surrogate=qsur, objective="sm+q", seed=0, **MPR).calibrate(qtwin)
    assert smq.info["discharge"]["gauges"] == ["g0", "g1", "g2", "g3"]
    e_sm, e_q = _dsmax_error(sm, qtwin), _dsmax_error(smq, qtwin)
    assert e_q < 0.6 * e_sm, (e_sm, e_q)


def test_mpr_without_gauges_is_a_clear_error(qsur):
    region = twin_region(ny=3, nx=3, days=80)
    region.source = "plain.nc"
    with pytest.raises(StrategyError) as err:
        get_calibrator("mpr", surrogate=qsur, objective="sm:1,q:0.5", **MPR).calibrate(region)
    msg = str(err.value)
    assert "\n" not in msg and "'mpr'" in msg and "plain.nc" in msg and "has no gauges (no 'obs_q'" in msg
