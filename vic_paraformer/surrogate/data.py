"""Training data for the surrogate: sampled parameters run through a simulator, kept on disk.

:func:`generate_training_data` draws parameter sets from a :class:`ParameterSpace` (Latin
hypercube, one set shared by all cells or one per cell, seeded), runs them through a simulator
(by name, through :mod:`vic_paraformer.ensemble` when available) and writes the results to a
:class:`TrainingStore`: a folder with

``manifest.json``
    what was generated (simulator, region fingerprint, cells, days, samples, seed, chunking,
    parameter space); written first, so an interrupted run can be resumed and checked.
``inputs.nc``
    the region's forcing and attributes (the X and A of every sample).
``chunk_00000.nc`` ...
    ``theta(sample, cell, parameter)`` and simulated ``sm``/``et`` ``(sample, cell, time)`` for
    ``chunk_size`` consecutive samples, each written atomically.

Size is bounded by disk, not memory: chunks are generated and written one at a time, and the
trainer loads them in groups. Generation is resumable: complete chunks are skipped, so rerunning
an interrupted generation continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._io import to_netcdf_atomic, write_text_atomic
from ..errors import SurrogateError
from ..parameters import ParameterSpace
from ..progress import show_progress
from ..region import Region

log = logging.getLogger(__name__)

STORE_FORMAT = "vic_paraformer.surrogate.store"
#: Simulator options used for training data unless given: the embedded water balance runs in float32
#: (measured 2.4x less CPU than its float64 default; the store keeps float32 outputs anyway and the
#: two differ by at most ~1e-6 m3 m-3 in sm).
DATA_SIMULATOR_DEFAULTS: dict[str, dict[str, Any]] = {"waterbalance": {"dtype": "float32"}}
STORE_VERSION = 1
MANIFEST = "manifest.json"
INPUTS = "inputs.nc"


def sample_parameters(space: ParameterSpace, n_samples: int, n_cells: int, *, seed: int = 0, per_cell: bool = False,
                      method: str = "lhs") -> np.ndarray:
    """Parameter sets ``(n_samples, n_cells, p)`` in physical units.

    ``per_cell=False``: one Latin hypercube of ``n_samples`` sets shared by every cell;
    ``per_cell=True``: an independent hypercube per cell (seeded from ``seed`` and the cell's index).
    """
    if per_cell:
        seeds = np.random.SeedSequence(seed).spawn(n_cells)
        cols = [space.sample(n_samples, seed=int(s.generate_state(1)[0]), method=method) for s in seeds]
        return np.stack(cols, axis=1)
    theta = space.sample(n_samples, seed=seed, method=method)
    return np.repeat(theta[:, None, :], n_cells, axis=1)


@dataclass
class TrainingStore:
    """A folder of simulator runs for surrogate training (see the module docstring)."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> "TrainingStore":
        """Open an existing store (complete or not)."""
        path = Path(path)
        mf = path / MANIFEST
        if not mf.exists():
            raise SurrogateError(f"{path}: not a surrogate training store ({MANIFEST} missing)")
        try:
            manifest = json.loads(mf.read_text())
        except (OSError, ValueError) as exc:
            raise SurrogateError(f"{mf}: unreadable manifest ({exc})") from None
        if manifest.get("format") != STORE_FORMAT:
            raise SurrogateError(f"{mf}: not a surrogate training store manifest (format {manifest.get('format')!r})")
        return cls(path, manifest)

    # ------------------------------------------------------------------ description
    @property
    def n_samples(self) -> int:
        return int(self.manifest["n_samples"])

    @property
    def chunk_size(self) -> int:
        return int(self.manifest["chunk_size"])

    @property
    def n_chunks(self) -> int:
        return -(-self.n_samples // self.chunk_size)

    @property
    def parameter_space(self) -> ParameterSpace:
        return ParameterSpace.from_dict(self.manifest["parameter_space"])

    @property
    def simulator(self) -> str:
        return str(self.manifest["simulator"])

    def chunk_path(self, i: int) -> Path:
        return self.path / f"chunk_{i:05d}.nc"

    def chunk_samples(self, i: int) -> tuple[int, int]:
        """Sample index range ``[lo, hi)`` of chunk ``i``."""
        lo = i * self.chunk_size
        return lo, min(self.n_samples, lo + self.chunk_size)

    def chunk_complete(self, i: int) -> bool:
        """True if chunk ``i`` exists and holds the expected samples."""
        p = self.chunk_path(i)
        if not p.exists():
            return False
        try:
            with xr.open_dataset(p) as ds:
                lo, hi = self.chunk_samples(i)
                return (ds.sizes.get("sample") == hi - lo and int(ds.attrs.get("sample_start", -1)) == lo
                        and {"sm", "et", "theta"} <= set(ds.data_vars))
        except (OSError, ValueError):
            return False

    def missing_chunks(self) -> list[int]:
        return [i for i in range(self.n_chunks) if not self.chunk_complete(i)]

    @property
    def complete(self) -> bool:
        return (self.path / INPUTS).exists() and not self.missing_chunks()

    # ------------------------------------------------------------------ reading
    def region(self) -> Region:
        """The stored inputs (forcing, attributes, coordinates) as a Region."""
        p = self.path / INPUTS
        if not p.exists():
            raise SurrogateError(f"{self.path}: store has no {INPUTS} (generation not started?)")
        return Region.open(p)

    def load_chunk(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``theta (S, C, p)`` physical parameters and outputs ``y (S, C, T, 2)`` (sm, et) of chunk ``i``."""
        p = self.chunk_path(i)
        if not self.chunk_complete(i):
            raise SurrogateError(f"{p}: chunk missing or incomplete; rerun the generation to complete the store")
        with xr.open_dataset(p) as ds:
            theta = np.asarray(ds["theta"].values, dtype=np.float32)
            y = np.stack([ds["sm"].values, ds["et"].values], axis=-1).astype(np.float32)
        if not np.all(np.isfinite(y)):
            bad = np.argwhere(~np.isfinite(y))[0]
            raise SurrogateError(f"{p}: simulator output is not finite (sample {bad[0] + self.chunk_samples(i)[0]}, "
                                 f"cell index {bad[1]}, day {bad[2]}, {'sm' if bad[3] == 0 else 'et'})")
        return theta, y

    def load(self, samples: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``theta (S, C, p)`` and ``y (S, C, T, 2)`` for the given sample indices (default: all)."""
        samples = np.arange(self.n_samples) if samples is None else np.asarray(samples, dtype=int)
        if samples.size and (samples.min() < 0 or samples.max() >= self.n_samples):
            raise SurrogateError(f"{self.path}: sample indices must lie in 0..{self.n_samples - 1}")
        theta_out = y_out = None
        for i in sorted({int(s) // self.chunk_size for s in samples}):
            lo, hi = self.chunk_samples(i)
            pos = np.flatnonzero((samples >= lo) & (samples < hi))
            theta, y = self.load_chunk(i)
            if theta_out is None:
                theta_out = np.empty((len(samples),) + theta.shape[1:], np.float32)
                y_out = np.empty((len(samples),) + y.shape[1:], np.float32)
            theta_out[pos] = theta[samples[pos] - lo]
            y_out[pos] = y[samples[pos] - lo]
        if theta_out is None:
            raise SurrogateError(f"{self.path}: no samples requested")
        return theta_out, y_out


def inputs_hash(region: Region) -> str:
    """SHA-256 of the region's forcing and attribute values (a store belongs to exactly these inputs)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(region.forcing()).tobytes())
    h.update(np.ascontiguousarray(region.attributes()).tobytes())
    h.update(json.dumps(region.attribute_names).encode())
    return h.hexdigest()


def _inputs_dataset(region: Region) -> xr.Dataset:
    keep = list(region.forcing_names) + ["attributes"]
    ds = region.ds[keep]
    drop = [c for c in ds.coords if c not in ("cell", "time", "attribute", "lat", "lon", "row", "col")]
    return ds.drop_vars(drop)


def generate_training_data(region: Region, store: str | Path, *, simulator: str = "waterbalance", n_samples: int = 64,
                           seed: int = 0, per_cell: bool = False, chunk_size: int = 16,
                           parameter_space: ParameterSpace | str | None = None, simulator_options: dict | None = None,
                           runner=None, n_workers: int = 1, progress: bool | None = None) -> TrainingStore:
    """Run ``n_samples`` parameter sets per cell through ``simulator`` into the store at ``store``.

    Resumable: if ``store`` already holds a manifest for the same region, simulator, samples and
    seed, its complete chunks are kept and only the missing ones are generated; a manifest for
    different settings is an error (choose another folder). The runs go through a
    :class:`vic_paraformer.ensemble.EnsembleRunner` with ``n_workers`` processes (1: in this
    process, best for the vectorised ``waterbalance``; more for ``vic``); ``runner`` passes any object
    with ``run(region, params) -> Dataset`` instead (e.g. a runner on a Dask cluster).
    """
    from ..provenance import library_versions

    if n_samples < 1 or chunk_size < 1:
        raise SurrogateError(f"n_samples and chunk_size must be >= 1, got {n_samples}, {chunk_size}")
    space = ParameterSpace.resolve(parameter_space)
    store = Path(store)
    simulator_options = {**DATA_SIMULATOR_DEFAULTS.get(simulator, {}), **dict(simulator_options or {})}
    manifest = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "simulator": simulator,
        "simulator_options": dict(simulator_options or {}),
        "region_fingerprint": region.fingerprint(),
        "inputs_sha256": inputs_hash(region),
        "region_source": region.source,
        "n_cells": region.n_cells,
        "cells": [int(c) for c in region.cells],
        "n_days": region.n_days,
        "time_start": str(region.times[0].date()),
        "n_samples": int(n_samples),
        "chunk_size": int(chunk_size),
        "seed": int(seed),
        "per_cell": bool(per_cell),
        "method": "lhs",
        "parameter_space": space.to_dict(),
    }
    # How the simulator is run (executable, folders, timeouts, workers) does not change its results.
    runtime = {"exe", "workdir", "timeout", "mpi_procs", "mpiexec", "keep_runs", "progress", "n_workers"}
    manifest["simulator_options"] = {k: v for k, v in manifest["simulator_options"].items() if k not in runtime}
    key_fields = [k for k in manifest if k not in ("region_source",)]
    if (store / MANIFEST).exists():
        old = TrainingStore.open(store).manifest
        diff = [k for k in key_fields if old.get(k) != manifest[k]]
        if diff:
            raise SurrogateError(f"{store}: holds training data generated with other settings ({', '.join(diff)} differ); "
                                 "use another --store folder or delete this one")
    else:
        store.mkdir(parents=True, exist_ok=True)
        write_text_atomic(store / MANIFEST, json.dumps({**manifest, "versions": library_versions()}, indent=1))
    ts = TrainingStore.open(store)
    if not (store / INPUTS).exists():
        to_netcdf_atomic(_inputs_dataset(region), store / INPUTS)
    todo = ts.missing_chunks()
    if not todo:
        log.info("training store %s is complete (%d samples)", store, n_samples)
        return ts
    if len(todo) < ts.n_chunks:
        log.info("resuming training store %s: %d of %d chunks to generate", store, len(todo), ts.n_chunks)
    theta_all = sample_parameters(space, n_samples, region.n_cells, seed=seed, per_cell=per_cell)
    own_runner = runner is None
    if own_runner:
        from ..ensemble import EnsembleRunner

        runner = EnsembleRunner(simulator, n_workers=n_workers, simulator_options=simulator_options, progress=False)
    try:
        _generate_chunks(ts, region, runner, theta_all, todo, space, simulator, progress)
    finally:
        if own_runner:
            runner.close()
    return ts


def _takes_outputs(runner) -> bool:
    import inspect

    try:
        return "outputs" in inspect.signature(runner.run).parameters
    except (TypeError, ValueError):
        return False


def _generate_chunks(ts: TrainingStore, region: Region, runner, theta_all: np.ndarray, todo: list[int],
                     space: ParameterSpace, simulator: str, progress: bool) -> None:
    it = todo
    if show_progress(progress):
        from tqdm.auto import tqdm

        it = tqdm(todo, desc=f"simulating ({simulator})", unit="chunk")
    for i in it:
        lo, hi = ts.chunk_samples(i)
        theta = theta_all[lo:hi]
        params = space.to_dataset(theta, region.cells, dims=("sample", "cell"))
        out = runner.run(region, params, outputs=("sm", "et")) if _takes_outputs(runner) else runner.run(region, params)
        for v in ("sm", "et"):
            if v not in out:
                raise SurrogateError(f"simulator {simulator!r} returned no {v!r} output")
        sm = np.asarray(out["sm"].transpose("sample", "cell", "time").values, dtype=np.float32)
        et = np.asarray(out["et"].transpose("sample", "cell", "time").values, dtype=np.float32)
        if sm.shape != (hi - lo, region.n_cells, region.n_days):
            raise SurrogateError(f"simulator {simulator!r} returned sm of shape {sm.shape}; expected "
                                 f"{(hi - lo, region.n_cells, region.n_days)}")
        ds = xr.Dataset(
            {"theta": (("sample", "cell", "parameter"), theta.astype(np.float32)),
             "sm": (("sample", "cell", "time"), sm, {"units": "m3 m-3"}),
             "et": (("sample", "cell", "time"), et, {"units": "mm/day"})},
            coords={"sample": np.arange(lo, hi), "cell": region.cells, "time": region.times,
                    "parameter": list(space.names)},
            attrs={"sample_start": lo, "simulator": simulator})
        to_netcdf_atomic(ds, ts.chunk_path(i))
