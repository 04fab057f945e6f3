"""ParaFormer-A: a transformer encoder over a cell's static attributes -> VIC parameters.

Each attribute becomes a token (value x learned embedding + learned identity embedding, paper
eq. 4), ``n_layers`` transformer encoder layers mix them (eq. 5-7) and an MLP head gives the
parameters (eq. 8). Trained end to end through a frozen surrogate; see :mod:`._dl` for the
training loop, options, presets and model files.

Presets: ``paper`` (the default on CPU and GPU via ``preset="auto"``; d_model 128, 4 heads, N = 2, as in the paper) and ``small``
(d_model 32, 4 heads, N = 1) for quick runs.
"""

from __future__ import annotations

from typing import Any

from ._dl import COMMON_OPTIONS, DLCalibrator


class ParaFormerACalibrator(DLCalibrator):
    name = "paraformer_a"
    description = "ParaFormer-A: transformer encoder over static attributes"
    network_kind = "paraformer_a"
    adadelta_lr = 0.2
    uses_series = False
    arch_presets = {"paper": {"d_model": 128, "n_heads": 4, "n_layers": 2, "dropout": 0.1},
                    "small": {"d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1}}
    default_options = {**COMMON_OPTIONS, "d_model": None, "n_heads": None, "n_layers": None}

    def network_config(self, n_attr: int, n_series: int, n_params: int) -> dict[str, Any]:
        o = self.options
        return {"kind": self.network_kind, "n_attr": n_attr, "n_params": n_params, "d_model": int(o["d_model"]),
                "n_heads": int(o["n_heads"]), "n_layers": int(o["n_layers"]), "dropout": float(o["dropout"])}
