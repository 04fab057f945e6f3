"""Every consumer scores with the one Objective: the spotpy cell objective, the DL trainer's minibatch
and validation losses and refinement's verified loss (each checked against the Objective and a hand
formula); and the water-balance reference learns from observed ET only when asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vic_paraformer as vp
from _helpers import undertrained_twin
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.objective import ET_FLOOR, Objective, ObjectiveOptions
from vic_paraformer.parameters import default_parameters
from vic_paraformer.refine import verified_loss
from vic_paraformer.strategies.spotpy_setup import CellObjective

SHIFT = 1000.0


@pytest.fixture(scope="module")
def twin():
    return undertrained_twin()


def _rmse(a, b):
    ok = np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))


def _wb(et, ref, weight=1.0):
    ok = np.isfinite(ref)
    e = np.array([et[i][ok[i]].mean() for i in range(len(et))])
    r = np.array([ref[i][ok[i]].mean() for i in range(len(ref))])
    return weight * float(np.mean(((e - r) / (r + ET_FLOOR)) ** 2))


@pytest.fixture()
def shifted(monkeypatch):
    """Objective.terms with SHIFT added to the total; records every call's total."""
    seen: list[float] = []
    original = Objective.terms

    def terms(self, *args, **kw):
        out = original(self, *args, **kw)
        out["total"] = out["total"] + SHIFT
        seen.append(float(out["total"].detach()))
        return out

    monkeypatch.setattr(Objective, "terms", terms)
    return seen


def test_each_consumer_reports_exactly_the_objectives_value(twin, shifted):
    region, sur = twin
    res = vp.calibrate(region, strategy="sceua", surrogate=sur, seed=0, repetitions=20, ngs=2, n_workers=1)
    assert shifted and all(SHIFT <= v < SHIFT + 1 for v in res.history["best_objective"])
    n = len(shifted)
    res = vp.calibrate(region, strategy="ffn_a", surrogate=sur, seed=0, preset="small", epochs=1,
                       batches_per_epoch=2, progress=False, threads=1)
    assert len(shifted) > n
    assert SHIFT <= res.history["train_loss"][0] < SHIFT + 5 and SHIFT <= res.history["val_loss"][0] < SHIFT + 5
    n = len(shifted)
    run = sur.predict(region, res.values())
    scores = verified_loss(res, run["sm"].values, run["et"].values, region, ref_et=None,
                           loss_days=np.arange(region.n_days) >= sur.warmup)
    assert len(shifted) == n + 1 and scores["loss"] == shifted[-1]


def test_trainer_minibatch_and_validation_losses_are_the_objectives(twin, monkeypatch):
    from vic_paraformer.dl import trainer

    region, sur = twin
    calls: list[tuple] = []
    original = Objective.terms

    def terms(self, sm, obs_sm, **kw):
        out = original(self, sm, obs_sm, **kw)
        calls.append((self, sm.detach().double().numpy().copy(), obs_sm.double().numpy().copy(),
                      {k: (v.detach().double().numpy().copy() if isinstance(v, torch.Tensor) else v)
                       for k, v in kw.items()}, float(out["total"].detach())))
        return out

    monkeypatch.setattr(Objective, "terms", terms)
    val_seen: list[float] = []
    original_val = trainer._validation_loss
    monkeypatch.setattr(trainer, "_validation_loss", lambda *a, **k: val_seen.append(original_val(*a, **k))
                        or val_seen[-1])
    res = vp.calibrate(region, strategy="ffn_a", surrogate=sur, seed=0, preset="small", epochs=1,
                       batches_per_epoch=3, progress=False, threads=1, prior_weight=0.05)
    batch = [c for c in calls if c[0].range_boundary]
    assert len(batch) == 3
    # the minibatch loss the trainer optimises and reports is the Objective's value
    assert res.history["train_loss"][0] == pytest.approx(np.mean([c[-1] for c in batch]), rel=1e-6)
    assert res.history["val_loss"] == val_seen
    # ... and that value is the documented formula: RBL + RMSE + water-balance + prior
    obj, sm, obs, kw, total = batch[0]
    u = kw["u"]
    rbl = np.mean([5 * np.maximum(r - 1, 0).sum() / (0.01 + (r > 1).sum())
                   + 5 * np.maximum(-r, 0).sum() / (0.01 + (r < 0).sum()) for r in u])
    hand = rbl + np.sqrt(np.mean((sm - obs)[np.isfinite(obs)] ** 2) + 1e-12) + _wb(kw["wb_et"], kw["ref_et"]) \
        + 0.05 * np.mean((u - kw["prior_u"]) ** 2)
    assert total == pytest.approx(hand, rel=1e-5)


def test_validation_loss_by_hand():
    from vic_paraformer.dl.trainer import _validation_loss

    rng = np.random.default_rng(3)
    full = np.stack([rng.uniform(0.1, 0.3, (2, 60)), rng.uniform(1, 3, (2, 60))], -1)
    obs, obs_et = rng.uniform(0.1, 0.3, (2, 60)), rng.uniform(1, 3, (2, 60))
    held = np.zeros(60, bool)
    held[40:50] = True
    ref = np.full((2, 60), 2.0)
    u, prior = rng.uniform(0, 1, (2, 5)), np.full((2, 5), 0.5)
    obj = Objective(ObjectiveOptions(objective="sm+et", prior_weight=0.1), sm_scale=0.05, et_scale=0.5,
                    range_boundary=True)
    got = _validation_loss(obj, full, u, None, obs, held, 10, ref, obs_et, prior)
    hand = (_rmse(full[..., 0][:, held], obs[:, held]) / 0.05 + _rmse(full[..., 1][:, held], obs_et[:, held]) / 0.5
            + _wb(full[..., 1][:, 10:], ref[:, 10:]) + 0.1 * np.mean((u - prior) ** 2))
    assert got == pytest.approx(hand, rel=1e-12)


def test_spotpy_cell_objective_is_the_objective():
    rng = np.random.default_rng(4)
    space = vp.ParameterSpace.resolve(None)
    t = 80
    days = np.arange(t) >= 20
    out = {"sm": rng.uniform(0.1, 0.3, t), "et": rng.uniform(1, 3, t), "runoff": rng.uniform(0, 1, t),
           "baseflow": rng.uniform(0, 1, t)}
    obs_sm = np.where(rng.random(t) < 0.3, np.nan, 0.6 * out["sm"] + 0.02 + 0.01 * rng.standard_normal(t))
    mask = np.isfinite(obs_sm) & days
    obs_et, ref, prec = rng.uniform(1, 3, t), np.full(t, 2.0), rng.uniform(0, 8, t)
    theta = space.midpoint() * 1.1
    prior = np.full(space.n, 0.4)
    opts = ObjectiveOptions(obs_operator="linear", objective="sm+et", prior_weight=0.2, et_weight=0.5)
    obj = Objective(opts, sm_scale=0.04, et_scale=0.6)
    cell = CellObjective(objective=obj, loss_days=days, ref_et=ref, ref_q_ratio=0.3, prec=prec, obs_et=obs_et,
                         prior_u=prior, space=space)
    got = cell.value(out, mask, obs_sm[mask], theta)
    u = np.asarray(space.normalize(theta), float)
    direct = obj.value(out["sm"][mask][None], obs_sm[mask][None], et=out["et"][days][None],
                       obs_et=obs_et[days][None], wb_et=out["et"][days][None], ref_et=ref[days][None],
                       runoff=out["runoff"][days][None], baseflow=out["baseflow"][days][None],
                       prec=prec[days][None], ref_q_ratio=[0.3], u=u[None], prior_u=prior[None])
    assert got == direct
    # by hand: the linear operator by least squares (l2 is tiny), the ET term, water balance, runoff ratio, prior
    s, o = out["sm"][mask], obs_sm[mask]
    m = np.array([[np.mean(s * s) + 1e-4, np.mean(s)], [np.mean(s), 1 + 1e-4]])
    a, b = np.linalg.solve(m, [np.mean(s * o) + 1e-4, np.mean(o)])
    q = (out["runoff"][days].sum() + out["baseflow"][days].sum()) / prec[days].sum()
    hand = (_rmse(a * s + b, o) / 0.04 + 0.5 * _rmse(out["et"][days], obs_et[days]) / 0.6
            + _wb(out["et"][days][None], ref[days][None]) + (q - 0.3) ** 2 + 0.2 * np.mean((u - prior) ** 2))
    assert got == pytest.approx(hand, rel=1e-10)


def test_verified_loss_scores_every_calibrated_term(twin):
    region, sur = twin
    space = sur.parameter_space
    d_vals, _ = default_parameters(region, space)
    values = np.asarray(space.denormalize(np.clip(np.asarray(space.normalize(d_vals)) + 0.1, 0, 1)), float)
    params = space.to_dataset(values, region.cells)
    options = {"objective": "sm+et", "prior_weight": 0.3, "et_weight": 2.0, "loss": "wb"}
    res = CalibrationResult(params=params, strategy="x", parameter_space=space, options=options,
                            train_cells=region.training_cells)
    run = sur.predict(region, values)
    sm, et = run["sm"].values.astype(float), run["et"].values.astype(float)
    days = np.arange(region.n_days) >= 30
    ref = et * 1.1
    got = verified_loss(res, sm, et, region, ref_et=ref, loss_days=days)
    rows = np.flatnonzero(np.isin(region.cells, region.training_cells))
    o_sm, o_et = region.observations("obs_sm")[rows][:, days], region.observations("obs_et")[rows][:, days]
    s_sm = np.std(o_sm[np.isfinite(o_sm)])
    s_et = np.std(o_et[np.isfinite(o_et)])
    u = np.asarray(space.normalize(values[rows]), float)
    p = np.asarray(space.normalize(d_vals[rows]), float)
    hand = (_rmse(sm[rows][:, days], o_sm) / s_sm + 2.0 * _rmse(et[rows][:, days], o_et) / s_et
            + _wb(et[rows][:, days], ref[rows][:, days]) + 0.3 * np.mean((u - p) ** 2))
    assert got["loss"] == pytest.approx(hand, rel=1e-10)
    assert got["prior"] > 0 and got["et_rmse"] > 0  # the terms that were once dropped
    # the default candidate is scored with its own parameters: no prior term
    assert verified_loss(res, sm, et, region, ref_et=ref, loss_days=days, values=d_vals)["prior"] == 0.0


@pytest.mark.parametrize("strategy, options", [
    ("sceua", {"repetitions": 40, "ngs": 2, "n_workers": 1}),
    ("ffn_a", {"preset": "small", "epochs": 2, "batches_per_epoch": 3, "progress": False, "threads": 1}),
])
def test_objective_sm_learns_from_observed_et_only_when_asked(twin, strategy, options):
    region, sur = twin
    assert np.isfinite(region.observations("obs_et")[[0, 4, 8]]).sum(1).min() >= 30
    rng = np.random.default_rng(0)
    perturbed = region.ds.copy()
    perturbed["obs_et"] = perturbed["obs_et"] * 1.6 + rng.uniform(0, 0.5, perturbed["obs_et"].shape)
    other = vp.Region(perturbed, validate=False).with_training_cells([0, 4, 8])

    def run(r, **kw):
        res = vp.calibrate(r, strategy=strategy, surrogate=sur, seed=0, objective="sm", **options, **kw)
        return res.values(), res.info["wb_reference"]

    a, ref_a = run(region)
    b, _ = run(other)
    assert ref_a["kind"] == "default" and "observed" not in ref_a["description"]
    np.testing.assert_array_equal(a, b)
    c, ref_c = run(region, wb_reference="observed")
    d, _ = run(other, wb_reference="observed")
    assert ref_c["kind"] == "observed" and ref_c["cells_observed"] == 3
    assert not np.array_equal(c, d)
