"""examples/configs/: one run configuration per strategy, each loading and naming only real options."""

from __future__ import annotations

from pathlib import Path

import pytest

from vic_paraformer.config import load_config
from vic_paraformer.registry import get_calibrator, strategies

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"
BUILT_IN = ("sceua", "ffn_a", "lstm_z", "paraformer_a", "paraformer_z")


def test_one_config_per_strategy():
    names = {p.stem for p in CONFIGS.glob("*.yaml")}
    assert set(BUILT_IN) <= names
    assert "dds" in names  # the plugin's


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_config_loads_and_builds_its_strategy(path):
    cfg = load_config(path)
    assert cfg["strategy"] == path.stem
    if cfg["strategy"] not in strategies():
        pytest.skip(f"strategy {cfg['strategy']!r} is not installed")
    for key in ("region", "surrogate", "out"):  # relative to the config file
        assert Path(cfg[key]).is_absolute() and Path(cfg[key]).parent.name == "quickstart"
    options = dict(cfg["options"])
    if cfg.get("threads") is not None:
        options["threads"] = cfg["threads"]
    options["surrogate"] = cfg["surrogate"]
    if cfg.get("model_out"):
        options["model_out"] = cfg["model_out"]
    calibrator = get_calibrator(cfg["strategy"], seed=cfg["seed"], **options)  # unknown options would raise
    assert calibrator.seed == 0 and calibrator.options["surrogate"] == cfg["surrogate"]
    assert cfg["train_cells"] == "das:4" and cfg["test_period"] == ["2017-04-01", "2018-03-31"]
