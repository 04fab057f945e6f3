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
    ``theta(sample, cell, parameter)`` and the simulated outputs ``(sample, cell, time)`` (the
    manifest's ``outputs``: ``sm``, ``et``, ``runoff``, ``baseflow``; a store written before runoff and
    baseflow were kept holds ``sm`` and ``et`` only) for ``chunk_size`` consecutive samples, each
    written atomically.
``extra_00000.nc`` ...
    runs appended after the Latin hypercube (:meth:`TrainingStore.append`), one file per batch,
    listed with a label in the manifest's ``appended`` entry: the samples around the region's own
    parameters (below) and the simulator runs of surrogate refinement
    (:mod:`vic_paraformer.refine`). Their sample indices follow the hypercube's.

Sampling design
---------------
A Latin hypercube spans the whole parameter space, but calibration starts from the region's own
(default) parameters and a water-balance-aware calibration stays near them, where a space-filling
design of a few hundred runs puts few samples. :func:`generate_training_data` therefore adds, with
``anchor_share`` > 0 (default :data:`DEFAULT_ANCHOR_SHARE` = 0.2 of ``n_samples``), the region's
default parameters (:func:`~vic_paraformer.parameters.default_parameters`) as one sample and
``round(anchor_share * n_samples) - 1`` samples drawn per cell from ``u_default + anchor_sd * N(0, 1)``
in normalised parameter space (clipped to [0, 1]; default ``anchor_sd`` :data:`DEFAULT_ANCHOR_SD`
= 0.1), appended as the batch labelled ``"anchor"``; the hypercube has the other samples. The
default run is then in the store (:meth:`TrainingStore.default_run`), so a surrogate trained on
it reproduces the default run closely, and the water-balance reference computed through the
surrogate at the defaults is close to the simulator's own default run.

Size is bounded by disk, not memory: chunks are generated and written one at a time, and the
trainer loads them in groups. Generation is resumable: complete chunks are skipped, so rerunning
an interrupted generation continues where it stopped.

Long module (over 400 lines): the store's format (reading, resuming, appending) and the sampling
design that fills it are one contract, kept in one place.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from .._io import to_netcdf_atomic, write_text_atomic
from ..errors import SurrogateError
from ..parameters import ParameterSpace
from ..progress import show_progress
from ..region import Region
from ..simulators.base import simulator_class

log = logging.getLogger(__name__)

STORE_FORMAT = "vic_paraformer.surrogate.store"
STORE_VERSION = 1
MANIFEST = "manifest.json"
#: Share of the training samples drawn around the region's default parameters (see the module docstring).
DEFAULT_ANCHOR_SHARE: float = 0.2
#: Spread (normalised units) of the samples around the default parameters.
DEFAULT_ANCHOR_SD: float = 0.1
ANCHOR_LABEL = "anchor"
INPUTS = "inputs.nc"
#: Outputs kept in a new store, in order (the surrogate's outputs).
STORE_OUTPUTS: tuple[str, ...] = ("sm", "et", "runoff", "baseflow")
#: Outputs of a store whose manifest names none (written before runoff and baseflow were kept).
LEGACY_STORE_OUTPUTS: tuple[str, ...] = ("sm", "et")
OUTPUT_ATTRS: dict[str, str] = {"sm": "m3 m-3", "et": "mm/day", "runoff": "mm/day", "baseflow": "mm/day"}


def training_simulator_options(simulator: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Options of ``simulator``'s runs for training data: its class's ``training_data_options`` and
    ``default_spinup_years`` (:mod:`vic_paraformer.simulators.base`), updated by ``given``. The
    spin-up is always recorded, so a surrogate's metadata says what its training runs used."""
    cls = simulator_class(simulator)
    return {**dict(cls.training_data_options), "spinup_years": int(cls.default_spinup_years), **dict(given or {})}


def recorded_simulator_options(surrogate) -> dict[str, Any]:
    """The simulator options ``surrogate``'s training runs were made with (its ``info["simulator_options"]``),
    with ``spinup_years`` the simulator's ``default_spinup_years`` when a surrogate did not record it."""
    recorded = dict((getattr(surrogate, "info", {}) or {}).get("simulator_options") or {})
    recorded.setdefault("spinup_years", int(simulator_class(str(getattr(surrogate, "simulator", ""))).default_spinup_years))
    return recorded


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
        """Samples of the Latin hypercube (``chunk_*.nc``); :attr:`n_total` counts the appended ones too."""
        return int(self.manifest["n_samples"])

    @property
    def outputs(self) -> tuple[str, ...]:
        """The simulator outputs the store holds, in the order of the last axis of :meth:`load`."""
        return tuple(self.manifest.get("outputs") or LEGACY_STORE_OUTPUTS)

    @property
    def appended(self) -> list[dict[str, Any]]:
        """The appended batches: ``{"label", "file", "start", "n", ...}`` in order."""
        return [dict(a) for a in self.manifest.get("appended", [])]

    @property
    def n_total(self) -> int:
        """All samples: the hypercube's and the appended batches'."""
        return self.n_samples + sum(int(a["n"]) for a in self.appended)

    def units(self) -> list[tuple[int, int]]:
        """Sample ranges ``[lo, hi)`` of every file: the hypercube's chunks, then the appended batches."""
        out = [self.chunk_samples(i) for i in range(self.n_chunks)]
        return out + [(int(a["start"]), int(a["start"]) + int(a["n"])) for a in self.appended]

    def append(self, theta: np.ndarray, sm: np.ndarray, et: np.ndarray, *, label: str, times=None, cells=None,
               parameter_names=None, outputs: Mapping[str, np.ndarray] | None = None, **info: Any) -> tuple[int, int]:
        """Add simulator runs ``theta (S, C, p)`` -> ``sm``, ``et`` ``(S, C, T)`` as a batch labelled ``label``.

        ``outputs`` holds the store's other outputs (``runoff``, ``baseflow``; each ``(S, C, T)``):
        every output of :attr:`outputs` is required. Written atomically (the batch's file first, then
        the manifest); returns the batch's sample range ``[lo, hi)``. ``info`` (plain values) is kept
        with the batch in the manifest.
        """
        theta = np.asarray(theta, np.float32)
        given = {"sm": sm, "et": et, **dict(outputs or {})}
        missing = [v for v in self.outputs if v not in given]
        if missing:
            raise SurrogateError(f"{self.path}: appended runs ({label}) lack {', '.join(missing)}; the store holds "
                                 f"{', '.join(self.outputs)}")
        ys = {v: np.asarray(given[v], np.float32) for v in self.outputs}
        shape = (int(self.manifest["n_cells"]), int(self.manifest["n_days"]))
        bad = [v for v, y in ys.items() if y.shape != theta.shape[:1] + shape]
        if theta.ndim != 3 or bad:
            raise SurrogateError(f"{self.path}: appended runs must be theta (S, {shape[0]}, p) and "
                                 f"{'/'.join(self.outputs)} (S, {shape[0]}, {shape[1]}); got {theta.shape}, "
                                 + ", ".join(f"{v} {ys[v].shape}" for v in self.outputs))
        nonfinite = [v for v, y in ys.items() if not np.all(np.isfinite(y))]
        if nonfinite:
            raise SurrogateError(f"{self.path}: appended runs ({label}) hold non-finite {', '.join(nonfinite)}")
        lo = self.n_total
        name = f"extra_{len(self.appended):05d}.nc"
        inputs = self.region() if (times is None or cells is None) else None
        coords = {"sample": np.arange(lo, lo + theta.shape[0]),
                  "cell": np.asarray(cells) if cells is not None else inputs.cells,
                  "time": times if times is not None else inputs.times,
                  "parameter": list(parameter_names or self.parameter_space.names)}
        ds = xr.Dataset({"theta": (("sample", "cell", "parameter"), theta),
                         **{v: (("sample", "cell", "time"), y, {"units": OUTPUT_ATTRS[v]}) for v, y in ys.items()}},
                        coords=coords, attrs={"sample_start": lo, "label": str(label)})
        to_netcdf_atomic(ds, self.path / name)
        entry = {"label": str(label), "file": name, "start": lo, "n": int(theta.shape[0]), **info}
        self.manifest = {**self.manifest, "appended": self.manifest.get("appended", []) + [entry]}
        write_text_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=1))
        log.info("appended %d run(s) to training store %s (%s)", theta.shape[0], self.path, label)
        return lo, lo + theta.shape[0]

    def default_run(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(theta (C, p), sm (C, T), et (C, T))`` of the region's default parameters, if the store holds them."""
        for a in self.appended:
            if a["label"] == ANCHOR_LABEL and a.get("default_sample") is not None:
                theta, y = self.load(np.array([int(a["start"]) + int(a["default_sample"])]))
                return theta[0], y[0, ..., 0], y[0, ..., 1]
        return None

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
                        and {*self.outputs, "theta"} <= set(ds.data_vars))
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
        """``theta (S, C, p)`` physical parameters and outputs ``y (S, C, T, n)`` (:attr:`outputs`) of chunk ``i``."""
        p = self.chunk_path(i)
        if not self.chunk_complete(i):
            raise SurrogateError(f"{p}: chunk missing or incomplete; rerun the generation to complete the store")
        with xr.open_dataset(p) as ds:
            theta = np.asarray(ds["theta"].values, dtype=np.float32)
            y = np.stack([ds[v].values for v in self.outputs], axis=-1).astype(np.float32)
        if not np.all(np.isfinite(y)):
            bad = np.argwhere(~np.isfinite(y))[0]
            raise SurrogateError(f"{p}: simulator output is not finite (sample {bad[0] + self.chunk_samples(i)[0]}, "
                                 f"cell index {bad[1]}, day {bad[2]}, {self.outputs[bad[3]]})")
        return theta, y

    def _load_extra(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.appended[k]
        p = self.path / a["file"]
        try:
            with xr.open_dataset(p) as ds:
                theta = np.asarray(ds["theta"].values, dtype=np.float32)
                y = np.stack([ds[v].values for v in self.outputs], axis=-1).astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise SurrogateError(f"{p}: appended runs ({a['label']}) unreadable ({exc})") from None
        if theta.shape[0] != int(a["n"]):
            raise SurrogateError(f"{p}: holds {theta.shape[0]} runs, the manifest says {a['n']}")
        return theta, y

    def load(self, samples: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``theta (S, C, p)`` and ``y (S, C, T, n)`` (:attr:`outputs`) for the given sample indices (default: all, the
        hypercube's and the appended ones)."""
        samples = np.arange(self.n_total) if samples is None else np.asarray(samples, dtype=int)
        if samples.size and (samples.min() < 0 or samples.max() >= self.n_total):
            raise SurrogateError(f"{self.path}: sample indices must lie in 0..{self.n_total - 1}")
        theta_out = y_out = None
        units = self.units()
        starts = np.array([lo for lo, _ in units])
        for i in sorted({int(j) for j in np.searchsorted(starts, samples, side="right") - 1}):
            lo, hi = units[i]
            pos = np.flatnonzero((samples >= lo) & (samples < hi))
            theta, y = self.load_chunk(i) if i < self.n_chunks else self._load_extra(i - self.n_chunks)
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
                           runner=None, n_workers: int = 1, progress: bool | None = None,
                           anchor_share: float = DEFAULT_ANCHOR_SHARE, anchor_sd: float = DEFAULT_ANCHOR_SD,
                           outputs: tuple[str, ...] = STORE_OUTPUTS) -> TrainingStore:
    """Run ``n_samples`` parameter sets per cell through ``simulator`` into the store at ``store``.

    ``anchor_share`` of the samples (rounded; 0 for a pure hypercube) are the region's default
    parameters and draws around them (module docstring, "Sampling design"), the rest a Latin
    hypercube; the manifest's ``n_samples`` counts the hypercube, the ``"anchor"`` batch the others.

    Resumable: if ``store`` already holds a manifest for the same region, simulator, samples and
    seed, its complete chunks are kept and only the missing ones are generated; a manifest for
    different settings is an error (choose another folder). The runs go through a
    :class:`vic_paraformer.ensemble.EnsembleRunner` with ``n_workers`` processes (1: in this
    process, best for the vectorised ``waterbalance``; more for ``vic``); ``runner`` passes any object
    with ``run(region, params) -> Dataset`` instead (e.g. a runner on a Dask cluster). ``outputs``:
    the simulator outputs kept (default :data:`STORE_OUTPUTS`; ``sm`` and ``et`` first).
    """
    from ..provenance import library_versions

    if n_samples < 1 or chunk_size < 1:
        raise SurrogateError(f"n_samples and chunk_size must be >= 1, got {n_samples}, {chunk_size}")
    if not 0.0 <= float(anchor_share) < 1.0 or not 0.0 < float(anchor_sd) <= 0.5:
        raise SurrogateError(f"anchor_share must be in [0, 1) and anchor_sd in (0, 0.5]; got {anchor_share}, {anchor_sd}")
    n_anchor = 0
    if float(anchor_share) > 0 and n_samples >= 3:
        n_anchor = min(n_samples - 2, max(1, int(round(float(anchor_share) * n_samples))))
    n_lhs = int(n_samples) - n_anchor
    outputs = tuple(outputs)
    if outputs[:2] != LEGACY_STORE_OUTPUTS or any(v not in OUTPUT_ATTRS for v in outputs) or len(set(outputs)) != len(outputs):
        raise SurrogateError(f"store outputs must be sm, et, then any of runoff, baseflow; got {list(outputs)}")
    space = ParameterSpace.resolve(parameter_space)
    store = Path(store)
    simulator_options = training_simulator_options(simulator, simulator_options)
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
        "n_samples": n_lhs,
        "chunk_size": int(chunk_size),
        "seed": int(seed),
        "per_cell": bool(per_cell),
        "method": "lhs",
        "parameter_space": space.to_dict(),
        "outputs": list(outputs),
    }
    # How the simulator is run (executable, folders, timeouts, workers) does not change its results.
    runtime = {*simulator_class(simulator).run_options, "n_workers"}
    manifest["simulator_options"] = {k: v for k, v in manifest["simulator_options"].items() if k not in runtime}
    key_fields = [k for k in manifest if k not in ("region_source",)]
    if (store / MANIFEST).exists():
        old = dict(TrainingStore.open(store).manifest)
        # a store written before the spin-up was always recorded ran the simulator's own default: none
        old["simulator_options"] = {"spinup_years": 0, **dict(old.get("simulator_options") or {})}
        old.setdefault("outputs", list(LEGACY_STORE_OUTPUTS))  # written before runoff and baseflow were kept
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
    anchor = _anchor_entry(ts, n_anchor, anchor_sd, seed)
    if not todo and (n_anchor == 0 or anchor is not None):
        log.info("training store %s is complete (%d samples)", store, ts.n_total)
        return ts
    if todo and len(todo) < ts.n_chunks:
        log.info("resuming training store %s: %d of %d chunks to generate", store, len(todo), ts.n_chunks)
    own_runner = runner is None
    if own_runner:
        from ..ensemble import EnsembleRunner

        runner = EnsembleRunner(simulator, n_workers=n_workers, simulator_options=simulator_options, progress=False)
    try:
        if todo:
            theta_all = sample_parameters(space, n_lhs, region.n_cells, seed=seed, per_cell=per_cell)
            _generate_chunks(ts, region, runner, theta_all, todo, space, simulator, progress)
        if n_anchor and anchor is None:
            theta = anchor_parameters(region, space, n_anchor, sd=anchor_sd, seed=seed)
            params = space.to_dataset(theta, region.cells, dims=("sample", "cell"))
            log.info("running the region's default parameters and %d sets around them for the store", n_anchor - 1)
            out = runner.run(region, params, outputs=outputs) if _takes_outputs(runner) else runner.run(region, params)
            ys = _outputs(out, simulator, (n_anchor, region.n_cells, region.n_days), outputs)
            ts.append(theta, ys["sm"], ys["et"], label=ANCHOR_LABEL, times=region.times, cells=region.cells,
                      outputs={v: ys[v] for v in outputs[2:]},
                      parameter_names=space.names, default_sample=0, sd=float(anchor_sd), seed=int(seed),
                      share=float(anchor_share))
    finally:
        if own_runner:
            runner.close()
    return ts


def anchor_parameters(region: Region, space: ParameterSpace, n: int, *, sd: float = DEFAULT_ANCHOR_SD,
                      seed: int = 0) -> np.ndarray:
    """``(n, cells, p)``: the region's default parameters, then ``n - 1`` draws around them (per cell,
    normalised ``u_default + sd * N(0, 1)`` clipped to [0, 1]; seeded)."""
    from ..parameters import default_parameters

    values, _ = default_parameters(region, space)
    u = np.asarray(space.normalize(values), float)
    rng = np.random.default_rng([int(seed), 8111])
    draws = np.clip(u[None] + float(sd) * rng.standard_normal((max(0, n - 1),) + u.shape), 0.0, 1.0)
    return np.concatenate([values[None], np.asarray(space.denormalize(draws), float).reshape((-1,) + u.shape)])


def _anchor_entry(ts: TrainingStore, n_anchor: int, sd: float, seed: int) -> dict[str, Any] | None:
    """The store's anchor batch; an error if it was made with other settings than asked for."""
    for a in ts.appended:
        if a["label"] == ANCHOR_LABEL:
            if n_anchor and (int(a["n"]) != n_anchor or float(a.get("sd", -1)) != float(sd)
                             or int(a.get("seed", -1)) != int(seed)):
                raise SurrogateError(f"{ts.path}: holds {a['n']} samples around the default parameters (sd "
                                     f"{a.get('sd')}, seed {a.get('seed')}); asked for {n_anchor} (sd {sd}, seed "
                                     f"{seed}); use another --store folder")
            return a
    return None


def _outputs(out, simulator: str, shape: tuple[int, int, int], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    ys = {}
    for v in names:
        if v not in out:
            raise SurrogateError(f"simulator {simulator!r} returned no {v!r} output")
        ys[v] = np.asarray(out[v].transpose("sample", "cell", "time").values, dtype=np.float32)
        if ys[v].shape != shape:
            raise SurrogateError(f"simulator {simulator!r} returned {v} of shape {ys[v].shape}; expected {shape}")
    return ys


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
        out = runner.run(region, params, outputs=ts.outputs) if _takes_outputs(runner) else runner.run(region, params)
        ys = _outputs(out, simulator, (hi - lo, region.n_cells, region.n_days), ts.outputs)
        ds = xr.Dataset(
            {"theta": (("sample", "cell", "parameter"), theta.astype(np.float32)),
             **{v: (("sample", "cell", "time"), y, {"units": OUTPUT_ATTRS[v]}) for v, y in ys.items()}},
            coords={"sample": np.arange(lo, hi), "cell": region.cells, "time": region.times,
                    "parameter": list(space.names)},
            attrs={"sample_start": lo, "simulator": simulator})
        to_netcdf_atomic(ds, ts.chunk_path(i))
