"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    If the body raises (including ``KeyboardInterrupt``) the temporary file is removed
    and ``path`` is left as it was, so an interrupted run never leaves a corrupt output.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def to_netcdf_atomic(ds, path: str | os.PathLike, **kwargs) -> Path:
    """Write an xarray Dataset to netCDF atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, **kwargs)
    return Path(path)


def load_torch_file(path: str | os.PathLike, what: str, error_cls: type[Exception]) -> dict:
    """``torch.load(path, weights_only=True)`` onto the CPU, with one clear ``error_cls`` for a missing
    or unreadable file (``what`` names the kind of file in the message)."""
    import torch

    path = Path(path)
    if not path.exists():
        raise error_cls(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means a bad file
        raise error_cls(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None


def to_plain(x, *, nan_as_none: bool = True):
    """Plain Python containers and scalars, safe for ``json.dumps`` and ``torch.load(weights_only=True)``.

    Mappings become dicts with string keys, sequences and numpy arrays lists, numpy scalars Python
    scalars, paths strings; NaN and infinities become None when ``nan_as_none`` (strict JSON); any
    other object becomes its ``str``.
    """
    import math

    import numpy as np

    if isinstance(x, dict) or (hasattr(x, "items") and hasattr(x, "keys")):
        return {str(k): to_plain(v, nan_as_none=nan_as_none) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_plain(v, nan_as_none=nan_as_none) for v in x]
    if isinstance(x, np.ndarray):
        return to_plain(x.tolist(), nan_as_none=nan_as_none)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return None if nan_as_none and not math.isfinite(v) else v
    if x is None or isinstance(x, str):
        return x
    return str(x)
