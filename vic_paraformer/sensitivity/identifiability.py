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

:func:`select_identifiable` (the ``auto`` parameter choice) keeps a parameter when it is
identifiable at at least half the training cells (its median total index over them exceeds the
threshold); :func:`identifiability_record` is the per-cell, per-parameter record a calibration
stores in its result's ``info["identifiability"]``.
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


def select_identifiable(region: Region, *, surrogate=None, simulator=None, space: ParameterSpace | str | None,
                        objective_options: Mapping[str, Any] | None = None, threshold: float | None = None,
                        seed: int = 0) -> list[str]:
    """Names of the parameters of ``space`` (in its order) identifiable at at least half the training cells.

    Through ``surrogate`` (a loaded surrogate) or ``simulator`` (a registered name or Simulator),
    with the calibration's ``objective_options``; ``threshold`` defaults to
    :data:`IDENTIFIABLE_THRESHOLD`. May return an empty list (the data constrain no parameter).
    """
    ds = training_indices(region, surrogate=surrogate, simulator=simulator, space=space,
                          objective_options=objective_options, seed=seed)
    flags = identifiable(ds, threshold)
    share = flags.mean("cell").values
    names = [str(n) for n, s in zip(ds["parameter"].values, share) if s >= 0.5]
    log.info("identifiable parameters (total index of the objective > %g with 95 %% confidence at >= half of %d "
             "training cells): %s",
             IDENTIFIABLE_THRESHOLD if threshold is None else threshold, ds.sizes["cell"], names or "none")
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
