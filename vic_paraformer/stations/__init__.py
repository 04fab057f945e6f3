"""Station networks: a Region built from station meteorology, with QC, gap filling and estimates.

::

    from vic_paraformer.stations import build_station_region, write_report

    build = build_station_region("met/", stations="stations.csv", obs="obs.csv", soil="soil.csv")
    build.region.save("region.nc")
    write_report(build, "region.nc")     # region.qc.csv and region.qc.txt next to it
    print(build.summary())

One module per job: :mod:`~vic_paraformer.stations.table` (the stations and attribute tables),
:mod:`~vic_paraformer.stations.metcsv` (the meteorology CSV layout, daily aggregation),
:mod:`~vic_paraformer.stations.qc` (stuck and flat-lined sensors, impossible values),
:mod:`~vic_paraformer.stations.gapfill` (the gap-filling rule),
:mod:`~vic_paraformer.stations.estimate` (pressure, vapour pressure and longwave formulas),
:mod:`~vic_paraformer.stations.build` (the Region) and :mod:`~vic_paraformer.stations.report`
(the QC report files). The command is ``vic-paraformer stations``.
"""

from __future__ import annotations

from .build import REPORT_COLUMNS, StationBuild, build_station_region
from .qc import QCRules
from .report import report_paths, write_report

__all__ = ("build_station_region", "StationBuild", "QCRules", "write_report", "report_paths", "REPORT_COLUMNS")
