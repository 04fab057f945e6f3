"""Sensitivity indices per cell, parameter and term: :func:`compute_indices`.

The result is an :class:`xarray.Dataset` over ``(cell, parameter, term, index)``:

``indices``      the index values (``index``: ``S1 S1_conf ST ST_conf`` for ``sobol``,
                 ``mu_star mu_star_conf sigma mu_star_norm`` for ``morris``; see :mod:`.design`)
``term_mean``    ``(cell, term)`` mean of the term over the parameter sets
``term_std``     ``(cell, term)`` its standard deviation (how much the parameters move it at all)

with ``lat``/``lon`` (and ``row``/``col`` on a grid) per cell and, as attributes, the method,
the number of base samples and model runs, the model (``surrogate of <simulator>`` or the
simulator's name), the warm-up days and the objective's options (JSON).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..parameters import ParameterSpace
from ..region import Region
from .design import DEFAULT_SAMPLES, INDEX_KINDS, SensitivityError, analyze, check_method, sample
from .runs import OUTPUTS, check_space, run_sets
from .terms import TERM_DESCRIPTIONS, TERMS, term_values

log = logging.getLogger(__name__)

#: Model outputs held in memory at once (values): cells are run in chunks that fit (about 1 GB as float32).
MAX_VALUES_IN_MEMORY = 250_000_000


def default_warmup(surrogate=None, simulator_options: Mapping[str, Any] | None = None) -> int:
    """Warm-up days a calibration with this model skips by default (the same rule as the strategies)."""
    if surrogate is not None:
        return int(getattr(surrogate, "warmup", 0))
    from ..strategies.spotpy_base import simulator_warmup

    return simulator_warmup(simulator_options)


def compute_indices(region: Region, *, surrogate=None, simulator=None,
                    simulator_options: Mapping[str, Any] | None = None,
                    space: ParameterSpace | str | None = None, method: str = "sobol", samples: int | None = None,
                    cells: Sequence[int] | None = None, objective_options: Mapping[str, Any] | None = None,
                    warmup: int | None = None, seed: int = 0, n_workers: int = 1,
                    progress: bool = False) -> xr.Dataset:
    """Sensitivity indices of every term (:data:`~.terms.TERMS`) to every parameter of ``space``, per cell.

    Give one model: ``surrogate`` (a loaded :class:`~vic_paraformer.surrogate.Surrogate`; the default
    of the command line) or ``simulator`` (a registered name or a Simulator, run by the ensemble
    runner with ``n_workers`` processes). ``space`` (default: the surrogate's, else the ``vic``
    preset) gives the parameters and the bounds they vary over; ``cells`` the cell ids (default all);
    ``samples`` the base samples (sobol) or trajectories (morris), default
    :data:`~.design.DEFAULT_SAMPLES`; ``warmup`` the days left out of every term (default: as a
    calibration with this model). Seeded: the same arguments give the same indices.
    """
    started = time.process_time()
    wall = time.perf_counter()
    check_method(method)
    if (surrogate is None) == (simulator is None):
        raise SensitivityError("give exactly one model for the sensitivity analysis: a surrogate or a simulator")
    if space is None:
        space = surrogate.parameter_space if surrogate is not None else ParameterSpace.preset("vic")
    space = ParameterSpace.resolve(space)
    check_space(space, surrogate)
    if cells is not None:
        cells = np.asarray(cells, dtype=np.int64)
        unknown = np.setdiff1d(cells, region.cells)
        if unknown.size:
            raise SensitivityError(f"cell id(s) {unknown[:5].tolist()} are not in the region")
        region = region.subset(cells)
    if surrogate is not None:
        surrogate.check_region(region)
    n = DEFAULT_SAMPLES[method] if samples is None else int(samples)
    x = sample(space, method, n, seed)
    if warmup is None:
        warmup = default_warmup(surrogate, simulator_options)
    if int(warmup) >= region.n_days:
        raise SensitivityError(f"the region has {region.n_days} days and the warm-up is {int(warmup)} days: no day is "
                               "left to analyse; use a longer region or a shorter warm-up (--warmup DAYS)")
    n_out = 2 if surrogate is not None else len(OUTPUTS)
    per_cell = (len(x) + 1) * region.n_days * n_out
    step = region.n_cells if simulator is not None else max(1, MAX_VALUES_IN_MEMORY // max(per_cell, 1))
    log.info("sensitivity (%s, %d base samples): %d parameter sets x %d cells through %s", method, n, len(x),
             region.n_cells, "the surrogate" if surrogate is not None else f"the {_name(simulator)} simulator")
    kinds = INDEX_KINDS[method]
    values = np.full((region.n_cells, space.n, len(TERMS), len(kinds)), np.nan)
    mean = np.full((region.n_cells, len(TERMS)), np.nan)
    std = np.full((region.n_cells, len(TERMS)), np.nan)
    present: set[str] = set()
    for lo in range(0, region.n_cells, step):
        sub = region if step >= region.n_cells else region.subset(region.cells[lo:lo + step])
        design, default = run_sets(sub, space, x, surrogate=surrogate, simulator=simulator,
                                   simulator_options=simulator_options, n_workers=n_workers, progress=progress)
        terms = term_values(sub, space, x, design, default, warmup=warmup, objective_options=objective_options)
        for k, name in enumerate(TERMS):
            if name not in terms:
                continue
            present.add(name)
            y = terms[name]
            for c in range(y.shape[1]):
                values[lo + c, :, k] = analyze(space, method, x, y[:, c], seed=seed)
                if np.all(np.isfinite(y[:, c])):
                    mean[lo + c, k], std[lo + c, k] = float(np.mean(y[:, c])), float(np.std(y[:, c]))
    keep = [k for k, name in enumerate(TERMS) if name in present]
    term_names = [TERMS[k] for k in keep]
    coords: dict[str, Any] = {"cell": region.cells, "parameter": list(space.names), "term": term_names,
                              "index": list(kinds),
                              "lat": ("cell", np.asarray(region.ds["lat"].values, float)),
                              "lon": ("cell", np.asarray(region.ds["lon"].values, float))}
    for rc in ("row", "col"):
        if rc in region.ds.coords or rc in region.ds:
            coords[rc] = ("cell", np.asarray(region.ds[rc].values))
    ds = xr.Dataset(
        {"indices": (("cell", "parameter", "term", "index"), values[:, :, keep],
                     {"units": "1", "long_name": f"{method} sensitivity index of each term to each parameter"}),
         "term_mean": (("cell", "term"), mean[:, keep], {"long_name": "mean of the term over the parameter sets"}),
         "term_std": (("cell", "term"), std[:, keep],
                      {"long_name": "standard deviation of the term over the parameter sets"})},
        coords=coords)
    ds["term"].attrs["description"] = "; ".join(f"{t}: {TERM_DESCRIPTIONS[t]}" for t in term_names)
    ds.attrs.update(
        method=method, base_samples=n, model_runs_per_cell=len(x) + 1, warmup_days=int(warmup), seed=int(seed),
        model=(f"surrogate of {surrogate.simulator}" if surrogate is not None else _name(simulator)),
        parameter_space=json.dumps(space.to_dict()),
        objective_options=json.dumps({k: v for k, v in dict(objective_options or {}).items()
                                      if isinstance(v, (str, int, float, bool))}, sort_keys=True),
        cpu_seconds=round(time.process_time() - started, 2), wall_seconds=round(time.perf_counter() - wall, 2))
    return ds


def _name(simulator) -> str:
    return simulator if isinstance(simulator, str) else getattr(simulator, "name", type(simulator).__name__)
