import importlib.metadata as md
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import vic_paraformer as vp
from vic_paraformer import registry
from vic_paraformer.errors import StrategyError

from _helpers import grid_region

BUILTINS = {"sceua", "ffn_a", "lstm_z", "paraformer_a", "paraformer_z", "mpr"}
REPO = Path(__file__).resolve().parents[1]


def make_fake_distribution(root, name="fakecal", strategy="fake_mean", broken=False, target=None):
    """A minimal installed distribution (dist-info + module) on a sys.path folder; ``target`` points
    its entry point elsewhere than its own module."""
    mod = f"{name}_mod"
    (root / f"{mod}.py").write_text(textwrap.dedent(f'''
        import time
        import numpy as np
        from vic_paraformer.calibrator import Calibrator
        {"raise ImportError('needs a library that is not installed')" if broken else ""}

        class FakeCalibrator(Calibrator):
            name = "{strategy}"
            description = "midpoint of the parameter space for every cell"
            default_options = {{"shift": 0.0}}

            def calibrate(self, region):
                t0 = time.perf_counter()
                values = np.tile(self.parameter_space.midpoint(), (region.n_cells, 1))
                return self._result(region, values, started=t0, n_evaluations=0)
    '''))
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(
        f"[vic_paraformer.strategies]\n{strategy} = {target or mod + ':FakeCalibrator'}\n")
    return root


def test_builtins_are_registered():
    assert BUILTINS <= set(vp.list_strategies())
    assert {"waterbalance", "vic"} <= set(vp.list_simulators())
    assert vp.registry.strategies is vp.list_strategies  # the older name of the same function


def test_builtins_need_no_installed_metadata(monkeypatch):
    """An uninstalled checkout (no entry points at all) still has every built-in strategy and simulator."""
    monkeypatch.setattr(md, "entry_points", lambda **kw: [])
    assert set(vp.list_strategies()) == BUILTINS
    assert set(vp.list_simulators()) == {"waterbalance", "vic"}
    infos = registry.discover(registry.STRATEGY_GROUP)
    assert all(i.ok and i.builtin and i.distribution == "vic-paraformer" for i in infos.values())
    assert vp.get_calibrator("sceua").name == "sceua"
    assert type(vp.get_simulator("waterbalance")).__name__ == "WaterBalanceSimulator"


def test_an_uninstalled_checkout_lists_its_builtins_in_a_fresh_interpreter(tmp_path):
    """Run from the source tree with site-packages switched off: nothing is installed."""
    code = "import vic_paraformer as vp; print(' '.join(vp.list_strategies())); print(vp.__file__)"
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, check=True)
    names, where = out.stdout.splitlines()
    assert set(names.split()) == BUILTINS and where.startswith(str(REPO))


def test_builtin_entry_point_of_the_same_class_is_not_a_conflict(tmp_path, monkeypatch):
    make_fake_distribution(tmp_path, name="oldcopy", strategy="sceua", target=registry.BUILTIN_STRATEGIES["sceua"])
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        infos = registry.discover(registry.STRATEGY_GROUP, load=False)
    assert infos["sceua"].ok and infos["sceua"].builtin
    assert registry.get_calibrator_class("sceua").__name__ == "SCEUACalibrator"


def test_a_plugin_cannot_take_over_a_builtin_name(tmp_path, monkeypatch):
    make_fake_distribution(tmp_path, name="impostor", strategy="sceua")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert vp.list_strategies().count("sceua") == 1
    with pytest.warns(RuntimeWarning, match=r"'sceua' is registered 2 times.*impostor: impostor_mod:FakeCalibrator"):
        infos = registry.discover(registry.STRATEGY_GROUP)
    assert not infos["sceua"].ok and len(infos["sceua"].conflict) == 2
    with pytest.raises(StrategyError, match=r"vic-paraformer \(built in\).*impostor.*cannot be taken over"):
        vp.get_calibrator("sceua")
    assert vp.get_calibrator("paraformer_z").name == "paraformer_z"  # the other names are unaffected


def test_two_plugins_with_one_name_conflict(tmp_path, monkeypatch):
    for dist in ("first", "second"):
        (tmp_path / dist).mkdir()
        make_fake_distribution(tmp_path / dist, name=dist, strategy="same_name")
        monkeypatch.syspath_prepend(str(tmp_path / dist))
    with pytest.raises(StrategyError, match=r"'same_name' is registered 2 times") as err:
        vp.get_calibrator("same-name")
    assert "first: first_mod:FakeCalibrator" in str(err.value) and "second: second_mod:FakeCalibrator" in str(err.value)


def test_third_party_entry_point_is_discovered_and_runs(tmp_path, monkeypatch):
    make_fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fake_mean" in vp.list_strategies()
    region = grid_region()
    result = vp.calibrate(region, strategy="fake-mean", seed=1)  # hyphenated alias
    assert result.strategy == "fake_mean"
    np.testing.assert_allclose(result.values()[0], result.parameter_space.midpoint())
    infos = registry.discover(registry.STRATEGY_GROUP)
    assert infos["fake_mean"].distribution == "fakecal" and infos["fake_mean"].version == "1.2.3"


def test_broken_plugin_warns_but_discovery_continues(tmp_path, monkeypatch):
    make_fake_distribution(tmp_path, name="brokencal", strategy="broken", broken=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="plugin 'broken'.*needs a library"):
        infos = registry.discover(registry.STRATEGY_GROUP)
    assert not infos["broken"].ok
    assert BUILTINS <= set(infos)
    with pytest.raises(StrategyError, match="'broken'.*failed to load"):
        vp.get_calibrator("broken")


def test_unknown_strategy_lists_installed():
    with pytest.raises(StrategyError, match=r"unknown strategy 'nope'; installed: .*paraformer_z"):
        vp.get_calibrator("nope")


def test_unknown_option_is_rejected(tmp_path, monkeypatch):
    make_fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyError, match=r"unknown option\(s\) \['colour'\]"):
        vp.get_calibrator("fake_mean", colour="red")


def test_cli_lists_builtins_and_plugin(tmp_path):
    make_fake_distribution(tmp_path)
    env_path = os.pathsep.join([str(tmp_path), str(REPO)])
    out = subprocess.run([sys.executable, "-m", "vic_paraformer.cli.main", "strategies"], capture_output=True,
                         text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=True)
    names = set(out.stdout.split())
    assert BUILTINS | {"fake_mean"} <= names
    verbose = subprocess.run([sys.executable, "-m", "vic_paraformer.cli.main", "strategies", "--verbose"],
                             capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
                             check=True)
    assert "fakecal 1.2.3" in verbose.stdout and "import: ok" in verbose.stdout


def test_cli_error_is_one_line_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "vic_paraformer.cli.main", "calibrate", "--region",
                          str(tmp_path / "missing.nc"), "--strategy", "sceua", "--out", str(tmp_path / "r.nc")],
                         capture_output=True, text=True)
    if out.returncode == 2 and "invalid choice" in out.stderr:
        pytest.skip("calibrate sub-command not available yet")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "missing.nc" in out.stderr


def test_the_subpackages_and_the_listing_functions_do_not_depend_on_import_order():
    code = ("import vic_paraformer as vp, types; a = vp.strategies, vp.simulators; "
            "import vic_paraformer.strategies.sceua, vic_paraformer.simulators.base; "
            "assert a == (vp.strategies, vp.simulators) and all(isinstance(m, types.ModuleType) for m in a); "
            "assert type(vp.strategies) is types.ModuleType and type(vp.simulators) is types.ModuleType; "
            "print(' '.join(vp.list_strategies()), ' '.join(vp.list_simulators()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert BUILTINS | {"waterbalance", "vic"} <= set(out.stdout.split())
