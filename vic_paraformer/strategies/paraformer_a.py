"""ParaFormer-A: a transformer encoder over a cell's static attributes -> VIC parameters.

Network: :mod:`vic_paraformer.dl.modelzoo.paraformer_a`. Sizes per preset (``paper``, ``cpu``,
``small``, ``auto``): :mod:`vic_paraformer.dl.presets`. Training, options and model files:
:mod:`vic_paraformer.dl`.
"""

from __future__ import annotations

from ..dl.strategy import DLCalibrator


class ParaFormerACalibrator(DLCalibrator):
    name = "paraformer_a"
    description = "ParaFormer-A: transformer encoder over static attributes"
    network_kind = "paraformer_a"
    uses_series = False
