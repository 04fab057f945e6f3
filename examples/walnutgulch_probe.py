#!/usr/bin/env python
"""WalnutGulch with a biased shallow probe: default / SCE-UA / ParaFormer-Z (paper loss) / ParaFormer-Z
(defaults) / + refinement, all scored with the real VIC 5 image driver.

    python examples/walnutgulch_probe.py [--out DIR] [--samples N] [--train-cells K] [--seed S]

A twin experiment on the shared WalnutGulch sample (15 cells, forcing 2008): the "truth" is the
setup's own parameters perturbed per cell (seeded); the probe observations are the truth's VIC top
layer through a biased shallow operator ``0.45 sm + 0.0`` minus 0.02 m3/m3, every day, on ``K``
training cells; ET of the truth is the ET reference (never calibrated on). Calibration period
Jan-Aug, held out Sep-Dec; every run starts from one spin-up year. The surrogate is trained on
``N`` VIC runs of the calibration period. Prints one table row per method: SM NSE raw and through H
(calibrated cells, held-out months), ET NSE (all cells, full year), annual ET and runoff +
baseflow (median over cells, mm/yr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

import vic_paraformer as vp
from vic_paraformer import metrics
from vic_paraformer.observation import fit
from vic_paraformer.refine import refine
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.surrogate import train_surrogate
from vic_paraformer.vic import region_from_vic

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data"
WALNUT = SAMPLE / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="walnutgulch_probe")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--train-cells", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
    logging.info("twin ready (%.0f s); training the surrogate on %d VIC runs", time.time() - t0, args.samples)
    sur = train_surrogate(cal, "vic", n_samples=args.samples, preset="test", seed=args.seed, num_threads=1,
                          progress=False, window=120, warmup=30, simulator_options=simopt, store=out / "store")
    sur.save(out / "surrogate.pt")
    logging.info("surrogate trained (%.0f s)", time.time() - t0)
    dl = dict(preset="small", epochs=20, progress=False, threads=1)
    results = {"default": None}
    results["SCE-UA (defaults, linear H)"] = vp.calibrate(cal, strategy="sceua", surrogate=sur, repetitions=400, ngs=3,
                                                          n_workers=1, obs_operator="linear", seed=args.seed)
    results["ParaFormer-Z (paper loss)"] = vp.calibrate(cal, strategy="paraformer_z", surrogate=sur, loss="paper",
                                                        seed=args.seed, **dl)
    results["ParaFormer-Z (defaults, linear H)"] = vp.calibrate(cal, strategy="paraformer_z", surrogate=sur,
                                                                obs_operator="linear", seed=args.seed, **dl)
    ref = refine(cal, "paraformer_z", sur, simulator="vic", simulator_options=simopt,
                 options={"obs_operator": "linear", **dl}, rounds=2, n_local=4, fine_tune_steps=150, seed=args.seed,
                 out_dir=out / "refine")
    results["+ refinement"] = ref.best
    logging.info("calibrations done (%.0f s); scoring with VIC", time.time() - t0)
    rows = []
    tc = np.flatnonzero(np.isin(full.cells, train))
    held = np.asarray(full.times >= np.datetime64("2008-09-01"))
    calib = ~held
    lat, lon = full.ds["lat"].values, full.ds["lon"].values
    for name, res in results.items():
        values = default if res is None else res.values()
        run = sim.simulate(full, space.to_dataset(values, full.cells))
        sm = run["sm"].values
        if res is None or res.obs_operator.is_identity:
            o = obs.copy()
            o[:, held] = np.nan
            op = fit("linear", sm[tc], o[tc], cells=full.cells[tc], lat=lat[tc], lon=lon[tc])
            label_h = "linear H fitted Jan-Aug"
        else:
            op, label_h = res.obs_operator, "stored H"
        h = op.apply(sm, lat, lon)
        p = full.ds["prec"].values
        q = run["runoff"].values + run["baseflow"].values
        rows.append({
            "method": name, "H": label_h,
            "sm_nse_raw_held": float(np.median(metrics.nse(sm[tc][:, held], obs[tc][:, held]))),
            "sm_nse_H_held": float(np.median(metrics.nse(h[tc][:, held], obs[tc][:, held]))),
            "et_nse_year": float(np.median(metrics.nse(run["et"].values, twin["et"].values))),
            "annual_et": float(np.median(run["et"].values.sum(1))),
            "annual_runoff_baseflow": float(np.median(q.sum(1))),
            "annual_p": float(np.median(p.sum(1))),
        })
    truth_et = float(np.median(twin["et"].values.sum(1)))
    truth_q = float(np.median((twin["runoff"].values + twin["baseflow"].values).sum(1)))
    (out / "table.json").write_text(json.dumps({"rows": rows, "truth_annual_et": truth_et,
                                                "truth_annual_runoff_baseflow": truth_q,
                                                "refine_log": ref.log, "seconds": time.time() - t0}, indent=1))
    print(f"{'method':<36}{'SM NSE raw':>11}{'SM NSE H':>10}{'ET NSE':>8}{'ET mm/yr':>10}{'Q mm/yr':>9}")
    for r in rows:
        print(f"{r['method']:<36}{r['sm_nse_raw_held']:>11.3f}{r['sm_nse_H_held']:>10.3f}{r['et_nse_year']:>8.3f}"
              f"{r['annual_et']:>10.0f}{r['annual_runoff_baseflow']:>9.0f}")
    print(f"{'truth':<36}{'':>11}{'':>10}{'':>8}{truth_et:>10.0f}{truth_q:>9.0f}   P {rows[0]['annual_p']:.0f} mm/yr")
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
