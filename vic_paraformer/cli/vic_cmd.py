"""``vic-paraformer vic``: import a VIC 5 setup, write parameter files, run and verify with VIC.

Sub-commands::

    vic import       --global G --out region.nc [--obs obs.nc] [--start D --end D] [--rvic R [--discharge Q]]
                     [--obs-format NAME] [--energy-closure] [--obs-option KEY=VALUE ...]
    vic write-params --template params.nc --result result.nc --out new_params.nc [--region region.nc]
    vic run          --global G --out sim.nc [--result result.nc] [--start D --end D]
    vic verify       --global G --result result.nc --obs obs.nc --out report_dir
                     [--start D --end D] [--score-start D --score-end D] [--ensemble]
    vic export       --region R --template params.nc --domain domain.nc --out DIR

Parameter-file values outside the physically plausible ranges (docs/vic-parameter-ranges.md) stop
import, run, verify, write-params and export with one line naming the file, variable, cell and
allowed range; ``--allow-out-of-range`` accepts them with a warning and records them in the output.

``vic verify --ensemble`` also runs VIC once per member of the result's parameter ensemble (or per
5/50/95 % quantile set when only quantiles are stored) and reports the spread of SM and ET and of
the metrics across those runs (``ensemble_per_cell.csv``, ``ensemble_band.nc``, ``ensemble_band.png``).

``--var NAME=VALUE`` (repeatable) substitutes ``${NAME}`` in the global file (the environment is
used for names not given). The VIC executable comes from ``--exe``, ``$VIC_IMAGE_EXE`` or
``vic_image.exe`` on PATH.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import logging

from ..errors import ParameterError, VICError
from ._obs_options import add_obs_options, check_obs_options, read_options
from ._spinup import add_spinup_argument, spinup_years
from ._text import plain_text
from ._checks import check_vic, expt_layers as _layers, member_choice as _member
from ._outputs import add_overwrite, guard
from ._scratch import add_scratch_argument
from ._types import date, non_negative_float, non_negative_int, positive_float, positive_int

log = logging.getLogger(__name__)


def _variables(items) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise VICError(f"--var {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def _add_setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--global", dest="global_file", required=True, help="VIC global parameter file")
    p.add_argument("--var", action="append", metavar="NAME=VALUE", help="value for ${NAME} in the global file")
    p.add_argument("--start", type=date, help="first day of the run (default: the global file's start)")
    p.add_argument("--end", type=date, help="last day (default: the global file's end)")


def _add_vic(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exe", help="vic_image.exe (default: $VIC_IMAGE_EXE, then PATH)")
    p.add_argument("--mpi-procs", type=positive_int, help="run VIC under mpiexec -n N")
    p.add_argument("--timeout", type=positive_float, default=3600.0, help="seconds per VIC run before it is killed")
    p.add_argument("--workdir", help="folder for run directories, kept (default: inside the --scratch folder)")
    add_scratch_argument(p, "VIC run directories unless --workdir")
    p.add_argument("--keep-runs", action="store_true", help="keep the run directories")
    p.add_argument("--expt-layers", default=None,
                   help="soil layers (1-based, comma separated) that get a calibrated tied expt (default: every layer)")
    add_spinup_argument(p, "1, the vic simulator's default_spinup_years")


def _sim_options(args) -> dict:
    return {"exe": args.exe, "mpi_procs": args.mpi_procs, "timeout": args.timeout, "workdir": args.workdir,
            "keep_runs": args.keep_runs, "spinup_years": spinup_years(args, "vic")}


def _add_allow(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--allow-out-of-range", action="store_true",
                   help=f"accept {what} outside the physically plausible ranges (docs/vic-parameter-ranges.md) "
                        "with a warning, recording them in the output, instead of stopping")


def _add_discharge(q: argparse.ArgumentParser) -> None:
    g = q.add_argument_group("streamflow (see vic_paraformer.routing)")
    g.add_argument("--rvic", type=Path, help="RVIC parameter file routing the cells' runoff to outlets; recorded in the "
                                             "Region with the domain's cell areas")
    g.add_argument("--discharge", type=Path, help="daily discharge at gauges: USGS RDB or CSV daily values (ft3/s), or "
                                                  "a CSV time,gauge,q in m3/s (optionally lat,lon); needs --rvic")
    g.add_argument("--discharge-format", default="auto", choices=["auto", "usgs-rdb", "usgs-csv", "csv"],
                   help="format of --discharge (default: detected)")
    g.add_argument("--gauge-tolerance", type=positive_float, default=0.1,
                   help="largest distance (degrees) from a gauge to the outlet it is matched to when no outlet "
                        "bears its id (default 0.1)")


def _attach_streamflow(region, args):
    """The Region with the domain's cell areas, the routing file and the gauges (``--rvic``, ``--discharge``)."""
    import numpy as np

    from ..formats import open_netcdf
    from ..routing import read_rvic
    from ..routing.discharge import read_discharge
    from ..routing.gauges import attach_discharge
    from ..vic.globalfile import GlobalParamFile

    if args.rvic is None:
        return region
    gf = GlobalParamFile.read(args.global_file, _variables(args.var))
    ds = region.ds
    with open_netcdf(gf.domain_path, "netcdf", "domain", VICError) as dom:
        name = gf.domain_types().get("AREA", "area")
        if name in dom.variables:
            area = np.asarray(dom[name].values, float)[ds["row"].values, ds["col"].values]
            ds = ds.assign(cell_area=("cell", area, {"units": "m2", "long_name": "grid cell area (VIC domain file)"}))
    from ..region import Region

    region = Region(ds, source=region.source)
    kernel = read_rvic(args.rvic, region)
    region.ds.attrs.update({"routing_file": kernel.info["file"], "routing_kind": "rvic"})
    if args.discharge is not None:
        record = read_discharge(args.discharge, format=args.discharge_format)
        region = attach_discharge(region, record, kernel, tolerance_deg=args.gauge_tolerance)
    return region


def register(sub) -> None:
    p = sub.add_parser("vic", help="VIC 5 image driver: import, write-params, run, verify",
                       description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    vsub = p.add_subparsers(dest="vic_command", metavar="VIC_COMMAND")

    q = vsub.add_parser("import", help="import a VIC setup as a Region netCDF")
    _add_setup(q)
    q.add_argument("--out", required=True, help="Region netCDF to write")
    add_obs_options(q, obs_help="observations to attach (any registered format; see --obs-format)")
    _add_allow(q, "parameter-file values")
    _add_discharge(q)
    add_overwrite(q)
    q.set_defaults(func=run_import, check=check_vic)

    q = vsub.add_parser("write-params", help="write a VIC parameter file with calibrated values")
    q.add_argument("--template", required=True, help="the VIC parameter file to copy (not modified)")
    q.add_argument("--result", required=True, help="calibration result netCDF")
    q.add_argument("--out", required=True, help="new VIC parameter file")
    q.add_argument("--region", help="Region netCDF to match cells by id when the result has no lat/lon")
    q.add_argument("--expt-layers", default=None,
                   help="soil layers (1-based, comma separated) that get a calibrated tied expt (default: every layer)")
    q.add_argument("--member", default=None,
                   help="which values to write when the result has parameter uncertainty: 'median' (the default: "
                        "the per-cell median of the ensemble or tolerance set), 'point' (the values as calibrated) "
                        "or a member number K (0-based, for results that store their ensemble members)")
    _add_allow(q, "values written")
    add_overwrite(q)
    q.set_defaults(func=run_write_params, check=check_vic)

    q = vsub.add_parser("run", help="run VIC on an imported setup and save daily outputs")
    _add_setup(q)
    _add_vic(q)
    q.add_argument("--result", help="calibration result to run with (default: the setup's own parameters)")
    q.add_argument("--out", required=True, help="netCDF of daily outputs (sm, et, runoff, baseflow, dstorage)")
    _add_allow(q, "parameter-file values")
    add_overwrite(q)
    q.set_defaults(func=run_run, check=check_vic)

    q = vsub.add_parser("verify", help="VIC with calibrated vs original parameters, scored against observations")
    _add_setup(q)
    _add_vic(q)
    q.add_argument("--result", required=True, help="calibration result netCDF")
    add_obs_options(q, required=True, obs_help="observations to verify against (any registered format)")
    q.add_argument("--out", required=True, help="report folder")
    q.add_argument("--score-start", type=date, help="first day to score (default: the result's calibration period, then the "
                                         "period after it, both reported)")
    q.add_argument("--score-end", type=date, help="last day to score")
    q.add_argument("--ensemble", action="store_true",
                   help="also run VIC once per member of the result's parameter ensemble (else per 5/50/95 %% "
                        "quantile set) and report the spread of SM and ET and of the metrics across the runs")
    _add_allow(q, "original parameter values")
    q.set_defaults(func=run_verify, check=check_vic)

    q = vsub.add_parser("export", help="write a complete VIC setup (a VIC twin) from a Region",
                        description="Write domain, parameter, per-year forcing and global files (and the Region "
                                    "imported back, region.nc) so that 'vic import' of the setup returns the Region. "
                                    "With --twin-observations the real VIC runs the true parameters and makes the "
                                    "twin's observations.")
    q.add_argument("--region", required=True, help="Region netCDF (its current parameters go to params.nc, true_<param> to params_true.nc)")
    q.add_argument("--template", required=True, help="VIC parameter file whose cells give every other variable")
    q.add_argument("--domain", help="the template's domain file (checked to exist)")
    q.add_argument("--out", required=True, help="new (or empty) folder for the setup")
    q.add_argument("--steps-per-day", type=positive_int, default=8, help="forcing and model steps per day (default 8)")
    q.add_argument("--template-cell", type=int, nargs=2, metavar=("ROW", "COL"),
                   help="template cell for every Region cell (default: same lat/lon, else the first active cell)")
    q.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="global-file option, repeatable (e.g. FULL_ENERGY=FALSE)")
    q.add_argument("--twin-observations", action="store_true",
                   help="run VIC with the true parameters and write observations (obs_sm, obs_et)")
    q.add_argument("--sm-noise", type=non_negative_float, default=0.01, help="obs_sm noise std, m3/m3 (default 0.01)")
    q.add_argument("--et-noise", type=non_negative_float, default=0.3, help="obs_et noise std, mm/day (default 0.3)")
    q.add_argument("--obs-interval", type=int, nargs=2, default=(2, 3), metavar=("MIN", "MAX"),
                   help="days between soil-moisture observations (default 2 3)")
    q.add_argument("--seed", type=non_negative_int, default=0, help="seed of the observation noise (default 0)")
    _add_allow(q, "parameter values written")
    _add_vic(q)
    q.set_defaults(func=run_export, check=check_vic)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_import(args) -> int:
    from ..vic.importer import region_from_vic

    check_obs_options(args)
    guard(args, args.out, "region", global_=args.global_file, obs=args.obs, rvic=args.rvic, discharge=args.discharge)
    region = region_from_vic(args.global_file, args.obs, variables=_variables(args.var), start=args.start,
                             end=args.end, allow_out_of_range=args.allow_out_of_range,
                             obs_format=args.obs_format, obs_options=read_options(args))
    region = _attach_streamflow(region, args)
    region.save(args.out)
    print(f"wrote {args.out}: {region}")
    return 0


def run_write_params(args) -> int:
    from ..region import Region
    from ..vic.params import write_parameters

    from ..result import CalibrationResult

    which = _member(args.member)
    guard(args, args.out, "vic-parameters", template=args.template, result=args.result, region=args.region)
    region = Region.open(args.region) if args.region else None
    result = CalibrationResult.open(args.result)
    if result.uncertainty is None and which not in ("median", "point"):
        raise ParameterError(f"{args.result}: --member {which}: the result has no parameter uncertainty (no ensemble "
                             "members); leave --member out")
    chosen = result.choose(which)
    if result.uncertainty is not None:
        log.info("writing the %s values of %s", chosen.info["values"], args.result)
    out = write_parameters(chosen, args.template, args.out, region=region, expt_layers=_layers(args.expt_layers),
                           allow_out_of_range=args.allow_out_of_range)
    print(f"wrote {out}")
    return 0


def run_run(args) -> int:
    from .._io import to_netcdf_atomic
    from ..simulators.vic import VICSimulator
    from ..vic.importer import region_from_vic

    guard(args, args.out, "simulation", global_=args.global_file, result=args.result)
    region = region_from_vic(args.global_file, variables=_variables(args.var), start=args.start, end=args.end,
                             allow_out_of_range=args.allow_out_of_range)
    sim = VICSimulator(variables=_variables(args.var), expt_layers=_layers(args.expt_layers), **_sim_options(args))
    if args.result:
        out = sim.run_result(region, args.result)
    else:
        out = sim.run_parameter_file(region, region.ds.attrs["vic_parameters_file"])
    to_netcdf_atomic(out, args.out, kind="simulation")
    print(f"wrote {args.out}: {out.sizes['cell']} cells x {out.sizes['time']} days, VIC took "
          f"{out.attrs.get('vic_wall_time_s', float('nan')):.2f} s")
    return 0


def run_verify(args) -> int:
    from ..vic.verify import format_table, verify

    guard(args, args.out, "directory", global_=args.global_file, result=args.result, obs=args.obs)
    report = verify(args.global_file, args.result, args.obs, args.out, variables=_variables(args.var),
                    start=args.start, end=args.end, score_start=args.score_start, score_end=args.score_end,
                    expt_layers=_layers(args.expt_layers), allow_out_of_range=args.allow_out_of_range,
                    obs_format=args.obs_format, obs_options=read_options(args), ensemble=args.ensemble,
                    **_sim_options(args))
    print(format_table(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def run_export(args) -> int:
    from ..region import Region
    from ..vic.export import export_vic
    from ..vic.twin import twin_observations

    options = {}
    for item in args.option or []:
        if "=" not in item:
            raise VICError(f"--option {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        options[k.strip().upper()] = v.strip()
    guard(args, args.out, "directory", region=args.region, template=args.template, domain=args.domain)
    region = Region.open(args.region)
    res = export_vic(region, args.template, args.domain, args.out, steps_per_day=args.steps_per_day,
                     template_cell=args.template_cell, options=options, allow_out_of_range=args.allow_out_of_range)
    print(f"wrote {res.out_dir}: {res.global_param_file.name}, {res.domain.name}, {res.params.name}, "
          f"{len(res.forcing)} forcing file(s), region.nc; parameters from {res.parameters_from}"
          + (f"; the truth in {res.true_params.name}" if res.true_params else ""))
    if res.unmapped_attributes:
        print("attributes kept from the template (no VIC counterpart): " + ", ".join(res.unmapped_attributes))
    if args.twin_observations:
        import numpy as np

        twin = twin_observations(res.out_dir, sm_noise=args.sm_noise, et_noise=args.et_noise,
                                 obs_interval=tuple(args.obs_interval), seed=args.seed,
                                 allow_out_of_range=args.allow_out_of_range, **_sim_options(args))
        print(f"twin observations by VIC: {int(np.isfinite(twin.observations('obs_sm')).sum())} obs_sm -> "
              f"{res.out_dir / 'observations.nc'}, {res.out_dir / 'region.nc'}")
    return 0
