"""``vic-paraformer clean``: list, and with ``--yes`` remove, leftover scratch folders of this tool.

Usage::

    vic-paraformer clean [--scratch DIR] [--older-than HOURS] [--yes]

Scratch folders (:mod:`vic_paraformer.scratch`) are recognised by the marker file inside them,
never by name: a folder without the marker is never touched. A folder whose process still runs
on this host is listed as in use and kept. Without ``--yes`` nothing is removed.
"""

from __future__ import annotations

import argparse

from ._scratch import existing_folder
from ._text import plain_text
from ._types import non_negative_float


def register(sub) -> None:
    p = sub.add_parser("clean", help="list or remove leftover scratch folders (of interrupted or killed commands)",
                       description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scratch", type=existing_folder, default=None, metavar="DIR",
                   help="folder to look in (default: the system temp folder, where commands put scratch unless "
                        "given --scratch)")
    p.add_argument("--older-than", type=non_negative_float, default=0.0, metavar="HOURS",
                   help="only folders at least this many hours old (default 0: all)")
    p.add_argument("--yes", action="store_true", help="remove the folders listed (default: only list them)")
    p.set_defaults(func=run)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def run(args: argparse.Namespace) -> int:
    from ..scratch import default_root, find_leftovers, remove

    root = args.scratch or str(default_root())
    found = [x for x in find_leftovers(root) if x.age_hours >= args.older_than]
    if not found:
        print(f"no scratch folders of vic-paraformer in {root}"
              + (f" older than {args.older_than:g} h" if args.older_than else ""))
        return 0
    removed = kept = 0
    total = 0
    for x in found:
        state = "in use (its command still runs), kept" if x.in_use else ""
        if args.yes and not x.in_use:
            state = "removed" if remove(x.path) else "could not be removed"
        if state == "removed":
            removed += 1
            total += x.size_bytes
        elif args.yes:
            kept += 1
        print(f"{x.path}  {x.command}  {_size(x.size_bytes)}  {x.age_hours:.1f} h old" + (f"  {state}" if state else ""))
    if args.yes:
        print(f"removed {removed} folder(s), {_size(total)}" + (f"; {kept} kept" if kept else ""))
    else:
        print(f"{len(found)} folder(s), {_size(sum(x.size_bytes for x in found))}; rerun with --yes to remove them")
    return 0
