"""Command-line options of the observation readers (``--obs-format``, ``--energy-closure``,
``--obs-option KEY=VALUE``) and the :class:`~vic_paraformer.readers.base.ReadOptions` they make."""

from __future__ import annotations

import argparse
from typing import Any

#: Reader options ``--obs-option`` knows (each reader documents those it uses).
OBS_OPTION_KEYS = ("utc_offset", "lat", "lon", "site", "badm", "swc_depths", "le_column")


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` with a known reader-option key (argparse type)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key not in OBS_OPTION_KEYS:
        raise argparse.ArgumentTypeError(f"unknown reader option {key!r}; expected one of {', '.join(OBS_OPTION_KEYS)}")
    return key, value.strip()


def add_obs_options(p: argparse.ArgumentParser) -> None:
    """Add the observation-reading options to ``p``."""
    g = p.add_argument_group("observation reading")
    g.add_argument("--obs-format", default="auto", metavar="NAME",
                   help="observation format (default auto: detected; e.g. csv, ameriflux, fluxnet)")
    g.add_argument("--energy-closure", action="store_true",
                   help="correct flux-tower latent heat for energy-balance closure, Bowen-ratio preserving: "
                        "LE * (NETRAD - G) / (H + LE) per day (a FLUXNET file's LE_CORR when present)")
    g.add_argument("--obs-option", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                   help="reader option, repeatable: utc_offset=-7 (hours east of UTC of local standard time), "
                        "lat=..., lon=... (site position), site=US-Xxx, badm=BIF.csv (the site's BADM file), "
                        "swc_depths=1=0.05,2=0.2 (soil-water sensor depths, m), le_column=LE_1_1_1")


def read_options(args: argparse.Namespace) -> Any:
    """The ReadOptions of parsed ``args`` (None when every option has its default)."""
    from ..readers import ReadOptions

    extra = dict(getattr(args, "obs_option", None) or [])
    closure = bool(getattr(args, "energy_closure", False))
    if not extra and not closure:
        return None
    return ReadOptions(energy_closure=closure, extra=extra)


__all__ = ("add_obs_options", "read_options", "key_value", "OBS_OPTION_KEYS")
