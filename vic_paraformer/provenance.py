"""Provenance of results and checkpoints: the versions of the libraries that shape them."""

from __future__ import annotations

import platform


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results (stored with every result and checkpoint)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("vic-paraformer", "torch", "numpy", "xarray", "spotpy", "dask"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out
