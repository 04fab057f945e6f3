"""The objective's options, declared once for every strategy family: :class:`ObjectiveOptions`.

Each field of :class:`ObjectiveOptions` is one strategy option with its default, type, meaning
(``help``) and check; the spotpy strategies (:mod:`vic_paraformer.strategies.spotpy_base`) and the
DL strategies (:mod:`vic_paraformer.dl.config`) take their objective options from here, so
``vic-paraformer strategies NAME``, ``calibrate --option``, configuration files and the Python
API read the same declaration. :func:`objective_option_problems` checks and normalises them.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Mapping, MutableMapping

from ..errors import VicParaformerError
from .operators import (DEFAULT_L2, NEW_CELL_RULES, OPERATOR_MAPS, ObservationOperatorError, check_operator_name)

__all__ = ["LOSSES", "OBJECTIVES", "OBJECTIVE_TERMS", "Q_METRICS", "objective_weights", "check_q_metric", "WB_REFERENCES", "DEFAULT_WB_WEIGHT", "DEFAULT_ET_WEIGHT", "DEFAULT_WB_TOLERANCE",
           "DEFAULT_WB_REFERENCE", "ObjectiveError", "ObjectiveOptions", "check_loss", "check_objective",
           "check_wb_reference", "objective_option_problems", "OBJECTIVE_OPTION_DEFAULTS", "OBJECTIVE_OPTION_HELP",
           "OBJECTIVE_OPTION_TYPES"]

LOSSES: tuple[str, ...] = ("wb", "paper")
#: The plain objectives; any weighted combination of :data:`OBJECTIVE_TERMS` is accepted too
#: (:func:`check_objective`).
OBJECTIVES: tuple[str, ...] = ("sm", "sm+et", "sm+q", "sm+et+q")
#: What an objective can fit: soil moisture, ET and discharge at gauges.
OBJECTIVE_TERMS: tuple[str, ...] = ("sm", "et", "q")
#: How discharge at a gauge is scored (each as ``1 - efficiency`` in the objective).
Q_METRICS: tuple[str, ...] = ("kge", "nse", "lognse")
#: Where the water-balance term's reference ET comes from (:mod:`vic_paraformer.objective.reference`).
WB_REFERENCES: tuple[str, ...] = ("default", "observed")
DEFAULT_WB_WEIGHT: float = 1.0
DEFAULT_ET_WEIGHT: float = 1.0
DEFAULT_WB_TOLERANCE: float = 0.0
DEFAULT_WB_REFERENCE: str = "default"


class ObjectiveError(VicParaformerError, ValueError):
    """A loss or objective name or setting is invalid."""


def check_loss(name: str) -> str:
    key = str(name).strip().lower()
    if key not in LOSSES:
        raise ObjectiveError(f"unknown loss {name!r}; choose one of {list(LOSSES)} (wb: water-balance-aware, "
                             "paper: RMSE + RBL only)")
    return key


def _parse_objective(name: Any) -> dict[str, float]:
    """``{term: weight}`` of an objective written ``sm+et+q`` (weights 1) or ``sm:1,et:0.5,q:1``."""
    key = str(name).strip().lower().replace(" ", "")
    usage = (f"unknown objective {name!r}; expected terms of {list(OBJECTIVE_TERMS)} joined by '+' (e.g. 'sm+q') or "
             "with weights 'term:weight' joined by ',' (e.g. 'sm:1,et:0.5,q:1'); sm is always part of it (weight "
             ">= 0)")
    weights: dict[str, float] = {}
    for item in key.replace(",", "+").split("+"):
        term, _, w = item.partition(":")
        if term not in OBJECTIVE_TERMS or term in weights or (":" in item and not w):
            raise ObjectiveError(usage)
        try:
            weights[term] = float(w) if w else 1.0
        except ValueError:
            raise ObjectiveError(usage) from None
        if not 0 <= weights[term] < float("inf"):
            raise ObjectiveError(f"objective {name!r}: the weight of {term} must be a finite number >= 0")
    if "sm" not in weights:
        raise ObjectiveError(usage)
    return weights


def check_objective(name: str, has_obs_et: bool | None = None) -> str:
    """The objective in its canonical form: ``sm``, ``sm+et``, ``sm+q``, ``sm+et+q`` when every weight is 1,
    else ``term:weight`` items joined by ',' in the order sm, et, q (:func:`objective_weights` reads it)."""
    weights = _parse_objective(name)
    if "et" in weights and has_obs_et is False:
        raise ObjectiveError(f"objective {name!r} needs ET observations (variable 'obs_et' in the region)")
    ordered = [(t, weights[t]) for t in OBJECTIVE_TERMS if t in weights]
    if all(w == 1.0 for _, w in ordered):
        return "+".join(t for t, _ in ordered)
    return ",".join(f"{t}:{w:g}" for t, w in ordered)


def objective_weights(name: str) -> dict[str, float]:
    """``{term: weight}`` of an objective (any form :func:`check_objective` accepts), e.g. ``{"sm": 1.0,
    "q": 1.0}`` for ``sm+q``. The ET term's weight is further multiplied by the ``et_weight`` option."""
    return _parse_objective(name)


def check_q_metric(name: str) -> str:
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in Q_METRICS:
        raise ObjectiveError(f"unknown q_metric {name!r}; choose one of {list(Q_METRICS)} (kge: Kling-Gupta, nse: "
                             "Nash-Sutcliffe, lognse: NSE of log discharge)")
    return key


def check_wb_reference(name: str) -> str:
    key = str(name).strip().lower()
    if key not in WB_REFERENCES:
        raise ObjectiveError(f"unknown wb_reference {name!r}; choose one of {list(WB_REFERENCES)} (default: the "
                             "default-parameter run of the same model; observed: obs_et where a cell has enough)")
    return key


def _operator(value: Any) -> str:
    if isinstance(value, bool):  # the older on/off form: on = linear
        return "linear" if value else "identity"
    try:
        return check_operator_name(value)
    except ObservationOperatorError as exc:
        raise ObjectiveError(str(exc)) from None


def _new_cells(value: Any) -> str:
    if value not in NEW_CELL_RULES:
        raise ObjectiveError(f"obs_operator_new_cells must be one of {list(NEW_CELL_RULES)}, got {value!r}")
    return str(value)


def _non_negative(name: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        # a string such as "1e-4" (YAML reads it as text) counts as its number
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not 0 <= number < float("inf"):
            raise ObjectiveError(f"{name} must be a finite number >= 0, got {value!r}")
        return number
    return check


def _option(default: Any, kind: str, help: str, check: Callable[[Any], Any]) -> Any:
    return field(default=default, metadata={"type": kind, "help": help, "check": check})


@dataclass(frozen=True)
class ObjectiveOptions:
    """The objective's strategy options (the one declaration; see the module docstring)."""

    obs_operator: str = _option(
        "identity", "str", "observation operator H fitted with the parameters (closed form): 'identity', 'linear' "
        "(per-cell a*sm+b) or 'cdf' (per-cell CDF matching); see vic_paraformer.objective.operators", _operator)
    obs_operator_l2: float = _option(
        DEFAULT_L2, "float", "ridge weight of the linear operator towards the identity ((m3/m3)^2)",
        _non_negative("obs_operator_l2"))
    obs_operator_new_cells: str = _option(
        "nearest", "str", "operator for cells it was not fitted on: 'nearest' fitted cell or 'identity'", _new_cells)
    loss: str = _option(
        "wb", "str", "'wb': SM misfit + water-balance term keeping long-term ET (and with a simulator the runoff "
        "ratio) near the reference of wb_reference (default); 'paper': RMSE (+ RBL for DL strategies) only",
        check_loss)
    wb_weight: float = _option(
        DEFAULT_WB_WEIGHT, "float", "weight of the water-balance term (1: a 10 % ET departure costs as much as "
        "0.01 m3/m3 RMSE)", _non_negative("wb_weight"))
    prior_weight: float = _option(
        0.0, "float", "weight of a pull towards the region's default parameters: prior_weight * mean((u - "
        "u_default)^2) in normalised units (0: off, the default; 0.01: a 0.1 move of every parameter costs 1e-4)",
        _non_negative("prior_weight"))
    wb_tolerance: float = _option(
        DEFAULT_WB_TOLERANCE, "float", "relative ET departure from the reference left free by the water-balance "
        "term (0: none, the default; 0.25: only the excess over 25 % counts)", _non_negative("wb_tolerance"))
    objective: str = _option(
        "sm", "str", "what is fitted: 'sm' (the default), 'sm+et' (needs obs_et), 'sm+q' (discharge at gauges: "
        "obs_q and a routing file on the region), 'sm+et+q', or weighted as 'sm:1,et:0.5,q:1'; with more than sm "
        "the RMSEs are scaled by the observations' standard deviation and discharge adds q_weight * mean over "
        "gauges of (1 - q_metric)", check_objective)
    et_weight: float = _option(
        DEFAULT_ET_WEIGHT, "float", "weight of the ET term for objective 'sm+et'", _non_negative("et_weight"))
    q_metric: str = _option(
        "kge", "str", "efficiency scoring discharge at each gauge for objectives with q: 'kge' (the default), "
        "'nse' or 'lognse'", check_q_metric)
    wb_reference: str = _option(
        DEFAULT_WB_REFERENCE, "str", "reference ET of the water-balance term: 'default' (the default-parameter run "
        "of the same surrogate or simulator, the default) or 'observed' (obs_et where a cell has at least 30 "
        "values on the loss days, else the default run)", check_wb_reference)

    def __post_init__(self) -> None:
        problems = objective_option_problems(values := {f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ObjectiveError("; ".join(problems))
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "ObjectiveOptions":
        """The objective's options out of a strategy's options (other keys ignored; missing ones default)."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})

    @property
    def weights(self) -> dict[str, float]:
        """``{term: weight}`` of :attr:`objective` (:func:`objective_weights`)."""
        return objective_weights(self.objective)

    @property
    def uses_et(self) -> bool:
        """Whether the objective fits ET (needs ``obs_et``)."""
        return "et" in self.weights

    @property
    def uses_q(self) -> bool:
        """Whether the objective fits discharge at gauges (needs ``obs_q`` and the region's routing)."""
        return "q" in self.weights

    @property
    def operator_options(self) -> dict[str, Any]:
        """The chosen operator's own options (``l2`` of linear, ...) from the ``obs_operator_<option>`` fields."""
        return {k: getattr(self, f"obs_operator_{k}") for k in OPERATOR_MAPS[self.obs_operator].option_defaults
                if hasattr(self, f"obs_operator_{k}")}

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELDS = [f for f in fields(ObjectiveOptions)]
#: Defaults, meaning and type of every objective option (what the strategy families merge into theirs).
OBJECTIVE_OPTION_DEFAULTS: dict[str, Any] = {f.name: f.default for f in _FIELDS if f.default is not MISSING}
OBJECTIVE_OPTION_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in _FIELDS}
OBJECTIVE_OPTION_TYPES: dict[str, str] = {f.name: f.metadata["type"] for f in _FIELDS}


def objective_option_problems(o: MutableMapping[str, Any]) -> list[str]:
    """Problems with the objective options present in ``o`` (empty: fine); valid values are normalised
    in place (names lower-cased, numbers as float, the older ``obs_operator=True`` as 'linear')."""
    problems = []
    for f in _FIELDS:
        if f.name in o:
            try:
                o[f.name] = f.metadata["check"](o[f.name])
            except ObjectiveError as exc:
                problems.append(str(exc))
    return problems
