"""A surrogate's bounds and simulator against a strategy's and a region's."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from vic_paraformer.compatibility import check_surrogate, region_simulator
from vic_paraformer.errors import SurrogateError
from vic_paraformer.parameters import ParameterSpace


def _space(dsmax_hi: float = 30.0) -> ParameterSpace:
    base = ParameterSpace.preset("vic")
    upper = tuple(dsmax_hi if n == "Dsmax" else hi for n, hi in zip(base.names, base.upper))
    return ParameterSpace(base.names, base.lower, upper)


def test_same_bounds_pass_and_record_the_simulator():
    sur = SimpleNamespace(parameter_space=_space(), simulator="waterbalance")
    space, rec = check_surrogate(sur, _space(), explicit_space=True, strategy="sceua")
    assert space == _space() and rec == {"surrogate_simulator": "waterbalance"}


def test_other_bounds_are_an_error_with_both_values_when_explicit():
    sur = SimpleNamespace(parameter_space=_space(10.0), simulator="waterbalance")
    with pytest.raises(SurrogateError, match=r"trained on bounds .*Dsmax 0\.1\.\.10.*within .*Dsmax 0\.1\.\.30"):
        check_surrogate(sur, _space(30.0), explicit_space=True, strategy="sceua", source="s.pt")


def test_other_bounds_are_adopted_logged_and_recorded_by_default(caplog):
    sur = SimpleNamespace(parameter_space=_space(10.0), simulator="waterbalance")
    with caplog.at_level(logging.WARNING, logger="vic_paraformer.compatibility"):
        space, rec = check_surrogate(sur, _space(30.0), explicit_space=False, strategy="sceua")
    assert space.upper == _space(10.0).upper
    assert rec["adopted_parameter_space"]["to"]["upper"][2] == 10.0
    assert "adopts the surrogate's bounds" in caplog.text


def test_names_and_simulator_mismatches(synthetic_tiny):
    other = ParameterSpace.preset("vic", names=["infilt", "Ds"])
    sur = SimpleNamespace(parameter_space=other, simulator="vic")
    with pytest.raises(SurrogateError, match="differ from strategy"):
        check_surrogate(sur, _space(), explicit_space=False, strategy="sceua")
    sur = SimpleNamespace(parameter_space=_space(), simulator="vic")
    with pytest.raises(SurrogateError, match="imitates simulator 'vic'; strategy 'sceua' was given simulator='waterbalance'"):
        check_surrogate(sur, _space(), explicit_space=False, strategy="sceua", simulator="waterbalance")
    assert region_simulator(synthetic_tiny) == "waterbalance"
    _, rec = check_surrogate(sur, _space(), explicit_space=False, strategy="sceua", region=synthetic_tiny)
    assert rec["simulator_mismatch"] == {"surrogate": "vic", "region": "waterbalance"}
