"""Write calibrated parameters into a copy of a VIC 5 parameter netCDF file.

:func:`write_parameters` copies the template file byte for byte into a temporary file in the
output folder, opens the copy with netCDF4 in append mode and assigns only the calibrated
variables on the calibrated cells, then renames the copy into place. Which variable and layer each
parameter sets is the table of :mod:`vic_paraformer.parameters` (:data:`~vic_paraformer.parameters.CALIBRATABLE`):

* ``infilt``, ``Ds``, ``Dsmax``, ``Ws`` on ``(lat, lon)``;
* ``expt`` (tied across layers) on ``(nlayer, lat, lon)``: **every layer** receives the one calibrated
  exponent (the ``waterbalance`` simulator uses one exponent for all layers too), unless
  ``expt_layers`` names the layers (``--expt-layers 1``: the top layer only);
* ``expt1``, ``expt2``, ``expt3``: ``expt`` of that layer alone;
* ``depth2``, ``depth3``: ``depth`` of layer 2 or 3 (m); the layer's ``init_moist`` (mm) follows
  by the rule of :func:`vic_paraformer.parameters.scale_init_moist` (scaled with the thickness, never
  above porosity x depth x 1000 with porosity ``1 - bulk_density / soil_density``). ``Wcr_FRACT``,
  ``Wpwp_FRACT`` and ``resid_moist`` are fractions of the layer's pore space or volume, and
  ``bulk_density``/``soil_density`` are per volume, so they stay consistent with a new depth unchanged;
* multipliers (``Ksat_mult``) multiply the template's value of their variable in every layer.

Every other variable and layer, attribute, dimension, dtype, fill value and the file format stay
exactly as in the template, and the template is only read.

Result cells are matched to the grid by their ``lat``/``lon`` (coordinates of the result's
parameter Dataset, or looked up by cell id in ``region``). Values are clipped to what VIC can use
(:func:`vic_paraformer.parameters.vic_clip_limits`) with a logged warning counting the clipped cells.
The values the new file holds at its simulated cells (the template's and the calibrated ones) must
be physically plausible (:mod:`vic_paraformer.plausibility`), unless ``allow_out_of_range``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import netCDF4
import numpy as np
import xarray as xr

from .._io import atomic_path
from ..errors import VICError
from ..formats import extent, other_region
from ..parameters import CALIBRATABLE_BY_NAME, scale_init_moist, vic_clip_limits
from .outofrange import check, enforce, read_cells
from .dims import check_parameter_dims
from .grid import VicGrid, open_netcdf

log = logging.getLogger(__name__)

#: Calibrated parameter -> (variable in the VIC parameter file, has a layer dimension), from
#: :data:`vic_paraformer.parameters.CALIBRATABLE`.
VIC_VARIABLES: dict[str, tuple[str, bool]] = {c.name: (c.vic_var, c.layer is not None)
                                              for c in CALIBRATABLE_BY_NAME.values()}


def _layers_of(name: str, nlayer: int, expt_layers: Sequence[int] | None) -> list[int]:
    """The 0-based layers parameter ``name`` sets in a file of ``nlayer`` layers."""
    layer = CALIBRATABLE_BY_NAME[name].layer
    if name == "expt" and expt_layers is not None:
        return list(expt_layers)
    if layer == "all":
        return list(range(nlayer))
    return [int(layer)]


def new_values(template: dict[str, np.ndarray], values: dict[str, np.ndarray], names: Sequence[str],
               expt_layers: Sequence[int] | None) -> dict[str, np.ndarray]:
    """The variables the calibrated ``values`` (``(cell,)`` each) change, given the ``template``'s values at
    the same cells (variable -> array, layer first and the cell last): variable -> new array.

    Layer depths carry ``init_moist`` along (:func:`~vic_paraformer.parameters.scale_init_moist`)."""
    out: dict[str, np.ndarray] = {}
    for n in names:
        vname, layered = VIC_VARIABLES[n]
        cur = out.get(vname, np.array(template[vname], dtype=np.float64, copy=True))
        if not layered:
            cur = values[n].astype(np.float64)
        else:
            for k in _layers_of(n, cur.shape[0], expt_layers):
                cur[k] = cur[k] * values[n] if CALIBRATABLE_BY_NAME[n].multiplier else values[n]
        out[vname] = cur
    if "depth" in out and "init_moist" in template:
        old = np.asarray(template["depth"], np.float64)
        porosity = (1.0 - np.asarray(template["bulk_density"], np.float64) / np.asarray(template["soil_density"],
                                                                                        np.float64))
        moist = scale_init_moist(np.asarray(template["init_moist"], np.float64), old, out["depth"], porosity)
        changed = out["depth"] != old
        out["init_moist"] = np.where(changed, moist, template["init_moist"])
    return out


def _params_dataset(result) -> tuple[xr.Dataset, list[str], str | None]:
    from ..result import CalibrationResult

    if isinstance(result, (str, Path)):
        result = CalibrationResult.open(result)
    if isinstance(result, CalibrationResult):
        return result.params, list(result.parameter_space.names), result.source
    if isinstance(result, xr.Dataset):
        return result, [n for n in VIC_VARIABLES if n in result.data_vars], None
    raise VICError(f"write_parameters needs a CalibrationResult, a result file or a parameter Dataset, "
                   f"got {type(result).__name__}")


def _cell_latlon(params: xr.Dataset, region) -> tuple[np.ndarray, np.ndarray]:
    if "lat" in params.variables and "lon" in params.variables:
        return np.asarray(params["lat"].values, float), np.asarray(params["lon"].values, float)
    if region is not None:
        ds = region.ds if hasattr(region, "ds") else region
        ids = params["cell"].values
        missing = np.setdiff1d(ids, ds["cell"].values)
        if missing.size:
            raise VICError(f"result cell id(s) {missing[:5].tolist()} are not in the region given to match them")
        sub = ds.sel(cell=ids)
        return np.asarray(sub["lat"].values, float), np.asarray(sub["lon"].values, float)
    raise VICError("the result has no lat/lon for its cells; pass the region it was calibrated on "
                   "(region=..., or --region on the command line) to match cells to the VIC grid")


def _check_written(written: dict[str, np.ndarray], changed: dict[str, np.ndarray], grid, rows: np.ndarray,
                   cols: np.ndarray, template: Path, allow: bool) -> list[dict]:
    """Check the values the new file holds at the simulated cells: the template's, with the ``changed``
    values on their cells (:func:`vic_paraformer.vic.outofrange.check`); the findings' records."""
    index = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(grid.rows, grid.cols))}
    pos = np.array([index[(int(r), int(c))] for r, c in zip(rows, cols)], dtype=int)
    for vname, a in changed.items():
        if vname in written:
            written[vname][..., pos] = a
    found = check(written, grid.lat[grid.rows], grid.lon[grid.cols], file=str(template))
    return enforce(found, allow=allow, what=f"parameter file written from {template}")


def check_on_grid(lat, lon, grid: VicGrid, *, result: str | None, setup: str) -> None:
    """VICError when result cells at ``lat``/``lon`` lie outside ``grid``: the result was made for another
    region or grid (:func:`vic_paraformer.formats.other_region`, naming the result file ``result`` and
    ``setup``, with both extents)."""
    outside = grid.outside(lat, lon)
    if outside.any():
        active = grid.active
        rows, cols = np.nonzero(active)
        raise other_region(result, "calibration result", f"its {extent(lat, lon)} ({int(outside.sum())} outside "
                           f"the VIC grid)", f"{setup} simulates {extent(grid.lat[rows], grid.lon[cols])}", VICError)


def check_result_cells(result, grid: VicGrid, *, setup: str) -> None:
    """VICError before any run when ``result`` (a CalibrationResult or a result file) was made for another
    region or grid than the VIC setup of ``grid``: cells located by their lat/lon, or, without them, by
    their cell ids (``row * n_lon + col``)."""
    params, _, source = _params_dataset(result)
    if "lat" in params.variables and "lon" in params.variables:
        check_on_grid(params["lat"].values, params["lon"].values, grid, result=source, setup=setup)
        return
    ids = np.asarray(params["cell"].values)
    unknown = np.setdiff1d(ids, grid.cell_ids)
    if unknown.size:
        valid = grid.cell_ids
        raise other_region(source, "calibration result", f"its {ids.size} cell id(s) include {unknown[:5].tolist()}",
                           f"{setup} simulates {valid.size} cell(s) with ids {valid.min()}..{valid.max()}", VICError)


def write_parameters(result, template_params_nc: str | Path, out_path: str | Path, *,
                     cells: Iterable[int] | None = None, region=None, expt_layers: Sequence[int] | None = None,
                     lat_name: str = "lat", lon_name: str = "lon", allow_out_of_range: bool = False,
                     check_plausibility: bool = True) -> Path:
    """Write ``out_path``: a copy of ``template_params_nc`` with the calibrated values of ``result``.

    Parameters
    ----------
    result:
        A :class:`~vic_paraformer.calibrator.CalibrationResult`, a path to a saved one, or a Dataset
        with parameter variables over ``cell`` (and ``lat``/``lon`` coordinates).
    template_params_nc:
        The user's VIC parameter file (never modified).
    out_path:
        The new parameter file (written atomically; may not be the template itself).
    cells:
        Cell ids of the result to write (default: every cell of the result).
    region:
        Region (or Dataset) to look up lat/lon by cell id when the result has none.
    expt_layers:
        0-based soil layers that receive a calibrated tied ``expt`` (default None: every layer).
    allow_out_of_range:
        Write even when the values written (the template's, with the calibrated ones) leave the
        physically plausible ranges at simulated cells (:mod:`vic_paraformer.plausibility`): one
        warning, and the findings in the output's global attribute ``vic_paraformer_out_of_range``
        (JSON). Otherwise such values raise VICError naming the template, variable and cell.
    check_plausibility:
        False skips that check (the ``vic`` simulator's runs, whose setup was checked at import).

    Returns the output path.
    """
    template = Path(template_params_nc)
    out = Path(out_path)
    if not template.is_file():
        raise VICError(f"{template}: VIC parameter file not found")
    if out.resolve() == template.resolve():
        raise VICError(f"{out}: the output would overwrite the template parameter file; choose another path")
    params, names, source = _params_dataset(result)
    unknown = [n for n in names if n not in VIC_VARIABLES]
    if unknown:
        raise VICError(f"parameter(s) {unknown} have no VIC parameter-file variable; known: {list(VIC_VARIABLES)}")
    if not names:
        raise VICError(f"the result has none of the VIC parameters {list(VIC_VARIABLES)}")
    if cells is not None:
        cells = np.asarray(list(cells))
        missing = np.setdiff1d(cells, params["cell"].values)
        if missing.size:
            raise VICError(f"cell id(s) {missing[:5].tolist()} are not in the result")
        params = params.sel(cell=cells)
    lat, lon = _cell_latlon(params, region)
    with open_netcdf(template, "VIC parameter file") as tds:
        for v in (lat_name, lon_name, "run_cell"):
            if v not in tds.variables:
                raise VICError(f"{template}: parameter file lacks variable {v!r}")
        for n in names:
            if VIC_VARIABLES[n][0] not in tds.variables:
                raise VICError(f"{template}: parameter file lacks variable {VIC_VARIABLES[n][0]!r} (calibrated "
                               f"parameter {n})")
        for v in (lat_name, lon_name):
            if tds[v].ndim != 1:
                raise VICError(f"{template}: parameter file variable {v!r} has dims {tuple(map(str, tds[v].dims))}; "
                               f"expected ({v},)")
        shape = (tds[lat_name].size, tds[lon_name].size)
        check_parameter_dims(tds, template, lat_name, lon_name, shape,
                             names=["run_cell", "mask"] + [VIC_VARIABLES[n][0] for n in names])
        mask = np.asarray(tds["mask"].fillna(0).values) if "mask" in tds.variables else np.ones(tds["run_cell"].shape)
        grid = VicGrid(lat=np.asarray(tds[lat_name].values, float), lon=np.asarray(tds[lon_name].values, float),
                       mask=mask.astype(int), run_cell=np.asarray(tds["run_cell"].fillna(0).values).astype(int))
        nlayer = tds["expt"].shape[0] if "expt" in tds.variables else 0
        written = read_cells(tds, grid.rows, grid.cols) if check_plausibility else None
        needed = {VIC_VARIABLES[n][0] for n in names}
        if "depth" in needed:
            lacking = [v for v in ("init_moist", "bulk_density", "soil_density") if v not in tds.variables]
            if lacking:
                raise VICError(f"{template}: parameter file lacks variable(s) {lacking}, needed to keep init_moist "
                               "consistent with the calibrated layer depths")
            needed |= {"init_moist", "bulk_density", "soil_density"}
        current = {v: np.asarray(tds[v].values, np.float64) for v in needed}
    check_on_grid(lat, lon, grid, result=source, setup=f"the VIC parameter file {template}")
    rows, cols = grid.locate(lat, lon, what=f"result cell (for {template})")
    if len(set(zip(rows.tolist(), cols.tolist()))) != len(rows):
        raise VICError(f"several result cells fall in the same grid cell of {template}")
    bad_layers = [k for k in (expt_layers or ()) if not 0 <= k < nlayer]
    if "expt" in names and bad_layers:
        raise VICError(f"expt_layers {list(expt_layers)}: {template} has {nlayer} layer(s) (0-based indices)")
    values = {}
    for n in names:
        v = np.asarray(params[n].values, float)
        if not np.all(np.isfinite(v)):
            raise VICError(f"result parameter {n!r} has non-finite values")
        lo, hi = vic_clip_limits(n)
        clipped = (v < lo) | (v > hi)
        if clipped.any():
            log.warning("%s: %d of %d cell(s) clipped into VIC's valid range [%g, %g] before writing",
                        n, int(clipped.sum()), v.size, lo, hi)
        values[n] = np.clip(v, lo, hi)
    changed = new_values({v: a[..., rows, cols] for v, a in current.items()}, values, names, expt_layers)
    out_of_range: list[dict] = []
    if written is not None:
        out_of_range = _check_written(written, changed, grid, rows, cols, template, allow_out_of_range)
    with atomic_path(out) as tmp:
        shutil.copyfile(template, tmp)
        with netCDF4.Dataset(tmp, "a") as nc:
            for vname, a in changed.items():
                var = nc.variables[vname]
                var.set_auto_maskandscale(False)
                data = var[:]
                data[..., rows, cols] = a.astype(data.dtype)
                var[:] = data
            if out_of_range:
                nc.setncattr("vic_paraformer_out_of_range", json.dumps(out_of_range))
    log.debug("wrote %s: %s on %d cell(s) (template %s)", out, ", ".join(names), len(rows), template)
    return out
