"""What each built-in network of the model zoo reads and which hyperparameters it takes.

Torch-free, so that a DL strategy's options can be listed (``vic-paraformer strategies NAME``)
without importing torch; :mod:`vic_paraformer.dl.modelzoo` registers each network with these
entries; :func:`vic_paraformer.dl.strategy.network_options` looks any other network up in the zoo.
"""

from __future__ import annotations

from typing import Mapping

#: network kind -> (reads the series, hyperparameters and their types)
BUILT_IN_NETWORKS: dict[str, tuple[bool, dict[str, type]]] = {
    "ffn_a": (False, {"hidden_size": int, "dropout": float}),
    "lstm_z": (True, {"hidden_size": int, "dropout": float}),
    "paraformer_a": (False, {"d_model": int, "n_heads": int, "n_layers": int, "dropout": float}),
    "paraformer_z": (True, {"d_model": int, "n_heads": int, "n_layers": int, "dropout": float, "attn_dropout": float,
                            "patch_days": int}),
}


def built_in_network(kind: str) -> tuple[bool, Mapping[str, type]] | None:
    """``(uses_series, hyperparameters)`` of the built-in network ``kind``; None for any other."""
    return BUILT_IN_NETWORKS.get(kind)
