"""The four DL strategies (ParaFormer-A/Z, FFN-A, LSTM-Z) trained through a (fake) frozen surrogate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.errors import StrategyError
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.registry import get_calibrator
from vic_paraformer.dl.cell_params import param_window_starts
from vic_paraformer.dl.inputs import InputNormalization
from vic_paraformer.dl.model_file import apply_model, load as load_model

from _dl_fakes import FakeSurrogate, surrogate_rmse, twin_region

STRATEGIES = ["paraformer_a", "paraformer_z", "ffn_a", "lstm_z"]
FAST = dict(preset="small", window=50, epochs=15, batch_size=16, batches_per_epoch=3, progress=False, loss="paper")



@pytest.fixture(scope="module")
def twin():
    return twin_region(ny=4, nx=4, days=150, untrained=2)


@pytest.fixture(scope="module")
def sur():
    return FakeSurrogate()


@pytest.fixture(scope="module")
def results(twin, sur):
    return {name: get_calibrator(name, surrogate=sur, seed=3, **FAST).calibrate(twin) for name in STRATEGIES}


@pytest.mark.parametrize("name", STRATEGIES)
def test_calibrates_every_cell_in_bounds_and_beats_the_midpoint(name, twin, sur, results):
    res = results[name]
    assert isinstance(res, CalibrationResult) and res.strategy == name
    values = res.values()
    assert values.shape == (twin.n_cells, 5)
    assert np.array_equal(res.cells, twin.cells)
    assert res.parameter_space.contains(values)
    assert len(twin.training_cells) == twin.n_cells - 2  # two cells without observations get parameters too
    mid = np.tile(sur.parameter_space.midpoint(), (twin.n_cells, 1))
    loss_mid = surrogate_rmse(sur, twin, mid, twin.training_cells)
    loss_cal = surrogate_rmse(sur, twin, values, twin.training_cells)
    assert loss_cal < 0.8 * loss_mid, (loss_cal, loss_mid)
    n_epochs = res.info["epochs_run"]
    assert len(res.history["train_loss"]) == len(res.history["val_loss"]) == n_epochs >= 1
    assert np.all(np.isfinite(res.history["val_loss"]))
    assert res.n_evaluations >= n_epochs * res.info["batches_per_epoch"] * FAST["batch_size"]
    assert res.info["cell_days"] > res.n_evaluations
    assert res.wall_time > 0 and res.seed == 3
    assert res.options["surrogate"].startswith("FakeSurrogate")


def test_same_seed_same_parameters_other_seed_differs(twin, sur, results):
    for name in ("paraformer_a", "lstm_z"):
        again = get_calibrator(name, surrogate=sur, seed=3, **FAST).calibrate(twin)
        np.testing.assert_array_equal(again.values(), results[name].values())
        assert again.history == results[name].history
    other = get_calibrator("paraformer_a", surrogate=sur, seed=4, **FAST).calibrate(twin)
    assert not np.array_equal(other.values(), results["paraformer_a"].values())


def test_threads_option_is_restored(twin, sur):
    get_calibrator("ffn_a", surrogate=sur, threads=2, **{**FAST, "epochs": 1}).calibrate(twin)
    assert torch.get_num_threads() == 1


def test_caller_rng_state_untouched(twin, sur):
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    get_calibrator("ffn_a", surrogate=sur, seed=0, **{**FAST, "epochs": 1}).calibrate(twin)
    assert torch.equal(torch.rand(3), expected)


def test_surrogate_weights_unchanged(twin, sur):
    before = {k: v.clone() for k, v in sur.state_dict().items()}
    get_calibrator("paraformer_z", surrogate=sur, **{**FAST, "epochs": 1}).calibrate(twin)
    for k, v in sur.state_dict().items():
        assert torch.equal(v, before[k])


def test_missing_or_bad_surrogate_is_a_clear_error(twin, tmp_path):
    cal = get_calibrator("paraformer_a", **FAST)
    assert any("surrogate" in p for p in cal.validate(twin))
    with pytest.raises(StrategyError, match="needs option 'surrogate'|'surrogate' is required"):
        cal.calibrate(twin)
    with pytest.raises(StrategyError, match="not found"):
        get_calibrator("ffn_a", surrogate=tmp_path / "none.pt", **FAST).calibrate(twin)
    with pytest.raises(StrategyError, match="not a Surrogate"):
        get_calibrator("ffn_a", surrogate=object(), **FAST).calibrate(twin)


def test_bad_options_are_rejected():
    with pytest.raises(StrategyError, match="unknown option"):
        get_calibrator("ffn_a", d_model=8)
    with pytest.raises(StrategyError, match="unknown preset"):
        get_calibrator("paraformer_a", preset="huge")
    with pytest.raises(StrategyError, match="unknown optimizer"):
        get_calibrator("lstm_z", optimizer="sgd")
    with pytest.raises(StrategyError, match="epochs must be a positive integer"):
        get_calibrator("paraformer_z", epochs=0)
    with pytest.raises(StrategyError, match="threads"):
        get_calibrator("ffn_a", threads=0)
    with pytest.raises(StrategyError, match="val_fraction"):
        get_calibrator("ffn_a", val_fraction=1.5)
    cal = get_calibrator("paraformer_a", optimizer="adam")
    assert cal.options["lr"] == 3e-4 and cal.options["d_model"] == 128 and cal.options["n_layers"] == 2
    paper = get_calibrator("paraformer_z", preset="paper").options
    assert (paper["d_model"], paper["n_heads"], paper["n_layers"]) == (256, 8, 2)
    assert get_calibrator("lstm_z", preset="paper").options["hidden_size"] == 256
    if not torch.cuda.is_available():  # "auto": the cpu preset without CUDA
        assert get_calibrator("paraformer_z").options["preset"] == "cpu"
        assert get_calibrator("paraformer_z").options["d_model"] == 32
        assert get_calibrator("paraformer_a").options["d_model"] == 128
    with pytest.raises(StrategyError, match="paper_split"):
        get_calibrator("ffn_a", paper_split="das_s2")
    with pytest.raises(StrategyError, match="untrained_cell_obs"):
        get_calibrator("lstm_z", untrained_cell_obs="maybe")
    assert get_calibrator("ffn_a").options["lr"] == 0.5 and get_calibrator("lstm_z").options["lr"] == 1.0
    assert get_calibrator("ffn_a", lr=0.1).options["lr"] == 0.1


def test_parameter_space_adopted_or_checked(twin):
    paper = ParameterSpace.preset("vic")
    custom = ParameterSpace(paper.names, paper.lower, tuple(u * 0.9 for u in paper.upper))
    sur = FakeSurrogate(custom)
    res = get_calibrator("ffn_a", surrogate=sur, **{**FAST, "epochs": 1}).calibrate(twin)
    assert res.parameter_space == custom
    with pytest.raises(StrategyError, match="parameter space"):
        get_calibrator("ffn_a", surrogate=sur, parameter_space="vic", **FAST).calibrate(twin)


def test_window_longer_than_warmup_required(sur):
    short = twin_region(days=6)
    with pytest.raises(StrategyError, match="warm-up"):
        get_calibrator("ffn_a", surrogate=sur, **FAST).calibrate(short)


@pytest.mark.parametrize("name, extra", [(n, {}) for n in STRATEGIES] + [("paraformer_z", {"patch_days": 8})])
def test_model_file_roundtrip_and_apply(name, extra, twin, sur, tmp_path):
    out = tmp_path / "model.pt"
    cal = get_calibrator(name, surrogate=sur, seed=1, model_out=str(out), **{**FAST, "epochs": 2, **extra})
    res = cal.calibrate(twin)
    assert res.info["model_file"] == str(out)
    payload = torch.load(out, weights_only=True)
    assert payload["strategy"] == name and "state_dict" in payload and "versions" in payload
    assert payload["normalization"]["attribute_names"] == twin.attribute_names
    assert all(payload["network"][k] == v for k, v in extra.items())  # e.g. the series tokens' patching
    model = load_model(out)
    assert model.parameter_space == res.parameter_space
    # the saved model gives the calibration's parameters for every cell, whatever batches it streams in
    # (a series network sees every cell's observations; the unobserved cells have none to hide)
    applied = apply_model(out, twin)
    np.testing.assert_allclose(applied.values(), res.values(), rtol=1e-5, atol=1e-6)
    for batch_size in (1, 5, twin.n_cells):
        np.testing.assert_allclose(model.parameters(twin, batch_size=batch_size), res.values(), rtol=1e-5, atol=1e-6)
    assert applied.strategy == name and len(applied.train_cells) == 0
    # new cells: a different region with the same attributes
    other = twin_region(ny=2, nx=3, days=120, seed=7)
    new = apply_model(out, other)
    assert new.values().shape == (6, 5) and new.parameter_space.contains(new.values())
    again = tmp_path / "again.pt"
    cal.save_model(again)
    assert again.exists()


@pytest.mark.parametrize("name", ["ffn_a", "lstm_z"])
def test_a_deep_ensemble_writes_and_saves_its_members_median(name, twin, sur, tmp_path):
    """With ``ensemble=K`` the point values are the members' per-cell median (what ``write-params`` writes
    and ``evaluate`` scores), and the model file holds every member and gives that median again."""
    out = tmp_path / "model.pt"
    res = get_calibrator(name, surrogate=sur, seed=1, model_out=str(out), ensemble=3, ensemble_error=False,
                         **{**FAST, "epochs": 2}).calibrate(twin)
    members = res.uncertainty.members
    assert members.shape[0] == 3 and np.ptp(members, axis=0).max() > 0  # the members differ
    np.testing.assert_allclose(res.values(), np.median(members, axis=0), atol=1e-9)
    np.testing.assert_allclose(res.choose("median").values(), res.values(), atol=1e-9)
    payload = torch.load(out, weights_only=True)
    assert len(payload["member_state_dicts"]) == 2  # members 1 and 2 beside member 0's state_dict
    model = load_model(out)
    assert len(model.members) == 2
    np.testing.assert_allclose(apply_model(out, twin).values(), res.values(), rtol=1e-5, atol=1e-6)


def test_apply_model_errors(tmp_path):
    with pytest.raises(StrategyError, match="not found"):
        apply_model(tmp_path / "x.pt", twin_region(days=30))
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something"}, bad)
    with pytest.raises(StrategyError, match="not written by vic_paraformer, not a DL model file"):
        load_model(bad)
    with pytest.raises(StrategyError, match="run calibrate"):
        get_calibrator("ffn_a").save_model(tmp_path / "m.pt")


def test_untrained_cells_see_all_missing_z(twin):
    train_idx = np.flatnonzero(np.isin(twin.cells, twin.training_cells))
    norm = InputNormalization.fit(twin, train_idx)
    use = np.isin(twin.cells, twin.training_cells)
    use[0] = False  # hide a cell that has observations
    s = norm.series(twin, use)
    assert s.shape == (twin.n_cells, twin.n_days, 9)
    assert np.all(s[0, :, -2:] == 0) and np.all(s[-1, :, -2:] == 0)
    assert s[1, :, -1].sum() == np.isfinite(twin.observations()[1]).sum()


def test_z_models_give_untrained_cells_their_own_parameters(twin, results):
    values = results["paraformer_z"].values()
    assert results["paraformer_z"].info["untrained_cells"].startswith("Z channel fed as all-missing")
    assert np.all(np.isfinite(values[-2:]))
    assert not np.array_equal(values[-1], values[-2])  # attributes/forcing still individualise them


def test_param_window_starts():
    assert param_window_starts(100, 240, 4) == [0]
    assert param_window_starts(300, 100, 3) == [0, 100, 200]
    assert param_window_starts(300, 100, 1) == [0]


def test_observation_operator_learns_a_linear_map(sur):
    region = twin_region(days=150, seed=2)
    obs = region.observations()
    ds = region.ds.assign(obs_sm=(("cell", "time"), 0.7 * obs + 0.05))
    from vic_paraformer.region import Region

    scaled = Region(ds)
    res = get_calibrator("ffn_a", surrogate=sur, seed=0, obs_operator="linear", obs_operator_l2=0.0, optimizer="adam",
                         lr=0.03, **{**FAST, "epochs": 15}).calibrate(scaled)
    op = res.obs_operator
    assert op.kind == "linear" and op.cells.tolist() == [int(c) for c in scaled.training_cells]
    assert len(op.a) == len(op.b) == scaled.training_cells.size
    assert np.mean(op.a) < 0.95  # moved from the identity towards the true a = 0.7
    assert res.info["obs_operator"]["kind"] == "linear"
    off = get_calibrator("ffn_a", surrogate=sur, seed=0, optimizer="adam", lr=0.03,
                         **{**FAST, "epochs": 15}).calibrate(scaled)
    assert "obs_operator" not in off.info and off.obs_operator.is_identity

    def fit(res, with_op):
        x, a = sur.prepare(scaled)
        u = torch.as_tensor(sur.parameter_space.normalize(res.values()), dtype=torch.float32)
        with torch.no_grad():
            sm = sur(x, a, u)[..., 0].numpy().astype(float)
        if with_op:
            sm = res.obs_operator.apply_region(sm, scaled)
        return float(np.sqrt(np.nanmean((sm - scaled.observations())[:, sur.warmup:] ** 2)))

    assert fit(res, True) < fit(off, False)


class _Interrupting(FakeSurrogate):
    def __init__(self, after: int):
        super().__init__()
        self.calls, self.after = 0, after

    def forward(self, x, a, theta_u):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return super().forward(x, a, theta_u)


def test_interrupt_leaves_no_output(twin, tmp_path):
    out = tmp_path / "model.pt"
    with pytest.raises(KeyboardInterrupt):
        get_calibrator("ffn_a", surrogate=_Interrupting(3), model_out=str(out), **FAST).calibrate(twin)
    assert list(tmp_path.iterdir()) == []


def test_result_save_open_roundtrip(results, tmp_path):
    res = results["paraformer_a"]
    path = res.save(tmp_path / "r.nc")
    back = CalibrationResult.open(path)
    np.testing.assert_allclose(back.values(), res.values())
    assert back.history["val_loss"] == pytest.approx(res.history["val_loss"])


@pytest.fixture(scope="module")
def real_twin(synthetic_small):
    """16 cells x 2 years of the synthetic twin; 12 of them are training cells."""
    region = synthetic_small.subset(synthetic_small.cells[::4]).sel_time("2015-04-01", "2017-03-31")
    return region.with_training_cells(region.cells[:12])


@pytest.mark.parametrize("name", STRATEGIES)
def test_real_surrogate_calibration_beats_the_midpoint(name, real_twin, small_surrogate):
    sur, region = small_surrogate, real_twin
    # the twin's obs_et is the truth's ET: the water-balance term may use it (wb_reference="observed");
    # with the default reference (the surrogate at typical parameters) the term pulls towards a guess
    res = get_calibrator(name, surrogate=sur, seed=0, preset="small", epochs=6, batches_per_epoch=6,
                         progress=False, wb_reference="observed").calibrate(region)
    values = res.values()
    assert values.shape == (16, 5) and sur.parameter_space.contains(values)
    assert list(res.train_cells) == list(region.cells[:12])

    def loss(v):
        sm = sur.predict(region, v)["sm"].values[:12, sur.warmup:]
        return float(np.sqrt(np.nanmean((sm - region.observations()[:12, sur.warmup:]) ** 2)))

    mid = np.tile(sur.parameter_space.midpoint(), (16, 1))
    assert loss(values) < 0.95 * loss(mid), (loss(values), loss(mid))
    assert res.info["epochs_run"] == 6 and res.n_evaluations == 6 * (6 * 16 + 12)  # train windows + validation cells


def test_paper_preset_carries_the_papers_numbers(caplog):
    """AdaDelta delta scale 0.5, up to 3000 epochs, no hold-out; batch and hidden sizes per model and split."""
    caplog.set_level("WARNING")
    o = get_calibrator("paraformer_z", preset="paper").options
    assert (o["epochs"], o["val_fraction"], o["lr"], o["optimizer"], o["weight_decay"]) == (3000, 0.0, 0.5, "adadelta", 1e-5)
    assert o["patience"] >= o["epochs"] and o["window"] == 240 and o["batch_size"] == 2000
    assert get_calibrator("paraformer_a", preset="paper", paper_split="das_s4").options["batch_size"] == 3600
    for name in ("ffn_a", "lstm_z"):
        s8 = get_calibrator(name, preset="paper").options
        s4 = get_calibrator(name, preset="paper", paper_split="das_s4").options
        assert (s8["batch_size"], s8["hidden_size"], s8["dropout"]) == (300, 256, 0.5)
        assert (s4["batch_size"], s4["hidden_size"]) == (300, 1280)
    if not torch.cuda.is_available():
        assert "GPU-sized" in caplog.text
    assert get_calibrator("lstm_z", preset="paper", epochs=5).options["epochs"] == 5  # explicit options win


def test_progress_bars_are_off_in_library_calls_and_on_under_the_cli_default():
    from vic_paraformer.progress import progress_default

    assert get_calibrator("ffn_a").options["progress"] is False
    with progress_default(True):
        assert get_calibrator("ffn_a").options["progress"] is True
        assert get_calibrator("ffn_a", progress=False).options["progress"] is False
    assert get_calibrator("ffn_a").options["progress"] is False


def test_untrained_cell_obs_changes_only_the_untrained_cells(twin, sur, results, tmp_path):
    region = twin.with_training_cells(twin.training_cells[::2])  # observed cells left untrained
    hidden = get_calibrator("lstm_z", surrogate=sur, seed=0, **FAST).calibrate(region)
    used = get_calibrator("lstm_z", surrogate=sur, seed=0, untrained_cell_obs="use", **FAST).calibrate(region)
    train = np.isin(region.cells, region.training_cells)
    np.testing.assert_array_equal(used.values()[train], hidden.values()[train])
    observed_untrained = ~train & np.isfinite(region.observations()).any(axis=1)
    assert observed_untrained.any()
    assert not np.allclose(used.values()[observed_untrained], hidden.values()[observed_untrained])
    assert used.info["untrained_cells"] == "Z channel fed with their observations"
    out = tmp_path / "m.pt"
    get_calibrator("lstm_z", surrogate=sur, seed=0, model_out=str(out), **FAST).calibrate(twin)
    fed, blind = apply_model(out, twin), apply_model(out, twin, observations=False)
    assert fed.info["observations_fed"] and not blind.info["observations_fed"]
    assert not np.allclose(fed.values(), blind.values())


def test_prior_weight_pulls_towards_the_default_parameters(twin, sur):
    from vic_paraformer.parameters import default_parameters

    space = sur.parameter_space
    d, _ = default_parameters(twin, space)
    rows = np.isin(twin.cells, twin.training_cells)

    def dist(res):
        return float(np.mean((space.normalize(res.values())[rows] - space.normalize(d)[rows]) ** 2))

    kw = {**FAST, "epochs": 10, "optimizer": "adam", "lr": 0.01}
    free = get_calibrator("ffn_a", surrogate=sur, seed=0, **kw).calibrate(twin)
    pulled = get_calibrator("ffn_a", surrogate=sur, seed=0, prior_weight=10.0, **kw).calibrate(twin)
    assert dist(pulled) < 0.5 * dist(free), (dist(pulled), dist(free))
    assert pulled.info["prior_weight"] == 10.0 and "prior_weight" not in free.info
    with pytest.raises(StrategyError, match="prior_weight"):
        get_calibrator("ffn_a", surrogate=sur, prior_weight=-1, **FAST).calibrate(twin)
    with pytest.raises(StrategyError, match="wb_tolerance"):
        get_calibrator("ffn_a", surrogate=sur, wb_tolerance=-0.1, **FAST).calibrate(twin)


def test_wb_loss_starts_at_the_default_parameters_and_paper_loss_does_not(twin, sur):
    from vic_paraformer.parameters import default_parameters

    space = sur.parameter_space
    d = space.normalize(default_parameters(twin, space)[0])
    rows = np.isin(twin.cells, twin.training_cells)
    # a learning rate of ~0 after the start: the result is where the network started
    kw = {**FAST, "epochs": 1, "optimizer": "adam", "lr": 1e-9}
    wb = get_calibrator("paraformer_z", surrogate=sur, seed=0, **{**kw, "loss": "wb", "start": "prior"}).calibrate(twin)
    assert wb.info["start"]["kind"] == "prior" and wb.info["start"]["mse"] < 1e-3
    assert np.abs(space.normalize(wb.values())[rows] - d[rows]).max() < 0.1
    paper = get_calibrator("paraformer_z", surrogate=sur, seed=0, **kw).calibrate(twin)
    assert paper.info["start"] == {"kind": "random"}
    assert np.abs(space.normalize(paper.values())[rows] - d[rows]).max() > 0.1
    with pytest.raises(StrategyError, match="start must be"):
        get_calibrator("ffn_a", surrogate=sur, start="middle", **FAST).calibrate(twin)


def test_auto_start_is_the_prior_only_for_the_wb_loss_on_a_region_with_its_own_parameters():
    from vic_paraformer.dl.trainer import resolve_start

    assert resolve_start("auto", "wb", True) == "prior"
    assert resolve_start("auto", "wb", False) == "random"   # one set of typical values is no per-cell prior
    assert resolve_start("auto", "paper", True) == "random"
    assert resolve_start("random", "wb", True) == "random" and resolve_start("prior", "paper", False) == "prior"
