"""LSTM-Z: an LSTM over (A, X, Z) windows whose final state gives theta (dPL baseline).

Each day's input is the cell's normalised attributes, forcing, observed soil moisture (gaps 0)
and observed/missing mask; the final hidden state, after dropout, goes through a linear layer to
the parameters. A cell's parameters are the mean over ``param_windows`` windows of its period;
cells without observations see an all-missing Z channel. Training as in :mod:`._dl`.

Presets (``preset="auto"``, the default, picks ``paper`` on a GPU and ``small`` on a CPU):
``paper`` (hidden 256, dropout 0.5, the paper's DAS-S8 setting) and ``small``
(hidden 32, dropout 0.2).
"""

from __future__ import annotations

from typing import Any

from ._dl import COMMON_OPTIONS, SERIES_OPTIONS, DLCalibrator


class LSTMZCalibrator(DLCalibrator):
    name = "lstm_z"
    description = "LSTM-Z: LSTM over (A, X, Z) windows -> theta (dPL, Tsai et al. 2021)"
    network_kind = "lstm_z"
    adadelta_lr = 1.0
    uses_series = True
    cpu_preset = "small"
    arch_presets = {"paper": {"hidden_size": 256, "dropout": 0.5}, "small": {"hidden_size": 32, "dropout": 0.2}}
    default_options = {**COMMON_OPTIONS, **SERIES_OPTIONS, "hidden_size": None}

    def network_config(self, n_attr: int, n_series: int, n_params: int) -> dict[str, Any]:
        o = self.options
        return {"kind": self.network_kind, "n_attr": n_attr, "n_series": n_series, "n_params": n_params,
                "hidden_size": int(o["hidden_size"]), "dropout": float(o["dropout"])}
