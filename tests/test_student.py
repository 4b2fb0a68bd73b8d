"""The student edition: solutions stubbed in code, dropped from text, nothing else changed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

_spec = importlib.util.spec_from_file_location(
    "student", Path(__file__).resolve().parents[1] / "scripts" / "student.py")
student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student)

SOLUTION = '''def psnr(x, y, peak=1.0):
    """PSNR in dB."""
    # Hint: torch.log10.
    # BEGIN SOLUTION
    mse = ((x - y) ** 2).mean()
    return 10 * torch.log10(peak**2 / mse)
    # END SOLUTION'''


def test_stub_keeps_signature_docstring_and_hint_and_raises():
    stub = student.stub_code(SOLUTION, "here")
    assert "mse" not in stub and "BEGIN" not in stub
    assert stub.splitlines()[:3] == SOLUTION.splitlines()[:3]
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError):
        namespace["psnr"](1.0, 2.0)


@pytest.mark.parametrize("bad", [
    "def f():\n    return 1",                                       # tagged, no block
    "def f():\n    # BEGIN SOLUTION\n    return 1",                 # not closed
    "def f():\n    return 1\n    # END SOLUTION",                   # not opened
])
def test_malformed_solution_cells_are_refused(bad):
    with pytest.raises(ValueError, match="SOLUTION"):
        student.stub_code(bad, "cell 3")


def test_text_solutions_are_dropped_with_nested_fences():
    markdown = ("````{exercise} A\n:label: ex-a\nWhy?\n````\n\n"
                "````{solution} ex-a\n:class: dropdown\nBecause:\n```python\nx = 1\n```\n````\n"
                "After.\n:::{solution} ex-b\ngone\n:::\nKept.\n")
    out = student.drop_solutions(markdown)
    assert "Why?" in out and "After." in out and "Kept." in out
    assert "Because" not in out and "x = 1" not in out and "gone" not in out
    with pytest.raises(ValueError, match="not closed"):
        student.drop_solutions("```{solution} ex\ntext\n")


def test_student_notebook_stubs_tagged_cells_only():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("```{solution} e\n:class: dropdown\nsecret\n```"),
                nbformat.v4.new_code_cell(SOLUTION, metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("assert psnr(0, 1) > 0", metadata={"tags": ["check"]})]
    out = student.student_notebook(nb, "nb")
    assert "secret" not in out.cells[0].source
    assert student.STUB in out.cells[1].source and out.cells[2].source == nb.cells[2].source
    assert "BEGIN" in nb.cells[1].source                    # the full edition is left untouched
    nb.cells[2].source = "# BEGIN SOLUTION\nx = 1\n# END SOLUTION"   # markers in an untagged cell
    with pytest.raises(ValueError, match="not tagged"):
        student.student_notebook(nb, "nb")


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_has_two_code_exercises_each_with_a_check(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    solutions = [i for i, cell in enumerate(code) if "solution" in cell.metadata.get("tags", [])]
    assert len(solutions) >= 2, f"{path.name}: {len(solutions)} code exercises, at least 2 expected"
    for i in solutions:
        following = code[i + 1] if i + 1 < len(code) else None
        assert following is not None and "check" in following.metadata.get("tags", []), (
            f"{path.name}: code exercise {i} is not followed by a cell tagged 'check'")
    student.student_notebook(nb, path.name)          # every solution cell has well-formed markers
