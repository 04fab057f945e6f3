#!/usr/bin/env python
"""Bring your own VIC 5 setup: import -> surrogate -> ParaFormer-Z -> new parameter file -> VIC verification.

    python examples/vic_setup.py GLOBAL_PARAM_FILE [--var NAME=VALUE ...] [--obs OBS] [--start D --end D]
                                 [--out DIR] [--simulator auto|vic|waterbalance] [--quick]

For the shared WalnutGulch sample::

    python examples/vic_setup.py ../shared/vic-sample-data/image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt \\
        --var VIC_SAMPLE_DATA=../shared/vic-sample-data --start 2008-01-01 --end 2008-12-31

Observations (``--obs``: netCDF or CSV, see ``vic_paraformer.vic.importer``) are matched to the grid.
Without ``--obs`` the script runs a twin experiment on your setup: it simulates the setup with perturbed
parameters, keeps every second day of top-layer soil moisture plus noise as pseudo-observations, and
calibrates against those.

The simulator is VIC itself when ``vic_image.exe`` is found (``VIC_IMAGE_EXE`` or PATH); otherwise the
embedded ``waterbalance`` stand-in (NOT VIC) takes its place for the twin observations and the surrogate,
and the final ``vic verify`` step is replaced by a water-balance evaluation, with a message saying so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import vic_paraformer as vp
import vic_paraformer.errors
from _common import parse_args
from vic_paraformer.errors import VICError
from vic_paraformer.evaluation import evaluate
from vic_paraformer.surrogate import train_surrogate
from vic_paraformer.vic import region_from_vic, write_parameters
from vic_paraformer.vic.globalfile import GlobalParamFile
from vic_paraformer.vic.runner import find_executable


def _extra(p) -> None:
    p.add_argument("global_param_file")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="value for a ${NAME} placeholder in the global file (repeatable)")
    p.add_argument("--obs", help="observations (netCDF or CSV); default: twin pseudo-observations")
    p.add_argument("--start", help="first day to import (default: the global file's start)")
    p.add_argument("--end", help="last day to import (default: the global file's end)")
    p.add_argument("--out", default="vic-example-out", help="output folder")
    p.add_argument("--simulator", default="auto", choices=["auto", "vic", "waterbalance"])
    p.add_argument("--obs-only", action="store_true",
                   help="only write the twin pseudo-observations (OUT/twin_obs.csv) and stop")


def twin_observations(region: vp.Region, simulator: str, seed: int, path: Path) -> Path:
    """Pseudo-observations: the simulator with perturbed parameters, every second day, plus noise."""
    rng = np.random.default_rng(seed)
    space = vp.ParameterSpace.preset("vic")
    current = region.parameters(space)
    u = space.normalize(space.clip(current)) if current is not None else np.full((region.n_cells, space.n), 0.5)
    truth = space.denormalize(np.clip(u + rng.uniform(-0.25, 0.25, size=space.n), 0.05, 0.95))
    sim = vp.get_simulator(simulator).simulate(region, space.to_dataset(truth, region.cells))
    sm = np.asarray(sim["sm"].values, float) + rng.normal(0, 0.01, size=sim["sm"].shape)
    rows = [{"time": t.date().isoformat(), "lat": float(la), "lon": float(lo), "obs_sm": float(np.clip(v, 0.01, 0.99))}
            for c, (la, lo) in enumerate(zip(region.ds["lat"].values, region.ds["lon"].values))
            for t, v in zip(region.times[::2], sm[c, ::2])]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    print(f"twin experiment: pseudo-observations from '{simulator}' with perturbed parameters -> {path}")
    return path


def main() -> int:
    try:
        return run()
    except vp.errors.VicParaformerError as exc:  # one readable line, as the command line prints it
        print(f"vic_setup.py: error: {exc}", file=sys.stderr)
        return 1


def run() -> int:
    args = parse_args(__doc__.splitlines()[0], extra=_extra)
    variables = dict(v.split("=", 1) for v in args.var)
    out = Path(args.out)
    try:
        exe = find_executable()
    except VICError:
        exe = None
    simulator = args.simulator if args.simulator != "auto" else ("vic" if exe else "waterbalance")
    if simulator == "waterbalance":
        print("VIC is not used: the embedded 'waterbalance' stand-in (not VIC) simulates this setup. Install VIC 5 and "
              "set VIC_IMAGE_EXE to calibrate against VIC itself.")
    region = region_from_vic(args.global_param_file, variables=variables, start=args.start, end=args.end)
    print(f"imported {region}")
    obs = Path(args.obs) if args.obs else twin_observations(region, simulator, args.seed, out / "twin_obs.csv")
    if args.obs_only:
        print(f"twin pseudo-observations written to {obs}")
        return 0
    region = region_from_vic(args.global_param_file, observations=obs, variables=variables, start=args.start,
                                end=args.end)

    surrogate = train_surrogate(region, simulator=simulator, seed=args.seed, preset="test" if args.quick else "demo")
    surrogate.save(out / "surrogate.pt")
    result = vp.calibrate(region, strategy="paraformer_z", surrogate=surrogate, seed=args.seed,
                          **({"epochs": 3} if args.quick else {}))
    result.save(out / "result.nc")
    template = GlobalParamFile.read(args.global_param_file, variables).parameters_path
    new_params = write_parameters(result, template, out / "params.calibrated.nc")
    print(f"{result.summary()}\nnew VIC parameter file: {new_params} (template {template} untouched)")

    if simulator == "vic":
        from vic_paraformer.vic.verify import format_table, verify

        report = verify(args.global_param_file, result, obs, out / "verify", variables=variables, start=args.start,
                        end=args.end, score_start=args.start, score_end=args.end)
        print(format_table(report))
    else:
        report = evaluate(region, result, simulator="waterbalance")
        s = report["variables"]["sm"]["all"]["summary"]
        print("vic verify skipped (no VIC); water-balance stand-in against the observations: "
              f"median RMSE {s['rmse']['median']:.4f}  PCC {s['pcc']['median']:.3f}  NSE {s['nse']['median']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
