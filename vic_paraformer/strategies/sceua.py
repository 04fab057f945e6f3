"""SCE-UA (Duan et al. 1994) through spotpy: one optimisation per training cell.

Every training cell is calibrated on its own (docs/paper-fidelity.md, rows 24-25 for how this
differs from the paper's baseline), by default against a trained surrogate (``surrogate=<checkpoint>``); ``simulator="waterbalance"`` or
``"vic"`` calibrates against a real simulator instead. The objective is the RMSE of top-layer
soil moisture against ``obs_sm`` on the observed days after the warm-up. Untrained cells receive
the parameters of the nearest trained cell (great-circle distance on lat/lon).

Options (besides those of :class:`~vic_paraformer.strategies.spotpy_base.SpotpyCellCalibrator`:
``surrogate``, ``simulator``, ``simulator_options``, ``repetitions``, ``warmup``, ``n_workers``,
``backend``, ``scheduler``):

``ngs``     number of complexes (default 5, one per parameter; spotpy's default 20 spends 220
            runs on the burn-in alone)
``kstop``   evolution loops over which the improvement of the best loss is assessed (10)
``pcento``  stop when the best loss improved by less than this percentage over ``kstop`` loops (0.01)
``peps``    stop when the population's normalised geometric range falls below this (0.001)

``repetitions`` is a hard cap on model runs per cell, counted by us (spotpy's own count books
each complex-evolution step twice and checks the budget only between loops).

Example::

    vp.calibrate(region, strategy="sceua", surrogate="surrogate.pt", repetitions=2000, seed=0)
"""

from __future__ import annotations

from typing import Any

from .spotpy_base import SpotpyCellCalibrator


class SCEUACalibrator(SpotpyCellCalibrator):
    """Shuffled Complex Evolution (spotpy ``sceua``), one optimisation per training cell."""

    name = "sceua"
    description = "SCE-UA (spotpy), one optimisation per training cell against the surrogate or a simulator"
    algorithm = "sceua"
    maximize = False
    min_repetitions = 2
    default_options = {**SpotpyCellCalibrator.common_options, "ngs": 5, "kstop": 10, "pcento": 0.01, "peps": 0.001}
    option_help = {
        **SpotpyCellCalibrator.option_help,
        "ngs": "number of complexes (5: one per parameter; spotpy's default 20 spends 220 runs on the burn-in)",
        "kstop": "evolution loops over which the improvement of the best loss is assessed",
        "pcento": "stop when the best loss improved by less than this percentage over kstop loops",
        "peps": "stop when the population's normalised geometric range falls below this",
    }

    def option_problems(self) -> list[str]:
        problems = super().option_problems()
        ngs = self.options.get("ngs")
        if not isinstance(ngs, int) or ngs < 1:
            problems.append(f"ngs (number of complexes) must be a positive integer, got {ngs!r}")
        kstop = self.options.get("kstop")
        if not isinstance(kstop, int) or kstop < 1:
            problems.append(f"kstop must be a positive integer, got {kstop!r}")
        for key in ("pcento", "peps"):
            v = self.options.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf"):
                problems.append(f"{key} must be a finite number >= 0, got {v!r}")
        return problems

    def option_warnings(self) -> list[str]:
        """A budget that ends in the random initial population (``repetitions`` <= ``ngs`` x (2 n + 1)
        for n parameters: no complex ever evolves), and a single complex (nothing to shuffle)."""
        out = super().option_warnings()
        ngs, reps = self.options.get("ngs"), self.options.get("repetitions")
        population = int(ngs) * (2 * self.parameter_space.n + 1)
        if int(reps) <= population:
            out.append(f"sceua: repetitions {reps} <= the initial population of ngs x (2 x "
                       f"{self.parameter_space.n} + 1) = {population} runs: every cell ends with random samples, "
                       f"no complex evolves (give more than {population} repetitions, or fewer complexes ngs)")
        if int(ngs) == 1:
            out.append("sceua: ngs 1 is a single complex: no shuffling between complexes, the search may stall")
        return out

    def sample_kwargs(self) -> dict[str, Any]:
        o = self.options
        return {"ngs": int(o["ngs"]), "kstop": int(o["kstop"]), "pcento": float(o["pcento"]), "peps": float(o["peps"])}
