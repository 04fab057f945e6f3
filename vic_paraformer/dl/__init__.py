"""Deep-learning calibration (dl layer): one trainer, a model zoo, a typed run configuration.

Layer: above :mod:`vic_paraformer.surrogate` (it learns *through* a frozen surrogate), beside
:mod:`vic_paraformer.strategies` (whose DL strategies are thin specifications of
:class:`~vic_paraformer.dl.strategy.DLCalibrator`), below :mod:`vic_paraformer.evaluation`.

Modules, one job each:

=========================  =================================================================
:mod:`.config`             :class:`TrainConfig` (typed, validated), option defaults
:mod:`.presets`            what ``preset="paper"`` / ``"cpu"`` / ``"small"`` / ``"auto"`` set
:mod:`.inputs`             network inputs: :class:`InputNormalization` (shared ``Normalizer``)
:mod:`.modelzoo`           one module per network, registered by name
:mod:`.losses`             masked RMSE and the range-boundary loss (paper eq. 13-14)
:mod:`vic_paraformer.observation`  the observation operator, refitted to the simulation every epoch
:mod:`.cell_params`        per-cell network outputs (windows averaged for series networks)
:mod:`.trainer`            the training loop :func:`train`
:mod:`.model_file`         model files: ``save`` / ``load`` / :func:`apply_model` (public)
:mod:`.strategy`           :class:`DLCalibrator`, the base class of the DL strategies
=========================  =================================================================
"""

from __future__ import annotations

from .config import TrainConfig
from .inputs import InputNormalization
from .model_file import DLModel, apply_model, load as load_model, save as save_model
from .strategy import DLCalibrator
from .trainer import TrainOutcome, train

__all__ = ["TrainConfig", "InputNormalization", "DLModel", "apply_model", "load_model", "save_model",
           "DLCalibrator", "TrainOutcome", "train"]
