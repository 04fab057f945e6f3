"""Simulators: the embedded ``waterbalance`` stand-in and the real VIC image driver (``vic``)."""

from ..registry import make_listing_package, simulators as _simulators
from .base import OUTPUT_VARS, Simulator, check_params, select_period

# ``vic_paraformer.simulators()`` lists the installed simulators even once this package is imported.
make_listing_package(__name__, _simulators)

__all__ = ["OUTPUT_VARS", "Simulator", "check_params", "select_period"]
