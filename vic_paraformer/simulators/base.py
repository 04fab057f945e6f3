"""The simulator interface: Region + parameters -> simulated soil moisture and fluxes.

A simulator maps a :class:`~vic_paraformer.region.Region` and parameter sets to daily outputs.
Parameter sets come as an xarray Dataset with one variable per calibrated parameter over
``cell`` (one set per cell) or over ``(sample, cell)`` (an ensemble). The result is a Dataset over
``(cell, time)`` or ``(sample, cell, time)`` with at least:

``sm``        top-layer volumetric soil moisture (m3 m-3)
``et``        evapotranspiration (mm/day)
``runoff``    surface runoff (mm/day)
``baseflow``  baseflow (mm/day)
``dstorage``  change of total water storage (soil + snow) over the day (mm/day)

Simulators are registered by name in the entry-point group ``vic_paraformer.simulators``.

Spin-up: both built-in simulators take ``spinup_years`` (``N``): before the region's first day the
model runs its first year (the first 365 days, or all days of a shorter region) ``N`` times and
starts the region from the state reached. Outputs never include the spin-up days.

What a workflow does with a simulator by default is a class attribute of the simulator, so a new
simulator is one module and one registration, with no table to extend elsewhere:

``default_spinup_years``   spin-up the workflows run it with unless told otherwise
                           (:mod:`vic_paraformer.workflow`, every command, surrogate training data);
                           the constructor's own default stays "no spin-up"
``default_refine_rounds``  refinement rounds of a calibration through a surrogate of it
                           (:mod:`vic_paraformer.refine`), when it can be built here
``training_data_options``  options of its runs for surrogate training data unless given
``run_options``            options that say how it runs (executable, folders, time limits,
                           progress), not what it computes: left out of a training store's
                           identity; the command line's ``--exe --mpi-procs --timeout --workdir
                           --keep-runs`` set them and are refused for a simulator without them
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SimulatorError
from ..parameters import ParameterSpace
from ..region import Region

OUTPUT_VARS = {"sm": "m3 m-3", "et": "mm/day", "runoff": "mm/day", "baseflow": "mm/day", "dstorage": "mm/day"}


class Simulator(abc.ABC):
    """Base class of simulators. Subclasses set ``name`` and implement :meth:`simulate`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: How ensemble work is best split: ``"series"`` (any (sample, cell) chunk; vectorised models) or
    #: ``"run"`` (one parameter set per task: each sample is one external model run over all cells).
    parallel_unit: ClassVar[str] = "series"
    #: Spin-up years a workflow runs it with unless told otherwise (see the module docstring).
    default_spinup_years: ClassVar[int] = 0
    #: Refinement rounds of a calibration through a surrogate of this simulator, by default.
    default_refine_rounds: ClassVar[int] = 0
    #: Options of its runs for surrogate training data unless given.
    training_data_options: ClassVar[Mapping[str, Any]] = {}
    #: Options that change how it runs, not its results (left out of a training store's identity).
    run_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def simulate(self, region: Region, params: xr.Dataset, *, period: tuple | slice | None = None) -> xr.Dataset:
        """Run the model for every cell of ``region`` with ``params``; outputs over ``period`` only.

        The model always runs from the region's first day (so earlier days act as warm-up); ``period``
        (``(start, end)`` inclusive, or a slice) selects which days are returned.
        """


def simulator_class(name: str | None) -> type[Simulator]:
    """The simulator class registered as ``name``, whose class attributes hold its workflow defaults.

    ``None``, ``"surrogate"`` and names no installed simulator has give :class:`Simulator` itself (the
    defaults of a simulator without any: no spin-up, no refinement, no training-data or run options);
    building such a simulator fails later with an error naming the installed ones.
    """
    from ..errors import VicParaformerError
    from ..registry import get_simulator_class

    if not name or name == "surrogate":
        return Simulator
    try:
        return get_simulator_class(str(name))
    except VicParaformerError:
        return Simulator


def params_space(params: xr.Dataset) -> ParameterSpace:
    """The calibratable parameters a parameter Dataset sets (the paper's five when it sets none), as a
    space of unit bounds for :func:`check_params`."""
    from ..parameters import CALIBRATABLE_BY_NAME, PARAMETER_NAMES

    names = tuple(str(n) for n in params.data_vars if str(n) in CALIBRATABLE_BY_NAME) or PARAMETER_NAMES
    return ParameterSpace(names, (0,) * len(names), (1,) * len(names))


def check_params(region: Region, params: xr.Dataset, space: ParameterSpace | None = None) -> ParameterSpace:
    """Validate a parameter Dataset against ``region``; returns the space it was checked against."""
    space = ParameterSpace.resolve(space)
    missing = [n for n in space.names if n not in params]
    if missing:
        raise SimulatorError(f"parameter set lacks variable(s) {missing}; expected {list(space.names)}")
    for n in space.names:
        dims = params[n].dims
        if dims not in (("cell",), ("sample", "cell")):
            raise SimulatorError(f"parameter {n!r} has dims {dims}; expected ('cell',) or ('sample', 'cell')")
        if "cell" in params.coords and not np.array_equal(params["cell"].values, region.cells):
            raise SimulatorError(f"parameter set cells do not match the region's cells "
                                 f"({params.sizes['cell']} vs {region.n_cells})")
        if params.sizes["cell"] != region.n_cells:
            raise SimulatorError(f"parameter {n!r} has {params.sizes['cell']} cells; the region has {region.n_cells}")
        if not np.all(np.isfinite(params[n].values)):
            raise SimulatorError(f"parameter {n!r} has non-finite values")
    return space


def select_period(ds: xr.Dataset, period: tuple | slice | None) -> xr.Dataset:
    """Restrict ``ds`` to ``period`` (inclusive ``(start, end)`` or slice); None keeps all."""
    if period is None:
        return ds
    from ..region import parse_period

    p = parse_period(period)
    out = ds.sel(time=slice(*p))
    if out.sizes["time"] == 0:
        t = pd.DatetimeIndex(ds["time"].values)
        raise SimulatorError(f"period {p} has no days in {t[0].date()}..{t[-1].date()}")
    return out


#: Days of the "first year" a spin-up repeats.
SPINUP_DAYS = 365


def spinup_years_option(value, error_cls: type[Exception] = SimulatorError) -> int:
    """``value`` as a whole number of spin-up years >= 0, else ``error_cls`` naming the option."""
    try:
        n = int(value)
        ok = float(value) == n and n >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise error_cls(f"spinup_years must be a whole number >= 0, got {value!r}")
    return n


def spinup_days(n_days: int) -> int:
    """Length of the repeated "first year" for a region of ``n_days`` days."""
    return min(SPINUP_DAYS, int(n_days))
