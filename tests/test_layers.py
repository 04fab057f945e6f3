"""The package's layers: every module imports only from its own layer or the layers below, and no
module imports itself through a chain of others (a cycle), counting imports inside functions.

Layers, lowest first (a module belongs to the first entry whose prefix matches its name):

0. core        errors, parameters, region, selection (train/test periods and cells), observation
               (re-exports the operators), objective (the calibration objective, its options, terms
               and observation operators), result, uncertainty (per-cell parameter quantiles and ensemble
               members of a result), formats (format versions and the one-line errors
               of reading the toolkit's own files),
               normalizer, provenance, progress (progress-bar default), units (unit ranges and
               conversion), cf (CF metadata of written netCDF files), outputs (the output guard),
               _io, _procs (child processes), _forkserver (fork-server preload), _logs (log records of
               a command and its workers), scratch (scratch folders), _version, registry
               (entry-point discovery), metrics, config (run-configuration files), plausibility
               (physically plausible ranges of VIC inputs), geo (great-circle distance), optioncheck (option values checked
               before any data is read)
1. readers     readers/ (observation formats to daily observations on a Region's cells); routing/
               (RVIC kernels, Lohmann and linear-reservoir kernels, discharge observations and gauges;
               the numpy convolution, and the torch one with torch imported inside its functions)
2. simulators  simulators/, ensemble (runs a simulator over many parameter sets), and the modules
               of vic/ (file formats, import, parameter files, runner, requirements) that
               simulators/vic.py drives; stations/ (a Region from a station network: met CSVs, QC,
               gap filling, estimation with the simulators' meteorology formulas)
3. surrogate   surrogate/
4. strategies  calibrator (the strategy plugin interface), dl/, strategies/
5. evaluation  evaluation, budget (water balance of a simulation), sensitivity (sensitivity indices and
               identifiability), spread (SM and ET across a result's parameter ensemble), refine (surrogate refinement
               against the simulator), synthetic (the twin with known parameters), station_twin (the
               twin written as a station network's files)
6. workflow    workflow (the calibration run the command line and the library share)
7. top         benchmark/, the vic/ adapter (vic/__init__, vic/verify, vic/twin), cli/, the package root

A new module must be added to LAYERS: the test fails on a module it cannot place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "vic_paraformer"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: (layer name, module-name prefixes relative to the package). Longest prefix wins.
LAYERS: list[tuple[str, list[str]]] = [
    ("core", ["errors", "parameters", "region", "selection", "observation", "objective", "result", "normalizer",
              "uncertainty", "error_terms",
              "formats",
              "scoring", "verdict",
              "provenance", "progress", "units", "cf", "outputs", "_io", "_procs", "_forkserver", "_logs", "scratch",
              "_version", "registry", "metrics", "config", "plausibility", "optioncheck", "geo"]),
    ("readers", ["readers", "routing"]),
    ("simulators", ["simulators", "ensemble", "cluster", "_dask_plugin", "_dask_worker", "vic.*", "stations"]),
    ("surrogate", ["surrogate"]),
    ("strategies", ["calibrator", "dl", "strategies"]),
    ("evaluation", ["evaluation", "gauge_scores", "budget", "refine", "synthetic", "station_twin", "sensitivity", "spread"]),
    ("workflow", ["workflow"]),
    ("top", ["benchmark", "vic", "vic.verify", "vic.twin", "cli", ""]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _placement(module: str) -> tuple[int, str]:
    """(layer rank, the LAYERS prefix that placed ``module``); the longest matching prefix wins."""
    best, best_prefix = len(LAYERS) - 1, None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix.endswith(".*"):  # the sub-modules of a package, not the package itself
                hit = module.startswith(prefix[:-1])
            else:
                hit = module == prefix or module.startswith(prefix + ".") or prefix == ""
            if hit and (best_prefix is None or len(prefix) > len(best_prefix)):
                best, best_prefix = rank, prefix
    return best, best_prefix or ""


def layer_of(module: str) -> int:
    return _placement(module)[0]


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Package-relative names of the project modules an import statement loads."""
    is_pkg = MODULES.get(module, Path()).name == "__init__.py"
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if module else []
            if not is_pkg:
                base = base[:-1]
            base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join(base + ([node.module] if node.module else []))
            target = f"{PACKAGE}.{target}" if target else PACKAGE
        else:
            target = node.module or ""
        # ``from pkg import sub`` loads the module pkg.sub; ``from pkg import name`` the package pkg
        subs = [f"{target}.{a.name}" for a in node.names
                if f"{target}.{a.name}".removeprefix(PACKAGE).lstrip(".") in MODULES]
        names = subs if len(subs) == len(node.names) else [target, *subs]
    out = []
    for name in names:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            rel = name.removeprefix(PACKAGE).lstrip(".")
            while rel not in MODULES and "." in rel:  # ``from .x import y`` with y a name in x
                rel = rel.rsplit(".", 1)[0]
            if rel in MODULES:
                out.append(rel)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # every import, also inside functions
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(d for d in _resolve(module, node) if d != module)
        graph[module] = deps
    return graph


GRAPH = import_graph()


def test_every_module_has_a_layer():
    assert "dl.trainer" in MODULES and "strategies.sceua" in MODULES  # the walk found the package
    names = [n for n, _ in LAYERS]
    assert names == ["core", "readers", "simulators", "surrogate", "strategies", "evaluation", "workflow", "top"]
    unplaced = [m for m in MODULES if m and _placement(m)[1] == ""]
    assert not unplaced, f"modules without a layer (add them to LAYERS in {__file__}): {unplaced}"


def test_imports_only_go_down():
    bad = []
    for module, deps in GRAPH.items():
        for dep in deps:
            if layer_of(dep) > layer_of(module):
                bad.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})")
    assert not bad, "layer violations:\n" + "\n".join(sorted(bad))


def test_private_modules_of_a_subpackage_stay_inside_it():
    """``pkg._x`` is pkg's own business: modules outside ``pkg`` use its public modules."""
    bad = []
    for module, deps in GRAPH.items():
        for dep in deps:
            owner, _, leaf = dep.rpartition(".")
            if owner and leaf.startswith("_") and not (module == owner or module.startswith(owner + ".")):
                bad.append(f"{module} imports {dep}")
    assert not bad, "private modules used from outside their package:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checks_can_fail():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert layer_of("region") < layer_of("simulators.vic") < layer_of("surrogate.model") < layer_of("dl.trainer")
    assert layer_of("dl.trainer") < layer_of("evaluation") < layer_of("workflow") < layer_of("cli.main")
    assert layer_of("vic.runner") == layer_of("simulators.vic") and layer_of("vic.verify") == len(LAYERS) - 1
    node = ast.parse("from ..surrogate import resolve").body[0]
    assert _resolve("dl.strategy", node) == ["surrogate.resolve"]
    node = ast.parse("from ..surrogate import Surrogate").body[0]
    assert _resolve("dl.strategy", node) == ["surrogate"]


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_every_sub_package_says_its_job(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text()))
    assert doc and len(doc.split()) >= 5, f"{package or PACKAGE}/__init__.py needs a docstring stating its one job"


def test_long_modules_say_why_at_their_top():
    long = [m for m, p in MODULES.items() if len(p.read_text().splitlines()) > 400
            and "Long module" not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert not long, f"modules over 400 lines without 'Long module: <reason>' in their docstring: {long}"
