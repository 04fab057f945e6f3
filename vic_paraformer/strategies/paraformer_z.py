"""ParaFormer-Z: attribute queries cross-attend to an encoder of the (X, Z) time series.

Network: :mod:`vic_paraformer.dl.modelzoo.paraformer_z`. Sizes per preset (``paper``, ``cpu``,
``small``, ``auto``): :mod:`vic_paraformer.dl.presets`. A cell's parameters are the mean over
``param_windows`` windows of its period; cells that are not training cells see an all-missing Z
channel unless ``untrained_cell_obs="use"``. Training, options and model files:
:mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class ParaFormerZCalibrator(DLCalibrator):
    name = "paraformer_z"
    description = "ParaFormer-Z: attribute queries cross-attend to the (X, Z) series"
    network_kind = "paraformer_z"
    uses_series = True
