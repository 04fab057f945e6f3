"""Simulators (simulator layer): parameters + forcing -> soil moisture and ET.

The embedded ``waterbalance`` stand-in and the real VIC image driver (``vic``, which drives the
VIC file formats and runner of :mod:`vic_paraformer.vic`). Imports only the core layer
(``errors``, ``parameters``, ``region``, ``_io``, ``registry``) and :mod:`vic_paraformer.vic`'s
format modules. Both are declared in :data:`vic_paraformer.registry.BUILTIN_SIMULATORS`; get one with
:func:`vic_paraformer.get_simulator` and list them with :func:`vic_paraformer.list_simulators`.
"""

from .base import OUTPUT_VARS, Simulator, check_params, select_period, simulator_class

__all__ = ["OUTPUT_VARS", "Simulator", "check_params", "select_period", "simulator_class"]
