"""Benchmark the VIC 5 adapter on the WalnutGulch sample (15 cells, 3-hourly forcing, 2008).

Prints:
* import time of the one-year setup (``region_from_vic``),
* wall time of one one-year VIC run through ``VICSimulator`` (total, and the VIC child alone),
* ensemble throughput in cell-days/s for ``--samples`` parameter sets with 1 and ``--workers``
  workers (one VIC process and run directory per set).

Needs the VIC image driver (``--exe``, ``$VIC_IMAGE_EXE`` or ``vic_image.exe`` on PATH) and the
sample data (``--sample-data``, default ``<repo>/../shared/vic-sample-data``)::

    python benchmarks/bench_vic.py --exe /path/to/vic_image.exe
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.simulators.vic import VICSimulator
from vic_paraformer.vic.importer import region_from_vic

DEFAULT_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "vic-sample-data"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exe", help="vic_image.exe (default: $VIC_IMAGE_EXE, then PATH)")
    ap.add_argument("--sample-data", type=Path, default=DEFAULT_SAMPLE)
    ap.add_argument("--repeats", type=int, default=3, help="single-run repeats (median reported)")
    ap.add_argument("--samples", type=int, default=8, help="ensemble size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    gfile = args.sample_data / "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"
    if not gfile.is_file():
        print(f"sample global file not found: {gfile}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    region = region_from_vic(gfile, variables={"VIC_SAMPLE_DATA": str(args.sample_data)}, end="2008-12-31")
    t_import = time.perf_counter() - t0
    print(f"import: {region} in {t_import:.2f} s")
    cell_days = region.n_cells * region.n_days

    space = ParameterSpace.preset("vic")
    current = region.parameters(space)
    params = space.to_dataset(current, region.cells)
    with tempfile.TemporaryDirectory(prefix="bench_vic_") as work:
        sim = VICSimulator(exe=args.exe, workdir=work, progress=False)
        totals, childs = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = sim.simulate(region, params)
            totals.append(time.perf_counter() - t0)
            childs.append(float(out.attrs["vic_wall_time_s"]))
        tot, child = statistics.median(totals), statistics.median(childs)
        print(f"one-year run ({region.n_cells} cells x {region.n_days} days): total {tot:.2f} s "
              f"(VIC process {child:.2f} s, adapter overhead {tot - child:.2f} s), "
              f"{cell_days / tot:,.0f} cell-days/s; median of {args.repeats}")

        sets = space.sample(args.samples, seed=args.seed)
        values = np.broadcast_to(sets[:, None, :], (args.samples, region.n_cells, space.n))
        ens = space.to_dataset(values, region.cells, dims=("sample", "cell"))
        for workers in sorted({1, args.workers}):
            sim = VICSimulator(exe=args.exe, workdir=work, n_workers=workers, progress=False)
            t0 = time.perf_counter()
            out = sim.simulate(region, ens)
            wall = time.perf_counter() - t0
            assert np.isfinite(out["sm"].values).all()
            print(f"ensemble of {args.samples} one-year runs, {workers} worker(s): {wall:.2f} s, "
                  f"{args.samples * cell_days / wall:,.0f} cell-days/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
