"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .cf import CF_KINDS, annotate
from .errors import OutputError
from .formats import kind_attributes
from .outputs import apply_umask, check_free_space, dataset_bytes, explain_write_failure, guarded_replace


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, need_bytes: int | None = None, what: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    If the body raises (including ``KeyboardInterrupt``) the temporary file is removed
    and ``path`` is left as it was, so an interrupted run never leaves a corrupt output.
    The file gets the user's umask; an existing file of another kind is not replaced
    (:func:`vic_paraformer.outputs.guarded_replace`); a full disk or a folder without
    write permission is reported as such (:class:`~vic_paraformer.errors.OutputError`).
    ``need_bytes``: the estimated size of the file; refused before anything is written when the
    folder has less room (``what`` says what the estimate counts).
    """
    target = Path(path)
    if need_bytes is not None:
        check_free_space(target, need_bytes, what=what)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise (explain_write_failure(target, exc, need_bytes) or exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    apply_umask(tmp_path)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        guarded_replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, Exception) and not isinstance(exc, OutputError):
            explained = explain_write_failure(target, exc, need_bytes)
            if explained is not None:
                raise explained from exc
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path, need_bytes=len(text.encode()) + 4096) as tmp:
        tmp.write_text(text)
    return Path(path)


def to_netcdf_atomic(ds, path: str | os.PathLike, *, kind: str | None = None, call: str | None = None,
                     **kwargs) -> Path:
    """Write an xarray Dataset to netCDF atomically; ``kind`` is recorded as the global attribute
    ``vic_paraformer_kind`` (see :func:`vic_paraformer.outputs.file_kind`), with the kind's format
    version (:func:`vic_paraformer.formats.kind_attributes`).

    The kinds in :data:`vic_paraformer.cf.CF_KINDS` are written with CF-1.8 metadata
    (:func:`vic_paraformer.cf.annotate`; ``call`` names the Python call in the ``history``
    attribute when no command line is recorded)."""
    if kind is not None:
        if kind in CF_KINDS:
            ds = annotate(ds, kind=kind, call=call)
        else:
            ds = ds.copy(deep=False)
        ds.attrs = {**ds.attrs, **kind_attributes(kind)}
    with atomic_path(path, need_bytes=dataset_bytes(ds), what=_dims_text(ds)) as tmp:
        ds.to_netcdf(tmp, **kwargs)
    return Path(path)


def _dims_text(ds) -> str:
    """``"9 cell x 365 time, 5 variables"``: what a dataset's size estimate counts."""
    dims = " x ".join(f"{n} {d}" for d, n in ds.sizes.items())
    return f"{dims}, {len(ds.data_vars)} variables" if dims else f"{len(ds.data_vars)} variables"


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
