"""The observation options every command that reads observations shares.

``--obs PATH --obs-format NAME|auto`` and the reader options ``--depth TOP BOTTOM``, ``--flags``,
``--min-coverage``, ``--energy-closure`` and the repeatable ``--obs-option KEY=VALUE`` for a
reader's own settings (:class:`vic_paraformer.readers.ReadOptions`, its ``extra``). The format
choices are the registered readers (:func:`vic_paraformer.registry.list_readers`) and ``auto``,
so a reader installed or added later is offered without changing a command. Invalid values are
argparse errors (exit 2) naming the option.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

__all__ = ["add_obs_options", "read_options", "obs_kwargs", "format_choices", "check_obs_options", "key_value",
           "OBS_OPTION_KEYS"]

#: Reader options ``--obs-option`` knows; each reader documents those it uses.
OBS_OPTION_KEYS = ("utc_offset", "lat", "lon", "site", "badm", "swc_depths", "le_column", "pass", "variable",
                   "layer_thickness_m", "sm_units")


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` with a known reader-option key (argparse type)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key not in OBS_OPTION_KEYS:
        raise argparse.ArgumentTypeError(f"unknown reader option {key!r}; expected one of {', '.join(OBS_OPTION_KEYS)}")
    return key, value.strip()


def format_choices() -> list[str]:
    """``auto`` and every registered observation format."""
    from ..registry import list_readers

    return ["auto", *list_readers()]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return value


class _Depth(argparse.Action):
    """``--depth TOP BOTTOM`` in metres, 0 <= TOP <= BOTTOM."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            top, bottom = (float(v) for v in values)
        except ValueError:
            parser.error(f"argument {option_string}: expected TOP BOTTOM in metres, got {' '.join(values)}")
        if not (math.isfinite(top) and math.isfinite(bottom) and 0.0 <= top <= bottom):
            parser.error(f"argument {option_string}: expected TOP BOTTOM in metres with 0 <= TOP <= BOTTOM, got "
                         f"{' '.join(values)}")
        setattr(namespace, self.dest, (top, bottom))


def add_obs_options(p: argparse.ArgumentParser, *, required: bool = False,
                    obs_help: str = "observations to attach (replacing the region's)") -> None:
    """Add ``--obs``, ``--obs-format`` and the reader options to ``p``."""
    g = p.add_argument_group("observations (see 'Observation formats' in the README)")
    g.add_argument("--obs", required=required, metavar="PATH", help=obs_help)
    g.add_argument("--obs-format", default="auto", choices=format_choices(), metavar="FORMAT",
                   help="format of --obs: " + ", ".join(format_choices()) + " (default auto: detected)")
    g.add_argument("--depth", nargs=2, metavar=("TOP", "BOTTOM"), action=_Depth, default=None,
                   help="soil-moisture sensing depths to keep, metres (reader default: 0 0.1)")
    g.add_argument("--flags", default=None, help="quality flags to accept, comma separated (reader default)")
    g.add_argument("--min-coverage", type=_fraction, default=None, metavar="F",
                   help="a day of sub-daily data counts when this fraction of its steps is valid (default 0.75)")
    g.add_argument("--energy-closure", action="store_true", default=None,
                   help="correct flux-tower latent heat for energy-balance closure, Bowen ratio kept: "
                        "LE * (NETRAD - G) / (H + LE) per day (a FLUXNET file's LE_CORR when present)")
    g.add_argument("--obs-option", action="append", default=None, type=key_value, metavar="KEY=VALUE",
                   help="reader option, repeatable: utc_offset=-7 (hours east of UTC of local standard time), "
                        "lat=..., lon=... (site position), site=US-Xxx, badm=BIF.csv (the site's BADM file), "
                        "swc_depths=1=0.05,2=0.2 (soil-water sensor depths, m), le_column=LE_1_1_1, pass=AM|PM|both "
                        "(SMAP), variable=NAME (CF grid), layer_thickness_m=0.05, sm_units=percent (ISMN)")


def obs_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The reader options given on the command line, as :class:`ReadOptions` keywords."""
    out: dict[str, Any] = {}
    if getattr(args, "depth", None) is not None:
        out["depth"] = tuple(args.depth)
    for key in ("flags", "min_coverage", "energy_closure"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = value
    if getattr(args, "obs_option", None):
        out["extra"] = dict(args.obs_option)
    return out


def read_options(args: argparse.Namespace):
    """The :class:`~vic_paraformer.readers.ReadOptions` of the command line, or None when no
    reader option is given (the readers' defaults)."""
    kwargs = obs_kwargs(args)
    if not kwargs:
        return None
    from ..readers import ReadOptions

    return ReadOptions(**kwargs)


def check_obs_options(args: argparse.Namespace) -> None:
    """Reader options without ``--obs`` are an error naming them (they would be ignored)."""
    from ..config import ConfigError

    given = list(obs_kwargs(args))
    if getattr(args, "obs_format", "auto") != "auto":
        given.insert(0, "obs_format")
    if given and not getattr(args, "obs", None):
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags} only apply with --obs PATH")
