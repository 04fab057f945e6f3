#!/usr/bin/env python
"""WalnutGulch with a biased shallow probe: default / SCE-UA / ParaFormer-Z (paper loss) / ParaFormer-Z
(defaults) / + refinement, all scored with the real VIC 5 image driver.

    python examples/walnutgulch_probe.py [--out DIR] [--samples N] [--train-cells K] [--seed S]
                                         [--store DIR] [--surrogate PATH] [--refine-rounds R]

A twin experiment on the shared WalnutGulch sample (15 cells, forcing 2008): the "truth" is the
setup's own parameters perturbed per cell (seeded); the probe observations are the truth's VIC top
layer through a biased shallow operator ``0.45 sm + 0.0`` minus 0.02 m3/m3, every day, on ``K``
training cells; ET of the truth is the ET reference (never calibrated on). Calibration period
Jan-Aug, held out Sep-Dec; every run starts from one spin-up year. The surrogate is trained on
``N`` VIC runs of the calibration period (the library's sampling design: ``--anchor-share`` of them
the setup's default parameters and draws around them, the rest a Latin hypercube seeded by
``--surrogate-seed``). The surrogate does not depend on the twin, so ``--store``/``--surrogate``
reuse the VIC runs and the trained surrogate of another twin seed. Prints one table row per
method: SM NSE raw and through H (calibrated cells, held-out months), ET NSE (all cells, full
year), annual ET and runoff + baseflow (median over cells, mm/yr), and the surrogate-vs-VIC ET
RMSE at the method's parameters (training cells, Jan-Aug). Every row is scored with
:func:`vic_paraformer.evaluation.score_runs`, the rule ``evaluate`` and ``vic verify`` use: each run
through its own operator fitted on the training cells over the fitting window, and the paired
difference with "default + H" given with its 95 % interval and verdict. "+ refinement" is what
``vic-paraformer calibrate --surrogate`` does by default for a VIC surrogate
(:func:`vic_paraformer.refine.calibrate_refined`): ParaFormer-Z, then ``--refine-rounds`` rounds
of VIC runs appended to a copy of the store, fine-tuning and recalibration, the best candidate
by the VIC-verified loss (the default parameters included).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

import vic_paraformer as vp
from vic_paraformer.calibrator import CalibrationResult
from vic_paraformer.evaluation import score_runs
from vic_paraformer.refine import DEFAULT_REFINE_LOCAL, calibrate_refined
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.surrogate import Surrogate, train_surrogate
from vic_paraformer.surrogate.data import DEFAULT_ANCHOR_SHARE
from vic_paraformer.vic import region_from_vic

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data"
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"


def results_window(results) -> tuple[str, str]:
    """The fitting window the calibrations recorded (they share the calibration region and warm-up)."""
    for res in results.values():
        if res is not None and res.info.get("calibration_period"):
            return tuple(res.info["calibration_period"])
    return ("2008-01-01", "2008-08-31")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="walnutgulch_probe")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--anchor-share", type=float, default=DEFAULT_ANCHOR_SHARE)
    ap.add_argument("--train-cells", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="twin seed (truth and calibrations)")
    ap.add_argument("--surrogate-seed", type=int, default=0, help="seed of the surrogate's training data and training")
    ap.add_argument("--store", default=None, help="VIC runs for the surrogate (default OUT/store; reused if there)")
    ap.add_argument("--surrogate", default=None, help="a trained surrogate to reuse (default: train one)")
    ap.add_argument("--preset", default="test", help="surrogate preset")
    ap.add_argument("--refine-rounds", type=int, default=VICSimulator.default_refine_rounds)
    ap.add_argument("--refine-local", type=int, default=DEFAULT_REFINE_LOCAL)
    ap.add_argument("--wb-tolerance", type=float, default=0.0, help="wb_tolerance of every water-balance-aware "
                                                                    "calibration (default 0)")
    ap.add_argument("--prior-weight", type=float, default=0.01, help="an extra ParaFormer-Z row with this prior "
                                                                     "weight towards the defaults (0: no row)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(vars(args), indent=1))
    exe = os.environ.get("VIC_IMAGE_EXE", "/opt/vic/bin/vic_image.exe")
    simopt = {"exe": exe, "workdir": str(out / "runs"), "progress": False, "spinup_years": 1}
    sim = VICSimulator(**simopt)
    t0 = time.time()
    full = region_from_vic(WALNUT, variables={"VIC_SAMPLE_DATA": str(SAMPLE)}, start="2008-01-01", end="2008-12-31")
    space = vp.ParameterSpace.preset()
    default = full.parameters(space)
    rng = np.random.default_rng(args.seed)
    truth = space.denormalize(np.clip(space.normalize(default) + 0.2 * rng.standard_normal(default.shape), 0.02, 0.98))
    twin = sim.simulate(full, space.to_dataset(truth, full.cells))
    obs = np.clip(0.45 * twin["sm"].values - 0.02, 0.005, None)
    train = full.cells[np.linspace(0, full.n_cells - 1, args.train_cells).round().astype(int)]
    obs[~np.isin(full.cells, train)] = np.nan
    full = vp.Region(full.ds.assign(obs_sm=(("cell", "time"), obs.astype(np.float32)),
                                    obs_et=(("cell", "time"), twin["et"].values.astype(np.float32)))
                     ).with_training_cells(train)
    cal = full.sel_time("2008-01-01", "2008-08-31")
    cal = vp.Region(cal.ds.drop_vars("obs_et")).with_training_cells(train)
    store = Path(args.store) if args.store else out / "store"
    if args.surrogate:
        sur = Surrogate.load(args.surrogate)
        logging.info("twin ready (%.0f s); reusing the surrogate %s", time.time() - t0, args.surrogate)
    else:
        logging.info("twin ready (%.0f s); training the surrogate on %d VIC runs", time.time() - t0, args.samples)
        sur = train_surrogate(cal, "vic", n_samples=args.samples, preset=args.preset, seed=args.surrogate_seed,
                              num_threads=1, progress=False, window=120, warmup=30, simulator_options=simopt,
                              store=store, anchor_share=args.anchor_share)
        sur.save(out / "surrogate.pt")
    logging.info("surrogate ready (%.0f s): %s", time.time() - t0, sur.info.get("training_data"))
    cpu0 = time.process_time()
    dl = dict(preset="small", epochs=20, progress=False, threads=1)
    wb = {"wb_tolerance": args.wb_tolerance} if args.wb_tolerance else {}
    results: dict[str, CalibrationResult | None] = {"default": None}

    def cached(name: str, make) -> CalibrationResult:  # results are kept, so a rerun resumes
        path = out / "results" / (name.split(" (")[0].replace(" ", "_").replace("+", "plus") + ".nc")
        if path.exists():
            return CalibrationResult.open(path)
        res = make()
        res.save(path)
        return res

    results["SCE-UA (wb loss, linear H)"] = cached("sceua", lambda: vp.calibrate(
        cal, strategy="sceua", surrogate=sur, repetitions=400, ngs=3, n_workers=1, obs_operator="linear",
        seed=args.seed, **wb))
    results["ParaFormer-Z (paper loss)"] = cached("pfz_paper", lambda: vp.calibrate(
        cal, strategy="paraformer_z", surrogate=sur, loss="paper", seed=args.seed, **dl))
    results["ParaFormer-Z (wb loss, linear H)"] = cached("pfz_wb", lambda: vp.calibrate(
        cal, strategy="paraformer_z", surrogate=sur, obs_operator="linear", seed=args.seed, **dl, **wb))
    if args.prior_weight > 0:
        results[f"ParaFormer-Z (wb loss, linear H, prior_weight {args.prior_weight:g})"] = cached("pfz_prior", lambda: (
            vp.calibrate(cal, strategy="paraformer_z", surrogate=sur, obs_operator="linear",
                         prior_weight=args.prior_weight, seed=args.seed, **dl, **wb)))
    refine_store = out / "refine_store"  # a copy: the refinement runs of this twin are appended to it
    if args.refine_rounds and not (out / "results" / "pfz_refined.nc").exists():
        if refine_store.exists():
            shutil.rmtree(refine_store)
        shutil.copytree(store, refine_store)
    results[f"+ refinement ({args.refine_rounds} rounds, {args.refine_local} local runs)"] = cached(
        "pfz_refined", lambda: calibrate_refined(
            cal, "paraformer_z", sur, rounds=args.refine_rounds, n_local=args.refine_local,
            simulator_options=simopt, options={"obs_operator": "linear", **dl, **wb}, store=refine_store if args.refine_rounds
            else None, seed=args.seed, out_dir=out / "refine"))
    cpu_cal = time.process_time() - cpu0
    logging.info("calibrations done (%.0f s, %.0f CPU-s in this process); scoring with VIC", time.time() - t0, cpu_cal)
    rows = []
    tc = np.flatnonzero(np.isin(full.cells, train))
    held = ("2008-09-01", "2008-12-31")
    p = full.ds["prec"].values
    default_run = sim.simulate(full, space.to_dataset(default, full.cells))
    for name, res in results.items():
        if res is None:  # the default parameters scored as a calibration: every difference must be exactly 0
            res = CalibrationResult(params=space.to_dataset(default, full.cells), strategy="default",
                                    parameter_space=space, train_cells=train,
                                    info={"calibration_period": list(results_window(results))})
            run = default_run
        else:
            run = sim.simulate(full, space.to_dataset(res.values(), full.cells))
        values = res.values()
        # one rule for every row: each run through its own operator of the result's kind (linear for a raw
        # calibration), fitted on the training cells over the result's fitting window; scored on Sep-Dec
        report = score_runs(full, res, {"default": default_run, "calibrated": run}, period=held, simulator_name="vic")
        full_year = score_runs(full, res, {"default": default_run, "calibrated": run},
                               period=("2008-01-01", "2008-12-31"), variables=("et",), simulator_name="vic")
        verdict = {(c["variable"], c["group"], c["baseline"]): c for c in report["comparisons"]}
        et_verdict = next(c for c in full_year["comparisons"]
                          if c["group"] == "untrained" and c["baseline"] == "default")
        pred = sur.predict(cal, values)
        nd = cal.n_days
        sur_et_rmse = float(np.sqrt(np.mean((pred["et"].values[tc] - run["et"].values[tc][:, :nd]) ** 2)))
        refined = res.info.get("refinement") or {}
        q = run["runoff"].values + run["baseflow"].values
        v = report["variables"]
        dv = report["baseline"]["variables"]
        h = verdict[("sm_through_H", "train", "default + H")]
        rows.append({
            "method": name, "H": report["scoring_rule"]["kind"], "fitting_window": report["fitting_window"],
            "sm_nse_raw_held": v["sm"]["train"]["summary"]["nse"]["median"],
            "sm_nse_H_held": v["sm_through_H"]["train"]["summary"]["nse"]["median"],
            "default_nse_H_held": dv["sm_through_H"]["train"]["summary"]["nse"]["median"],
            "verdict_sm_H": {k: h[k] for k in ("median", "ci", "verdict", "n_cells", "method")},
            "et_nse_year": full_year["variables"]["et"]["all"]["summary"]["nse"]["median"],
            "verdict_et_year": {k: et_verdict[k] for k in ("group", "median", "ci", "verdict", "n_cells")},
            "annual_et": float(np.median(run["et"].values.sum(1))),
            "annual_runoff_baseflow": float(np.median(q.sum(1))),
            "annual_p": float(np.median(p.sum(1))),
            "surrogate_vs_vic_et_rmse": sur_et_rmse,
            "returned": ("default parameters (no round beat them in VIC)" if refined.get("default_kept")
                         else f"round {refined['best_round']}" if "best_round" in refined else ""),
            "values": np.asarray(values)[tc].tolist(),
        })
    log_path = out / "refine" / "refine_log.json"
    refine_log = json.loads(log_path.read_text()) if log_path.exists() else None
    truth_et = float(np.median(twin["et"].values.sum(1)))
    truth_q = float(np.median((twin["runoff"].values + twin["baseflow"].values).sum(1)))
    (out / "table.json").write_text(json.dumps({"rows": rows, "truth_annual_et": truth_et,
                                                "truth_annual_runoff_baseflow": truth_q,
                                                "refine_log": refine_log, "seconds": time.time() - t0,
                                                "cpu_seconds_this_process": time.process_time(),
                                                "args": vars(args), "parameter_names": list(space.names)},
                                               indent=1))
    print("SM on the training cells, Sep-Dec (held out); every row through its own linear H fitted by one rule")
    print(f"{'method':<46}{'SM NSE raw':>11}{'SM NSE H':>10}{'def + H':>9}  {'dNSE vs default + H [95 %]':<30}"
          f"{'ET NSE':>8}{'ET mm/yr':>10}{'Q mm/yr':>9}{'sur ET err':>11}")
    for r in rows:
        vh = r["verdict_sm_H"]
        dn = f"{vh['median']:+.3f} [{vh['ci'][0]:+.3f}, {vh['ci'][1]:+.3f}] {vh['verdict']}"
        print(f"{r['method']:<46}{r['sm_nse_raw_held']:>11.3f}{r['sm_nse_H_held']:>10.3f}{r['default_nse_H_held']:>9.3f}  "
              f"{dn:<30}{r['et_nse_year']:>8.3f}{r['annual_et']:>10.0f}{r['annual_runoff_baseflow']:>9.0f}"
              f"{r['surrogate_vs_vic_et_rmse']:>11.3f} {r['returned']}")
    print(f"{'truth':<46}{'':>11}{'':>10}{'':>8}{truth_et:>10.0f}{truth_q:>9.0f}   P {rows[0]['annual_p']:.0f} mm/yr")
    print(f"({time.time() - t0:.0f} s wall, {time.process_time():.0f} CPU-s in this process; VIC runs are child "
          "processes, counted by the caller's time -v)")


if __name__ == "__main__":
    main()
