""":class:`DLCalibrator`: the strategy base class of the DL strategies (options -> trainer -> result).

A DL strategy is a thin specification (see :mod:`vic_paraformer.strategies.paraformer_z`): its
registered ``name``, the model-zoo ``network_kind`` it trains and whether that network reads the
observed series (``uses_series``). This class turns the options into a
:class:`~vic_paraformer.dl.config.TrainConfig` (presets: :mod:`vic_paraformer.dl.presets`),
resolves the surrogate (:func:`vic_paraformer.surrogate.resolve.resolve_surrogate`), runs
:func:`vic_paraformer.dl.trainer.train` and builds the result and the model file.

The final parameters are ``denormalize(clamp(u, 0, 1))`` and therefore always inside the
parameter space's bounds.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import numpy as np

from .._io import to_plain
from ..calibrator import Calibrator
from ..errors import StrategyError, SurrogateError
from ..objective import ObjectiveOptions
from ..progress import show_progress
from .config import (COMMON_OPTION_HELP, COMMON_OPTIONS, DEFAULT_LR, HYPERPARAMETER_HELP, SERIES_OPTION_HELP,
                     SERIES_OPTIONS, TrainConfig, option_problems, resolve_device)
from .networks import get_network
from .presets import DL_PRESETS, PAPER_SPLITS, preset_values, resolve_preset

if TYPE_CHECKING:  # torch, the surrogate and the trainer are imported when a strategy runs, not when
    import torch   # its options are listed

    from ..observation import ObservationOperator
    from ..region import Region
    from ..result import CalibrationResult

log = logging.getLogger(__name__)


def network_options(kind: str) -> tuple[bool, Mapping[str, type]]:
    """``(uses_series, hyperparameters)`` of the network ``kind`` from :mod:`.networks`, without
    importing torch (StrategyError if unknown)."""
    spec = get_network(kind)
    return spec.uses_series, spec.hyperparameters


class DLCalibrator(Calibrator):
    """Base class of the DL strategies; subclasses set ``name``, ``description``, ``network_kind``
    and ``uses_series``. Their options are :data:`~vic_paraformer.dl.config.COMMON_OPTIONS`, plus
    :data:`~vic_paraformer.dl.config.SERIES_OPTIONS` for series networks, plus the network's
    hyperparameters (all filled in by ``__init_subclass__``)."""

    #: Model-zoo name of the network this strategy trains.
    network_kind: ClassVar[str] = ""
    #: Whether the network reads the observed series (must match the model zoo's entry).
    uses_series: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.network_kind:
            return
        uses_series, hyperparameters = network_options(cls.network_kind)
        if uses_series != cls.uses_series:
            raise TypeError(f"{cls.__name__}: network {cls.network_kind!r} has uses_series={uses_series}")
        if "default_options" not in cls.__dict__:
            cls.default_options = {**COMMON_OPTIONS, **(SERIES_OPTIONS if cls.uses_series else {}),
                                   **{k: None for k in hyperparameters}}
        if "option_help" not in cls.__dict__:
            cls.option_help = {**COMMON_OPTION_HELP, **(SERIES_OPTION_HELP if cls.uses_series else {}),
                               **{k: HYPERPARAMETER_HELP.get(k, "architecture hyperparameter (None: the preset's)")
                                  for k in hyperparameters}}
        if "option_types" not in cls.__dict__:
            types = {"surrogate": "path", "epochs": "int", "batch_size": "int", "batches_per_epoch": "int",
                     "patience": "int", "lr": "float", "model_out": "path", "threads": "int", "window": "int",
                     "val_fraction": "float", "progress": "bool",
                     "ensemble": "int", "bootstrap": "bool", "ensemble_error": "bool", "q_cells": "int"}
            cls.option_types = {**types, **{k: t.__name__ for k, t in hyperparameters.items()}}

    def __init__(self, *, seed: int = 0, parameter_space=None, **options: Any) -> None:
        self._space_given = parameter_space is not None
        super().__init__(seed=seed, parameter_space=parameter_space, **options)
        self.network: torch.nn.Module | None = None
        #: Members 1..K-1 of a deep ensemble (``self.network`` is member 0); saved with the model.
        self._member_networks: list[torch.nn.Module] = []
        self.obs_operator: ObservationOperator | None = None
        self._model_payload: dict[str, Any] | None = None

    # ------------------------------------------------------------------ options
    def resolve_options(self) -> None:
        o = self.options
        cuda = None
        if o["preset"] in ("auto", "paper"):
            cuda = resolve_device(o["device"]).type == "cuda"
        o["preset"] = resolve_preset(o["preset"], bool(cuda))
        o["optimizer"] = str(o["optimizer"]).lower()
        o["progress"] = show_progress(o["progress"])
        if o["preset"] not in DL_PRESETS or o["paper_split"] not in PAPER_SPLITS or o["optimizer"] not in DEFAULT_LR:
            return  # reported by option_problems
        values = preset_values(o["preset"], self.network_kind, o["paper_split"])
        for key, value in values.items():
            if key != "lr" and o.get(key) is None:
                o[key] = value
        if o["lr"] is None:
            o["lr"] = values["lr"] if o["optimizer"] == "adadelta" else DEFAULT_LR[o["optimizer"]]
        if o["preset"] == "paper" and not cuda:
            log.warning("%s: preset 'paper' is the paper's GPU-sized setup (%d epochs, batch %d); on a CPU it takes "
                        "hours to days; preset 'cpu' is the reduced one", self.name, o["epochs"], o["batch_size"])

    def option_problems(self) -> list[str]:
        return super().option_problems() + option_problems(self.options, uses_series=self.uses_series)

    def train_config(self) -> TrainConfig:
        """The typed configuration of a training run with these options."""
        return TrainConfig.from_options(self.options, self.network_kind, self.uses_series,
                                        network_options(self.network_kind)[1])

    def validate(self, region: Region) -> list[str]:
        from ..surrogate.resolve import surrogate_file_problem

        problems = super().validate(region)
        if self.options.get("surrogate") is None:
            problems.append("option 'surrogate' is required (a trained surrogate file or object)")
        elif (msg := surrogate_file_problem(self.options["surrogate"])) is not None:
            problems.append(msg)
        if not problems and ObjectiveOptions.from_options(self.options).uses_q:
            from .basins import discharge_problem

            if (msg := discharge_problem(region, self.options["objective"])) is not None:
                problems.append(msg)
        return problems

    # ------------------------------------------------------------------ calibration
    def calibrate(self, region: Region) -> CalibrationResult:
        from ..surrogate.resolve import resolve_surrogate
        from . import model_file
        from .trainer import train

        started = time.perf_counter()
        self.check(region)
        try:
            resolved = resolve_surrogate(self.options.get("surrogate"), self.parameter_space,
                                         space_given=self._space_given, strategy=self.name, region=region)
            self.parameter_space = resolved.parameter_space
            sur = resolved.surrogate
            sur.check_region(region)
        except SurrogateError as exc:
            raise StrategyError(f"strategy {self.name!r}: {exc}") from None
        config = self.train_config()
        out = train(region, sur, config, n_params=self.parameter_space.n, seed=self.seed, name=self.name)
        self.network, self.obs_operator = out.network, out.obs_operator
        values = self._values(out)
        members, member_info, nets = self._ensemble(region, sur, config, values)
        self._member_networks = nets
        if members is not None:  # a deep ensemble's estimate is its members' median, the values written and scored
            values = self.parameter_space.clip(np.median(np.stack(members), axis=0))
        o = self.options
        info: dict[str, Any] = {
            "surrogate": str(o["surrogate"]) if isinstance(o["surrogate"], (str, Path)) else repr(o["surrogate"]),
            "surrogate_checks": resolved.checks, **out.info}
        plain = to_plain(self.options)
        self._model_payload = model_file.payload(
            strategy=self.name, network_config=out.network_config, uses_series=self.uses_series, window=out.window,
            param_windows=config.param_windows, normalization=out.normalization,
            parameter_space=self.parameter_space, options=plain, seed=self.seed, train_cells=out.train_cells,
            obs_operator=info.get("obs_operator"))
        if o["model_out"]:
            self.save_model(o["model_out"])
            info["model_file"] = str(o["model_out"])
        history, n_evaluations = dict(out.history), out.n_evaluations
        if members is not None:
            from ..uncertainty import ParameterUncertainty

            n_evaluations += sum(m["n_evaluations"] for m in member_info)
            history["ensemble_best_val_loss"] = [float(out.info["best_val_loss"])] + [m["best_val_loss"]
                                                                                       for m in member_info]
            info["ensemble"] = {"members": len(members), "bootstrap": bool(o["bootstrap"]),
                                "point_values": "per-cell median of the members (member 0 is the run without ensemble)",
                                "runs": member_info}
            unc = ParameterUncertainty.from_members(
                np.stack(members), "deep ensemble",
                info={"members": len(members), "bootstrap": bool(o["bootstrap"]),
                      "rule": "member 0: seed, all training cells; member k: seed+k" + (
                          ", minibatches from a bootstrap resample of the training cells and window starts"
                          if o["bootstrap"] else "")})
        result = self._result(region, values, started=started, history=history, n_evaluations=n_evaluations,
                              info=info, obs_operator=out.obs_operator, warmup_days=int(out.info["warmup_days"]))
        if members is not None:
            unc = unc.clip(self.parameter_space.lower, self.parameter_space.upper)
            if o.get("ensemble_error", True):
                unc = self._with_error_term(region, sur, unc, int(out.info["warmup_days"]))
                info["ensemble"]["error_term"] = unc.info["error_term"]
            result.uncertainty = unc
        result.options = plain
        return result

    def _with_error_term(self, region: Region, sur, unc, warmup: int):
        """The ensemble's intervals widened by the model-error term (:mod:`vic_paraformer.dl.error_term`)."""
        from ..error_terms import region_transfer_halfwidth, surrogate_sm_error, widen
        from ..uncertainty import ParameterUncertainty
        from .error_term import error_halfwidth

        space = self.parameter_space
        pos = {int(c): i for i, c in enumerate(region.cells)}
        rows = np.array([pos[int(c)] for c in region.training_cells], int)
        half, facts = error_halfwidth(region, sur, space, unc.median(), rows, warmup, operator=self.obs_operator,
                                      model_sigma=surrogate_sm_error(sur))
        untrained = np.ones(region.n_cells, bool)
        untrained[rows] = False
        if untrained.any():  # cells without observations: also the transfer term, in quadrature
            half_t = region_transfer_halfwidth(np.asarray(space.normalize(unc.median()[rows]), float),
                                               region.ds["lat"].values, region.ds["lon"].values, rows)
            half = np.hypot(half, half_t)
            facts["transfer_halfwidth_median"] = {n: round(float(np.median(half_t[untrained, j])), 4)
                                                  for j, n in enumerate(space.names)}
        q_u = widen(np.asarray(space.normalize(unc.quantiles), float), half)
        q = space.clip(space.denormalize(q_u))
        q[1] = unc.quantiles[1]
        log.info("%s: ensemble intervals widened by the model-error term (mismatch %.4g)", self.name, facts["sigma"])
        info = {**unc.info, "error_term": facts,
                "rule": unc.info.get("rule", "") + "; 5-95 % interval widened in quadrature by the model-error term "
                        "z * sigma / s_j (vic_paraformer.dl.error_term) and, at untrained cells, the transfer term "
                        "(vic_paraformer.error_terms.transfer_halfwidth of the training cells' medians)"}
        return ParameterUncertainty(quantiles=q, method="deep ensemble + model-error term", members=unc.members,
                                    set_size=unc.set_size, info=info)

    def _values(self, out) -> np.ndarray:
        """Physical parameters ``(cell, p)`` of a training outcome (clamped to the bounds)."""
        values = self.parameter_space.denormalize(out.u.clamp(0.0, 1.0).cpu().double().numpy())
        return self.parameter_space.clip(values)

    def _ensemble(self, region: Region, sur, config: TrainConfig, first: np.ndarray
                  ) -> tuple[list[np.ndarray] | None, list[dict[str, Any]], list[torch.nn.Module]]:
        """Members 1..K-1 of a deep ensemble (option ``ensemble``; None when 1): ``[first, ...]``,
        per-member facts and the members' networks (1..K-1). Member k trains with seed ``seed + k`` and,
        with ``bootstrap``, a resample of the training cells and window starts seeded from ``(seed, k)``."""
        from .trainer import train

        k_total = int(self.options.get("ensemble") or 1)
        if k_total <= 1:
            return None, [], []
        members, facts, nets = [first], [], []
        for k in range(1, k_total):
            boot = (int(np.random.SeedSequence([int(self.seed) & 0xFFFFFFFF, k]).generate_state(1)[0])
                    if self.options.get("bootstrap", True) else None)
            log.info("%s: ensemble member %d of %d", self.name, k + 1, k_total)
            out = train(region, sur, config, n_params=self.parameter_space.n, seed=int(self.seed) + k, name=self.name,
                        bootstrap_seed=boot)
            members.append(self._values(out))
            nets.append(out.network)
            facts.append({"member": k, "seed": int(self.seed) + k, "bootstrap_seed": boot,
                          "best_epoch": int(out.info["best_epoch"]), "best_val_loss": float(out.info["best_val_loss"]),
                          "n_evaluations": int(out.n_evaluations)})
        return members, facts, nets

    # ------------------------------------------------------------------ model files
    def save_model(self, path: str | Path) -> Path:
        """Write the trained network (state_dict + config + normalisation + space + versions) atomically."""
        from . import model_file

        if self.network is None or self._model_payload is None:
            raise StrategyError(f"strategy {self.name!r}: no trained model to save; run calibrate() first")
        return model_file.save(path, self.network, self._model_payload, members=self._member_networks)
