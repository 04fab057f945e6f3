"""DL training presets: what ``preset="paper"``, ``"cpu"``, ``"small"`` and ``"auto"`` set.

A preset fills every option the caller left at ``None`` (explicit options always win):
training settings (``epochs``, ``batch_size``, ``patience``, ``val_fraction``, ``window``, the
AdaDelta ``lr``) and the network's architecture sizes.

``paper``
    The paper's setup as far as the paper states it (section "Implementation Details";
    ``docs/paper-fidelity.md`` lists what it leaves open): AdaDelta with delta scaled by 0.5
    (``lr=0.5``, ``rho=0.95``, weight decay 1e-5), up to 3000 epochs without a hold-out
    (``val_fraction=0``, so training runs all epochs), 240-day windows; FFN-A and LSTM-Z with
    hidden size 1280 on DAS-S4 and 256 on DAS-S8, dropout 0.5 and batch 300; ParaFormer-A with
    d_model 128, 4 heads, N = 2 and ParaFormer-Z with d_model 256, 8 heads, N = 2, both with
    batch 3600 on DAS-S4 and 2000 on DAS-S8. Which split's numbers apply is the option
    ``paper_split`` (``"das_s8"``, the default, or ``"das_s4"``). It is GPU-sized: a warning says
    so when it runs on a CPU.
``cpu``
    A reduced setup that runs in minutes on one CPU core for a 16 x 16 twin: 30 epochs of batch
    32 with patience 8 for the attribute networks at the paper's DAS-S8 sizes, 20 epochs of
    batch 16 with patience 5 for the series networks at reduced sizes (d_model 32 / hidden 32;
    their paper sizes cost 30-40 s per epoch on an 8 x 8 x 3-year region on one CPU core); the
    last 20 % of the days are held out for early stopping; AdaDelta ``lr`` per network as tuned
    on the synthetic twin (ParaFormer-A 0.2, ParaFormer-Z 0.5, FFN-A 0.5, LSTM-Z 1.0; the
    transformers oscillate at 1.0).
``small``
    Reduced sizes for every network (tests and quick looks), training as the ``cpu`` series
    networks.
``auto`` (the default)
    ``paper`` on a GPU, ``cpu`` otherwise.
"""

from __future__ import annotations

from typing import Any

#: The paper's data splits whose sizes differ (``paper_split`` option).
PAPER_SPLITS: tuple[str, ...] = ("das_s4", "das_s8")

_PAPER_TRAIN = {"epochs": 3000, "patience": 3000, "val_fraction": 0.0, "window": 240, "lr": 0.5}
_PAPER: dict[str, dict[str, dict[str, Any]]] = {
    "ffn_a": {"das_s4": {"batch_size": 300, "hidden_size": 1280, "dropout": 0.5},
              "das_s8": {"batch_size": 300, "hidden_size": 256, "dropout": 0.5}},
    "lstm_z": {"das_s4": {"batch_size": 300, "hidden_size": 1280, "dropout": 0.5},
               "das_s8": {"batch_size": 300, "hidden_size": 256, "dropout": 0.5}},
    "paraformer_a": {"das_s4": {"batch_size": 3600, "d_model": 128, "n_heads": 4, "n_layers": 2, "dropout": 0.1},
                     "das_s8": {"batch_size": 2000, "d_model": 128, "n_heads": 4, "n_layers": 2, "dropout": 0.1}},
    "paraformer_z": {"das_s4": {"batch_size": 3600, "d_model": 256, "n_heads": 8, "n_layers": 2, "dropout": 0.1,
                                "attn_dropout": 0.0, "patch_days": 1},
                     "das_s8": {"batch_size": 2000, "d_model": 256, "n_heads": 8, "n_layers": 2, "dropout": 0.1,
                                "attn_dropout": 0.0, "patch_days": 1}},
}

_ATTR_TRAIN = {"epochs": 30, "batch_size": 32, "patience": 8, "val_fraction": 0.2, "window": 240}
_QUICK_TRAIN = {"epochs": 20, "batch_size": 16, "patience": 5, "val_fraction": 0.2, "window": 240}
_TUNED_LR = {"ffn_a": 0.5, "lstm_z": 1.0, "paraformer_a": 0.2, "paraformer_z": 0.5}
_SMALL_ARCH = {"ffn_a": {"hidden_size": 64, "dropout": 0.2}, "lstm_z": {"hidden_size": 32, "dropout": 0.2},
               "paraformer_a": {"d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1},
               "paraformer_z": {"d_model": 32, "n_heads": 4, "n_layers": 1, "dropout": 0.1, "attn_dropout": 0.0,
                                "patch_days": 1}}
_CPU: dict[str, dict[str, Any]] = {
    "ffn_a": {**_ATTR_TRAIN, "hidden_size": 256, "dropout": 0.5},
    "paraformer_a": {**_ATTR_TRAIN, "d_model": 128, "n_heads": 4, "n_layers": 2, "dropout": 0.1},
    "lstm_z": {**_QUICK_TRAIN, **_SMALL_ARCH["lstm_z"]},
    "paraformer_z": {**_QUICK_TRAIN, **_SMALL_ARCH["paraformer_z"]},
}

#: The preset names a DL strategy accepts (besides ``"auto"``).
DL_PRESETS: tuple[str, ...] = ("paper", "cpu", "small")


def preset_values(preset: str, network: str, paper_split: str = "das_s8") -> dict[str, Any]:
    """Option values ``preset`` sets for ``network`` (KeyError for an unknown preset, network or split)."""
    if preset == "paper":
        return {**_PAPER_TRAIN, **_PAPER[network][paper_split]}
    if preset == "cpu":
        return {**_CPU[network], "lr": _TUNED_LR[network]}
    if preset == "small":
        return {**_QUICK_TRAIN, **_SMALL_ARCH[network], "lr": _TUNED_LR[network]}
    raise KeyError(preset)


def resolve_preset(preset: str, cuda: bool) -> str:
    """``"auto"`` -> ``"paper"`` with CUDA, ``"cpu"`` without; other names unchanged."""
    if preset == "auto":
        return "paper" if cuda else "cpu"
    return preset
