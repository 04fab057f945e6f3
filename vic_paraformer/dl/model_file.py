"""The DL model file: :func:`save`, :func:`load` and :func:`apply_model` (public).

A model file is a plain dict written atomically with ``torch.save`` and loadable with
``torch.load(weights_only=True)``: ``format``/``version``, strategy name, network config and
``state_dict``, input normalisation statistics, parameter space, options, seed, training cells,
the observation operator (if any) and library versions; a deep ensemble's file also holds members
1..K-1 (``member_state_dicts``; ``state_dict`` is member 0) and gives the members' per-cell median,
the values its calibration wrote. :func:`apply_model` gives parameters for
any region with the same attributes (and forcing, for series networks) without retraining; it
feeds every observation the new region has to a series network, since there is no training set
there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .._io import atomic_path
from ..formats import FORMAT_VERSIONS, TORCH_FORMATS, load_torch, names_list, other_region
from ..errors import StrategyError
from ..parameters import ParameterSpace
from ..provenance import library_versions
from ..region import Region
from ..result import CalibrationResult
from .cell_params import cell_u
from .config import resolve_device
from .inputs import InputNormalization
from .networks import build_network

log = logging.getLogger(__name__)

MODEL_FORMAT = TORCH_FORMATS["dl-model"]
MODEL_VERSION = FORMAT_VERSIONS["dl-model"]


def payload(*, strategy: str, network_config: Mapping[str, Any], uses_series: bool, window: int, param_windows: int,
            normalization: InputNormalization, parameter_space: ParameterSpace, options: Mapping[str, Any],
            seed: int, train_cells, obs_operator: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model-file dict without the weights (see the module docstring)."""
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "strategy": strategy,
        "network": dict(network_config),
        "uses_series": bool(uses_series),
        "window": int(window),
        "param_windows": int(param_windows),
        "normalization": normalization.to_dict(),
        "parameter_space": parameter_space.to_dict(),
        "options": dict(options),
        "seed": seed,
        "train_cells": [int(c) for c in train_cells],
        "obs_operator": obs_operator,
        "versions": library_versions(),
    }


def _weights(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}


def save(path: str | Path, network: torch.nn.Module, model_payload: Mapping[str, Any],
         members: list[torch.nn.Module] | tuple[torch.nn.Module, ...] = ()) -> Path:
    """Write ``model_payload`` plus the network's ``state_dict`` (and those of a deep ensemble's other
    ``members``) to ``path`` atomically."""
    data = dict(model_payload)
    data["state_dict"] = _weights(network)
    if members:
        data["member_state_dicts"] = [_weights(m) for m in members]
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    log.info("saved %s model to %s", data.get("strategy"), path)
    return Path(path)


@dataclass
class DLModel:
    """A trained DL calibration network read from a model file (see :func:`load`)."""

    strategy: str
    network: torch.nn.Module
    normalization: InputNormalization
    parameter_space: ParameterSpace
    uses_series: bool
    window: int
    param_windows: int
    payload: dict[str, Any]
    #: A deep ensemble's members 1..K-1 (``network`` is member 0); the parameters are then the members' median.
    members: tuple[torch.nn.Module, ...] = ()

    def parameters(self, region: Region, device: str | torch.device = "cpu", batch_size: int | None = None,
                   chunk_cells: int | None = None, *, observations: bool = True) -> np.ndarray:
        """Physical parameters ``(C, p)`` for every cell of ``region`` (inside the bounds).

        A series network sees the region's observations, or an all-missing Z channel with
        ``observations=False``.

        An attribute network reads the region's attributes only (all cells at once, ``n_attr``
        values per cell: no forcing or observations are read from a lazily opened region) and
        passes them through the network in batches of ``batch_size`` cells (default
        :data:`APPLY_BATCH_CELLS`). A series network's cells are processed in chunks
        (``chunk_cells``; default: the chunks of a lazily opened region, else
        :data:`APPLY_CHUNK_CELLS`), each read, normalised and passed through the network in batches
        with all their windows at once, so memory stays bounded by the chunk whatever the region's
        size. ``chunk_cells`` does not change the values. A deep ensemble's file gives the per-cell
        median of its members' parameters.
        """
        if self.members:
            runs = [self._one(net, region, device, batch_size, chunk_cells, observations)
                    for net in (self.network, *self.members)]
            return self.parameter_space.clip(np.median(np.stack(runs), axis=0))
        return self._one(self.network, region, device, batch_size, chunk_cells, observations)

    def _one(self, net: torch.nn.Module, region: Region, device, batch_size: int | None, chunk_cells: int | None,
             observations: bool) -> np.ndarray:
        """The parameters of one network (see :meth:`parameters`)."""
        dev = resolve_device(device)
        net = net.to(dev).eval()
        bs = int(batch_size or APPLY_BATCH_CELLS[self.uses_series])
        window = min(self.window, region.n_days)
        if not self.uses_series:
            # the attributes alone, for every cell at once (n_attr values per cell): a lazy region
            # reads no forcing or observations, and the network streams through them in batches
            a = torch.as_tensor(self.normalization.attributes(region), device=dev)
            u = cell_u(net, a, None, region.n_days, window, self.param_windows, bs)
            return self._physical(u)
        step = int(chunk_cells or (region.chunk_cells if region.lazy else APPLY_CHUNK_CELLS))
        out = np.empty((region.n_cells, self.parameter_space.n))
        for sl, part in region.iter_chunks(step):
            a = torch.as_tensor(self.normalization.attributes(part), device=dev)
            s = torch.as_tensor(self.normalization.series(part, np.full(part.n_cells, bool(observations))),
                                device=dev)
            out[sl] = self._physical(cell_u(net, a, s, part.n_days, window, self.param_windows, bs))
        return out

    def _physical(self, u: torch.Tensor) -> np.ndarray:
        """Network outputs ``(C, p)`` -> physical parameters inside the bounds (float64)."""
        return self.parameter_space.clip(self.parameter_space.denormalize(u.clamp(0.0, 1.0).cpu().double().numpy()))


#: Cells per network batch when applying a model: (attribute networks, series networks).
#: A batch whose activations stay in the CPU cache is the fastest: on one thread (medians of
#: interleaved runs) ParaFormer-A d_model 128, N = 2 gives 4.3k / 4.5k / 3.9k / 2.9k cells/s with
#: 64 / 128 / 256 / 1,024 cells, d_model 32, N = 1 36k / 44k / 50k / 29k, FFN-A (hidden 256)
#: 320k / 340k / 225k with 128 / 256 / 1,024; ParaFormer-Z small: 64 cells x 4 windows ~ 1.5x
#: faster than 256 cells.
APPLY_BATCH_CELLS = {False: 128, True: 64}
#: Cells read and normalised at a time when applying a model to an in-memory region.
APPLY_CHUNK_CELLS = 16384


def load(path: str | Path) -> DLModel:
    """Read a model file written by ``save_model`` / option ``model_out`` (``weights_only`` safe); a damaged
    file, a file of another kind or format version is one :class:`~vic_paraformer.errors.StrategyError`
    naming it (:mod:`vic_paraformer.formats`)."""
    path = Path(path)
    data = load_torch(path, "dl-model", "DL model file", StrategyError)
    try:
        net = build_network(data["network"])
        net.load_state_dict(data["state_dict"])
        members = []
        for weights in data.get("member_state_dicts") or ():
            members.append(build_network(data["network"]))
            members[-1].load_state_dict(weights)
            members[-1].eval()
        norm = InputNormalization(**data["normalization"])
        space = ParameterSpace.from_dict(data["parameter_space"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise StrategyError(f"{path}: incomplete or inconsistent model file ({type(exc).__name__}: {exc})") from None
    net.eval()
    return DLModel(strategy=str(data["strategy"]), network=net, normalization=norm, parameter_space=space,
                   uses_series=bool(data["uses_series"]), window=int(data["window"]),
                   param_windows=int(data.get("param_windows", 1)), payload=data, members=tuple(members))


def _check_region(path: str | Path, model: DLModel, region: Region) -> None:
    """StrategyError naming the model file when ``region`` lacks the attributes (or, for a series network,
    the forcing) the model was trained on: it was made for another kind of region."""
    norm = model.normalization
    src = f"region {region.source}" if region.source else "the region"
    missing = [n for n in norm.attribute_names if n not in region.attribute_names]
    if missing:
        raise other_region(path, "DL model file", f"trained on attributes {names_list(norm.attribute_names)}",
                           f"{src} has {names_list(region.attribute_names)} (missing {names_list(missing)})",
                           StrategyError)
    lacking = [n for n in norm.forcing_names if n not in region.forcing_names]
    if model.uses_series and lacking:
        raise other_region(path, "DL model file", f"trained on forcing {list(norm.forcing_names)}",
                           f"{src} has {list(region.forcing_names)} (missing {lacking})", StrategyError)


def apply_model(path: str | Path, region: Region, *, device: str = "cpu", num_threads: int | None = None,
                observations: bool = True, model: DLModel | None = None) -> CalibrationResult:
    """Parameters for every cell of ``region`` from a saved model, without retraining.

    The region needs the model's attributes (and, for series networks, its forcing). A series
    network is fed the region's observations where present, or none with ``observations=False``
    (the all-missing Z channel, as a calibration's untrained cells get with
    ``untrained_cell_obs="hide"``). ``train_cells`` of the result is empty; ``info["applied_model"]``
    names the file. ``num_threads`` sets torch's CPU threads for the call (restored afterwards).
    A lazily opened region (``Region.open(path, max_memory_gb=...)``) is read chunk by chunk.
    ``model`` is the file already read with :func:`load` (it is then not read again).
    """
    started = time.perf_counter()
    model = load(path) if model is None else model
    _check_region(path, model, region)
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    try:
        values = model.parameters(region, device=device, observations=observations)
    finally:
        torch.set_num_threads(old_threads)
    params = model.parameter_space.to_dataset(values, region.cells)
    info = {"applied_model": str(path), "versions": library_versions(), "observations_fed": bool(observations),
            "model_versions": model.payload.get("versions", {}), "model_train_cells": model.payload.get("train_cells", [])}
    stored = model.payload.get("obs_operator")
    op = None
    if stored:
        from ..observation import ObservationOperator

        # the operator travels with the model; new cells follow its documented rule (nearest/identity)
        op = ObservationOperator.from_dict(stored) if "kind" in stored else None
        if op is None:
            info["obs_operator"] = stored  # the older {"cells", "a", "b"} form
    return CalibrationResult(obs_operator=op, params=params, strategy=model.strategy, parameter_space=model.parameter_space,
                             options=dict(model.payload.get("options", {})), seed=model.payload.get("seed"),
                             history={}, n_evaluations=0, wall_time=time.perf_counter() - started,
                             train_cells=np.array([], dtype=int), info=info)

