"""Which parameters can the data tell apart: the ``identifiable`` flag and :func:`select_identifiable`.

A parameter is *identifiable* at a cell when its total Sobol index for the calibration objective
(term ``objective``) exceeds :data:`IDENTIFIABLE_THRESHOLD` with confidence: the lower end of the
index's bootstrap 95 % interval (``ST - ST_conf``) lies above it. Varying the parameter over its
bounds, with every other parameter varying too, then explains more than that share of the
objective's variance. Below it the objective is nearly flat along the parameter, so any value the
calibration returns there is set by the start, the prior or noise, not by the observations; a
parameter whose index straddles the threshold within the estimator's noise is not counted as
identifiable (more base samples narrow the interval and may let it in).

The threshold, 0.05, is the usual screening level for total indices. Measured on 5 cells of the
8 x 8-cell clean synthetic twin (waterbalance, 64 base samples, default objective): the objective's
``ST`` was 0.96-1.06 for ``expt``, 0.003-0.006 for ``infilt``, 0.05-0.06 for ``Ds``, 0.03-0.11 for
``Dsmax`` and 0.015-0.06 for ``Ws``, with bootstrap 95 % half-widths of 0.003-0.2 (largest for
``expt``). So 0.05 separates ``expt`` and ``infilt`` cleanly but the baseflow parameters sit at it
within the estimator's noise; more base samples narrow that band. A parameter that enters nothing
gets exactly 0.

:func:`select_identifiable` (the ``auto`` parameter choice) answers a different question: which
parameters can be *fixed* at the region's own values without costing skill. Dropping a parameter
claims it is negligible, so the burden of proof is the other way round: a parameter is kept unless
its total index, averaged over the training cells (which averages much of the estimator's noise
away), stays below the threshold. A parameter the flag calls not identifiable at a cell (its
interval straddles 0.05) is thus still calibrated when it matters to the objective on average: the
calibration can move it, but the flag says the data do not pin it there. Measured on an 8 x 8 clean
twin through a small surrogate (FFN-A, 9 training cells, 64 base samples): the per-cell intervals
(half-widths 0.05-0.47) flagged ``expt`` alone, while the regional means were ``infilt`` 0.16,
``Ds`` 0.18, ``Dsmax`` 0.10, ``Ws`` 0.054 and ``expt`` 0.68; calibrating ``expt`` alone lost
0.011-0.034 median NSE against the paper's five at the training cells in 5 of 6 seeds, because the
four fixed parameters matter to the objective although the data cannot pin them cell by cell.
:func:`parameter_choice_record` is what a calibration with ``auto`` stores in its result's
``info["parameter_choice"]``; :func:`identifiability_record` is the per-cell, per-parameter record
a calibration stores in its result's ``info["identifiability"]``.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..parameters import ParameterSpace
from ..region import Region
from .design import DEFAULT_SAMPLES, TOTAL_KIND
from .indices import compute_indices

log = logging.getLogger(__name__)

#: Total Sobol index of the calibration objective above which a parameter is identifiable at a cell.
IDENTIFIABLE_THRESHOLD: float = 0.05
#: Base samples of the identifiability analysis (``64 (p + 2)`` model runs per cell plus one).
IDENTIFIABILITY_SAMPLES: int = DEFAULT_SAMPLES["sobol"]
#: Training cells the analysis runs on at most (evenly spread over the training cells' ids when there are more).
MAX_CELLS: int = 256


def total_and_halfwidth(ds: xr.Dataset, term: str = "objective") -> tuple[xr.DataArray, xr.DataArray]:
    """The total index of ``term`` (``ST``; Morris: ``mu_star_norm``) and its bootstrap 95 % half-width
    (``ST_conf``; Morris: ``mu_star_conf`` scaled like ``mu_star_norm``), each ``(cell, parameter)``."""
    method = ds.attrs.get("method", "sobol")
    idx = ds["indices"].sel(term=term)
    total = idx.sel(index=TOTAL_KIND[method], drop=True)
    if method == "sobol":
        conf = idx.sel(index="ST_conf", drop=True)
    else:
        mu = idx.sel(index="mu_star", drop=True)
        conf = (idx.sel(index="mu_star_conf", drop=True) * total / mu.where(mu > 0)).fillna(0.0)
    return total, conf


def identifiable(ds: xr.Dataset, threshold: float | None = None, term: str = "objective") -> xr.DataArray:
    """``(cell, parameter)`` booleans: the lower end of the 95 % bootstrap interval of the total index of
    ``term`` in ``ds`` (:func:`compute_indices`), ``ST - ST_conf``, above ``threshold`` (default
    :data:`IDENTIFIABLE_THRESHOLD`); a NaN index (no observations) is False."""
    thr = IDENTIFIABLE_THRESHOLD if threshold is None else float(threshold)
    total, conf = total_and_halfwidth(ds, term)
    return (total - conf.fillna(0.0).clip(min=0.0) > thr).fillna(False)


def _cells(region: Region) -> np.ndarray:
    train = np.asarray(region.training_cells)
    if len(train) > MAX_CELLS:
        train = train[np.linspace(0, len(train) - 1, MAX_CELLS).round().astype(int)]
    return train


def training_indices(region: Region, *, surrogate=None, simulator=None, space: ParameterSpace | str | None = None,
                     objective_options: Mapping[str, Any] | None = None, seed: int = 0,
                     simulator_options: Mapping[str, Any] | None = None, n_workers: int = 1) -> xr.Dataset:
    """Sobol indices (:data:`IDENTIFIABILITY_SAMPLES` base samples) on the training cells of ``region``
    (at most :data:`MAX_CELLS` of them)."""
    return compute_indices(region, surrogate=surrogate, simulator=simulator, simulator_options=simulator_options,
                           space=space, method="sobol", samples=IDENTIFIABILITY_SAMPLES, cells=_cells(region),
                           objective_options=objective_options, seed=seed, n_workers=n_workers)


def regional_total(ds: xr.Dataset, term: str = "objective") -> tuple[np.ndarray, np.ndarray]:
    """Per parameter (in ``ds``'s order): the mean over cells of the total index of ``term`` and the mean of its
    bootstrap 95 % half-widths (cells without an index left out; NaN where no cell has one)."""
    total, conf = total_and_halfwidth(ds, term)
    return (np.asarray(total.mean("cell", skipna=True).values, float),
            np.asarray(conf.clip(min=0.0).mean("cell", skipna=True).values, float))


def choose_parameters(ds: xr.Dataset, threshold: float | None = None) -> list[str]:
    """The ``auto`` choice from indices ``ds`` (:func:`training_indices`): the parameters whose total index of
    the objective, averaged over the cells, reaches ``threshold`` (default :data:`IDENTIFIABLE_THRESHOLD`)."""
    thr = IDENTIFIABLE_THRESHOLD if threshold is None else float(threshold)
    mean, _ = regional_total(ds)
    return [str(n) for n, m in zip(ds["parameter"].values, mean) if np.isfinite(m) and m >= thr]


def parameter_choice_record(ds: xr.Dataset, names: list[str], threshold: float | None = None) -> dict[str, Any]:
    """The JSON-able record of an ``auto`` choice: per parameter the regional mean total index of the
    objective, its mean bootstrap half-width, the share of cells where it is identifiable, and what was kept."""
    thr = IDENTIFIABLE_THRESHOLD if threshold is None else float(threshold)
    mean, half = regional_total(ds)
    share = identifiable(ds, thr).mean("cell").values
    params = [str(p) for p in ds["parameter"].values]

    def r(v):
        return None if not np.isfinite(v) else round(float(v), 4)

    return {
        "rule": "calibrate a parameter when the mean over the training cells of its total Sobol index of the "
                "objective reaches the threshold; fix the others at the region's own values",
        "threshold": thr, "term": "objective", "method": ds.attrs.get("method"),
        "base_samples": int(ds.attrs.get("base_samples", 0)), "model": ds.attrs.get("model"),
        "cells": [int(c) for c in ds["cell"].values], "candidates": params,
        "mean_total_index": {p: r(m) for p, m in zip(params, mean)},
        "mean_halfwidth": {p: r(h) for p, h in zip(params, half)},
        "share_identifiable": {p: round(float(s), 3) for p, s in zip(params, share)},
        "calibrated": list(names), "fixed": [p for p in params if p not in names],
    }


def select_identifiable(region: Region, *, surrogate=None, simulator=None, space: ParameterSpace | str | None,
                        objective_options: Mapping[str, Any] | None = None, threshold: float | None = None,
                        seed: int = 0, record: dict[str, Any] | None = None) -> list[str]:
    """Names of the parameters of ``space`` (in its order) that ``--parameters auto`` calibrates
    (:func:`choose_parameters`: the objective's total index, averaged over the training cells, reaches the threshold).

    Through ``surrogate`` (a loaded surrogate) or ``simulator`` (a registered name or Simulator),
    with the calibration's ``objective_options``; ``threshold`` defaults to
    :data:`IDENTIFIABLE_THRESHOLD`. May return an empty list (the objective depends on no parameter).
    ``record``, a dict, receives :func:`parameter_choice_record`.
    """
    ds = training_indices(region, surrogate=surrogate, simulator=simulator, space=space,
                          objective_options=objective_options, seed=seed)
    names = choose_parameters(ds, threshold)
    rec = parameter_choice_record(ds, names, threshold)
    if record is not None:
        record.update(rec)
    log.info("parameters that matter to the objective (total index averaged over %d training cells >= %g): %s "
             "(means %s)", ds.sizes["cell"], rec["threshold"], names or "none",
             ", ".join(f"{p} {m}" for p, m in rec["mean_total_index"].items()))
    return names


def identifiability_record(ds: xr.Dataset, threshold: float | None = None) -> dict[str, Any]:
    """The JSON-able record a result stores: per cell and parameter the objective's total index and the flag."""
    thr = IDENTIFIABLE_THRESHOLD if threshold is None else float(threshold)
    kind = TOTAL_KIND[ds.attrs.get("method", "sobol")]
    total_da, conf_da = total_and_halfwidth(ds)
    total = total_da.transpose("cell", "parameter").values
    conf = conf_da.transpose("cell", "parameter").values
    flags = identifiable(ds, thr).transpose("cell", "parameter").values
    return {
        "threshold": thr, "term": "objective", "index": kind, "method": ds.attrs.get("method"),
        "base_samples": int(ds.attrs.get("base_samples", 0)), "model": ds.attrs.get("model"),
        "parameters": [str(p) for p in ds["parameter"].values],
        "cells": [int(c) for c in ds["cell"].values],
        "rule": "identifiable where the lower end of the total index's bootstrap 95 % interval exceeds the threshold",
        "total_index": [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in total],
        "total_index_halfwidth": [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in conf],
        "identifiable": [[bool(v) for v in row] for row in flags],
        "share_identifiable": {str(p): round(float(s), 3) for p, s in zip(ds["parameter"].values, flags.mean(0))},
    }
