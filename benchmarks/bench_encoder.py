"""ParaFormer-Z's series encoder: day tokens (paper) vs patches, attention dropout on vs off.

Usage::

    python benchmarks/bench_encoder.py [--grid 12] [--years 3] [--k 4] [--preset small] [--epochs N]
        [--variants day-drop0.1,day,patch8] [--surrogate-preset test] [--seed 0]

One synthetic twin and one surrogate; each variant calibrates with ParaFormer-Z (same seed, one
thread), is timed (CPU seconds of this process) and scored with the waterbalance simulator
(median sm NSE over training and untrained cells, :func:`vic_paraformer.evaluation.evaluate`)
and by the correlation of the calibrated parameters with the twin's truth.
Variants: ``day-drop0.1`` (day tokens, attention dropout 0.1: the earlier default),
``day`` (day tokens, no attention dropout: the default), ``patchP`` (P days per token).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def variant_options(name: str) -> dict:
    if name == "day-drop0.1":
        return {"patch_days": 1, "attn_dropout": 0.1}
    if name == "day":
        return {"patch_days": 1, "attn_dropout": 0.0}
    if name.startswith("patch"):
        return {"patch_days": int(name[5:]), "attn_dropout": 0.0}
    raise SystemExit(f"unknown variant {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=int, default=12)
    ap.add_argument("--years", type=float, default=3)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--variants", default="day-drop0.1,day,patch8")
    ap.add_argument("--surrogate-preset", default="test")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import vic_paraformer as vp
    from vic_paraformer.evaluation import evaluate
    from vic_paraformer.registry import get_calibrator
    from vic_paraformer.surrogate import train_surrogate

    region = vp.synthetic_region(ny=args.grid, nx=args.grid, years=args.years, seed=args.seed)
    region = region.with_training_cells(region.spatial_split(args.k).train)
    with tempfile.TemporaryDirectory() as tmp:
        sur_path = Path(tmp) / "sur.pt"
        train_surrogate(region, preset=args.surrogate_preset, seed=args.seed, num_threads=1, progress=False).save(sur_path)
        print(f"{region}; surrogate preset {args.surrogate_preset}; ParaFormer-Z preset {args.preset}")
        truth = region.parameters(prefix="true_")
        for name in args.variants.split(","):
            opts = dict(preset=args.preset, threads=1, progress=False, **variant_options(name))
            if args.epochs:
                opts["epochs"] = args.epochs
            cal = get_calibrator("paraformer_z", surrogate=str(sur_path), seed=args.seed, **opts)
            c0, w0 = _cpu(), time.perf_counter()
            res = cal.calibrate(region)
            cpu, wall = _cpu() - c0, time.perf_counter() - w0
            m = evaluate(region, res, "waterbalance", variables=("sm",))["variables"]["sm"]
            est = res.parameters() if callable(getattr(res, "parameters", None)) else \
                np.stack([res.params[n].values for n in res.parameter_space.names], axis=1)
            corr = [float(np.corrcoef(est[:, j], truth[:, j])[0, 1]) for j in range(truth.shape[1])]
            nse = {g: m[g]["summary"]["nse"]["median"] for g in ("train", "untrained") if g in m}
            print(f"{name:<12} CPU {cpu:7.1f} s (wall {wall:6.1f} s), epochs {res.info.get('epochs_run')}, "
                  f"sm NSE median " + ", ".join(f"{g} {v:.3f}" for g, v in nse.items())
                  + f"; parameter-truth correlation median {np.nanmedian(corr):.2f}", flush=True)


if __name__ == "__main__":
    main()
