"""Observation operators H, re-exported from :mod:`vic_paraformer.objective.operators` (where they live)."""

from .objective.operators import *  # noqa: F401,F403
from .objective.operators import __all__  # noqa: F401
