"""Reading the toolkit's own files: format versions, and one line naming the file for each way it can be wrong.

Every reader of a file the toolkit writes (regions, calibration results, simulation outputs,
surrogate checkpoints, DL model files) goes through :func:`check_input_file` and
:func:`open_netcdf` or :func:`load_torch`, which tell apart, each in one line that starts with the
file's path:

damaged or truncated
    the file is shorter than its own header says (:func:`truncation`: the HDF5 superblock's end of
    file, the classic netCDF header's variables, the zip directory of a torch file), fails its
    checksums, or its reader fails on it (:func:`damaged`);
not this kind
    the file is of another kind (:func:`vic_paraformer.outputs.file_kind`), e.g. ``is a surrogate
    checkpoint (torch), not a DL model file``;
another version of the format
    the file records a format version this vic_paraformer does not read (:data:`FORMAT_VERSIONS`,
    :func:`check_version`); both versions are named, and the vic_paraformer that wrote the file
    where it is recorded;
made for another region or grid
    :func:`other_region` words it: what the file was made for and what it was given (fingerprints,
    extent, cell count).

netCDF files record their kind and format version as global attributes (:func:`kind_attributes`:
``vic_paraformer_kind``, ``vic_paraformer_format_version``, ``vic_paraformer_version``); a file
without a format version is version 1, the format before versions were recorded. Torch files
record ``format``, ``version`` and ``versions`` (library versions) in their dict.

Long module (over 400 lines): the four checks share the format table and the byte-level readers
of three container formats (HDF5, classic netCDF, zip), which belong together.
"""

from __future__ import annotations

import os
import struct
import zipfile
from zlib import error as zlib_error
from pathlib import Path
from typing import Any, Mapping

from ._version import __version__
from .outputs import KIND_ATTR, describe, file_kind

#: Global attribute of a netCDF file holding its format version (an integer).
FORMAT_ATTR = "vic_paraformer_format_version"
#: Global attribute of a netCDF file naming the vic_paraformer version that wrote it.
WRITER_ATTR = "vic_paraformer_version"
#: The format version this vic_paraformer writes, per file kind (:data:`vic_paraformer.outputs.KIND_NAMES`).
FORMAT_VERSIONS: dict[str, int] = {"region": 1, "result": 1, "simulation": 1, "surrogate-scores": 1,
                                   "training-runs": 1, "surrogate": 1, "dl-model": 1, "sensitivity": 1}
#: The format versions this vic_paraformer reads, per kind (the ones it writes and any it still converts).
READABLE_VERSIONS: dict[str, frozenset[int]] = {k: frozenset({v}) for k, v in FORMAT_VERSIONS.items()}
#: The ``format`` entry of each torch kind's dict.
TORCH_FORMATS: dict[str, str] = {"surrogate": "vic_paraformer.surrogate", "dl-model": "vic_paraformer.dl_model"}

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED = object()


def kind_attributes(kind: str) -> dict[str, Any]:
    """The global attributes recording a netCDF file's kind, format version and writer."""
    out: dict[str, Any] = {KIND_ATTR: kind}
    if kind in FORMAT_VERSIONS:
        out[FORMAT_ATTR] = FORMAT_VERSIONS[kind]
        out[WRITER_ATTR] = __version__
    return out


def strip_kind_attributes(attrs: dict) -> None:
    """Remove what :func:`kind_attributes` added from ``attrs`` (a dataset as it was saved)."""
    for key in (KIND_ATTR, FORMAT_ATTR, WRITER_ATTR):
        attrs.pop(key, None)


# ---------------------------------------------------------------------------------------- messages
def damaged(path: str | os.PathLike, what: str, error_cls: type[Exception], detail: str | None = None) -> Exception:
    """``error_cls("<path>: <what> is damaged or truncated (<detail>)")``; the detail defaults to what
    :func:`truncation` finds."""
    if detail is None:
        detail = truncation_detail(path)
    return error_cls(f"{path}: {what} is damaged or truncated" + (f" ({detail})" if detail else ""))


def not_this_kind(path: str | os.PathLike, found: str | None, what: str, error_cls: type[Exception]) -> Exception:
    """``error_cls("<path>: is a <found kind>, not a <what>")``."""
    return error_cls(f"{path}: is a {describe(found or 'file')}, not a {what}")


def other_region(path: str | os.PathLike | None, what: str, made_for: str, given: str,
                 error_cls: type[Exception]) -> Exception:
    """``error_cls("<path>: <what> was made for another region or grid: <made_for>; <given>")``."""
    head = f"{path}: {what}" if path else what
    return error_cls(f"{head} was made for another region or grid: {made_for}; {given}")


def names_list(names, limit: int = 6) -> str:
    """``['a', 'b', ...]`` of at most ``limit`` names, then how many more there are (for long lists in messages)."""
    names = [str(n) for n in names]
    head = repr(names[:limit])
    return head if len(names) <= limit else f"{head[:-1]}, ...] ({len(names) - limit} more)"


def extent(lat, lon) -> str:
    """``"N cells at lat a..b, lon c..d"`` of points (for :func:`other_region`)."""
    import numpy as np

    lat = np.atleast_1d(np.asarray(lat, float))
    lon = np.atleast_1d(np.asarray(lon, float))
    if lat.size == 0:
        return "no cells"
    return (f"{lat.size} cell(s) at lat {np.nanmin(lat):.4f}..{np.nanmax(lat):.4f}, "
            f"lon {np.nanmin(lon):.4f}..{np.nanmax(lon):.4f}")


def check_version(path: str | os.PathLike, kind: str, what: str, found: Any, writer: Any,
                  error_cls: type[Exception]) -> None:
    """Raise ``error_cls`` naming both versions unless format version ``found`` of a ``kind`` file is readable."""
    readable = READABLE_VERSIONS[kind]
    try:
        version = int(found)
    except (TypeError, ValueError):
        raise error_cls(f"{path}: {what} records no valid format version ({found!r}); this vic_paraformer "
                        f"{__version__} reads format version {_versions(readable)}") from None
    if version in readable:
        return
    by = f" by vic_paraformer {writer}" if writer else ""
    advice = ("update vic_paraformer to read it" if version > max(readable)
              else "write it again with this vic_paraformer")
    raise error_cls(f"{path}: {what} was written in format version {version}{by}; this vic_paraformer "
                    f"{__version__} reads format version {_versions(readable)} ({advice})")


def _versions(versions: frozenset[int]) -> str:
    return ", ".join(str(v) for v in sorted(versions))


# ---------------------------------------------------------------------------------------- truncation
def truncation(path: str | os.PathLike) -> tuple[int, int | None] | None:
    """``(bytes present, bytes expected or None when unknown)`` when the file at ``path`` ends before its
    own header says it does, else None (also for kinds of file it cannot judge).

    Judged: HDF5 (netCDF-4) files by the end-of-file address of their superblock, classic netCDF
    files (CDF-1, -2, -5) by the extent of their variables, zip (torch) files by their directory.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[:3] == b"CDF":
                fh.seek(0)
                expected = _classic_size(fh)
            elif head == _HDF5_SIGNATURE:
                expected = _hdf5_size(fh, size)
            elif head[:4] == b"PK\x03\x04":
                return None if _zip_problem(path) is None else (size, None)
            else:
                return None
    except OSError:
        return None
    if expected is _UNDEFINED:
        return (size, None)
    if expected is None or size >= expected - 4:  # the last variable's padding may be absent
        return None
    return (size, int(expected))


def truncation_detail(path: str | os.PathLike) -> str | None:
    """What :func:`truncation` found, in words (None: nothing)."""
    found = truncation(path)
    if found is None:
        return None
    size, expected = found
    if expected is None:
        return _zip_problem(Path(path)) or f"{size} bytes, the file ends inside its header"
    return f"{size} of its {expected} bytes are present"


def _zip_problem(path: Path) -> str | None:
    """What is wrong with a zip (torch) file's structure, or None when its directory and checksums hold."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return None
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return f"{path.stat().st_size} bytes; the zip directory at its end is missing or damaged"
    with zf:
        for info in zf.infolist():
            try:
                with zf.open(info) as member:
                    while member.read(1 << 20):
                        pass
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib_error):
                return f"its part {info.filename.split('/', 1)[-1]} fails its checksum or cannot be read"
    return None


def _hdf5_size(fh, size: int):
    """The end-of-file address the HDF5 superblock records (plus its base address), or None."""
    base = 0
    while base < size:
        fh.seek(base)
        if fh.read(8) == _HDF5_SIGNATURE:
            break
        base = 512 if base == 0 else base * 2
    else:
        return None
    rest = fh.read(32)
    if len(rest) < 4:
        return _UNDEFINED
    version = rest[0]
    if version in (0, 1):
        o = rest[5]
        start = 16 + (4 if version == 1 else 0)
        fh.seek(base + 8 + start)
        raw = fh.read(4 * o)
        if len(raw) < 3 * o:
            return _UNDEFINED
        base_addr, eof = _addr(raw[:o]), _addr(raw[2 * o:3 * o])
    elif version in (2, 3):
        o = rest[1]
        fh.seek(base + 12)
        raw = fh.read(3 * o)
        if len(raw) < 3 * o:
            return _UNDEFINED
        base_addr, eof = _addr(raw[:o]), _addr(raw[2 * o:3 * o])
    else:
        return None
    if eof is None:
        return None
    return (base_addr or 0) + eof


def _addr(raw: bytes) -> int | None:
    if all(b == 0xFF for b in raw):
        return None
    return int.from_bytes(raw, "little")


class _Header:
    """Sequential reader of a classic netCDF header (big-endian)."""

    def __init__(self, fh, version: int) -> None:
        self.fh, self.version = fh, version

    def take(self, n: int) -> bytes:
        raw = self.fh.read(n)
        if len(raw) < n:
            raise EOFError
        return raw

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def count(self) -> int:
        return struct.unpack(">q", self.take(8))[0] if self.version == 5 else struct.unpack(">i", self.take(4))[0]

    def name(self) -> None:
        n = self.count()
        self.take(n + (-n) % 4)

    def attributes(self) -> None:
        self.int32()  # NC_ATTRIBUTE or ABSENT
        for _ in range(self.count()):
            self.name()
            kind = self.int32()
            n = self.count() * _CLASSIC_TYPE_SIZE.get(kind, 1)
            self.take(n + (-n) % 4)


_CLASSIC_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}


def _classic_size(fh):
    """The size a classic netCDF file's header implies (its variables' extent), or ``_UNDEFINED`` when
    the file ends inside its header."""
    magic = fh.read(4)
    version = magic[3]
    if version not in (1, 2, 5):
        return None
    h = _Header(fh, version)
    try:
        numrecs = h.count()
        h.int32()  # NC_DIMENSION or ABSENT
        dims = []
        for _ in range(h.count()):
            h.name()
            dims.append(h.count())
        h.attributes()
        h.int32()  # NC_VARIABLE or ABSENT
        variables = []
        for _ in range(h.count()):
            h.name()
            ids = [h.count() if version == 5 else h.int32() for _ in range(h.count())]
            h.attributes()
            h.int32()  # type
            vsize = h.count() if version == 5 else struct.unpack(">I", h.take(4))[0]
            begin = struct.unpack(">q" if version != 1 else ">i", h.take(8 if version != 1 else 4))[0]
            is_record = bool(ids) and 0 <= ids[0] < len(dims) and dims[ids[0]] == 0
            variables.append((begin, vsize, is_record))
    except EOFError:
        return _UNDEFINED
    header_end = fh.tell()
    recsize = sum(v for _, v, rec in variables if rec)
    streaming = numrecs in (-1, 0xFFFFFFFF)
    end = header_end
    for begin, vsize, rec in variables:
        if rec:
            if streaming or numrecs <= 0:
                continue
            end = max(end, begin + (numrecs - 1) * recsize + vsize)
        else:
            end = max(end, begin + vsize)
    return end


# ---------------------------------------------------------------------------------------- files
def check_input_file(path: str | os.PathLike, kinds: tuple[str, ...], error_cls: type[Exception], *,
                     missing: str, folder: str, not_a: str) -> Path:
    """``path`` as a :class:`Path` once it exists, is a file, is whole and is of one of ``kinds``
    (:func:`~vic_paraformer.outputs.file_kind`); else ``error_cls`` with
    ``"<path>: <missing> not found"``, ``"<path>: is a folder, expected <folder>"``,
    ``"<path>: <not_a without its article> is damaged or truncated (...)"`` or
    ``"<path>: is a <kind found>, not <not_a>"``."""
    path = Path(path)
    if not path.exists():
        raise error_cls(f"{path}: {missing} not found")
    if path.is_dir():
        raise error_cls(f"{path}: is a folder, expected {folder}")
    kind = file_kind(path)
    if kind not in ("text", "json", "png", "empty", "directory") and truncation(path) is not None:
        raise damaged(path, _bare(not_a), error_cls)
    if kind not in kinds:
        raise error_cls(f"{path}: is a {describe(kind or 'file')}, not {not_a}")
    return path


def _bare(noun: str) -> str:
    """``"a calibration result"`` -> ``"the calibration result"`` (for messages about the file itself)."""
    for article in ("a ", "an "):
        if noun.startswith(article):
            return "the " + noun[len(article):]
    return noun


def open_netcdf(path: str | os.PathLike, kind: str, what: str, error_cls: type[Exception], *,
                accept: tuple[str, ...] = ("netcdf",), chunks: Mapping[str, int] | None = None,
                missing: str | None = None):
    """The netCDF file of ``kind`` at ``path`` as an :class:`xarray.Dataset` (loaded, or lazy with
    ``chunks``), after the checks of the module docstring. ``accept`` are further kinds
    (:func:`~vic_paraformer.outputs.file_kind`, which guesses the kind of files that do not record it)
    let through to the caller's own checks, e.g. a foreign netCDF that may follow the schema; a file
    that records another kind is refused whatever ``accept`` says. ``what`` names the kind in messages
    (``"calibration result"``; ``missing`` in ``"<path>: <missing> not found"``, default ``"<what> file"``).
    The dataset keeps the kind attributes (:func:`strip_kind_attributes`)."""
    import xarray as xr

    path = check_input_file(path, (kind, *accept), error_cls, missing=missing or f"{what} file",
                            folder=f"a {what} file", not_a=f"a {what}")
    try:
        if chunks is None:
            with xr.open_dataset(path) as ds:
                ds = ds.load()
        else:
            ds = xr.open_dataset(path, chunks=dict(chunks))
    except Exception:  # noqa: BLE001 - the reader's own advice (extra IO back-ends) would mislead
        raise damaged(path, f"the {what}", error_cls, truncation_detail(path) or "its netCDF reader fails on it") from None
    recorded = ds.attrs.get(KIND_ATTR)
    if recorded is not None and str(recorded) != kind:
        ds.close()
        raise not_this_kind(path, str(recorded), what, error_cls)
    if recorded is not None or FORMAT_ATTR in ds.attrs:
        check_version(path, kind, f"the {what}", ds.attrs.get(FORMAT_ATTR, 1), ds.attrs.get(WRITER_ATTR), error_cls)
    return ds


def load_torch(path: str | os.PathLike, kind: str, what: str, error_cls: type[Exception]) -> dict:
    """The dict of the torch file of ``kind`` (``"surrogate"`` or ``"dl-model"``) at ``path``, read with
    ``torch.load(weights_only=True)`` onto the CPU, after the checks of the module docstring
    (``what`` names the kind in messages: ``"surrogate checkpoint"``)."""
    import pickle

    import torch

    path = check_input_file(path, (kind, "torch"), error_cls, missing=what, folder=f"a {what} file",
                            not_a=f"a {what}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own text suggests weights_only=False, which would execute code from the file:
        # never pass that advice on.
        raise error_cls(f"{path}: cannot read the {what}: the file holds objects other than plain tensors and "
                        "containers (refused for safety)") from None
    except Exception:  # noqa: BLE001 - any other reader failure means a damaged file
        raise damaged(path, f"the {what}", error_cls, truncation_detail(path) or "torch cannot read it") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    found = next((k for k, f in TORCH_FORMATS.items() if f == fmt), "torch")
    if found != kind:
        raise not_this_kind(path, found, what, error_cls)
    versions = data.get("versions")
    writer = versions.get("vic-paraformer") if isinstance(versions, dict) else None
    check_version(path, kind, f"the {what}", data.get("version"), writer, error_cls)
    return data


__all__ = ["FORMAT_ATTR", "FORMAT_VERSIONS", "READABLE_VERSIONS", "TORCH_FORMATS", "WRITER_ATTR", "check_input_file",
           "check_version", "damaged", "extent", "kind_attributes", "names_list", "load_torch", "not_this_kind", "open_netcdf",
           "other_region", "strip_kind_attributes", "truncation", "truncation_detail"]
