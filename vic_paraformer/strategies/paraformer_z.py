"""ParaFormer-Z: attribute queries cross-attend to an encoder of the (X, Z) time series.

The series branch embeds each day's normalised forcing X, observed soil moisture Z (gaps filled
with 0) and an observed/missing mask linearly, adds sinusoidal position encodings (paper eq. 9)
and encodes them with ``n_layers`` transformer layers (keys and values). The attribute branch is
the ParaFormer-A encoder, whose tokens become the queries (eq. 10) of ``n_layers`` cross-attention
blocks (eq. 11-12); an MLP head gives the parameters. A cell's parameters are the mean over
``param_windows`` windows of its period; cells without observations see an all-missing Z channel
(see :mod:`._dl`, which also documents training, options and model files).

Presets (``preset="auto"``, the default, picks ``paper`` on a GPU and ``small`` on a CPU):
``paper`` (d_model 256, 8 heads, N = 2, as in the paper) and ``small``
(d_model 32, 4 heads, N = 1) for quick runs.
"""

from __future__ import annotations

from typing import Any

from ._dl import COMMON_OPTIONS, SERIES_OPTIONS, DLCalibrator


class ParaFormerZCalibrator(DLCalibrator):
    name = "paraformer_z"
    description = "ParaFormer-Z: attribute queries cross-attend to the (X, Z) series"
    network_kind = "paraformer_z"
    adadelta_lr = 0.5
    uses_series = True
    cpu_preset = "small"
    arch_presets = {"paper": {"d_model": 256, "n_heads": 8, "n_layers": 2, "dropout": 0.1},
                    "small": {"d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1}}
    default_options = {**COMMON_OPTIONS, **SERIES_OPTIONS, "d_model": None, "n_heads": None, "n_layers": None}

    def network_config(self, n_attr: int, n_series: int, n_params: int) -> dict[str, Any]:
        o = self.options
        return {"kind": self.network_kind, "n_attr": n_attr, "n_series": n_series, "n_params": n_params,
                "d_model": int(o["d_model"]), "n_heads": int(o["n_heads"]), "n_layers": int(o["n_layers"]),
                "dropout": float(o["dropout"])}
