"""`--parameters auto` against `all` (the paper's five): skill and recovery of the identifiable parameters."""

from __future__ import annotations

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer.evaluation import evaluate
from vic_paraformer.parameters import PARAMETER_NAMES, ParameterSpace

pytest.importorskip("SALib")


def _nse(metrics, group: str) -> float:
    return float(metrics["variables"]["sm_through_H"][group]["summary"]["nse"]["median"])


def test_auto_keeps_the_skill_of_all_and_recovers_expt_no_worse(synthetic_tiny):
    """SCE-UA with the water balance in the loop, default objective, the same budget for both runs.

    `auto` calibrates what the objective's total Sobol index marks identifiable (the others keep the
    region's own values) and must score within 0.01 of `all` (median NSE of SM through the operator,
    held-out days, training cells and untrained neighbours) and recover `expt` no worse (mean absolute
    error, within 2 % of its range: the noise of two optimiser runs).

    Measured: on this 4 x 4 twin `auto` picks `Ds`, `Dsmax` and `expt`, and `Ds` comes out worse than with
    `all` (mean error 0.44 of its range against 0.20): `Ds` sits at the threshold (total index about
    0.05) and neither run constrains it, so "never worse recovery" does not hold for such a borderline
    parameter; it is not asserted. On the 8 x 8 twin (seed 0, 8 training cells, 150 runs) `auto` picks
    `expt` alone: NSE through the operator 0.884 vs 0.818 (training cells), -0.40 vs -0.74
    (neighbours), `expt` error 0.326 vs 0.325 of its range.
    """
    from vic_paraformer.sensitivity import select_identifiable

    full = synthetic_tiny
    region = full.sel_time("2015-04-01", "2016-06-30").with_training_cells(full.cells[::4])
    space_all = ParameterSpace.preset("vic", names=PARAMETER_NAMES)
    names = select_identifiable(region, simulator="waterbalance", space=space_all, seed=0)
    assert "expt" in names and len(names) < space_all.n
    kw = dict(strategy="sceua", seed=0, simulator="waterbalance", repetitions=40, ngs=2, n_workers=1, warmup=90,
              uncertainty=None)
    runs = {label: vp.calibrate(region, parameter_space=space, **kw)
            for label, space in (("all", space_all), ("auto", ParameterSpace.preset("vic", names=names)))}
    assert runs["auto"].parameter_space.names == tuple(names)
    test = ("2016-07-01", "2017-03-31")
    scores = {label: evaluate(full, res, "waterbalance", period=test) for label, res in runs.items()}
    for group in ("train", "untrained"):
        assert _nse(scores["auto"], group) >= _nse(scores["all"], group) - 0.01, group
    truth = full.ds["true_expt"].values
    span = np.diff(space_all.bounds("expt"))[0]
    err = {label: np.mean(np.abs(res.params["expt"].values - truth)) / span for label, res in runs.items()}
    assert err["auto"] <= err["all"] + 0.02, err
