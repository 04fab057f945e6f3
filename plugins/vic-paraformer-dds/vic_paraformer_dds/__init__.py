"""DDS (dynamically dimensioned search) strategy for vic-paraformer, as a separately installed plugin.

Dynamically dimensioned search (Tolson & Shoemaker 2007, Water Resour. Res. 43, W01413) is a
greedy single-solution global search designed for a fixed budget of model runs: it perturbs the
current best parameter set in a randomly chosen subset of dimensions whose expected size shrinks
as the budget is spent. This plugin runs spotpy's ``dds`` once per training cell through the
public spotpy plumbing of vic-paraformer (:mod:`vic_paraformer.strategies.spotpy_base`), so it
shares SCE-UA's conventions: the loss is the RMSE of top-layer soil moisture on observed days after
the warm-up, against a surrogate (``surrogate=<checkpoint>``) or a simulator
(``simulator="waterbalance"``); untrained cells copy the nearest trained cell.

spotpy's DDS *maximises* its objective function; :attr:`DDSCalibrator.maximize` makes the shared
setup hand it the negative loss, and the best point is tracked on the loss itself.

Registered by this distribution's ``setup.cfg``::

    [options.entry_points]
    vic_paraformer.strategies =
        dds = vic_paraformer_dds:DDSCalibrator
"""

from __future__ import annotations

from typing import Any

from vic_paraformer.strategies.spotpy_base import SpotpyCellCalibrator

__version__ = "0.1.0"
__all__ = ["DDSCalibrator", "__version__"]


class DDSCalibrator(SpotpyCellCalibrator):
    """Dynamically dimensioned search (spotpy ``dds``), one search per training cell.

    Options, besides the shared ones (``surrogate``, ``simulator``, ``simulator_options``,
    ``repetitions``, ``warmup``, ``n_workers``, ``backend``, ``scheduler``):

    ``r``  neighbourhood perturbation size as a fraction of each parameter's range (default 0.2,
           Tolson & Shoemaker's recommendation).

    ``repetitions`` is the exact number of model runs per cell: max(5, 0.5 %) random starting
    points, then DDS steps. It must be at least 6.
    """

    name = "dds"
    description = "DDS (Tolson & Shoemaker 2007, spotpy), one search per training cell; plugin vic-paraformer-dds"
    algorithm = "dds"
    maximize = True
    min_repetitions = 6
    default_options = {**SpotpyCellCalibrator.common_options, "r": 0.2}
    option_help = {**SpotpyCellCalibrator.option_help,
                   "r": "neighbourhood perturbation size as a share of each parameter's range (Tolson & Shoemaker "
                        "recommend 0.2)",
                   "repetitions": "exact number of model runs per training cell: max(5, 0.5 %) random starting "
                                  "points, then DDS steps (at least 6)"}

    def option_problems(self) -> list[str]:
        problems = super().option_problems()
        r = self.options.get("r")
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1:
            problems.append(f"r (DDS perturbation size) must be in (0, 1], got {r!r}")
        reps = self.options.get("repetitions")
        if isinstance(reps, int) and reps >= self.min_repetitions and max(5, round(0.005 * reps)) >= reps:
            problems.append(f"repetitions={reps} leaves no DDS steps after the random starting points")
        return problems

    def algorithm_kwargs(self) -> dict[str, Any]:
        return {"r": float(self.options["r"])}

    def sample_kwargs(self) -> dict[str, Any]:
        return {"trials": 1}
