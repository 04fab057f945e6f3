#!/usr/bin/env python
"""LSTM-Z (dPL, Tsai et al. 2021): an LSTM over attributes, forcing and observations whose final state
gives the parameters, trained through the frozen surrogate. Prints the test-period metrics."""

from _common import run_strategy

if __name__ == "__main__":
    run_strategy("lstm_z", options={}, quick_options={"epochs": 3})
