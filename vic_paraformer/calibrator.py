"""The strategy plugin interface: :class:`Calibrator` (and :class:`CalibrationResult`, from
:mod:`vic_paraformer.result`).

A strategy is a subclass of :class:`Calibrator` with two class attributes, ``name`` and
``description``, and one required method, :meth:`Calibrator.calibrate`. It is registered in the
entry-point group ``vic_paraformer.strategies`` (see :mod:`vic_paraformer.registry`)::

    [options.entry_points]
    vic_paraformer.strategies =
        mystrategy = my_package.module:MyCalibrator

Options are keyword arguments to the constructor; each strategy declares its defaults in
``default_options``. Options are checked once, when the calibrator is built: unknown names and
every problem :meth:`Calibrator.option_problems` lists raise one :class:`StrategyError` naming
them all. :meth:`Calibrator.validate` is the preflight against a region (observations, the
surrogate or simulator the options name), run before any expensive work. ``option_help``
gives each option's meaning (and ``option_types`` its type where the default does not show it);
:meth:`Calibrator.describe_options` and ``vic-paraformer strategies NAME`` list them.
"""

from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from .errors import StrategyError
from .observation import ObservationOperator
from .parameters import ParameterSpace
from .provenance import library_versions
from .region import Region
from .result import CalibrationResult
from .scoring import fitting_window

log = logging.getLogger(__name__)


#: Options every strategy takes (constructor keywords of :class:`Calibrator` itself).
BASE_OPTIONS: dict[str, tuple[str, Any, str]] = {
    "seed": ("int", 0, "random seed; the same seed gives the same parameters (CLI: --seed)"),
    "parameter_space": ("str or mapping", "vic",
                        "parameter bounds: preset 'vic' (physically valid) or 'paper' (the paper's Table 1), or "
                        "{names, lower, upper} (CLI: --parameter-space)"),
}


@dataclass(frozen=True)
class OptionInfo:
    """One strategy option as ``vic-paraformer strategies NAME`` lists it."""

    name: str
    type: str
    default: Any
    help: str


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    for kind, name in ((int, "int"), (float, "float"), (str, "str"), (Mapping, "mapping"), ((list, tuple), "list")):
        if isinstance(value, kind):
            return name
    return "any" if value is None else type(value).__name__


class Calibrator(abc.ABC):
    """Base class of calibration strategies.

    Subclasses set ``name``, ``description`` and ``default_options`` and implement
    :meth:`calibrate`. :meth:`option_problems` checks option values when the calibrator is
    built; ``validate`` is an optional preflight that lists problems with a region before any
    expensive work; ``calibrate`` should call :meth:`check` first.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_options: ClassVar[Mapping[str, Any]] = {}
    #: Meaning of each option (one line each; shown by ``vic-paraformer strategies NAME``).
    option_help: ClassVar[Mapping[str, str]] = {}
    #: Type of an option whose default does not show it (e.g. ``None`` defaults), as text.
    option_types: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def describe_options(cls) -> list[OptionInfo]:
        """Every option of the strategy (``seed`` and ``parameter_space`` first) with type, default and meaning."""
        out = [OptionInfo(k, t, d, h) for k, (t, d, h) in BASE_OPTIONS.items()]
        for key, default in cls.default_options.items():
            kind = cls.option_types.get(key) or _type_name(default)
            if default is None and kind != "any" and "None" not in kind:
                kind = f"{kind} or None"
            out.append(OptionInfo(key, kind, default, str(cls.option_help.get(key, "")).strip()))
        return out

    def __init__(self, *, seed: int = 0, parameter_space: ParameterSpace | str | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            raise StrategyError(
                f"strategy {self.name!r} got unknown option(s) {unknown}; it accepts "
                f"{sorted(self.default_options) or 'no options'} plus seed and parameter_space")
        self.seed = int(seed)
        self.parameter_space = ParameterSpace.resolve(parameter_space)
        self.options: dict[str, Any] = {**self.default_options, **options}
        self.resolve_options()
        problems = self.option_problems()
        if problems:
            raise StrategyError(f"strategy {self.name!r}: invalid option(s): " + "; ".join(problems))

    def resolve_options(self) -> None:
        """Fill options that depend on others (e.g. a preset's values) in ``self.options``; default: none."""

    def option_problems(self) -> list[str]:
        """Problems with the option values alone, checked when the calibrator is built (empty: fine).

        Override to add checks (and extend ``super().option_problems()``); problems that need the
        region belong in :meth:`validate`.
        """
        return []

    def option_warnings(self) -> list[str]:
        """Valid but degenerate option values worth a warning (e.g. a budget too small for the
        algorithm to do what it is meant to); logged once by :func:`vic_paraformer.workflow.check_spec`."""
        return []

    def validate(self, region: Region) -> list[str]:
        """Problems that would make :meth:`calibrate` fail on ``region`` (empty list: go ahead).

        The default checks that observations exist and every training cell has some.
        Override to add strategy-specific checks (and call ``super().validate``).
        """
        problems: list[str] = []
        if not region.has("obs_sm"):
            problems.append("region has no 'obs_sm' observations to calibrate against")
            return problems
        if len(region.training_cells) == 0:
            problems.append("region has no training cells (no cell has any valid obs_sm)")
            return problems
        try:
            region.require_observations()
        except Exception as exc:  # noqa: BLE001 - reported as a problem, not raised
            problems.append(str(exc))
        return problems

    def check(self, region: Region) -> None:
        """Raise StrategyError listing every problem :meth:`validate` finds."""
        problems = self.validate(region)
        if problems:
            raise StrategyError(f"strategy {self.name!r} cannot calibrate this region: " + "; ".join(problems))

    @abc.abstractmethod
    def calibrate(self, region: Region) -> CalibrationResult:
        """Calibrate ``region``'s training cells and return parameters for every cell."""

    def spinup_used(self) -> int:
        """Spin-up years of the model runs the parameters are fitted to: the simulator option
        ``spinup_years`` of a strategy that runs a simulator, the spin-up recorded in the surrogate's
        metadata (that of its training runs) for one that learns through a surrogate, else 0."""
        o = self.options
        if o.get("simulator") not in (None, "surrogate"):
            return int((o.get("simulator_options") or {}).get("spinup_years", 0))
        sur = o.get("surrogate")
        if sur is None:
            return 0
        from .surrogate.data import recorded_simulator_options

        if isinstance(sur, (str, Path)):
            from .surrogate.resolve import load_surrogate_cached

            sur = load_surrogate_cached(sur)
        return int(recorded_simulator_options(sur).get("spinup_years", 0))

    # helpers for subclasses --------------------------------------------------------
    def _result(self, region: Region, values: np.ndarray, *, started: float, history=None,
                n_evaluations: int = 0, info: dict | None = None, obs_operator: ObservationOperator | None = None,
                warmup_days: int | None = None, spinup_years: int | None = None) -> CalibrationResult:
        """Build a CalibrationResult for all of ``region``'s cells from values ``(cell, p)``
        (``spinup_years`` None: :meth:`spinup_used`)."""
        if spinup_years is None:
            spinup_years = self.spinup_used()
        params = self.parameter_space.to_dataset(values, region.cells)
        window = self._fitting_window(region, warmup_days)
        # lat/lon let vic.params.write_parameters match result cells to a VIC grid.
        params = params.assign_coords(lat=("cell", region.ds["lat"].values), lon=("cell", region.ds["lon"].values))
        return CalibrationResult(
            params=params, strategy=self.name, parameter_space=self.parameter_space, options=dict(self.options),
            seed=self.seed, history=history or {}, n_evaluations=int(n_evaluations),
            wall_time=time.perf_counter() - started, train_cells=np.asarray(region.training_cells),
            info={"versions": library_versions(),
                  "calibration_period": list(window) if window else None,
                  "region_period": [str(region.times[0].date()), str(region.times[-1].date())], **(info or {})},
            obs_operator=obs_operator, warmup_days=warmup_days, spinup_years=spinup_years)

    def _fitting_window(self, region: Region, warmup_days: int | None) -> tuple[str, str] | None:
        """The span of the observations the calibration learned from: the first and last day after the
        warm-up on which a training cell has an observation (``obs_sm``; also ``obs_et`` with the
        ``sm+et`` objective). Recorded as ``info["calibration_period"]``."""
        from .objective import ObjectiveError, objective_weights

        try:
            terms = objective_weights(self.options.get("objective") or "sm")
        except ObjectiveError:
            terms = {}
        names = ["obs_sm"] + (["obs_et"] if "et" in terms and region.has("obs_et") else [])
        train = np.asarray(region.training_cells)
        if not len(train) or not region.has("obs_sm"):
            return None
        has = np.zeros(region.n_days, bool)
        for name in names:
            has |= np.asarray(region.ds[name].sel(cell=train).notnull().any("cell").values, bool)
        return fitting_window(region.times, np.where(has, 0.0, np.nan)[None, :], warmup_days)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} seed={self.seed} options={self.options}>"


__all__ = ["Calibrator", "CalibrationResult", "OptionInfo"]
