"""ParaFormer-A: a transformer encoder over a cell's static attributes -> VIC parameters.

Network: :mod:`vic_paraformer.dl.modelzoo.paraformer_a` (presets ``paper``: d_model 128, 4 heads,
N = 2; ``small``: d_model 32, 4 heads, N = 1; ``preset="auto"`` picks ``paper`` on CPU and GPU).
Training, options and model files: :mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class ParaFormerACalibrator(DLCalibrator):
    name = "paraformer_a"
    description = "ParaFormer-A: transformer encoder over static attributes"
    network_kind = "paraformer_a"
    uses_series = False
    adadelta_lr = 0.2
