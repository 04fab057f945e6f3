"""Training of the LSTM surrogate (:func:`train_surrogate`).

Data: parameter samples run through the simulator (:mod:`.data`). Split: the last
``val_samples`` fraction of the samples and a seeded ``val_cells`` fraction of the cells are held
out; the model trains on (training sample, training cell) pairs and early-stops on a fixed set of
validation windows from the held-out samples and held-out cells. Minibatches are random
(cell, sample, ``window``-day window) triples; the first ``warmup`` days of a window are left out
of the loss (except in windows starting on the region's first day, where the simulator's own
spin-up is learned). The loss is the MSE of the standardised outputs (sm, et, runoff and baseflow:
the store's outputs, :attr:`TrainingStore.outputs <vic_paraformer.surrogate.data.TrainingStore.outputs>`),
each weighing equally.

Presets (``preset=``) give settings that fit a CPU budget; explicit arguments override them. Their
budgets are epochs and steps, never wall-clock time, so the same command gives the same surrogate
however loaded the machine is; ``max_time`` exists as an explicit opt-in for interactive use and
makes the result depend on the machine's speed.

Long module (over 400 lines): the presets, the streaming training loop over the on-disk store
and its held-out split share their settings and only make sense together.
"""

from __future__ import annotations

import copy
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import scratch
from ..errors import SurrogateError
from ..normalizer import safe_std
from ..parameters import ParameterSpace
from ..progress import show_progress
from ..region import Region
from .data import DEFAULT_ANCHOR_SD, DEFAULT_ANCHOR_SHARE, TrainingStore, generate_training_data, inputs_hash
from .model import Normalization, Surrogate, SurrogateConfig

log = logging.getLogger(__name__)

#: Named settings (measured with ``benchmarks/bench_surrogate.py`` on the 2-core dev machine, one torch
#: thread, waterbalance, trained on 2 years of the synthetic twin, scored on fresh parameter samples
#: over 3 years): ``test`` ~5-10 s on the 8 x 8 test region (held-out median sm NSE ~0.95);
#: ``demo`` ~1 min on 12 x 12 cells (median NSE 0.99); ``benchmark`` ~2-4 min on 32 x 32 cells
#: (median NSE 0.994, ~0.86 M cell-days/s prediction). No preset sets ``max_time`` (reproducibility).
#: (Surrogate presets: data and training budgets of the surrogate only; not the parameter bounds of
#: ``parameters.BOUND_PRESETS`` nor the DL presets of :mod:`vic_paraformer.dl.presets`.)
SURROGATE_PRESETS: dict[str, dict[str, Any]] = {
    "test": dict(n_samples=32, hidden_size=32, num_layers=1, dropout=0.0, epochs=16, steps_per_epoch=25,
                 batch_size=32, lr=1e-2, window=240, warmup=60, patience=4, max_time=None),
    "demo": dict(n_samples=64, hidden_size=64, num_layers=1, dropout=0.0, epochs=30, steps_per_epoch=40,
                 batch_size=64, lr=5e-3, window=240, warmup=60, patience=6, max_time=None),
    "benchmark": dict(n_samples=96, hidden_size=64, num_layers=1, dropout=0.0, epochs=40, steps_per_epoch=50,
                      batch_size=64, lr=5e-3, window=240, warmup=60, patience=8, max_time=None),
}


STILL_IMPROVING_FALL: float = 0.01
"""Relative fall of the validation loss from the best of the earlier epochs to the last epoch above which
a surrogate whose best epoch is its last counts as still improving at its epoch cap
(:func:`training_diagnostics`). The learning rate anneals to nearly 0 over the last epochs
(one-cycle schedule), so a finished training improves by well under 1 % in its last epochs (the
quick start's ``demo`` surrogate: best epoch 29 of 30, 0.2 % below epoch 28); a fall of more than 1 %
in the very last epoch means more epochs would still help."""


def training_diagnostics(history: dict[str, list[float]], best_epoch: int) -> list[dict[str, Any]]:
    """What says that a surrogate's training was cut short, as ``{code, message, values}`` dicts.

    ``still_improving``: the best validation loss is that of the last epoch run (0-based
    ``best_epoch``; then early stopping cannot have ended the training: its epoch cap or its time
    budget did) and it fell by more than :data:`STILL_IMPROVING_FALL` from the best earlier epoch.
    """
    val = [float(v) for v in history.get("val_loss", [])]
    n = len(val)
    if n < 2 or best_epoch != n - 1:
        return []
    before = min(val[:-1])
    fall = (before - val[-1]) / before if before > 0 else 0.0
    if fall <= STILL_IMPROVING_FALL:
        return []
    return [{"code": "still_improving",
             "message": f"surrogate: the best validation loss is that of the last epoch ({n} of {n}), "
                        f"{100 * fall:.1f} % below the best earlier one: training was still improving when its "
                        "epoch budget (or time budget) ran out. More epochs (surrogate train --epochs, or epochs= in Python) "
                        "would likely give a more accurate surrogate",
             "values": {"best_epoch": best_epoch + 1, "epochs": n, "last_fall": fall,
                        "threshold": STILL_IMPROVING_FALL}}]


@dataclass
class Split:
    """Which samples and cells (indices) train and which validate."""

    train_samples: np.ndarray
    val_samples: np.ndarray
    train_cells: np.ndarray
    val_cells: np.ndarray


def make_split(n_samples: int, n_cells: int, *, val_samples: float = 0.15, val_cells: float = 0.2, seed: int = 0) -> Split:
    """Hold out the last ``val_samples`` fraction of samples and a random ``val_cells`` fraction of cells.

    At least one sample is held out when ``n_samples >= 2``, and one cell when ``n_cells >= 2``
    and ``val_cells > 0``; at least one of each is always kept for training.
    """
    rng = np.random.default_rng(seed + 7919)
    nvs = min(n_samples - 1, max(1 if n_samples >= 2 and val_samples > 0 else 0, int(round(val_samples * n_samples))))
    nvc = min(n_cells - 1, max(1 if n_cells >= 2 and val_cells > 0 else 0, int(round(val_cells * n_cells))))
    cells = rng.permutation(n_cells)
    return Split(np.arange(n_samples - nvs), np.arange(n_samples - nvs, n_samples),
                 np.sort(cells[nvc:]), np.sort(cells[:nvc]))


def resolve_settings(preset: str | None, **overrides: Any) -> dict[str, Any]:
    """The preset's settings with every non-None override applied."""
    preset = preset or "demo"
    if preset not in SURROGATE_PRESETS:
        raise SurrogateError(f"unknown surrogate preset {preset!r}; expected one of {sorted(SURROGATE_PRESETS)}")
    out = dict(SURROGATE_PRESETS[preset])
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


def train_surrogate(region: Region, simulator: str = "waterbalance", *, n_samples: int | None = None,
                    epochs: int | None = None, hidden_size: int | None = None, seed: int = 0, preset: str | None = "demo",
                    num_layers: int | None = None, dropout: float | None = None, window: int | None = None,
                    warmup: int | None = None, batch_size: int | None = None, lr: float | None = None,
                    steps_per_epoch: int | None = None, patience: int | None = None, max_time: float | None = None,
                    val_samples: float = 0.15, val_cells: float = 0.2, per_cell: bool = False,
                    parameter_space: ParameterSpace | str | None = None, store: str | Path | None = None,
                    out: str | Path | None = None, device: str | torch.device | None = None,
                    simulator_options: dict | None = None, runner=None, n_workers: int = 1, chunk_size: int = 16,
                    max_memory_gb: float = 2.0, num_threads: int | None = None, max_cells: int | None = None,
                    progress: bool | None = None, anchor_share: float = DEFAULT_ANCHOR_SHARE,
                    anchor_sd: float = DEFAULT_ANCHOR_SD) -> Surrogate:
    """Generate training data for ``region`` with ``simulator`` and train a surrogate on it.

    Returns a frozen :class:`Surrogate` (best validation epoch). ``store`` keeps the simulator
    runs (resumable; when None a scratch folder,
    :mod:`vic_paraformer.scratch`, removed at the end). ``out`` writes the best checkpoint after
    every improving epoch (atomically), marked incomplete until training ends: an interrupted
    training leaves a file that :meth:`Surrogate.load` refuses unless ``allow_incomplete=True``.
    ``max_time`` (seconds) stops training early once spent: an explicit opt-in that makes the
    result depend on the machine's load (no preset sets it). ``num_threads`` sets torch's CPU threads
    for the duration of the call; by default 1 when training on CPU: the per-step matrices of a small
    LSTM are too small to gain from more, and on a machine whose cores are busy with other processes
    two threads were measured ~10x slower than one. ``max_cells`` trains on at most that many cells,
    a seeded random subset (the surrogate learns the simulator's response, which a sample of cells
    spans): data generation and training memory then stay bounded whatever the region's size, and
    with a lazily opened region only those cells are read. ``anchor_share`` of the ``n_samples`` are
    the region's default parameters and draws around them (``anchor_sd``), the rest a Latin
    hypercube (:mod:`vic_paraformer.surrogate.data`, "Sampling design"; 0 for a pure hypercube).
    Other settings default to ``preset``.
    """
    s = resolve_settings(preset, n_samples=n_samples, epochs=epochs, hidden_size=hidden_size, num_layers=num_layers,
                         dropout=dropout, window=window, warmup=warmup, batch_size=batch_size, lr=lr,
                         steps_per_epoch=steps_per_epoch, patience=patience, max_time=max_time)
    space = ParameterSpace.resolve(parameter_space)
    check_length(region, s)  # before any (possibly hours of) simulator runs
    started = time.perf_counter()
    if max_cells is not None:
        if int(max_cells) < 2:
            raise SurrogateError(f"max_cells must be >= 2 (training and validation cells), got {max_cells}")
        if region.n_cells > int(max_cells):
            pick = np.sort(np.random.default_rng(seed + 31).choice(region.n_cells, int(max_cells), replace=False))
            log.info("training the surrogate on %d of %d cells (max_cells)", len(pick), region.n_cells)
            region = region.load_cells(pick)
    tmp = None
    old_threads = torch.get_num_threads()
    on_cpu = torch.device(device).type == "cpu" if device is not None else not torch.cuda.is_available()
    if num_threads is None and on_cpu:
        num_threads = 1
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    if store is None:  # a marked scratch folder (vic_paraformer.scratch): 'vic-paraformer clean' finds a leftover
        tmp = scratch.scratch_subdir("surrogate-store")
        store = str(tmp)
    try:
        ts = generate_training_data(region, store, simulator=simulator, n_samples=int(s["n_samples"]), seed=seed,
                                    per_cell=per_cell, chunk_size=chunk_size, parameter_space=space,
                                    simulator_options=simulator_options, runner=runner, n_workers=n_workers,
                                    progress=progress, anchor_share=anchor_share, anchor_sd=anchor_sd)
        t_data = time.perf_counter() - started
        model = train_from_store(ts, region, settings=s, seed=seed, val_samples=val_samples, val_cells=val_cells,
                                 out=out, device=device, max_memory_gb=max_memory_gb, progress=progress)
    finally:
        torch.set_num_threads(old_threads)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    model.info.update(store=None if tmp is not None else str(store), data_seconds=round(t_data, 2),
                      total_seconds=round(time.perf_counter() - started, 2))
    if out is not None:
        model.save(out)
    return model


def check_length(region: Region, settings: dict[str, Any]) -> None:
    """Raise SurrogateError if ``region`` is too short for the training windows of ``settings``."""
    if min(int(settings["window"]), region.n_days) < 20:
        raise SurrogateError(f"region has only {region.n_days} days; the surrogate needs at least 20 "
                             f"(window {settings['window']})")


def _windows(rng: np.random.Generator, n: int, samples: np.ndarray, cells: np.ndarray, n_days: int, length: int,
             p_start0: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = rng.choice(samples, n)
    c = rng.choice(cells, n)
    t = rng.integers(0, n_days - length + 1, n)
    t[rng.random(n) < p_start0] = 0
    return s, c, t


class _Batcher:
    """Gathers (sample, cell, window) minibatches from in-memory tensors."""

    def __init__(self, x: torch.Tensor, a: torch.Tensor, theta_u: torch.Tensor, y: torch.Tensor, length: int,
                 warmup: int) -> None:
        self.x, self.a, self.theta_u, self.y = x, a, theta_u, y  # y: (S, C, T, 2) normalised
        self.ar = torch.arange(length, device=x.device)
        self.warmup = warmup

    def batch(self, s: np.ndarray, c: np.ndarray, t: np.ndarray):
        dev = self.x.device
        s_t, c_t, t_t = (torch.as_tensor(v, device=dev) for v in (s, c, t))
        days = t_t[:, None] + self.ar[None, :]
        x = self.x[c_t[:, None], days]
        y = self.y[s_t[:, None], c_t[:, None], days]
        mask = (self.ar[None, :] >= self.warmup) | (t_t[:, None] == 0)
        return x, self.a[c_t], self.theta_u[s_t, c_t], y, mask


def _masked_mse(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(pred.dtype)
    return ((pred - y) ** 2 * m).sum() / (m.sum() * pred.shape[-1]).clamp_min(1.0)


def train_from_store(ts: TrainingStore, region: Region, *, settings: dict[str, Any], seed: int = 0,
                     val_samples: float = 0.15, val_cells: float = 0.2, out: str | Path | None = None,
                     device: str | torch.device | None = None, max_memory_gb: float = 2.0,
                     progress: bool | None = None) -> Surrogate:
    """Train a surrogate on a complete :class:`TrainingStore` made from ``region``.

    Memory: the store is read in groups of whole chunks of at most ``max_memory_gb`` of outputs. A
    first pass computes the output statistics and the validation targets; if the store fits in one
    group it stays loaded, otherwise each epoch trains on the next group in turn.
    """
    if ts.manifest["region_fingerprint"] != region.fingerprint() or ts.manifest["n_cells"] != region.n_cells \
            or ts.manifest["n_days"] != region.n_days:
        raise SurrogateError(f"{ts.path}: training store was generated for another region "
                             f"({ts.manifest['n_cells']} cells x {ts.manifest['n_days']} days)")
    if ts.manifest.get("inputs_sha256") not in (None, inputs_hash(region)):
        raise SurrogateError(f"{ts.path}: training store was generated from other forcing/attribute values than "
                             "this region's")
    missing = ts.missing_chunks()
    if missing:
        raise SurrogateError(f"{ts.path}: training store incomplete ({len(missing)} chunk(s) missing); rerun generation")
    s = settings
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    space = ts.parameter_space
    n_days = region.n_days
    window = int(min(s["window"], n_days))
    warmup = int(min(s["warmup"], max(0, window - 10)))
    check_length(region, s)
    split = make_split(ts.n_samples, region.n_cells, val_samples=val_samples, val_cells=val_cells, seed=seed)
    # appended runs (the default parameters and draws around them, refinement runs) always train:
    # validation stays on held-out hypercube samples, which span the space
    split.train_samples = np.concatenate([split.train_samples, np.arange(ts.n_samples, ts.n_total)])
    forcing = region.forcing()
    attrs = region.attributes()
    tc = split.train_cells

    # fixed validation windows: held-out samples on all cells + training samples on held-out cells
    vrng = np.random.default_rng(seed + 1)
    n_val = 256
    vs, vc, vt = [], [], []
    vgroups = [(split.val_samples, np.arange(region.n_cells))]
    if split.val_cells.size:
        vgroups.append((split.train_samples, split.val_cells))
    for samples, cells in vgroups:
        if samples.size and cells.size:
            a_, b_, c_ = _windows(vrng, n_val // len(vgroups), samples, cells, n_days, window)
            vs.append(a_), vc.append(b_), vt.append(c_)
    if not vs:
        raise SurrogateError("no validation data: need at least 2 parameter samples")
    val = (np.concatenate(vs), np.concatenate(vc), np.concatenate(vt))

    # one pass over the store (group by group, each within max_memory_gb): output statistics of the
    # training samples x training cells, and the validation windows' targets
    groups = _sample_groups(ts, region, max_memory_gb)
    n_out = len(ts.outputs)
    sums = np.zeros(n_out), np.zeros(n_out), 0
    val_y = np.empty((len(val[0]), window, n_out), np.float32)
    val_theta = np.empty((len(val[0]), space.n), np.float32)
    kept = None
    for g in groups:
        theta, y = ts.load(g)
        for j in np.flatnonzero(np.isin(g, split.train_samples)):
            # one sample at a time, accumulated in float64 without a float64 copy of the outputs
            yj = y[j, tc].reshape(-1, n_out)
            sums = (sums[0] + yj.sum(0, dtype=np.float64),
                    sums[1] + np.einsum("nk,nk->k", yj, yj, dtype=np.float64), sums[2] + len(yj))
            del yj
        pos = {int(v): i for i, v in enumerate(g)}
        for k in np.flatnonzero(np.isin(val[0], g)):
            j = pos[int(val[0][k])]
            val_y[k] = y[j, val[1][k], val[2][k]:val[2][k] + window]
            val_theta[k] = theta[j, val[1][k]]
        if len(groups) == 1:
            kept = (theta, y)
        del theta, y
    if sums[2] == 0:
        raise SurrogateError("no training data: need at least 1 training sample and cell")
    mean = sums[0] / sums[2]
    std = np.sqrt(np.maximum(sums[1] / sums[2] - mean ** 2, 0.0))
    norm = Normalization.fit(forcing, attrs[tc], np.stack([mean, mean]), region.forcing_names, cells=tc)
    norm.output_mean = [float(v) for v in mean]
    norm.output_std = [float(v) for v in safe_std(std)]
    out_mean, out_std = np.asarray(norm.output_mean, np.float32), np.asarray(norm.output_std, np.float32)

    config = SurrogateConfig(n_forcing=forcing.shape[-1], n_attributes=attrs.shape[-1], n_parameters=space.n,
                             hidden_size=int(s["hidden_size"]), num_layers=int(s["num_layers"]),
                             dropout=float(s["dropout"]), window=window, warmup=warmup, n_outputs=n_out)
    model = Surrogate(config, norm, space, region.forcing_names, region.attribute_names, simulator=ts.simulator,
                      region_fingerprint=region.fingerprint(), output_names=ts.outputs).to(dev)
    x_n = torch.as_tensor(model.normalize_forcing(forcing), device=dev)
    a_n = torch.as_tensor(model.normalize_attributes(attrs), device=dev)
    val_set = _ValSet(x_n, a_n, torch.as_tensor(np.asarray(space.normalize(val_theta), np.float32), device=dev),
                      torch.as_tensor((val_y - out_mean) / out_std, device=dev), val[1], val[2], window, warmup)
    train_groups = [g for g in groups if np.isin(g, split.train_samples).any()]

    def load_group(g: np.ndarray, data=None) -> tuple[_Batcher, np.ndarray]:
        theta, y = data if data is not None else ts.load(g)
        y -= out_mean  # in place: the store's outputs can be large
        y /= out_std
        theta_u = torch.as_tensor(np.asarray(space.normalize(theta), dtype=np.float32), device=dev)
        local = np.flatnonzero(np.isin(g, split.train_samples))
        return _Batcher(x_n, a_n, theta_u, torch.from_numpy(y).to(dev), window, warmup), local

    batcher, local_samples = load_group(train_groups[0], kept)
    kept = None
    if len(train_groups) > 1:
        log.info("training store exceeds max_memory_gb=%g: training on %d groups of samples in turn",
                 max_memory_gb, len(train_groups))

    opt = torch.optim.Adam(model.parameters(), lr=float(s["lr"]))
    epochs, steps = int(s["epochs"]), int(s["steps_per_epoch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(s["lr"]), total_steps=epochs * steps,
                                                pct_start=0.15)
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
    best, best_state, best_epoch, bad_epochs = math.inf, None, -1, 0
    t0 = time.perf_counter()
    max_time = s.get("max_time")
    bar = None
    budget = f", stopping early on a time budget of {float(max_time):.0f} s (wall clock)" if max_time is not None else ""
    log.info("training the surrogate for up to %d epochs of %d minibatches (early stop after %d epochs without "
             "improvement%s)", epochs, steps, int(s["patience"]), budget)
    if show_progress(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="training surrogate", unit="epoch")
    try:
        for epoch in range(epochs):
            if len(train_groups) > 1 and epoch > 0:
                del batcher
                batcher, local_samples = load_group(train_groups[epoch % len(train_groups)])
            model.train()
            tot = 0.0
            for _ in range(steps):
                xb, ab, tb, yb, mb = batcher.batch(*_windows(rng, int(s["batch_size"]), local_samples,
                                                             split.train_cells, n_days, window))
                loss = _masked_mse(model.forward_normalized(xb, ab, tb), yb, mb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                tot += float(loss.detach())
            vloss = val_set.loss(model)
            history["train_loss"].append(tot / steps)
            history["val_loss"].append(vloss)
            if vloss < best:
                best, best_epoch, bad_epochs = vloss, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
                if out is not None:
                    _snapshot(model, best_state, history, split, region, s, seed).save(out)
            else:
                bad_epochs += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{tot / steps:.4f}", val=f"{vloss:.4f}", best=f"{best:.4f}")
            log.debug("epoch %d train %.5f val %.5f", epoch + 1, tot / steps, vloss)
            if bad_epochs >= int(s["patience"]):
                log.info("early stopping after epoch %d of %d (best %d)", epoch + 1, epochs, best_epoch + 1)
                break
            if max_time is not None and time.perf_counter() - t0 > float(max_time):
                log.info("time budget of %.0f s spent after epoch %d of %d", float(max_time), epoch + 1, epochs)
                break
    finally:
        if bar is not None:
            bar.close()
    model.load_state_dict(best_state)
    model.info.update(_info(history, split, region, s, seed, best_epoch, time.perf_counter() - t0, dev))
    # the surrogate's own error against its simulator on held-out cells and parameter sets, per output
    # (a calibration through it cannot pin parameters down more finely than this: see vic_paraformer.uncertainty)
    model.info["validation_rmse"] = {name: round(float(v), 6) for name, v in
                                     zip(model.output_names, val_set.rmse(model, out_std))}
    model.info["training_diagnostics"] = diagnostics = training_diagnostics(history, best_epoch)
    for d in diagnostics:
        log.warning("%s", d["message"])
    model.info["training_data"] = {"hypercube_samples": ts.n_samples,
                                   "appended": [{"label": a["label"], "n": int(a["n"])} for a in ts.appended]}
    # what the simulator runs were made with (e.g. spin-up), so checks against the simulator match them
    model.info["simulator_options"] = dict(ts.manifest.get("simulator_options") or {})
    log.info("surrogate trained: best validation MSE %.4f (standardised) at epoch %d of %d, %.1f s", best,
             best_epoch + 1, len(history["val_loss"]), time.perf_counter() - t0)
    model = model.freeze()
    if out is not None:
        model.save(out)  # the finished model replaces the incomplete snapshots
    return model


def _sample_groups(ts: TrainingStore, region: Region, max_memory_gb: float) -> list[np.ndarray]:
    """Sample indices in groups of whole chunks whose outputs fit in ``max_memory_gb`` (at least one chunk)."""
    sample_gb = region.n_cells * region.n_days * len(ts.outputs) * 4 / 1e9
    out: list[np.ndarray] = []
    lo = hi = 0
    for a, b in ts.units():  # the hypercube's chunks, then the appended batches, in sample order
        if hi > lo and (b - lo) * sample_gb > max_memory_gb:
            out.append(np.arange(lo, hi))
            lo = a
        hi = b
    if hi > lo:
        out.append(np.arange(lo, hi))
    return out


class _ValSet:
    """Fixed validation windows with their targets (kept in memory: a few hundred windows)."""

    def __init__(self, x, a, theta_u, y, cells, starts, length, warmup) -> None:
        self.x, self.a, self.theta_u, self.y = x, a, theta_u, y
        dev = x.device
        self.c = torch.as_tensor(cells, device=dev)
        self.t = torch.as_tensor(starts, device=dev)
        self.ar = torch.arange(length, device=dev)
        self.mask = (self.ar[None, :] >= warmup) | (self.t[:, None] == 0)

    def _batches(self, model: Surrogate, chunk: int):
        """``(prediction, target, mask)`` of the validation windows, ``chunk`` at a time (normalised units,
        no gradients, the model in eval mode)."""
        model.eval()
        with torch.no_grad():
            for i in range(0, len(self.c), chunk):
                c, t = self.c[i:i + chunk], self.t[i:i + chunk]
                xb = self.x[c[:, None], t[:, None] + self.ar[None, :]]
                yield (model.forward_normalized(xb, self.a[c], self.theta_u[i:i + chunk]), self.y[i:i + chunk],
                       self.mask[i:i + chunk])

    def loss(self, model: Surrogate, chunk: int = 128) -> float:
        tot, n = 0.0, 0
        for pred, y, mask in self._batches(model, chunk):
            tot += float(_masked_mse(pred, y, mask)) * len(pred)
            n += len(pred)
        return tot / max(n, 1)

    def rmse(self, model: Surrogate, out_std: np.ndarray, chunk: int = 128) -> np.ndarray:
        """Root mean square error per output over the validation windows, in physical units."""
        sq, cnt = None, 0.0
        for pred, y, mask in self._batches(model, chunk):
            m = mask.unsqueeze(-1).to(pred.dtype)
            part = (((pred - y) ** 2) * m).sum(dim=(0, 1))
            sq = part if sq is None else sq + part
            cnt += float(m.sum())
        if sq is None:
            return np.full(len(out_std), np.nan)
        return np.sqrt(sq.double().cpu().numpy() / max(cnt, 1.0)) * np.asarray(out_std, float).reshape(-1)


def _info(history, split: Split, region: Region, s: dict, seed: int, best_epoch: int, seconds: float, dev) -> dict:
    return {
        "history": history,
        "best_epoch": best_epoch,
        "train_seconds": round(seconds, 2),
        "settings": dict(s),
        "seed": seed,
        "device": str(dev),
        "val_sample_indices": split.val_samples.tolist(),
        "val_cells": region.cells[split.val_cells].tolist(),
        "train_cells": region.cells[split.train_cells].tolist(),
        "training_region": region.source,
    }


def _snapshot(model: Surrogate, state: dict, history, split, region, s, seed) -> Surrogate:
    snap = Surrogate(model.config, model.normalization, model.parameter_space, model.forcing_names,
                     model.attribute_names, simulator=model.simulator, region_fingerprint=model.region_fingerprint,
                     info=_info(history, split, region, s, seed, len(history["val_loss"]) - 1, 0.0, "cpu"),
                     output_names=model.output_names)
    snap.info["incomplete"] = True  # a best-so-far snapshot: loaders refuse it unless asked
    snap.load_state_dict(state)
    return snap
