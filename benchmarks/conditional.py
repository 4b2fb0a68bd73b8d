"""Chapter 8: classifier-free guidance on the digits, classifier guidance, and SDEdit.

The class-conditional digit model of ``gmtext.recipes.conditional`` (trained once per budget and
cached), sampled with DDIM (``conditional.sample_steps`` steps) at each guidance weight
``w`` in ``WEIGHTS`` (model ``cfg_w=<w>``, ``conditional.samples`` samples, equally many of each class,
the same noise for every ``w``): ``label_accuracy`` (the shared digit classifier agrees with the
requested class), ``fd`` (Fréchet distance to the test digits in its features), ``precision`` and
``recall`` (k = 3, same features), ``diversity`` (per-class mean feature distance over the test
digits'). The row ``cfg_best`` repeats the weight with the **lowest Fréchet distance**, and carries
the chapter's targets (label accuracy >= 0.99 and FD <= 2.0: beyond chapter 3.x's conditional GAN).
Classifier guidance (``cg_scale=<1+w>``, ``conditional.cg_samples`` samples) with the noisy digit
classifier. SDEdit from bold negatives to plain digits (``sdedit-<variant>_t0=<t>``): ``accuracy``
w.r.t. the source's label and ``fd``; beside it chapter 3's CycleGAN F(b) (``cyclegan``).
"""

from __future__ import annotations

import time

import torch

from benchmarks import with_targets
from gmtext import config
from gmtext.recipes import conditional as recipe

WEIGHTS = (0.0, 0.5, 0.75, 1.0, 2.0, 4.0)
T_STARTS = (0.1, 0.3, 0.5, 0.7, 0.9)
TARGETS = {("cfg_best", "digits", "label_accuracy", "fraction"): ">= 0.99",
           ("cfg_best", "digits", "fd", "classifier features"): "<= 2.0"}
_UNITS = {"label_accuracy": "fraction", "fd": "classifier features", "precision": "fraction",
          "recall": "fraction", "diversity": "of test digits", "accuracy": "fraction", "train_s": "s"}


def _rows(profile: str, model: str, dataset: str, wall_s: float, metrics: dict[str, float],
          **extra: object) -> list[dict]:
    common = {"benchmark": "conditional", "model": model, "dataset": dataset, "wall_s": round(wall_s, 2),
              "profile": profile, "device": "cpu", **extra}
    return [{**common, "metric": key, "value": round(float(value), 5), "unit": _UNITS[key]}
            for key, value in metrics.items()]


def run(profile: str) -> list[dict]:
    """All rows of the chapter-8 benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    model, info = recipe.conditional_digit_model(profile, progress=False)
    rows = [] if info["loaded"] else _rows(profile, "class-conditional MLP", "digits", info["history"].wall_s,
                                           {"train_s": info["history"].wall_s}, steps=info["steps"])
    keys = ("label_accuracy", "fd", "precision", "recall", "diversity")
    start = time.perf_counter()
    sweep = recipe.guidance_sweep(model, WEIGHTS, profile)
    wall = (time.perf_counter() - start) / len(WEIGHTS)
    for w, m in sweep.items():
        rows += _rows(profile, f"cfg_w={w:g}", "digits", wall, {k: m[k] for k in keys}, w=w)
    best = min(WEIGHTS, key=lambda w: sweep[w]["fd"])            # the best weight: the lowest FD
    rows += _rows(profile, "cfg_best", "digits", wall, {k: sweep[best][k] for k in keys}, w=best)
    classifier, _ = recipe.noisy_classifier(profile, progress=False)
    n = int(config.budget("conditional.cg_samples", profile))
    labels = torch.arange(n) % recipe.NUM_CLASSES
    for w in (1.0, 2.0):
        start = time.perf_counter()
        images = recipe.classifier_guided_digits(model, classifier, 1 + w, labels,
                                                 int(config.budget("conditional.sample_steps", profile)),
                                                 torch.Generator().manual_seed(1))
        scores = recipe.evaluate_digits(images, labels)
        rows += _rows(profile, f"cg_scale={1 + w:g}", "digits", time.perf_counter() - start,
                      {k: scores[k] for k in keys}, samples=n)
    start = time.perf_counter()
    edits = recipe.sdedit_translation(model, T_STARTS, profile)
    wall = (time.perf_counter() - start) / (len(T_STARTS) * len(edits))
    for name, curve in edits.items():
        for t0, m in curve.items():
            rows += _rows(profile, f"sdedit-{name.replace(', ', '-')}_t0={t0:g}", "digits bold-negative to plain",
                          wall, {"accuracy": m["accuracy"], "fd": m["fd"]}, t0=t0)
    start = time.perf_counter()
    cycle = recipe.cyclegan_reference(profile)
    rows += _rows(profile, "cyclegan", "digits bold-negative to plain", time.perf_counter() - start,
                  {"accuracy": cycle["accuracy"], "fd": cycle["fd"]})
    return with_targets(rows, TARGETS)
