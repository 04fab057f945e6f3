"""Synthetic twin regions: forcing, attributes, known true parameters and noisy observations.

:func:`synthetic_region` builds a regular 0.125-degree grid (by default in the US southern Great
Plains around 35 N, 98 W) with

* **forcing**: several years of daily weather with seasonality (temperature, radiation), storms
  (intermittent, skewed precipitation from thresholded, spatially smooth random fields, so
  neighbouring cells get correlated rain), humidity and wind;
* **static attributes** with smooth spatial structure (names in :data:`ATTRIBUTE_NAMES`): soil texture
  (sand/silt/clay fractions), pedotransfer-derived porosity, field capacity, wilting point,
  residual moisture and Ksat, soil layer depths, vegetation and root fractions, elevation, slope and
  climate indices (mean annual precipitation, mean temperature, aridity = PET/P);
* **true parameters** ``true_infilt .. true_expt``: smooth non-linear functions of the attributes
  plus a little spatial noise, inside the ``vic`` :class:`~vic_paraformer.parameters.ParameterSpace`
  (covering most of each range);
* **observations**: ``obs_sm`` is the ``waterbalance`` simulator's top-layer soil moisture under the
  true parameters plus Gaussian noise (``sm_noise`` m3/m3), observed SMAP-like: per cell, the gap between
  consecutive observations is drawn from ``obs_interval`` (inclusive, days), NaN otherwise.
  ``obs_et`` (optional) is the simulated daily ET plus Gaussian noise (``et_noise`` mm/day, clipped at
  0) observed on a random ~50% of days (cloud-like gaps, drawn independently per cell and day).

Difficulty presets (``difficulty=``, numbers in :data:`DIFFICULTIES`)
---------------------------------------------------------------------
``"clean"`` (the default of :func:`synthetic_region`) is the description above: the calibrator sees
the true forcing and exact attributes, the truth is a smooth function of the attributes, and the
observations are the simulated top layer plus white noise.

``"realistic"`` (the benchmark's default) keeps the same true world (same attributes, forcing, truth
function) and degrades what the calibrator sees, with these fixed numbers (:data:`REALISTIC`):

* **observation operator the calibrator does not know**: ``obs_sm = a_c sm_top + b_c + e``, per
  cell (independently) ``a_c = exp(N(0, 0.12))`` (a probe or satellite product reads a different
  dynamic range than the model's 10 cm layer) and ``b_c ~ N(0, 0.03)`` m3/m3; representativeness
  noise ``e ~ N(0, s)`` with ``s = sm_noise (1 + 3 w)`` growing with wetness
  ``w = (sm - wilting_point)/(porosity - wilting_point)`` clipped to [0, 1] (0.01 m3/m3 dry,
  0.04 saturated); the result is clipped to [0.01, porosity]. Observed SMAP-like every
  ``obs_interval`` days, minus seasonal dropouts (frozen or snow-covered ground: days whose 3-day
  mean *true* air temperature is below 1 degC) and 10 % random dropouts (retrieval flags).
  ``a_c``, ``b_c`` are stored as ``true_obs_scale``, ``true_obs_offset``.
* **forcing error**: the region's ``prec`` (what a calibrator sees) is the true precipitation times
  ``exp(0.15 z_c - 0.15^2/2) exp(0.35 z_ct - 0.35^2/2)``, ``z_c`` a smooth static field (a
  persistent gauge/radar bias of about 15 %), ``z_ct`` smooth daily fields (storm placement error of
  about 35 %, spatially correlated like the storms); ``air_temp`` carries a bias of
  ``+1.0 degC + 0.5 degC z'_c`` (smooth). The true forcing is kept as ``true_prec`` and
  ``true_air_temp`` (:func:`true_forcing_region` gives the oracle's region); the other forcing
  variables are exact.
* **parameters not fully explained by the attributes**: the truth's logits get, besides the clean
  preset's smooth perturbation (amplitude 0.25), a spatially correlated residual of standard
  deviation 0.6 with a correlation length of 2 cells (Gaussian filter sigma), i.e. variability
  at scales between the DAS-S8 training cells that no attribute explains.
* **attributes observed with noise**: every attribute the simulator does not read (texture,
  elevation, slope, climate indices) gets independent Gaussian noise of 0.3 times its spatial
  standard deviation (texture renormalised to sum 1); the climate indices are computed from the
  calibrator's (erroneous) forcing. The simulator's soil and vegetation attributes are exact (they
  define the model both sides share). Three irrelevant attributes ``aux1..aux3`` (smooth random
  fields, unit variance) are appended.
* **ET at a few tower-like cells**: ``obs_et`` only at 1/16 of the cells (at least 2, chosen at
  random, flagged by ``et_tower = 1``), on 80 % of days, as ``k_c et + N(0, et_noise)`` clipped at
  0 with an energy-closure factor ``k_c ~ U(0.85, 1.0)``; NaN elsewhere.

The same arguments give identical arrays (everything derives from ``numpy`` Generators seeded with
``seed``; the realistic perturbations come from a second generator seeded with ``(seed, 1)``, so
the true world of both presets is the same; the simulation runs in float64 on CPU).

River network and discharge (``gauges=N``, 0 by default: the twin without it is unchanged)
-------------------------------------------------------------------------------------------
With ``gauges > 0`` the twin gets a river network and true discharge, stored on the Region so that
it is self-contained (:mod:`vic_paraformer.routing.inline`):

* ``flow_direction(cell)``: D8 directions (VIC numbering) by priority flood on the true
  ``elevation`` attribute from its lowest edge cell
  (:func:`vic_paraformer.routing.network.d8_priority_flood` with ``mouths="lowest"``: the grid is one
  catchment, every cell drains to that mouth along the least-climbing way, pits filled);
* ``N`` gauges placed by :func:`~vic_paraformer.routing.network.place_gauges` (the outlet of the
  largest basin, then nested gauges each splitting the largest incremental basin in two), named
  ``G1..GN``, coordinates ``gauge``, ``gauge_outlet``, ``gauge_outlet_name``, ``gauge_lat``,
  ``gauge_lon`` as :func:`~vic_paraformer.routing.gauges.attach_discharge` stores them;
* the routing kernel: Lohmann et al. unit hydrographs from every cell to each gauge
  (:func:`~vic_paraformer.routing.lohmann_kernel`, RVIC's velocity 1.5 m/s and diffusion 800 m2/s,
  1-day within-cell reservoir, :data:`TWIN_ROUTING_DAYS` days long), stored inline;
* ``true_q(gauge, time)``: the truth's runoff + baseflow (true forcing, true parameters) routed, m3/s;
* ``obs_q(gauge, time)``: what a gauge records. ``clean``: ``true_q`` times a white multiplicative
  error ``exp(0.05 z - 0.05^2/2)`` (5 %); ``realistic``: a rating-curve bias per gauge
  ``exp(N(0, 0.05))`` times an AR(1) multiplicative error (lag-1 correlation 0.7, 10 %), and 5 %
  of the days missing at random. The draws come from a generator seeded ``(seed, 3)``, so the rest
  of the twin is the same with or without gauges.

Regions larger than memory: :func:`write_synthetic_region` (the ``synth`` command) writes the
same twin to netCDF a chunk of cells at a time within a memory budget. The static fields of the
whole grid are small and made first; the daily spatial fields (temperature anomaly, storms, wind,
the precipitation error) are drawn over the whole grid one block of days at a time (each day is
filtered on its own, so they do not depend on the chunking) and wait in scratch files; every
``(cell, day)`` draw is taken, chunk by chunk, from a copy of the generator positioned at its
start. The values are therefore identical to the in-memory generator's whatever the chunk size
(``synthetic_region(chunk_cells=...)`` gives the same arrays too).

Long module (over 400 lines): the twin's forcing, attributes, true parameter fields, observation
sampling and difficulty presets are one generator with one seed.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from copy import deepcopy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.ndimage import gaussian_filter

from .cf import add_to_netcdf_variable, annotate
from .errors import RegionError
from .parameters import ParameterSpace
from .region import FORCING_VARS, Region, make_region

log = logging.getLogger(__name__)

#: Attribute names of a synthetic region, in order.
ATTRIBUTE_NAMES: tuple[str, ...] = (
    "sand", "silt", "clay", "porosity", "field_capacity", "wilting_point", "residual_moisture", "ksat",
    "soil_depth1", "soil_depth2", "soil_depth3", "veg_fraction", "root_fraction1", "root_fraction2",
    "root_fraction3", "elevation", "slope", "mean_annual_prec", "mean_temp", "aridity",
)

GRID_RES = 0.125
#: Attributes the ``waterbalance`` simulator reads (kept exact in every preset).
SIMULATOR_ATTRIBUTES: tuple[str, ...] = (
    "porosity", "field_capacity", "wilting_point", "residual_moisture", "ksat", "soil_depth1", "soil_depth2",
    "soil_depth3", "veg_fraction", "root_fraction1", "root_fraction2", "root_fraction3",
)


@dataclass(frozen=True)
class TwinDifficulty:
    """What the calibrator of a synthetic twin does not get to see exactly (see the module docstring)."""

    name: str
    obs_scale_sd: float = 0.0        # log-sd of the per-cell scale a_c of the observation operator
    obs_offset_sd: float = 0.0       # sd of the per-cell offset b_c (m3/m3)
    wet_noise_factor: float = 0.0    # noise sd = sm_noise (1 + factor * wetness)
    frozen_temp: float | None = None  # drop SM obs when the 3-day mean true air temperature < this (degC)
    random_dropout: float = 0.0      # fraction of SM revisits dropped at random
    prec_bias_sd: float = 0.0        # log-sd of the static, smooth multiplicative precipitation error
    prec_daily_sd: float = 0.0       # log-sd of the daily, spatially smooth multiplicative error
    temp_bias: float = 0.0           # uniform air-temperature bias (degC)
    temp_bias_sd: float = 0.0        # sd of the smooth spatial part of the bias (degC)
    residual_sd: float = 0.0         # sd of the spatially correlated residual of the truth's logits
    residual_sigma: float = 2.0      # its correlation length (Gaussian filter sigma, cells)
    attribute_noise: float = 0.0     # noise on non-simulator attributes, fraction of their spatial sd
    n_irrelevant: int = 0            # irrelevant attributes aux1.. appended
    et_fraction: float = 1.0         # fraction of cells with ET observations (towers)
    et_obs_prob: float = 0.5         # fraction of days with an ET observation at those cells
    et_closure: tuple[float, float] = (1.0, 1.0)  # range of the per-tower multiplicative factor

    def as_attrs(self) -> dict[str, str]:
        """The numbers as netCDF global attributes (``difficulty_<field>``)."""
        return {f"difficulty_{k}": str(v) for k, v in asdict(self).items() if k != "name"}


CLEAN = TwinDifficulty("clean")
REALISTIC = TwinDifficulty(
    "realistic", obs_scale_sd=0.12, obs_offset_sd=0.03, wet_noise_factor=3.0, frozen_temp=1.0, random_dropout=0.10,
    prec_bias_sd=0.15, prec_daily_sd=0.35, temp_bias=1.0, temp_bias_sd=0.5, residual_sd=0.6, residual_sigma=2.0,
    attribute_noise=0.3, n_irrelevant=3, et_fraction=1 / 16, et_obs_prob=0.8, et_closure=(0.85, 1.0))
#: The difficulty presets by name.
DIFFICULTIES: dict[str, TwinDifficulty] = {"clean": CLEAN, "realistic": REALISTIC}
#: Length (days) of the twin's unit hydrographs.
TWIN_ROUTING_DAYS = 10
#: Discharge error per preset: (white log-sd, AR(1) log-sd, AR(1) lag-1 correlation, per-gauge bias log-sd,
#: fraction of days missing); see the module docstring.
Q_NOISE: dict[str, tuple[float, float, float, float, float]] = {"clean": (0.05, 0.0, 0.0, 0.0, 0.0),
                                                                 "realistic": (0.0, 0.10, 0.7, 0.05, 0.05)}


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field smoothed over the last two axes."""
    z = rng.standard_normal(shape)
    sig = (0,) * (len(shape) - 2) + (sigma, sigma)
    z = gaussian_filter(z, sigma=sig, mode="wrap" if min(shape[-2:]) > 2 * sigma else "nearest")
    axes = (-2, -1)
    z = z - z.mean(axis=axes, keepdims=True)
    sd = z.std(axis=axes, keepdims=True)
    return z / np.where(sd > 0, sd, 1.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _attributes(rng, ny, nx, lat, lon):
    """Smooth static attributes (dict name -> (ny, nx))."""
    sig = max(1.5, min(ny, nx) / 3.0)
    f = lambda: _smooth_field(rng, (ny, nx), sig)  # noqa: E731
    rows, cols = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    grad_ew = (cols - (nx - 1) / 2) / max(nx - 1, 1)  # -0.5 .. 0.5 west -> east
    grad_ns = (rows - (ny - 1) / 2) / max(ny - 1, 1)
    a: dict[str, np.ndarray] = {}
    # texture: softmax of smooth fields
    logits = np.stack([0.9 * f() + 0.2, 0.6 * f(), 0.8 * f() - 0.2])
    tex = np.exp(logits) / np.exp(logits).sum(axis=0)
    a["sand"], a["silt"], a["clay"] = 0.1 + 0.8 * tex[0], 0.05 + 0.8 * tex[1], 0.05 + 0.8 * tex[2]
    total = a["sand"] + a["silt"] + a["clay"]
    for k in ("sand", "silt", "clay"):
        a[k] = a[k] / total
    # pedotransfer-like relations (Cosby et al. 1984 flavour)
    a["porosity"] = 0.50 - 0.15 * a["sand"] + 0.03 * f() * 0.3
    a["wilting_point"] = 0.04 + 0.30 * a["clay"] + 0.03 * a["silt"]
    a["field_capacity"] = np.minimum(a["wilting_point"] + 0.10 + 0.15 * a["silt"] + 0.08 * a["clay"],
                                     a["porosity"] - 0.05)
    a["residual_moisture"] = 0.3 * a["wilting_point"]
    a["ksat"] = 25.4 * 24 * 10 ** (-0.6 + 1.26 * a["sand"] - 0.64 * a["clay"])  # mm/day
    a["soil_depth1"] = np.full((ny, nx), 0.1)
    a["soil_depth2"] = 0.25 + 0.10 * _sigmoid(f())
    a["soil_depth3"] = 0.30 + 0.50 * _sigmoid(1.2 * f())
    a["elevation"] = 350 + 250 * (-grad_ew) + 80 * f()
    a["slope"] = np.clip(1.5 + 1.2 * f() + 0.5 * np.abs(grad_ns), 0.05, None)
    a["mean_annual_prec"] = 850 + 500 * grad_ew + 90 * f()      # target MAP (mm/yr), wetter to the east
    a["mean_temp"] = 15.5 - 6.5e-3 * (a["elevation"] - 350) - 0.8 * (lat.reshape(ny, nx) - lat.mean())
    a["veg_fraction"] = np.clip(0.25 + 0.6 * _sigmoid((a["mean_annual_prec"] - 750) / 200 + 0.5 * f()), 0.05, 0.95)
    r1 = 0.25 + 0.1 * _sigmoid(f())
    r3 = 0.10 + 0.15 * _sigmoid(f()) * a["veg_fraction"]
    a["root_fraction1"], a["root_fraction3"] = r1, r3
    a["root_fraction2"] = 1.0 - r1 - r3
    return a


class _DayField:
    """A ``(day, cell)`` float64 field of the whole grid, drawn one block of days at a time and read
    back one chunk of cells at a time: in memory, or in a scratch file under ``folder`` whose pages
    are mapped only while a block is written or a chunk read (so they do not stay resident)."""

    def __init__(self, n_days: int, n_cells: int, folder: str | None) -> None:
        self.shape = (n_days, n_cells)
        self._mem = np.empty(self.shape) if folder is None else None
        self._path = None
        if folder is not None:
            fd, path = tempfile.mkstemp(suffix=".f8", dir=folder)
            os.close(fd)
            self._path = path
            np.memmap(path, dtype=np.float64, mode="w+", shape=self.shape).flush()

    def _map(self, mode: str) -> np.ndarray:
        return self._mem if self._mem is not None else np.memmap(self._path, dtype=np.float64, mode=mode,
                                                                 shape=self.shape)

    def write(self, d0: int, rows: np.ndarray) -> None:
        m = self._map("r+")
        m[d0:d0 + len(rows)] = rows
        if self._mem is None:
            m.flush()
        del m

    def cells(self, sl: slice) -> np.ndarray:
        """The field at cells ``sl`` as ``(cell, day)``."""
        m = self._map("r")
        out = np.array(m[:, sl].T)
        del m
        return out


def _smooth_days(rng: np.random.Generator, field: _DayField, ny: int, nx: int, sigma: float, block: int) -> None:
    """``_smooth_field(rng, (n_days, ny, nx), sigma)`` written to ``field`` in blocks of ``block`` days.

    Each day is filtered and standardised on its own, and the generator's normal draws are the same
    whether drawn at once or block by block, so the values do not depend on ``block``."""
    n_days, n = field.shape
    for d0 in range(0, n_days, block):
        d1 = min(n_days, d0 + block)
        field.write(d0, _smooth_field(rng, (d1 - d0, ny, nx), sigma).reshape(d1 - d0, n))


def _fork(rng: np.random.Generator, rows: int, tail: tuple[int, ...], method: str, step: int,
          skip: bool = True) -> np.random.Generator:
    """A copy of ``rng`` at the start of the draw ``getattr(rng, method)((rows, *tail))``.

    Drawing consecutive pieces of rows from the copy gives that draw's rows (``standard_normal``
    and ``random`` consume the bit stream in order, without buffering). With ``skip``, ``rng`` is
    moved past the draw (drawn in pieces of ``step`` rows and discarded), so that the draws after
    it are the ones the whole-grid draw would have been followed by."""
    copy = deepcopy(rng)
    if skip:
        for r0 in range(0, rows, step):
            getattr(rng, method)((min(step, rows - r0), *tail))
    return copy


#: Parameters of the truth beyond the paper's five, in the order of their noise columns (drawn from a
#: generator of their own, so that a twin of the five is unchanged by them).
EXTRA_TRUTH: tuple[str, ...] = ("expt2", "expt3", "depth2", "depth3", "Ksat_mult")


def true_parameter_fields(attrs: dict[str, np.ndarray], space: ParameterSpace, noise: np.ndarray,
                          extra_noise: np.ndarray | None = None) -> np.ndarray:
    """The synthetic truth: normalised parameters as non-linear functions of attributes, ``(..., p)``
    over ``space.names`` (any calibratable parameters; ``expt1`` follows the tied ``expt``'s function).

    ``noise`` is ``(..., 5)`` and ``extra_noise`` ``(..., 5)`` over :data:`EXTRA_TRUTH` (small smooth
    perturbations; zero when None). Returns physical values inside ``space``.
    """
    clay = (attrs["clay"] - 0.3) / 0.12
    sand = (attrs["sand"] - 0.35) / 0.14
    lksat = (np.log(attrs["ksat"]) - 6.0) / 0.7
    slope = (attrs["slope"] - 1.5) / 1.0
    arid = (np.log(attrs["aridity"]) - 0.3) / 0.4
    veg = (attrs["veg_fraction"] - 0.55) / 0.2
    d3 = (attrs["soil_depth3"] - 0.55) / 0.15
    u = np.stack([
        _sigmoid(1.3 * clay - 0.8 * lksat + 0.5 * np.tanh(slope) + 0.6 * arid * clay + noise[..., 0]),   # infilt
        _sigmoid(-0.6 - 1.1 * sand + 0.8 * np.tanh(d3) + 0.5 * arid + noise[..., 1]),                 # Ds
        _sigmoid(-0.5 + 1.2 * lksat + 0.6 * slope - 0.5 * clay * veg + noise[..., 2]),                 # Dsmax
        _sigmoid(0.3 + 1.0 * clay - 0.7 * np.tanh(sand * slope) - 0.5 * d3 + noise[..., 3]),           # Ws
        _sigmoid(1.4 * clay - 0.6 * sand + 0.5 * veg ** 2 - 0.5 + noise[..., 4]),                       # expt
    ], axis=-1)
    u = 0.03 + 0.94 * u
    # Ds and Dsmax skewed towards the low end (typical VIC values), where the bottom layer stays wet
    # enough for the baseflow parameters to feed back on the upper layers
    u[..., 1] = u[..., 1] ** 2
    u[..., 2] = u[..., 2] ** 1.5
    by_name = dict(zip(("infilt", "Ds", "Dsmax", "Ws", "expt"), np.moveaxis(u, -1, 0)))
    by_name["expt1"] = by_name["expt"]
    if any(n in EXTRA_TRUTH for n in space.names):
        e = np.zeros(noise.shape[:-1] + (len(EXTRA_TRUTH),)) if extra_noise is None else extra_noise
        extra = np.stack([
            _sigmoid(1.0 * clay - 0.8 * sand + 0.3 + e[..., 0]),                                       # expt2
            _sigmoid(0.8 * clay - 0.5 * lksat + 0.4 + e[..., 1]),                                      # expt3
            _sigmoid(0.9 * clay - 0.7 * sand + 0.5 * veg - 0.3 + e[..., 2]),                           # depth2
            _sigmoid(1.2 * np.tanh(d3) + 0.6 * arid - 0.5 * lksat + e[..., 3]),                        # depth3
            _sigmoid(-0.8 * lksat + 0.5 * slope + e[..., 4]),                                          # Ksat_mult
        ], axis=-1)
        by_name.update(zip(EXTRA_TRUTH, np.moveaxis(0.03 + 0.94 * extra, -1, 0)))
    return space.denormalize(np.stack([by_name[n] for n in space.names], axis=-1))


def _observation_mask(rng: np.random.Generator, n_cells: int, n_days: int, interval: tuple[int, int]) -> np.ndarray:
    """Boolean (cell, time): an observation every ``interval[0]..interval[1]`` days, random start."""
    lo, hi = int(interval[0]), int(interval[1])
    mask = np.zeros((n_cells, n_days), dtype=bool)
    gaps = rng.integers(lo, hi + 1, size=(n_cells, n_days // lo + 2))
    starts = rng.integers(0, hi, size=n_cells)
    for c in range(n_cells):
        idx = starts[c] + np.concatenate([[0], np.cumsum(gaps[c])])
        mask[c, idx[idx < n_days]] = True
    return mask


def _resolve_difficulty(difficulty: "str | TwinDifficulty") -> TwinDifficulty:
    if isinstance(difficulty, TwinDifficulty):
        return difficulty
    if difficulty not in DIFFICULTIES:
        raise RegionError(f"unknown twin difficulty {difficulty!r}; expected one of {sorted(DIFFICULTIES)}")
    return DIFFICULTIES[difficulty]


def _running_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Trailing mean over ``width`` days along the last axis (shorter windows at the start)."""
    c = np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 0)]), axis=-1)
    idx = np.arange(x.shape[-1])
    lo = np.maximum(idx + 1 - width, 0)
    return (c[..., idx + 1] - c[..., lo]) / (idx + 1 - lo)


def _observed_attributes(rng_r, d: TwinDifficulty, attrs: dict, ny: int, nx: int, sig: float) -> dict:
    """Attributes as the calibrator sees them: noise on the non-simulator ones, irrelevant ones added."""
    seen = dict(attrs)
    for name in ATTRIBUTE_NAMES:
        if name in SIMULATOR_ATTRIBUTES:
            continue
        a = attrs[name]
        seen[name] = a + d.attribute_noise * float(a.std()) * rng_r.standard_normal(a.shape)
    tex = np.stack([np.clip(seen[k], 0.01, None) for k in ("sand", "silt", "clay")])
    tex = tex / tex.sum(axis=0)
    seen["sand"], seen["silt"], seen["clay"] = tex
    seen["slope"] = np.clip(seen["slope"], 0.05, None)
    seen["aridity"] = np.clip(seen["aridity"], 0.05, None)
    for j in range(d.n_irrelevant):
        seen[f"aux{j + 1}"] = _smooth_field(rng_r, (ny, nx), sig)
    return seen


def _climate_cells(forcing: dict) -> tuple[np.ndarray, np.ndarray]:
    """Mean annual precipitation (mm/yr) and aridity (PET/P) per cell of a forcing dict ``(cell, time)``."""
    from .simulators.meteorology import potential_et

    f_t = torch.as_tensor(np.stack([forcing[k] for k in FORCING_VARS], axis=-1), dtype=torch.float64)
    pet = potential_et(f_t).numpy()
    p = forcing["prec"].mean(axis=1)
    return p * 365.25, pet.mean(axis=1) / np.maximum(p, 1e-6)


#: Bytes of memory per cell-day the twin generator needs for a chunk of cells (forcing, its working
#: arrays, the simulation and the observations; measured 420 on a 64 x 64 three-year twin):
#: ``write_synthetic_region`` divides its budget by it.
SYNTH_BYTES_PER_CELL_DAY = 500


class _Twin:
    """The twin generator, working through the grid in chunks of cells.

    The constructor makes every draw of the whole-grid generator in its order: static fields
    directly, the daily spatially smooth fields (temperature anomaly, storms, wind, precipitation
    error) day block by day block into :class:`_DayField` stores, and for each ``(cell, day)`` draw
    a copy of the generator at its start (:func:`_fork`). :meth:`chunk` then produces the time series
    of consecutive cell chunks, in order, and :meth:`statics` the per-cell fields once every chunk is
    done. The values do not depend on the chunk size, and with one chunk the operations are those
    of the whole-grid generator. Held for the whole grid: the static fields, the observation
    schedule (1 byte per cell-day; its gap draws, 8/``obs_interval[0]`` bytes per cell-day, while it
    is drawn) and, in ``folder`` when given, the daily fields (8 bytes per cell-day each).
    """

    def __init__(self, ny, nx, years, seed, start, obs_interval, sm_noise, et_noise, with_et, space, lat0, lon0,
                 d: TwinDifficulty, folder: str | None, block_cells: int, gauges: int = 0) -> None:
        self.ny, self.nx, self.seed, self.space, self.d = ny, nx, seed, space, d
        self.gauges = int(gauges)
        self.total_runoff = np.empty((ny * nx, int(round(365.25 * years)))) if self.gauges else None
        self.sm_noise, self.et_noise, self.with_et = sm_noise, et_noise, with_et
        self.realistic = realistic = d != CLEAN
        n_days = self.n_days = int(round(365.25 * years))
        n = self.n = ny * nx
        self.lo, self.hi = (int(x) for x in obs_interval)
        rng = np.random.default_rng(seed)
        rng_r = np.random.default_rng([seed, 1])   # realistic perturbations only: the true world is shared
        self.times = pd.date_range(start, periods=n_days, freq="D")
        rows, cols = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        self.row, self.col = rows.reshape(-1), cols.reshape(-1)
        self.lat = (lat0 + ((ny - 1) / 2 - rows) * GRID_RES).reshape(-1)   # row 0 is the northern edge
        self.lon = (lon0 + (cols - (nx - 1) / 2) * GRID_RES).reshape(-1)
        self.attrs = _attributes(rng, ny, nx, self.lat, self.lon)
        step = max(1, int(block_cells))
        block = max(1, min(n_days, step * n_days // n))
        sig = self.sig = max(1.5, min(ny, nx) / 3.0)
        # forcing draws (see _forcing_cells)
        self.doy = doy = self.times.day_of_year.values.astype(float)
        self.season = np.sin(2 * math.pi * (doy - 110) / 365.25)
        self.reg = np.zeros(n_days)
        e = rng.standard_normal(n_days)
        for t in range(1, n_days):
            self.reg[t] = 0.8 * self.reg[t - 1] + 0.6 * e[t]
        self.local = _DayField(n_days, n, folder)
        _smooth_days(rng, self.local, ny, nx, sig, block)
        self.wet_season = 0.5 + 0.25 * np.sin(2 * math.pi * (doy - 80) / 365.25)   # spring/early-summer peak
        self.storm = np.zeros(n_days)
        e = rng.standard_normal(n_days)
        for t in range(1, n_days):
            self.storm[t] = 0.55 * self.storm[t - 1] + 0.84 * e[t]
        self.storm_field = _DayField(n_days, n, folder)
        _smooth_days(rng, self.storm_field, ny, nx, sig * 0.8, block)
        self.g_amount = _fork(rng, n, (n_days,), "standard_normal", step)
        self.wind_field = _DayField(n_days, n, folder)
        _smooth_days(rng, self.wind_field, ny, nx, sig, block)
        # the truth's perturbation of the logits
        noise = 0.25 * np.moveaxis(_smooth_field(rng, (5, ny, nx), sig), 0, -1)
        if realistic and d.residual_sd > 0:
            noise = noise + d.residual_sd * np.moveaxis(_smooth_field(rng_r, (5, ny, nx), d.residual_sigma), 0, -1)
        self.noise = noise.reshape(n, 5)
        self.extra_noise = None
        if any(name in EXTRA_TRUTH for name in space.names):   # a generator of its own: the five stay as they were
            rng_x = np.random.default_rng([seed, 2])
            self.extra_noise = 0.25 * np.moveaxis(_smooth_field(rng_x, (len(EXTRA_TRUTH), ny, nx), sig), 0, -1
                                                  ).reshape(n, len(EXTRA_TRUTH))
        self.mask = _observation_mask(rng, n, n_days, (self.lo, self.hi))
        if not realistic:
            self.g_sm = _fork(rng, n, (n_days,), "standard_normal", step)
            if with_et:
                self.g_et_mask = _fork(rng, n, (n_days,), "random", step)
                self.g_et = _fork(rng, n, (n_days,), "standard_normal", step, skip=False)
        else:
            self.scale = np.exp(d.obs_scale_sd * rng_r.standard_normal(n))
            self.offset = d.obs_offset_sd * rng_r.standard_normal(n)
            self.g_sm = _fork(rng_r, n, (n_days,), "standard_normal", step)
            if d.random_dropout > 0:
                self.g_dropout = _fork(rng_r, n, (n_days,), "random", step)
            if with_et:
                n_towers = min(n, max(2, int(round(d.et_fraction * n))))
                towers = np.sort(rng_r.choice(n, size=n_towers, replace=False))
                self.is_tower = np.zeros(n, bool)
                self.is_tower[towers] = True
                self.closure = rng_r.uniform(*d.et_closure, size=n)
                self.g_et_mask = _fork(rng_r, n, (n_days,), "random", step)
                self.g_et = _fork(rng_r, n, (n_days,), "standard_normal", step)
            # the calibrator's forcing: static and daily precipitation error, temperature bias
            self.z_c = _smooth_field(rng_r, (ny, nx), sig).reshape(n, 1)
            self.z_ct = _DayField(n_days, n, folder)
            _smooth_days(rng_r, self.z_ct, ny, nx, sig * 0.8, block)
            self.z_t = _smooth_field(rng_r, (ny, nx), sig).reshape(n, 1)
            self.g_attributes = rng_r   # _observed_attributes draws next, once every chunk is done
            self.seen_map, self.seen_aridity = np.empty(n), np.empty(n)
        self.true_map, self.true_aridity = np.empty(n), np.empty(n)
        self.truth = np.empty((n, space.n))
        self.names = ATTRIBUTE_NAMES + (tuple(f"aux{j + 1}" for j in range(d.n_irrelevant)) if realistic else ())
        from .simulators.waterbalance import WaterBalanceSimulator

        self.sim = WaterBalanceSimulator(device="cpu", dtype="float64")
        self._next = 0

    def _forcing_cells(self, sl: slice, a: dict) -> dict:
        """The true daily forcing ``(cell, time)`` of the cells ``sl`` (``a``: their attributes)."""
        m, n_days = sl.stop - sl.start, self.n_days
        tmean = a["mean_temp"]
        air = tmean[:, None] + 12.0 * self.season[None, :] + 2.5 * self.reg[None, :] + 0.8 * self.local.cells(sl)
        # precipitation: storm fields (regional storminess x smooth local field), skewed amounts
        field = self.storm_field.cells(sl)
        latent = 0.7 * self.storm[None, :] + 0.7 * field + (self.wet_season[None, :] - 0.5)
        thr = 0.75
        excess = np.clip(latent - thr, 0.0, None)
        prec = excess ** 1.5 * np.exp(0.25 * self.g_amount.standard_normal((m, n_days)))
        map_target = a["mean_annual_prec"]
        years = n_days / 365.25
        scale = map_target * years / np.maximum(prec.sum(axis=1), 1e-9)
        prec = prec * scale[:, None]
        wet = (prec > 0.5).astype(float)
        # radiation: extraterrestrial x transmissivity reduced on wet days
        from .simulators.meteorology import STEFAN_BOLTZMANN, extraterrestrial_radiation

        ra = np.stack([extraterrestrial_radiation(la, self.doy) for la in self.lat[sl]])
        cloud = np.clip(0.15 + 0.55 * wet + 0.1 * np.clip(latent, -1, 1), 0.0, 0.95)
        swdown = ra * 0.75 * (1 - 0.65 * cloud)
        tk = air + 273.15
        lwdown = STEFAN_BOLTZMANN * tk ** 4 * np.clip(0.70 + 0.004 * air + 0.22 * cloud, 0.5, 1.0)
        elev = a["elevation"]
        pressure = 101.325 * ((293.0 - 0.0065 * elev) / 293.0) ** 5.26
        pressure = np.repeat(pressure[:, None], n_days, axis=1)
        rh = np.clip(0.45 + 0.35 * cloud + 0.1 * (map_target[:, None] - 850) / 500, 0.15, 0.98)
        vp = rh * 0.6108 * np.exp(17.27 * air / (air + 237.3))
        wind = 3.5 * np.exp(0.3 * self.wind_field.cells(sl)
                            + 0.2 * np.sin(2 * math.pi * (self.doy - 60) / 365.25)[None, :])
        return {"prec": prec, "air_temp": air, "swdown": swdown, "lwdown": lwdown, "pressure": pressure,
                "vp": vp, "wind": wind}

    def chunk(self, sl: slice) -> dict[str, np.ndarray]:
        """The float32 time series ``(cell, time)`` of the cells ``sl`` (chunks in order, from cell 0):
        the forcing the calibrator sees, ``obs_sm``, ``obs_et`` and (realistic) ``true_prec``/``true_air_temp``."""
        if sl.start != self._next:
            raise RegionError(f"twin chunks must come in order: expected cell {self._next}, got {sl.start}")
        self._next = sl.stop
        d, m, n_days = self.d, sl.stop - sl.start, self.n_days
        a = {k: v.reshape(-1)[sl] for k, v in self.attrs.items()}
        forcing = self._forcing_cells(sl, a)
        # climate indices from the generated (true) forcing
        a["mean_annual_prec"], a["aridity"] = self.true_map[sl], self.true_aridity[sl] = _climate_cells(forcing)
        truth = self.truth[sl] = true_parameter_fields(
            a, self.space, self.noise[sl], None if self.extra_noise is None else self.extra_noise[sl])
        att = np.stack([a[k] for k in ATTRIBUTE_NAMES], axis=1)
        forcing32 = {k: np.asarray(forcing[k], np.float32) for k in FORCING_VARS}
        base = make_region(lat=self.lat[sl], lon=self.lon[sl], time=self.times, forcing=forcing32, attributes=att,
                           attribute_names=ATTRIBUTE_NAMES, row=self.row[sl], col=self.col[sl])
        out = self.sim.run_arrays(base, truth, self.space.names)   # the truth, true forcing, float64, CPU
        del base
        if self.total_runoff is not None:
            self.total_runoff[sl] = np.asarray(out["runoff"], float) + np.asarray(out["baseflow"], float)
        mask = self.mask[sl].copy()
        porosity = a["porosity"][:, None]
        series: dict[str, np.ndarray] = {}
        if not self.realistic:
            sm = np.clip(out["sm"] + self.sm_noise * self.g_sm.standard_normal((m, n_days)), 0.01, porosity)
        else:
            wp = a["wilting_point"][:, None]
            wet = np.clip((out["sm"] - wp) / (porosity - wp), 0.0, 1.0)
            e = self.sm_noise * (1.0 + d.wet_noise_factor * wet) * self.g_sm.standard_normal((m, n_days))
            sm = np.clip(self.scale[sl, None] * out["sm"] + self.offset[sl, None] + e, 0.01, porosity)
            if d.frozen_temp is not None:
                mask &= _running_mean(forcing["air_temp"], 3) >= d.frozen_temp
            if d.random_dropout > 0:
                mask &= self.g_dropout.random((m, n_days)) >= d.random_dropout
        series["obs_sm"] = np.asarray(np.where(mask, sm, np.nan), np.float32)
        if self.with_et:
            if not self.realistic:
                et_mask = self.g_et_mask.random((m, n_days)) < 0.5
                et = np.clip(out["et"] + self.et_noise * self.g_et.standard_normal((m, n_days)), 0.0, None)
            else:
                et_mask = (self.g_et_mask.random((m, n_days)) < d.et_obs_prob) & self.is_tower[sl, None]
                et = np.clip(self.closure[sl, None] * out["et"] + self.et_noise * self.g_et.standard_normal((m, n_days)),
                             0.0, None)
            series["obs_et"] = np.asarray(np.where(et_mask, et, np.nan), np.float32)
        if self.realistic:
            seen = dict(forcing)
            factor = (np.exp(d.prec_bias_sd * self.z_c[sl] - d.prec_bias_sd ** 2 / 2)
                      * np.exp(d.prec_daily_sd * self.z_ct.cells(sl) - d.prec_daily_sd ** 2 / 2))
            seen["prec"] = forcing["prec"] * factor
            seen["air_temp"] = forcing["air_temp"] + d.temp_bias + d.temp_bias_sd * self.z_t[sl]
            self.seen_map[sl], self.seen_aridity[sl] = _climate_cells(seen)
            series["true_prec"], series["true_air_temp"] = forcing32["prec"], forcing32["air_temp"]
            forcing32 = {k: np.asarray(seen[k], np.float32) for k in FORCING_VARS}
            forcing32["prec"] = np.clip(forcing32["prec"], 0.0, None)
        return {**forcing32, **series}

    def statics(self) -> tuple[np.ndarray, dict]:
        """``(attributes (cell, n_attr), extra per-cell variables)`` once every chunk is done."""
        if self._next != self.n:
            raise RegionError(f"twin statics need every chunk first ({self._next} of {self.n} cells done)")
        ny, nx, n = self.ny, self.nx, self.n
        attrs = dict(self.attrs)
        attrs["mean_annual_prec"], attrs["aridity"] = self.true_map.reshape(ny, nx), self.true_aridity.reshape(ny, nx)
        extra: dict = {}
        if not self.realistic:
            att = np.stack([attrs[k].reshape(n) for k in ATTRIBUTE_NAMES], axis=1)
        else:
            seen_attrs = dict(attrs)
            seen_attrs["mean_annual_prec"] = self.seen_map.reshape(ny, nx)
            seen_attrs["aridity"] = self.seen_aridity.reshape(ny, nx)
            seen_attrs = _observed_attributes(self.g_attributes, self.d, seen_attrs, ny, nx, self.sig)
            att = np.stack([seen_attrs[k].reshape(n) for k in self.names], axis=1)
            extra["true_obs_scale"] = ("cell", self.scale, {"long_name": "true scale a of the observation operator "
                                                                         "obs_sm = a sm_top + b + noise", "units": "1"})
            extra["true_obs_offset"] = ("cell", self.offset, {"long_name": "true offset b of the observation operator",
                                                              "units": "m3 m-3"})
            if self.with_et:
                extra["et_tower"] = ("cell", self.is_tower.astype(np.int8), {"long_name": "1 where obs_et is observed "
                                                                                          "(tower-like cells)"})
        extra.update({f"true_{name}": ("cell", self.truth[:, j].astype(np.float64),
                                       {"long_name": f"true {name} of the synthetic twin"})
                      for j, name in enumerate(self.space.names)})
        return att, extra

    def rivers(self):
        """``(flow_direction (cell,), kernel, gauge names, true_q, obs_q)`` once every chunk is done
        (module docstring, "River network and discharge")."""
        from .routing import lohmann_kernel, route
        from .routing.network import d8_priority_flood, place_gauges

        if self._next != self.n:
            raise RegionError(f"twin rivers need every chunk first ({self._next} of {self.n} cells done)")
        fdir = d8_priority_flood(self.attrs["elevation"], mouths="lowest").reshape(-1)
        cells = place_gauges(fdir.reshape(self.ny, self.nx), self.gauges)
        if len(cells) < self.gauges:
            raise RegionError(f"a {self.ny} x {self.nx} twin has room for {len(cells)} gauge(s), {self.gauges} asked")
        names = [f"G{k + 1}" for k in range(len(cells))]
        grid = xr.Dataset(coords={"cell": np.arange(self.n), "lat": ("cell", self.lat), "lon": ("cell", self.lon)})
        kernel = lohmann_kernel(grid, [(nm, self.lat[c], self.lon[c]) for nm, c in zip(names, cells)], fdir,
                                max_days=TWIN_ROUTING_DAYS)
        true_q = route(kernel, self.total_runoff)
        white, ar_sd, rho, bias_sd, missing = Q_NOISE["realistic" if self.realistic else "clean"]
        rng = np.random.default_rng([self.seed, 3])
        g, t = true_q.shape
        log_err = white * rng.standard_normal((g, t)) - white ** 2 / 2
        if ar_sd > 0:
            e = rng.standard_normal((g, t))
            ar = np.empty((g, t))
            ar[:, 0] = e[:, 0]
            for k in range(1, t):
                ar[:, k] = rho * ar[:, k - 1] + math.sqrt(1 - rho ** 2) * e[:, k]
            log_err = log_err + ar_sd * ar - ar_sd ** 2 / 2 + bias_sd * rng.standard_normal((g, 1))
        obs_q = true_q * np.exp(log_err)
        if missing > 0:
            obs_q[rng.random((g, t)) < missing] = np.nan
        return fdir, kernel, names, true_q, obs_q

    def series_attrs(self) -> dict[str, dict]:
        """netCDF attributes of the time-series variables."""
        out = {k: {"units": FORCING_VARS[k]} for k in FORCING_VARS}
        out["obs_sm"] = {"units": "m3 m-3"}
        if self.with_et:
            out["obs_et"] = {"units": "mm/day"}
        if self.realistic:
            for k in ("prec", "air_temp"):
                out[f"true_{k}"] = {"long_name": f"true {k} (the calibrator sees {k})", "units": FORCING_VARS[k]}
        return out

    def global_attrs(self) -> dict:
        d = self.d
        out = dict(title="vic_paraformer synthetic twin region", seed=int(self.seed), ny=int(self.ny), nx=int(self.nx),
                   obs_interval=f"{self.lo}-{self.hi} days", sm_noise=float(self.sm_noise),
                   et_noise=float(self.et_noise), simulator="waterbalance (VIC-style stand-in, not VIC)",
                   parameter_space=str(self.space.preset_name), parameters=",".join(self.space.names),
                   difficulty=d.name)
        if self.realistic:
            out.update(d.as_attrs())
        if self.gauges:
            out["gauges"] = int(self.gauges)
        return out


def _twin(ny, nx, years, seed, start, obs_interval, sm_noise, et_noise, with_et, parameter_space, lat0, lon0,
          difficulty, folder, block_cells, gauges: int = 0) -> _Twin:
    """The checked arguments as a :class:`_Twin` (RegionError naming the bad argument)."""
    d = _resolve_difficulty(difficulty)
    if ny < 1 or nx < 1:
        raise RegionError(f"synthetic_region needs ny, nx >= 1, got {ny} x {nx}")
    n_days = int(round(365.25 * years))
    if n_days < 2:
        raise RegionError(f"synthetic_region needs at least 2 days, got years={years}")
    lo, hi = (int(x) for x in obs_interval)
    if lo < 1 or hi < lo:
        raise RegionError(f"obs_interval must be (min, max) days with 1 <= min <= max, got {obs_interval}")
    if sm_noise < 0 or et_noise < 0:
        raise RegionError(f"noise levels must be >= 0, got sm_noise={sm_noise}, et_noise={et_noise}")
    space = ParameterSpace.resolve(parameter_space)
    from .parameters import WATERBALANCE_MULTIPLIERS, MULTIPLIERS

    foreign = [n for n in space.names if n in MULTIPLIERS and n not in WATERBALANCE_MULTIPLIERS]
    if foreign:
        raise RegionError(f"synthetic_region cannot draw a truth of {foreign}: the water balance has no counterpart")
    problems = space.vic_problems()
    if problems:
        raise RegionError("synthetic_region draws its truth inside the parameter space, which must stay in the "
                          "range the simulator can use: " + "; ".join(problems))
    if int(gauges) < 0 or int(gauges) != gauges:
        raise RegionError(f"gauges must be a whole number >= 0, got {gauges}")
    if gauges and min(ny, nx) < 3:
        raise RegionError(f"a twin with gauges needs at least 3 x 3 cells (a river inside the edge), got {ny} x {nx}")
    return _Twin(ny, nx, years, seed, start, (lo, hi), sm_noise, et_noise, with_et, space, lat0, lon0, d, folder,
                 block_cells, int(gauges))


def synthetic_region(ny: int = 8, nx: int = 8, years: float = 3, seed: int = 0, start: str = "2015-04-01",
                     obs_interval: tuple[int, int] = (2, 3), sm_noise: float = 0.01, et_noise: float = 0.3,
                     with_et: bool = True, parameter_space: ParameterSpace | str | None = None,
                     lat0: float = 35.0, lon0: float = -98.0,
                     difficulty: "str | TwinDifficulty" = "clean", chunk_cells: int | None = None,
                     gauges: int = 0) -> Region:
    """A synthetic twin :class:`Region` with true parameters ``true_<param>`` and observations.

    Parameters
    ----------
    ny, nx
        Grid size (cells are numbered row-major; ``row``/``col`` coordinates are stored).
    years
        Length in years (``round(365.25 * years)`` days from ``start``).
    seed
        Seeds everything; the same arguments give identical arrays.
    obs_interval
        ``(min, max)`` days between consecutive soil-moisture observations (SMAP-like revisit).
    sm_noise, et_noise
        Standard deviations of the observation noise (m3/m3, mm/day); with ``"realistic"``,
        ``sm_noise`` is the dry-soil level of the wetness-dependent noise.
    with_et
        Also store ``obs_et``.
    parameter_space
        Space the truth lies in (default: the ``vic`` preset, the paper's five), e.g.
        ``build_space("vic-classic")``: the truth then holds the layer depths ``true_depth2``,
        ``true_depth3`` (the attributes ``soil_depth2/3`` stay the a-priori depths a calibration starts
        from) and a parameter the space leaves out takes the typical VIC value of
        :data:`~vic_paraformer.parameters.TYPICAL_VIC_DEFAULTS` in the simulation.
    lat0, lon0
        Centre of the grid (degrees).
    difficulty
        ``"clean"`` (default) or ``"realistic"`` (or a :class:`TwinDifficulty`); see the module
        docstring for what each changes, with its numbers.
    chunk_cells
        Generate the time series this many cells at a time (default: all at once). The values do
        not depend on it; the region is held in memory either way (:func:`write_synthetic_region`
        streams to a file instead).
    gauges
        Number of gauged outlets of a river network with true and observed discharge (module
        docstring, "River network and discharge"); 0 (the default) adds none.
    """
    if chunk_cells is not None and int(chunk_cells) < 1:
        raise RegionError(f"chunk_cells must be >= 1, got {chunk_cells}")
    n = ny * nx
    step = int(chunk_cells or max(n, 1))
    tw = _twin(ny, nx, years, seed, start, obs_interval, sm_noise, et_noise, with_et, parameter_space, lat0, lon0,
               difficulty, None, step, gauges)
    parts = [tw.chunk(slice(c0, min(n, c0 + step))) for c0 in range(0, n, step)]
    series = {k: np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k] for k in parts[0]}
    del parts
    att, extra = tw.statics()
    meta = tw.series_attrs()
    for k in ("true_prec", "true_air_temp"):
        if k in series:
            extra[k] = (("cell", "time"), series.pop(k), meta[k])
    region = make_region(lat=tw.lat, lon=tw.lon, time=tw.times, forcing={k: series[k] for k in FORCING_VARS},
                         attributes=att, attribute_names=tw.names, row=tw.row, col=tw.col,
                         obs_sm=series["obs_sm"], obs_et=series.get("obs_et"), extra=_ordered(extra))
    region.ds.attrs.update(tw.global_attrs())
    if tw.gauges:
        region = _with_rivers(region, tw)
    log.info("synthetic region (%s): %d x %d cells, %d days, seed %d", tw.d.name, ny, nx, tw.n_days, seed)
    return region


def _river_dataset(tw: _Twin) -> tuple[xr.Dataset, dict]:
    """The river network's variables (gauge coordinates, ``true_q``, ``obs_q``, the inline kernel and
    ``flow_direction``) as a Dataset over their own dimensions, and the global attributes to add."""
    from .routing.inline import kernel_dataset

    fdir, kernel, names, true_q, obs_q = tw.rivers()
    cells = xr.Dataset(coords={"cell": np.arange(tw.n), "lat": ("cell", tw.lat), "lon": ("cell", tw.lon)})
    base = kernel_dataset(cells, kernel, flow_direction=fdir)
    out = base.drop_vars(["lat", "lon", "cell"]).drop_dims("cell", errors="ignore")
    o = np.arange(len(names))
    out = out.assign_coords(gauge=("gauge", np.array(names, dtype=str)), gauge_outlet=("gauge", o),
                            gauge_outlet_name=("gauge", np.array(names, dtype=str)),
                            gauge_lat=("gauge", kernel.outlet_lat), gauge_lon=("gauge", kernel.outlet_lon))
    out["true_q"] = (("gauge", "time"), true_q, {"units": "m3 s-1", "long_name": "true daily mean discharge of the "
                                                                                 "synthetic twin"})
    out["obs_q"] = (("gauge", "time"), obs_q, {"units": "m3 s-1", "long_name": "observed daily mean discharge"})
    out = out.assign_coords(time=tw.times)
    fd = base["flow_direction"]
    return out, {"fdir": fd, "attrs": {"routing_kind": "lohmann", "discharge_file": "synthetic twin"}}


def _with_rivers(region: Region, tw: _Twin) -> Region:
    rivers, extra = _river_dataset(tw)
    ds = region.ds.assign(flow_direction=("cell", extra["fdir"].values, extra["fdir"].attrs))
    ds = xr.merge([ds, rivers], combine_attrs="override")
    ds.attrs.update(region.ds.attrs)
    ds.attrs.update(extra["attrs"])
    return Region(ds, source=region.source)


def _ordered(extra: dict) -> dict:
    """The per-cell variables in the order the twin has always stored them."""
    first = [k for k in ("true_obs_scale", "true_obs_offset", "et_tower", "true_prec", "true_air_temp") if k in extra]
    return {**{k: extra[k] for k in first}, **{k: v for k, v in extra.items() if k not in first}}


@dataclass(frozen=True)
class TwinSummary:
    """What :func:`write_synthetic_region` wrote."""

    path: Path
    n_cells: int
    n_days: int
    first_day: str
    last_day: str
    n_attributes: int
    obs_sm_fraction: float
    n_training_cells: int
    n_chunks: int
    chunk_cells: int


def write_synthetic_region(path: str | Path, ny: int = 8, nx: int = 8, years: float = 3, seed: int = 0,
                           start: str = "2015-04-01", obs_interval: tuple[int, int] = (2, 3), sm_noise: float = 0.01,
                           et_noise: float = 0.3, with_et: bool = True,
                           parameter_space: ParameterSpace | str | None = None, lat0: float = 35.0,
                           lon0: float = -98.0, difficulty: "str | TwinDifficulty" = "clean",
                           train_k: int | None = None, max_memory_gb: float = 1.0,
                           chunk_cells: int | None = None, gauges: int = 0) -> TwinSummary:
    """Write the twin :func:`synthetic_region` would build to ``path``, chunk of cells by chunk.

    The static fields of the whole grid are made first; then the time series (forcing, its
    degraded copy, the simulation, the observations) of ``chunk_cells`` cells at a time (default:
    as many as :data:`SYNTH_BYTES_PER_CELL_DAY` allows in ``max_memory_gb``) are generated and
    written into the pre-sized netCDF variables; the per-cell fields and ``train_cell`` (DAS-S
    ``train_k`` cells, :meth:`Region.spatial_split`, when given) come last, and the file is
    validated chunk by chunk before it replaces ``path`` (written to a temporary name first).
    The values are those of ``synthetic_region`` with the same arguments, whatever the chunk
    size; the daily spatial fields of the whole grid wait in scratch files beside ``path``.
    With ``gauges`` the river network and discharge are added last (the truth's runoff + baseflow of
    the whole grid is held in memory until routed, 8 bytes per cell-day).
    """
    import netCDF4

    from ._io import atomic_path
    from .formats import kind_attributes

    n = ny * nx
    if chunk_cells is None:
        if not max_memory_gb > 0:
            raise RegionError(f"the memory budget must be > 0 GB, got {max_memory_gb}")
        step = max(1, int(max_memory_gb * 1e9 // (SYNTH_BYTES_PER_CELL_DAY * max(2, round(365.25 * years)))))
    else:
        step = int(chunk_cells)
        if step < 1:
            raise RegionError(f"chunk_cells must be >= 1, got {chunk_cells}")
    step = min(step, n)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.scratch-", dir=target.parent) as scratch, \
            atomic_path(target) as tmp:
        tw = _twin(ny, nx, years, seed, start, obs_interval, sm_noise, et_noise, with_et, parameter_space, lat0, lon0,
                   difficulty, scratch if n > step else None, step, gauges)
        coords = Region(xr.Dataset(coords={"cell": np.arange(n), "lat": ("cell", tw.lat), "lon": ("cell", tw.lon),
                                           "row": ("cell", tw.row), "col": ("cell", tw.col)}), validate=False)
        train = coords.spatial_split(int(train_k)).train if train_k is not None else None
        meta = tw.series_attrs()
        # the skeleton: coordinates and placeholders of the per-cell variables, written by xarray
        # (so the file reads back exactly like Region.save's); the time series are added below
        skeleton = {"attributes": (("cell", "attribute"), np.zeros((n, len(tw.names)), np.float32))}
        if train is not None:
            skeleton["train_cell"] = ("cell", np.zeros(n, np.int8))
        ds = xr.Dataset(skeleton, coords={"cell": np.arange(n), "lat": ("cell", tw.lat), "lon": ("cell", tw.lon),
                                          "time": tw.times, "attribute": list(tw.names),
                                          "row": ("cell", tw.row.astype(int)), "col": ("cell", tw.col.astype(int))})
        ds.attrs = tw.global_attrs()
        ds = annotate(ds, kind="region", call="write_synthetic_region")
        ds.attrs = {**ds.attrs, **kind_attributes("region")}
        ds.to_netcdf(tmp)
        observed = 0
        with netCDF4.Dataset(tmp, "a") as nc:
            order = [*FORCING_VARS, "obs_sm", *(["obs_et"] if with_et else []),
                     *(["true_prec", "true_air_temp"] if tw.realistic else [])]
            for name in order:
                v = nc.createVariable(name, "f4", ("cell", "time"), fill_value=np.float32(np.nan))
                v.setncatts({**meta[name], "coordinates": "row lon lat col"})
                add_to_netcdf_variable(nc, name)
            for c0 in range(0, n, step):
                sl = slice(c0, min(n, c0 + step))
                part = tw.chunk(sl)
                for name in order:
                    nc[name][sl, :] = part[name]
                observed += int(np.isfinite(part["obs_sm"]).sum())
                log.info("synthetic region: cells %d..%d of %d written", sl.start, sl.stop - 1, n)
                del part
            att, extra = tw.statics()
            nc["attributes"][:, :] = att.astype(np.float32)
            for name, (dims, values, attrs) in extra.items():
                kind = "i1" if values.dtype == np.int8 else "f8"
                v = nc.createVariable(name, kind, (dims,), fill_value=None if kind == "i1" else np.nan)
                v.setncatts({**attrs, "coordinates": "row lon lat col"})
                add_to_netcdf_variable(nc, name)
                v[:] = values
            if train is not None:
                nc["train_cell"][:] = np.isin(np.arange(n), train).astype(np.int8)
        if tw.gauges:
            rivers, extra = _river_dataset(tw)
            rivers = rivers.drop_vars("time").assign(flow_direction=("cell", extra["fdir"].values, extra["fdir"].attrs))
            rivers.to_netcdf(tmp, mode="a")
            with netCDF4.Dataset(tmp, "a") as nc:
                nc.setncatts(extra["attrs"])
        check = Region.open(tmp, chunks=step)   # validated one chunk at a time
        n_train = len(check.training_cells)
        del check
    log.info("synthetic region (%s): %d x %d cells, %d days, seed %d, %d chunk(s) of <= %d cells", tw.d.name, ny, nx,
             tw.n_days, seed, -(-n // step), step)
    return TwinSummary(path=target, n_cells=n, n_days=tw.n_days, first_day=str(tw.times[0].date()),
                       last_day=str(tw.times[-1].date()), n_attributes=len(tw.names),
                       obs_sm_fraction=observed / (n * tw.n_days), n_training_cells=n_train, n_chunks=-(-n // step),
                       chunk_cells=step)


def true_forcing_region(region: Region) -> Region:
    """The region with its forcing replaced by the twin's true forcing (``true_prec``, ``true_air_temp``).

    A region without stored true forcing (the ``clean`` preset, or not a twin) is returned unchanged:
    its forcing is the truth's.
    """
    ds = region.ds
    names = [k for k in FORCING_VARS if f"true_{k}" in ds]
    if not names:
        return region
    new = ds.copy()
    for k in names:
        new[k] = ds[f"true_{k}"].astype(ds[k].dtype).assign_attrs(ds[k].attrs)
    return Region(new, source=region.source)


def true_observation_operator(region: Region, sm: np.ndarray) -> np.ndarray:
    """Simulated top-layer SM ``(cell, time)`` mapped through the twin's true operator ``a sm + b``.

    Without ``true_obs_scale``/``true_obs_offset`` (the clean preset) ``sm`` is returned as is.
    """
    if "true_obs_scale" not in region.ds or "true_obs_offset" not in region.ds:
        return sm
    a = region.ds["true_obs_scale"].values[:, None]
    b = region.ds["true_obs_offset"].values[:, None]
    return a * np.asarray(sm, float) + b
