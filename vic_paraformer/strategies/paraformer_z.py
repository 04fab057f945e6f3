"""ParaFormer-Z: attribute queries cross-attend to an encoder of the (X, Z) time series.

Network: :mod:`vic_paraformer.dl.modelzoo.paraformer_z` (presets ``paper``: d_model 256, 8 heads,
N = 2; ``small``: d_model 32, 4 heads, N = 1; ``preset="auto"`` picks ``paper`` on a GPU and
``small`` on a CPU). A cell's parameters are the mean over ``param_windows`` windows of its
period; cells without observations see an all-missing Z channel. Training, options and model
files: :mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class ParaFormerZCalibrator(DLCalibrator):
    name = "paraformer_z"
    description = "ParaFormer-Z: attribute queries cross-attend to the (X, Z) series"
    network_kind = "paraformer_z"
    uses_series = True
    adadelta_lr = 0.5
    cpu_preset = "small"
