#!/usr/bin/env python
"""FFN-A (dPL, Tsai et al. 2021): a fully connected network from static attributes to parameters,
trained through the frozen surrogate. Prints the test-period metrics."""

from _common import run_strategy

if __name__ == "__main__":
    run_strategy("ffn_a", options={}, quick_options={"epochs": 3})
