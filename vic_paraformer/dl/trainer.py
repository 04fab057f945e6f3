"""The one training loop of the DL strategies: :func:`train`.

Training (paper Fig. 1b, section 4.2)
-------------------------------------
A network ``F`` (from :mod:`vic_paraformer.dl.modelzoo`) maps a cell's inputs to normalised
parameters ``u`` (unbounded). A frozen, differentiable surrogate of the hydrological model turns
``clamp(u, 0, 1)`` plus the cell's forcing into soil moisture; the loss is the paper's eq. 14,
``masked RMSE(sm_sim, obs_sm) + RBL(u, 0, 1)``, with the range-boundary loss (eq. 13) taken in
normalised space (bounds 0 and 1), where it penalises every excursion of ``u`` outside the
range that the clamp hides from the surrogate. Only ``F`` (and, optionally, the observation
operator of :mod:`.obs_operator`) is updated; the surrogate's weights never change.

* Minibatches: ``batch_size`` training cells drawn at random, each with a random ``window``-day
  window (default 240) from the fitting part of the period. The first ``surrogate.warmup`` days
  of each window are spin-up and excluded from the loss. One epoch has
  ``max(MIN_BATCHES_PER_EPOCH, ceil(n_train_cells * fit_days / (batch_size * window)))``
  minibatches (about one pass over the training cell-days, but at least 20, so that a small
  training set still gets enough gradient steps per epoch: with one pass only, 16 training cells
  gave 2-3 steps per epoch and the networks stopped early with nearly uniform parameter maps)
  unless ``batches_per_epoch`` is given.
* Loss (``loss``, :mod:`vic_paraformer.objective`): ``"wb"`` (default) adds the water-balance term
  to the SM misfit: each training cell's window-mean ET stays near the same days of a reference
  series, the surrogate at the region's default parameters
  (:func:`~vic_paraformer.parameters.default_parameters`) or ``obs_et`` where a cell has enough of
  it; ``"paper"`` is eq. 14 alone. ``objective="sm+et"`` adds the ET RMSE (both scaled by the
  observations' standard deviation, weighted by ``et_weight``).
* Discharge (objectives with ``q``, e.g. ``sm+q``, ``sm+et+q``, ``sm:1,q:0.5``): each minibatch also
  routes one group of gauged basins over one window (:mod:`vic_paraformer.dl.discharge_step`): every
  source cell of the group's gauges gets its parameters from the network, the surrogate's runoff +
  baseflow is routed to the gauges (m3/s) and scored against ``obs_q`` by the one objective (weights
  and ``q_metric`` from the options; the SM RMSE scaled by the observations' standard deviation as in
  ``sm+et``). Cells upstream of gauges train the network through discharge; training cells keep
  their SM (and ET) terms; every cell, gauged or not, gets its parameters from the network. The
  validation loss adds the whole-period routed discharge on the held-out days. Memory per step is
  bounded by the ``q_cells`` option (cells run with gradients at once).
* Observation operator (``obs_operator``: ``identity``, ``linear``, ``cdf``;
  :mod:`vic_paraformer.observation`): the SM misfit compares ``H(sm)`` with the observations. ``H``
  is refitted in closed form to the whole-period simulation of every training cell before the first
  epoch and after each epoch (alternating with the network's updates, so it is fitted jointly with
  the parameters); the operator at the final parameters is stored in the result.
* Validation (``val_scheme``): ``"blocks"`` (default) holds out interleaved ``val_block_days``-day
  blocks (default 30) spread over the whole period, ``val_fraction`` (default 0.2) of the days after
  the warm-up (:func:`vic_paraformer.objective.holdout_blocks`); their observations are hidden from
  the training loss and from the series input of Z networks. ``"tail"`` holds out the last
  ``val_fraction`` of the days instead. After each epoch the per-cell parameters drive the
  surrogate over the whole period; the validation loss is the SM RMSE on the held-out days through
  the operator fitted on the other days (+ the ET term for ``sm+et``, + the water-balance term over
  all days after the warm-up for ``loss="wb"``). Training stops after ``patience`` epochs without
  improvement and the best weights are restored (with ``val_fraction=0`` the training loss is
  monitored instead). The blocks are recorded in ``info["early_stopping"]``.
* History: ``train_loss`` is the mean minibatch loss of an epoch; ``val_loss`` the validation loss.
  ``n_evaluations`` counts surrogate cell-window runs (training windows plus one whole-period run
  per training cell per epoch); ``info["cell_days"]`` the simulated cell-days.
* Diagnostics (:mod:`vic_paraformer.dl.diagnostics`): ``info["training_diagnostics"]`` lists, each
  also logged as a warning, what says that the run learned nothing: best epoch 1, one parameter
  set for every cell although the attributes vary, the output where it started or at the centre
  of the bounds.
* Optimiser: AdaDelta (``rho=0.95``, weight decay 1e-5) whose ``lr`` (the scale of AdaDelta's
  step) comes with the preset (:mod:`vic_paraformer.dl.presets`); ``optimizer="adam"`` /
  ``"adamw"`` use ``lr=3e-4`` by default.
* Reproducible: ``torch.manual_seed(seed)`` inside a forked RNG state (the caller's global RNG is
  untouched) and a numpy ``Generator(seed)`` for the minibatch draws; on CPU the same seed
  gives the same parameters.
* Device and threads: ``device="auto"`` uses CUDA when available. ``threads`` sets the CPU
  threads for the run (restored afterwards).

Long module (over 400 lines): the one training loop with its objective (operator refitted every
epoch, water-balance term, sm+et), the held-out blocks and the validation, kept together so the
loss trained on and the loss monitored stay the same.

Cells that are not training cells (series networks)
---------------------------------------------------
With ``untrained_cell_obs="hide"`` (the default) a cell that is not a training cell gets its Z
channel as *all missing* (zeros with mask 0) while its forcing and attributes are used as usual;
with ``"use"`` its observations are fed (docs/paper-fidelity.md, row 22). The network learns the
all-missing case during training: each training window has its whole Z channel hidden with
probability ``z_dropout`` (default 0.1).

Fidelity to the paper: docs/paper-fidelity.md (rows 6-12, 18-22).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import StrategyError
from ..region import Region
from .cell_params import cell_u
from .config import TrainConfig, resolve_device
from .diagnostics import MIN_PARAMETER_SPREAD, check_training
from .diagnostics import report as report_diagnostics
from .inputs import N_SERIES_EXTRA, InputNormalization
from ..objective import (Objective, ObservationOperator, describe_reference, fit_operator, holdout_blocks, holdout_mask,
                         pooled_std, reference_et)
from ..parameters import OWN_PARAMETERS, default_parameters
from .networks import build_network, network_config

log = logging.getLogger(__name__)

MIN_BATCHES_PER_EPOCH = 20  # default floor of minibatches per epoch (see the module docstring)


@dataclass
class TrainOutcome:
    """What :func:`train` returns: the trained network and everything a result or model file needs."""

    network: torch.nn.Module
    network_config: dict[str, Any]
    obs_operator: ObservationOperator | None
    normalization: InputNormalization
    u: torch.Tensor  # (C, p) unclamped network output for every cell of the region
    train_cells: np.ndarray
    window: int
    history: dict[str, list[float]]
    n_evaluations: int
    info: dict[str, Any]


def train(region: Region, surrogate, config: TrainConfig, *, n_params: int, seed: int, name: str,
          bootstrap_seed: int | None = None) -> TrainOutcome:
    """Train ``config.network_kind`` through the frozen ``surrogate`` on ``region``'s training cells.

    With ``bootstrap_seed`` (a member of a deep ensemble) the minibatches are drawn from a bootstrap
    resample (with replacement, seeded by it) of the training cells and of the window start days,
    instead of from all of them; the validation loss and the operator still use every training cell.

    Runs under ``torch.random.fork_rng`` seeded with ``seed`` and with ``config.threads`` CPU
    threads (the caller's RNG state and thread count are restored).
    """
    device = resolve_device(config.device)
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(int(config.threads))
    try:
        cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            return _train(region, surrogate, config, n_params, seed, name, device, bootstrap_seed)
    finally:
        torch.set_num_threads(threads)


def _train(region: Region, sur, c: TrainConfig, p: int, seed: int, name: str, device: torch.device,
           bootstrap_seed: int | None = None) -> TrainOutcome:
    rng = np.random.default_rng(seed)
    sur.to(device)
    sur.eval()
    trainable = [q for q in sur.parameters() if q.requires_grad]
    if trainable:
        raise StrategyError(f"strategy {name!r}: the surrogate is not frozen (call its freeze() first)")
    warmup = int(sur.warmup)
    # training reads only the training cells' data (a lazily opened region stays on disk); the
    # parameters of every cell come from chunks of the full region at the end
    whole = region
    train_cells = np.asarray(whole.training_cells)
    train_rows = np.flatnonzero(np.isin(whole.cells, train_cells))
    region = whole.load_cells(train_rows)
    cells = region.cells
    train_idx = np.arange(len(train_rows))
    n_days = region.n_days
    if warmup >= n_days:
        raise StrategyError(f"strategy {name!r}: the surrogate's {warmup}-day warm-up is not shorter than the "
                            f"region's {n_days} days")
    obs_all = region.observations("obs_sm")
    if c.val_scheme == "tail":
        n_tail = int(round(float(c.val_fraction) * n_days))
        held = np.zeros(n_days, bool)
        held[n_days - n_tail:] = True
        fit_days = n_days - n_tail
        blocks = [(fit_days, n_days)] if n_tail else []
    else:
        blocks = holdout_blocks(n_days, float(c.val_fraction), int(c.val_block_days), skip=warmup)
        held = holdout_mask(n_days, float(c.val_fraction), int(c.val_block_days), skip=warmup)
        fit_days = n_days  # windows run through the held-out blocks, which carry no training loss
    n_val = int(held.sum())
    window = min(int(c.window), fit_days)
    if window <= warmup:
        raise StrategyError(
            f"strategy {name!r}: the region's fitting period has {fit_days} days ({n_days} days minus "
            f"{n_days - fit_days} validation days); windows need more than the surrogate's {warmup} warm-up days")
    if n_val and not np.isfinite(obs_all[train_idx][:, held]).any():
        log.warning("no observations in the %d held-out validation days; monitoring the training loss instead", n_val)
        held[:], n_val, fit_days, blocks = False, 0, n_days, []
    obs_fit = obs_all.copy()
    obs_fit[:, held] = np.nan
    region_fit = region
    if n_val:
        region_fit = Region(region.ds.assign(obs_sm=(("cell", "time"), obs_fit.astype(np.float32))), validate=False)
    # A day counts in the loss only after the surrogate's warm-up of the window that holds it, so
    # the usable observations are those from day ``warmup`` of the fitting period on.
    usable = np.isfinite(obs_fit[train_idx, warmup:fit_days]).any(axis=1)
    if not usable.any():
        t = region.times
        raise StrategyError(
            f"strategy {name!r}: no obs_sm of the {len(train_idx)} training cell(s) is usable: all lie in the "
            f"surrogate's {warmup}-day warm-up ({t[0].date()}..{t[min(warmup, n_days) - 1].date()}) or after the "
            f"fitting period; give a longer period or observations after {t[min(warmup, n_days - 1)].date()}")
    if not usable.all():
        log.warning("%s: %d training cell(s) have no obs_sm after the %d-day warm-up and do not inform the "
                    "training, e.g. cell(s) %s", name, int((~usable).sum()), warmup,
                    ", ".join(str(int(x)) for x in cells[train_idx][~usable][:5]))

    # --- tensors -----------------------------------------------------------------
    norm = InputNormalization.fit(whole, train_rows)
    x_sur, a_sur = sur.prepare(region)
    x_sur, a_sur = x_sur.to(device), a_sur.to(device)
    a_net_all = torch.as_tensor(norm.attributes(whole), device=device)
    a_net = a_net_all[train_rows]
    s_net = None
    if c.uses_series:
        # training windows come from training cells only; untrained cells' observations reach the
        # network only through their final parameters, and only with untrained_cell_obs="use"
        s_net = torch.as_tensor(norm.series(region_fit, np.ones(len(cells), bool)), device=device)
    obs = torch.as_tensor(obs_fit[train_idx].astype(np.float32), device=device)
    n_series = len(norm.forcing_names) + N_SERIES_EXTRA

    # --- objective: observation operator, water-balance reference, ET ------------
    space = sur.parameter_space
    loss_days = np.arange(n_days) >= warmup
    obs_et_all = region.observations("obs_et") if region.has("obs_et") else None
    ref_np = ref_t = obs_et_t = None
    oo = c.objective_options
    objective_info: dict[str, Any] = {"loss": oo.loss, "objective": oo.objective, "obs_operator_kind": oo.obs_operator}
    d_vals, d_src = default_parameters(region, space)  # the water-balance reference, the prior and the start
    if oo.loss == "wb":
        u_def = torch.as_tensor(np.asarray(space.normalize(d_vals[train_idx]), np.float32), device=device)
        default_et = _predict(sur, x_sur, a_sur, u_def, int(c.batch_size))[..., 1].cpu().numpy()
        ref_np, ref_src = reference_et(default_et, None if obs_et_all is None else obs_et_all[train_idx], loss_days,
                                       oo.wb_reference)
        ref_t = torch.as_tensor(ref_np.astype(np.float32), device=device)
        objective_info.update(reference="default parameters: " + d_src, reference_et=[str(x) for x in ref_src],
                              wb_reference=describe_reference(oo.wb_reference, ref_src, "the surrogate", d_src))
        log.info("%s: water-balance reference ET: %s", name, objective_info["wb_reference"]["description"])
    prior_t = prior_np = None
    if oo.prior_weight > 0:
        prior_np = np.asarray(space.normalize(d_vals[train_idx]), float)
        prior_t = torch.as_tensor(prior_np.astype(np.float32), device=device)
        objective_info.update(prior_weight=oo.prior_weight, prior="default parameters: " + d_src)
    sm_scale = et_scale = 1.0
    if len(oo.weights) > 1:
        sm_scale = pooled_std(obs_fit[train_idx][:, warmup:])
    qt = _discharge_training(whole, sur, c, norm, train_cells, held, warmup, window, fit_days, name, device) \
        if oo.uses_q else None
    if qt is not None:
        objective_info["discharge"] = qt.describe()
    if oo.uses_et:
        if obs_et_all is None:
            raise StrategyError(f"strategy {name!r}: objective {oo.objective!r} needs ET observations ('obs_et')")
        et_fit = obs_et_all.copy()
        et_fit[:, held] = np.nan
        obs_et_t = torch.as_tensor(et_fit[train_idx].astype(np.float32), device=device)
        et_scale = pooled_std(obs_et_all[train_idx][:, warmup:])
    # the one objective: the minibatch loss (with the paper's range-boundary loss) and the validation loss
    objective = Objective(oo, sm_scale=sm_scale, et_scale=et_scale, range_boundary=True)
    fit_kw = dict(cells=cells[train_idx], lat=region.ds["lat"].values[train_idx], lon=region.ds["lon"].values[train_idx],
                  new_cells=oo.obs_operator_new_cells, **oo.operator_options)
    obs_fit_w = obs_fit[train_idx].copy()
    obs_fit_w[:, :warmup] = np.nan

    def refit(sim_sm: np.ndarray) -> ObservationOperator | None:
        if oo.obs_operator == "identity":
            return None
        return fit_operator(oo.obs_operator, sim_sm, obs_fit_w, **fit_kw)

    # --- model -------------------------------------------------------------------
    net_config = network_config(c.network_kind, a_net.shape[1], n_series, p, c.network)
    net = build_network(net_config).to(device)
    params = list(net.parameters())
    start_info = _start_at_prior(net, c, (d_vals, d_src), space, train_idx, a_net, s_net, fit_days, window, rng,
                                 device)
    # the training cells' output before the first update, to tell whether training moved it
    u_start = _clamped_u(net, a_net, s_net, n_days, window, c.param_windows, int(c.batch_size))
    optim = _optimizer(c.optimizer, params, float(c.lr), float(c.weight_decay))
    # the operator is refitted (closed form) to the whole-period simulation of every training cell
    # before the first epoch and after each one: alternating with the network's updates, it is
    # fitted jointly with the parameters
    obs_op = refit(_full_run(net, sur, x_sur, a_sur, a_net, s_net, n_days, window, int(c.batch_size),
                             c.param_windows)[0][..., 0]) if oo.obs_operator != "identity" else None

    bs = int(c.batch_size)
    n_train = len(train_idx)
    n_batches = int(c.batches_per_epoch or max(MIN_BATCHES_PER_EPOCH, math.ceil(n_train * fit_days / (bs * window))))
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
    n_eval, cell_days = 0, 0
    cell_pool = start_pool = None  # a bootstrap resample of the training cells and window starts
    if bootstrap_seed is not None:
        brng = np.random.default_rng(bootstrap_seed)
        cell_pool = brng.choice(n_train, size=n_train, replace=True)
        n_starts = fit_days - window + 1
        start_pool = brng.choice(n_starts, size=n_starts, replace=True)
    best, best_epoch, best_state, stale = math.inf, 0, None, 0
    from tqdm.auto import tqdm

    log.info("%s: training on %d cells for up to %d epochs of %d minibatches of %d windows (early stop after %d "
             "epochs without improvement)", name, n_train, int(c.epochs), n_batches, bs, int(c.patience))
    bar = tqdm(range(int(c.epochs)), desc=f"{name} training", unit="epoch", disable=not c.progress)
    try:
        for epoch in bar:
            net.train()
            losses = []
            for _ in range(n_batches):
                if cell_pool is None:
                    ci = rng.choice(n_train, size=bs, replace=n_train < bs)
                    t0 = rng.integers(0, fit_days - window + 1, size=bs)
                else:
                    ci = cell_pool[rng.integers(0, n_train, size=bs)]
                    t0 = start_pool[rng.integers(0, len(start_pool), size=bs)]
                days = torch.as_tensor(t0[:, None] + np.arange(window)[None, :], device=device)
                ci_t = torch.as_tensor(ci, device=device)
                y_obs = obs[ci_t[:, None], days]
                if not torch.isfinite(y_obs[:, warmup:]).any() and qt is None:
                    continue
                s_b = None
                if s_net is not None:
                    s_b = s_net[ci_t[:, None], days]
                    hide = torch.as_tensor(rng.random(bs) < float(c.z_dropout), device=device)
                    if hide.any():
                        s_b = s_b.clone()
                        s_b[hide, :, -N_SERIES_EXTRA:] = 0.0
                u = net(a_net[ci_t], s_b)
                y = sur(x_sur[ci_t[:, None], days], a_sur[ci_t], u.clamp(0.0, 1.0))
                qb = qt.step(net, sur, rng) if qt is not None else None
                loss = objective(y[:, warmup:, 0], y_obs[:, warmup:], operator=obs_op, positions=ci, u=u,
                                 **_et_inputs(y[:, warmup:, 1], None if obs_et_t is None else
                                              obs_et_t[ci_t[:, None], days][:, warmup:],
                                              None if ref_t is None else ref_t[ci_t[:, None], days][:, warmup:]),
                                 prior_u=None if prior_t is None else prior_t[ci_t],
                                 **({} if qb is None else {"q": qb.q, "obs_q": qb.obs_q}))
                if not torch.isfinite(loss):
                    bad = sorted({int(cells[train_idx[i]]) for i in ci.tolist()})
                    raise StrategyError(
                        f"strategy {name!r}: non-finite training loss at epoch {epoch + 1} on a minibatch of "
                        f"cell(s) {', '.join(map(str, bad[:10]))}{' ...' if len(bad) > 10 else ''}; check these "
                        "cells' forcing and attributes, or lower the learning rate 'lr'")
                optim.zero_grad(set_to_none=True)
                loss.backward()
                if qb is not None:
                    qb.backward()
                    n_eval += qb.cells
                    cell_days += qb.cells * qb.days
                optim.step()
                losses.append(float(loss.detach()))
                n_eval += bs
                cell_days += bs * window
            train_loss = float(np.mean(losses)) if losses else math.nan
            history["train_loss"].append(train_loss)
            full, u_full = _full_run(net, sur, x_sur, a_sur, a_net, s_net, n_days, window, bs, c.param_windows)
            n_eval += n_train
            cell_days += n_train * n_days
            epoch_op = refit(full[..., 0])
            if n_val:
                q_val = None
                if qt is not None:
                    q_val = qt.whole_period(net, sur, int(c.batch_size), c.param_windows)
                    n_eval += qt.basins.rows.size
                    cell_days += qt.basins.rows.size * n_days
                val_loss = _validation_loss(objective, full, u_full, epoch_op, obs_all[train_idx], held, warmup, ref_np,
                                            None if obs_et_all is None else obs_et_all[train_idx], prior_np,
                                            q_val, None if qt is None else qt.obs_q_all)
            else:
                val_loss = train_loss
            if n_val and not math.isfinite(val_loss):
                raise StrategyError(f"strategy {name!r}: non-finite validation loss at epoch {epoch + 1} on the "
                                    f"training cells' last {n_val} days; check their forcing and attributes")
            history["val_loss"].append(val_loss)
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
            log.info("%s epoch %d: train %.5f, val %.5f", name, epoch + 1, train_loss, val_loss)
            obs_op = epoch_op
            if val_loss < best - 1e-7:
                best, best_epoch, stale = val_loss, epoch + 1, 0
                best_state = _snapshot(net)
            else:
                stale += 1
                if stale >= int(c.patience):
                    log.info("%s: early stop after epoch %d (best epoch %d)", name, epoch + 1, best_epoch)
                    break
    finally:
        bar.close()
    if best_state is None:
        raise StrategyError(f"strategy {name!r}: no epoch produced a finite loss ({len(history['train_loss'])} "
                            "epoch(s) without a minibatch holding observations after the warm-up)")
    _restore(net, best_state)
    net.eval()
    u_end = _clamped_u(net, a_net, s_net, n_days, window, c.param_windows, bs)

    # --- parameters for every cell, and the operator at them ---------------------
    if not c.uses_series:
        u_all = cell_u(net, a_net_all, None, n_days, window, c.param_windows, bs)
    else:
        pieces = []
        for sl, part in whole.iter_chunks(whole.chunk_cells if whole.lazy else max(whole.n_cells, 1)):
            use_obs = (np.isin(part.cells, train_cells) if c.untrained_cell_obs == "hide"
                       else np.ones(part.n_cells, bool))
            s_part = torch.as_tensor(norm.series(part, use_obs), device=device)
            pieces.append(cell_u(net, a_net_all[sl], s_part, n_days, window, c.param_windows, bs))
            del s_part
        u_all = torch.cat(pieces)
    final_op = None
    if oo.obs_operator != "identity":
        sm_final = _predict(sur, x_sur, a_sur, u_all[train_rows].clamp(0.0, 1.0), bs)[..., 0].cpu().numpy()
        obs_w = obs_all[train_idx].copy()
        obs_w[:, :warmup] = np.nan
        final_op = fit_operator(oo.obs_operator, sm_final, obs_w, **fit_kw)
    info: dict[str, Any] = {
        "device": str(device), "epochs_run": len(history["train_loss"]), "best_epoch": best_epoch,
        "best_val_loss": best, "batches_per_epoch": n_batches, "window": window, "warmup": warmup,
        "fit_days": fit_days, "val_days": n_val, "cell_days": int(cell_days), "warmup_days": warmup,
        "early_stopping": {"scheme": "interleaved held-out blocks" if c.val_scheme == "blocks" else "last days",
                           "fraction": float(c.val_fraction), "block_days": int(c.val_block_days),
                           "blocks": [[str(region.times[a].date()), str(region.times[b - 1].date())] for a, b in blocks],
                           "val_days": n_val},
        **objective_info,
        "start": start_info,
        "n_parameters_network": int(sum(q.numel() for q in net.parameters())),
    }
    if cell_pool is not None:
        info["bootstrap"] = {"seed": int(bootstrap_seed), "distinct_cells": int(len(np.unique(cell_pool))),
                             "distinct_window_starts": int(len(np.unique(start_pool)))}
    info["training_diagnostics"] = report_diagnostics(check_training(
        name=name, best_epoch=best_epoch, epochs_run=len(history["train_loss"]),
        monitored="validation loss" if n_val else "training loss", parameter_names=space.names,
        u_cells=u_all.clamp(0.0, 1.0).cpu().double().numpy(), attributes=a_net_all.cpu().double().numpy(),
        u_start=u_start, u_end=u_end, start=str(start_info["kind"])))
    if c.uses_series:
        info["untrained_cells"] = ("Z channel fed as all-missing (zeros, mask 0)" if c.untrained_cell_obs == "hide"
                                   else "Z channel fed with their observations")
    if final_op is not None:
        info["obs_operator"] = final_op.to_dict()
    return TrainOutcome(network=net, network_config=net_config, obs_operator=final_op, normalization=norm, u=u_all,
                        train_cells=train_cells, window=window, history=history, n_evaluations=n_eval, info=info)


def _discharge_training(whole: Region, sur, c: TrainConfig, norm: InputNormalization, train_cells: np.ndarray,
                        held: np.ndarray, warmup: int, window: int, fit_days: int, name: str, device):
    """The discharge step of an objective with q (:mod:`vic_paraformer.dl.discharge_step`): the gauged
    basins of ``whole``, their cells' inputs and the observed discharge with the held-out days hidden."""
    from ..errors import SurrogateError
    from .basins import GaugedBasins
    from .discharge_step import DischargeTraining

    try:
        sur.require_outputs(("runoff", "baseflow"), f"objective {c.objective_options.objective!r} (discharge)")
    except SurrogateError as exc:
        raise StrategyError(f"strategy {name!r}: {exc}") from None
    basins = GaugedBasins.of(whole, objective=c.objective_options.objective)
    part = whole.load_cells(basins.rows)
    x_q, a_q = sur.prepare(part)
    a_net = torch.as_tensor(norm.attributes(part), device=device)
    trained = np.isin(part.cells, train_cells)
    s_net = None
    if c.uses_series:
        fit = part
        if held.any() and part.has("obs_sm"):
            o = part.observations("obs_sm")
            o[:, held] = np.nan
            fit = Region(part.ds.assign(obs_sm=(("cell", "time"), o.astype(np.float32))), validate=False)
        use = trained if c.untrained_cell_obs == "hide" else np.ones(part.n_cells, bool)
        s_net = torch.as_tensor(norm.series(fit, use), device=device)
    obs_q = basins.obs_q.copy()
    obs_q[:, held] = np.nan
    qt = DischargeTraining(basins, x_q.to(device), a_q.to(device), a_net, s_net, obs_q, warmup=warmup, window=window,
                           fit_days=fit_days, q_cells=int(c.q_cells), z_dropout=float(c.z_dropout), name=name,
                           runoff_index=sur.output_index("runoff"), baseflow_index=sur.output_index("baseflow"),
                           device=device)
    log.info("%s: discharge at %d gauge(s) from %d basin cell(s) (%d training cells), %d-day discharge windows",
             name, basins.n_gauges, basins.rows.size, int(trained.sum()), qt.length)
    return qt


def _predict(sur, x, a, theta_u, bs: int) -> torch.Tensor:
    """Surrogate outputs ``(C, T, 2)`` over the whole series for normalised parameters (no gradients)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(theta_u), max(1, bs)):
            sl = slice(i, i + bs)
            out.append(sur.predict_tensor(x[sl], a[sl], theta_u[sl]) if hasattr(sur, "predict_tensor")
                       else sur(x[sl], a[sl], theta_u[sl]))
    return torch.cat(out)


def _full_run(net, sur, x_sur, a_sur, a_net, s_net, n_days, window, bs, param_windows) -> tuple[np.ndarray, np.ndarray]:
    """The training cells' whole-period surrogate outputs ``(C, T, 2)`` at the network's current parameters,
    and those (unclamped, normalised) parameters ``(C, p)``."""
    was = net.training
    net.eval()
    u = cell_u(net, a_net, s_net, n_days, window, param_windows, bs)
    out = _predict(sur, x_sur, a_sur, u.clamp(0.0, 1.0), bs).cpu().numpy().astype(float)
    net.train(was)
    return out, u.detach().cpu().numpy().astype(float)


def _clamped_u(net, a_net, s_net, n_days, window, param_windows, bs) -> np.ndarray:
    """The cells' network output clamped to 0..1, ``(C, p)`` float64, in evaluation mode (draws no random numbers)."""
    was = net.training
    net.eval()
    u = cell_u(net, a_net, s_net, n_days, window, param_windows, bs).clamp(0.0, 1.0).cpu().double().numpy()
    net.train(was)
    return u


def _et_inputs(et, obs_et, ref_et, wb_et=None) -> dict[str, Any]:
    """The ET arguments of :meth:`Objective.terms`: the ``sm+et`` term's (``obs_et`` given) and the
    water-balance term's (``ref_et`` given; over ``wb_et``'s days, default ``et``'s)."""
    kw: dict[str, Any] = {}
    if obs_et is not None:
        kw.update(et=et, obs_et=obs_et)
    if ref_et is not None:
        kw.update(wb_et=et if wb_et is None else wb_et, ref_et=ref_et)
    return kw


def _validation_loss(objective: Objective, full: np.ndarray, u: np.ndarray, op, obs: np.ndarray, held: np.ndarray,
                     warmup: int, ref, obs_et, prior_u, q=None, obs_q=None) -> float:
    """The objective on the held-out days: SM RMSE through the operator fitted on the other days
    (+ ET, scaled, for sm+et; + discharge at the gauges, ``q``/``obs_q`` ``(gauge, day)`` whole-period
    routed and observed, for objectives with q, on the held-out days after the surrogate's warm-up and
    the routing kernel, :meth:`~vic_paraformer.dl.discharge_step.DischargeTraining.scored`) plus the
    water-balance term over all days after the warm-up and the prior term (no range-boundary loss: a
    training regulariser of the network's raw output)."""
    kw = _et_inputs(full[..., 1][:, held], None if obs_et is None or not objective.options.uses_et
                    else obs_et[:, held], None if ref is None else ref[:, warmup:], full[..., 1][:, warmup:])
    if prior_u is not None:
        kw.update(u=u, prior_u=prior_u)
    if q is not None:
        kw.update(q=q[:, held], obs_q=obs_q[:, held])
    return objective.without_range_boundary().evaluate(full[..., 0][:, held], obs[:, held], operator=op, **kw)["total"]


#: Adam steps that fit a freshly initialised network's output to the default parameters (``start="prior"``).
PRIOR_START_STEPS: int = 150


def resolve_start(start: str, loss: str, has_own_parameters: bool = True) -> str:
    """``"prior"`` or ``"random"`` for the ``start`` option.

    ``"auto"``: prior for loss wb when the region carries its own parameters (e.g. read from a VIC
    parameter file: an informed, per-cell starting point), random otherwise (the paper loss, or a
    region whose only prior is one set of typical values for every cell)."""
    if start == "auto":
        return "prior" if loss == "wb" and has_own_parameters else "random"
    return start


def _start_at_prior(net, c, defaults, space, train_idx, a_net, s_net, fit_days, window, rng, device) -> dict[str, Any]:
    """With ``start="prior"``: move the network's output to the region's default parameters first.

    ``defaults`` is :func:`~vic_paraformer.parameters.default_parameters`' ``(values, source)``.

    A randomly initialised network starts anywhere in the parameter space, often at a corner
    (a drained column) where the surrogate's ET hardly responds to the parameters, so the
    water-balance term has no gradient to pull it back. Starting at the defaults puts the
    calibration where its water-balance reference was computed and where the surrogate's data
    are densest (the samples around the defaults); the observations then move it away.

    How depends on the defaults. Where they differ between the training cells (spread above
    :data:`~vic_paraformer.dl.diagnostics.MIN_PARAMETER_SPREAD`), the whole network is fitted to
    them (:data:`PRIOR_START_STEPS` Adam steps). Where they are one set for every training cell
    (typical values, or a VIC setup with uniform soil parameters) only the output layer's bias is
    shifted so that the training cells' mean output is that set, and every weight keeps its random
    initialisation: fitting a whole transformer to a constant makes it a constant function of its
    inputs (measured: the output's sensitivity to the attributes fell 1000-fold and the trained
    ParaFormer-Z then gave every cell the same parameters, spread 0.0001).
    """
    values, source = defaults
    kind = resolve_start(str(c.start), str(c.objective_options.loss), source == OWN_PARAMETERS)
    if kind != "prior":
        return {"kind": kind}
    target = torch.as_tensor(np.asarray(space.normalize(values[train_idx]), np.float32), device=device)
    bs = int(c.batch_size)
    head = _output_layer(net, target.shape[1])
    if head is not None and float(target.std(0, unbiased=False).max()) < MIN_PARAMETER_SPREAD:
        u0 = torch.as_tensor(_clamped_u(net, a_net, s_net, fit_days, window, c.param_windows, bs), device=device)
        with torch.no_grad():  # clamping is harmless: an untrained output is near 0.5 (init_head)
            head.bias += (target - u0).mean(0)
        u1 = _clamped_u(net, a_net, s_net, fit_days, window, c.param_windows, bs)
        mse = float(np.mean((u1 - target.cpu().numpy()) ** 2))
        log.info("started at the default parameters (%s, one set for every training cell): output bias shifted, "
                 "output mse %.2e", source, mse)
        return {"kind": "prior", "rule": "output bias shifted (the defaults are one set for every training cell)",
                "mse": mse, "prior": "default parameters: " + source}
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    n = len(train_idx)
    was = net.training
    net.train()
    mse = math.nan
    for _ in range(PRIOR_START_STEPS):
        ci = torch.as_tensor(rng.choice(n, size=bs, replace=n < bs), device=device)
        s_b = None
        if s_net is not None:
            t0 = rng.integers(0, fit_days - window + 1, size=bs)
            days = torch.as_tensor(t0[:, None] + np.arange(window)[None, :], device=device)
            s_b = s_net[ci[:, None], days]
        loss = ((net(a_net[ci], s_b) - target[ci]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        mse = float(loss.detach())
    net.train(was)
    log.info("started at the default parameters (%s): %d steps, output mse %.2e", source, PRIOR_START_STEPS, mse)
    return {"kind": "prior", "rule": "network fitted", "steps": PRIOR_START_STEPS, "mse": mse,
            "prior": "default parameters: " + source}


def _output_layer(net: torch.nn.Module, p: int) -> torch.nn.Linear | None:
    """The network's output layer: its last ``Linear`` module with ``p`` outputs and a bias (None if it has none)."""
    found = None
    for m in net.modules():
        if isinstance(m, torch.nn.Linear) and m.out_features == p and m.bias is not None:
            found = m
    return found


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _snapshot(net) -> dict[str, Any]:
    return {"net": {k: v.detach().clone() for k, v in net.state_dict().items()}}


def _restore(net, state) -> None:
    net.load_state_dict(state["net"])
