"""Repository hygiene: notebooks without outputs, the conda file mirrors the pins, the toc is complete."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def pinned(lines):
    return [line.strip() for line in lines if re.match(r"^[A-Za-z0-9_.\-]+==", line.strip())]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: saved widget state in metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_set_up_cells_are_collapsed_in_the_book(path):
    """The imports (first code cell) show as a toggle in the HTML book, not as a wall of code."""
    nb = json.loads(path.read_text())
    first = next(cell for cell in nb["cells"] if cell["cell_type"] == "code")
    assert "hide-input" in first.get("metadata", {}).get("tags", []), (
        f"{path.name}: tag the first code cell (imports) 'hide-input'")


def test_environment_yml_mirrors_requirements():
    reqs = pinned((ROOT / "requirements.txt").read_text().splitlines())
    env = [line.strip().removeprefix("- ").strip()
           for line in (ROOT / "environment.yml").read_text().splitlines()]
    assert reqs and reqs[0].startswith("torch=="), "torch must be pinned first in requirements.txt"
    assert pinned(env) == reqs


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    missing = [p.stem for p in NOTEBOOKS if f"notebooks/{p.stem}" not in toc]
    assert not missing, f"notebooks missing from book/_toc.yml: {missing}"


def test_package_declares_lower_bounds_only():
    text = (ROOT / "pyproject.toml").read_text()
    deps = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "==" not in deps, "exact pins belong in requirements.txt, not in the package"


def test_every_module_is_on_an_api_page():
    import pkgutil

    import gmtext

    pages = "\n".join(p.read_text() for p in (ROOT / "book").glob("api*/**/*.md")) + (
        ROOT / "book" / "api.md").read_text()
    modules = [m.name for m in pkgutil.walk_packages(gmtext.__path__, "gmtext.")
               if not m.name.rsplit(".", 1)[-1].startswith("_")]
    missing = [m for m in modules if f".. automodule:: {m}\n" not in pages]
    assert not missing, f"modules without an API section (book/api/*.md): {missing}"


def test_sources_hold_no_control_characters():
    """A docstring written without r\"\"\" turns \\a, \\b or \\f into control characters, which break
    the math of the API pages (MathJax fails on them); text files must not contain any."""
    import subprocess

    files = subprocess.run(["git", "ls-files", "*.py", "*.ipynb", "*.md", "*.yml", "*.bib"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    bad = [name for name in files if (ROOT / name).exists()
           and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", (ROOT / name).read_text(errors="replace"))]
    assert not bad, f"control characters in {bad}"
