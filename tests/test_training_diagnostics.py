"""Training that says when it learned nothing: the DL trainer's and the surrogate's diagnostics.

Each diagnostic fires on a constructed case (arrays made to show it, a network whose learning rate
is ~0, a surrogate cut off after two epochs) and none fires on a run that learns. The quick start's
own setup (16 x 16 twin, DAS-S4, ParaFormer-Z, surrogate preset ``demo``) is
``test_no_diagnostic_on_the_quick_start`` (marked slow, ~3 CPU-minutes); the default suite runs the
same options on a reduced twin (fewer epochs).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from vic_paraformer.dl.diagnostics import (CENTRE_TOLERANCE, MIN_PARAMETER_SPREAD, START_TOLERANCE, check_training)
from vic_paraformer.registry import get_calibrator
from vic_paraformer.surrogate.train import STILL_IMPROVING_FALL, training_diagnostics

from _dl_fakes import FakeSurrogate, twin_region

NAMES = ["infilt", "Ds", "Dsmax", "Ws", "expt"]
FAST = dict(preset="small", window=50, epochs=15, batch_size=16, batches_per_epoch=3, progress=False, loss="paper")


def _codes(diagnostics) -> list[str]:
    return [d["code"] if isinstance(d, dict) else d.code for d in diagnostics]


def _check(**kw):
    rng = np.random.default_rng(0)
    learned = rng.random((12, 5))
    base = dict(name="net", best_epoch=6, epochs_run=10, monitored="validation loss", parameter_names=NAMES,
                u_cells=learned, attributes=rng.standard_normal((12, 3)), u_start=np.full((4, 5), 0.5),
                u_end=learned[:4], start="random")
    return _codes(check_training(**{**base, **kw}))


def test_each_dl_diagnostic_fires_on_a_constructed_case_and_only_then():
    rng = np.random.default_rng(1)
    assert _check() == []
    # best epoch first: only when more than one epoch ran
    assert _check(best_epoch=1) == ["best_epoch_first"]
    assert _check(best_epoch=1, epochs_run=1) == []
    # one parameter set for every cell, while the attributes vary; not when the attributes are all the same
    flat = 0.3 + (MIN_PARAMETER_SPREAD / 2) * rng.standard_normal((12, 5)).clip(-1, 1)
    assert _check(u_cells=flat) == ["uniform_parameters"]
    assert _check(u_cells=flat, attributes=np.ones((12, 3))) == []
    assert _check(u_cells=flat[:1], attributes=np.ones((1, 3))) == []  # one cell: no spread to judge
    one_varies = flat.copy()
    one_varies[:, 2] = rng.random(12)
    assert _check(u_cells=one_varies) == []
    # output where it started (prior or random start)
    start = rng.random((4, 5))
    assert _check(u_start=start, u_end=start + START_TOLERANCE / 2) == ["output_at_start"]
    assert _check(u_start=start, u_end=start + 2 * START_TOLERANCE) == []
    # every parameter of every cell at the centre of its bounds (what an untrained network gives)
    centre = 0.5 + (CENTRE_TOLERANCE / 2) * rng.uniform(-1, 1, (12, 5))
    assert "output_at_centre" in _check(u_cells=centre)
    centre[3, 1] = 0.5 + 2 * CENTRE_TOLERANCE
    assert "output_at_centre" not in _check(u_cells=centre)


def test_messages_name_what_to_change():
    rng = np.random.default_rng(2)
    (d,) = check_training(name="ParaFormer", best_epoch=1, epochs_run=4, monitored="validation loss",
                          parameter_names=NAMES, u_cells=rng.random((3, 5)), attributes=rng.random((3, 2)),
                          u_start=np.zeros((2, 5)), u_end=np.ones((2, 5)), start="prior")
    assert d.code == "best_epoch_first" and "patience" in d.message and "ParaFormer" in d.message
    assert d.to_dict() == {"code": "best_epoch_first", "message": d.message,
                           "values": {"best_epoch": 1, "epochs_run": 4, "monitored": "validation loss"}}
    (d,) = check_training(name="x", best_epoch=3, epochs_run=4, monitored="training loss", parameter_names=NAMES,
                          u_cells=np.full((3, 5), 0.2), attributes=rng.random((3, 2)), u_start=np.zeros((2, 5)),
                          u_end=np.ones((2, 5)), start="prior")
    assert d.code == "uniform_parameters" and "start=random" in d.message
    assert set(d.values["spread"]) == set(NAMES)


@pytest.fixture(scope="module")
def twin():
    return twin_region(ny=4, nx=4, days=150, untrained=2)


def test_a_network_that_learns_nothing_is_recorded_and_warned(twin, caplog, tmp_path):
    """A learning rate of ~0: best epoch 1, the output where it started, at the centre, one set for all cells."""
    kw = {**FAST, "epochs": 3, "optimizer": "adam", "lr": 1e-12}
    with caplog.at_level(logging.WARNING):
        res = get_calibrator("paraformer_z", surrogate=FakeSurrogate(), seed=0, **kw).calibrate(twin)
    codes = _codes(res.info["training_diagnostics"])
    assert codes == ["best_epoch_first", "uniform_parameters", "output_at_start", "output_at_centre"], codes
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for d in res.info["training_diagnostics"]:
        assert d["message"] in warned
        assert set(d) == {"code", "message", "values"}
    from vic_paraformer.result import CalibrationResult

    assert CalibrationResult.open(res.save(tmp_path / "r.nc")).info["training_diagnostics"] == \
        res.info["training_diagnostics"]


def test_the_prior_start_alone_is_output_at_start(twin):
    """Start at the default parameters, then nothing learned: the output is the prior's."""
    kw = {**FAST, "epochs": 2, "optimizer": "adam", "lr": 1e-12, "loss": "wb", "start": "prior"}
    res = get_calibrator("ffn_a", surrogate=FakeSurrogate(), seed=0, **kw).calibrate(twin)
    codes = _codes(res.info["training_diagnostics"])
    assert "output_at_start" in codes and "output_at_centre" not in codes, codes


def test_a_network_that_learns_gets_no_diagnostic(twin):
    res = get_calibrator("paraformer_a", surrogate=FakeSurrogate(), seed=3, **FAST).calibrate(twin)
    assert res.info["best_epoch"] > 1
    assert res.info["training_diagnostics"] == []


def test_surrogate_still_improving_at_its_cap():
    fell = {"val_loss": [1.0, 0.6, 0.5]}
    (d,) = training_diagnostics(fell, best_epoch=2)
    assert d["code"] == "still_improving" and "--epochs" in d["message"] and d["values"]["epochs"] == 3
    assert d["values"]["last_fall"] == pytest.approx(0.1 / 0.6)
    flat_end = {"val_loss": [1.0, 0.6, 0.6 * (1 - STILL_IMPROVING_FALL / 2)]}
    assert training_diagnostics(flat_end, best_epoch=2) == []          # annealed to a finish
    assert training_diagnostics(fell, best_epoch=1) == []              # best epoch not the last
    assert training_diagnostics({"val_loss": [1.0]}, best_epoch=0) == []


def test_surrogate_cut_short_is_recorded_saved_and_shown_by_evaluate(synthetic_tiny, tmp_path, capsys):
    from vic_paraformer.cli.main import main
    from vic_paraformer.surrogate import Surrogate

    region_nc = synthetic_tiny.save(tmp_path / "region.nc")
    out = tmp_path / "s.pt"
    rc = main(["surrogate", "train", "--region", str(region_nc), "--samples", "8", "--out", str(out), "--preset",
               "test", "--epochs", "2", "--hidden", "8", "--threads", "1", "--seed", "3", "--no-progress"])
    assert rc == 0
    assert "training was still improving" in capsys.readouterr().err  # the CLI shows the warning
    sur = Surrogate.load(out)
    assert _codes(sur.info["training_diagnostics"]) == ["still_improving"]
    rc = main(["surrogate", "evaluate", "--surrogate", str(out), "--region", str(region_nc), "--samples", "1"])
    assert rc == 0 and "warning (surrogate training): surrogate: the best validation loss" in capsys.readouterr().out


def _quick_start(ny: int, nx: int, surrogate_preset: str, **options):
    """The README quick start's experiment (twin of 3 years, surrogate and ParaFormer-Z on the first two,
    DAS-S4 training cells, seed 0, default options unless ``options``) on an ``ny x nx`` twin."""
    import vic_paraformer as vp
    from vic_paraformer.benchmark import periods
    from vic_paraformer.surrogate import train_surrogate

    region = vp.synthetic_region(ny=ny, nx=nx, years=3, seed=0)
    train, _ = periods(region, train_years=2)
    cal = region.sel_time(*train).with_training_cells(region.spatial_split(4).train)
    surrogate = train_surrogate(region.sel_time(*train), simulator="waterbalance", preset=surrogate_preset, seed=0,
                                progress=False, num_threads=1)
    result = vp.calibrate(cal, strategy="paraformer_z", surrogate=surrogate, seed=0, threads=1, **options)
    return surrogate.info["training_diagnostics"], result.info["training_diagnostics"], result


def test_no_diagnostic_on_a_reduced_quick_start():
    """The quick start's options on an 8 x 8 twin (4 training cells), with the surrogate preset 'test' and
    8 of ParaFormer-Z's 20 epochs (the full 20 took 5 minutes on the shared machine)."""
    sur_diag, dl_diag, result = _quick_start(8, 8, "test", epochs=8)
    assert sur_diag == [] and dl_diag == [], (sur_diag, dl_diag)
    assert result.info["best_epoch"] > 1


@pytest.mark.slow
def test_no_diagnostic_on_the_quick_start():
    """The quick start itself: 16 x 16 twin, surrogate preset 'demo' (~3 CPU-minutes)."""
    sur_diag, dl_diag, result = _quick_start(16, 16, "demo")
    assert sur_diag == [] and dl_diag == [], (sur_diag, dl_diag)
