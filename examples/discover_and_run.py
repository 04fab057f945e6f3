#!/usr/bin/env python
"""Discovery from another tool's point of view: list what is available, pick a strategy by name, run it.

The built-in strategies are listed with any distribution that registers a class in the
``vic_paraformer.strategies`` entry-point group, with no change to this script (try
``pip install ./plugins/vic-paraformer-dds``).
"""

import vic_paraformer as vp
from _common import parse_args, print_metrics, synthetic_setup


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], extra=lambda p: p.add_argument("--strategy", default="sceua"))
    print("installed strategies (built in, and entry-point group vic_paraformer.strategies):")
    for name, info in vp.registry.discover(vp.registry.STRATEGY_GROUP, load=False).items():
        print(f"  {name:14s} {info.distribution:20s} {info.value}" + ("   <- picked" if name == args.strategy else ""))
    print(f"{args.strategy}: {vp.registry.get_calibrator_class(args.strategy).description}")
    region, calibration_region, test_period, surrogate = synthetic_setup(args.quick, args.seed)
    calibrator = vp.get_calibrator(args.strategy, seed=args.seed, **_options(args.strategy, args.quick, surrogate))
    problems = calibrator.validate(calibration_region)
    if problems:
        raise SystemExit(f"{args.strategy} cannot calibrate this region: {problems}")
    result = calibrator.calibrate(calibration_region)
    print_metrics(region, result, test_period)


def _options(name: str, quick: bool, surrogate) -> dict:
    """Pass the shared surrogate and, in quick mode, a small budget, to whichever options the strategy takes."""
    accepted = vp.registry.get_calibrator_class(name).default_options
    opts = {"surrogate": surrogate} if "surrogate" in accepted else {}
    if quick:
        opts.update({k: v for k, v in {"repetitions": 60, "epochs": 3}.items() if k in accepted})
    return opts


if __name__ == "__main__":
    main()
