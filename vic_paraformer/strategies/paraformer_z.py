"""ParaFormer-Z: attribute queries cross-attend to the (X, Z) series (placeholder until the strategies issue lands)."""

from __future__ import annotations

from ..calibrator import Calibrator, CalibrationResult
from ..errors import StrategyError
from ..region import Region


class ParaFormerZCalibrator(Calibrator):
    name = "paraformer_z"
    description = "ParaFormer-Z: attribute queries cross-attend to the (X, Z) series"

    def calibrate(self, region: Region) -> CalibrationResult:
        raise StrategyError(f"strategy {self.name!r} is not implemented yet")
