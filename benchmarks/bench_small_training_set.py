"""DL strategies trained on two cells: does the network still learn? Best epoch, loss, spread, diagnostics.

::

    python benchmarks/bench_small_training_set.py                       # ParaFormer-Z and -A, both start rules
    python benchmarks/bench_small_training_set.py --strategies paraformer_z --options obs_operator=linear

A 5 x 3-cell synthetic twin of one year whose own parameters are one set for every cell (the
typical VIC values, as in a VIC setup with uniform soil parameters), a surrogate of preset
``test``, and two training cells (ids 4 and 10). Each strategy is trained with ``start=prior``
(what ``start=auto`` picks for the wb loss on such a region) and ``start=random``; for each run the
line gives the best epoch of the epochs run, the first and best validation loss, the first and last
epoch's training loss, the spread over the 15 cells of each normalised parameter (s.d.) and the
codes of ``info["training_diagnostics"]``. Seed 0; the same command gives the same figures.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

import vic_paraformer as vp
from vic_paraformer.parameters import TYPICAL_VIC_DEFAULTS
from vic_paraformer.surrogate import train_surrogate


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", nargs="*", default=["paraformer_z", "paraformer_a"])
    p.add_argument("--starts", nargs="*", default=["prior", "random"])
    p.add_argument("--options", nargs="*", default=[], help="more strategy options, KEY=VALUE")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    extra = {k: _value(v) for k, v in (o.split("=", 1) for o in args.options)}
    twin = vp.synthetic_region(ny=5, nx=3, years=1, seed=0)
    region = vp.Region(twin.ds.assign(**{k: ("cell", np.full(twin.n_cells, v)) for k, v in TYPICAL_VIC_DEFAULTS.items()}))
    cal = region.with_training_cells([region.cells[4], region.cells[10]])
    surrogate = train_surrogate(region, simulator="waterbalance", seed=0, preset="test", progress=False, num_threads=1)
    for name in args.strategies:
        for start in args.starts:
            t0 = time.process_time()
            res = vp.calibrate(cal, strategy=name, surrogate=surrogate, seed=0, threads=1, start=start, **extra)
            u = res.parameter_space.normalize(res.values())
            h = res.history
            print(f"{name:<13} start={start:<7} best epoch {res.info['best_epoch']:>2}/{res.info['epochs_run']:<2} "
                  f"val {h['val_loss'][0]:.4f} -> {min(h['val_loss']):.4f}  train {h['train_loss'][0]:.4f} -> "
                  f"{h['train_loss'][-1]:.4f}  spread {np.round(u.std(0), 4).tolist()}  "
                  f"diagnostics {[d['code'] for d in res.info['training_diagnostics']]}  "
                  f"{time.process_time() - t0:.0f} CPU-s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
