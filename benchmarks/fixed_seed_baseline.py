"""Fixed-seed parameters of every strategy on a small twin, to check a refactor changes no result.

::

    python benchmarks/fixed_seed_baseline.py --out before.npz            # on the old code
    python benchmarks/fixed_seed_baseline.py --out after.npz --compare before.npz

Calibrates a 6 x 6-cell synthetic twin (two years, DAS-S3 training cells, seed 0) with every
registered strategy at its quick settings through one small surrogate, writes each strategy's
calibrated parameters ``(cell, p)`` to ``--out`` and, with ``--compare``, prints for each strategy
whether the parameters are bit-identical to the earlier file and the largest absolute difference.
``--option KEY=VALUE`` gives every strategy an option (e.g. a default that changed, set back).
Exits 1 when any strategy differs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
import yaml

import vic_paraformer as vp
from vic_paraformer.surrogate import train_surrogate

QUICK = {"sceua": {"repetitions": 60}, "dds": {"repetitions": 60}}
DL_QUICK = {"epochs": 3}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="npz file to write")
    p.add_argument("--compare", help="an earlier npz file of this script")
    p.add_argument("--strategies", nargs="*", default=None, help="default: every registered strategy")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="an option given to every strategy (value parsed as YAML), e.g. wb_reference=observed")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    region = vp.synthetic_region(ny=6, nx=6, years=2, seed=0)
    region = region.with_training_cells(region.spatial_split(3).train)
    surrogate = train_surrogate(region, simulator="waterbalance", seed=0, preset="test")
    names = args.strategies or sorted(vp.list_strategies())
    extra = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.option)}
    out = {}
    for name in names:
        t0 = time.process_time()
        opts = {**QUICK.get(name, DL_QUICK), **extra}
        if name not in QUICK:
            opts = {**opts, "threads": 1}
        result = vp.calibrate(region, strategy=name, surrogate=surrogate, seed=0, **opts)
        out[name] = result.parameter_space.from_dataset(result.params)
        print(f"{name:<14} {time.process_time() - t0:7.1f} CPU-s  mean {np.round(out[name].mean(0), 4).tolist()}")
    np.savez(args.out, **out)
    if not args.compare:
        return 0
    before = dict(np.load(args.compare))
    differs = False
    for name, values in out.items():
        if name not in before:
            print(f"{name:<14} not in {args.compare}")
            continue
        same = np.array_equal(values, before[name])
        differs |= not same
        print(f"{name:<14} {'identical' if same else 'DIFFERS'}  max |diff| "
              f"{float(np.max(np.abs(values - before[name]))):.3g}")
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
