"""Wall time of every chapter notebook in a profile, executed as a reader would run it.

Each notebook runs in a fresh kernel through ``nbconvert`` (the notebook's folder as working
directory); nothing is written back. The default-profile budget is 180 s per notebook on 2 CPU
cores (the README, section Run profiles); the table says whether each notebook meets it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

from gmtext import config

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {"quick": 30.0, "default": 180.0, "full": None}


def time_notebook(path: Path, profile: str, timeout: int = 1800) -> float:
    """Execute ``path`` with ``GMTEXT_PROFILE=profile`` and return the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("GMTEXT_PROFILE")
    os.environ["GMTEXT_PROFILE"] = profile          # inherited by the kernel process
    try:
        start = time.perf_counter()
        ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(
            nb, {"metadata": {"path": str(path.parent)}})
        return time.perf_counter() - start
    finally:
        if previous is None:
            os.environ.pop("GMTEXT_PROFILE", None)
        else:
            os.environ["GMTEXT_PROFILE"] = previous


def run(profile: str) -> list[dict]:
    rows = []
    device = str(config.device())
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        seconds = time_notebook(path, profile)
        budget = BUDGET_S[profile]
        rows.append({"benchmark": "notebooks", "model": path.stem, "dataset": "-",
                     "metric": "wall_time", "value": round(seconds, 1), "unit": "s",
                     "wall_s": round(seconds, 1), "profile": profile, "device": device,
                     "budget_s": budget, "within_budget": budget is None or seconds <= budget})
    return rows
