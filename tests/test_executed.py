"""CI executes each notebook once: nbval's run is kept (root conftest.py) and cached for the book."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a title")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _run_nbval(tmp_path: Path, *notebooks: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "-p", "conftest", "--nbval-lax", "--nbval-current-env",
         f"--nb-executed={tmp_path / 'out'}", *notebooks],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_nbval_run_is_kept_and_found_by_the_book_cache(tmp_path):
    _notebook(tmp_path / "good.ipynb", [
        "x = 20 + 22\nprint('x is', x)",
        "import ipywidgets\nslider = ipywidgets.IntSlider(value=3, max=9)\nslider",
        "x * 2",
    ])
    _notebook(tmp_path / "bad.ipynb", ["print('before')", "1 / 0"])
    result = _run_nbval(tmp_path, "good.ipynb", "bad.ipynb")
    assert result.returncode == 1, result.stdout     # the bad notebook fails its test

    out = tmp_path / "out"
    assert not (out / "bad.ipynb").exists()          # a failed notebook is never kept
    nb = nbformat.read(out / "good.ipynb", as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == [1, 2, 3]
    assert code[0].outputs[0]["text"] == "x is 42\n"
    assert code[2].outputs[0]["data"]["text/plain"] == "84"
    view = code[1].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert state[view["model_id"]]["state"]["value"] == 3     # the book renders the slider from this
    assert nb.metadata["gmtext"]["execution_seconds"] > 0

    cache_dir = tmp_path / "cache"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "cache_executed.py"), str(cache_dir),
                    str(out / "good.ipynb")], check=True, capture_output=True, timeout=120)
    source = nbformat.read(tmp_path / "good.ipynb", as_version=4)
    assert get_cache(str(cache_dir)).match_cache_notebook(source) is not None
    source.cells[1].source += "  # edited"       # a changed notebook must not match its old run
    with pytest.raises(KeyError):
        get_cache(str(cache_dir)).match_cache_notebook(source)
