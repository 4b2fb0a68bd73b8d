"""Chapter 7, the unified perspective: the numbers behind its identities, with exact mixture oracles.

All on ``ring8`` with the exact denoiser (``gmtext.diffusion.mixture_model``), no training:

- ``continuous_loss``: the continuous diffusion loss (1/2) int e^lambda E||x0 - x_hat||^2 dlambda on
  the log-SNR range of the VP path on [1e-3, 1], estimated under the VP, VE, linear and cosine paths
  (equal end points: the values must agree) and under the VE path with a different data end, each
  with its standard error (``4 * unified.mc_n`` draws);
- ``elbo_variance_ratio``: the variance (given the data point) of the consistency-form estimator of
  the hierarchical ELBO over that of the denoising form, T = 100 and 1000 latent steps; the two
  means (``neg_elbo``, nats) with standard errors;
- ``diffusion_loss_T``: the T-step diffusion loss L_T for T = 2 ... 1000 between fixed end points
  (one common noise per point), with standard errors; it must fall as T grows.
"""

from __future__ import annotations

import math
import time

import torch

from gmtext import config
from gmtext.data import toy
from gmtext.diffusion import CosineSchedule, LinearSchedule, VESchedule, VPSchedule, mixture_model
from gmtext.diffusion.hvae import (conditional_variance, continuous_diffusion_loss, discrete_diffusion_loss,
                                   hierarchical_elbo)
from gmtext.diffusion.weighting import time_at_log_snr

STEPS = (2, 4, 5, 10, 20, 25, 50, 100, 125, 200, 250, 500, 1000)


def _row(profile: str, model: str, metric: str, value: float, unit: str, wall_s: float, **extra: object) -> dict:
    return {"benchmark": "unified", "model": model, "dataset": "ring8", "metric": metric,
            "value": round(float(value), 5), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


def _invariance(profile: str, ring: toy.GaussianMixture, gen: torch.Generator) -> list[dict]:
    vp = VPSchedule()
    lam = lambda t: float(vp.log_snr(torch.tensor(t, dtype=torch.float64)))  # noqa: E731
    lam_max, lam_min = lam(1e-3), lam(1.0)
    x = ring.sample(4 * config.budget("unified.mc_n", profile), gen).double()
    ve = VESchedule(0.005, 200.0)
    runs = {"VP path": (vp, lam_max), "VE path": (ve, lam_max), "linear path": (LinearSchedule(), lam_max),
            "cosine path": (CosineSchedule(), lam_max), "VE path, other data end": (ve, lam(1e-2))}
    rows = []
    for name, (path, top) in runs.items():
        start = time.perf_counter()
        t_range = (time_at_log_snr(path, top), time_at_log_snr(path, lam_min))
        values = continuous_diffusion_loss(mixture_model(ring, path, "sample"), path, x, gen,
                                           prediction_type="sample", t_range=t_range)
        mean, se = _mean_se(values)
        rows.append(_row(profile, f"exact denoiser, {name}", "continuous_loss", mean, "nats",
                         time.perf_counter() - start, se=round(se, 5), lambda_range=[round(lam_min, 3), round(top, 3)]))
    return rows


def _elbo(profile: str, ring: toy.GaussianMixture, gen: torch.Generator) -> list[dict]:
    vp, rows = VPSchedule(), []
    repeats = config.budget("unified.elbo_repeats", profile)
    for steps in (100, 1000):
        points = max(50, config.budget("unified.elbo_points", profile) * 100 // steps)
        x = ring.sample(points, gen).double().repeat_interleave(repeats, 0)
        start = time.perf_counter()
        est = {name: hierarchical_elbo(mixture_model(ring, vp), vp, x, steps, gen, estimator=name)["total"]
               for name in ("denoising", "consistency")}
        wall = time.perf_counter() - start
        for name, values in est.items():
            mean, _ = _mean_se(values)
            per_point = values.reshape(-1, repeats).mean(1)
            rows.append(_row(profile, f"{name} estimator, T={steps}", "neg_elbo", mean, "nats", wall / 2,
                             se=round(float(per_point.std() / math.sqrt(len(per_point))), 5),
                             variance_given_x0=round(conditional_variance(values, repeats), 5)))
        ratio = conditional_variance(est["consistency"], repeats) / conditional_variance(est["denoising"], repeats)
        rows.append(_row(profile, f"consistency / denoising, T={steps}", "elbo_variance_ratio", ratio, "ratio",
                         wall, target=">= 10"))
    return rows


def _sequence(profile: str, ring: toy.GaussianMixture, gen: torch.Generator) -> list[dict]:
    vp = VPSchedule()
    x = ring.sample(config.budget("unified.lt_points", profile), gen).double()
    start = time.perf_counter()
    losses = discrete_diffusion_loss(mixture_model(ring, vp), vp, x, STEPS, gen)
    wall = time.perf_counter() - start
    return [_row(profile, f"exact denoiser, VP, T={steps}", "diffusion_loss_T", _mean_se(v)[0], "nats",
                 wall / len(STEPS), se=round(_mean_se(v)[1], 5), steps=steps) for steps, v in losses.items()]


def run(profile: str) -> list[dict]:
    """All rows of the unified benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    ring = toy.load("ring8")
    gen = config.seed_everything(0)
    return _invariance(profile, ring, gen) + _elbo(profile, ring, gen) + _sequence(profile, ring, gen)
