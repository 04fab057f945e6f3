"""Tests of the LSTM surrogate (model, frozen use, checkpoint, training store, training, evaluation).

A small numpy bucket model (:class:`ToyBucket`) stands in for the simulator here so these tests do
not depend on the water-balance simulator; tests against ``waterbalance`` use the conftest
fixture ``small_surrogate``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from vic_paraformer.errors import SurrogateError
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.region import make_region
from vic_paraformer.simulators.base import Simulator, check_params
from vic_paraformer.surrogate import (Normalization, Surrogate, SurrogateConfig, TrainingStore, generate_training_data,
                                      make_split, sample_parameters, train_surrogate)
from vic_paraformer.surrogate.evaluate import evaluate_surrogate, write_report


class ToyBucket(Simulator):
    """One-bucket daily model in numpy: all five parameters and the first attribute matter."""

    name = "toy"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def simulate(self, region, params, *, period=None):
        self.calls += 1
        space = check_params(region, params)
        th = space.from_dataset(params)
        one = th.ndim == 2
        th = th[None] if one else th
        infilt, ds, dsmax, ws, expt = np.moveaxis(th, -1, 0)
        f, att = region.forcing(), region.attributes()
        wmax = 150 * (0.5 + att[:, 0])
        w = 0.5 * wmax * np.ones(th.shape[:2])
        sm = np.empty(th.shape[:2] + (region.n_days,), np.float32)
        et = np.empty_like(sm)
        ro, bfl = np.empty_like(sm), np.empty_like(sm)
        for t in range(region.n_days):
            p = f[:, t, 0]
            pet = np.maximum(0.0, 0.12 * (f[:, t, 1] + 5)) * (f[:, t, 2] / 200)
            frac = np.clip(w / wmax, 0, 1)
            runoff = p * frac ** (1.0 / (infilt * 4 + 0.05))
            e = pet * np.minimum(1.0, frac / ws)
            bf = dsmax * ds * frac + dsmax * (1 - ds) * np.maximum(0, frac - ws) ** 2
            w = np.clip(w + p - runoff - e - bf, 0, wmax)
            sm[..., t] = 0.05 + 0.4 * (w / wmax) ** (1 + expt / 20)
            et[..., t] = e
            ro[..., t], bfl[..., t] = runoff, bf
        dims = ("cell", "time") if one else ("sample", "cell", "time")
        out = {"sm": sm, "et": et, "runoff": ro, "baseflow": bfl}
        return xr.Dataset({k: (dims, v[0] if one else v) for k, v in out.items()},
                          coords={"cell": region.cells, "time": region.times})


class Runner:
    """The ensemble-runner interface (``run(region, params)``) around a simulator."""

    def __init__(self, sim) -> None:
        self.sim = sim

    def run(self, region, params):
        return self.sim.simulate(region, params)


def toy_region(ny=3, nx=4, days=400, seed=0, attribute_names=("sand", "clay", "elev")):
    rng = np.random.default_rng(seed)
    n = ny * nx
    row, col = np.divmod(np.arange(n), nx)
    season = np.sin(2 * np.pi * np.arange(days) / 365.25)
    forcing = {
        "prec": rng.gamma(0.4, 6.0, (n, days)) * (rng.random((n, days)) < 0.35) * (1 + 0.5 * rng.random((n, 1))),
        "air_temp": 10 + 10 * season + 3 * rng.standard_normal((n, days)),
        "swdown": 180 + 80 * season + 30 * rng.random((n, days)),
        "lwdown": 300 + 20 * rng.random((n, days)),
        "pressure": np.full((n, days), 95.0),
        "vp": np.full((n, days), 1.0),
        "wind": 2 + rng.random((n, days)),
    }
    return make_region(lat=45 + 0.125 * row, lon=-120 + 0.125 * col, time=pd.date_range("2015-01-01", periods=days),
                       forcing=forcing, attributes=rng.random((n, len(attribute_names))),
                       attribute_names=list(attribute_names), row=row, col=col)


def untrained(region, hidden=16, window=60, warmup=10, seed=0) -> Surrogate:
    torch.manual_seed(seed)
    space = ParameterSpace.preset("vic")
    f = region.forcing()
    norm = Normalization.fit(f, region.attributes(), np.array([[0.25, 1.5, 0.5, 0.8], [0.35, 2.5, 1.5, 1.2]]),
                             region.forcing_names)
    cfg = SurrogateConfig(n_forcing=f.shape[-1], n_attributes=len(region.attribute_names), n_parameters=space.n,
                          hidden_size=hidden, window=window, warmup=warmup, dropout=0.3, num_layers=2)
    return Surrogate(cfg, norm, space, region.forcing_names, region.attribute_names, simulator="toy",
                     region_fingerprint=region.fingerprint())


@pytest.fixture(scope="module")
def region():
    return toy_region()



# ------------------------------------------------------------------ model and frozen use
def test_forward_shapes_and_physical_units(region):
    sur = untrained(region).freeze()
    x, a = sur.prepare(region)
    assert x.shape == (region.n_cells, region.n_days, 7) and a.shape == (region.n_cells, 3)
    assert x.dtype == torch.float32
    # log1p-normalised forcing is standardised over the data it was fitted on
    assert abs(float(x[..., 0].mean())) < 1e-3 and abs(float(x[..., 0].std()) - 1) < 1e-2
    y = sur(x[:, :50], a, torch.full((region.n_cells, 5), 0.5))
    assert y.shape == (region.n_cells, 50, 4)
    # outputs are mapped back with the stored output statistics
    yn = sur.forward_normalized(x[:, :50], a, torch.full((region.n_cells, 5), 0.5))
    assert torch.allclose(y, yn * sur.output_std + sur.output_mean)
    assert sur.warmup == 10 and sur.parameter_space.names == ("infilt", "Ds", "Dsmax", "Ws", "expt")
    with pytest.raises(SurrogateError, match="expected x"):
        sur(x[:, :50, :3], a, torch.zeros(region.n_cells, 5))


def test_frozen_gradients_reach_theta_and_parameter_net_only(region):
    sur = untrained(region).freeze()
    sur.eval()  # a frozen surrogate keeps its LSTM in training mode (cuDNN RNN backward) with dropout 0
    assert sur.lstm.training and sur.lstm.dropout == 0.0 and sur.dropout.p == 0.0
    assert all(not p.requires_grad for p in sur.parameters())
    x, a = sur.prepare(region)
    before = {k: v.clone() for k, v in sur.state_dict().items()}
    theta_u = torch.full((region.n_cells, 5), 0.4, requires_grad=True)
    sur(x[:, :60], a, theta_u)[..., 0].mean().backward()
    assert theta_u.grad is not None and torch.all(torch.isfinite(theta_u.grad)) and theta_u.grad.abs().sum() > 0
    # a parameter network trained through the frozen surrogate gets gradients; the surrogate does not change
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 5), torch.nn.Sigmoid())
    opt = torch.optim.Adam(list(net.parameters()), lr=0.1)
    for _ in range(3):
        loss = ((sur(x[:, :60], a, net(a))[..., 0] - 0.3) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
        opt.step()
    assert all(p.grad is None for p in sur.parameters())
    for k, v in sur.state_dict().items():
        assert torch.equal(v, before[k]), k
    # deterministic: dropout is really off in the frozen model
    with torch.no_grad():
        assert torch.equal(sur(x[:4, :30], a[:4], theta_u[:4]), sur(x[:4, :30], a[:4], theta_u[:4]))


def test_predict_tiles_long_series_like_windows(region):
    sur = untrained(region, window=60, warmup=10).freeze()
    x, a = sur.prepare(region)
    tu = torch.rand(region.n_cells, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = sur.predict_tensor(x, a, tu)
        assert full.shape == (region.n_cells, region.n_days, 4)
        # the first window is predicted as is; a later day comes from a window where it is past the warm-up
        assert torch.allclose(full[:, :60], sur(x[:, :60], a, tu), atol=1e-6)
        s = sur.tiling_starts(region.n_days)[1]
        assert torch.allclose(full[:, s + 10:s + 60], sur(x[:, s:s + 60], a, tu)[:, 10:], atol=1e-6)
    space = sur.parameter_space
    phys = space.denormalize(tu.numpy().astype(float))
    ds = sur.predict(region, phys, batch_size=5)
    assert set(ds.data_vars) == {"sm", "et", "runoff", "baseflow"} and ds["sm"].dims == ("cell", "time")
    np.testing.assert_allclose(ds["sm"].values, full[..., 0].numpy(), atol=1e-5)
    ds2 = sur.predict(region, space.to_dataset(phys, region.cells))
    np.testing.assert_allclose(ds2["et"].values, ds["et"].values, atol=1e-6)
    with pytest.raises(SurrogateError, match="shape"):
        sur.predict(region, phys[:3])


def test_predict_tensor_reuses_window_stack_only_for_the_same_unchanged_inputs(region):
    sur = untrained(region, window=60, warmup=10).freeze()
    x, a = sur.prepare(region)
    x, a = x[:1].clone(), a[:1].clone()
    u1, u2 = torch.full((1, 5), 0.3), torch.full((1, 5), 0.7)
    with torch.no_grad():
        first = sur.predict_tensor(x, a, u1)
        stacked = sur._window_cache[3]
        again = sur.predict_tensor(x, a, u2)
        assert sur._window_cache[3] is stacked  # same tensors, same version: not stacked again
        torch.testing.assert_close(again, sur.predict_tensor(x.clone(), a.clone(), u2), rtol=0, atol=0)
        x[0, 5:] += 1.0  # an in-place change bumps the version: the cache is not used
        changed = sur.predict_tensor(x, a, u1)
        torch.testing.assert_close(changed, sur.predict_tensor(x.clone(), a.clone(), u1), rtol=0, atol=0)
        assert not torch.equal(changed, first)


def test_presets_budget_in_epochs_never_wall_clock():
    from vic_paraformer.surrogate.train import SURROGATE_PRESETS

    for name, settings in SURROGATE_PRESETS.items():
        assert settings.get("max_time") is None, name
        assert settings["epochs"] >= 1 and settings["steps_per_epoch"] >= 1


def test_checkpoint_of_an_sm_et_surrogate_loads_and_says_what_q_needs(region, tmp_path):
    """A checkpoint written before runoff and baseflow were emulated (2 outputs) still loads and
    predicts sm and et; asking it for runoff/baseflow names the missing outputs and the remedy."""
    new = untrained(region)
    ckpt = new.checkpoint()
    ckpt["config"]["n_outputs"] = 2
    ckpt["output_names"] = ["sm", "et"]
    ckpt["normalization"]["output_mean"] = ckpt["normalization"]["output_mean"][:2]
    ckpt["normalization"]["output_std"] = ckpt["normalization"]["output_std"][:2]
    sd = ckpt["state_dict"]
    sd["head.weight"], sd["head.bias"] = sd["head.weight"][:2], sd["head.bias"][:2]
    sd["output_mean"], sd["output_std"] = sd["output_mean"][:2], sd["output_std"][:2]
    torch.save(ckpt, tmp_path / "old.pt")
    old = Surrogate.load(tmp_path / "old.pt")
    assert old.output_names == ("sm", "et") and new.output_names == ("sm", "et", "runoff", "baseflow")
    ds = old.predict(region.sel_time(None, "2015-03-31"), old.parameter_space.denormalize(np.full(old.parameter_space.n, 0.5)))
    assert set(ds.data_vars) == {"sm", "et"}
    assert new.output_index("baseflow") == 3
    with pytest.raises(SurrogateError, match=r"old\.pt predicts sm, et only \(no runoff, baseflow\); a discharge "
                                             r"\(q\) objective needs .*train a new surrogate"):
        old.require_outputs(("runoff", "baseflow"), "a discharge (q) objective")
    # a checkpoint whose output names and head disagree is refused with a message
    ckpt["output_names"] = ["sm", "et", "runoff"]
    with pytest.raises(SurrogateError, match="outputs"):
        Surrogate.from_checkpoint(ckpt)


def test_checkpoint_round_trip_and_compatibility(region, tmp_path):
    sur = untrained(region).freeze()
    theta = sur.parameter_space.sample(region.n_cells, seed=3)
    before = sur.predict(region, theta)
    path = sur.save(tmp_path / "s.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["simulator"] == "toy" and raw["region_fingerprint"] == region.fingerprint()
    assert raw["attribute_names"] == ["sand", "clay", "elev"] and "torch" in raw["versions"]
    assert raw["parameter_space"]["names"] == ["infilt", "Ds", "Dsmax", "Ws", "expt"]
    loaded = Surrogate.load(path)
    assert loaded.frozen and all(not p.requires_grad for p in loaded.parameters())
    after = loaded.predict(region, theta)
    np.testing.assert_array_equal(before["sm"].values, after["sm"].values)
    np.testing.assert_array_equal(before["et"].values, after["et"].values)
    other = toy_region(attribute_names=("sand", "silt", "elev"))
    with pytest.raises(SurrogateError, match=r"missing \['clay'\], unexpected \['silt'\]"):
        loaded.prepare(other)
    with pytest.raises(SurrogateError, match="attributes"):
        loaded.predict(other, theta)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SurrogateError, match="bad.pt"):
        Surrogate.load(tmp_path / "bad.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(SurrogateError, match="not written by vic_paraformer, not a surrogate checkpoint"):
        Surrogate.load(tmp_path / "other.pt")
    with pytest.raises(SurrogateError, match="not found"):
        Surrogate.load(tmp_path / "missing.pt")


# ------------------------------------------------------------------ data
def test_sample_parameters_shared_and_per_cell():
    space = ParameterSpace.preset("vic")
    shared = sample_parameters(space, 8, 3, seed=1)
    assert shared.shape == (8, 3, 5) and np.array_equal(shared[:, 0], shared[:, 2])
    per = sample_parameters(space, 8, 3, seed=1, per_cell=True)
    assert not np.array_equal(per[:, 0], per[:, 1]) and space.contains(per)
    np.testing.assert_array_equal(per, sample_parameters(space, 8, 3, seed=1, per_cell=True))
    # each cell's samples are a Latin hypercube: one per stratum
    u = space.normalize(per[:, 1])
    assert all(sorted(np.floor(u[:, j] * 8).astype(int)) == list(range(8)) for j in range(5))


def test_store_is_chunked_and_resumable(tmp_path):
    reg = toy_region(ny=2, nx=2, days=80)
    sim = ToyBucket()
    ts = generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                                runner=Runner(sim), progress=False, anchor_share=0)
    assert ts.n_chunks == 3 and ts.complete and sim.calls == 3
    manifest = json.loads((tmp_path / "st" / "manifest.json").read_text())
    assert manifest["n_samples"] == 10 and manifest["region_fingerprint"] == reg.fingerprint()
    theta, y = ts.load()
    assert theta.shape == (10, 4, 5) and y.shape == (10, 4, 80, 4)
    ref = sim.simulate(reg, ts.parameter_space.to_dataset(theta[5], reg.cells))
    np.testing.assert_allclose(y[5, :, :, 0], ref["sm"].values, rtol=1e-6)
    t2, y2 = ts.load(np.array([9, 1]))
    np.testing.assert_array_equal(y2[0], y[9]), np.testing.assert_array_equal(t2[1], theta[1])
    # an interrupted run: one chunk lost -> only that chunk is regenerated, identically
    (tmp_path / "st" / "chunk_00001.nc").unlink()
    assert ts.missing_chunks() == [1]
    ts = generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                                runner=Runner(sim), progress=False, anchor_share=0)
    assert sim.calls == 5 and ts.complete  # 3 + the reference run above + 1 regenerated chunk
    np.testing.assert_array_equal(ts.load()[1], y)
    with pytest.raises(SurrogateError, match="other settings.*seed"):
        generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=3,
                               runner=Runner(sim), progress=False, anchor_share=0)
    with pytest.raises(SurrogateError, match="not a surrogate training store"):
        TrainingStore.open(tmp_path)
    # same names and shape, other forcing values: the store is not reused
    other = toy_region(ny=2, nx=2, days=80, seed=1)
    with pytest.raises(SurrogateError, match="inputs_sha256"):
        generate_training_data(other, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                               runner=Runner(sim), progress=False, anchor_share=0)


def test_store_holds_the_default_run_and_draws_around_it(tmp_path):
    from vic_paraformer.parameters import default_parameters

    reg = toy_region(ny=2, nx=2, days=80)
    sim = ToyBucket()
    ts = generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                                runner=Runner(sim), progress=False, anchor_share=0.3, anchor_sd=0.05)
    # 3 of 10 around the defaults (the first is the default itself), 7 in the hypercube
    assert ts.n_samples == 7 and ts.n_total == 10 and [a["label"] for a in ts.appended] == ["anchor"]
    theta, y = ts.load()
    assert theta.shape == (10, 4, 5) and y.shape == (10, 4, 80, 4)
    space = ts.parameter_space
    d, _ = default_parameters(reg, space)
    np.testing.assert_allclose(theta[7], d, rtol=1e-6)
    dist = np.abs(space.normalize(theta[8:]) - space.normalize(d)[None]).max()
    assert 0 < dist < 0.3  # draws with sd 0.05 around the defaults
    th0, sm0, et0 = ts.default_run()
    ref = sim.simulate(reg, space.to_dataset(d, reg.cells))
    np.testing.assert_allclose(sm0, ref["sm"].values, rtol=1e-5)
    # rerunning is a no-op; asking for another design is an error naming it
    calls = sim.calls
    generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                           runner=Runner(sim), progress=False, anchor_share=0.3, anchor_sd=0.05)
    assert sim.calls == calls
    with pytest.raises(SurrogateError, match="around the default parameters"):
        generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                               runner=Runner(sim), progress=False, anchor_share=0.3, anchor_sd=0.1)
    # a pure hypercube store gains the anchor batch when asked (its hypercube is reused)
    ts0 = generate_training_data(reg, tmp_path / "lhs", simulator="toy", n_samples=7, chunk_size=4, seed=2,
                                 runner=Runner(sim), progress=False, anchor_share=0)
    ts1 = generate_training_data(reg, tmp_path / "lhs", simulator="toy", n_samples=10, chunk_size=4, seed=2,
                                 runner=Runner(sim), progress=False, anchor_share=0.3, anchor_sd=0.05)
    assert ts0.n_total == 7 and ts1.n_total == 10
    np.testing.assert_array_equal(ts1.load()[1], y)
    # appended runs: a new batch after the others, readable by index
    with pytest.raises(SurrogateError, match="lack runoff, baseflow"):
        ts1.append(theta[:2], y[:2, ..., 0], y[:2, ..., 1], label="refinement round 0")
    lo, hi = ts1.append(theta[:2], y[:2, ..., 0], y[:2, ..., 1], label="refinement round 0",
                        outputs={"runoff": y[:2, ..., 2], "baseflow": y[:2, ..., 3]})
    assert (lo, hi) == (10, 12) and TrainingStore.open(tmp_path / "lhs").n_total == 12
    np.testing.assert_array_equal(TrainingStore.open(tmp_path / "lhs").load(np.array([11]))[1][0], y[1])
    with pytest.raises(SurrogateError, match="appended runs must be"):
        ts1.append(theta[:2], y[:2, :, :10, 0], y[:2, :, :10, 1], label="bad",
                   outputs={"runoff": y[:2, :, :10, 2], "baseflow": y[:2, :, :10, 3]})


def test_waterbalance_training_data_in_float32_with_runoff_and_baseflow(synthetic_tiny, tmp_path):
    from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator

    reg = synthetic_tiny.sel_time(None, "2015-06-30")
    ts = generate_training_data(reg, tmp_path / "wb", n_samples=3, chunk_size=3, seed=1, progress=False,
                                anchor_share=0)
    # the spin-up the runs used is recorded with the simulator's options (the stand-in's default: none)
    assert ts.manifest["simulator_options"] == {"dtype": "float32", "spinup_years": 0}
    y = ts.load()[1]
    theta = sample_parameters(ts.parameter_space, 3, reg.n_cells, seed=1)  # the float64 sets it simulated
    ref = WaterBalanceSimulator(device="cpu").simulate(reg, ts.parameter_space.to_dataset(theta, reg.cells,
                                                                                          dims=("sample", "cell")))
    np.testing.assert_allclose(y[..., 0], ref["sm"].values, atol=1e-5)  # float32 run vs the float64 default
    with xr.open_dataset(ts.chunk_path(0)) as ds:
        assert set(ds.data_vars) == {"theta", "sm", "et", "runoff", "baseflow"}
    np.testing.assert_allclose(y[..., 3], ref["baseflow"].values, atol=1e-3)  # baseflow (mm/day) kept for routing
    # an explicit dtype is kept
    ts64 = generate_training_data(reg, tmp_path / "wb64", n_samples=3, chunk_size=3, seed=1, progress=False,
                                  simulator_options={"dtype": "float64"}, anchor_share=0)
    assert ts64.manifest["simulator_options"] == {"dtype": "float64", "spinup_years": 0}
    np.testing.assert_array_equal(ts64.load()[1][..., 0], ref["sm"].values.astype(np.float32))


def test_max_cells_trains_on_a_seeded_subset(synthetic_tiny):
    reg = synthetic_tiny.sel_time(None, "2015-09-30")
    kw = dict(preset="test", n_samples=4, epochs=1, steps_per_epoch=2, batch_size=8, window=60, warmup=10,
              num_threads=1, progress=False, max_cells=6)
    sur = train_surrogate(reg, seed=4, **kw)
    used = sorted(sur.info["train_cells"] + sur.info["val_cells"])
    assert len(used) == 6 and set(used) <= set(reg.cells.tolist())
    assert sorted(train_surrogate(reg, seed=4, **kw).info["train_cells"] + sur.info["val_cells"]) == used
    with pytest.raises(SurrogateError, match="max_cells"):
        train_surrogate(reg, **{**kw, "max_cells": 1})


class InterruptingRunner(Runner):
    """Raises KeyboardInterrupt (Ctrl-C) on its ``stop_at``-th run."""

    def __init__(self, sim, stop_at: int) -> None:
        super().__init__(sim)
        self.n, self.stop_at = 0, stop_at

    def run(self, region, params):
        self.n += 1
        if self.n == self.stop_at:
            raise KeyboardInterrupt
        return super().run(region, params)


def test_interrupted_generation_resumes(tmp_path):
    reg = toy_region(ny=2, nx=2, days=60)
    sim = ToyBucket()
    with pytest.raises(KeyboardInterrupt):
        generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=9, chunk_size=3,
                               runner=InterruptingRunner(sim, stop_at=2), progress=False)
    files = sorted(p.name for p in (tmp_path / "st").iterdir())
    assert files == ["chunk_00000.nc", "inputs.nc", "manifest.json"]  # no partial chunk, no temporary file
    ts = TrainingStore.open(tmp_path / "st")
    assert not ts.complete and ts.missing_chunks() == [1, 2]
    calls = sim.calls
    ts = generate_training_data(reg, tmp_path / "st", simulator="toy", n_samples=9, chunk_size=3,
                                runner=Runner(sim), progress=False)
    assert ts.complete and sim.calls == calls + 3  # the two missing chunks, then the batch around the defaults
    fresh = generate_training_data(reg, tmp_path / "st2", simulator="toy", n_samples=9, chunk_size=3,
                                   runner=Runner(ToyBucket()), progress=False)
    np.testing.assert_array_equal(ts.load()[1], fresh.load()[1])


def test_split_holds_out_samples_and_cells():
    sp = make_split(20, 10, val_samples=0.15, val_cells=0.2, seed=0)
    assert list(sp.val_samples) == [17, 18, 19] and len(sp.val_cells) == 2
    assert not set(sp.val_cells) & set(sp.train_cells) and len(sp.train_cells) == 8
    assert make_split(20, 10, seed=0).val_cells.tolist() == sp.val_cells.tolist()
    tiny = make_split(2, 1)
    assert tiny.val_samples.tolist() == [1] and tiny.train_cells.tolist() == [0] and tiny.val_cells.size == 0


# ------------------------------------------------------------------ training and evaluation
def test_trained_surrogate_beats_the_mean_on_held_out_samples(small_surrogate, synthetic_small, tmp_path):
    sur, region = small_surrogate, synthetic_small
    assert sur.frozen and sur.simulator == "waterbalance" and sur.info["val_cells"]
    hist = sur.info["history"]["val_loss"]
    assert len(hist) >= 2 and min(hist) < hist[0]
    assert len(hist) <= 16  # the "test" preset's budget is 16 epochs, never wall-clock time
    report = evaluate_surrogate(sur, region, n_samples=2, seed=5)
    for group in ("held_out_samples", "held_out_cells"):
        for var in ("sm", "et", "baseflow"):
            assert report["summary"][group][var]["nse"]["median"] > 0.5, (group, var, report["summary"][group])
        assert "runoff" in report["summary"][group]
    paths = write_report(report, tmp_path / "rep")
    data = json.loads(paths["json"].read_text())
    assert data["summary"]["all"]["sm"]["nse"]["n"] == 2 * region.n_cells
    assert paths["timeseries"].stat().st_size > 1000 and paths["cdf"].stat().st_size > 1000
    # a tiny memory budget: the same scores, computed over many cell chunks
    tiny = evaluate_surrogate(sur, region, n_samples=2, seed=5, max_memory_gb=2e-5 * region.n_days / 1000)
    assert tiny["timing"]["chunks"] > 4 and report["timing"]["chunks"] == 1
    assert tiny["summary"] == report["summary"] and tiny["per_cell"] == report["per_cell"]
    np.testing.assert_array_equal(tiny["_series"]["sim"], report["_series"]["sim"])


def test_trained_surrogate_passes_gradients_to_parameters(small_surrogate, synthetic_small):
    sur = small_surrogate
    x, a = sur.prepare(synthetic_small)
    theta_u = torch.full((8, 5), 0.5, requires_grad=True)
    y = sur(x[:8, 100:340], a[:8], theta_u)
    y[:, sur.warmup:, 0].mean().backward()
    g = theta_u.grad
    assert g is not None and torch.all(torch.isfinite(g)) and g.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in sur.parameters())
    # the outputs depend on the parameters (an insensitive surrogate would make calibration impossible)
    sim = sur.predict(synthetic_small, sur.parameter_space.denormalize(np.tile([0.05, .5, .5, .5, .5], (64, 1))))
    sim2 = sur.predict(synthetic_small, sur.parameter_space.denormalize(np.tile([0.95, .5, .5, .5, .5], (64, 1))))
    assert np.isfinite(sim["sm"].values).all() and not np.allclose(sim["sm"].values, sim2["sm"].values)


def test_training_is_seeded_and_writes_checkpoint(region, tmp_path):
    kw = dict(runner=Runner(ToyBucket()), preset="test", n_samples=8, epochs=2, steps_per_epoch=5, progress=False,
              hidden_size=8, num_threads=1)
    a = train_surrogate(region, "toy", seed=4, out=tmp_path / "a.pt", **kw)
    b = train_surrogate(region, "toy", seed=4, **kw)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    loaded = Surrogate.load(tmp_path / "a.pt")
    assert loaded.info["history"] == a.info["history"]
    theta = loaded.parameter_space.midpoint()
    np.testing.assert_array_equal(loaded.predict(region, theta)["sm"].values, a.predict(region, theta)["sm"].values)
    # a store larger than max_memory_gb is trained on group by group, with the same statistics
    c = train_surrogate(region, "toy", seed=4, chunk_size=3, max_memory_gb=1e-9, **kw)
    assert c.normalization.output_mean == pytest.approx(a.normalization.output_mean, rel=1e-6)
    assert c.normalization.output_std == pytest.approx(a.normalization.output_std, rel=1e-5)
    assert len(c.info["history"]["val_loss"]) == 2
    with pytest.raises(SurrogateError, match="unknown surrogate preset"):
        train_surrogate(region, "toy", preset="huge", **{k: v for k, v in kw.items() if k != "preset"})
