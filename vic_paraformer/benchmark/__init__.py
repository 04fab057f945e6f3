"""The paper's benchmark protocol (:mod:`.protocol`), its report (:mod:`.report`) and figures."""

from .protocol import BenchmarkConfig, periods, run_benchmark

__all__ = ["BenchmarkConfig", "periods", "run_benchmark"]
