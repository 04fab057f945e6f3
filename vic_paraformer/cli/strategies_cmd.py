"""``vic-paraformer strategies``: list installed calibration strategies."""

from __future__ import annotations

import argparse

from ..registry import STRATEGY_GROUP, discover


def register(sub) -> None:
    p = sub.add_parser("strategies", help="list installed calibration strategies",
                       description="List the strategies registered in the entry-point group "
                                   f"'{STRATEGY_GROUP}', built-in and from other installed distributions.")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show distribution, version, module, description and import status")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    infos = discover(STRATEGY_GROUP, load=args.verbose)
    if not args.verbose:
        for name in infos:
            print(name)
        return 0
    for info in infos.values():
        status = "ok" if info.ok else f"FAILED ({info.error})"
        print(f"{info.name}\n  distribution: {info.distribution} {info.version}\n  module: {info.value}\n"
              f"  description: {info.description}\n  import: {status}")
    return 0
