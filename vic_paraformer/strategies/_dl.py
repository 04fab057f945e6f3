"""Shared machinery of the deep-learning strategies (ParaFormer-A/Z, FFN-A, LSTM-Z).

Training (paper Fig. 1b, section 4.2)
-------------------------------------
A network ``F`` maps a cell's inputs to normalised parameters ``u`` (unbounded, see
:mod:`.nets`). A frozen, differentiable surrogate of the hydrological model turns
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
* Validation: the last ``val_fraction`` (default 0.2) of the region's days are held out. After
  each epoch the per-cell parameters (computed as for the final result, from the fitting days
  only) drive the surrogate over the whole period and the masked RMSE on the held-out days of the
  training cells is the validation loss. Training stops after ``patience`` epochs without
  improvement and the best weights are restored (with ``val_fraction=0`` the training loss is
  monitored instead).
* History: ``train_loss`` is the mean minibatch loss of an epoch (masked RMSE + RBL, plus the
  observation-operator penalty when on); ``val_loss`` the RMSE on the held-out days (m3 m-3).
  ``n_evaluations`` counts surrogate cell-window runs (training windows plus one whole-period run
  per training cell per validation); ``info["cell_days"]`` the simulated cell-days.
* Optimiser: AdaDelta (``rho=0.95``, weight decay 1e-5) as in the paper, with a default ``lr``
  (a multiplier of AdaDelta's adaptive step) per network that trained stably on the synthetic
  twin: ParaFormer-A 0.2, ParaFormer-Z 0.5, FFN-A 0.5, LSTM-Z 1.0 (the transformers oscillate at
  1.0). ``optimizer="adam"`` / ``"adamw"`` use ``lr=3e-4`` by default; ``lr`` and
  ``weight_decay`` are options.
* Reproducible: ``torch.manual_seed(seed)`` inside a forked RNG state (the caller's global RNG is
  untouched) and a numpy ``Generator(seed)`` for the minibatch draws; on CPU the same seed
  gives the same parameters.
* Presets: ``preset="paper"`` uses the paper's architecture sizes (section 4.2), ``"small"``
  reduced ones for quick CPU runs (each strategy module lists them); both set ``epochs``,
  ``batch_size`` and ``patience`` too (paper: 30 / 32 / 8, small: 20 / 16 / 5; the paper's 3000
  epochs are out of reach on a CPU). The default ``"auto"`` is ``"paper"`` on a GPU and, on a CPU,
  ``"paper"`` for the attribute models (ParaFormer-A, FFN-A) but ``"small"`` for the series
  models (ParaFormer-Z, LSTM-Z), whose paper sizes cost 30-40 s per epoch on an 8 x 8 x 3-year
  region on one CPU core. The resolved preset is recorded in the result's options. Explicit
  options override the preset.
* Device: ``device="auto"`` uses CUDA when available. ``threads`` (default: torch's setting)
  sets the CPU threads for the run (restored afterwards); on a machine whose cores are shared
  with other jobs ``threads=1`` is often many times faster than oversubscribed threads.

Per-cell parameters of the Z models
-----------------------------------
ParaFormer-Z and LSTM-Z produce a parameter set per *window*. A cell's parameters are the mean of
the network's ``u`` over ``param_windows`` (default 4) evenly spaced windows covering its period
(the whole region for the result, the fitting days for validation), clamped to [0, 1].

Cells without observations (Z models)
-------------------------------------
A cell that is not a training cell gets its Z channel as *all missing* (zeros with mask 0) while
its forcing and attributes are used as usual. The network learns that case during training: each
training window has its whole Z channel hidden with probability ``z_dropout`` (default 0.1).
:func:`apply_model` (parameters for a new region without retraining) uses every observation the
new region has, as there is no training set there.

Bounds
------
The final parameters are ``denormalize(clamp(u, 0, 1))`` and therefore always inside the
parameter space's bounds.

Model files
-----------
``calibrator.save_model(path)`` (or the option ``model_out``) writes, atomically, a plain dict
loadable with ``torch.load(weights_only=True)``: network kind and config, ``state_dict``, the
input normalisation statistics, the parameter space, options, seed, the observation operator (if
any) and library versions. :func:`load_model` reads it and :func:`apply_model` produces a
:class:`~vic_paraformer.calibrator.CalibrationResult` for any region with the same attributes.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from .._io import atomic_path, load_torch_file
from ..calibrator import CalibrationResult, Calibrator, library_versions
from ..errors import StrategyError, SurrogateError
from ..losses import masked_rmse, range_boundary_loss
from ..parameters import ParameterSpace
from ..region import Region
from .nets import build_network
from .obs_operator import ObservationOperator

log = logging.getLogger(__name__)

MODEL_FORMAT = "vic_paraformer.dl_model"
MODEL_VERSION = 1

#: Options every DL strategy accepts (``None`` = taken from the chosen ``preset``).
COMMON_OPTIONS: dict[str, Any] = {
    "surrogate": None,
    "preset": "auto",
    "epochs": None,
    "batch_size": None,
    "batches_per_epoch": None,
    "window": 240,
    "patience": None,
    "optimizer": "adadelta",
    "lr": None,
    "weight_decay": 1e-5,
    "dropout": None,
    "val_fraction": 0.2,
    "device": "auto",
    "obs_operator": False,
    "obs_operator_l2": 0.01,
    "model_out": None,
    "progress": True,
    "threads": None,
}
#: Extra options of the Z models (inputs include the observed series).
SERIES_OPTIONS: dict[str, Any] = {"z_dropout": 0.1, "param_windows": 4}

#: Training settings of the presets (architecture presets are per strategy).
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"epochs": 30, "batch_size": 32, "patience": 8},
    "small": {"epochs": 20, "batch_size": 16, "patience": 5},
}
#: Default learning rates (AdaDelta's per strategy: ``DLCalibrator.adadelta_lr``).
DEFAULT_LR = {"adadelta": 1.0, "adam": 3e-4, "adamw": 3e-4}
MIN_BATCHES_PER_EPOCH = 20  # default floor of minibatches per epoch (see the module docstring)
N_SERIES_EXTRA = 2  # observed sm (gaps = 0) and its mask


@dataclass
class InputNormalization:
    """Standardisation of the network inputs (stored in model files).

    Attributes are standardised with the mean/std over the calibrated region's cells, forcing
    per variable over the training cells' days (``prec`` after ``log1p``), observed soil moisture
    with the mean/std of the training cells' observations.
    """

    attribute_names: list[str]
    attribute_mean: list[float]
    attribute_std: list[float]
    forcing_names: list[str]
    forcing_mean: list[float]
    forcing_std: list[float]
    sm_mean: float
    sm_std: float

    @classmethod
    def fit(cls, region: Region, train_idx: np.ndarray) -> "InputNormalization":
        att = region.attributes().astype(np.float64)
        f = _log_prec(region.forcing()[train_idx].astype(np.float64), region.forcing_names).reshape(-1, len(region.forcing_names))
        obs = region.observations("obs_sm")[train_idx]
        obs = obs[np.isfinite(obs)]
        return cls(list(region.attribute_names), _f(att.mean(0)), _f(_safe(att.std(0))), list(region.forcing_names),
                   _f(f.mean(0)), _f(_safe(f.std(0))), float(obs.mean()), float(_safe(np.array([obs.std()]))[0]))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def attributes(self, region: Region) -> np.ndarray:
        """Normalised attributes ``(C, n_attr)`` in the stored order (RegionError if one is missing)."""
        a = region.attributes(self.attribute_names).astype(np.float64)
        return ((a - np.asarray(self.attribute_mean)) / np.asarray(self.attribute_std)).astype(np.float32)

    def series(self, region: Region, use_obs: np.ndarray) -> np.ndarray:
        """Network series input ``(C, T, n_forcing + 2)``: forcing, observed sm (gaps 0), mask.

        Observations of cells where ``use_obs`` is False are hidden (all missing).
        """
        missing = [n for n in self.forcing_names if n not in region.forcing_names]
        if missing:
            raise StrategyError(f"region lacks forcing {missing} needed by the model")
        f = _log_prec(region.forcing(self.forcing_names).astype(np.float64), self.forcing_names)
        f = (f - np.asarray(self.forcing_mean)) / np.asarray(self.forcing_std)
        if region.has("obs_sm"):
            obs = region.observations("obs_sm")
        else:
            obs = np.full((region.n_cells, region.n_days), np.nan)
        mask = np.isfinite(obs) & np.asarray(use_obs, bool)[:, None]
        z = np.where(mask, (np.nan_to_num(obs) - self.sm_mean) / self.sm_std, 0.0)
        return np.concatenate([f, z[..., None], mask[..., None].astype(np.float64)], axis=-1).astype(np.float32)


def _f(x) -> list[float]:
    return [float(v) for v in np.asarray(x).ravel()]


def _safe(s: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(s) & (s > 1e-8), s, 1.0)


def _log_prec(f: np.ndarray, names) -> np.ndarray:
    if "prec" in names:
        i = list(names).index("prec")
        f = np.array(f, copy=True)
        f[..., i] = np.log1p(np.maximum(f[..., i], 0.0))
    return f


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cpu"``/``"cuda"`` as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise StrategyError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise StrategyError("device 'cuda' was requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def window_starts(n_days: int, window: int, k: int) -> list[int]:
    """``k`` evenly spaced starts of ``window``-day windows covering ``n_days`` (fewer if short)."""
    if n_days <= window:
        return [0]
    return sorted(set(np.linspace(0, n_days - window, max(1, k)).round().astype(int).tolist()))


class DLCalibrator(Calibrator):
    """Base class of the DL strategies: subclasses set ``network_kind``, ``uses_series`` and
    ``arch_presets`` (architecture options per preset) and list their options."""

    network_kind: ClassVar[str] = ""
    uses_series: ClassVar[bool] = False
    arch_presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: What ``preset="auto"`` means without CUDA ("paper" on a GPU).
    cpu_preset: ClassVar[str] = "paper"
    #: Default AdaDelta learning rate (a multiplier of AdaDelta's own step; tuned per network).
    adadelta_lr: ClassVar[float] = 1.0

    def __init__(self, *, seed: int = 0, parameter_space=None, **options: Any) -> None:
        super().__init__(seed=seed, parameter_space=parameter_space, **options)
        self._space_given = parameter_space is not None
        preset = self.options["preset"]
        if preset == "auto":
            preset = "paper" if resolve_device(self.options["device"]).type == "cuda" else self.cpu_preset
            self.options["preset"] = preset
        if preset not in TRAIN_PRESETS or preset not in self.arch_presets:
            raise StrategyError(f"strategy {self.name!r}: unknown preset {preset!r}; expected 'auto' or one of "
                                f"{sorted(TRAIN_PRESETS)}")
        opt = str(self.options["optimizer"]).lower()
        if opt not in DEFAULT_LR:
            raise StrategyError(f"strategy {self.name!r}: unknown optimizer {opt!r}; expected one of {sorted(DEFAULT_LR)}")
        self.options["optimizer"] = opt
        for key, value in {**TRAIN_PRESETS[preset], **self.arch_presets[preset]}.items():
            if self.options.get(key) is None:
                self.options[key] = value
        if self.options["lr"] is None:
            self.options["lr"] = self.adadelta_lr if opt == "adadelta" else DEFAULT_LR[opt]
        self._check_options()
        self.network: torch.nn.Module | None = None
        self.obs_operator: ObservationOperator | None = None
        self._model_payload: dict[str, Any] | None = None

    # ------------------------------------------------------------------ options
    def _check_options(self) -> None:
        o = self.options
        for key in ("epochs", "batch_size", "window", "patience"):
            if not isinstance(o[key], (int, np.integer)) or isinstance(o[key], bool) or o[key] < 1:
                raise StrategyError(f"strategy {self.name!r}: option {key} must be a positive integer, got {o[key]!r}")
        if o["batches_per_epoch"] is not None and int(o["batches_per_epoch"]) < 1:
            raise StrategyError(f"strategy {self.name!r}: batches_per_epoch must be >= 1, got {o['batches_per_epoch']!r}")
        if not 0.0 <= float(o["val_fraction"]) < 0.9:
            raise StrategyError(f"strategy {self.name!r}: val_fraction must be in [0, 0.9), got {o['val_fraction']!r}")
        if not 0.0 <= float(o["dropout"]) < 1.0:
            raise StrategyError(f"strategy {self.name!r}: dropout must be in [0, 1), got {o['dropout']!r}")
        if o["threads"] is not None and (not isinstance(o["threads"], (int, np.integer)) or o["threads"] < 1):
            raise StrategyError(f"strategy {self.name!r}: threads must be a positive integer or None, got {o['threads']!r}")
        if float(o["lr"]) <= 0:
            raise StrategyError(f"strategy {self.name!r}: lr must be > 0, got {o['lr']!r}")
        if self.uses_series:
            if not 0.0 <= float(o["z_dropout"]) < 1.0:
                raise StrategyError(f"strategy {self.name!r}: z_dropout must be in [0, 1), got {o['z_dropout']!r}")
            if int(o["param_windows"]) < 1:
                raise StrategyError(f"strategy {self.name!r}: param_windows must be >= 1, got {o['param_windows']!r}")

    def network_config(self, n_attr: int, n_series: int, n_params: int) -> dict[str, Any]:
        """The constructor kwargs of :func:`.nets.build_network` (``kind`` included)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ surrogate
    def _surrogate(self):
        sur = self.options.get("surrogate")
        if sur is None:
            raise StrategyError(f"strategy {self.name!r} needs option 'surrogate' (a trained surrogate file or a "
                                "Surrogate object); train one with `vic-paraformer surrogate train`")
        if isinstance(sur, (str, Path)):
            from ..surrogate import Surrogate

            sur = Surrogate.load(sur)
        for attr in ("prepare", "check_region", "parameter_space", "warmup"):
            if not hasattr(sur, attr):
                raise StrategyError(f"strategy {self.name!r}: option 'surrogate' is a {type(sur).__name__}, "
                                    f"not a Surrogate (it lacks {attr!r})")
        if sur.parameter_space != self.parameter_space:
            if self._space_given:
                raise StrategyError(
                    f"strategy {self.name!r}: the surrogate was trained on parameter space {sur.parameter_space.to_dict()}, "
                    f"but the calibrator was given {self.parameter_space.to_dict()}; they must be equal")
            self.parameter_space = sur.parameter_space
        return sur

    def validate(self, region: Region) -> list[str]:
        problems = super().validate(region)
        if self.options.get("surrogate") is None:
            problems.append("option 'surrogate' is required (a trained surrogate file or object)")
        elif isinstance(self.options["surrogate"], (str, Path)) and not Path(self.options["surrogate"]).exists():
            problems.append(f"surrogate file {self.options['surrogate']} not found")
        return problems

    # ------------------------------------------------------------------ calibration
    def calibrate(self, region: Region) -> CalibrationResult:
        started = time.perf_counter()
        self.check(region)
        sur = self._surrogate()
        try:
            sur.check_region(region)
        except SurrogateError as exc:
            raise StrategyError(f"strategy {self.name!r}: {exc}") from None
        device = resolve_device(self.options["device"])
        threads = torch.get_num_threads()
        if self.options["threads"]:
            torch.set_num_threads(int(self.options["threads"]))
        try:
            cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(self.seed)
                result = self._calibrate(region, sur, device, started)
        finally:
            torch.set_num_threads(threads)
        return result

    def _calibrate(self, region: Region, sur, device: torch.device, started: float) -> CalibrationResult:
        o = self.options
        rng = np.random.default_rng(self.seed)
        sur.to(device)
        sur.eval()
        frozen = [p for p in sur.parameters() if p.requires_grad]
        if frozen:
            raise StrategyError(f"strategy {self.name!r}: the surrogate is not frozen (call its freeze() first)")
        warmup = int(sur.warmup)
        cells = region.cells
        train_cells = np.asarray(region.training_cells)
        train_idx = np.flatnonzero(np.isin(cells, train_cells))
        n_days = region.n_days
        n_val = int(round(float(o["val_fraction"]) * n_days))
        fit_days = n_days - n_val
        window = min(int(o["window"]), fit_days)
        if window <= warmup:
            raise StrategyError(
                f"strategy {self.name!r}: the region's fitting period has {fit_days} days ({n_days} days minus "
                f"{n_val} validation days); windows need more than the surrogate's {warmup} warm-up days")
        obs_all = region.observations("obs_sm")
        if n_val and not np.isfinite(obs_all[train_idx, fit_days:]).any():
            log.warning("no observations in the %d validation days; monitoring the training loss instead", n_val)
            n_val, fit_days = 0, n_days
        if not np.isfinite(obs_all[train_idx, :fit_days]).any():
            raise StrategyError(f"strategy {self.name!r}: the training cells have no observations in the fitting period")

        # --- tensors -----------------------------------------------------------------
        norm = InputNormalization.fit(region, train_idx)
        x_sur, a_sur = sur.prepare(region)
        x_sur, a_sur = x_sur[train_idx].to(device), a_sur[train_idx].to(device)
        a_net_all = torch.as_tensor(norm.attributes(region), device=device)
        a_net = a_net_all[train_idx]
        s_net = None
        if self.uses_series:
            use_obs = np.isin(cells, train_cells)
            s_all = torch.as_tensor(norm.series(region, use_obs), device=device)
            s_net = s_all[train_idx]
        obs = torch.as_tensor(obs_all[train_idx].astype(np.float32), device=device)
        n_series = len(norm.forcing_names) + N_SERIES_EXTRA

        # --- model -------------------------------------------------------------------
        config = self.network_config(a_net.shape[1], n_series, self.parameter_space.n)
        net = build_network(config).to(device)
        self.network = net
        self.obs_operator = ObservationOperator(len(train_idx)).to(device) if o["obs_operator"] else None
        params = list(net.parameters()) + (list(self.obs_operator.parameters()) if self.obs_operator is not None else [])
        optim = _optimizer(o["optimizer"], params, float(o["lr"]), float(o["weight_decay"]))
        p = self.parameter_space.n
        zeros, ones = torch.zeros(p, device=device), torch.ones(p, device=device)

        bs = int(o["batch_size"])
        n_train = len(train_idx)
        n_batches = int(o["batches_per_epoch"]
                        or max(MIN_BATCHES_PER_EPOCH, math.ceil(n_train * fit_days / (bs * window))))
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        n_eval, cell_days = 0, 0
        best, best_epoch, best_state, stale = math.inf, 0, None, 0
        from tqdm.auto import tqdm

        bar = tqdm(range(int(o["epochs"])), desc=f"{self.name} training", unit="epoch", disable=not o["progress"])
        try:
            for epoch in bar:
                net.train()
                losses = []
                for _ in range(n_batches):
                    ci = rng.choice(n_train, size=bs, replace=n_train < bs)
                    t0 = rng.integers(0, fit_days - window + 1, size=bs)
                    days = torch.as_tensor(t0[:, None] + np.arange(window)[None, :], device=device)
                    ci_t = torch.as_tensor(ci, device=device)
                    y_obs = obs[ci_t[:, None], days]
                    if not torch.isfinite(y_obs[:, warmup:]).any():
                        continue
                    s_b = None
                    if s_net is not None:
                        s_b = s_net[ci_t[:, None], days]
                        hide = torch.as_tensor(rng.random(bs) < float(o["z_dropout"]), device=device)
                        if hide.any():
                            s_b = s_b.clone()
                            s_b[hide, :, -N_SERIES_EXTRA:] = 0.0
                    u = net(a_net[ci_t], s_b)
                    y = sur(x_sur[ci_t[:, None], days], a_sur[ci_t], u.clamp(0.0, 1.0))
                    sm = y[..., 0]
                    loss = range_boundary_loss(u, zeros, ones)
                    if self.obs_operator is not None:
                        sm = self.obs_operator(sm, ci_t)
                        loss = loss + float(o["obs_operator_l2"]) * self.obs_operator.penalty()
                    loss = loss + masked_rmse(sm[:, warmup:], y_obs[:, warmup:])
                    optim.zero_grad(set_to_none=True)
                    loss.backward()
                    optim.step()
                    losses.append(float(loss.detach()))
                    n_eval += bs
                    cell_days += bs * window
                train_loss = float(np.mean(losses)) if losses else math.nan
                history["train_loss"].append(train_loss)
                if n_val:
                    val_loss = self._validation_loss(sur, x_sur, a_sur, a_net, s_net, obs, fit_days, window, bs)
                    n_eval += n_train
                    cell_days += n_train * n_days
                else:
                    val_loss = train_loss
                history["val_loss"].append(val_loss)
                bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
                log.info("%s epoch %d: train %.5f, val %.5f", self.name, epoch + 1, train_loss, val_loss)
                if val_loss < best - 1e-7:
                    best, best_epoch, stale = val_loss, epoch + 1, 0
                    best_state = _snapshot(net, self.obs_operator)
                else:
                    stale += 1
                    if stale >= int(o["patience"]):
                        log.info("%s: early stop after epoch %d (best epoch %d)", self.name, epoch + 1, best_epoch)
                        break
        finally:
            bar.close()
        if best_state is not None:
            _restore(net, self.obs_operator, best_state)
        net.eval()

        # --- parameters for every cell ---------------------------------------------
        s_final = s_all if self.uses_series else None
        u_all = self._cell_u(a_net_all, s_final, n_days, window, bs)
        values = self.parameter_space.denormalize(u_all.clamp(0.0, 1.0).cpu().double().numpy())
        values = self.parameter_space.clip(values)
        info: dict[str, Any] = {
            "surrogate": str(o["surrogate"]) if isinstance(o["surrogate"], (str, Path)) else repr(o["surrogate"]),
            "device": str(device), "epochs_run": len(history["train_loss"]), "best_epoch": best_epoch,
            "best_val_loss": best, "batches_per_epoch": n_batches, "window": window, "warmup": warmup,
            "fit_days": fit_days, "val_days": n_val, "cell_days": int(cell_days),
            "n_parameters_network": int(sum(q.numel() for q in net.parameters())),
        }
        if self.uses_series:
            info["untrained_cells"] = "Z channel fed as all-missing (zeros, mask 0)"
        if self.obs_operator is not None:
            info["obs_operator"] = self.obs_operator.to_info(cells[train_idx])
        self._model_payload = self._payload(config, norm, train_cells, window, info.get("obs_operator"))
        if o["model_out"]:
            self.save_model(o["model_out"])
            info["model_file"] = str(o["model_out"])
        result = self._result(region, values, started=started, history=history, n_evaluations=n_eval, info=info)
        result.options = _plain_options(self.options)
        return result

    def _cell_u(self, a_net: torch.Tensor, s_net: torch.Tensor | None, n_days: int, window: int, bs: int) -> torch.Tensor:
        """Per-cell ``u`` (unclamped); Z models average over ``param_windows`` windows of ``n_days``."""
        return cell_u(self.network, a_net, s_net, n_days, window, int(self.options.get("param_windows", 1)), bs)

    def _validation_loss(self, sur, x_sur, a_sur, a_net, s_net, obs, fit_days, window, bs) -> float:
        net = self.network
        net.eval()
        with torch.no_grad():
            u = self._cell_u(a_net, None if s_net is None else s_net[:, :fit_days], fit_days, window, bs)
            theta = u.clamp(0.0, 1.0)
            sq, n = 0.0, 0
            for i in range(0, len(theta), bs):
                sl = slice(i, i + bs)
                sm = sur.predict_tensor(x_sur[sl], a_sur[sl], theta[sl])[..., 0] if hasattr(sur, "predict_tensor") \
                    else sur(x_sur[sl], a_sur[sl], theta[sl])[..., 0]
                if self.obs_operator is not None:
                    sm = self.obs_operator(sm, torch.arange(i, i + len(sm), device=sm.device))
                o = obs[sl, fit_days:]
                valid = torch.isfinite(o)
                d = torch.where(valid, sm[:, fit_days:] - torch.nan_to_num(o), torch.zeros_like(o))
                sq += float((d ** 2).sum())
                n += int(valid.sum())
        net.train()
        return math.sqrt(sq / max(n, 1))

    # ------------------------------------------------------------------ model files
    def _payload(self, config, norm: InputNormalization, train_cells, window: int, obs_op) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "strategy": self.name,
            "network": dict(config),
            "uses_series": bool(self.uses_series),
            "window": int(window),
            "param_windows": int(self.options.get("param_windows", 1)),
            "normalization": norm.to_dict(),
            "parameter_space": self.parameter_space.to_dict(),
            "options": _plain_options(self.options),
            "seed": self.seed,
            "train_cells": [int(c) for c in train_cells],
            "obs_operator": obs_op,
            "versions": library_versions(),
        }

    def save_model(self, path: str | Path) -> Path:
        """Write the trained network (state_dict + config + normalisation + space + versions) atomically."""
        if self.network is None or self._model_payload is None:
            raise StrategyError(f"strategy {self.name!r}: no trained model to save; run calibrate() first")
        payload = dict(self._model_payload)
        payload["state_dict"] = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        log.info("saved %s model to %s", self.name, path)
        return Path(path)


def cell_u(net: torch.nn.Module, a_net: torch.Tensor, s_net: torch.Tensor | None, n_days: int, window: int,
           param_windows: int, bs: int) -> torch.Tensor:
    """Network output per cell ``(C, p)``; with a series input, the mean over evenly spaced windows."""
    out = []
    starts = window_starts(n_days, window, param_windows) if s_net is not None else [0]
    length = min(window, n_days)
    with torch.no_grad():
        for i in range(0, len(a_net), max(1, bs)):
            sl = slice(i, i + bs)
            if s_net is None:
                out.append(net(a_net[sl], None))
            else:
                out.append(torch.stack([net(a_net[sl], s_net[sl, t:t + length]) for t in starts]).mean(0))
    return torch.cat(out) if out else torch.zeros((0, 0))


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _snapshot(net, obs_op) -> dict[str, Any]:
    state = {"net": {k: v.detach().clone() for k, v in net.state_dict().items()}}
    if obs_op is not None:
        state["obs"] = {k: v.detach().clone() for k, v in obs_op.state_dict().items()}
    return state


def _restore(net, obs_op, state) -> None:
    net.load_state_dict(state["net"])
    if obs_op is not None:
        obs_op.load_state_dict(state["obs"])


def _plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in options.items():
        if isinstance(v, Path):
            v = str(v)
        elif v is not None and not isinstance(v, (bool, int, float, str)):
            v = repr(v)
        out[k] = v
    return out


# ---------------------------------------------------------------------- loading / applying
@dataclass
class DLModel:
    """A trained DL calibration network read from a model file (see :func:`load_model`)."""

    strategy: str
    network: torch.nn.Module
    normalization: InputNormalization
    parameter_space: ParameterSpace
    uses_series: bool
    window: int
    param_windows: int
    payload: dict[str, Any]

    def parameters(self, region: Region, device: str | torch.device = "cpu", batch_size: int = 256) -> np.ndarray:
        """Physical parameters ``(C, p)`` for every cell of ``region`` (inside the bounds)."""
        dev = resolve_device(device)
        net = self.network.to(dev).eval()
        a = torch.as_tensor(self.normalization.attributes(region), device=dev)
        s = None
        if self.uses_series:
            s = torch.as_tensor(self.normalization.series(region, np.ones(region.n_cells, bool)), device=dev)
        window = min(self.window, region.n_days)
        u = cell_u(net, a, s, region.n_days, window, self.param_windows, batch_size)
        values = self.parameter_space.denormalize(u.clamp(0.0, 1.0).cpu().double().numpy())
        return self.parameter_space.clip(values)


def load_model(path: str | Path) -> DLModel:
    """Read a model file written by ``save_model`` / option ``model_out`` (``weights_only`` safe)."""
    path = Path(path)
    payload = load_torch_file(path, "model file", StrategyError)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise StrategyError(f"{path}: not a vic_paraformer DL model file (format {MODEL_FORMAT!r} expected)")
    if int(payload.get("version", -1)) > MODEL_VERSION:
        raise StrategyError(f"{path}: model file version {payload.get('version')} is newer than supported ({MODEL_VERSION})")
    try:
        net = build_network(payload["network"])
        net.load_state_dict(payload["state_dict"])
        norm = InputNormalization(**payload["normalization"])
        space = ParameterSpace.from_dict(payload["parameter_space"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise StrategyError(f"{path}: incomplete or inconsistent model file ({type(exc).__name__}: {exc})") from None
    net.eval()
    return DLModel(strategy=str(payload["strategy"]), network=net, normalization=norm, parameter_space=space,
                   uses_series=bool(payload["uses_series"]), window=int(payload["window"]),
                   param_windows=int(payload.get("param_windows", 1)), payload=payload)


def apply_model(path: str | Path, region: Region, *, device: str = "cpu") -> CalibrationResult:
    """Parameters for every cell of ``region`` from a saved model, without retraining.

    The region needs the model's attributes (and, for Z models, its forcing; observations are
    used where present). ``train_cells`` of the result is empty; ``info["applied_model"]`` names
    the file.
    """
    started = time.perf_counter()
    model = load_model(path)
    values = model.parameters(region, device=device)
    params = model.parameter_space.to_dataset(values, region.cells)
    info = {"applied_model": str(path), "versions": library_versions(),
            "model_versions": model.payload.get("versions", {}), "model_train_cells": model.payload.get("train_cells", [])}
    if model.payload.get("obs_operator"):
        info["obs_operator"] = model.payload["obs_operator"]
    return CalibrationResult(params=params, strategy=model.strategy, parameter_space=model.parameter_space,
                             options=dict(model.payload.get("options", {})), seed=model.payload.get("seed"),
                             history={}, n_evaluations=0, wall_time=time.perf_counter() - started,
                             train_cells=np.array([], dtype=int), info=info)
