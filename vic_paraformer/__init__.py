"""vic_paraformer: calibrate the soil parameters of the VIC 5 land-surface model.

Strategies (SCE-UA, FFN-A, LSTM-Z, ParaFormer-A, ParaFormer-Z and third-party plugins) share one
API::

    import vic_paraformer as vp
    region = vp.Region.open("region.nc")
    result = vp.calibrate(region, strategy="paraformer_z", surrogate="surrogate.pt", seed=0)
    result.save("result.nc")
"""

from __future__ import annotations

import logging

from ._version import __version__
from .calibrator import CalibrationResult, Calibrator
from .errors import (ParameterError, RegionError, SimulatorError, StrategyError, SurrogateError,
                     VicParaformerError, VICError)
from .parameters import PARAMETER_NAMES, ParameterSpace
from .region import Region, SpatialSplit
from .registry import calibrate, get_calibrator, get_simulator, simulators, strategies

logging.getLogger(__name__).addHandler(logging.NullHandler())


def synthetic_region(*args, **kwargs) -> Region:
    """A synthetic twin region with known true parameters (see :mod:`vic_paraformer.synthetic`)."""
    from .synthetic import synthetic_region as _make

    return _make(*args, **kwargs)


__all__ = [
    "__version__", "CalibrationResult", "Calibrator", "ParameterError", "RegionError", "SimulatorError",
    "StrategyError", "SurrogateError", "VicParaformerError", "VICError", "PARAMETER_NAMES", "ParameterSpace",
    "Region", "SpatialSplit", "calibrate", "get_calibrator", "get_simulator", "simulators", "strategies",
    "synthetic_region",
]
