"""Exception hierarchy. Every error the toolkit raises on bad input derives from
:class:`VicParaformerError`, so the CLI can print it as one readable line."""

from __future__ import annotations


class VicParaformerError(Exception):
    """Base class of all errors raised by vic_paraformer on bad input or failed runs."""


class RegionError(VicParaformerError, ValueError):
    """A Region (or a file that should become one) breaks the documented schema."""


class ParameterError(VicParaformerError, ValueError):
    """Parameter values, names or bounds are invalid."""


class StrategyError(VicParaformerError, LookupError):
    """A calibration strategy is unknown, failed to load, or was misconfigured."""


class SimulatorError(VicParaformerError, RuntimeError):
    """A simulator is unknown or a simulation failed."""


class SurrogateError(VicParaformerError, RuntimeError):
    """A surrogate checkpoint is invalid or incompatible with a Region."""


class VICError(SimulatorError):
    """The VIC image driver could not be run, or its inputs/outputs are invalid."""


class OutputError(VicParaformerError):
    """An output path is unusable: it is an input, holds a file of another kind, or cannot be written."""


class ObservationError(VicParaformerError, ValueError):
    """An observation file cannot be read, or holds nothing usable for the Region's cells and days."""


class RoutingError(VicParaformerError, ValueError):
    """A routing file or kernel is unusable: a source outside the Region, a unit hydrograph that does not
    sum to 1, an outlet without sources, or a time step that does not fit the runoff's."""


class ConfigError(VicParaformerError, ValueError):
    """A configuration file or ``--option`` is malformed."""


class OptionError(ConfigError):
    """An option value or a combination of options is invalid: detected before any data is read,
    reported by the command line as a usage error (exit status 2, argparse's convention)."""


class StationError(VicParaformerError, ValueError):
    """A station network's meteorology, stations table or attribute table cannot be used."""
