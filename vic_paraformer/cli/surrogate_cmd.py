"""``vic-paraformer surrogate train|evaluate``: train an LSTM surrogate and report its accuracy."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from ..outputs import guarded_replace
from ..workflow import identifiable_selector
from ._checks import SAMPLES_HELP, check_surrogate_evaluate, check_surrogate_train
from ._outputs import add_overwrite, guard
from ._runconfig import add_config_argument, apply_config, write_settings
from ._spinup import add_spinup_argument, with_spinup
from ._split import add_split_arguments
from ._types import finite_float, non_negative_int, positive_float, positive_int

log = logging.getLogger("vic_paraformer.cli")
#: Settings of ``surrogate train`` that are paths (relative ones in a --config file are relative to it).
SURROGATE_PATHS = ("region", "out", "store", "exe", "workdir")
from ._vic_options import add_vic_options, vic_simulator_options, workers


def register(sub) -> None:
    p = sub.add_parser("surrogate", help="train or evaluate the LSTM surrogate of a simulator",
                       description="Train an LSTM surrogate (forcing, attributes, parameters -> sm, et) on simulator "
                                   "runs of a region, or report its accuracy against the simulator.")
    ss = p.add_subparsers(dest="surrogate_command", metavar="ACTION")
    t = ss.add_parser("train", help="generate simulator runs and train a surrogate")
    t.add_argument("--region", default=None, help="region netCDF (vic_paraformer Region)")
    t.add_argument("--simulator", default="waterbalance", help="simulator to imitate (default: waterbalance)")
    add_spinup_argument(t)
    t.add_argument("--samples", type=positive_int, default=None, help="parameter samples per cell (default: the preset's; " + SAMPLES_HELP + ")")
    t.add_argument("--out", default=None, help="checkpoint file to write (.pt); its run configuration goes to "
                                             "NAME.config.yaml beside it")
    t.add_argument("--preset", default="demo", help="settings preset: test, demo (default) or benchmark")
    t.add_argument("--epochs", type=positive_int, default=None, help="most training epochs (default: preset)")
    t.add_argument("--hidden", type=positive_int, default=None, help="LSTM hidden size")
    t.add_argument("--layers", type=positive_int, default=None, help="LSTM layers")
    t.add_argument("--max-time", type=positive_float, default=None,
                   help="stop training once this many seconds are spent (opt-in: the result then depends on "
                        "the machine's load; presets budget in epochs)")
    t.add_argument("--per-cell", action="store_true", help="independent parameter samples per cell (default: shared)")
    t.add_argument("--anchor-share", type=finite_float, default=None, metavar="F",
                   help="share of the samples that are the region's default parameters and draws around them, the "
                        "rest a Latin hypercube (default 0.2; 0: a pure hypercube)")
    t.add_argument("--anchor-sd", type=finite_float, default=None, metavar="SD",
                   help="spread of the draws around the default parameters, normalised units (default 0.1)")
    t.add_argument("--parameter-space", default=None, help="bound preset (vic or paper)")
    t.add_argument("--parameters", default=None, metavar="SET|NAMES",
                   help="parameters the surrogate covers: paper (default), vic-classic, all, auto or comma-separated "
                        "names; a calibration must use the same set")
    t.add_argument("--store", default=None, help="folder for the simulator runs (resumable; default: temporary)")
    t.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    t.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads while training (default 1 on CPU: fastest for small LSTMs)")
    t.add_argument("--max-cells", type=positive_int, default=None, metavar="N",
                   help="train on a seeded random subset of at most N cells (bounds memory for large regions; "
                        "the region is then read lazily and only those cells are loaded)")
    t.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the parameter samples and the "
                                                                    "training (default 0)")
    add_split_arguments(t, cells_help="cells whose simulator runs train the surrogate (default: all): das:K (one "
                                      "cell per K x K block), a file of cell ids, or ids like 3,17,40")
    add_overwrite(t)
    add_vic_options(t, scratch_help="the training store unless --store, VIC run directories unless --workdir",
                    workers_help="simulator processes for the training runs (default 1; more for the vic "
                                    "simulator: one VIC run per parameter set and worker)")
    add_config_argument(t)
    t.set_defaults(func=run_train, check=lambda args: check_surrogate_train(apply_config(args, SURROGATE_PATHS)))
    e = ss.add_parser("evaluate", help="accuracy of a surrogate against its simulator")
    e.add_argument("--surrogate", required=True, help="checkpoint written by 'surrogate train'")
    e.add_argument("--region", required=True, help="region netCDF")
    e.add_argument("--simulator", default=None, help="simulator to compare with (default: the one it imitates)")
    e.add_argument("--samples", type=positive_int, default=4, help="fresh parameter samples per cell (default 4)")
    e.add_argument("--out", default=None, help="folder for metrics.json, scores.nc, timeseries.png, nse_cdf.png")
    e.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the fresh parameter samples (default 0)")
    e.add_argument("--max-memory", type=positive_float, default=1.0, metavar="GB",
                   help="memory budget: the region is read, simulated and scored in cell chunks that fit it "
                        "(default 1 GB)")
    e.set_defaults(func=run_evaluate, check=check_surrogate_evaluate)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_train(args: argparse.Namespace) -> int:
    from ..region import Region
    from ..surrogate import train_surrogate
    from ._split import split_message, split_region

    args = apply_config(args, SURROGATE_PATHS)

    guard(args, args.out, "surrogate", region=args.region)
    guard(args, args.store, "directory", option="--store", required=False, region=args.region,
          **_store_size(args))
    full = Region.open(args.region, chunks=4096) if args.max_cells else Region.open(args.region)
    region, split = split_region(full, args.train_period, args.test_period, args.train_cells, subset=True)
    log.info(split_message(full, region, split, subset=True))
    # Training snapshots its best epoch so far; it goes to a hidden file beside --out that replaces
    # --out only when training has finished, so an interrupted run leaves nothing at --out.
    out = Path(args.out)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    simulator_options = with_spinup(vic_simulator_options(args, args.simulator), args,
                                    args.simulator)
    args.spinup_years = simulator_options["spinup_years"]  # recorded as resolved
    try:
        sur = train_surrogate(region, args.simulator, n_samples=args.samples, epochs=args.epochs,
                              hidden_size=args.hidden, num_layers=args.layers, max_time=args.max_time, seed=args.seed,
                              preset=args.preset, per_cell=args.per_cell,
                              parameter_space=_space(args, region),
                              store=args.store, out=partial, device=args.device, num_threads=args.threads,
                              n_workers=workers(args), max_cells=args.max_cells,
                              **{k: getattr(args, k) for k in ("anchor_share", "anchor_sd")
                                 if getattr(args, k, None) is not None},
                              simulator_options=simulator_options)
        if not partial.exists():
            sur.save(partial)
        guarded_replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        full.close()  # the file behind a lazily opened region
    cfg = write_settings(args, out, "surrogate train", path_keys=SURROGATE_PATHS)
    log.info("run configuration written to %s", cfg)
    hist = sur.info.get("history", {})
    best = sur.info.get("best_epoch", -1)
    val = hist.get("val_loss", [float("nan")])[best] if hist else float("nan")
    print(f"{sur!r}\nbest epoch {best + 1} of {len(hist.get('val_loss', []))}: validation MSE {val:.4f} (standardised); "
          f"{sur.info.get('total_seconds', 0):.1f} s in all\nwritten {args.out}")
    return 0


def _store_size(args: argparse.Namespace) -> dict:
    """The estimated size of the training runs ``--store`` receives (cells x samples x days x sm and et,
    4 bytes each), from the region file's header; {} when it cannot be read (reported later)."""
    from ..outputs import estimate_bytes, netcdf_dims
    from ..surrogate.train import SURROGATE_PRESETS

    dims = netcdf_dims(args.region)
    if not args.store or "cell" not in dims or "time" not in dims:
        return {}
    cells = min(dims["cell"], args.max_cells or dims["cell"])
    samples = args.samples or SURROGATE_PRESETS[args.preset]["n_samples"]
    return {"need_bytes": estimate_bytes(cells * samples * dims["time"] * 2, 4),
            "what": f"{cells} cells x {samples} samples x {dims['time']} days x 2 variables, 4 bytes each"}


def run_evaluate(args: argparse.Namespace) -> int:
    from ..region import Region
    from ..surrogate.evaluate import evaluate_surrogate, format_report, write_report
    from ..surrogate.model import Surrogate

    guard(args, args.out, "directory", required=False, surrogate=args.surrogate, region=args.region)
    sur = Surrogate.load(args.surrogate)
    region = Region.open(args.region, max_memory_gb=args.max_memory)  # lazily: read chunk by chunk
    try:
        report = evaluate_surrogate(sur, region, simulator=args.simulator, n_samples=args.samples, seed=args.seed,
                                    max_memory_gb=args.max_memory)
    finally:
        region.close()  # the lazily opened file
    print(format_report(report))
    for d in sur.info.get("training_diagnostics") or []:  # recorded when the surrogate was trained
        print(f"warning (surrogate training): {d['message']}")
    if args.out:
        paths = write_report(report, Path(args.out))
        print("written " + ", ".join(str(p) for p in paths.values()))
    else:
        print(json.dumps(report["summary"]["held_out_samples"], indent=1))
    return 0


def _space(args: argparse.Namespace, region):
    """``--parameters`` with the bounds of ``--parameter-space`` (just the latter without the former)."""
    if args.parameters is None:
        return args.parameter_space
    from ..parameters import build_space

    return build_space(args.parameters, args.parameter_space, region=region, seed=args.seed,
                       selector=identifiable_selector())
