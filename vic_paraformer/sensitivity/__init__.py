"""Sensitivity analysis and identifiability: which parameters can the data tell apart?

Per cell, the variance-based Sobol' indices (first-order ``S1`` and total ``ST``) -- or Morris
elementary effects when the budget is small -- of each term of the calibration (soil moisture
through the observation operator and raw, ET, runoff, baseflow, and the calibration objective
itself; :mod:`.terms`) to each calibrated parameter over the parameter space's bounds, computed
through a surrogate (cheap, batched) or a simulator (the ensemble runner). SALib draws the sets
and estimates the indices (:mod:`.design`).

Modules: :mod:`.design` (sampling and estimators), :mod:`.runs` (the model runs), :mod:`.terms`
(the scalar terms), :mod:`.indices` (:func:`compute_indices`), :mod:`.report` (netCDF file, maps,
median table), :mod:`.identifiability` (the ``identifiable`` flag, :func:`select_identifiable`).
"""

from __future__ import annotations

from .design import DEFAULT_SAMPLES, INDEX_KINDS, METHODS, TOTAL_KIND, SensitivityError
from .identifiability import (IDENTIFIABLE_THRESHOLD, choose_parameters, identifiability_record, identifiable,
                              parameter_choice_record, select_identifiable,
                              training_indices)
from .indices import compute_indices
from .report import median_table, open_indices, plot_maps, write_indices, write_table
from .terms import TERMS

__all__ = ["DEFAULT_SAMPLES", "INDEX_KINDS", "METHODS", "TOTAL_KIND", "SensitivityError", "IDENTIFIABLE_THRESHOLD",
           "identifiability_record", "identifiable", "select_identifiable", "choose_parameters",
           "parameter_choice_record", "training_indices", "compute_indices",
           "median_table", "open_indices", "plot_maps", "write_indices", "write_table", "TERMS"]
