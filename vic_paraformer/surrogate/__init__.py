"""LSTM surrogate of a simulator (surrogate layer): (forcing, attributes, parameters) -> (sm, et, runoff, baseflow).

::

    from vic_paraformer.surrogate import Surrogate, train_surrogate
    sur = train_surrogate(region, simulator="waterbalance", preset="demo", seed=0, out="surrogate.pt")
    sur = Surrogate.load("surrogate.pt")          # frozen, differentiable wrt its inputs
    x, a = sur.prepare(region)                     # normalised forcing (C, T, nf), attributes (C, na)
    y = sur(x[:, :240], a, theta_u)                # (C, 240, 2): sm (m3 m-3), et (mm/day)

Modules: :mod:`.model` (network, normalisation, checkpoint), :mod:`.data` (training-data
generation and on-disk store), :mod:`.train` (training, presets), :mod:`.evaluate` (accuracy
report against the simulator), :mod:`.resolve` (a strategy's ``surrogate`` option -> a checked
surrogate, shared by the DL and the spotpy strategies).
"""

from __future__ import annotations

from .data import TrainingStore, generate_training_data, sample_parameters
from .model import OUTPUT_NAMES, Normalization, Surrogate, SurrogateConfig
from .train import SURROGATE_PRESETS, make_split, train_from_store, train_surrogate

__all__ = ["Surrogate", "SurrogateConfig", "Normalization", "OUTPUT_NAMES", "TrainingStore", "generate_training_data",
           "sample_parameters", "SURROGATE_PRESETS", "make_split", "train_surrogate", "train_from_store", "evaluate_surrogate"]


def evaluate_surrogate(*args, **kwargs):
    """Accuracy of a surrogate against its simulator (see :func:`vic_paraformer.surrogate.evaluate.evaluate_surrogate`)."""
    from .evaluate import evaluate_surrogate as _evaluate

    return _evaluate(*args, **kwargs)
