"""FFN-A: a fully connected network A -> theta (dPL baseline, Tsai et al. 2021).

Network: :mod:`vic_paraformer.dl.modelzoo.ffn_a`. Sizes per preset (``paper``, ``cpu``,
``small``, ``auto``): :mod:`vic_paraformer.dl.presets`. Training, options and model files:
:mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class FFNACalibrator(DLCalibrator):
    name = "ffn_a"
    description = "FFN-A: fully connected network A -> theta (dPL, Tsai et al. 2021)"
    network_kind = "ffn_a"
    uses_series = False
