"""vic_paraformer: calibrate the soil parameters of the VIC 5 land-surface model.

Strategies (SCE-UA, FFN-A, LSTM-Z, ParaFormer-A, ParaFormer-Z and third-party plugins) share one
API::

    import vic_paraformer as vp
    region = vp.Region.open("region.nc")
    result = vp.calibrate(region, strategy="paraformer_z", surrogate="surrogate.pt", seed=0)
    result.save("result.nc")

``list_strategies()`` and ``list_simulators()`` name what is available (built-ins and plugins);
``vic_paraformer.strategies`` and ``vic_paraformer.simulators`` are the sub-packages of the built-ins.
What the command line's ``calibrate`` runs (defaults, split, refinement, the written result and its
replayable configuration) is :func:`run_calibration` of a :class:`CalibrationSpec`
(:mod:`vic_paraformer.workflow`).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (ParameterError, RegionError, SimulatorError, StrategyError, SurrogateError,
                     VicParaformerError, VICError)
from .registry import calibrate, get_calibrator, get_simulator, list_simulators, list_strategies

logging.getLogger(__name__).addHandler(logging.NullHandler())

# Names imported on first use, so that ``import vic_paraformer`` (and the command line's --help) does
# not load xarray, pandas or torch.
_LAZY: dict[str, str] = {
    "CalibrationResult": ".calibrator",
    "Calibrator": ".calibrator",
    "PARAMETER_NAMES": ".parameters",
    "ParameterSpace": ".parameters",
    "Region": ".region",
    "SpatialSplit": ".region",
    "make_region": ".region",
    "build_station_region": ".stations",
    "CalibrationSpec": ".workflow",
    "run_calibration": ".workflow",
}
#: Sub-packages imported on first use. They are always the packages: the listing functions are
#: ``list_strategies`` and ``list_simulators``, so importing a module of a sub-package (which makes
#: Python bind the sub-package here) changes nothing.
_SUBPACKAGES = ("strategies", "simulators")

if TYPE_CHECKING:  # pragma: no cover
    from .calibrator import CalibrationResult, Calibrator
    from .parameters import PARAMETER_NAMES, ParameterSpace
    from .region import Region, SpatialSplit, make_region
    from .stations import build_station_region
    from .workflow import CalibrationSpec, run_calibration


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))


def synthetic_region(*args, **kwargs) -> "Region":
    """A synthetic twin region with known true parameters (see :mod:`vic_paraformer.synthetic`)."""
    from .synthetic import synthetic_region as _make

    return _make(*args, **kwargs)


__all__ = [
    "__version__", "CalibrationResult", "Calibrator", "ParameterError", "RegionError", "SimulatorError",
    "StrategyError", "SurrogateError", "VicParaformerError", "VICError", "PARAMETER_NAMES", "ParameterSpace",
    "Region", "SpatialSplit", "make_region", "build_station_region", "CalibrationSpec", "run_calibration", "calibrate", "get_calibrator", "get_simulator",
    "list_simulators", "list_strategies", "synthetic_region",
]
