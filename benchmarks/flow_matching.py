"""Chapter 6, flow matching: quality at equal NFE against diffusion, exact likelihood, speed.

Every comparison pits a flow-matching velocity network against a diffusion epsilon-network of the
same size (``gmtext.nn.ConditionalMLP``) trained for the same number of steps with the same recipe
(Adam, cosine decay, EMA), sampling from the same noise (``gmtext.recipes.flow_matching.equal_nfe_samples``).

Toys (``ring8``, ``grid25_wide``): ``mmd2`` = squared MMD (Gaussian kernel, width 0.2) of
``fm.n_samples`` samples to fresh data at each NFE, for FM Euler / FM Heun / DDIM / PF-ODE Heun;
``kl`` = KL(p || q) of the flow-matching model by its exact ODE likelihood (RK4, exact trace) on
``fm.bench_n_test`` fresh points, with its standard error; ``train_s``.

Digits: ``frechet`` = Fréchet distance in the digit-classifier features of ``fm.digit_samples``
samples at each NFE; ``sample_ms`` per image for FM Euler at NFE 8.
"""

from __future__ import annotations

import time

import torch

from gmtext import config
from gmtext.data import toy
from gmtext.data.images import digits, scale_digits, unscale_digits
from gmtext.diffusion import VPSchedule
from gmtext.recipes.flow_matching import equal_nfe_samples
from gmtext.diffusion.training import train_diffusion, train_flow_matching
from gmtext.distributions import normal_log_prob
from gmtext.metrics import digits_frechet_distance, kl_mc, mmd_rbf
from gmtext.nn import ConditionalMLP
from gmtext.ode import log_prob_by_ode, odeint

NFES = (1, 2, 4, 8, 16, 32)


def _row(profile: str, model: str, dataset: str, metric: str, value: float, unit: str,
         wall_s: float, **extra: object) -> dict:
    return {"benchmark": "flow_matching", "model": model, "dataset": dataset, "metric": metric,
            "value": round(float(value), 5), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def _pair(data: torch.Tensor, dim: int, hidden: int, steps: int, seconds: float,
          gen: torch.Generator, **kw: float) -> tuple:
    kw = dict(kw, ema_decay=min(0.999, 1 - 20 / steps))        # an average over >= 20 steps
    fm, fm_hist = train_flow_matching(ConditionalMLP(dim, dim, hidden=hidden, layers=3), data, steps,
                                      generator=gen, max_seconds=seconds, progress=False, **kw)
    dm, dm_hist = train_diffusion(ConditionalMLP(dim, dim, hidden=hidden, layers=3), VPSchedule(),
                                  data, len(fm_hist.loss), gen, progress=False, **kw)  # same steps
    return fm, dm, fm_hist.wall_s, dm_hist.wall_s


def _toys(profile: str) -> list[dict]:
    rows = []
    steps, seconds = config.budget("fm.toy_steps", profile), 3 * config.budget("fm.toy_seconds", profile)
    n_s, ode_steps = config.budget("fm.n_samples", profile), config.budget("fm.ode_steps", profile)
    for name in ("ring8", "grid25_wide"):
        gen = config.seed_everything(0)
        p = toy.load(name)
        fm, dm, fm_s, dm_s = _pair(p.sample(20000, generator=gen), 2, 128, 2 * steps, seconds, gen,
                                   batch_size=256)
        samples = equal_nfe_samples(fm, dm, VPSchedule(), torch.randn(n_s, 2, generator=gen), NFES)
        reference = p.sample(n_s, generator=gen)
        for sampler, runs in samples.items():
            for nfe, x in runs.items():
                rows.append(_row(profile, sampler, name, f"mmd2_nfe{nfe}", mmd_rbf(x, reference, 0.2),
                                 "mmd^2", 0.0, nfe=nfe))
        start = time.perf_counter()
        times = torch.linspace(1, 0, ode_steps + 1)
        kl, se = kl_mc(p, lambda x: log_prob_by_ode(fm, x, times, normal_log_prob),
                       config.budget("fm.bench_n_test", profile), gen)
        rows.append(_row(profile, "flow-matching-ode", name, "kl", kl, "nats",
                         time.perf_counter() - start, se=round(se, 5), ode_steps=ode_steps))
        rows.append(_row(profile, "flow-matching", name, "train_s", fm_s, "s", fm_s))
        rows.append(_row(profile, "diffusion-vp", name, "train_s", dm_s, "s", dm_s))
    return rows


def _digits(profile: str) -> list[dict]:
    gen = config.seed_everything(0)
    y = scale_digits(digits("train").reshape(-1, 64)).y
    steps, seconds = config.budget("fm.digits_steps", profile), config.budget("fm.digits_seconds", profile)
    fm, dm, fm_s, dm_s = _pair(y, 64, 512, 2 * steps, 2 * seconds, gen, batch_size=128, lr=2e-3)
    n = config.budget("fm.digit_samples", profile)
    samples = equal_nfe_samples(fm, dm, VPSchedule(), torch.randn(n, 64, generator=gen), NFES[1:])
    rows = [_row(profile, sampler, "digits", f"frechet_nfe{nfe}",
                 digits_frechet_distance(unscale_digits(x).reshape(-1, 1, 8, 8)), "FD", 0.0, nfe=nfe)
            for sampler, runs in samples.items() for nfe, x in runs.items()]
    start = time.perf_counter()
    with torch.no_grad():
        odeint(fm, torch.randn(n, 64, generator=gen), torch.linspace(0, 1, 9), "euler")
    ms = 1e3 * (time.perf_counter() - start) / n
    rows += [_row(profile, "FM Euler", "digits", "sample_ms", ms, "ms/image", ms, nfe=8),
             _row(profile, "flow-matching", "digits", "train_s", fm_s, "s", fm_s),
             _row(profile, "diffusion-vp", "digits", "train_s", dm_s, "s", dm_s)]
    return rows


def run(profile: str) -> list[dict]:
    """All rows of the flow-matching benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    return _toys(profile) + _digits(profile)
