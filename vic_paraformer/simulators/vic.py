"""``vic``: the real VIC 5 image driver behind the :class:`Simulator` interface.

The Region must come from :func:`vic_paraformer.vic.importer.region_from_vic` (it records the
global parameter file in ``region.ds.attrs["vic_global_param_file"]``), or the global file is
given as ``global_param_file``. For each parameter set the simulator

1. creates a run directory (under ``workdir``, default the command's scratch folder or the system
   temp folder, :mod:`vic_paraformer.scratch`; marked so that ``vic-paraformer clean`` finds it),
2. writes a copy of the template parameter file (default: the global file's ``PARAMETERS``) with
   the set's values on the Region's cells (:func:`vic_paraformer.vic.params.write_parameters`) and,
   with ``only_region_cells`` (default), ``run_cell = 0`` on the grid cells outside the Region so
   VIC does not spend time on them,
3. renders the global file for the Region's period (its first to last day),
4. runs VIC (:mod:`vic_paraformer.vic.runner`) and reads ``sm``, ``et``, ``runoff``, ``baseflow``,
   ``dstorage`` (and ``prec``) back per ``(cell, time)``,
5. removes the run directory unless ``keep_runs`` (a failed run's directory is always kept and
   named in the error).

Spin-up (``spinup_years``; a simulator built directly has :data:`DEFAULT_SPINUP_YEARS` = 0, the
workflows, :mod:`vic_paraformer.workflow` and every command, run it with the class attribute
``default_spinup_years`` = 1 unless told otherwise): before the run, VIC runs the
region's first year (its first 365 days, or all its days when it is shorter, with a warning) that
many times with the same parameters, each time starting from the state the previous one saved
(the first from the global file's own initial state: ``INIT_STATE`` if it has one, else the
parameter file's ``init_moist``) and saving its end state (``STATENAME``/``STATEYEAR``.. in the run
directory); the run itself then starts from that state (``INIT_STATE``). VIC does not check a
state file's date, so the first year's end state is a valid start for its first day. With
spin-up, the first day's ``dstorage`` is the water-balance residual (the start storage comes
from the state file). ``spinup_years=0`` starts from the global file's initial state.

Ensembles (parameters over ``(sample, cell)``) run one VIC process per sample, one after the
other, each in its own run directory. To run them in parallel (local processes or Dask), use
:class:`vic_paraformer.ensemble.EnsembleRunner`: for this simulator it makes one task per sample
(``parallel_unit = "run"``), so every worker runs whole VIC runs and all workers are busy. Every
command that runs VIC goes through it. With Dask each task runs in its own run directory under
``workdir`` on the worker; the global file, the files it names and the executable must be readable
at the same paths on every worker (a shared file system), and ``workdir`` must be writable there.

Setup (global file, grid, template checks) is resolved once per Region and cached per process,
so the per-run cost beyond VIC itself is the parameter-file copy, the global file and reading
the daily history file back.

Interrupting: Ctrl-C or SIGTERM kills the running VIC process group; the run directory is removed
(``keep_runs``: kept) and a directory that is left behind is named in a warning.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from .. import scratch
from ..errors import SimulatorError, VICError
from ..progress import show_progress
from ..region import Region
from ..vic.globalfile import GlobalParamFile, Period
from ..vic.grid import VicGrid, open_netcdf, read_grid
from ..vic.importer import global_file_of
from ..vic.params import write_parameters
from ..vic.requirements import check_parameter_file
from ..vic.runner import RunDir, cleanup, find_executable, kill_all, read_outputs, run_vic
from .base import Simulator, check_params, params_space, select_period, spinup_years_option

log = logging.getLogger(__name__)

#: Years of spin-up (first year repeated) before every VIC run unless ``spinup_years`` says otherwise.
DEFAULT_SPINUP_YEARS = 0

_NETCDF_LOCK = threading.Lock()


# Resolved setups per process (worker processes of an EnsembleRunner reuse them across tasks).
_SETUP_CACHE: dict[tuple, "_Setup"] = {}
_SETUP_LOCK = threading.Lock()


class VICSimulator(Simulator):
    """Run the VIC 5 image driver for a Region imported from a VIC setup.

    Parameters
    ----------
    exe:
        The image driver (default: ``$VIC_IMAGE_EXE``, then ``vic_image.exe`` on PATH).
    mpi_procs:
        Run each VIC process under ``mpiexec -n mpi_procs`` (None/1: no MPI).
    timeout:
        Seconds one VIC run may take before it is killed (VICError).
    keep_runs:
        Keep the run directories of successful runs.
    workdir:
        Folder for run directories (default: the command's scratch folder, else the system temp
        folder; see :mod:`vic_paraformer.scratch`).
    global_param_file:
        The global file (default: the Region's ``vic_global_param_file`` attribute).
    template_params:
        Parameter file to copy for each run (default: the global file's ``PARAMETERS``).
    variables:
        ``${NAME}`` values for the global file (default: those stored on import).
    expt_layers:
        Soil layers (0-based) that get a calibrated tied ``expt`` (None: all; :mod:`..vic.params`).
    keep_user_outputs:
        Keep the user's own output streams in the per-run global file (off by default: they
        only cost time; the run writes its own daily stream).
    only_region_cells:
        Simulate only the Region's cells (``run_cell = 0`` elsewhere in the run's parameter copy).
    progress:
        Show a tqdm bar over ensemble members.
    spinup_years:
        Repetitions of the first year before the run (see the module docstring); 0: none.
    """

    name = "vic"
    description = "VIC 5 image driver (external executable) run through isolated run directories"
    parallel_unit = "run"
    #: VIC otherwise starts from the parameter file's ``init_moist``.
    default_spinup_years = 1
    #: A calibration through a surrogate of VIC is checked against VIC twice by default.
    default_refine_rounds = 2
    run_options = ("exe", "mpi_procs", "timeout", "workdir", "keep_runs", "mpiexec", "progress")

    def __init__(self, exe: str | os.PathLike | None = None, mpi_procs: int | None = None, timeout: float = 3600.0,
                 keep_runs: bool = False, workdir: str | os.PathLike | None = None,
                 global_param_file: str | os.PathLike | None = None, template_params: str | os.PathLike | None = None,
                 variables: dict | None = None, expt_layers: Sequence[int] | None = None,
                 keep_user_outputs: bool = False, only_region_cells: bool = True, mpiexec: str | None = None,
                 progress: bool | None = None, spinup_years: int = DEFAULT_SPINUP_YEARS, **unknown: Any) -> None:
        if "n_workers" in unknown:
            raise SimulatorError("n_workers is not an option of the vic simulator: run ensembles in parallel with "
                                 "EnsembleRunner(VICSimulator(...), n_workers=N) (the CLI's --workers)")
        if unknown:
            raise SimulatorError(f"unknown vic simulator option(s) {sorted(unknown)}")
        if timeout is None or float(timeout) <= 0:
            raise SimulatorError(f"timeout must be a positive number of seconds, got {timeout!r}")
        workdir = Path(workdir).expanduser().resolve() if workdir is not None else None
        spinup_years = spinup_years_option(spinup_years, VICError)
        super().__init__(exe=exe, mpi_procs=mpi_procs, timeout=timeout, keep_runs=keep_runs, workdir=workdir,
                         global_param_file=global_param_file, template_params=template_params, variables=variables,
                         expt_layers=None if expt_layers is None else tuple(expt_layers), keep_user_outputs=keep_user_outputs,
                         only_region_cells=only_region_cells, mpiexec=mpiexec, progress=progress,
                         spinup_years=int(spinup_years))
        self.spinup_years = int(spinup_years)
        self.exe = exe
        self.mpi_procs = mpi_procs
        self.timeout = float(timeout)
        self.keep_runs = bool(keep_runs)
        self.workdir = workdir
        self.global_param_file = global_param_file
        self.template_params = template_params
        self.variables = variables
        self.expt_layers = None if expt_layers is None else tuple(expt_layers)
        self.keep_user_outputs = bool(keep_user_outputs)
        self.only_region_cells = bool(only_region_cells)
        self.mpiexec = mpiexec
        self.progress = show_progress(progress)
        self.last_wall_times: list[float] = []
        # Run directories of this simulator (and its copies in worker processes) share this tag.
        self._tag = uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------ setup
    def setup(self, region: Region) -> "_Setup":
        """Resolve the global file, grid, template and period for ``region`` (checks everything first).

        Cached per process for the same Region (source, cells, period) and options.
        """
        key = (_key(region.ds.attrs.get("vic_global_param_file")), _key(region.ds.attrs.get(
            "vic_global_variables")), tuple(int(c) for c in region.cells), str(region.times[0]),
            str(region.times[-1]), region.n_days, _key(self.exe), _key(self.global_param_file),
            _key(self.template_params), _key(sorted((self.variables or {}).items())),
            self.keep_user_outputs, self.spinup_years)
        with _SETUP_LOCK:
            cached = _SETUP_CACHE.get(key)
        if cached is not None:
            return cached
        out = self._setup(region)
        with _SETUP_LOCK:
            if len(_SETUP_CACHE) >= 8:
                _SETUP_CACHE.clear()
            _SETUP_CACHE[key] = out
        return out

    def _setup(self, region: Region) -> "_Setup":
        exe = find_executable(self.exe)
        if self.global_param_file is not None:
            gpath, stored = Path(self.global_param_file), {}
            if "vic_global_param_file" in region.ds.attrs:
                stored = global_file_of(region)[1]
        else:
            gpath, stored = global_file_of(region)
        variables = {**stored, **(self.variables or {})}
        gf = GlobalParamFile.read(gpath, variables)
        gf.validate()
        gf.check_placeholders(keep_user_outputs=self.keep_user_outputs)
        template = Path(self.template_params) if self.template_params is not None else gf.parameters_path
        if not template.is_file():
            raise VICError(f"{template}: template parameter file not found")
        check_parameter_file(gf, template)
        grid = read_grid(gf) if self.template_params is None else _grid_from_template(gf, template)
        rows, cols = grid.locate(region.ds["lat"].values, region.ds["lon"].values,
                                 what=f"region cell (for {gf.parameters_path})")
        t = region.times
        period = Period(t[0].date(), t[-1].date())
        n_spin = min(365, len(t))
        if self.spinup_years and n_spin < 365:
            log.warning("VIC spin-up repeats the whole region (%d days): it is shorter than a year", n_spin)
        spin_period = Period(t[0].date(), t[n_spin - 1].date())
        gf.forcing_files(period.years)
        with open_netcdf(template, "parameter file") as p:
            for v in ("depth", "init_moist"):
                if v not in p.variables:
                    raise VICError(f"{template}: parameter file lacks variable {v!r}")
            depth0 = np.asarray(p["depth"].values, float)[0, rows, cols]
            init = np.asarray(p["init_moist"].values, float)[:, rows, cols].sum(axis=0)
        return _Setup(exe=exe, gf=gf, template=template, grid=grid, rows=rows, cols=cols, period=period,
                      days=pd.DatetimeIndex(t), depth0=depth0,
                      init_storage=None if (gf.has_init_state or self.spinup_years) else init, cells=region.cells,
                      spin_period=spin_period,
                      lat=region.ds["lat"].values, lon=region.ds["lon"].values)

    def _base(self) -> Path:
        """Where run directories go: ``workdir``, else the command's scratch folder, else the system temp folder."""
        return self.workdir or scratch.active_folder() or scratch.default_root().resolve()

    def _run_dir(self) -> RunDir:
        base = self._base()
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"vicrun_{self._tag}_", dir=base)).resolve()
        scratch.mark(path, "vic-run")  # a run directory left behind is found by 'vic-paraformer clean'
        if any(c.isspace() for c in str(path)):
            shutil.rmtree(path, ignore_errors=True)
            raise VICError(f"run directory {path} contains a space; VIC cannot read such paths (set workdir)")
        return RunDir(path).create()

    def _execute(self, setup: "_Setup", params_file_writer: Callable[[RunDir], None]) -> xr.Dataset:
        run = self._run_dir()
        try:
            # netCDF-C/HDF5 are not thread-safe: file I/O of parallel runs is serialised, VIC itself is not.
            with _NETCDF_LOCK:
                params_file_writer(run)
                if self.only_region_cells:
                    _restrict_run_cells(run.params_file, setup.rows, setup.cols)
            wall = 0.0
            state = None
            for k in range(self.spinup_years):
                prefix = run.state_dir / f"spinup{k + 1}"
                run.write_global(setup.gf, setup.spin_period, keep_user_outputs=False, init_state=state,
                                 save_state=(prefix, setup.spin_period.end))
                wall += run_vic(run, setup.exe, mpi_procs=self.mpi_procs, mpiexec=self.mpiexec, timeout=self.timeout)
                at = setup.spin_period.end + _dt.timedelta(days=1)
                state = prefix.parent / f"{prefix.name}.{at:%Y%m%d}_00000.nc"
                if not state.is_file():
                    raise VICError(f"VIC spin-up year {k + 1} wrote no state file {state} (run directory {run.path})")
                for f in run.result_dir.iterdir():  # the spin-up's history files are not outputs
                    f.unlink()
            run.write_global(setup.gf, setup.period, keep_user_outputs=self.keep_user_outputs, init_state=state)
            wall += run_vic(run, setup.exe, mpi_procs=self.mpi_procs, mpiexec=self.mpiexec, timeout=self.timeout)
            self.last_wall_times.append(wall)
            with _NETCDF_LOCK:
                out = read_outputs(run, setup.rows, setup.cols, setup.days, setup.depth0, cell_ids=setup.cells,
                                   init_storage=setup.init_storage).load()
            out = out.assign_coords(lat=("cell", setup.lat), lon=("cell", setup.lon))  # as every simulator's output
        except (KeyboardInterrupt, SystemExit):
            kill_all()
            _interrupted(run, self.keep_runs)
            raise
        except VICError:
            raise  # the failed run's directory is kept and named in the error
        except BaseException as exc:
            log.warning("VIC run failed (%s: %s); run directory %s kept", type(exc).__name__, exc, run.path)
            raise
        out.attrs["vic_run_dir"] = str(run.path)
        out.attrs["vic_wall_time_s"] = wall
        if not self.keep_runs:
            cleanup(run)
        return out

    def cleanup_interrupted(self) -> list[Path]:
        """After an interrupted ensemble: remove this simulator's run directories (unless ``keep_runs``).

        Returns the directories left behind, each named in a warning.
        """
        base = self._base()
        left = []
        for d in sorted(base.glob(f"vicrun_{self._tag}_*")):
            if not self.keep_runs:
                shutil.rmtree(d, ignore_errors=True)
            if d.exists():
                left.append(d)
        for d in left:
            log.warning("VIC run interrupted; its run directory %s was left behind (remove it when done)", d)
        return left

    # ------------------------------------------------------------------ API
    def simulate(self, region: Region, params: xr.Dataset, *, period=None) -> xr.Dataset:
        """Run VIC once per parameter set (see the module docstring)."""
        space = check_params(region, params, params_space(params))
        setup = self.setup(region)
        values = {n: np.asarray(params[n].values, float) for n in space.names}
        samples = params.sizes["sample"] if "sample" in params.dims else None
        self.last_wall_times = []

        def one(i):
            vals = {n: (v if samples is None else v[i]) for n, v in values.items()}
            ds = xr.Dataset({n: ("cell", v) for n, v in vals.items()},
                            coords={"cell": setup.cells, "lat": ("cell", setup.lat), "lon": ("cell", setup.lon)})

            def writer(run: RunDir) -> None:
                write_parameters(ds, setup.template, run.params_file, expt_layers=self.expt_layers,
                                 check_plausibility=False)

            return self._execute(setup, writer)

        if samples is None:
            out = one(0)
        else:
            from tqdm.auto import tqdm

            runs = []
            for i in tqdm(range(samples), desc="VIC runs", disable=not self.progress or samples < 2, leave=False):
                runs.append(one(i))
            out = xr.concat(runs, dim="sample", combine_attrs="drop")
        out = select_period(out, period)
        out.attrs.update({"simulator": self.name, "vic_global_param_file": str(setup.gf.path)})
        return out

    def run_result(self, region: Region, result, *, period=None) -> xr.Dataset:
        """Run VIC with a calibration result's parameters: the template parameter file with the
        result's values on its cells (:func:`~vic_paraformer.vic.params.write_parameters`, cells matched
        by lat/lon, else by id through ``region``), written straight into the run directory.

        ``result`` is a :class:`~vic_paraformer.result.CalibrationResult`, the path of a saved one or a
        parameter Dataset over ``cell``. Unlike :meth:`simulate`, the result may cover only some of the
        region's cells (the others keep the template's values).
        """
        setup = self.setup(region)
        out = self._execute(setup, lambda run: write_parameters(result, setup.template, run.params_file,
                                                                region=region, expt_layers=self.expt_layers,
                                                                check_plausibility=False))
        out = select_period(out, period)
        out.attrs.update({"simulator": self.name, "vic_params_from": str(result) if isinstance(result, (str, Path))
                          else "calibration result"})
        return out

    def run_parameter_file(self, region: Region, params_file: str | os.PathLike, *, period=None) -> xr.Dataset:
        """Run VIC with an existing parameter file (copied unchanged into the run directory)."""
        src = Path(params_file)
        if not src.is_file():
            raise VICError(f"{src}: parameter file not found")
        setup = self.setup(region)
        out = self._execute(setup, lambda run: shutil.copyfile(src, run.params_file))
        out = select_period(out, period)
        out.attrs.update({"simulator": self.name, "vic_params_file": str(src)})
        return out


def _key(value: Any) -> str:
    return "" if value is None else str(value)


def _interrupted(run: RunDir, keep: bool) -> None:
    """Log what happened to the run directory of an interrupted run (removed unless ``keep``)."""
    if not keep:
        cleanup(run)
    if run.path.exists():
        log.warning("VIC run interrupted; its run directory %s was left behind (remove it when done)", run.path)
    else:
        log.info("VIC run interrupted and killed; its run directory %s was removed", run.path)


class _Setup:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def _grid_from_template(gf: GlobalParamFile, template: Path) -> VicGrid:
    with open_netcdf(template, "parameter file") as p:
        return read_grid(gf, p)


def _restrict_run_cells(params_file: Path, rows: np.ndarray, cols: np.ndarray) -> None:
    with netCDF4.Dataset(params_file, "a") as nc:
        var = nc.variables["run_cell"]
        var.set_auto_maskandscale(False)
        rc = var[:]
        keep = np.zeros(rc.shape, bool)
        keep[rows, cols] = True
        rc[~keep & (rc == 1)] = 0
        var[:] = rc
