"""The package's layers, checked by parsing every import (including those inside functions).

Bottom up (the README, section Layout):

- base: ``config``, ``_validate``, ``distributions``, ``snapshots``, ``data/``, ``nn/``, ``train``,
  ``checkpoint``, ``ode``, ``divergences``, ``kmeans``, ``estimators``, ``distributed``;
- families: every other module except ``viz/`` and ``recipes/`` (math, objectives, samplers);
- ``viz/``: figures and animations, the only home of matplotlib (may import families);
- ``recipes/``: seeded train-and-evaluate functions, the only readers of the run budgets.

A module imports only from its own layer or below. Each test lists every offending module with
the line and the import, so that a failure says what to move.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gmtext"
MAX_LINES = 300

BASE = {"config", "_validate", "distributions", "snapshots", "data", "nn", "train", "checkpoint",
        "ode", "divergences", "kmeans", "estimators", "distributed", "store"}
RANK = {"base": 0, "family": 1, "viz": 2, "recipes": 3}


def layer(part: str) -> str:
    """The layer of the top-level module or package ``part`` of gmtext."""
    if part in BASE or part == "__init__":
        return "base"
    return part if part in ("viz", "recipes") else "family"


@dataclass(frozen=True)
class Import:
    path: str        # the importing file, relative to the repository
    line: int
    target: str      # the imported module, e.g. "gmtext.viz.plot" or "matplotlib.pyplot"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[Import]:
    """Every module ``path`` imports, at any depth, with relative imports resolved."""
    return _parse(path.read_text(), _module_name(path), path.name == "__init__.py",
                  str(path.relative_to(ROOT)))


def _parse(source: str, here: str, is_package: bool, rel: str) -> list[Import]:
    tree = ast.parse(source, filename=rel)
    package = here if is_package else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from gmtext import config` imports the module gmtext.config
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                target = sub if module == "gmtext" or _is_module(sub) else module
                found.append(Import(rel, node.lineno, target))
    return found


def _is_module(name: str) -> bool:
    if not name.startswith("gmtext."):
        return False
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _part(name: str) -> str | None:
    """``gmtext.a.b`` -> ``a``; None for modules outside gmtext."""
    pieces = name.split(".")
    return pieces[1] if pieces[0] == "gmtext" and len(pieces) > 1 else None


def _own_part(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


FILES = sorted(PACKAGE.rglob("*.py"))
IMPORTS = {path: _imports(path) for path in FILES}


def _report(rule: str, offences: list[str]) -> str:
    return f"{rule} -- {len(offences)} offence(s):\n  " + "\n  ".join(offences)


def test_every_layer_imports_only_its_own_layer_or_below():
    offences = []
    for path, imports in IMPORTS.items():
        own = layer(_own_part(path))
        for imp in imports:
            part = _part(imp.target)
            if part is not None and RANK[layer(part)] > RANK[own]:
                offences.append(f"{imp} ({own} may not import {layer(part)})")
    assert not offences, _report("a module imported a layer above its own", offences)


def test_data_and_nn_know_no_training_and_no_objective():
    offences = [f"{imp}" for path, imports in IMPORTS.items() if _own_part(path) in ("data", "nn")
                for imp in imports if _part(imp.target) is not None
                and (_part(imp.target) == "train" or layer(_part(imp.target)) != "base")]
    assert not offences, _report("gmtext/data and gmtext/nn import train, a family, viz or "
                                 "recipes", offences)


def test_only_viz_imports_matplotlib():
    offences = [str(imp) for path, imports in IMPORTS.items() if _own_part(path) != "viz"
                for imp in imports if imp.target.split(".")[0] == "matplotlib"]
    assert not offences, _report("matplotlib imported outside gmtext/viz", offences)


def test_no_family_imports_viz_or_recipes():
    offences = [str(imp) for path, imports in IMPORTS.items()
                if layer(_own_part(path)) in ("base", "family")
                for imp in imports if _part(imp.target) in ("viz", "recipes")]
    assert not offences, _report("a family (or the base) imports gmtext.viz or gmtext.recipes",
                                 offences)


def test_nothing_in_the_package_imports_the_benchmarks():
    offences = [str(imp) for imports in IMPORTS.values() for imp in imports
                if imp.target.split(".")[0] == "benchmarks"]
    assert not offences, _report("gmtext imports benchmarks", offences)


def _budget_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = str(path.relative_to(ROOT))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("budget", "BUDGETS"):
            hits.append(f"{rel}:{node.lineno} reads {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id == "BUDGETS":
            hits.append(f"{rel}:{node.lineno} reads BUDGETS")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("config"):
            hits += [f"{rel}:{node.lineno} imports {alias.name} from {node.module}"
                     for alias in node.names if alias.name in ("budget", "BUDGETS")]
    return hits


def test_only_recipes_read_the_budgets():
    offences = [hit for path in FILES
                if _own_part(path) != "recipes" and path != PACKAGE / "config.py"
                for hit in _budget_reads(path)]
    assert not offences, _report("config.budget / BUDGETS read outside gmtext/recipes", offences)


def test_no_module_is_over_the_line_limit():
    offences = [f"{path.relative_to(ROOT)}: {n} lines" for path in FILES
                if (n := len(path.read_text().splitlines())) > MAX_LINES]
    assert not offences, _report(f"modules over {MAX_LINES} lines", offences)


def test_importing_the_families_loads_no_matplotlib():
    code = ("import sys\nimport gmtext.diffusion, gmtext.flows, gmtext.score\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib')[:5])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", (
        "import gmtext.diffusion, gmtext.flows, gmtext.score loaded matplotlib: "
        f"{out.stdout.strip()}")


@pytest.mark.parametrize("source, expected", [
    ("from gmtext.viz import plot", "gmtext.viz.plot"),
    ("from gmtext import config", "gmtext.config"),
    ("def f():\n    import matplotlib.pyplot as plt", "matplotlib.pyplot"),
    ("from ..viz.plot import grid", "gmtext.viz.plot"),
])
def test_the_checker_sees_every_kind_of_import(source, expected):
    found = _parse(source + "\n", "gmtext.flows.probe", False, "gmtext/flows/probe.py")
    assert expected in [imp.target for imp in found]
