"""SCE-UA (spotpy), one optimisation per training cell (placeholder until the strategies issue lands)."""

from __future__ import annotations

from ..calibrator import Calibrator, CalibrationResult
from ..errors import StrategyError
from ..region import Region


class SCEUACalibrator(Calibrator):
    name = "sceua"
    description = "SCE-UA (spotpy), one optimisation per training cell"

    def calibrate(self, region: Region) -> CalibrationResult:
        raise StrategyError(f"strategy {self.name!r} is not implemented yet")
