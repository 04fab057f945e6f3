"""``vic-paraformer strategies``: list installed calibration strategies and their options.

::

    vic-paraformer strategies                 # names only (nothing is imported)
    vic-paraformer strategies --verbose       # distribution, version, module, description, import status
    vic-paraformer strategies NAME [NAME...]  # every option of these strategies: type, default, meaning
    vic-paraformer strategies --options       # every option of every strategy
"""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap

from ..registry import STRATEGY_GROUP, discover, get_calibrator_class, normalize_name


def register(sub) -> None:
    p = sub.add_parser("strategies", help="list installed calibration strategies and their options",
                       description="List the built-in strategies and those other installed distributions "
                                   f"register in the entry-point group '{STRATEGY_GROUP}'; with NAME, "
                                   "every option of that strategy with its type, default and meaning.",
                       epilog="Options are set with 'calibrate --option KEY=VALUE' or under 'options:' in a "
                              "'calibrate --config' YAML file (examples/configs/ has one per strategy).")
    p.add_argument("names", nargs="*", metavar="NAME", help="strategies whose options to list")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show distribution, version, module, description and import status")
    p.add_argument("--options", action="store_true", help="list the options of every installed strategy")
    p.set_defaults(func=run)


def _default(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, str):
        return value if value else "''"
    return json.dumps(value) if isinstance(value, (dict, list, tuple)) else repr(value)


def format_options(cls) -> str:
    """The options table of one Calibrator class, wrapped to the terminal's width."""
    infos = cls.describe_options()
    w_name = max(len("option"), *(len(i.name) for i in infos))
    w_type = max(len("type"), *(len(i.type) for i in infos))
    w_def = min(14, max(len("default"), *(len(_default(i.default)) for i in infos)))
    width = max(80, shutil.get_terminal_size((100, 24)).columns)
    indent = 2 + w_name + 2 + w_type + 2 + w_def + 2
    lines = [f"  {'option':<{w_name}}  {'type':<{w_type}}  {'default':<{w_def}}  meaning"]
    for i in infos:
        default = _default(i.default)
        head = f"  {i.name:<{w_name}}  {i.type:<{w_type}}  "
        meaning = i.help or "(not documented by the strategy)"
        if len(default) > w_def:  # long default: on its own line
            lines.append(head + default)
            head = " " * indent
        else:
            head += f"{default:<{w_def}}  "
        wrapped = textwrap.wrap(meaning, width=max(30, width - indent)) or [""]
        lines.append(head + wrapped[0])
        lines.extend(" " * indent + rest for rest in wrapped[1:])
    return "\n".join(lines)


def _show(name: str) -> None:
    cls = get_calibrator_class(name)
    desc = getattr(cls, "description", "") or ""
    print(f"{normalize_name(name)}: {desc}" if desc else normalize_name(name))
    print(format_options(cls))


def run(args: argparse.Namespace) -> int:
    if args.names or args.options:
        names = args.names or list(discover(STRATEGY_GROUP, load=False))
        for k, name in enumerate(names):
            if k:
                print()
            _show(name)
        return 0
    infos = discover(STRATEGY_GROUP, load=args.verbose)
    if not args.verbose:
        for name in infos:
            print(name)
        return 0
    for info in infos.values():
        status = "ok" if info.ok else f"FAILED ({info.error})"
        print(f"{info.name}\n  distribution: {info.distribution} {info.version}\n  module: {info.value}\n"
              f"  description: {info.description}\n  import: {status}")
        if info.ok:
            names = ", ".join(i.name for i in info.obj.describe_options()) if hasattr(info.obj, "describe_options") \
                else ", ".join(getattr(info.obj, "default_options", {}))
            print(f"  options: {names} (details: vic-paraformer strategies {info.name})")
    return 0
