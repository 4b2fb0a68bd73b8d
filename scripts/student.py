"""The student edition of the book: the same notebooks with every solution taken out.

One source. A code exercise is a code cell tagged ``solution`` whose solution lines sit between
``# BEGIN SOLUTION`` and ``# END SOLUTION``; the student edition replaces them by a
``raise NotImplementedError`` at the same indentation, so the function keeps its signature,
docstring and hint, and the ``check`` cell after it fails until the reader has written it. The
``{solution}`` blocks of the text exercises are dropped from the markdown.

    python scripts/student.py notebooks OUT          student notebooks, no outputs (to hand out)
    python scripts/student.py book CACHE OUT         the book's source tree with executed, stubbed
                                                     notebooks (outputs from the book's cache)
    python scripts/student.py check OUT [--run] [--html DIR]
                                                     consistency checks; --run also executes each
                                                     student notebook (quick profile) to its first
                                                     stub; --html: no solution in the built book

``make student`` runs all three (decision 32).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: write this part (the hint above says how).")'
_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}")


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def stub_code(source: str, where: str) -> str:
    """Replace every BEGIN/END SOLUTION block of ``source`` by a stub at the block's indentation."""
    out, inside, blocks = [], False, 0
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}: '{BEGIN}' inside a solution block")
            inside, blocks = True, blocks + 1
            out.append(line[: len(line) - len(line.lstrip())] + STUB)
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}: '{END}' without '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' without '{END}'")
    if blocks == 0:
        raise ValueError(f"{where}: a cell tagged 'solution' has no '{BEGIN}' ... '{END}' block")
    return "\n".join(out)


def drop_solutions(markdown: str) -> str:
    """Remove ```{solution} ... ``` (or :::{solution}) blocks from a markdown cell."""
    out, closing = [], None
    for line in markdown.splitlines():
        if closing is None:
            match = _FENCE.match(line.lstrip())
            if match:
                fence = match.group("fence")
                closing = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
                continue
            out.append(line)
        elif closing.match(line.strip()):
            closing = None
    if closing is not None:
        raise ValueError("a {solution} block is not closed")
    return "\n".join(out).rstrip() + ("\n" if markdown.endswith("\n") else "")


def student_notebook(nb: nbformat.NotebookNode, name: str, keep_outputs: bool = False):
    """The student version of ``nb``: solutions stubbed, text solutions dropped."""
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        source = _source(cell)
        if cell.cell_type == "markdown":
            cell.source = drop_solutions(source)
        elif cell.cell_type == "code":
            if "solution" in _tags(cell):
                cell.source = stub_code(source, where)
                cell.outputs, cell.execution_count = [], None
            elif BEGIN in source or END in source:
                raise ValueError(f"{where}: solution markers in a cell not tagged 'solution'")
            if not keep_outputs:
                cell.outputs, cell.execution_count = [], None
    if not keep_outputs:
        nb.metadata.pop("widgets", None)
    return nb


def write_notebooks(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(student_notebook(nb, path.name), out / path.name)
    print(f"student notebooks written to {out}")


def write_book(cache_dir: Path, out: Path) -> None:
    """The book's source tree with each notebook's executed outputs and its solutions taken out."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "book", out / "book", symlinks=True)
    for page in (out / "book").glob("**/*.md"):      # the intro's exercises have solutions too
        page.write_text(drop_solutions(page.read_text()))
    config = (ROOT / "_config.yml").read_text()
    config = config.replace("execute_notebooks: cache", "execute_notebooks: 'off'", 1)
    config = re.sub(r'^title: "(.*)"', r'title: "\1 (student edition)"', config, count=1, flags=re.M)
    if "execute_notebooks: 'off'" not in config:
        raise SystemExit("_config.yml: execute_notebooks not found")
    (out / "_config.yml").write_text(config)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        try:
            _, executed = cache.merge_match_into_notebook(nb)
        except KeyError:
            raise SystemExit(f"{path.name} has no executed copy in {cache_dir}: run `make book` first")
        nbformat.write(student_notebook(executed, path.name, keep_outputs=True), out / "notebooks" / path.name)
    print(f"student book sources written to {out}")


def check(out: Path, run: bool, html: Path | None = None) -> int:
    """Every tagged cell stubbed, every stub from a tagged cell, no solution text left; optionally run."""
    problems, exercises = [], 0
    if html is not None:
        pages = sorted(html.glob("**/*.html"))
        if not pages:
            problems.append(f"no HTML pages under {html}")
        for page in pages:
            text = page.read_text(errors="replace")
            if 'class="solution' in text or BEGIN in text:
                problems.append(f"{page.relative_to(html)}: a solution is shown in the student book")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        source = nbformat.read(path, as_version=4)
        student = nbformat.read(out / path.name, as_version=4)
        if len(source.cells) != len(student.cells):
            problems.append(f"{path.name}: the student notebook has another number of cells")
            continue
        for index, (full, stub) in enumerate(zip(source.cells, student.cells)):
            tagged = "solution" in _tags(full)
            stubbed = STUB in _source(stub)
            exercises += tagged
            if tagged != stubbed:
                problems.append(f"{path.name}, cell {index}: tagged {tagged}, stubbed {stubbed}")
            if BEGIN in _source(stub) or "{solution}" in _source(stub):
                problems.append(f"{path.name}, cell {index}: solution text left in the student edition")
        if run and not problems:
            problems += _run_to_first_stub(out / path.name)
    for problem in problems:
        print("FAILED", problem)
    print(f"{exercises} code exercises checked, {len(problems)} problems")
    return 1 if problems else 0


def _run_to_first_stub(path: Path) -> list[str]:
    """Execute the student notebook (quick profile); it must stop first at a NotImplementedError."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    first = next((i for i, c in enumerate(nb.cells) if STUB in _source(c)), None)
    if first is None:
        return []
    # the cells up to the first stub's check cell: the student runs them before writing anything
    last = next((i for i in range(first + 1, len(nb.cells)) if "check" in _tags(nb.cells[i])), first)
    nb.cells = nb.cells[: last + 1]
    os.environ.setdefault("GMTEXT_PROFILE", "quick")
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    try:
        client.execute()
    except CellExecutionError as error:
        if error.ename == "NotImplementedError":
            print(f"ok   {path.name}: runs to its first exercise (cell {first})")
            return []
        return [f"{path.name}: failed before its first exercise: {error.ename}: {error.evalue}"]
    return [f"{path.name}: ran past its first stub without NotImplementedError (no check cell?)"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("notebooks").add_argument("out", type=Path)
    book = sub.add_parser("book")
    book.add_argument("cache", type=Path)
    book.add_argument("out", type=Path)
    checker = sub.add_parser("check")
    checker.add_argument("out", type=Path)
    checker.add_argument("--run", action="store_true")
    checker.add_argument("--html", type=Path, default=None, help="the built student book to check")
    args = parser.parse_args(argv)
    if args.command == "notebooks":
        write_notebooks(args.out)
    elif args.command == "book":
        write_book(args.cache, args.out)
    else:
        return check(args.out, args.run, args.html)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
