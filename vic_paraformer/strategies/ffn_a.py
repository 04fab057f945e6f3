"""FFN-A: a fully connected network A -> theta (dPL baseline, Tsai et al. 2021).

Network: :mod:`vic_paraformer.dl.modelzoo.ffn_a` (presets ``paper``: hidden 256, dropout 0.5, the
paper's DAS-S8 setting; ``small``: hidden 64, dropout 0.2; ``preset="auto"`` picks ``paper`` on
CPU and GPU). Training, options and model files: :mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class FFNACalibrator(DLCalibrator):
    name = "ffn_a"
    description = "FFN-A: fully connected network A -> theta (dPL, Tsai et al. 2021)"
    network_kind = "ffn_a"
    uses_series = False
    adadelta_lr = 0.5
