"""Checks that a DL training run learned something: :func:`check_training`.

A training run can end without an error and still return parameters it never learned: it stopped
at its first epoch, its network gives every cell the same parameters, or its output is where it
started. Each such finding is a :class:`TrainingDiagnostic` (a ``code``, a sentence naming what to
change, and the figures behind it); the trainer stores them as plain dicts in
``result.info["training_diagnostics"]`` and logs each one as a warning (the command line shows
warnings). An empty list means none of the checks fired, not that the parameters are right.

Codes
-----
``best_epoch_first``
    The best monitored loss was that of epoch 1 although more epochs ran (early stopping kept the
    weights after one epoch).
``uniform_parameters``
    The spread across cells of every calibrated parameter (standard deviation of its normalised
    value, 0..1 over the bounds) is below :data:`MIN_PARAMETER_SPREAD` while the cells' attributes
    vary (standard deviation of some standardised attribute above :data:`MIN_ATTRIBUTE_SPREAD`):
    one parameter set for every cell.
``output_at_start``
    The training cells' parameters at the end equal those the network gave before its first
    update (after the start rule ``start``: the default parameters for ``prior``, the untrained
    network for ``random``) within :data:`START_TOLERANCE`.
``output_at_centre``
    Every parameter of every cell lies within :data:`CENTRE_TOLERANCE` of the centre of its bounds,
    which is what an untrained network gives (its output layer starts at 0.5,
    :func:`vic_paraformer.dl.modelzoo.layers.init_head`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

MIN_PARAMETER_SPREAD: float = 0.01
"""Spread (s.d. over cells of the normalised value, 0..1) below which a parameter counts as uniform.

An untrained network of any built-in kind gives a spread of at most 0.003 (measured at the ``cpu``
preset sizes on random inputs) and the collapsed runs this check was written for gave 0.0001-0.0003;
calibrations that learned from their cells gave 0.03-0.35 per parameter on the synthetic twin (the
quick start's ParaFormer-Z: 0.03-0.29; two training cells: 0.06-0.35). 0.01 is 1 % of a
parameter's range (0.17 for ``expt``, 0.3 mm/day for ``Dsmax``), far below any spatial pattern a
calibration would report."""

MIN_ATTRIBUTE_SPREAD: float = 1e-3
"""Spread (s.d. over cells) of a standardised network attribute above which the cells' attributes vary.

The attributes reach the network standardised by the training cells' mean and s.d.
(:class:`~vic_paraformer.dl.inputs.InputNormalization`), so an attribute that varies at all has a
spread of order 1; a constant one has 0. Only with varying attributes can a network be expected to
give cells different parameters."""

START_TOLERANCE: float = 1e-3
"""Largest change (normalised, 0..1) of any training cell's parameter from the network's start
below which the output counts as unchanged: 0.1 % of a parameter's range, less than float32
rounding of a learned output could hide but more than its noise (1e-7)."""

CENTRE_TOLERANCE: float = 0.02
"""Distance (normalised, 0..1) from the centre of the bounds within which every parameter of every
cell must lie for ``output_at_centre``. An untrained network's output is within 0.01 of the centre
(measured for every built-in network at the ``cpu`` preset sizes); a calibration that learned
anything moves at least one parameter of one cell further than 2 % of its range."""


@dataclass(frozen=True)
class TrainingDiagnostic:
    """One finding of :func:`check_training`: a ``code`` (see the module docstring), a ``message``
    for the user naming what to change, and the ``values`` it was computed from."""

    code: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``code``, ``message``, ``values``)."""
        return asdict(self)


def check_training(*, name: str, best_epoch: int, epochs_run: int, monitored: str, parameter_names: Sequence[str],
                   u_cells: np.ndarray, attributes: np.ndarray, u_start: np.ndarray, u_end: np.ndarray,
                   start: str) -> list[TrainingDiagnostic]:
    """The diagnostics of one training run (empty when none fires).

    ``u_cells`` ``(C, p)``: every cell's final parameters, normalised and clamped to 0..1;
    ``attributes`` ``(C, k)``: the cells' attributes as the network reads them (standardised);
    ``u_start`` and ``u_end`` ``(n_train, p)``: the training cells' clamped network output before the
    first update and at the end, computed from the same inputs; ``monitored`` names the loss early
    stopping watched; ``start`` the start rule that was used (``prior`` or ``random``).
    """
    out: list[TrainingDiagnostic] = []
    names = list(parameter_names)
    if best_epoch == 1 and epochs_run > 1:
        out.append(TrainingDiagnostic(
            "best_epoch_first",
            f"{name}: the best {monitored} was that of epoch 1 (of {epochs_run} run), so the parameters are those "
            "after one epoch: training improved nothing after it. Give more epochs of patience "
            "(option 'patience'), a larger learning rate ('lr') or, with few training cells, no hold-out "
            "('val_fraction=0')",
            {"best_epoch": int(best_epoch), "epochs_run": int(epochs_run), "monitored": monitored}))
    u_cells = np.asarray(u_cells, float)
    attributes = np.asarray(attributes, float)
    if len(u_cells) > 1:
        spread = u_cells.std(axis=0)
        a_spread = float(attributes.std(axis=0).max()) if attributes.size else 0.0
        if a_spread > MIN_ATTRIBUTE_SPREAD and bool((spread < MIN_PARAMETER_SPREAD).all()):
            out.append(TrainingDiagnostic(
                "uniform_parameters",
                f"{name}: every parameter is nearly the same in all {len(u_cells)} cells (largest spread "
                f"{float(spread.max()):.2g} of the normalised range, threshold {MIN_PARAMETER_SPREAD:g}) although "
                "the cells' attributes vary: the network did not learn how the parameters depend on the cells. "
                f"With {_train_hint(start)}",
                {"spread": {n: float(s) for n, s in zip(names, spread)}, "threshold": MIN_PARAMETER_SPREAD,
                 "attribute_spread": a_spread, "n_cells": int(len(u_cells))}))
    u_start = np.asarray(u_start, float)
    u_end = np.asarray(u_end, float)
    if u_start.shape == u_end.shape and u_start.size:
        moved = float(np.abs(u_end - u_start).max())
        if moved < START_TOLERANCE:
            out.append(TrainingDiagnostic(
                "output_at_start",
                f"{name}: the calibrated parameters of the training cells are those the network gave before "
                f"training (start {start!r}; largest change {moved:.2g} of the normalised range, threshold "
                f"{START_TOLERANCE:g}): training did not move them. With {_train_hint(start)}",
                {"largest_change": moved, "threshold": START_TOLERANCE, "start": start}))
    if u_cells.size:
        off = float(np.abs(u_cells - 0.5).max())
        if off < CENTRE_TOLERANCE:
            out.append(TrainingDiagnostic(
                "output_at_centre",
                f"{name}: every parameter of every cell is at the centre of its bounds (largest distance "
                f"{off:.2g} of the normalised range, threshold {CENTRE_TOLERANCE:g}), the output of an untrained "
                f"network. With {_train_hint(start)}",
                {"largest_distance": off, "threshold": CENTRE_TOLERANCE}))
    return out


def _train_hint(start: str) -> str:
    other = "random" if start == "prior" else "prior"
    return (f"few training cells or a flat loss, try more epochs ('epochs', 'patience'), a larger learning rate "
            f"('lr') or the other start rule ('start={other}')")


def report(diagnostics: Sequence[TrainingDiagnostic]) -> list[dict[str, Any]]:
    """Log each diagnostic as a warning and return them as dicts for a result's ``info``."""
    for d in diagnostics:
        log.warning("%s", d.message)
    return [d.to_dict() for d in diagnostics]
