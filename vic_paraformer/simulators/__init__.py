"""Simulators (simulator layer): parameters + forcing -> soil moisture and ET.

The embedded ``waterbalance`` stand-in and the real VIC image driver (``vic``, which drives the
VIC file formats and runner of :mod:`vic_paraformer.vic`). Imports only the core layer
(``errors``, ``parameters``, ``region``, ``_io``, ``registry``) and :mod:`vic_paraformer.vic`'s
format modules.
"""

from ..registry import make_listing_package, simulators as _simulators
from .base import OUTPUT_VARS, Simulator, check_params, select_period, simulator_class

# ``vic_paraformer.simulators()`` lists the installed simulators even once this package is imported.
make_listing_package(__name__, _simulators)

__all__ = ["OUTPUT_VARS", "Simulator", "check_params", "select_period", "simulator_class"]
