"""Put notebooks executed under nbval into jupyter-cache, so that the book build does not run them again.

Usage: ``python scripts/cache_executed.py CACHE_DIR NOTEBOOK.ipynb ...`` (the notebooks written by
``pytest --nb-executed DIR``, see the root ``conftest.py``). Each is stored under the hash of its
code cells, the key the book build (myst-nb's cache mode) looks up; a notebook whose source has
changed since it was executed therefore does not match, and the build executes it itself.
Prints one line per notebook and the total execution time it saves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from jupyter_cache import get_cache


def main(cache_dir: str, paths: list[str]) -> int:
    cache = get_cache(cache_dir)
    total = 0.0
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        seconds = nb.metadata.get("gmtext", {}).get("execution_seconds")
        if seconds is None:
            raise SystemExit(f"{path} was not written by pytest --nb-executed")
        # check_validity: execution counts must run 1, 2, 3, ... over the code cells
        record = cache.cache_notebook_file(str(path), uri=f"notebooks/{path.name}",
                                           data={"execution_seconds": seconds},
                                           check_validity=True, overwrite=True)
        total += seconds
        print(f"cached {path.name} (ID {record.pk}, executed in {seconds:.1f} s under nbval)")
    print(f"{len(paths)} notebooks taken from the test run: {total:.0f} s of execution not repeated")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
