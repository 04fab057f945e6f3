"""The surrogate resolver compares a surrogate's bounds, names and simulator with a strategy's and a region's."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from vic_paraformer.errors import SurrogateError
from vic_paraformer.parameters import ParameterSpace
from vic_paraformer.surrogate.resolve import region_simulator, resolve_surrogate


def _space(dsmax_hi: float = 30.0) -> ParameterSpace:
    base = ParameterSpace.preset("vic")
    upper = tuple(dsmax_hi if n == "Dsmax" else hi for n, hi in zip(base.names, base.upper))
    return ParameterSpace(base.names, base.lower, upper)


def _sur(space, simulator="waterbalance"):
    return SimpleNamespace(parameter_space=space, simulator=simulator, prepare=None, check_region=None, warmup=60)


def test_same_bounds_pass_and_record_the_simulator():
    r = resolve_surrogate(_sur(_space()), _space(), space_given=True, strategy="sceua")
    assert r.parameter_space == _space() and r.checks == {"surrogate_simulator": "waterbalance"}


def test_other_bounds_are_an_error_with_both_values_when_given():
    with pytest.raises(SurrogateError, match=r"trained on bounds .*Dsmax 0\.1\.\.10.*given .*Dsmax 0\.1\.\.30"):
        resolve_surrogate(_sur(_space(10.0)), _space(30.0), space_given=True, strategy="sceua")


def test_other_bounds_are_adopted_logged_and_recorded_by_default(caplog):
    with caplog.at_level(logging.WARNING, logger="vic_paraformer.surrogate.resolve"):
        r = resolve_surrogate(_sur(_space(10.0)), _space(30.0), space_given=False, strategy="sceua")
    assert r.parameter_space.upper == _space(10.0).upper
    assert r.checks["adopted_parameter_space"]["to"]["upper"][2] == 10.0
    assert "adopts the surrogate's bounds" in caplog.text


def test_names_and_simulator_mismatches(synthetic_tiny):
    with pytest.raises(SurrogateError, match=r"covers the parameter set custom \(infilt, Ds\); strategy .sceua. calibrates paper \(infilt, Ds, Dsmax, Ws, expt\)"):
        resolve_surrogate(_sur(ParameterSpace.preset("vic", names=["infilt", "Ds"])), _space(), space_given=True,
                          strategy="sceua")
    with pytest.raises(SurrogateError, match="imitates simulator 'vic'; strategy 'sceua' was given simulator='waterbalance'"):
        resolve_surrogate(_sur(_space(), "vic"), _space(), space_given=False, strategy="sceua", simulator="waterbalance")
    assert region_simulator(synthetic_tiny) == "waterbalance"
    r = resolve_surrogate(_sur(_space(), "vic"), _space(), space_given=False, strategy="sceua", region=synthetic_tiny)
    assert r.checks["simulator_mismatch"] == {"surrogate": "vic", "region": "waterbalance"}


def test_a_surrogate_of_another_set_is_refused_naming_both_or_adopted_when_none_was_asked_for():
    from vic_paraformer.parameters import build_space

    paper, classic = build_space("paper"), build_space("vic-classic")
    with pytest.raises(SurrogateError, match=r"surrogate covers the parameter set paper \(infilt, Ds, Dsmax, Ws, expt\); "
                                             r"strategy 'sceua' calibrates vic-classic \(infilt, Ds, Dsmax, Ws, depth2, "
                                             r"depth3\)"):
        resolve_surrogate(_sur(paper), classic, space_given=True, strategy="sceua")
    r = resolve_surrogate(_sur(classic), paper, space_given=False, strategy="sceua")
    assert r.parameter_space == classic and r.checks["adopted_parameter_set"] == list(classic.names)
