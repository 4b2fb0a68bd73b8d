"""Keep what nbval executes: ``pytest --nb-executed DIR`` writes each notebook it ran, with outputs.

nbval runs every chapter notebook as a test, cell by cell, and throws the outputs away. The book
shows the same outputs, so executing every notebook a second time for the book doubles the cost of
a CI run. With ``--nb-executed DIR``, each notebook whose cells all passed is written to
``DIR/<name>.ipynb`` with its outputs, execution counts, the ipywidgets state the kernel holds
(the HTML book renders widgets from it) and its wall time in ``metadata.gmtext.execution_seconds``.
``scripts/cache_executed.py`` then puts those notebooks into jupyter-cache, where the book build
finds them instead of executing them again (decision 31). A notebook with a failed cell is not
written, so the book build executes it itself and fails on the same error.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

# Run in the kernel after the last cell: the state of every live widget, in the format
# nbclient stores under the notebook's metadata.widgets (ipywidgets' own manager state).
_WIDGET_STATE = """
import json as _json, sys as _sys
_ipw = _sys.modules.get("ipywidgets")
with open({path!r}, "w") as _f:
    _json.dump(_ipw.Widget.get_manager_state(drop_defaults=False) if _ipw else None, _f)
del _json, _sys, _ipw, _f
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--nb-executed", metavar="DIR", default=None,
                     help="write each notebook nbval executed, with its outputs, into DIR")


def _is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Record the outputs of each notebook cell nbval runs, and the time of the first cell."""
    if not (_is_nbval_cell(item) and item.config.getoption("--nb-executed")):
        yield
        return
    notebook = item.parent
    if not hasattr(notebook, "_gmtext_record"):
        notebook._gmtext_record = {"start": time.perf_counter(), "cells": {}, "failed": False}
    outcome = yield
    record = notebook._gmtext_record
    if outcome.excinfo is not None and not item.options.get("check_exception"):
        record["failed"] = True
    if item.test_outputs is not None:
        record["cells"][item.cell_num] = item.test_outputs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After a notebook's last cell, while its kernel still runs, write the executed notebook."""
    folder = item.config.getoption("--nb-executed")
    last = nextitem is None or nextitem.parent is not item.parent
    if folder and _is_nbval_cell(item) and last:
        record = getattr(item.parent, "_gmtext_record", None)
        if record is not None and not record["failed"]:
            _write_executed(item.parent, record, Path(folder))
    yield


def _write_executed(notebook: pytest.File, record: dict, folder: Path) -> None:
    seconds = time.perf_counter() - record["start"]
    nb = nbformat.read(str(notebook.fspath), as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if len(record["cells"]) != len(code_cells):
        return                      # a cell was skipped or not run: the book executes it itself
    for number, cell in enumerate(code_cells):
        outputs = record["cells"][number]
        for output in outputs:
            if output.get("output_type") == "execute_result":
                output["execution_count"] = number + 1
        cell.outputs = [nbformat.from_dict(dict(output)) for output in outputs]
        cell.execution_count = number + 1
    widgets = _widget_state(notebook)
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": widgets}
    nb.metadata.setdefault("gmtext", {})["execution_seconds"] = round(seconds, 2)
    nbformat.validate(nb)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(str(notebook.fspath)).name
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
        nbformat.write(nb, f)
    Path(f.name).chmod(0o644)
    Path(f.name).replace(target)   # atomic: a half-written notebook is never cached


def _widget_state(notebook: pytest.File) -> dict | None:
    kernel = notebook.kernel
    if kernel is None or not kernel.is_alive():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "widgets.json"
        msg_id = kernel.execute_cell_input(_WIDGET_STATE.format(path=str(path)), allow_stdin=False)
        kernel.await_reply(msg_id, timeout=60)
        state = json.loads(path.read_text()) if path.exists() else None
    return state if state and state.get("state") else None
