"""The model zoo: one module per calibration network (dl layer), registered by name in
:mod:`vic_paraformer.dl.networks`.

===============  ============================================================  ===========
name             network                                                       reads
===============  ============================================================  ===========
``paraformer_a`` attribute tokens -> transformer encoder -> MLP head           A
``paraformer_z`` attribute-encoder queries cross-attend to a series encoder    A, (X, Z)
``ffn_a``        fully connected A -> theta (dPL baseline)                     A
``lstm_z``       LSTM over (A, X, Z) windows, final state -> theta (dPL)       A, (X, Z)
===============  ============================================================  ===========

Every network maps its inputs to ``u``, the calibrated parameters in *normalised* units
(``u = 0`` at a parameter's lower bound, ``1`` at its upper bound). The output layer is linear,
so ``u`` is unbounded: training keeps it inside [0, 1] with the range-boundary loss (paper
eq. 13) and the surrogate only ever sees ``clamp(u, 0, 1)`` (see :mod:`vic_paraformer.dl.trainer`).
The last layer's bias starts at 0.5 and its weights small, so an untrained network proposes
roughly the parameter-space midpoint.

Inputs (all normalised by the trainer): ``a`` ``(B, n_attr)`` static attributes of a cell (the
paper's A); ``s`` ``(B, L, n_series)`` a window of the cell's time series: forcing X, the observed
soil moisture Z with gaps filled by 0, and a mask channel (1 where Z was observed).

How each network follows the paper, and where not: docs/paper-fidelity.md (rows 16-17).

To add a network: a module here with an ``nn.Module`` whose ``forward(a, s)`` returns ``u``
``(B, p)``, and its entry in :data:`vic_paraformer.dl.networks.NETWORKS` (name, class, whether it
reads the series, hyperparameters).
"""

from __future__ import annotations

from ..networks import NETWORKS, NetworkSpec, build_network, get_network, network_config, register
from .ffn_a import FFNA
from .layers import AttributeEmbedding, SinusoidalPositionEncoding
from .lstm_z import LSTMZ
from .paraformer_a import ParaFormerA
from .paraformer_z import ParaFormerZ

__all__ = ["AttributeEmbedding", "SinusoidalPositionEncoding", "ParaFormerA", "ParaFormerZ", "FFNA", "LSTMZ",
           "NETWORKS", "NetworkSpec", "build_network", "get_network", "network_config", "register"]
