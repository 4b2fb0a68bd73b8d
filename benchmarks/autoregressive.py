"""Section 1.x: exact test likelihood and sampling cost of the autoregressive models on the digits.

Every network of ``gmtext.autoregressive.NETWORKS`` is fitted by ``gmtext.recipes.autoregressive
.fit_digits`` (seed 0, the profile's budgets, early stopping on the val split), as in
``notebooks/01b_autoregressive.ipynb``, plus the PixelCNN with one-hot instead of thermometer codes
of the grey levels (the section's ablation). Rows (test split, the units of the book's conventions
page):

- ``test_nll`` (exact) in nats/image (``se`` over test images) and bits/dim; the PixelCNN's row
  carries the section's target, <= 84 nats;
- ``train_s``: training wall time; ``sample_ms``: wall time per digit when
  ``autoregressive.samples`` digits are drawn together; ``nfe``: network calls per sample (64,
  one per pixel).

Training runs on one CPU thread: the networks are small, and a second thread gains little while
it slows training down badly when another process competes for the cores.
"""

from __future__ import annotations

import math
import time

import torch

from benchmarks import with_targets
from gmtext import config
from gmtext.autoregressive import sample
from gmtext.metrics import bits_per_dim
from gmtext.recipes.autoregressive import fit_digits

MODELS: dict[str, tuple[str, dict]] = {
    "FVSBN (softmax)": ("fvsbn", {}),
    "NADE": ("nade", {}),
    "MADE": ("made", {}),
    "PixelCNN": ("pixelcnn", {}),
    "PixelCNN (one-hot codes)": ("pixelcnn", {"encoding": "onehot"}),
}
TARGETS = {("PixelCNN", "digits", "test_nll", "nats/image"): "<= 84"}


def _row(profile: str, model: str, metric: str, value: float, unit: str, wall_s: float,
         **extra: object) -> dict:
    return {"benchmark": "autoregressive", "model": model, "dataset": "digits", "metric": metric,
            "value": round(float(value), 4), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def run(profile: str) -> list[dict]:
    """All rows of the section-1.x benchmark for ``profile`` (``quick``, ``default`` or ``full``).

    Raises:
        ValueError: for an unknown profile (from ``gmtext.config.budget``).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                  # see the module docstring
    try:
        rows = []
        for model, (kind, overrides) in MODELS.items():
            rows += _rows(profile, model, kind, overrides)
        return with_targets(rows, TARGETS)
    finally:
        torch.set_num_threads(threads)


def _rows(profile: str, model: str, kind: str, overrides: dict) -> list[dict]:
    fitted = fit_digits(kind, profile, seed=0, progress=False, **overrides)
    nll, wall = fitted.test_nll, fitted.train_s
    se = float(fitted.test_log_prob.double().std() / math.sqrt(len(fitted.test_log_prob)))
    n = config.budget("autoregressive.samples", profile)
    start = time.perf_counter()
    sample(fitted.net, n, torch.Generator().manual_seed(1))
    sample_ms = 1000 * (time.perf_counter() - start) / n
    return [
        _row(profile, model, "test_nll", nll, "nats/image", wall, se=round(se, 4), kind="exact"),
        _row(profile, model, "test_nll", bits_per_dim(nll, 64), "bits/dim", wall, kind="exact"),
        _row(profile, model, "train_s", wall, "s", wall),
        _row(profile, model, "sample_ms", sample_ms, "ms/image", wall, batch=n),
        _row(profile, model, "nfe", fitted.net.dims, "passes/sample", wall),
    ]
