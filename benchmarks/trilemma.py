"""Chapter 10, few-step samplers at toy scale: progressive distillation and reflow against their teachers.

- digits: the v-teacher of ``gmtext.recipes.trilemma`` sampled by 50-step DDIM is the reference; the
  teacher itself and its distilled students at 1, 2, 4, 8 network calls give ``fd`` (Frechet distance
  of ``trilemma.samples`` digits through the shared classifier) and ``fd_ratio`` = their FD over the
  50-step teacher's (target ``<= 1.1`` for a distilled sampler at <= 4 calls), with ``sample_ms``;
- grid25: modes covered of 2,500 samples (the conventions' protocol, ``mode_coverage``) at 1 and 2
  calls for the grid teacher, its distilled students and the reflow of the exact flow (target
  ``>= 24`` for the distilled samplers), and the straightness of the exact flow and of its reflow;
- ``train_s``: training time of each network, from the model store (the same number when loaded).
"""

from __future__ import annotations

import time

import torch

from gmtext import config
from gmtext.data import toy
from gmtext.diffusion import distillation
from gmtext.diffusion.flow_matching import mixture_velocity
from gmtext.metrics import digits_frechet_distance, mode_coverage
from gmtext.metrics.paths import straightness
from gmtext.recipes import trilemma as T

CALLS = (1, 2, 4, 8)
REFERENCE_STEPS = 50


def _row(profile: str, model: str, dataset: str, metric: str, value: float, unit: str, wall_s: float,
         **extra: object) -> dict:
    return {"benchmark": "trilemma", "model": model, "dataset": dataset, "metric": metric,
            "value": round(float(value), 5), "unit": unit, "wall_s": round(wall_s, 3), "profile": profile,
            "device": "cpu", **extra}


def _digits(profile: str) -> list[dict]:
    teacher, rec_t = T.digit_teacher(profile, progress=False)
    students, rec_s = T.digit_students(teacher, profile, progress=False)
    n = int(config.budget("trilemma.samples", profile))
    rows = [_row(profile, "ddim-teacher", "digits", "train_s", rec_t.seconds, "s", rec_t.seconds, loaded=rec_t.loaded),
            _row(profile, "distil-progressive", "digits", "train_s", rec_s.seconds, "s", rec_s.seconds,
                 loaded=rec_s.loaded, stages=rec_s.info.get("stage_seconds"))]

    def measure(model: torch.nn.Module, calls: int) -> tuple[float, float]:
        start = time.perf_counter()
        x = T.digit_samples(model, n, calls, torch.Generator().manual_seed(1))
        wall = time.perf_counter() - start
        return digits_frechet_distance(x), wall

    ref_fd, ref_wall = measure(teacher, REFERENCE_STEPS)
    rows.append(_row(profile, f"ddim-teacher-nfe{REFERENCE_STEPS}", "digits", "fd", ref_fd, "", ref_wall,
                     nfe=REFERENCE_STEPS, samples=n))
    for name, models in (("ddim-teacher", {k: teacher for k in CALLS}), ("distil-progressive", students)):
        for calls in CALLS:
            if calls not in models:
                continue
            fd, wall = measure(models[calls], calls)
            extra = {"target": "<= 1.1"} if name.startswith("distil") and calls <= 4 else {}
            rows += [_row(profile, f"{name}-nfe{calls}", "digits", "fd", fd, "", wall, nfe=calls, samples=n),
                     _row(profile, f"{name}-nfe{calls}", "digits", "fd_ratio", fd / ref_fd, "ratio", wall,
                          nfe=calls, **extra),
                     _row(profile, f"{name}-nfe{calls}", "digits", "sample_ms", 1e3 * wall / n, "ms", wall, nfe=calls)]
    return rows


def _grid(profile: str) -> list[dict]:
    grid, n = toy.load("grid25"), 2500
    teacher, rec_t = T.grid_teacher(profile, progress=False)
    students, rec_s = T.grid_students(teacher, profile, progress=False)
    flow, rec_r = T.grid_reflow(profile, progress=False)
    rows = [_row(profile, name, "grid25", "train_s", rec.seconds, "s", rec.seconds, loaded=rec.loaded)
            for name, rec in (("ddim-teacher", rec_t), ("distil-progressive", rec_s), ("distil-reflow", rec_r))]
    runs = [("ddim-teacher", {k: teacher for k in (1, 2, REFERENCE_STEPS)}, False),
            ("distil-progressive", students, False), ("distil-reflow", {k: flow for k in (1, 2, 100)}, True)]
    for name, models, is_flow in runs:
        for calls in sorted(k for k in models if k in (1, 2, REFERENCE_STEPS, 100)):
            start = time.perf_counter()
            x = T.grid_samples(models[calls], n, calls, torch.Generator().manual_seed(1), flow=is_flow)
            wall = time.perf_counter() - start
            cover = mode_coverage(x, grid.means.float(), float(grid.stds[0, 0]))
            extra = {"target": ">= 24"} if name.startswith("distil") and calls <= 2 else {}
            rows += [_row(profile, f"{name}-nfe{calls}", "grid25", "modes_covered", cover["modes_covered"], "of 25",
                          wall, nfe=calls, **extra),
                     _row(profile, f"{name}-nfe{calls}", "grid25", "high_quality_fraction",
                          cover["high_quality_fraction"], "fraction", wall, nfe=calls)]
    scaled = toy.GaussianMixture(T.GRID_SCALE * grid.means, T.GRID_SCALE * grid.stds, grid.weights)
    noise = torch.randn(1000, 2, generator=torch.Generator().manual_seed(2))
    for name, field in (("exact-flow", lambda y, s: mixture_velocity(scaled, y, s)), ("distil-reflow", flow)):
        start = time.perf_counter()
        traj, times = distillation.flow_trajectory(field, noise, 100)
        rows.append(_row(profile, name, "grid25", "straightness", float(straightness(traj, times)), "scaled units^2",
                         time.perf_counter() - start, nfe=100))
    return rows


def run(profile: str) -> list[dict]:
    """All rows of the trilemma benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    return _digits(profile) + _grid(profile)
