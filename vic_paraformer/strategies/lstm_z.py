"""LSTM-Z: an LSTM over (A, X, Z) windows whose final state gives theta (dPL baseline).

Network: :mod:`vic_paraformer.dl.modelzoo.lstm_z` (presets ``paper``: hidden 256, dropout 0.5, the
paper's DAS-S8 setting; ``small``: hidden 32, dropout 0.2; ``preset="auto"`` picks ``paper`` on a
GPU and ``small`` on a CPU). A cell's parameters are the mean over ``param_windows`` windows of
its period; cells without observations see an all-missing Z channel. Training, options and
model files: :mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class LSTMZCalibrator(DLCalibrator):
    name = "lstm_z"
    description = "LSTM-Z: LSTM over (A, X, Z) windows -> theta (dPL, Tsai et al. 2021)"
    network_kind = "lstm_z"
    uses_series = True
    adadelta_lr = 1.0
    cpu_preset = "small"
