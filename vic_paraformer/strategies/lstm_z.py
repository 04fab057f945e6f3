"""LSTM-Z: LSTM over (A, X, Z) windows -> theta (dPL, Tsai et al. 2021) (placeholder until the strategies issue lands)."""

from __future__ import annotations

from ..calibrator import Calibrator, CalibrationResult
from ..errors import StrategyError
from ..region import Region


class LSTMZCalibrator(Calibrator):
    name = "lstm_z"
    description = "LSTM-Z: LSTM over (A, X, Z) windows -> theta (dPL, Tsai et al. 2021)"

    def calibrate(self, region: Region) -> CalibrationResult:
        raise StrategyError(f"strategy {self.name!r} is not implemented yet")
