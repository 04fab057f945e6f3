"""Observations of a VIC twin made by the real VIC with its true parameters (see :mod:`.export`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import VICError
from ..region import Region
from .export import GLOBAL_NAME, PARAMS, TRUE_PARAMS_NAME, _write_observations
from .grid import region_grid
from .importer import region_from_vic

log = logging.getLogger(__name__)


def twin_observations(out_dir: str | Path, *, sm_noise: float = 0.01, et_noise: float = 0.3,
                      obs_interval: tuple[int, int] = (2, 3), with_et: bool = True, seed: int = 0,
                      allow_out_of_range: bool = False, **simulator_options: Any) -> Region:
    """Observations of an exported twin made by the real VIC with its true parameters.

    Runs VIC on the setup :func:`export_vic` wrote in ``out_dir`` with its ``params_true.nc`` (the
    truth; ``params.nc``, which the global file and the Region use, holds the default parameters), samples soil moisture every ``obs_interval`` days per cell (as :mod:`vic_paraformer.synthetic`
    does) with Gaussian noise ``sm_noise`` (m3 m-3, clipped to [0.01, porosity]) and ET every day with
    noise ``et_noise`` (mm/day, clipped at 0), writes ``observations.nc`` and rewrites ``region.nc``
    (the imported setup with the observations and the ``true_<param>`` fields). ``simulator_options``
    go to :class:`~vic_paraformer.simulators.vic.VICSimulator` (exe, workdir, timeout, spinup_years...).
    ``allow_out_of_range`` accepts parameter values outside the plausible ranges, as the export did
    (see :func:`~vic_paraformer.vic.importer.region_from_vic`). Returns the Region.
    """
    from ..simulators.vic import VICSimulator
    from ..synthetic import _observation_mask

    out = Path(out_dir)
    gpath = out / GLOBAL_NAME
    if not gpath.is_file() or not (out / "region.nc").is_file():
        raise VICError(f"{out}: not a folder written by export_vic (no {GLOBAL_NAME} / region.nc)")
    lo, hi = (int(x) for x in obs_interval)
    if not 1 <= lo <= hi:
        raise VICError(f"obs_interval must be (min, max) days with 1 <= min <= max, got {obs_interval}")
    if sm_noise < 0 or et_noise < 0:
        raise VICError(f"noise levels must be >= 0, got sm_noise={sm_noise}, et_noise={et_noise}")
    saved = Region.open(out / "region.nc")
    truth = {p: np.asarray(saved.ds[f"true_{p}"].values, float) for p in PARAMS if f"true_{p}" in saved.ds}
    base = region_from_vic(gpath, allow_out_of_range=allow_out_of_range)
    sim = VICSimulator(**simulator_options)
    truth_file = out / TRUE_PARAMS_NAME
    if not truth_file.is_file():
        raise VICError(f"{out}: no {TRUE_PARAMS_NAME} (the Region exported had no true_<param>): "
                       "twin observations need the truth")
    res = sim.run_parameter_file(base, truth_file)
    rng = np.random.default_rng(seed)
    n, n_days = base.n_cells, base.n_days
    mask = _observation_mask(rng, n, n_days, (lo, hi))
    por = base.attributes()[:, base.attribute_names.index("porosity")][:, None]
    sm = np.clip(res["sm"].values + sm_noise * rng.standard_normal((n, n_days)), 0.01, por)
    obs = base.ds.copy()
    obs["obs_sm"] = (("cell", "time"), np.where(mask, sm, np.nan).astype(np.float32), {"units": "m3 m-3"})
    if with_et:
        et = np.clip(res["et"].values + et_noise * rng.standard_normal((n, n_days)), 0, None)
        obs["obs_et"] = (("cell", "time"), et.astype(np.float32), {"units": "mm/day"})
    lat, lon, rows, cols = region_grid(base)
    opath = _write_observations(Region(obs, validate=False), lat, lon, rows, cols, out / "observations.nc")
    back = region_from_vic(gpath, opath, check_plausibility=False)  # the same parameters as base
    ds = back.ds
    if "vic_out_of_range" in base.ds.attrs:
        ds.attrs["vic_out_of_range"] = base.ds.attrs["vic_out_of_range"]
    for p, v in truth.items():
        ds[f"true_{p}"] = ("cell", v)
    ds.attrs.update({k: v for k, v in saved.ds.attrs.items() if k.startswith("vic_export")})
    ds.attrs["vic_twin_observations"] = json.dumps({"sm_noise": sm_noise, "et_noise": et_noise,
                                                    "obs_interval": [lo, hi], "seed": seed, "with_et": with_et,
                                                    "spinup_years": int(getattr(sim, "spinup_years", 0))})
    region = Region(ds, source=str(gpath))
    region.save(out / "region.nc")
    log.info("twin observations by VIC written to %s (%d obs_sm, VIC %.1f s)", opath,
             int(np.isfinite(region.observations("obs_sm")).sum()), float(res.attrs.get("vic_wall_time_s", 0)))
    return region


__all__: Sequence[str] = ("twin_observations",)
