r"""Surrogate refinement against the simulator: trust the surrogate only where it was checked.

A surrogate-based calibration ends where the surrogate is most likely wrong: at the edge of the
parameter space that fits the observations best *according to the surrogate*. :func:`refine`
checks the result with the real simulator and teaches the surrogate that neighbourhood:

1. calibrate the region with the strategy through the surrogate (round 0);
2. run the simulator at the calibrated parameters and at ``n_local`` seeded parameter sets around
   them (per cell, normalised parameters ``u + sigma * N(0, 1)`` clipped to [0, 1]);
3. score the simulator run at the calibrated parameters with the calibration's own objective
   (:func:`verified_loss`: :class:`~vic_paraformer.objective.Objective` with the result's options,
   every term it was calibrated on: soil-moisture RMSE of the training cells through an operator
   of the result's kind fitted to that run, the ET term of ``sm+et``, the water-balance term
   against the reference of ``wb_reference`` made from the simulator's own default-parameter run,
   and the prior term);
4. add the runs to the refinement data (every round's runs, kept as ``round_<k>/runs.nc``) and,
   when ``store`` (the surrogate's training store) is given, APPEND them to the store as a batch
   labelled ``refinement round <k>`` (:meth:`~vic_paraformer.surrogate.data.TrainingStore.append`):
   the surrogate's training data then covers where calibration went, for this and any later
   training on that store. Fine-tune a copy of the surrogate (``fine_tune_steps`` Adam steps on
   random windows: half of each minibatch from this refinement's runs, half replayed from the
   whole store, appended runs included, so the surrogate does not forget the rest of the space);
5. recalibrate with the fine-tuned surrogate and go back to 2, for at most ``rounds`` rounds or
   until the simulator-verified loss has not improved by ``min_improvement`` (relative) for
   ``patience`` rounds.

The default parameters are a candidate too: their simulator run (the same run that is the
water-balance reference) is scored with the same verified loss, and with ``keep_default=True``
(the default) the best candidate wins. What is returned as ``best``:

* the best calibrated round, when its verified loss is below the default parameters'; else
* with ``keep_default=True``, a result holding the **default parameters** (``strategy`` and
  options of the calibration, the operator fitted to the default run, ``info["refinement"]
  ["default_kept"] = True``) and a warning saying that no calibrated round beat the defaults
  in the simulator; with ``keep_default=False``, the best calibrated round, with the same
  warning and ``info["refinement"]["beats_default"] = False``.

Every round's result is saved (``round_<k>/result.nc``, with ``info["refinement"]``) and logged:
the surrogate-vs-simulator RMSE at the calibrated parameters (SM and ET, training cells), the
simulator-verified loss and the number of simulator runs. The best result is written as
``best.nc``, the last fine-tuned surrogate as ``surrogate.pt``; ``refine_log.json`` holds the
per-round figures and the default parameters' verified loss.

The water-balance reference of the verified loss is the simulator's own default-parameter run
(with ``wb_reference="observed"``: ``obs_et`` where a cell has enough, that run elsewhere), named in
``refine_log.json`` and each round's ``info["refinement"]["wb_reference"]``; inside each
calibration the term is computed through the surrogate at the defaults (the strategy's own
reference), whose error shrinks as the surrogate's training data include the default run
(``anchor_share``, :mod:`vic_paraformer.surrogate.data`).

Long module (over 400 lines): the refinement loop, its verified loss, fine-tuning, the default
candidate and the calibration-with-refinement entry point belong together and share helpers.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import xarray as xr

from ._io import to_netcdf_atomic, to_plain, write_text_atomic
from .calibrator import CalibrationResult
from .ensemble import simulate
from .errors import SurrogateError, VicParaformerError
from .objective import Objective, ObjectiveOptions, describe_reference, pooled_std, reference_et
from .objective import fit_operator as fit
from .parameters import default_parameters
from .region import Region

log = logging.getLogger(__name__)

__all__ = ["refine", "calibrate_refined", "verified_loss", "fine_tune", "auto_refine_rounds", "refine_simulator_options",
           "DEFAULT_REFINE_LOCAL", "RefineOutcome", "RefineError"]

#: Parameter sets around the calibrated ones per refinement round, by default.
DEFAULT_REFINE_LOCAL: int = 8


class RefineError(VicParaformerError, RuntimeError):
    """Refinement cannot run (bad settings, incompatible surrogate or store)."""


@dataclass
class RefineOutcome:
    """The best round's result, every round's result and the per-round log."""

    best: CalibrationResult
    results: list[CalibrationResult]
    log: list[dict[str, Any]]
    best_round: int
    surrogate: Any = None
    out_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _sim_arrays(simulator, region: Region, values: np.ndarray, space) -> dict[str, np.ndarray]:
    """Simulator outputs for ``values`` ``(cell, p)`` or ``(sample, cell, p)`` as numpy arrays."""
    if values.ndim == 2:
        ds = space.to_dataset(values, region.cells)
    else:
        data = {n: (("sample", "cell"), values[..., j]) for j, n in enumerate(space.names)}
        ds = xr.Dataset(data, coords={"sample": np.arange(values.shape[0]), "cell": region.cells})
    out = simulate(simulator, region, ds)  # on the --scheduler cluster when there is one
    return {k: np.asarray(out[k].values, dtype=float) for k in ("sm", "et", "runoff", "baseflow") if k in out}


def verified_loss(result: CalibrationResult, sim_sm: np.ndarray, sim_et: np.ndarray, region: Region, *,
                  ref_et: np.ndarray | None, loss_days: np.ndarray, values: np.ndarray | None = None) -> dict[str, float]:
    """The calibration's own objective (:class:`~vic_paraformer.objective.Objective` with the result's
    options: every term it was calibrated on) evaluated on a simulator run of the training cells.

    ``sim_sm``/``sim_et``/``ref_et`` ``(cell, time)`` over the region's cells; ``loss_days`` boolean
    over time; ``values`` ``(cell, p)`` the parameters of the run (default the result's; the prior
    term). The operator of the result's kind is fitted to the run itself, as in the calibration.
    Returns ``{"loss", "sm_rmse", "wb"}`` and, where the objective has them, ``"et_rmse"``, ``"prior"``.
    """
    opts = ObjectiveOptions.from_options(result.options)
    rows = np.flatnonzero(np.isin(region.cells, result.train_cells))
    obs = region.observations("obs_sm")[rows][:, loss_days]
    obs_et = region.observations("obs_et")[rows][:, loss_days] if region.has("obs_et") else None
    if opts.uses_et and obs_et is None:
        raise RefineError(f"the calibration's objective is {opts.objective!r} but the region has no obs_et to verify "
                          "it on")
    if opts.uses_q:
        raise RefineError(f"the calibration's objective {opts.objective!r} fits discharge; refinement verifies "
                          "objectives of sm and et only")
    objective = Objective(opts, sm_scale=pooled_std(obs), et_scale=1.0 if obs_et is None else pooled_std(obs_et))
    et = np.asarray(sim_et, float)[rows][:, loss_days]
    kw: dict[str, Any] = {}
    if opts.uses_et:
        kw.update(et=et, obs_et=obs_et)
    if ref_et is not None:
        kw.update(wb_et=et, ref_et=np.asarray(ref_et, float)[rows][:, loss_days])
    if opts.prior_weight > 0:
        space = result.parameter_space
        vals = result.values() if values is None else np.asarray(values, float)
        kw.update(u=np.asarray(space.normalize(vals[rows]), float),
                  prior_u=np.asarray(space.normalize(default_parameters(region, space)[0][rows]), float))
    terms = objective.evaluate(np.asarray(sim_sm, float)[rows][:, loss_days], obs, **kw)
    out = {"loss": terms["total"], "sm_rmse": terms["sm_rmse"], "wb": terms.get("wb", 0.0)}
    out.update({k: terms[k] for k in ("et_rmse", "prior") if k in terms})
    return out


def fine_tune(surrogate, region: Region, theta: np.ndarray, y: np.ndarray, *, steps: int = 200, lr: float = 1e-3,
              batch_size: int = 32, seed: int = 0, store=None, replay: float = 0.5):
    """A fine-tuned, frozen copy of ``surrogate`` on simulator runs ``theta (S, C, p)`` -> ``y (S, C, T, n)``
    (the surrogate's outputs, in its ``output_names`` order).

    Minibatches draw random windows of the surrogate's length (loss after its warm-up days, or from
    day 0 for windows that start on the first day) in the standardised output scale it was trained in;
    with a ``store`` (:class:`~vic_paraformer.surrogate.data.TrainingStore` of the same region) a
    ``replay`` fraction of each minibatch comes from the original training runs.
    """
    sur = copy.deepcopy(surrogate)
    for p in sur.parameters():
        p.requires_grad_(True)
    sur._frozen = False
    sur.train(True)
    dev = sur.device
    space = sur.parameter_space
    x_all, a_all = sur.prepare(region)
    mean, std = sur.output_mean.to(dev), sur.output_std.to(dev)
    n_days = region.n_days
    length = min(sur.window, n_days)
    warm = sur.warmup
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    theta_u = torch.as_tensor(np.asarray(space.normalize(theta), np.float32), device=dev)
    y_t = torch.as_tensor(np.asarray(y, np.float32), device=dev)
    rep_theta = rep_y = None
    if store is not None and replay > 0:
        names = tuple(getattr(sur, "output_names", ("sm", "et")))
        if tuple(store.outputs) != names:
            raise SurrogateError(f"{store.path}: the training store holds {', '.join(store.outputs)}; the surrogate "
                                 f"predicts {', '.join(names)} (a store and surrogate of different versions)")
        th, yy = store.load()
        rep_theta = torch.as_tensor(np.asarray(space.normalize(th), np.float32), device=dev)
        rep_y = torch.as_tensor(np.asarray(yy, np.float32), device=dev)
    opt = torch.optim.Adam(sur.parameters(), lr=float(lr))
    ar = torch.arange(length, device=dev)

    def draw(th_u, yy, n):
        s = rng.integers(0, th_u.shape[0], n)
        c = rng.integers(0, th_u.shape[1], n)
        t = rng.integers(0, n_days - length + 1, n)
        t[rng.random(n) < 0.1] = 0
        s_t, c_t, t_t = (torch.as_tensor(v, device=dev) for v in (s, c, t))
        days = t_t[:, None] + ar[None, :]
        mask = (ar[None, :] >= warm) | (t_t[:, None] == 0)
        return x_all[c_t[:, None], days], a_all[c_t], th_u[s_t, c_t], yy[s_t[:, None], c_t[:, None], days], mask

    for _ in range(int(steps)):
        n_rep = int(round(batch_size * replay)) if rep_theta is not None else 0
        parts = [draw(theta_u, y_t, batch_size - n_rep)]
        if n_rep:
            parts.append(draw(rep_theta, rep_y, n_rep))
        xb, ab, tb, yb, mb = (torch.cat(z, 0) for z in zip(*parts))
        pred = sur.forward_normalized(xb, ab, tb)
        target = (yb - mean) / std
        m = mb.unsqueeze(-1).to(pred.dtype)
        loss = ((pred - target) ** 2 * m).sum() / (m.sum() * pred.shape[-1]).clamp_min(1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sur.parameters(), 1.0)
        opt.step()
    sur.info = dict(sur.info)
    sur.info["fine_tuned"] = int(sur.info.get("fine_tuned", 0)) + 1
    return sur.freeze()


def refine_simulator_options(surrogate, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Simulator options for checking ``surrogate``: those its training runs were made with (e.g.
    ``spinup_years``, recorded in ``surrogate.info["simulator_options"]``; a surrogate that did not
    record its spin-up gets its simulator's ``default_spinup_years``), updated by ``given``."""
    from .surrogate.data import recorded_simulator_options

    return {**recorded_simulator_options(surrogate), **dict(given or {})}


def auto_refine_rounds(surrogate, simulator_options: Mapping[str, Any] | None = None) -> tuple[int, str]:
    """Default refinement rounds for a calibration through ``surrogate`` and the reason, as a sentence.

    The ``default_refine_rounds`` of the simulator class the surrogate was trained on (2 for ``vic``;
    0 for the embedded ``waterbalance``, cheap enough to calibrate against directly) when that
    simulator can be built here (e.g. the VIC image driver is found), else 0.
    """
    from .registry import get_simulator
    from .simulators.base import simulator_class

    name = str(getattr(surrogate, "simulator", "unknown"))
    rounds = int(simulator_class(name).default_refine_rounds)
    if rounds == 0:
        return 0, f"no refinement by default for a surrogate of {name!r}"
    try:
        get_simulator(name, **refine_simulator_options(surrogate, simulator_options))
    except (VicParaformerError, OSError, TypeError, ValueError) as exc:
        return 0, f"no refinement: the surrogate's simulator {name!r} cannot run here ({exc})"
    return rounds, f"{rounds} refinement rounds against {name!r} (the default for a surrogate of {name!r})"


def calibrate_refined(region: Region, strategy: str, surrogate, *, rounds: int | None = None,
                      n_local: int = DEFAULT_REFINE_LOCAL, simulator_options: Mapping[str, Any] | None = None,
                      options: Mapping[str, Any] | None = None, store=None, seed: int = 0,
                      out_dir: str | Path | None = None, **refine_options: Any) -> CalibrationResult:
    """A surrogate-based calibration checked against the surrogate's simulator: the library form of
    ``vic-paraformer calibrate --surrogate S [--refine-rounds N]``.

    ``rounds`` None: :func:`auto_refine_rounds` (the simulator class's ``default_refine_rounds``: 2
    for a surrogate of ``vic`` when VIC is found, else 0); 0: the plain calibration through the surrogate. Otherwise
    :func:`refine` with the simulator the surrogate was trained on, run with the options its
    training data were made with updated by ``simulator_options``; returns the best candidate
    (possibly the default parameters, see :func:`refine`). ``info["refine_rounds"]`` records the
    rounds asked for and why.
    """
    from .registry import get_calibrator
    from .surrogate import Surrogate

    if isinstance(surrogate, (str, Path)):
        surrogate = Surrogate.load(surrogate)
    if rounds is None:
        rounds, why = auto_refine_rounds(surrogate, simulator_options)
    else:
        if int(rounds) < 0:
            raise RefineError(f"refinement rounds must be >= 0, got {rounds}")
        why = f"{int(rounds)} refinement rounds asked for"
    opts = {k: v for k, v in dict(options or {}).items() if k != "surrogate"}
    if int(rounds) == 0:
        log.info("%s", why)
        result = get_calibrator(strategy, seed=seed, parameter_space=surrogate.parameter_space, surrogate=surrogate,
                                **opts).calibrate(region)
    else:
        log.info("calibrating with %s through the surrogate, then %s", strategy, why)
        outcome = refine(region, strategy, surrogate, simulator=surrogate.simulator,
                         simulator_options=refine_simulator_options(surrogate, simulator_options), options=opts,
                         rounds=int(rounds), n_local=int(n_local), store=store, seed=seed, out_dir=out_dir,
                         **refine_options)
        result = outcome.best
        if out_dir is not None:
            result.info["refine_dir"] = str(Path(out_dir).resolve())
    result.info["refine_rounds"] = {"rounds": int(rounds), "reason": why}
    return result


def rows_of(region: Region, result: CalibrationResult) -> np.ndarray:
    """Positions in ``region`` of ``result``'s training cells."""
    return np.flatnonzero(np.isin(region.cells, result.train_cells))


def _local_ensemble(space, values: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = np.asarray(space.normalize(values), float)
    samples = np.clip(u[None] + sigma * rng.standard_normal((n,) + u.shape), 0.0, 1.0)
    return np.asarray(space.denormalize(samples), float)


def refine(region: Region, strategy: str, surrogate, *, simulator: str = "waterbalance",
           simulator_options: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
           rounds: int = 3, n_local: int = 8, sigma: float = 0.05, fine_tune_steps: int = 200,
           fine_tune_lr: float = 1e-3, store=None, seed: int = 0, min_improvement: float = 0.01,
           patience: int = 1, out_dir: str | Path | None = None, warmup_days: int | None = None,
           keep_default: bool = True) -> RefineOutcome:
    """Calibrate ``region`` with ``strategy`` through ``surrogate``, then refine (see the module docstring).

    ``surrogate`` is a Surrogate or checkpoint path; ``options`` the strategy's options (``surrogate``
    is set here); ``store`` an optional TrainingStore (or its path) of the surrogate's training runs,
    made from this region: replayed while fine-tuning, and every round's simulator runs are
    appended to it. ``warmup_days`` (default: the result's ``warmup_days``, else the surrogate's
    warm-up) are left out of the verified loss. ``keep_default``: return the default parameters
    when no calibrated round beats them in the simulator (module docstring).
    """
    from .registry import get_calibrator, get_simulator
    from .surrogate import Surrogate
    from .surrogate.data import inputs_hash

    if int(rounds) < 0 or int(n_local) < 0 or not 0 < float(sigma) <= 0.5:
        raise RefineError(f"refine needs rounds >= 0, n_local >= 0 and 0 < sigma <= 0.5; got {rounds}, {n_local}, {sigma}")
    if isinstance(surrogate, (str, Path)):
        surrogate = Surrogate.load(surrogate)
    if isinstance(store, (str, Path)):
        from .surrogate import TrainingStore

        store = TrainingStore.open(store)
    if store is not None and (store.manifest.get("region_fingerprint") != region.fingerprint()
                              or int(store.manifest.get("n_days", -1)) != region.n_days
                              or store.manifest.get("inputs_sha256") not in (None, inputs_hash(region))):
        raise RefineError(f"{store.path}: the training store was made from another region (or period) than the one "
                          "refined; refinement runs can only be appended to the store of the same region")
    out = Path(out_dir) if out_dir is not None else None
    sim = get_simulator(simulator, **dict(simulator_options or {}))
    opts = dict(options or {})
    opts.pop("surrogate", None)

    def calibrate(sur) -> CalibrationResult:
        return get_calibrator(strategy, seed=seed, parameter_space=sur.parameter_space, surrogate=sur, **opts).calibrate(region)

    space = surrogate.parameter_space
    d_vals, d_src = default_parameters(region, space)
    default_run = _sim_arrays(sim, region, d_vals, space)
    n_runs = 1
    ref = None
    result = calibrate(surrogate)
    warm = int(warmup_days if warmup_days is not None else (result.warmup_days if result.warmup_days is not None
                                                            else surrogate.warmup))
    if warm >= region.n_days:
        raise RefineError(f"warm-up of {warm} days leaves nothing of the region's {region.n_days} days to score")
    loss_days = np.zeros(region.n_days, bool)
    loss_days[warm:] = True
    wb_reference = ObjectiveOptions.from_options(result.options).wb_reference
    ref, ref_src = reference_et(default_run["et"], region.observations("obs_et") if region.has("obs_et") else None,
                                loss_days, wb_reference)
    reference = describe_reference(wb_reference, ref_src[rows_of(region, result)], f"the {simulator} simulator", d_src)
    log.info("refinement: the verified loss's water-balance reference ET: %s", reference["description"])
    data_theta: list[np.ndarray] = []
    data_y: list[np.ndarray] = []
    results: list[CalibrationResult] = []
    rows_log: list[dict[str, Any]] = []
    best_loss, best_round, stale = math.inf, 0, 0
    sur = surrogate
    rows = np.flatnonzero(np.isin(region.cells, result.train_cells))
    for k in range(int(rounds) + 1):
        values = result.values()
        theta = np.concatenate([values[None], _local_ensemble(space, values, int(n_local), float(sigma), seed + 1000 * k)])
        runs = _sim_arrays(sim, region, theta, space)
        n_runs += theta.shape[0]
        scores = verified_loss(result, runs["sm"][0], runs["et"][0], region, ref_et=ref, loss_days=loss_days)
        pred = sur.predict(region, values)
        err = {v: float(np.sqrt(np.nanmean((np.asarray(pred[v].values, float)[rows][:, loss_days]
                                            - runs[v][0][rows][:, loss_days]) ** 2))) for v in ("sm", "et")}
        with np.errstate(invalid="ignore", divide="ignore"):
            et_ratio = float(np.nanmedian(runs["et"][0][rows][:, loss_days].mean(1)
                                          / np.nanmean(ref[rows][:, loss_days], axis=1)))
        row = {"round": k, "verified_loss": scores["loss"], "verified_sm_rmse": scores["sm_rmse"],
               "verified_wb": scores["wb"], "surrogate_vs_simulator_rmse_sm": err["sm"],
               "surrogate_vs_simulator_rmse_et": err["et"], "median_et_over_reference": et_ratio,
               "simulator_runs": int(n_runs), "calibration_evaluations": int(result.n_evaluations)}
        rows_log.append(row)
        log.info("refinement round %d: simulator-verified loss %.5f (sm rmse %.5f, wb %.5f); surrogate vs simulator "
                 "rmse sm %.4f, et %.3f; %d simulator runs so far", k, scores["loss"], scores["sm_rmse"], scores["wb"],
                 err["sm"], err["et"], n_runs)
        result.info["refinement"] = {**row, "reference_et": reference["description"], "wb_reference": reference,
                                     "warmup_days": warm}
        results.append(result)
        if out is not None:
            result.save(out / f"round_{k}" / "result.nc")
            to_netcdf_atomic(xr.Dataset(
                {"theta": (("sample", "cell", "parameter"), theta),
                 **{v: (("sample", "cell", "time"), runs[v].astype(np.float32)) for v in runs}},
                coords={"cell": region.cells, "time": region.times, "parameter": list(space.names)}),
                out / f"round_{k}" / "runs.nc")
        if store is not None:
            store.append(theta, runs["sm"], runs["et"], label=f"refinement round {k}", times=region.times,
                         cells=region.cells, parameter_names=space.names, strategy=strategy, seed=int(seed),
                         outputs={v: runs[v] for v in store.outputs[2:]})
        if scores["loss"] < best_loss * (1 - float(min_improvement)):
            best_loss, best_round, stale = scores["loss"], k, 0
        else:
            stale += 1
        if k == int(rounds) or stale >= int(patience):
            break
        data_theta.append(theta)
        data_y.append(np.stack([runs[v] for v in getattr(sur, "output_names", ("sm", "et"))], -1))
        sur = fine_tune(sur, region, np.concatenate(data_theta), np.concatenate(data_y), steps=fine_tune_steps,
                        lr=fine_tune_lr, seed=seed + k, store=store)
        result = calibrate(sur)
    # the default parameters, scored like every round (their run is the water-balance reference)
    d_scores = verified_loss(results[0], default_run["sm"], default_run["et"], region, ref_et=ref, loss_days=loss_days,
                             values=d_vals)
    default_row = {"verified_loss": d_scores["loss"], "verified_sm_rmse": d_scores["sm_rmse"],
                   "verified_wb": d_scores["wb"]}
    calibrated_loss = min(r["verified_loss"] for r in rows_log)
    beats = bool(calibrated_loss < d_scores["loss"])
    best = results[best_round]
    if not beats:
        log.warning("refinement: no calibrated round beat the default parameters in the simulator (verified loss "
                    "%.5f at the defaults, best round %d %.5f); %s", d_scores["loss"], best_round, calibrated_loss,
                    "returning the DEFAULT parameters" if keep_default else "returning the best calibrated round anyway")
        if keep_default:
            best = _default_result(best, region, d_vals, default_run["sm"], loss_days)
            best_round = -1
    summary = {"best_round": best_round, "beats_default": beats, "default_kept": bool(not beats and keep_default),
               "default_parameters": {**default_row, "source": d_src}, "simulator_runs": int(n_runs)}
    best.info["refinement"] = {**dict(best.info.get("refinement") or {}), **summary}
    if out is not None:
        best.save(out / "best.nc")
        if sur is not surrogate:
            sur.save(out / "surrogate.pt")
        write_text_atomic(out / "refine_log.json", json.dumps(to_plain({"strategy": strategy, "simulator": simulator,
                                                                         "rounds": rows_log,
                                                                         "reference_et": reference["description"],
                                                                         "wb_reference": reference, **summary}), indent=1))
    return RefineOutcome(best=best, results=results, log=rows_log, best_round=best_round, surrogate=sur, out_dir=out,
                         info={"reference_et": reference["description"], "wb_reference": reference,
                               "reference_et_source": list(ref_src), **summary})


def _default_result(like: CalibrationResult, region: Region, values: np.ndarray, default_sm: np.ndarray,
                    loss_days: np.ndarray) -> CalibrationResult:
    """A result holding the default parameters, with the operator of ``like``'s kind fitted to the default run."""
    rows = np.flatnonzero(np.isin(region.cells, like.train_cells))
    obs = region.observations("obs_sm")[rows].copy()
    obs[:, ~loss_days] = np.nan
    op = like.obs_operator
    lat, lon = region.ds["lat"].values, region.ds["lon"].values
    operator = fit(op.kind, np.asarray(default_sm, float)[rows], obs, cells=region.cells[rows], lat=lat[rows],
                   lon=lon[rows], new_cells=op.new_cells, **op.options)
    params = like.parameter_space.to_dataset(values, region.cells).assign_coords(lat=("cell", lat), lon=("cell", lon))
    info = {**copy.deepcopy(like.info), "default_parameters_kept": True}
    return CalibrationResult(params=params, strategy=like.strategy, parameter_space=like.parameter_space,
                             options=dict(like.options), seed=like.seed, history={}, n_evaluations=0, wall_time=0.0,
                             train_cells=np.asarray(like.train_cells), info=info, obs_operator=operator,
                             warmup_days=like.warmup_days, spinup_years=like.spinup_years)
