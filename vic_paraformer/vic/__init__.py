"""Adapter to the VIC 5 image driver: global files, import, parameter files, runs, verification.

* :mod:`.globalfile`  read a global parameter file as ordered lines; write per-run copies
* :mod:`.grid`        the VIC grid: simulated cells, cell ids, a Region's grid, domain mask and area
* :mod:`.variables`   the one table of VIC <-> Region variable relations, read by import and export
* :mod:`.vegetation`  vegetation tiles and root zones <-> a cell's vegetated and root fractions
* :mod:`.outofrange`  values outside the plausible ranges of :mod:`vic_paraformer.plausibility`
* :mod:`.importer`    ``region_from_vic``: a VIC setup (+ observations) as a Region
* :mod:`.export`      ``export_vic``: any Region as a complete VIC setup (a twin)
* :mod:`.params`      ``write_parameters``: calibrated values into a copy of a parameter file
* :mod:`.runner`      run ``vic_image.exe`` in an isolated run directory, read history files
* :mod:`.verify`      VIC with calibrated vs original parameters, scored against observations

The ``vic`` simulator (:class:`vic_paraformer.simulators.vic.VICSimulator`) ties them together.

Layers: every module here except ``verify`` (file formats, import, parameter files, runner)
belongs to the simulator layer, since :mod:`vic_paraformer.simulators.vic` drives them; they
import only the core. ``verify`` (and this package's ``__init__``) is the top-layer adapter.
VIC itself is not part of this package: install VIC 5 your usual way and point ``VIC_IMAGE_EXE``
at ``vic_image.exe`` (or put it on PATH).
"""

from .globalfile import GlobalFileError, GlobalParamFile, Period
from .importer import region_from_vic
from .params import write_parameters
from .runner import find_executable

__all__ = ["GlobalFileError", "GlobalParamFile", "Period", "find_executable", "region_from_vic", "write_parameters"]
