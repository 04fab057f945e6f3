"""The typed, validated configuration of one DL training run: :class:`TrainConfig`.

A DL strategy's options (see :data:`COMMON_OPTIONS`, :data:`SERIES_OPTIONS` and the network's
hyperparameters in :mod:`vic_paraformer.dl.modelzoo`) are resolved against a preset
(:mod:`vic_paraformer.dl.presets`), checked by :func:`option_problems` and handed to
:func:`vic_paraformer.dl.trainer.train` as one :class:`TrainConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..errors import StrategyError
from ..objective.options import OBJECTIVE_OPTION_DEFAULTS, OBJECTIVE_OPTION_HELP, ObjectiveOptions, objective_option_problems
from .presets import DL_PRESETS, PAPER_SPLITS

if TYPE_CHECKING:
    import torch

#: Options every DL strategy accepts (``None`` = taken from the chosen ``preset``).
COMMON_OPTIONS: dict[str, Any] = {
    "surrogate": None,
    "preset": "auto",
    "paper_split": "das_s8",
    "epochs": None,
    "batch_size": None,
    "batches_per_epoch": None,
    "window": None,
    "patience": None,
    "optimizer": "adadelta",
    "lr": None,
    "weight_decay": 1e-5,
    "dropout": None,
    "val_fraction": None,
    "device": "auto",
    **OBJECTIVE_OPTION_DEFAULTS,
    "start": "auto",
    "val_scheme": "blocks",
    "val_block_days": 30,
    "model_out": None,
    "progress": None,
    "threads": None,
    "ensemble": 1,
    "bootstrap": True,
    "ensemble_error": True,
    "q_cells": 256,
}
#: Extra options of the networks that read the observed series (Z models).
SERIES_OPTIONS: dict[str, Any] = {"z_dropout": 0.1, "param_windows": 4, "untrained_cell_obs": "hide"}
#: Values of ``untrained_cell_obs``: hide the observations of cells that are not training cells, or use them.
UNTRAINED_CELL_OBS: tuple[str, ...] = ("hide", "use")

#: Meaning of each option (``vic-paraformer strategies NAME``); the network's hyperparameters below.
COMMON_OPTION_HELP: dict[str, str] = {
    "surrogate": "surrogate checkpoint (.pt) or loaded Surrogate the network trains through (required; frozen)",
    "preset": "what the options left at None become (vic_paraformer.dl.presets): 'auto' (paper on a GPU, cpu "
              "otherwise), 'paper' (the paper's numbers, GPU-sized), 'cpu' (reduced, minutes on a CPU) or 'small'",
    "paper_split": "which of the paper's splits sizes preset 'paper' uses: 'das_s8' or 'das_s4'",
    "epochs": "most training epochs (None: the preset's)",
    "batch_size": "training cells per minibatch (None: the preset's)",
    "batches_per_epoch": "minibatches per epoch (None: about one pass over the training cell-days, at least 20)",
    "window": "days per training window; the surrogate's warm-up days at its start are not scored "
              "(None: the preset's, 240)",
    "patience": "epochs without a better validation loss before stopping; the best weights are kept "
                "(None: the preset's)",
    "optimizer": "'adadelta' (the paper's), 'adam' or 'adamw'",
    "lr": "learning rate (None: the preset's AdaDelta step multiplier; 3e-4 for adam/adamw)",
    "weight_decay": "L2 weight decay of the optimiser",
    "dropout": "dropout of the network (None: the preset's)",
    "val_fraction": "share of the training days held out to monitor early stopping, as interleaved blocks "
                    "(val_scheme) (0: no hold-out, monitor the training loss; None: the preset's)",
    "val_scheme": "'blocks': interleaved held-out blocks spread over the period (default); 'tail': the last days",
    "val_block_days": "length in days of each held-out block (val_scheme='blocks')",
    "device": "'auto' (CUDA when available), 'cpu' or 'cuda[:N]'",
    **OBJECTIVE_OPTION_HELP,
    "start": "where the network's output starts: 'prior' (first fitted to the region's default parameters), "
             "'random' (its random initialisation, the paper's) or 'auto' (prior for loss wb on a region with its own "
             "parameters, e.g. from a VIC parameter file; random otherwise)",
    "model_out": "where to save the trained model (.pt), for 'calibrate --apply' on new cells",
    "progress": "show a progress bar over epochs (None: off in library calls, on in the CLI)",
    "threads": "torch CPU threads for the run, restored afterwards (None: torch's setting; the CLI's default is 1)",
    "ensemble": "networks trained (a deep ensemble; K times the cost): member 0 is the ordinary run, the point values "
                "are the members' per-cell median, members 1..K-1 use seed+k and (bootstrap) a resample of the training cells and window "
                "starts; the result stores per-cell 5/50/95 % quantiles (and the members, up to 16)",
    "q_cells": "objectives with q: the most cells of the gauged basins run with gradients at once in a discharge "
               "step (gauges are grouped up to it; a larger basin is routed in two passes of this many cells, "
               "bounding memory; vic_paraformer.dl.discharge_step)",
    "bootstrap": "members 1..K-1 of an ensemble draw their minibatches from a bootstrap resample of the training "
                 "cells and window start days (False: they differ by seed only)",
    "ensemble_error": "widen an ensemble's 90 % intervals by the model-error term (the parameter change whose SM "
                      "effect through the surrogate equals the training cells' model-data mismatch, added in "
                      "quadrature to the members' spread; see vic_paraformer.dl.error_term) and, at untrained cells, "
                      "the transfer term (vic_paraformer.error_terms.transfer_halfwidth); False: the spread alone",
}
SERIES_OPTION_HELP: dict[str, str] = {
    "z_dropout": "share of training windows with the observed series hidden, so that the network learns the "
                 "case of cells without observations",
    "param_windows": "evenly spaced windows whose outputs are averaged into a cell's parameters",
    "untrained_cell_obs": "'hide' the observations of cells that are not training cells when computing their "
                          "parameters, or 'use' them",
}
#: Meaning of the model zoo's architecture hyperparameters (None: the preset's size).
HYPERPARAMETER_HELP: dict[str, str] = {
    "hidden_size": "hidden units of the network (None: the preset's)",
    "d_model": "width of the transformer's tokens (None: the preset's)",
    "n_heads": "attention heads (None: the preset's)",
    "n_layers": "transformer layers (None: the preset's)",
    "dropout": "dropout of the network (None: the preset's)",
    "patch_days": "days per series token (1: every day a token, the paper's setting; P: attention P**2 times "
                  "cheaper)",
    "attn_dropout": "dropout on the attention weights of the series encoder and the cross-attention (0 keeps "
                    "the fast attention kernel)",
}

#: Default learning rates of Adam/AdamW (AdaDelta's comes with the preset, :mod:`vic_paraformer.dl.presets`).
DEFAULT_LR = {"adadelta": None, "adam": 3e-4, "adamw": 3e-4}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cpu"``/``"cuda"`` as given."""
    import torch  # here: the options of a DL strategy are listed without torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise StrategyError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise StrategyError("device 'cuda' was requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def _positive_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1


def _in(v, low: float, high: float, *, high_open: bool = True, low_open: bool = False) -> bool:
    """``v`` is a finite number in the interval (text that reads as one counts; NaN never does)."""
    try:
        x = float(v) if not isinstance(v, bool) else float("nan")
    except (TypeError, ValueError):
        return False
    return (x > low if low_open else x >= low) and (x < high if high_open else x <= high)


@dataclass
class TrainConfig:
    """Everything :func:`~vic_paraformer.dl.trainer.train` needs besides the data and the surrogate.

    ``network`` holds the architecture hyperparameters of ``network_kind`` (the model-zoo name).
    ``z_dropout`` and ``param_windows`` matter only for networks that read the series.
    """

    network_kind: str
    network: dict[str, Any]
    uses_series: bool
    preset: str
    epochs: int
    batch_size: int
    window: int
    patience: int
    optimizer: str
    lr: float
    weight_decay: float
    val_fraction: float
    device: str = "auto"
    batches_per_epoch: int | None = None
    objective_options: ObjectiveOptions = ObjectiveOptions()
    start: str = "auto"
    val_scheme: str = "blocks"
    val_block_days: int = 30
    progress: bool = False
    threads: int | None = None
    z_dropout: float = 0.0
    param_windows: int = 1
    untrained_cell_obs: str = "hide"
    q_cells: int = 256

    @classmethod
    def from_options(cls, options: Mapping[str, Any], network_kind: str, uses_series: bool,
                     hyperparameters: Mapping[str, type]) -> "TrainConfig":
        """Build from resolved strategy options (call :func:`option_problems` first)."""
        names = {f.name for f in fields(cls)} - {"network_kind", "network", "uses_series", "objective_options"}
        kw = {k: options[k] for k in names if k in options}
        kw["objective_options"] = ObjectiveOptions.from_options(options)
        kw.setdefault("z_dropout", 0.0)
        kw.setdefault("param_windows", 1)
        kw["progress"] = bool(kw.get("progress"))
        return cls(network_kind=network_kind, network={k: options[k] for k in hyperparameters},
                   uses_series=uses_series, **kw)


def option_problems(o: Mapping[str, Any], *, uses_series: bool) -> list[str]:
    """Problems with resolved DL options (empty: valid)."""
    problems: list[str] = []
    if o["preset"] not in DL_PRESETS:
        problems.append(f"unknown preset {o['preset']!r}; expected 'auto' or one of {list(DL_PRESETS)}")
    if o["paper_split"] not in PAPER_SPLITS:
        problems.append(f"unknown paper_split {o['paper_split']!r}; expected one of {list(PAPER_SPLITS)}")
    if o["optimizer"] not in DEFAULT_LR:
        problems.append(f"unknown optimizer {o['optimizer']!r}; expected one of {sorted(DEFAULT_LR)}")
    if problems:
        return problems
    for key in ("epochs", "batch_size", "window", "patience"):
        if not _positive_int(o[key]):
            problems.append(f"option {key} must be a positive integer, got {o[key]!r}")
    if o["batches_per_epoch"] is not None and not _positive_int(o["batches_per_epoch"]):
        problems.append(f"batches_per_epoch must be >= 1, got {o['batches_per_epoch']!r}")
    problems += objective_option_problems(o)
    if not _positive_int(o.get("q_cells", 1)):
        problems.append(f"q_cells must be a positive integer (cells per discharge pass), got {o.get('q_cells')!r}")
    if o["start"] not in ("auto", "prior", "random"):
        problems.append(f"start must be 'auto', 'prior' or 'random', got {o['start']!r}")
    if o["val_scheme"] not in ("blocks", "tail"):
        problems.append(f"val_scheme must be 'blocks' (interleaved held-out blocks) or 'tail' (the last days), "
                        f"got {o['val_scheme']!r}")
    if not _positive_int(o["val_block_days"]):
        problems.append(f"val_block_days must be a positive integer, got {o['val_block_days']!r}")
    if not _in(o["val_fraction"], 0.0, 0.9):
        problems.append(f"val_fraction must be in [0, 0.9), got {o['val_fraction']!r}")
    if not _in(o["dropout"], 0.0, 1.0):
        problems.append(f"dropout must be in [0, 1), got {o['dropout']!r}")
    if not _positive_int(o.get("ensemble", 1)):
        problems.append(f"ensemble must be a positive integer (networks trained), got {o.get('ensemble')!r}")
    if not isinstance(o.get("bootstrap", True), bool):
        problems.append(f"bootstrap must be true or false, got {o.get('bootstrap')!r}")
    if not isinstance(o.get("ensemble_error", True), bool):
        problems.append(f"ensemble_error must be true or false, got {o.get('ensemble_error')!r}")
    if o["threads"] is not None and not _positive_int(o["threads"]):
        problems.append(f"threads must be a positive integer or None, got {o['threads']!r}")
    if not _in(o["lr"], 0.0, float("inf"), low_open=True):
        problems.append(f"lr must be a finite number > 0, got {o['lr']!r}")
    if not _in(o["weight_decay"], 0.0, float("inf")):
        problems.append(f"weight_decay must be a finite number >= 0, got {o['weight_decay']!r}")
    if uses_series:
        if not _in(o["z_dropout"], 0.0, 1.0):
            problems.append(f"z_dropout must be in [0, 1), got {o['z_dropout']!r}")
        if not _positive_int(o["param_windows"]):
            problems.append(f"param_windows must be >= 1, got {o['param_windows']!r}")
        if o["untrained_cell_obs"] not in UNTRAINED_CELL_OBS:
            problems.append(f"untrained_cell_obs must be one of {list(UNTRAINED_CELL_OBS)}, "
                            f"got {o['untrained_cell_obs']!r}")
    return problems
