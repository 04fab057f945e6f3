"""The output guard: every file or folder the toolkit writes passes through here.

Two layers:

:func:`check_output` (commands, before any work)
    Resolves the path (``~``, symlinks, ``..``) and refuses it when it is one of the command's inputs
    (whatever ``--overwrite`` says), when it is a folder where a file is expected (or a file where a
    folder is), when an existing file there is of another kind than the command writes (unless
    ``overwrite``), or when its folder cannot be written or lacks room for the output: its estimated
    size (:func:`estimate_bytes`, from the command's cells, days and variables) where the command
    knows it before any work, else :data:`MIN_FREE_BYTES`.
:func:`guarded_replace` (every writer, via :func:`vic_paraformer._io.atomic_path`)
    Before the finished temporary file replaces an existing one it compares their kinds, so API
    writers never replace, say, a region with a result unless the path was cleared by
    :func:`check_output` ``(overwrite=True)`` or :func:`permit_replace`.

File kinds are recognised from content, not names (:func:`file_kind`): netCDF files this toolkit
writes carry a global attribute ``vic_paraformer_kind``; others are recognised by their variables.

Room on the disk: every netCDF writer (:func:`vic_paraformer._io.to_netcdf_atomic`) checks the free
space against the size of the dataset it is about to write (values x bytes per value, plus
:data:`SPACE_MARGIN` and :data:`SPACE_OVERHEAD`) before writing, and a write that fails all the same
for want of room (``ENOSPC``, or the netCDF library's "NetCDF: HDF error" on a nearly full disk)
is reported in one line naming the file and the free space; the temporary file is removed, so
nothing partial is left behind.

Written files get the user's umask (``0o666 & ~umask``), like any file a program creates.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from .errors import OutputError

KIND_ATTR = "vic_paraformer_kind"
#: Free space every output check asks for when the command cannot estimate its output's size before
#: any work: room for a run configuration, a JSON report or a small result (256 KiB).
MIN_FREE_BYTES = 256 * 1024
#: Relative margin on an estimated output size (HDF5 chunk and B-tree overhead; measured below 5 %
#: on the files this package writes without compression).
SPACE_MARGIN = 0.10
#: Bytes added to every estimate: netCDF/HDF5 headers, attributes and coordinates (64 KiB).
SPACE_OVERHEAD = 64 * 1024

#: What each kind is called in messages.
KIND_NAMES: dict[str, str] = {
    "region": "vic_paraformer region (netCDF)",
    "result": "calibration result (netCDF)",
    "simulation": "simulation output (netCDF)",
    "vic-parameters": "VIC parameter file (netCDF)",
    "training-runs": "surrogate training-run chunk (netCDF)",
    "surrogate-scores": "surrogate evaluation scores per cell (netCDF)",
    "sensitivity": "sensitivity indices per cell (netCDF)",
    "netcdf": "netCDF/HDF5 file not written by vic_paraformer",
    "surrogate": "surrogate checkpoint (torch)",
    "dl-model": "DL strategy model file (torch)",
    "torch": "torch file not written by vic_paraformer",
    "zip": "zip archive",
    "json": "JSON file",
    "png": "PNG image",
    "text": "text file",
    "binary": "binary file",
    "empty": "empty file",
    "directory": "folder",
}

_approved: set[str] = set()


def describe(kind: str) -> str:
    """A readable name for a file kind."""
    return KIND_NAMES.get(kind, kind)


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have given it under the current umask."""
    base = 0o777 if folder else 0o666
    try:
        os.chmod(path, base & ~current_umask())
    except OSError:
        pass


def _netcdf_kind(path: Path) -> str:
    try:
        import netCDF4

        with netCDF4.Dataset(path, "r") as nc:
            attrs = set(nc.ncattrs())
            if KIND_ATTR in attrs:
                return str(nc.getncattr(KIND_ATTR))
            names = set(nc.variables)
    except Exception:  # noqa: BLE001 - an unreadable HDF5 file is simply "not ours"
        return "netcdf"
    if "vic_paraformer_result" in attrs:
        return "result"
    if {"prec", "air_temp"} <= names and "attributes" in names:
        return "region"
    if "infilt" in names and ({"Nlayer", "run_cell", "gridcell"} & names):
        return "vic-parameters"
    if {"sm", "et"} <= names:
        return "simulation"
    return "netcdf"


def _torch_kind(path: Path) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pickles:
                return "zip"
            head = zf.read(pickles[0])[:4096]
    except Exception:  # noqa: BLE001 - a damaged zip: most likely a truncated torch file
        return "torch"
    if b"vic_paraformer.surrogate" in head:
        return "surrogate"
    if b"vic_paraformer.dl_model" in head:
        return "dl-model"
    return "torch"


def file_kind(path: str | os.PathLike) -> str | None:
    """The kind of file at ``path`` (a key of :data:`KIND_NAMES`), or None when nothing is there."""
    path = Path(path)
    if not path.exists():
        return None
    if path.is_dir():
        return "directory"
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return "binary"
    if not head:
        return "empty"
    if head.startswith(b"\x89HDF\r\n\x1a\n") or head[:3] == b"CDF":
        return _netcdf_kind(path)
    if head.startswith(b"PK\x03\x04"):
        return _torch_kind(path)
    if head.startswith(b"\x89PNG"):
        return "png"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    if "\x00" in text:
        return "binary"
    return "json" if text.lstrip()[:1] in ("{", "[") else "text"


def _key(path: str | os.PathLike) -> str:
    return str(Path(path).expanduser().resolve())


def permit_replace(path: str | os.PathLike) -> None:
    """Allow the writers of this process to replace whatever file is at ``path`` (``--overwrite``)."""
    _approved.add(_key(path))


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_folder_writable(folder: Path, *, option: str, path: str | os.PathLike,
                          need_bytes: int = MIN_FREE_BYTES, what: str = "") -> None:
    """Raise OutputError unless ``folder`` (or its nearest existing ancestor) is a writable folder with room."""
    anc = _nearest_existing(folder)
    if not anc.is_dir():
        raise OutputError(f"{option} {path}: {anc} is a file, not a folder; choose a path in a folder")
    probe = None
    try:
        fd, probe = tempfile.mkstemp(prefix=".vicpf-probe-", dir=anc)
        os.close(fd)
    except OSError as exc:
        why = {errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device"}.get(
            exc.errno, "permission denied")
        raise OutputError(f"{option} {path}: cannot write in folder {anc} ({why})") from None
    finally:
        if probe is not None:
            try:
                os.unlink(probe)
            except OSError:
                pass
    free = shutil.disk_usage(anc).free
    if free < need_bytes:
        raise OutputError(f"{option} {path}: only {_mb(free)} free in {anc}; about {_mb(need_bytes)} is needed"
                          + (f" ({what})" if what else ""))


def _mb(n: float) -> str:
    """``n`` bytes in KiB, MiB or GiB."""
    if n < 2**20:
        return f"{n / 2**10:.0f} KiB"
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def estimate_bytes(n_values: int | float, bytes_per_value: int = 8) -> int:
    """The disk space an output of ``n_values`` values needs: ``n_values * bytes_per_value`` plus
    :data:`SPACE_MARGIN` and :data:`SPACE_OVERHEAD` (e.g. cells x days x variables values of a
    simulation, 8 bytes each as float64)."""
    return int(n_values * bytes_per_value * (1 + SPACE_MARGIN)) + SPACE_OVERHEAD


def dataset_bytes(ds) -> int:
    """:func:`estimate_bytes` of an xarray Dataset as it will be written: every variable and
    coordinate, at the dtype of its encoding when one is set."""
    import numpy as np

    total = 0
    for var in list(ds.variables.values()):
        dtype = var.encoding.get("dtype", var.dtype)
        try:
            itemsize = np.dtype(dtype).itemsize
        except TypeError:
            itemsize = 8
        if var.dtype.kind in "OUS":  # text: the characters, roughly
            itemsize = max(itemsize, 16)
        total += int(var.size) * itemsize
    return estimate_bytes(total, 1)


def netcdf_dims(path: str | os.PathLike | None) -> dict[str, int]:
    """The dimensions of the netCDF file at ``path`` read from its header only ({} when it cannot be
    read: the command reports that file when it opens it)."""
    if not path:
        return {}
    try:
        import netCDF4

        with netCDF4.Dataset(path, "r") as nc:
            return {name: len(dim) for name, dim in nc.dimensions.items()}
    except Exception:  # noqa: BLE001 - any problem is the reader's to report, with its own message
        return {}


def check_free_space(target: str | os.PathLike, need_bytes: int, *, what: str = "") -> None:
    """OutputError unless the folder of ``target`` (or its nearest existing ancestor) has
    ``need_bytes`` free; ``what`` says what the estimate counts ("9 cells x 365 days x 5 variables")."""
    folder = _nearest_existing(Path(target).parent)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need_bytes:
        raise OutputError(f"{target}: only {_mb(free)} free in {folder}; about {_mb(need_bytes)} is needed"
                          + (f" ({what})" if what else "") + "; nothing was written")


def check_output(path: str | os.PathLike | None, *, kind: str, option: str = "--out",
                 inputs: Mapping[str, str | os.PathLike | None] | None = None, overwrite: bool = False,
                 need_bytes: int = MIN_FREE_BYTES, required: bool = True, what: str = "") -> Path | None:
    """Check an output before any work; return its resolved path (None when optional and not given).

    ``kind`` is what the command writes there (a key of :data:`KIND_NAMES`; ``"directory"`` for an
    output folder). ``inputs`` maps option names (``"--region"``) to the command's input paths.
    ``overwrite`` allows replacing an existing file of another kind (never an input).
    ``need_bytes`` is the room the output needs (:func:`estimate_bytes`; ``what`` says what it
    counts, for the message).
    """
    if path is None or str(path) == "":
        if required:
            raise OutputError(f"{option} is required")
        return None
    given = Path(path).expanduser()
    target = given.resolve()
    for name, inp in (inputs or {}).items():
        if inp is None or str(inp) == "":
            continue
        src = Path(inp).expanduser().resolve()
        if _same(target, src):
            raise OutputError(f"{option} {path} is the input {name} {inp}; choose another path "
                              "(inputs are never overwritten)")
        if kind == "directory" and target in src.parents:
            raise OutputError(f"{option} {path} is a folder holding the input {name} {inp}; this command writes "
                              "into it, so choose another folder")
    if kind == "directory":
        if target.exists() and not target.is_dir():
            raise OutputError(f"{option} {path} exists and is a {describe(file_kind(target) or 'file')}, "
                              "not a folder; choose a folder path")
        check_folder_writable(target, option=option, path=path, need_bytes=need_bytes, what=what)
        return target
    if target.is_dir():
        raise OutputError(f"{option} {path} is a folder; expected a file path (e.g. {Path(path) / 'out'}...)")
    existing = file_kind(target)
    if existing is not None and existing not in (kind, "empty"):
        if not overwrite:
            raise OutputError(f"{option} {path} exists and is a {describe(existing)}, not a {describe(kind)}; "
                              "choose another path, or pass --overwrite to replace it")
        permit_replace(target)
    check_folder_writable(target.parent, option=option, path=path, need_bytes=need_bytes, what=what)
    return target


def guarded_replace(tmp: Path, target: Path) -> None:
    """``os.replace(tmp, target)`` unless ``target`` holds a file of another kind than ``tmp``."""
    if target.exists() and _key(target) not in _approved:
        if target.is_dir():
            raise OutputError(f"{target} is a folder; cannot replace it with a file")
        old, new = file_kind(target), file_kind(tmp)
        if old not in (new, "empty"):
            raise OutputError(f"{target} exists and is a {describe(old or 'file')}, not a {describe(new or 'file')}; "
                              "refusing to replace it (remove it first, or use --overwrite / permit_replace)")
    os.replace(tmp, target)


def _out_of_space(exc: BaseException, free: int | None, need_bytes: int | None) -> bool:
    """Whether the failed write ``exc`` is most likely a full disk."""
    err = getattr(exc, "errno", None)
    if err in (errno.ENOSPC, errno.EDQUOT) or "no space left" in str(exc).lower():
        return True
    if free is None:
        return False
    hdf = "hdf error" in str(exc).lower() or "netcdf:" in str(exc).lower()
    # the netCDF library reports a full disk as "NetCDF: HDF error"; the temporary file is already
    # removed when we look, so compare the room left with what the file needed
    return free < 1024 * 1024 or (hdf and need_bytes is not None and free < need_bytes)


def explain_write_failure(target: Path, exc: BaseException, need_bytes: int | None = None) -> OutputError | None:
    """An OutputError for a failed write caused by a full disk or missing permission, else None
    (``need_bytes``: the estimated size of the file that was being written)."""
    folder = _nearest_existing(target.parent)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    err = getattr(exc, "errno", None)
    if _out_of_space(exc, free, need_bytes):
        needed = f", about {_mb(need_bytes)} needed" if need_bytes else ""
        return OutputError(f"{target}: no space left on the device of {folder} "
                           f"({_mb(free or 0)} free{needed}); nothing was written")
    if err in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{target}: cannot write in folder {folder} ({os.strerror(err)})")
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        return OutputError(f"{target}: a path component is a file, not a folder")
    if isinstance(exc, RuntimeError) and str(exc).startswith("NetCDF:"):
        return OutputError(f"{target}: the netCDF library failed while writing ({exc}; {_mb(free or 0)} free in "
                           f"{folder}); nothing was written")
    return None
