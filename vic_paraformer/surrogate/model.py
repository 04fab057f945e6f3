"""The LSTM surrogate of a simulator: (forcing X_t, attributes A, parameters theta) -> (sm, et, runoff, baseflow).

:class:`Surrogate` is an ``nn.Module``. Its forward pass takes *normalised* inputs (forcing and
attributes normalised with the statistics stored in the model, see :meth:`Surrogate.prepare`;
parameters normalised to [0, 1] with :meth:`ParameterSpace.normalize`) and returns soil moisture
(m3 m-3), ET, surface runoff and baseflow (mm/day) in *physical* units, so a calibration loss can
compare them with observations directly, and runoff + baseflow can be routed to discharge at gauges
(:mod:`vic_paraformer.routing.torch_route`) with gradients. The outputs' order is
:attr:`Surrogate.output_names` (sm and et always first); surrogates saved before runoff and baseflow
were emulated predict ``("sm", "et")`` only and still load (:meth:`Surrogate.require_outputs` says
what a discharge objective needs).

Frozen use
----------
Strategies learn *through* the surrogate: gradients must reach ``theta_u`` while the surrogate's
weights stay fixed. :meth:`Surrogate.freeze` (done by :meth:`Surrogate.load` and
:func:`~vic_paraformer.surrogate.train.train_surrogate`) sets ``requires_grad_(False)`` on every
weight and sets every dropout probability to 0. cuDNN refuses the backward pass of an RNN in
eval mode ("cudnn RNN backward can only be called in training mode"), so a frozen surrogate keeps
its LSTM in training mode even after ``.eval()`` - with dropout 0 that is numerically identical
to eval mode, and it lets gradients flow to the inputs on GPU as on CPU.

Long module (over 400 lines): the network, its normalisation, whole-series prediction and the
checkpoint format are one object's contract (the methods of ``Surrogate``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from .._io import to_plain
from ..formats import FORMAT_VERSIONS, TORCH_FORMATS, check_version, load_torch, names_list, other_region
from ..errors import SurrogateError
from ..normalizer import LOG_FORCING, Normalizer
from ..parameters import ParameterSpace
from ..region import Region

log = logging.getLogger(__name__)

#: Outputs of a newly trained surrogate, in order.
OUTPUT_NAMES: tuple[str, ...] = ("sm", "et", "runoff", "baseflow")
#: Outputs of surrogates saved before runoff and baseflow were emulated.
LEGACY_OUTPUT_NAMES: tuple[str, ...] = ("sm", "et")
OUTPUT_UNITS: dict[str, str] = {"sm": "m3 m-3", "et": "mm/day", "runoff": "mm/day", "baseflow": "mm/day"}
CHECKPOINT_FORMAT = TORCH_FORMATS["surrogate"]
CHECKPOINT_VERSION = FORMAT_VERSIONS["surrogate"]
#: Largest stacked-window input (values) :meth:`Surrogate.predict_tensor` keeps for reuse.
WINDOW_CACHE_VALUES = 1 << 20


@dataclass
class SurrogateConfig:
    """Architecture and windowing of a surrogate (stored in its checkpoint)."""

    n_forcing: int
    n_attributes: int
    n_parameters: int
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    window: int = 240
    warmup: int = 60
    n_outputs: int = len(OUTPUT_NAMES)

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.num_layers < 1:
            raise SurrogateError(f"hidden_size and num_layers must be >= 1, got {self.hidden_size}, {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise SurrogateError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.window < 2 or not 0 <= self.warmup < self.window:
            raise SurrogateError(f"need window >= 2 and 0 <= warmup < window, got window={self.window}, warmup={self.warmup}")


@dataclass
class Normalization:
    """Statistics that map physical inputs/outputs to the network's scale.

    Forcing variables listed in ``log_forcing`` (default ``prec``) are transformed with
    ``log1p`` before standardisation. Outputs are predicted standardised and mapped back with
    ``y = y_n * output_std + output_mean``.
    """

    forcing_mean: list[float]
    forcing_std: list[float]
    attribute_mean: list[float]
    attribute_std: list[float]
    output_mean: list[float]
    output_std: list[float]
    log_forcing: list[str] = field(default_factory=lambda: list(LOG_FORCING))

    @classmethod
    def fit(cls, forcing: np.ndarray, attributes: np.ndarray, outputs: np.ndarray, forcing_names: Sequence[str],
            log_forcing: Sequence[str] = LOG_FORCING, cells: np.ndarray | None = None) -> "Normalization":
        """Statistics from forcing ``(C, T, nf)``, attributes ``(C, na)`` and outputs ``(..., 2)``.

        ``cells`` (indices into the first axis of ``forcing``) restricts the forcing statistics to
        those cells; the forcing is converted to float64 one variable at a time
        (:meth:`Normalizer.fit_series <vic_paraformer.normalizer.Normalizer.fit_series>`).
        """
        f = Normalizer.fit_series(forcing, [n in log_forcing for n in forcing_names], cells=cells)
        a = Normalizer.fit(attributes)
        y = Normalizer.fit(outputs, finite_rows=True)
        return cls(list(f.mean), list(f.std), list(a.mean), list(a.std), list(y.mean), list(y.std), list(log_forcing))

    def forcing(self, forcing_names: Sequence[str]) -> Normalizer:
        """The forcing :class:`~vic_paraformer.normalizer.Normalizer` (columns in ``forcing_names`` order)."""
        return Normalizer.for_names(self.forcing_mean, self.forcing_std, forcing_names, self.log_forcing)

    def attributes(self) -> Normalizer:
        """The attribute :class:`~vic_paraformer.normalizer.Normalizer`."""
        return Normalizer(tuple(self.attribute_mean), tuple(self.attribute_std))


class Surrogate(nn.Module):
    """LSTM emulator of a simulator; see the module docstring for the calling convention.

    Build one with :func:`~vic_paraformer.surrogate.train.train_surrogate` or :meth:`load`.
    """

    def __init__(self, config: SurrogateConfig, normalization: Normalization, parameter_space: ParameterSpace,
                 forcing_names: Sequence[str], attribute_names: Sequence[str], *, simulator: str = "unknown",
                 region_fingerprint: str | None = None, info: dict[str, Any] | None = None,
                 output_names: Sequence[str] | None = None) -> None:
        super().__init__()
        names = tuple(output_names) if output_names is not None else OUTPUT_NAMES[:config.n_outputs]
        if len(names) != config.n_outputs or names[:2] != LEGACY_OUTPUT_NAMES \
                or any(n not in OUTPUT_UNITS for n in names):
            raise SurrogateError(f"surrogate outputs must be sm, et first and then any of runoff, baseflow "
                                 f"({config.n_outputs} in all); got {list(names)}")
        if len(normalization.output_mean) != config.n_outputs or len(normalization.output_std) != config.n_outputs:
            raise SurrogateError(f"output statistics for {len(normalization.output_mean)} outputs; the config has "
                                 f"{config.n_outputs}")
        #: The outputs' names in the order of the last axis of :meth:`forward`.
        self.output_names: tuple[str, ...] = names
        if len(forcing_names) != config.n_forcing or len(attribute_names) != config.n_attributes \
                or parameter_space.n != config.n_parameters:
            raise SurrogateError(
                f"config expects {config.n_forcing} forcing, {config.n_attributes} attributes, "
                f"{config.n_parameters} parameters; got {len(forcing_names)}, {len(attribute_names)}, {parameter_space.n}")
        self.config = config
        self.normalization = normalization
        self.parameter_space = parameter_space
        self.forcing_names = list(forcing_names)
        self.attribute_names = list(attribute_names)
        self.simulator = simulator
        self.region_fingerprint = region_fingerprint
        self.info: dict[str, Any] = dict(info or {})
        #: The file the surrogate was loaded from (None when built in memory).
        self.source: str | None = None
        n_in = config.n_forcing + config.n_attributes + config.n_parameters
        self.lstm = nn.LSTM(n_in, config.hidden_size, num_layers=config.num_layers, batch_first=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.n_outputs)
        self.register_buffer("output_mean", torch.tensor(normalization.output_mean, dtype=torch.float32))
        self.register_buffer("output_std", torch.tensor(normalization.output_std, dtype=torch.float32))
        self._frozen = False

    # ------------------------------------------------------------------ properties
    @property
    def warmup(self) -> int:
        """Days at the start of a window whose outputs are spin-up (exclude them from losses)."""
        return int(self.config.warmup)

    @property
    def window(self) -> int:
        """Window length (days) the surrogate was trained on."""
        return int(self.config.window)

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return self.head.weight.device

    @property
    def frozen(self) -> bool:
        return self._frozen

    def output_index(self, name: str) -> int:
        """Position of output ``name`` on the last axis of :meth:`forward`."""
        self.require_outputs((name,))
        return self.output_names.index(name)

    def require_outputs(self, names: Sequence[str], purpose: str = "") -> None:
        """Raise SurrogateError unless this surrogate predicts every output in ``names``.

        ``purpose`` (e.g. ``"a discharge (q) objective"``) completes the message."""
        missing = [n for n in names if n not in self.output_names]
        if missing:
            src = f"surrogate {self.source}" if self.source else "the surrogate"
            why = f"; {purpose} needs {', '.join(names)}" if purpose else ""
            raise SurrogateError(f"{src} predicts {', '.join(self.output_names)} only (no {', '.join(missing)}){why}: "
                                 "train a new surrogate (vic-paraformer surrogate train), which predicts "
                                 f"{', '.join(OUTPUT_NAMES)}")

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, a: torch.Tensor, theta_u: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, L, n_outputs)`` in physical units, in :attr:`output_names` order (``[..., 0]`` sm
        in m3 m-3, ``[..., 1]`` et in mm/day, then runoff and baseflow in mm/day where predicted).

        ``x`` ``(B, L, n_forcing)`` normalised forcing, ``a`` ``(B, n_attr)`` normalised attributes,
        ``theta_u`` ``(B, p)`` parameters normalised to [0, 1].
        """
        return self.forward_normalized(x, a, theta_u) * self.output_std + self.output_mean

    def forward_normalized(self, x: torch.Tensor, a: torch.Tensor, theta_u: torch.Tensor) -> torch.Tensor:
        """Like :meth:`forward` but returns the standardised outputs (the training target scale)."""
        if x.dim() != 3 or a.dim() != 2 or theta_u.dim() != 2:
            raise SurrogateError(f"expected x (B, L, nf), a (B, na), theta_u (B, p); got shapes "
                                 f"{tuple(x.shape)}, {tuple(a.shape)}, {tuple(theta_u.shape)}")
        b, length, nf = x.shape
        cfg = self.config
        if nf != cfg.n_forcing or a.shape != (b, cfg.n_attributes) or theta_u.shape != (b, cfg.n_parameters):
            raise SurrogateError(
                f"expected x (B, L, {cfg.n_forcing}), a (B, {cfg.n_attributes}), theta_u (B, {cfg.n_parameters}); got "
                f"{tuple(x.shape)}, {tuple(a.shape)}, {tuple(theta_u.shape)}")
        static = torch.cat([a, 2.0 * theta_u - 1.0], dim=-1)
        inp = torch.cat([x, static.unsqueeze(1).expand(b, length, static.shape[-1])], dim=-1)
        h, _ = self.lstm(inp)
        return self.head(self.dropout(h))

    # ------------------------------------------------------------------ frozen use
    def freeze(self) -> "Surrogate":
        """Fix the weights (no gradients, dropout 0) while keeping the model differentiable wrt inputs."""
        for p in self.parameters():
            p.requires_grad_(False)
            p.grad = None
        self.lstm.dropout = 0.0
        self.dropout.p = 0.0
        self._frozen = True
        self.train(False)
        return self

    def train(self, mode: bool = True) -> "Surrogate":
        """Set training mode; a frozen surrogate keeps its LSTM in training mode (see module docstring)."""
        super().train(mode)
        if getattr(self, "_frozen", False):
            self.lstm.train(True)
        return self

    # ------------------------------------------------------------------ data preparation
    def check_region(self, region: Region) -> None:
        """Raise SurrogateError unless ``region`` has the forcing and attributes this surrogate expects.

        The message names the surrogate's file (when loaded from one), what it was trained on and what
        the region has, with both region fingerprints (:meth:`Region.fingerprint`)."""
        src = f"region {region.source}" if region.source else "the region"
        prints = f"(fingerprints {self.region_fingerprint or 'not recorded'} and {region.fingerprint()})"
        if list(region.forcing_names) != self.forcing_names:
            raise other_region(self.source, "surrogate", f"trained on forcing {self.forcing_names}",
                               f"{src} has {list(region.forcing_names)} {prints}", SurrogateError)
        names = region.attribute_names
        missing = [n for n in self.attribute_names if n not in names]
        extra = [n for n in names if n not in self.attribute_names]
        if missing or extra:
            raise other_region(self.source, "surrogate", f"trained on attributes {names_list(self.attribute_names)}",
                               f"{src} has {names_list(names)} (missing {names_list(missing)}, unexpected "
                               f"{names_list(extra)}) {prints}. Train a surrogate on a region with these attributes.",
                               SurrogateError)

    def normalize_forcing(self, forcing: np.ndarray) -> np.ndarray:
        """Physical forcing ``(..., n_forcing)`` -> network scale (float32, computed per variable in float64)."""
        return self.normalization.forcing(self.forcing_names).transform(forcing)

    def normalize_attributes(self, attributes: np.ndarray) -> np.ndarray:
        """Physical attributes ``(..., n_attr)`` -> network scale (float32)."""
        return self.normalization.attributes().transform(attributes)

    def prepare(self, region: Region) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised forcing ``x`` ``(C, T, n_forcing)`` (all days) and attributes ``a`` ``(C, n_attr)``."""
        self.check_region(region)
        x = self.normalize_forcing(region.forcing(self.forcing_names))
        a = self.normalize_attributes(region.attributes(self.attribute_names))
        far = np.abs(a) > 6
        if far.any():
            c, j = np.argwhere(far)[0]
            log.warning("attribute %r of cell %s is %.1f standard deviations from the surrogate's training data; "
                        "its predictions there are extrapolations", self.attribute_names[j], region.cells[c], a[c, j])
        return (torch.as_tensor(x, device=self.device), torch.as_tensor(a, device=self.device))

    # ------------------------------------------------------------------ prediction
    def tiling_starts(self, n_days: int) -> list[int]:
        """Starts of the overlapping training-length windows that tile ``n_days`` for whole-series
        prediction (:meth:`predict_tensor`; not the evenly spaced parameter windows of the DL
        strategies, :func:`vic_paraformer.dl.cell_params.param_window_starts`)."""
        length = self.window
        if n_days <= length:
            return [0]
        step = length - self.warmup
        starts = list(range(0, n_days - length, step)) + [n_days - length]
        return starts

    def _window_inputs(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Stack ``x`` into its overlapping windows and repeat ``a`` per window.

        When neither needs gradients, the last result is kept (with references to ``x`` and ``a``,
        so their memory cannot be reused while cached) and returned again for the same tensors at
        the same version: a calibration that evaluates many parameter sets on the same cells
        stacks their windows once. Only small stacks (at most :data:`WINDOW_CACHE_VALUES` values,
        e.g. one cell's series) are kept.
        """
        b, n_days, _ = x.shape
        starts = self.tiling_starts(n_days)
        length = min(self.window, n_days)
        cacheable = not (x.requires_grad or a.requires_grad)
        c = getattr(self, "_window_cache", None)
        if cacheable and c is not None and c[0] is x and c[1] is a and c[2] == (x._version, a._version):
            return c[3], c[4], len(starts)
        xs = torch.stack([x[:, s:s + length] for s in starts], dim=1).reshape(b * len(starts), length, -1)
        a_rep = a.repeat_interleave(len(starts), 0)
        keep = cacheable and xs.numel() <= WINDOW_CACHE_VALUES
        self._window_cache = (x, a, (x._version, a._version), xs, a_rep) if keep else None
        return xs, a_rep, len(starts)

    def predict_tensor(self, x: torch.Tensor, a: torch.Tensor, theta_u: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, T, n_outputs)`` over whole series of any length ``T`` (physical units).

        The series is tiled with windows of the training length overlapping by ``warmup`` days;
        each day is taken from a window in which it lies after the warm-up (except the first
        window's first days, which the model learned from the simulator's own spin-up). This
        keeps every prediction in the regime the model was trained in. Differentiable.
        """
        b, n_days, _ = x.shape
        starts = self.tiling_starts(n_days)
        length = min(self.window, n_days)
        xs, a_rep, rep = self._window_inputs(x, a)
        y = self(xs, a_rep, theta_u.repeat_interleave(rep, 0)).reshape(b, rep, length, -1)
        out = []
        covered = 0
        for k, s in enumerate(starts):
            lo = covered - s
            out.append(y[:, k, lo:])
            covered = s + length
        return torch.cat(out, dim=1)

    def predict(self, region: Region, params, batch_size: int = 256, *, progress: bool = False) -> xr.Dataset:
        """Surrogate outputs (:attr:`output_names`) ``(cell, time)`` for physical parameters ``params`` (no gradients).

        ``params``: array ``(C, p)`` in physical units (parameter-space order) or a Dataset over
        ``cell`` with one variable per parameter.
        """
        values = self._param_array(region, params)
        x, a = self.prepare(region)
        theta_u = torch.as_tensor(np.asarray(self.parameter_space.normalize(values), dtype=np.float32), device=self.device)
        out = np.empty((region.n_cells, region.n_days, len(self.output_names)), dtype=np.float32)
        batches = range(0, region.n_cells, max(1, int(batch_size)))
        if progress:
            from tqdm.auto import tqdm
            batches = tqdm(batches, desc="surrogate predict", unit="batch")
        with torch.no_grad():
            for i in batches:
                sl = slice(i, i + batch_size)
                out[sl] = self.predict_tensor(x[sl], a[sl], theta_u[sl]).cpu().numpy()
        coords = {"cell": region.cells, "time": region.times}
        data = {name: (("cell", "time"), out[..., k], {"units": OUTPUT_UNITS[name]}) for k, name in enumerate(self.output_names)}
        return xr.Dataset(data, coords=coords, attrs={"source": f"surrogate of {self.simulator}"})

    def predict_ensemble(self, region: Region, theta: np.ndarray, batch_size: int = 512, *,
                         progress: bool = False) -> np.ndarray:
        """Outputs ``(S, C, T, n_outputs)`` (:attr:`output_names`; physical units) for physical parameters
        ``theta (S, C, p)``.

        Prepares the region once and batches over all (sample, cell) pairs; no gradients.
        """
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 3 or theta.shape[1:] != (region.n_cells, self.parameter_space.n):
            raise SurrogateError(f"theta must have shape (samples, cells={region.n_cells}, p={self.parameter_space.n}), "
                                 f"got {theta.shape}")
        x, a = self.prepare(region)
        n_s, n_c = theta.shape[:2]
        tu = torch.as_tensor(np.asarray(self.parameter_space.normalize(theta.reshape(n_s * n_c, -1)), np.float32),
                             device=self.device)
        out = np.empty((n_s * n_c, region.n_days, len(self.output_names)), dtype=np.float32)
        batches = range(0, n_s * n_c, max(1, int(batch_size)))
        if progress:
            from tqdm.auto import tqdm
            batches = tqdm(batches, desc="surrogate predict", unit="batch")
        with torch.no_grad():
            for i in batches:
                idx = torch.arange(i, min(i + batch_size, n_s * n_c), device=self.device)
                cells = idx % n_c
                out[i:i + len(idx)] = self.predict_tensor(x[cells], a[cells], tu[idx]).cpu().numpy()
        return out.reshape(n_s, n_c, region.n_days, len(self.output_names))

    def _param_array(self, region: Region, params) -> np.ndarray:
        space = self.parameter_space
        if isinstance(params, xr.Dataset):
            missing = [n for n in space.names if n not in params]
            if missing:
                raise SurrogateError(f"parameter dataset lacks {missing}; the surrogate expects {list(space.names)}")
            if "cell" in params.coords and not np.array_equal(params["cell"].values, region.cells):
                params = params.reindex(cell=region.cells)
            values = space.from_dataset(params)
        else:
            values = np.asarray(params.detach().cpu() if isinstance(params, torch.Tensor) else params, dtype=float)
        if values.ndim == 1:
            values = np.broadcast_to(values, (region.n_cells, values.shape[-1]))
        if values.shape != (region.n_cells, space.n):
            raise SurrogateError(f"params must have shape (cells={region.n_cells}, p={space.n}) ({', '.join(space.names)}), "
                                 f"got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise SurrogateError("params contain non-finite values")
        return values

    # ------------------------------------------------------------------ checkpoint
    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the model, as a plain dict (``torch.load(weights_only=True)``-safe)."""
        from ..provenance import library_versions

        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": asdict(self.config),
            "normalization": asdict(self.normalization),
            "parameter_space": self.parameter_space.to_dict(),
            "forcing_names": list(self.forcing_names),
            "attribute_names": list(self.attribute_names),
            "output_names": list(self.output_names),
            "simulator": self.simulator,
            "region_fingerprint": self.region_fingerprint,
            "versions": library_versions(),
            "info": to_plain(self.info, nan_as_none=False),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint to one file atomically."""
        from .._io import atomic_path

        with atomic_path(path) as tmp:
            torch.save(self.checkpoint(), tmp)
        return Path(path)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], *, source: str = "checkpoint", freeze: bool = True) -> "Surrogate":
        """Rebuild from :meth:`checkpoint`'s dict."""
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise SurrogateError(f"{source}: not a vic_paraformer surrogate checkpoint")
        versions = ckpt.get("versions")
        check_version(source, "surrogate", "the surrogate checkpoint", ckpt.get("version"),
                      versions.get("vic-paraformer") if isinstance(versions, dict) else None, SurrogateError)
        try:
            model = cls(SurrogateConfig(**ckpt["config"]), Normalization(**ckpt["normalization"]),
                        ParameterSpace.from_dict(ckpt["parameter_space"]), ckpt["forcing_names"], ckpt["attribute_names"],
                        simulator=ckpt.get("simulator", "unknown"), region_fingerprint=ckpt.get("region_fingerprint"),
                        info=dict(ckpt.get("info", {}), versions=ckpt.get("versions", {})),
                        output_names=ckpt.get("output_names"))
            model.load_state_dict(ckpt["state_dict"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise SurrogateError(f"{source}: incomplete or inconsistent surrogate checkpoint ({type(exc).__name__}: {exc})") from None
        return model.freeze() if freeze else model

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None, *, freeze: bool = True,
             allow_incomplete: bool = False) -> "Surrogate":
        """Load a surrogate saved with :meth:`save`; frozen and on ``device`` (default CPU).

        A snapshot of an interrupted training (``info["incomplete"]``) is refused unless
        ``allow_incomplete``.
        """
        path = Path(path)
        ckpt = load_torch(path, "surrogate", "surrogate checkpoint", SurrogateError)
        info = ckpt.get("info") if isinstance(ckpt, dict) else None
        if isinstance(info, dict) and info.get("incomplete") and not allow_incomplete:
            epochs = len((info.get("history") or {}).get("val_loss") or [])
            raise SurrogateError(f"{path}: an incomplete surrogate (training was interrupted after {epochs} epoch(s)); "
                                 "train it again, or load it with allow_incomplete=True")
        model = cls.from_checkpoint(ckpt, source=str(path), freeze=freeze)
        model.source = str(path)
        return model.to(device) if device is not None else model

    def __repr__(self) -> str:
        c = self.config
        return (f"<Surrogate of {self.simulator}: LSTM hidden {c.hidden_size} x {c.num_layers}, window {c.window} "
                f"(warm-up {c.warmup}), {c.n_forcing} forcing + {c.n_attributes} attributes + {c.n_parameters} parameters"
                f"{', frozen' if self._frozen else ''}>")

