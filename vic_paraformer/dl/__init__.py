"""Deep-learning calibration (dl layer): one trainer, a model zoo, a typed run configuration.

Layer: above :mod:`vic_paraformer.surrogate` (it learns *through* a frozen surrogate), beside
:mod:`vic_paraformer.strategies` (whose DL strategies are thin specifications of
:class:`~vic_paraformer.dl.strategy.DLCalibrator`), below :mod:`vic_paraformer.evaluation`.

Modules, one job each:

=========================  =================================================================
:mod:`.config`             :class:`TrainConfig` (typed, validated), option defaults
:mod:`.presets`            what ``preset="paper"`` / ``"cpu"`` / ``"small"`` / ``"auto"`` set
:mod:`.inputs`             network inputs: :class:`InputNormalization` (shared ``Normalizer``)
:mod:`.networks`           the network registry: name, class, inputs, hyperparameters (torch-free)
:mod:`.modelzoo`           one module per network
:mod:`.losses`             masked RMSE and the range-boundary loss (paper eq. 13-14)
:mod:`vic_paraformer.observation`  the observation operator, refitted to the simulation every epoch
:mod:`.cell_params`        per-cell network outputs (windows averaged for series networks)
:mod:`.trainer`            the training loop :func:`train`
:mod:`.model_file`         model files: ``save`` / ``load`` / :func:`apply_model` (public)
:mod:`.strategy`           :class:`DLCalibrator`, the base class of the DL strategies
=========================  =================================================================
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: public name -> (module, attribute); imported on first use, so that importing a strategy module
#: to list its options does not import torch
_EXPORTS = {"TrainConfig": (".config", "TrainConfig"), "InputNormalization": (".inputs", "InputNormalization"),
            "DLModel": (".model_file", "DLModel"), "apply_model": (".model_file", "apply_model"),
            "load_model": (".model_file", "load"), "save_model": (".model_file", "save"),
            "DLCalibrator": (".strategy", "DLCalibrator"), "TrainOutcome": (".trainer", "TrainOutcome"),
            "train": (".trainer", "train")}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(import_module(module, __name__), attr)
