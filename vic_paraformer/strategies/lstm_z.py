"""LSTM-Z: an LSTM over (A, X, Z) windows whose final state gives theta (dPL baseline).

Network: :mod:`vic_paraformer.dl.modelzoo.lstm_z`. Sizes per preset (``paper``, ``cpu``,
``small``, ``auto``): :mod:`vic_paraformer.dl.presets`. A cell's parameters are the mean over
``param_windows`` windows of its period; cells that are not training cells see an all-missing Z
channel unless ``untrained_cell_obs="use"``. Training, options and model files:
:mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class LSTMZCalibrator(DLCalibrator):
    name = "lstm_z"
    description = "LSTM-Z: LSTM over (A, X, Z) windows -> theta (dPL, Tsai et al. 2021)"
    network_kind = "lstm_z"
    uses_series = True
