"""``vic-paraformer calibrate``: calibrate a region with any registered strategy, or apply a saved model.

::

    vic-paraformer calibrate --region R --strategy NAME [--surrogate S.pt] [--config cfg.yaml]
                             [--seed N] [--option key=value ...] --out result.nc [--model-out model.pt]
    vic-paraformer calibrate --apply MODEL --region R --out result.nc

The strategy's ``validate()`` runs first; its problems are reported on one line without any
expensive work. The result is written atomically, so an interrupted run leaves no file behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ConfigError, load_config, merged, parse_options
from ..errors import StrategyError


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate a region's soil parameters with a strategy (or apply a saved model)",
        description="Calibrate infilt, Ds, Dsmax, Ws, expt for every cell of a region with a registered strategy "
                    "(see 'vic-paraformer strategies'), or apply a model saved by a DL strategy with --apply.")
    p.add_argument("--region", help="region netCDF (vic_paraformer Region)")
    p.add_argument("--strategy", help="registered strategy name (sceua, paraformer_z, ...)")
    p.add_argument("--surrogate", help="surrogate checkpoint (strategy option 'surrogate')")
    p.add_argument("--config", help="YAML/JSON file with region, strategy, seed, surrogate, out, options ...")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's, else 0)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, repeatable; values parsed as YAML (3, 0.5, true, null, text)")
    p.add_argument("--parameter-space", default=None, help="parameter preset: vic (default) or paper")
    p.add_argument("--out", help="calibration result to write (.nc)")
    p.add_argument("--model-out", help="where a DL strategy saves its trained model (strategy option 'model_out')")
    p.add_argument("--apply", metavar="MODEL", help="apply a model saved by a DL strategy instead of calibrating")
    p.add_argument("--device", default="cpu", help="torch device for --apply (default cpu)")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> dict:
    cfg = load_config(args.config) if args.config else {"options": {}}
    s = merged(cfg, region=args.region, strategy=args.strategy, seed=args.seed, surrogate=args.surrogate,
               out=args.out, model_out=args.model_out, parameter_space=args.parameter_space)
    options = dict(cfg.get("options") or {})
    cli_options = parse_options(args.option)
    options.update(cli_options)
    for key in ("surrogate", "model_out"):
        if s.get(key) is not None:
            if key in cli_options and cli_options[key] != s[key]:
                raise ConfigError(f"{key} given both as --{key.replace('_', '-')} and --option {key}=...")
            options[key] = s[key]
    s["options"] = options
    s["seed"] = 0 if s.get("seed") is None else s["seed"]
    return s


def _check_paths(region: str | None, out: str | None) -> None:
    if not region:
        raise ConfigError("--region is required (or 'region' in --config)")
    if not out:
        raise ConfigError("--out is required (or 'out' in --config)")
    if Path(out).resolve() == Path(region).resolve():
        raise ConfigError(f"--out {out} is the input region; choose another file (inputs are never overwritten)")


def run(args: argparse.Namespace) -> int:
    from ..region import Region

    if args.apply:
        return _run_apply(args)
    s = _settings(args)
    _check_paths(s.get("region"), s.get("out"))
    if not s.get("strategy"):
        raise ConfigError("--strategy is required (or 'strategy' in --config); see 'vic-paraformer strategies'")
    region = Region.open(s["region"])
    calibrator = make_calibrator(s["strategy"], seed=s["seed"], parameter_space=s.get("parameter_space"),
                                 options=s["options"])
    problems = calibrator.validate(region)
    if problems:
        raise StrategyError(f"strategy {calibrator.name!r} cannot calibrate {s['region']}: " + "; ".join(problems))
    result = calibrator.calibrate(region)
    result.save(s["out"])
    print(result.summary())
    print(f"written {s['out']}")
    return 0


def make_calibrator(strategy: str, *, seed: int, parameter_space=None, options: dict):
    """The Calibrator the CLI runs: the same object ``vic_paraformer.calibrate`` builds."""
    from ..registry import get_calibrator

    kwargs = dict(options)
    if parameter_space is not None:
        kwargs["parameter_space"] = parameter_space
    return get_calibrator(strategy, seed=seed, **kwargs)


def _run_apply(args: argparse.Namespace) -> int:
    from ..region import Region

    if args.strategy or args.surrogate or args.option or args.config or args.model_out:
        raise ConfigError("--apply takes only --region, --out and --device (the model fixes the strategy and options)")
    _check_paths(args.region, args.out)
    if not Path(args.apply).exists():
        raise StrategyError(f"{args.apply}: model file not found")
    try:
        from ..strategies._dl import apply_model
    except ImportError as exc:
        raise StrategyError(f"applying saved models needs the DL strategies module ({exc})") from None
    region = Region.open(args.region)
    result = apply_model(args.apply, region, device=args.device)
    result.save(args.out)
    print(result.summary())
    print(f"written {args.out}")
    return 0
