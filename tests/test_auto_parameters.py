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


def test_auto_keeps_the_skill_of_all_and_recovers_the_identifiable_parameters_no_worse(synthetic_tiny):
    """SCE-UA with the water balance in the loop, default objective, the same budget for both runs.

    `auto` calibrates the parameters whose total Sobol index of the objective, averaged over the
    training cells, reaches the threshold (the others keep the region's own values). It must score
    within 0.01 of `all` (median NSE of SM through the operator, held-out days, training cells and
    untrained neighbours) and recover every parameter identifiable at most training cells (the
    per-cell flag: the lower end of the index's interval above the threshold) no worse (mean
    absolute error, within 2 % of its range: the noise of two optimiser runs).
    """
    from vic_paraformer.sensitivity import choose_parameters, identifiable, training_indices

    full = synthetic_tiny
    region = full.sel_time("2015-04-01", "2016-06-30").with_training_cells(full.cells[::4])
    space_all = ParameterSpace.preset("vic", names=PARAMETER_NAMES)
    ds = training_indices(region, simulator="waterbalance", space=space_all, seed=0)
    names = choose_parameters(ds)
    flagged = [n for n, s in zip(space_all.names, identifiable(ds).mean("cell").values) if s >= 0.5]
    print("auto:", names, "identifiable:", flagged)
    assert "expt" in flagged and set(flagged) <= set(names) and len(names) < space_all.n
    kw = dict(strategy="sceua", seed=0, simulator="waterbalance", repetitions=40, ngs=2, n_workers=1, warmup=90,
              uncertainty=None)
    runs = {label: vp.calibrate(region, parameter_space=space, **kw)
            for label, space in (("all", space_all), ("auto", ParameterSpace.preset("vic", names=names)))}
    assert runs["auto"].parameter_space.names == tuple(names)
    test = ("2016-07-01", "2017-03-31")
    scores = {label: evaluate(full, res, "waterbalance", period=test) for label, res in runs.items()}
    print({label: (_nse(s, "train"), _nse(s, "untrained")) for label, s in scores.items()})
    for group in ("train", "untrained"):
        assert _nse(scores["auto"], group) >= _nse(scores["all"], group) - 0.01, group
    for name in flagged:
        truth = full.ds[f"true_{name}"].values
        span = np.diff(space_all.bounds(name))[0]
        err = {label: np.mean(np.abs(res.params[name].values - truth)) / span for label, res in runs.items()}
        print(name, err)
        assert err["auto"] <= err["all"] + 0.02, (name, err)


def test_parameters_auto_through_the_simulator_records_its_choice(synthetic_tiny, tmp_path):
    """``calibrate --parameters auto`` without a surrogate screens the paper's five through the
    simulator it calibrates with, calibrates the chosen ones and records the choice in the result."""
    from vic_paraformer.result import CalibrationResult
    from vic_paraformer.workflow import CalibrationSpec, run_calibration

    region = synthetic_tiny.sel_time("2015-04-01", "2016-03-31")
    spec = CalibrationSpec(region=region, strategy="sceua", out=tmp_path / "r.nc", seed=0, parameters="auto",
                           train_cells="0,5,10", options={"simulator": "waterbalance", "repetitions": 20,
                                                          "n_workers": 1, "uncertainty": None, "warmup": 90})
    run_calibration(spec)
    res = CalibrationResult.open(tmp_path / "r.nc")
    choice = res.info["parameter_choice"]
    assert choice["candidates"] == list(PARAMETER_NAMES) and choice["cells"] == [0, 5, 10]
    assert choice["calibrated"] == list(res.parameter_space.names) and "expt" in choice["calibrated"]
    assert sorted(choice["calibrated"] + choice["fixed"]) == sorted(PARAMETER_NAMES)
