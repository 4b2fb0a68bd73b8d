"""Chapter 3: GANs, measured by their samples (no likelihood).

``grid25`` (the mode-coverage protocol of the book's conventions page, 2,500 samples):
``modes_covered`` (of 25) and ``high_quality_fraction`` of the vanilla non-saturating GAN and of the
fix, PacGAN-2 with batch
512 sampled from an EMA of the generator's weights (``gmtext.recipes.gan_toy.RECIPES``), with the
same networks, optimiser and ``gan.grid_steps`` steps, on ``gan.bench_seeds`` seeds; ``train_s``.
Every run also reports the same two numbers for its last iterate (``*_last``) and for its weight
average (``*_average``), so the effect of averaging is measured on the same training run.

Digits (test split as reference, ``gan.samples`` samples): ``frechet_distance`` in the shared
classifier's features, ``precision`` and ``recall`` (k = 3, same features) of the DCGAN and of the
conditional GAN (equal numbers of each class); for the conditional GAN also ``label_accuracy``
(the classifier agrees with the requested class). ``sample_ms`` per image and ``nfe`` (= 1: one
generator pass per sample). CycleGAN between plain and bold-negative digits: the classifier's
accuracy on test images (``content_accuracy_<images>``: source A, raw B, inverted B,
translated F(b), round trip F(G(a))), see ``gmtext.recipes.gan_digits.content_preservation``.
"""

from __future__ import annotations

import time

import torch

from benchmarks import with_targets
from gmtext import config
from gmtext.data.images import digits
from gmtext.gan import sample_digits
from gmtext.metrics import digit_features, digits_frechet_distance, precision_recall
from gmtext.metrics.classifier import label_accuracy
from gmtext.recipes.gan_digits import content_preservation, train_digit_gan, train_style_cyclegan
from gmtext.recipes.gan_toy import FIX, RECIPES, train_grid_gan

#: The chapter's targets for the fix on every seed: >= 20 of 25 modes, >= 70 % high-quality
#: samples, <= 120 s of training (stretch: 25 of 25 with >= 90 %).
TARGETS = {(FIX, "grid25", "modes_covered", "of 25"): ">= 20",
           (FIX, "grid25", "high_quality_fraction", "fraction"): ">= 0.7",
           (FIX, "grid25", "train_s", "s"): "<= 120"}


def _rows(profile: str, model: str, dataset: str, wall_s: float,
          metrics: dict[str, tuple[float, str]], **extra: object) -> list[dict]:
    """One row per ``metric: (value, unit)``, sharing the model, data set, wall time and extras."""
    common = {"benchmark": "gan", "model": model, "dataset": dataset, "wall_s": round(wall_s, 2),
              "profile": profile, "device": "cpu", **extra}
    return [{**common, "metric": metric, "value": round(float(value), 5), "unit": unit}
            for metric, (value, unit) in metrics.items()]


def _grid(profile: str) -> list[dict]:
    rows = []
    steps = config.budget("gan.grid_steps", profile)
    for seed in range(config.budget("gan.bench_seeds", profile)):
        for method in RECIPES:
            run = train_grid_gan(method, steps, seed=seed, progress=False)
            wall, metrics = run.history.wall_s, {}
            for suffix, c in (("", run.coverage), ("_last", run.coverage_last),
                              ("_average", run.coverage_average)):
                metrics[f"modes_covered{suffix}"] = (c["modes_covered"], "of 25")
                metrics[f"high_quality_fraction{suffix}"] = (c["high_quality_fraction"], "fraction")
            metrics["train_s"] = (wall, "s")
            rows += _rows(profile, method, "grid25", wall, metrics, seed=seed,
                          steps=len(run.history.loss))
    return rows


def _digits(profile: str) -> list[dict]:
    rows = []
    n = config.budget("gan.samples", profile)
    steps = {False: config.budget("gan.digits_steps", profile),
             True: config.budget("gan.cond_steps", profile)}
    real = digit_features(digits("test"))
    for conditional in (False, True):
        g, hist = train_digit_gan(steps[conditional], conditional=conditional, progress=False)
        labels = torch.arange(n) % 10 if conditional else None
        start = time.perf_counter()
        x = sample_digits(g, n, torch.Generator().manual_seed(1), labels)
        sample_ms = 1e3 * (time.perf_counter() - start) / n
        pr = precision_recall(real, digit_features(x))
        metrics = {"frechet_distance": (digits_frechet_distance(x), "classifier features"),
                   "precision": (pr["precision"], "fraction"), "recall": (pr["recall"], "fraction"),
                   "train_s": (hist.wall_s, "s"), "sample_ms": (sample_ms, "ms/image"),
                   "nfe": (1, "passes/sample")}
        if conditional:
            metrics["label_accuracy"] = (label_accuracy(x, labels), "fraction")
        rows += _rows(profile, "conditional-gan" if conditional else "dcgan", "digits",
                      hist.wall_s, metrics, samples=n, steps=len(hist.loss))
    return rows


def _cycle(profile: str) -> list[dict]:
    model, hist = train_style_cyclegan(config.budget("gan.cycle_steps", profile), progress=False)
    scores = content_preservation(model)
    return _rows(profile, "cyclegan", "digits plain/bold-negative", hist.wall_s,
                 {f"content_accuracy_{key}": (value, "fraction") for key, value in scores.items()},
                 steps=len(hist.loss))


def run(profile: str) -> list[dict]:
    """All rows of the GAN benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)          # small networks: one thread is faster on a shared machine
    return with_targets(_grid(profile), TARGETS) + _digits(profile) + _cycle(profile)
