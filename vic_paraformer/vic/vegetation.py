"""Vegetation tiles and roots of a VIC parameter file (simulator layer), for the import and the export.

VIC describes a cell's vegetation as tiles (``veg_class``) with a cover ``Cv``, monthly ``LAI`` and
root zones (``root_depth``, ``root_fract``); the last tile is bare soil. A Region has cell values:
the vegetated fraction and the fraction of roots in each soil layer
(:data:`vic_paraformer.vic.variables.ATTRIBUTES`). This module maps root zones onto soil layers
(import) and writes a Region's vegetated fraction and root fractions into the tiles (export).
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

#: Bare-soil vegetation-library values the export gives a bare tile it fills (the bare tile of VIC's Stehekin sample).
BARE_SOIL: dict[str, float] = {"LAI": 0.0, "albedo": 0.15, "veg_rough": 0.0738, "displacement": 0.402,
                               "overstory": 0.0, "rarc": 5.0, "rmin": 50.0, "wind_h": 5.0, "RGL": 100.0,
                               "rad_atten": 0.5, "wind_atten": 0.5, "trunk_ratio": 0.2, "fcanopy": 0.01,
                               "max_snow_albedo": 0.85}


def root_fractions_by_layer(root_depth: np.ndarray, root_fract: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Per tile and cell, root fraction in each soil layer: (veg, zone, cell) x (layer, cell) -> (veg, layer, cell).

    Each root zone is spread uniformly over its depth and overlapped with the soil layers; roots
    below the soil column count in the bottom layer.
    """
    nveg, nzone, ncell = root_depth.shape
    nlay = depth.shape[0]
    bottoms = np.cumsum(depth, axis=0)  # (layer, cell)
    tops = bottoms - depth
    out = np.zeros((nveg, nlay, ncell))
    ztop = np.zeros((nveg, ncell))
    for z in range(nzone):
        thick = np.nan_to_num(root_depth[:, z, :])
        frac = np.nan_to_num(root_fract[:, z, :])
        zbot = ztop + thick
        for k in range(nlay):
            lo = np.maximum(ztop, tops[k][None, :])
            hi = np.minimum(zbot, bottoms[k][None, :] if k < nlay - 1 else np.inf)
            share = np.where(thick > 0, np.clip(hi - lo, 0, None) / np.where(thick > 0, thick, 1), 0)
            out[:, k, :] += frac * share
        ztop = zbot
    tot = out.sum(axis=1, keepdims=True)
    return np.where(tot > 0, out / np.where(tot > 0, tot, 1), 0)


def vegetated_tiles(v: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(veg, cell)``: tiles with some leaf area in the year (the last, bare-soil tile never)."""
    cv = np.nan_to_num(v["Cv"])
    lai = np.nan_to_num(v["LAI"]) if "LAI" in v else np.ones(cv.shape[:1] + (12,) + cv.shape[1:])
    vegetated = lai.max(axis=1) > 0
    vegetated[cv.shape[0] - 1] = False
    return vegetated


def write_veg_fraction(v: dict, vf: np.ndarray, k: int) -> None:
    """Scale the cover of the vegetated tiles to ``vf``; the rest goes to the bare-soil (last) tile."""
    cv = np.nan_to_num(v["Cv"])  # (veg, cell)
    bare = cv.shape[0] - 1
    vegetated = vegetated_tiles(v)
    if np.allclose(np.where(vegetated, cv, 0).sum(axis=0), np.clip(vf, 0, 1), atol=1e-6):
        return  # the template's cover already says so
    cur = np.where(vegetated, cv, 0).sum(axis=0)
    target = np.clip(vf, 0, 1)
    scale = np.where(cur > 0, target / np.where(cur > 0, cur, 1), 0)
    if np.any((cur <= 0) & (target > 0)):
        log.warning("veg_fraction > 0 at cell(s) whose template cell has no vegetated tile; left bare")
    cv = np.where(vegetated, cv * scale[None], cv)
    others = np.where(vegetated, 0, cv)
    others[bare] = 0
    cv[bare] = np.clip(1.0 - np.where(vegetated, cv, 0).sum(axis=0) - others.sum(axis=0), 0, 1)
    v["Cv"] = cv
    needs = cv[bare] > 0
    if needs.any():
        for name, value in BARE_SOIL.items():
            if name in v:
                arr = v[name]
                sl = arr[bare]
                sl[..., needs] = np.where(np.isfinite(sl[..., needs]), sl[..., needs], value)
                arr[bare] = sl
    v["Nveg"] = (cv[:bare] > 0).sum(axis=0).astype(float)


def write_root_fractions(v: dict, fractions: Sequence[np.ndarray | None]) -> None:
    """Set every vegetated tile's root zones to the soil layers, with these fractions per layer."""
    nlay = v["depth"].shape[0]
    nzone = v["root_depth"].shape[1]
    vegetated = vegetated_tiles(v)
    fr = list(fractions)
    if all(f is not None for f in fr):
        veg = np.where(vegetated, np.nan_to_num(v["Cv"]), 0.0)
        tot = veg.sum(axis=0)
        w = np.where(tot > 0, veg / np.where(tot > 0, tot, 1), 0.0)
        have = (w[:, None, :] * root_fractions_by_layer(v["root_depth"], v["root_fract"], v["depth"])).sum(axis=0)
        if np.allclose(have, np.stack(fr), atol=1e-4):
            return  # the template's roots already say so
    if not any(f is not None for f in fr):
        return
    if nzone < nlay or any(f is None for f in fr):
        log.warning("root_fraction attributes need one per soil layer and root_zone >= nlayer; not written")
        return
    bare = v["Cv"].shape[0] - 1
    tiles = np.flatnonzero(vegetated.any(axis=1) | (np.nan_to_num(v["Cv"])[:, :] > 0).any(axis=1))
    for j in tiles[tiles != bare]:
        for z in range(nzone):
            v["root_depth"][j, z] = v["depth"][z] if z < nlay else 0.0
            v["root_fract"][j, z] = fr[z] if z < nlay else 0.0


__all__ = ["BARE_SOIL", "root_fractions_by_layer", "vegetated_tiles", "write_root_fractions", "write_veg_fraction"]
