#!/usr/bin/env python
"""SCE-UA (spotpy), one optimisation per training cell against the surrogate; untrained cells take the
parameters of the nearest trained cell. Prints the test-period metrics."""

from _common import run_strategy

if __name__ == "__main__":
    run_strategy("sceua", options={"repetitions": 1000}, quick_options={"repetitions": 60})
