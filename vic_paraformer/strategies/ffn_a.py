"""FFN-A: a fully connected network A -> theta (dPL baseline, Tsai et al. 2021).

Two hidden ReLU layers of ``hidden_size`` units with dropout, trained end to end through a
frozen surrogate exactly like ParaFormer-A (see :mod:`._dl`).

Presets: ``paper`` (the default on CPU and GPU via ``preset="auto"``; hidden 256, dropout 0.5, the paper's DAS-S8 setting) and ``small``
(hidden 64, dropout 0.2).
"""

from __future__ import annotations

from typing import Any

from ._dl import COMMON_OPTIONS, DLCalibrator


class FFNACalibrator(DLCalibrator):
    name = "ffn_a"
    description = "FFN-A: fully connected network A -> theta (dPL, Tsai et al. 2021)"
    network_kind = "ffn_a"
    adadelta_lr = 0.5
    uses_series = False
    arch_presets = {"paper": {"hidden_size": 256, "dropout": 0.5}, "small": {"hidden_size": 64, "dropout": 0.2}}
    default_options = {**COMMON_OPTIONS, "hidden_size": None}

    def network_config(self, n_attr: int, n_series: int, n_params: int) -> dict[str, Any]:
        o = self.options
        return {"kind": self.network_kind, "n_attr": n_attr, "n_params": n_params,
                "hidden_size": int(o["hidden_size"]), "dropout": float(o["dropout"])}
