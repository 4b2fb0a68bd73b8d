"""Chapter 9, inverse problems on the 8x8 digits: posterior sampling with one diffusion prior vs classical baselines.

For each task (``inpaint``, ``uncrop``, ``superres``, ``deblur``; see :mod:`gmtext.recipes.inverse`)
and each method (RePaint-style replacement, DDNM, DPS) on ``inverse.n_test`` test digits with
``inverse.k_samples`` posterior samples each: ``psnr_mean`` / ``ssim_mean`` (of the posterior mean),
``psnr_sample`` / ``ssim_sample`` (of one sample), ``consistency`` (mean ||A(mean) - y||, signed
scale; the truth scores about SIGMA_Y * sqrt(M)) and ``diversity`` (mean per-pixel std of the
samples, grey levels). The best classical baseline (chosen on validation digits) has its own
``psnr_mean`` row. Target (chapter 9's issue): the posterior mean's PSNR >= the baseline's, for the
best of the three methods; it is decided per task by comparing the ``psnr_mean`` row of the
method named ``best posterior mean`` with the baseline row's value, which is written into the
target string of that row.
"""

from __future__ import annotations

import time

import torch

from benchmarks import with_targets
from gmtext import config
from gmtext.data.images import digits
from gmtext.recipes import inverse as recipe

UNITS = {"psnr_mean": "dB", "psnr_sample": "dB", "ssim_mean": "ssim", "ssim_sample": "ssim",
         "consistency": "l2", "diversity": "grey levels"}


def _row(profile: str, model: str, task: str, metric: str, value: float, wall_s: float, **extra: object) -> dict:
    return {"benchmark": "inverse", "model": model, "dataset": task, "metric": metric,
            "value": round(float(value), 4), "unit": UNITS[metric], "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def run(profile: str) -> list[dict]:
    """All rows of the inverse-problems benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    model, _, info = recipe.digit_prior(profile, progress=False)
    prior_s = time.perf_counter() - start
    gen = config.seed_everything(0)
    x = digits("test")[:config.budget("inverse.n_test", profile)]
    k, steps = config.budget("inverse.k_samples", profile), config.budget("inverse.steps", profile)
    rows, targets = [], {}
    for task in recipe.TASKS:
        out = recipe.run_task(model, task, x, k, steps, gen)
        base, *methods = out["rows"]
        rows.append(_row(profile, base["method"], task, "psnr_mean", base["psnr_mean"], 0.0,
                         prior_steps=info["steps"]))
        rows.append(_row(profile, base["method"], task, "ssim_mean", base["ssim_mean"], 0.0))
        for r in methods:
            rows += [_row(profile, r["method"], task, m, r[m], r["wall_s"], k=k, steps=steps)
                     for m in UNITS]
        best = max(methods, key=lambda r: r["psnr_mean"])
        rows.append(_row(profile, "best posterior mean", task, "psnr_mean", best["psnr_mean"], best["wall_s"],
                         method=best["method"]))
        targets[("best posterior mean", task, "psnr_mean", "dB")] = f">= {base['psnr_mean']:.4f}"
    rows[0]["prior_wall_s"] = round(prior_s, 2)
    return with_targets(rows, targets)
