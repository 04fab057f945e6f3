"""ParaFormer-A: transformer encoder over static attributes (placeholder until the strategies issue lands)."""

from __future__ import annotations

from ..calibrator import Calibrator, CalibrationResult
from ..errors import StrategyError
from ..region import Region


class ParaFormerACalibrator(Calibrator):
    name = "paraformer_a"
    description = "ParaFormer-A: transformer encoder over static attributes"

    def calibrate(self, region: Region) -> CalibrationResult:
        raise StrategyError(f"strategy {self.name!r} is not implemented yet")
