"""CPU time of one candidate's objective as a spotpy strategy computes it: torch float64 (the one
:class:`vic_paraformer.objective.Objective`) against plain numpy, next to one surrogate cell run.

Usage::

    python benchmarks/bench_objective.py [--days 730] [--repeats 2000] [--no-model] [--sceua]
    PYTHONPATH=<another checkout> python benchmarks/bench_objective.py --sceua-only

For each operator (identity, linear, cdf) and loss (paper, wb) it scores the same candidate with
:meth:`CellObjective.value` (the torch float64 path, no gradients) and with a numpy transcription
of the same formulas written here for the comparison only, checks that both give the same number
(relative 1e-12), and prints CPU microseconds per call. Unless ``--no-model``, it also trains a tiny
surrogate and prints the CPU time of one surrogate cell run, the cost the objective adds to.
``--sceua`` adds the end-to-end figure: CPU seconds of an SCE-UA calibration through a tiny
surrogate (3 training cells, up to 1000 runs each, one process, identity and linear operators);
``--sceua-only`` prints only that, so it can be run against another checkout of the package
(``PYTHONPATH``) to compare implementations. Single-threaded (torch and numpy), as the spotpy
workers run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_objective(kind: str, loss: str, sm, obs, et, ref) -> float:
    """The spotpy cell objective in numpy, for the timing comparison (closed-form operator, RMSE, wb term)."""
    s, o = sm[None], obs[None]
    if kind == "linear":
        l2 = 1e-4
        m11, m12 = np.mean(s * s) + l2, np.mean(s)
        r1, r2 = np.mean(s * o) + l2, np.mean(o)
        det = m11 * (1 + l2) - m12 * m12
        a = np.clip((r1 * (1 + l2) - m12 * r2) / det, 0.05, 10.0)
        b = np.clip((m11 * r2 - m12 * r1) / det, -0.5, 0.5)
        s = a * s + b
    elif kind == "cdf":
        probs = np.linspace(0, 1, 21)
        sq = np.maximum.accumulate(np.quantile(s[0], probs)) + 1e-9 * np.arange(21)
        oq = np.quantile(o[0], probs)
        h = np.interp(s[0], sq, oq)
        h = np.where(s[0] < sq[0], oq[0] + s[0] - sq[0], np.where(s[0] > sq[-1], oq[-1] + s[0] - sq[-1], h))
        s = h[None]
    value = float(np.sqrt(np.mean((s - o) ** 2)))
    if loss == "wb":
        ok = np.isfinite(ref)
        r = ref[ok].mean()
        value += float(((et[ok].mean() - r) / (max(r, 0.0) + 0.1)) ** 2)
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--repeats", type=int, default=2000)
    ap.add_argument("--no-model", action="store_true")
    ap.add_argument("--sceua", action="store_true")
    ap.add_argument("--sceua-only", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.sceua_only:
        sceua_end_to_end()
        return

    from vic_paraformer.objective import Objective, ObjectiveOptions
    from vic_paraformer.strategies.spotpy_setup import CellObjective

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    t = args.days
    sm = 0.2 + 0.05 * np.sin(np.linspace(0, 12, t)) + 0.01 * rng.standard_normal(t)
    obs = np.where(rng.random(t) < 0.5, np.nan, 0.6 * sm + 0.02 + 0.005 * rng.standard_normal(t))
    days = np.arange(t) >= 60
    mask = np.isfinite(obs) & days
    et = 1.5 + np.sin(np.linspace(0, 12, t)) ** 2
    ref = et * 1.1
    out = {"sm": sm, "et": et}
    print(f"one candidate's objective, {t} days, {int(mask.sum())} observed, CPU microseconds per call "
          f"(median of {args.repeats}):")
    print(f"{'operator':<10}{'loss':<7}{'numpy':>10}{'torch f64':>12}{'ratio':>8}  same value")
    for kind in ("identity", "linear", "cdf"):
        for loss in ("paper", "wb"):
            cell = CellObjective(objective=Objective(ObjectiveOptions(obs_operator=kind, loss=loss)), loss_days=days,
                                 ref_et=ref)
            times = {}
            values = {}
            for name, fn in (("numpy", lambda: numpy_objective(kind, loss, sm[mask], obs[mask], et[days], ref[days])),
                             ("torch", lambda: cell.value(out, mask, obs[mask]))):
                fn()
                ts = []
                for _ in range(args.repeats):
                    t0 = time.process_time_ns()
                    values[name] = fn()
                    ts.append(time.process_time_ns() - t0)
                times[name] = float(np.median(ts)) / 1e3
            same = abs(values["numpy"] - values["torch"]) <= 1e-12 * abs(values["numpy"])
            print(f"{kind:<10}{loss:<7}{times['numpy']:>10.1f}{times['torch']:>12.1f}"
                  f"{times['torch'] / times['numpy']:>8.1f}  {same}")
    if args.no_model:
        return
    import vic_paraformer as vp
    from vic_paraformer.strategies.cell_models import SurrogateCellModel
    from vic_paraformer.surrogate import train_surrogate

    region = vp.synthetic_region(ny=3, nx=3, years=2, seed=0)
    sur = train_surrogate(region, "waterbalance", preset="test", seed=0, num_threads=1, progress=False, epochs=1,
                          n_samples=16)
    x, a = sur.prepare(region)
    model = SurrogateCellModel(x[0].numpy(), a[0].numpy(), sur.parameter_space, surrogate=sur)
    theta = sur.parameter_space.midpoint()
    model.simulate_outputs(theta)
    ts = []
    for _ in range(200):
        t0 = time.process_time_ns()
        model.simulate_outputs(theta)
        ts.append(time.process_time_ns() - t0)
    print(f"one surrogate cell run ({region.n_days} days): {np.median(ts) / 1e3:.1f} CPU microseconds")
    if args.sceua:
        sceua_end_to_end()


def sceua_end_to_end() -> None:
    """CPU seconds of SCE-UA through a tiny surrogate, 3 cells x up to 1000 runs, in this process."""
    import vic_paraformer as vp
    from vic_paraformer.surrogate import train_surrogate

    region = vp.synthetic_region(ny=3, nx=3, years=2, seed=0).with_training_cells([0, 4, 8])
    sur = train_surrogate(region, "waterbalance", preset="test", seed=0, num_threads=1, progress=False, epochs=1,
                          n_samples=16)
    print(f"SCE-UA end to end ({vp.__file__}):")
    for kw in ({"obs_operator": "identity"}, {"obs_operator": "linear"}):
        t0 = time.process_time()
        res = vp.calibrate(region, strategy="sceua", surrogate=sur, seed=0, repetitions=1000, n_workers=1, **kw)
        print(f"  {kw['obs_operator']:<9} {time.process_time() - t0:6.2f} CPU s for {res.n_evaluations} model runs")


if __name__ == "__main__":
    main()
