"""The paper's benchmark protocol (:mod:`.protocol`), its report (:mod:`.report`) and figures (top layer)."""

from .protocol import BenchmarkConfig, periods, run_benchmark

__all__ = ["BenchmarkConfig", "periods", "run_benchmark"]
