"""Surrogate refinement against the simulator (waterbalance; a tiny VIC case marked vic)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import vic_paraformer as vp
from _helpers import undertrained_twin
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.refine import refine


@pytest.fixture(scope="module")
def undertrained():
    return undertrained_twin()


def test_refinement_lowers_the_simulator_verified_loss(undertrained, tmp_path):
    region, sur = undertrained
    # the paper's loss: SM only, so the verified loss is the SM RMSE through the result's operator
    out = refine(region, "sceua", sur, options=dict(repetitions=80, ngs=2, n_workers=1, loss="paper"), rounds=2,
                 n_local=4, fine_tune_steps=150, seed=0, out_dir=tmp_path, patience=2)
    losses = [r["verified_loss"] for r in out.log]
    errs = [r["surrogate_vs_simulator_rmse_sm"] for r in out.log]
    assert len(losses) >= 2 and min(losses[1:]) < 0.8 * losses[0], losses
    assert errs[-1] < errs[0]  # the surrogate got closer to the simulator where it was checked
    assert [r["simulator_runs"] for r in out.log] == [1 + 5 * (k + 1) for k in range(len(out.log))]
    assert out.best_round == int(np.argmin(losses)) and out.best_round > 0
    log = json.loads((tmp_path / "refine_log.json").read_text())
    assert [r["round"] for r in log["rounds"]] == list(range(len(losses)))
    best = CalibrationResult.open(tmp_path / "best.nc")
    assert best.info["refinement"]["round"] == out.best_round
    for k in range(len(losses)):
        assert (tmp_path / f"round_{k}" / "result.nc").is_file() and (tmp_path / f"round_{k}" / "runs.nc").is_file()
    assert sur.frozen  # the caller's surrogate is left as it was (frozen)


def test_defaults_are_a_candidate_and_runs_are_appended_to_the_store(undertrained, tmp_path, caplog):
    from vic_paraformer.parameters import default_parameters
    from vic_paraformer.simulators.waterbalance import WaterBalanceSimulator
    from vic_paraformer.surrogate import TrainingStore, generate_training_data

    region, sur = undertrained
    space = sur.parameter_space
    d, _ = default_parameters(region, space)
    run = WaterBalanceSimulator().simulate(region, space.to_dataset(d, region.cells))
    # observations made by the default parameters themselves: no calibration can beat them
    twin = vp.Region(region.ds.assign(obs_sm=(("cell", "time"), run["sm"].values.astype(np.float32)))
                     ).with_training_cells(region.training_cells)
    store = generate_training_data(twin, tmp_path / "store", n_samples=3, seed=0, progress=False, anchor_share=0)
    out = refine(twin, "sceua", sur, options=dict(repetitions=40, ngs=2, n_workers=1, loss="paper"), rounds=1,
                 n_local=2, fine_tune_steps=20, seed=0, out_dir=tmp_path / "r", patience=2, store=tmp_path / "store")
    assert out.info["beats_default"] is False and out.info["default_kept"] is True and out.best_round == -1
    np.testing.assert_allclose(out.best.values(), d, rtol=1e-6)
    assert out.best.info["refinement"]["default_parameters"]["verified_loss"] < 1e-6
    assert "no calibrated round beat the default parameters" in caplog.text
    assert CalibrationResult.open(tmp_path / "r" / "best.nc").info["refinement"]["default_kept"]
    # every simulator run of every round was appended to the store, labelled by round
    st = TrainingStore.open(tmp_path / "store")
    assert [a["label"] for a in st.appended] == ["refinement round 0", "refinement round 1"]
    assert st.n_total == store.n_samples + 2 * 3
    theta, y = st.load(np.arange(store.n_samples, st.n_total))
    runs = __import__("xarray").open_dataset(tmp_path / "r" / "round_0" / "runs.nc")
    np.testing.assert_allclose(y[:3, ..., 0], runs["sm"].values, rtol=1e-6)
    assert (tmp_path / "r" / "surrogate.pt").is_file()
    # keep_default=False: the best calibrated round is returned, flagged
    out2 = refine(twin, "sceua", sur, options=dict(repetitions=40, ngs=2, n_workers=1, loss="paper"), rounds=0,
                  n_local=0, seed=0, keep_default=False)
    assert out2.best_round == 0 and out2.best.info["refinement"]["beats_default"] is False
    # a store of another region is refused before any run
    with pytest.raises(vp.VicParaformerError, match="another region"):
        refine(twin.sel_time(None, "2015-06-30"), "sceua", sur, options=dict(repetitions=10, ngs=2, n_workers=1),
               rounds=0, store=tmp_path / "store")


def test_calibrate_cli_refines_a_surrogate_calibration(undertrained, tmp_path):
    from vic_paraformer.cli.main import main
    from vic_paraformer.refine import auto_refine_rounds

    region, sur = undertrained
    assert auto_refine_rounds(sur)[0] == 0  # a waterbalance surrogate: no refinement unless asked for
    sur.save(tmp_path / "sur.pt")
    region.save(tmp_path / "region.nc")
    out = tmp_path / "res.nc"
    argv = ["calibrate", "--region", tmp_path / "region.nc", "--strategy", "sceua", "--surrogate", tmp_path / "sur.pt",
            "-o", "repetitions=30", "-o", "ngs=2", "-o", "n_workers=1", "--refine-rounds", 1, "--refine-local", 2,
            "--wb-reference", "observed", "--out", out]
    assert main([str(a) for a in argv]) == 0
    res = CalibrationResult.open(out)
    log = json.loads((tmp_path / "res.nc.refine" / "refine_log.json").read_text())
    # the reference the water-balance term used is named, in the result and in the refinement log
    assert res.options["wb_reference"] == "observed" and res.info["wb_reference"]["kind"] == "observed"
    assert log["wb_reference"]["kind"] == "observed" and log["reference_et"].startswith("observed ET")
    assert "the vic_paraformer" not in log["reference_et"] and "waterbalance simulator" in log["reference_et"]
    assert len(log["rounds"]) in (1, 2) and res.info["refinement"]["best_round"] == log["best_round"]
    assert res.info["refinement"]["simulator_runs"] == 1 + 3 * len(log["rounds"])
    conf = yaml.safe_load((tmp_path / "res.config.yaml").read_text())
    assert conf["refine"]["rounds"] == 1 and conf["refine"]["local"] == 2
    # refinement options without a surrogate are refused on one line
    assert main(["calibrate", "--region", str(tmp_path / "region.nc"), "--strategy", "sceua", "-o",
                 "simulator=waterbalance", "--refine-rounds", "2", "--out", str(tmp_path / "x.nc")]) != 0


SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data"
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
EXE = os.environ.get("VIC_IMAGE_EXE") or shutil.which("vic_image.exe")


@pytest.mark.vic
@pytest.mark.skipif(not (EXE and os.access(EXE, os.X_OK) and WALNUT.is_file()),
                    reason="VIC image driver (VIC_IMAGE_EXE) or the WalnutGulch sample not found")
def test_refinement_with_vic_on_a_tiny_setup(tmp_path):
    from vic_paraformer.simulators.vic import VICSimulator
    from vic_paraformer.surrogate import train_surrogate
    from vic_paraformer.vic.importer import region_from_vic

    torch.set_num_threads(1)
    region = region_from_vic(WALNUT, variables={"VIC_SAMPLE_DATA": str(SAMPLE)}, end="2008-03-31")
    space = vp.ParameterSpace.preset()
    truth = np.tile([0.3, 0.3, 5.0, 0.7, 8.0], (region.n_cells, 1))
    sim = VICSimulator(exe=EXE, workdir=tmp_path / "runs", progress=False)
    twin = sim.simulate(region, space.to_dataset(truth, region.cells))
    obs = 0.6 * twin["sm"].values + 0.01  # a biased shallow sensor
    ds = region.ds.assign(obs_sm=(("cell", "time"), obs.astype(np.float32)))
    region = vp.Region(ds).with_training_cells(region.cells[:2])
    sur = train_surrogate(region, "vic", preset="test", seed=0, num_threads=1, progress=False, epochs=2, n_samples=6,
                          window=60, warmup=15, simulator_options={"exe": EXE, "workdir": str(tmp_path / "runs"),
                                                                   "progress": False, "spinup_years": 0},
                          store=tmp_path / "store")
    from vic_paraformer.refine import calibrate_refined
    from vic_paraformer.surrogate import TrainingStore

    st = TrainingStore.open(tmp_path / "store")
    assert st.n_samples == 5 and st.default_run() is not None  # the setup's own parameters are a training run
    assert sur.info["simulator_options"] == {"spinup_years": 0}  # what the runs were made with (vic's default: 1)
    res = calibrate_refined(region, "sceua", sur, rounds=1, n_local=2, store=tmp_path / "store", seed=0,
                            simulator_options={"exe": EXE, "workdir": str(tmp_path / "runs"), "progress": False},
                            options=dict(repetitions=30, ngs=2, n_workers=1), out_dir=tmp_path / "refine",
                            fine_tune_steps=60)
    log = json.loads((tmp_path / "refine" / "refine_log.json").read_text())
    assert len(log["rounds"]) == 2 and all(np.isfinite(r["verified_loss"]) for r in log["rounds"])
    assert log["rounds"][-1]["simulator_runs"] == 1 + 2 * 3
    assert np.isfinite(log["default_parameters"]["verified_loss"])
    assert res.info["refinement"]["beats_default"] == (min(r["verified_loss"] for r in log["rounds"])
                                                       < log["default_parameters"]["verified_loss"])
    assert [a["label"] for a in TrainingStore.open(tmp_path / "store").appended] == [
        "anchor", "refinement round 0", "refinement round 1"]
    assert (tmp_path / "refine" / "round_1" / "result.nc").is_file()
    assert res.spinup_years == 0  # that of the surrogate's training runs and the refinement runs
