"""Run the VIC 5 image driver in an isolated run directory and read its history files back.

One run = one directory holding everything VIC reads or writes for it::

    <run_dir>/global.txt     the user's global file, rendered by GlobalParamFile.for_run
    <run_dir>/params.nc      the parameter file of this run
    <run_dir>/results/       RESULT_DIR (history files)
    <run_dir>/logs/          LOG_DIR (VIC's own log) + vic.stdout.log / vic.stderr.log
    <run_dir>/states/        STATENAME, when the user's file writes states

VIC is started as an argument list (no shell): ``[mpiexec -n N [--allow-run-as-root]] exe -g
/abs/run_dir/global.txt`` with the run directory as its working folder (every path is absolute,
so a relative ``workdir`` works), always with ``OMP_NUM_THREADS=1`` in its environment (more OpenMP threads make the
image driver write NaN cells and still exit 0, UW-Hydro/VIC#787), in its own process group so a
timeout or Ctrl-C kills it together with any MPI ranks. The executable comes from the ``exe``
argument, the ``VIC_IMAGE_EXE`` environment variable, or ``vic_image.exe`` on ``PATH``.

Every failure is a :class:`~vic_paraformer.errors.VICError` that names the run directory: missing
or non-executable program, non-zero exit status (with VIC's ``[ERROR]`` lines or the last log
lines), timeout, missing history files, and NaN/fill values inside the simulated cells (VIC
silently produces those for unusable parameters, e.g. ``Ws = 0``).

Outputs read back (``read_outputs``), daily over ``(cell, time)``:

``sm``        ``OUT_SOIL_MOIST`` of layer 1 (mm, end of day) / (``depth[0]`` m x 1000) -> m3 m-3
``et``        ``OUT_EVAP`` (mm/day)
``runoff``    ``OUT_RUNOFF`` (mm/day)
``baseflow``  ``OUT_BASEFLOW`` (mm/day)
``prec``      ``OUT_PREC`` (mm/day, as VIC saw it)
``dstorage``  change over the day of ``S = sum of OUT_SOIL_MOIST over layers + OUT_SWE + OUT_WDEW +
              OUT_SNOW_CANOPY`` (end-of-day states, mm). For the first day the start storage is
              the parameter file's ``init_moist`` summed over layers (no snow, dry canopy: VIC's
              cold start); with an ``INIT_STATE`` in the global file it is unknown and the first
              day's ``dstorage`` is the water-balance residual ``prec - et - runoff - baseflow``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import VICError
from .._procs import child_preexec
from .globalfile import RUN_OUTFILE, GlobalParamFile, Period

log = logging.getLogger(__name__)

EXE_ENV = "VIC_IMAGE_EXE"
EXE_NAME = "vic_image.exe"
FILL_THRESHOLD = 1e30

_active: set[subprocess.Popen] = set()
_active_lock = threading.Lock()


def find_executable(exe: str | os.PathLike | None = None) -> Path:
    """The VIC image driver: ``exe``, else ``$VIC_IMAGE_EXE``, else ``vic_image.exe`` on PATH."""
    if exe is not None:
        source = "the exe argument"
    elif os.environ.get(EXE_ENV):
        exe, source = os.environ[EXE_ENV], f"${EXE_ENV}"
    else:
        found = shutil.which(EXE_NAME)
        if found is None:
            raise VICError(f"VIC image driver not found: pass exe=..., set {EXE_ENV}, or put {EXE_NAME} on PATH "
                           "(install VIC 5 your usual way)")
        exe, source = found, "PATH"
    p = Path(exe)
    if not p.is_file():
        raise VICError(f"VIC executable {p} (from {source}) does not exist")
    if not os.access(p, os.X_OK):
        raise VICError(f"VIC executable {p} (from {source}) is not executable (chmod +x?)")
    return p.resolve()


@dataclass(frozen=True)
class RunDir:
    """The files of one VIC run (see the module docstring)."""

    path: Path

    @property
    def global_file(self) -> Path:
        return self.path / "global.txt"

    @property
    def params_file(self) -> Path:
        return self.path / "params.nc"

    @property
    def result_dir(self) -> Path:
        return self.path / "results"

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    @property
    def state_dir(self) -> Path:
        return self.path / "states"

    @property
    def stdout(self) -> Path:
        return self.log_dir / "vic.stdout.log"

    @property
    def stderr(self) -> Path:
        return self.log_dir / "vic.stderr.log"

    def create(self) -> "RunDir":
        for d in (self.path, self.result_dir, self.log_dir, self.state_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def write_global(self, gf: GlobalParamFile, period: Period, *, keep_user_outputs: bool = False,
                     parameters: Path | None = None, init_state: Path | None = None,
                     save_state: tuple[Path, object] | None = None) -> Path:
        """Render ``gf`` for this run into :attr:`global_file` (``init_state``/``save_state``: see
        :meth:`GlobalParamFile.for_run`)."""
        text = gf.for_run(parameters=parameters or self.params_file, result_dir=self.result_dir,
                          log_dir=self.log_dir, period=period, state_dir=self.state_dir,
                          keep_user_outputs=keep_user_outputs, init_state=init_state, save_state=save_state)
        self.global_file.write_text(text)
        return self.global_file


def _is_openmpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    text = (out.stdout + out.stderr).lower()
    return any(tag in text for tag in ("open mpi", "openrte", "open-mpi"))


def command(exe: Path, global_file: Path, mpi_procs: int | None = None, mpiexec: str | None = None) -> list[str]:
    """The argument list that runs VIC (with an MPI launcher when ``mpi_procs`` > 1)."""
    argv = [str(exe), "-g", str(global_file)]
    if mpi_procs is None or mpi_procs <= 1:
        return argv
    launcher = mpiexec or shutil.which("mpiexec") or shutil.which("mpirun")
    if launcher is None:
        raise VICError(f"mpi_procs={mpi_procs} needs an MPI launcher (mpiexec) on PATH or mpiexec=...")
    pre = [launcher, "-n", str(int(mpi_procs))]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and _is_openmpi(launcher):
        pre.append("--allow-run-as-root")
    return pre + argv


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def kill_all() -> None:
    """Kill every VIC process this module started that is still running (used on Ctrl-C)."""
    with _active_lock:
        procs = list(_active)
    for p in procs:
        _kill(p)


def _log_tail(run: RunDir, n: int = 12) -> str:
    lines: list[str] = []
    logs = sorted(run.log_dir.glob("vic.log.*")) + [run.stderr, run.stdout]
    for p in logs:
        if p.is_file():
            lines.extend(p.read_text(errors="replace").splitlines())
    errors = [ln.strip() for ln in lines if "[ERROR]" in ln]
    picked = errors[-n:] if errors else [ln.strip() for ln in lines if ln.strip()][-n:]
    return " | ".join(picked) if picked else "(no output)"


def run_vic(run: RunDir, exe: Path, *, mpi_procs: int | None = None, mpiexec: str | None = None,
            timeout: float | None = 3600.0, env: dict | None = None) -> float:
    """Run VIC on ``run.global_file``; return the wall time in seconds or raise VICError."""
    path = run.path.resolve()
    argv = command(exe, path / run.global_file.name, mpi_procs, mpiexec)
    child_env = dict(os.environ if env is None else env)
    child_env["OMP_NUM_THREADS"] = "1"
    run.log_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(run.stdout, "wb") as out, open(run.stderr, "wb") as err:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=path, env=child_env,
                                    start_new_session=True, preexec_fn=child_preexec)
        except OSError as exc:
            raise VICError(f"cannot start VIC ({' '.join(argv)}): {exc}; run directory {run.path}") from None
        with _active_lock:
            _active.add(proc)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise VICError(f"VIC did not finish within {timeout:g} s and was killed; run directory {run.path}; "
                           f"last log lines: {_log_tail(run)}") from None
        except BaseException:
            _kill(proc)
            raise
        finally:
            with _active_lock:
                _active.discard(proc)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise VICError(f"VIC exited with status {rc} in run directory {run.path}: {_log_tail(run)}")
    log.debug("VIC finished in %.2f s (%s)", wall, run.path)
    return wall


def history_files(run: RunDir, prefix: str = RUN_OUTFILE) -> list[Path]:
    """The history files of the stream ``prefix`` in the run's result folder, in date order."""
    return sorted(run.result_dir.glob(f"{prefix}.*.nc"))


def read_outputs(run: RunDir, rows: np.ndarray, cols: np.ndarray, days: pd.DatetimeIndex, depth0: np.ndarray,
                 *, cell_ids: np.ndarray | None = None, init_storage: np.ndarray | None = None,
                 prefix: str = RUN_OUTFILE) -> xr.Dataset:
    """Read the run's history files at grid cells (rows, cols) as daily outputs (module docstring).

    Raises VICError naming the run directory when files are missing, days are missing, or a value
    inside the simulated cells is NaN/fill.
    """
    files = history_files(run, prefix)
    if not files:
        raise VICError(f"VIC wrote no history file {prefix}.*.nc in {run.result_dir}; run directory {run.path}: "
                       f"{_log_tail(run)}")
    needed = ("OUT_SOIL_MOIST", "OUT_EVAP", "OUT_RUNOFF", "OUT_BASEFLOW", "OUT_PREC")
    optional = ("OUT_SWE", "OUT_WDEW", "OUT_SNOW_CANOPY")
    parts: dict[str, list[np.ndarray]] = {v: [] for v in needed + optional}
    times: list[pd.DatetimeIndex] = []
    for f in files:
        try:
            with xr.open_dataset(f) as ds:
                for v in needed:
                    if v not in ds.variables:
                        raise VICError(f"{f}: history file lacks {v}; run directory {run.path}")
                t = pd.DatetimeIndex(ds["time"].values).normalize()
                times.append(t)
                for v in needed + optional:
                    if v in ds.variables:
                        a = np.asarray(ds[v].values, dtype=np.float64)
                        parts[v].append(a[..., rows, cols])
        except (OSError, ValueError) as exc:
            raise VICError(f"{f}: cannot read VIC history file ({exc}); run directory {run.path}") from None
    t = times[0].append(times[1:])
    idx = t.get_indexer(days)
    if (idx < 0).any():
        missing = days[idx < 0]
        raise VICError(f"VIC history files in {run.result_dir} lack {len(missing)} day(s) of the period, first "
                       f"{missing[0].date()}; run directory {run.path}")
    ids = np.arange(len(rows)) if cell_ids is None else np.asarray(cell_ids)
    data: dict[str, np.ndarray] = {}
    for v, chunks in parts.items():
        if not chunks:
            continue
        a = np.concatenate(chunks, axis=0)[idx]  # (time, [layer,] cell)
        bad = ~np.isfinite(a) | (np.abs(a) > FILL_THRESHOLD)
        if bad.any():
            pos = np.argwhere(bad)[0]
            c = pos[-1]
            raise VICError(f"VIC output {v} is NaN/fill at simulated cell {ids[c]} on {days[pos[0]].date()} "
                           f"({int(bad.reshape(-1, bad.shape[-1]).any(axis=0).sum())} cell(s) "
                           f"affected): VIC ran but could not use the parameters (e.g. Ws = 0) or inputs; "
                           f"run directory {run.path}")
        data[v] = a
    soil = data["OUT_SOIL_MOIST"]  # (time, layer, cell)
    sm = soil[:, 0, :] / (np.asarray(depth0, float)[None, :] * 1000.0)
    storage = soil.sum(axis=1)
    for v in optional:
        if v in data:
            storage = storage + data[v]
    flux = {"et": data["OUT_EVAP"], "runoff": data["OUT_RUNOFF"], "baseflow": data["OUT_BASEFLOW"],
            "prec": data["OUT_PREC"]}
    dstor = np.empty_like(storage)
    dstor[1:] = np.diff(storage, axis=0)
    if idx[0] > 0:
        all_soil = np.concatenate(parts["OUT_SOIL_MOIST"], axis=0)
        prev = all_soil[idx[0] - 1].sum(axis=0)
        for v in optional:
            if parts[v]:
                prev = prev + np.concatenate(parts[v], axis=0)[idx[0] - 1]
        dstor[0] = storage[0] - prev
    elif init_storage is not None:
        dstor[0] = storage[0] - np.asarray(init_storage, float)
    else:
        dstor[0] = flux["prec"][0] - flux["et"][0] - flux["runoff"][0] - flux["baseflow"][0]
    out = {"sm": sm, **flux, "dstorage": dstor}
    units = {"sm": "m3 m-3", "et": "mm/day", "runoff": "mm/day", "baseflow": "mm/day", "prec": "mm/day",
             "dstorage": "mm/day"}
    return xr.Dataset({k: (("cell", "time"), v.T.copy(), {"units": units[k]}) for k, v in out.items()},
                      coords={"cell": ids, "time": days})


def cleanup(run: RunDir) -> None:
    """Remove a run directory (ignoring errors)."""
    shutil.rmtree(run.path, ignore_errors=True)


__all__: Sequence[str] = ("EXE_ENV", "EXE_NAME", "RunDir", "command", "find_executable", "history_files",
                          "kill_all", "read_outputs", "run_vic", "cleanup")
