"""Simulators: the embedded ``waterbalance`` stand-in and the real VIC image driver (``vic``)."""

from .base import OUTPUT_VARS, Simulator, check_params, select_period

__all__ = ["OUTPUT_VARS", "Simulator", "check_params", "select_period"]
