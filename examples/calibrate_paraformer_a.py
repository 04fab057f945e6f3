#!/usr/bin/env python
"""ParaFormer-A: a transformer encoder over the static attributes (one token per attribute), trained
through the frozen surrogate. Prints the test-period metrics."""

from _common import run_strategy

if __name__ == "__main__":
    run_strategy("paraformer_a", options={}, quick_options={"epochs": 3})
