#!/usr/bin/env python
"""ParaFormer-Z: attribute queries cross-attend to the encoded forcing/observation series, trained
through the frozen surrogate. Prints the test-period metrics."""

from _common import run_strategy

if __name__ == "__main__":
    run_strategy("paraformer_z", options={}, quick_options={"epochs": 3})
