#!/usr/bin/env python
"""MPR-style regionalisation: each parameter a logit-linear function of the cell attributes, the
coefficients calibrated jointly over the training cells (spotpy DDS) against the surrogate; every
cell, trained or not, gets its parameters from the fitted functions, which are printed. Prints the
test-period metrics."""

from _common import run_strategy

if __name__ == "__main__":
    result = run_strategy("mpr", options={"repetitions": 2000}, quick_options={"repetitions": 60})
    if result is not None:
        print("fitted transfer functions (x' = standardised attribute):")
        for line in result.info["transfer_functions_text"]:
            print("  " + line)
