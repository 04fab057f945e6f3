"""The WalnutGulch sample setup that the VIC benchmarks share: its options and its region.

:func:`add_options` declares ``--exe``, ``--sample-data`` and ``--end``; :func:`open_setup` finds
the image driver, imports the sample's 15 cells up to ``--end`` (one VIC thread per process) and
returns them, or prints one line and returns None when the sample global file is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SAMPLE = Path(os.environ.get("VIC_SAMPLE_DATA") or Path(__file__).resolve().parents[2] / "shared" /
                      "vic-sample-data")
GLOBAL_FILE = "image/WalnutGulch/parameters/global_param.WalnutGulch.MOD_IGBP.txt"


@dataclass
class Setup:
    """The sample's global file, its ``${VIC_SAMPLE_DATA}`` substitution, the VIC executable and the region."""

    gfile: Path
    variables: dict
    exe: Path
    region: object


def add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--exe", help="vic_image.exe (default: $VIC_IMAGE_EXE, then PATH)")
    ap.add_argument("--sample-data", type=Path, default=DEFAULT_SAMPLE)
    ap.add_argument("--end", default="2008-12-31", help="last day of the runs (default 2008-12-31)")


def open_setup(args: argparse.Namespace) -> Setup | None:
    os.environ["OMP_NUM_THREADS"] = "1"
    gfile = args.sample_data / GLOBAL_FILE
    if not gfile.is_file():
        print(f"sample global file not found: {gfile}", file=sys.stderr)
        return None
    from vic_paraformer.vic.importer import region_from_vic
    from vic_paraformer.vic.runner import find_executable

    variables = {"VIC_SAMPLE_DATA": str(args.sample_data)}
    exe = find_executable(args.exe)
    return Setup(gfile, variables, exe, region_from_vic(gfile, variables=variables, end=args.end))
