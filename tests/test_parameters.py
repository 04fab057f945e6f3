import numpy as np
import pytest
import torch

from vic_paraformer import ParameterError, ParameterSpace
from vic_paraformer.parameters import PARAMETER_NAMES


def test_vic_preset_is_default_and_valid():
    space = ParameterSpace.resolve(None)
    assert space.names == ("infilt", "Ds", "Dsmax", "Ws", "expt")
    assert space.preset_name == "vic"
    assert space.vic_problems() == []


def test_paper_preset_matches_table1_and_warns():
    with pytest.warns(UserWarning, match="leaves the range VIC can use"):
        space = ParameterSpace.preset("paper")
    assert space.bounds("Ds") == (0.0, 7.6)
    assert space.bounds("Dsmax") == (0.0, 10.8)
    assert space.bounds("expt") == (0.0, 4.6)
    assert space.bounds("infilt") == (0.0, 1.0)
    assert space.bounds("Ws") == (0.0, 1.0)


def test_normalize_roundtrip_numpy_and_torch():
    space = ParameterSpace.preset("vic")
    x = space.sample(50, seed=1)
    np.testing.assert_allclose(space.denormalize(space.normalize(x)), x)
    t = torch.tensor(x, dtype=torch.float64)
    torch.testing.assert_close(space.denormalize(space.normalize(t)), t)
    u = space.normalize(x)
    assert u.min() >= 0 and u.max() <= 1


def test_lhs_is_stratified_and_seeded():
    space = ParameterSpace.preset("vic")
    a = space.sample(10, seed=3)
    b = space.sample(10, seed=3)
    np.testing.assert_array_equal(a, b)
    u = space.normalize(a)
    for j in range(space.n):  # one draw per stratum
        assert sorted(np.floor(u[:, j] * 10).astype(int)) == list(range(10))
    assert not np.array_equal(a, space.sample(10, seed=4))


def test_bad_bounds_and_shapes_raise():
    with pytest.raises(ParameterError, match="lower < upper"):
        ParameterSpace(("a",), (1.0,), (0.0,))
    space = ParameterSpace.preset("vic")
    with pytest.raises(ParameterError, match="last axis"):
        space.normalize(np.zeros((3, 4)))
    with pytest.raises(ParameterError, match="unknown parameter preset"):
        ParameterSpace.preset("nope")


def test_dataset_roundtrip_and_dict():
    space = ParameterSpace.preset("vic")
    x = space.sample(4, seed=0)
    ds = space.to_dataset(x, cells=[10, 11, 12, 13])
    np.testing.assert_array_equal(space.from_dataset(ds), x)
    assert ParameterSpace.from_dict(space.to_dict()) == space


# ---------------------------------------------------------------- parameter sets (--parameters)
def test_parameter_sets_and_names():
    from vic_paraformer.parameters import (PARAMETER_SETS, build_space, parameter_set_label,
                                           resolve_parameter_names)

    assert resolve_parameter_names(None) == ("infilt", "Ds", "Dsmax", "Ws", "expt")
    assert resolve_parameter_names("paper") == PARAMETER_SETS["paper"]
    assert resolve_parameter_names("vic-classic") == ("infilt", "Ds", "Dsmax", "Ws", "depth2", "depth3")
    assert resolve_parameter_names("infilt, depth3,Ksat_mult") == ("infilt", "depth3", "Ksat_mult")
    assert "expt1" in resolve_parameter_names("all") and "expt" not in resolve_parameter_names("all")
    for bad, text in [("infilt,depth9", r"unknown parameter\(s\) depth9"), ("expt,expt2", "exclude each other"),
                      ("Ds,Ds", "named twice"), ("", "no parameter named")]:
        with pytest.raises(ParameterError, match=text):
            resolve_parameter_names(bad)
    space = build_space("vic-classic")
    assert space.bounds("depth2") == (0.1, 1.5) and space.bounds("depth3") == (0.1, 1.5)
    assert space.bounds("infilt") == (0.001, 0.5)
    with pytest.warns(UserWarning):
        paper = build_space("vic-classic", "paper")
    assert paper.bounds("Ds") == (0.0, 7.6) and paper.bounds("depth2") == (0.1, 1.5)
    assert parameter_set_label(space.names) == "vic-classic (infilt, Ds, Dsmax, Ws, depth2, depth3)"
    assert parameter_set_label(("Ds", "infilt")).startswith("custom")


def test_auto_needs_the_sensitivity_module(monkeypatch):
    from vic_paraformer.parameters import resolve_parameter_names

    with pytest.raises(ParameterError, match="--parameters auto needs the sensitivity module"):
        resolve_parameter_names("auto", region=object())
    calls = {}

    def select_identifiable(region, *, surrogate=None, simulator=None, space, objective_options=None,
                            threshold=None, seed=0):
        calls.update(region=region, space=space, seed=seed)
        return ["infilt", "expt"]

    assert resolve_parameter_names("auto", region="R", seed=3, selector=select_identifiable) == ("infilt", "expt")
    from vic_paraformer.sensitivity import select_identifiable as real
    from vic_paraformer.workflow import identifiable_selector

    assert identifiable_selector() is real
    record: dict = {}
    assert identifiable_selector(record).keywords == {"record": record}  # receives the choice's record
    # the default candidates: the paper's five, what the sensitivity analysis varies through the simulators
    assert calls["region"] == "R" and calls["seed"] == 3 and calls["space"].names == PARAMETER_NAMES
