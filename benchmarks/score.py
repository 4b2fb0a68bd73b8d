"""Chapter 5: score matching, Langevin and annealed Langevin dynamics, measured.

Toys (``ring8``, ``grid25_wide``; the chapter's noise-conditional MLP, 10 geometric noise levels,
annealed Langevin dynamics from N(0, sigma_max^2 I) with a final Tweedie step, ``score.particles``
samples): ``modes_covered``, ``weights_kl`` = KL(empirical mode weights || true weights) in nats (a
lower bound on KL(q || p) by data processing), ``weights_tv``, ``mmd`` (squared MMD, Gaussian kernel
h = 0.2, against as many exact samples) and ``mmd_floor`` (the same estimate between two exact sample
sets: its noise level), ``nfe`` and ``sample_ms`` per sample. ``langevin-exact`` rows: plain Langevin dynamics
with the exact ``ring8`` score (the mixing failure: wrong mode weights).

Digits (test split as reference): ``fd`` (Fréchet distance in the shared classifier's features),
``precision`` / ``recall`` (k = 3, same features) of ``score.digits_samples`` samples for several
steps per level (quality against NFE), ``sample_ms`` per digit, ``train_s``.
"""

from __future__ import annotations

import time

import torch

from gmtext import config
from gmtext.data import toy
from gmtext.data.images import digits
from gmtext.metrics import digit_features, digits_frechet_distance, precision_recall
from gmtext.nn.score import NoiseConditionalScore, mlp_score_net
from gmtext.recipes.score import digit_score_model, sample_digits, train_digit_score_model
from gmtext.metrics.modes import toy_sample_report
from gmtext.score import annealed_langevin_dynamics, geometric_sigmas, langevin_dynamics, train_ncsn

#: toy -> sigma_max of its noise ladder (about the diameter of the data)
TOYS = {"ring8": 3.0, "grid25_wide": 6.0}
_REPORTED = ("modes_covered", "weights_kl", "weights_tv", "mmd", "mmd_floor")


def _row(profile: str, model: str, dataset: str, metric: str, value: float, unit: str,
         wall_s: float, **extra: object) -> dict:
    return {"benchmark": "score", "model": model, "dataset": dataset, "metric": metric,
            "value": round(float(value), 5), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def _toy_rows(profile: str, model: str, name: str, samples: torch.Tensor, nfe: int, seconds: float,
              gen: torch.Generator) -> list[dict]:
    report = toy_sample_report(samples, toy.load(name), gen)
    units = {"modes_covered": "modes", "weights_kl": "nats"}
    rows = [_row(profile, model, name, key, report[key], units.get(key, ""), seconds)
            for key in _REPORTED]
    rows.append(_row(profile, model, name, "nfe", nfe, "evaluations", seconds))
    rows.append(_row(profile, model, name, "sample_ms", 1e3 * seconds / len(samples), "ms", seconds))
    return rows


def _toys(profile: str) -> list[dict]:
    rows = []
    n = config.budget("score.particles", profile)
    steps_per_level = config.budget("score.steps_per_level", profile)
    gen = config.seed_everything(0)
    ring = toy.load("ring8")
    start = time.perf_counter()
    x = langevin_dynamics(ring.score, 6 * torch.rand(n, 2, generator=gen) - 3, 1e-3,
                          config.budget("score.langevin_steps", profile), gen)
    rows += _toy_rows(profile, "langevin-exact", "ring8", x,
                      config.budget("score.langevin_steps", profile), time.perf_counter() - start, gen)
    for name, sigma_max in TOYS.items():
        gen = config.seed_everything(0)
        sigmas = geometric_sigmas(sigma_max, 0.05, 10)
        model = NoiseConditionalScore(mlp_score_net(2, hidden=128, layers=3))
        hist = train_ncsn(model, toy.load(name).sample(config.budget("score.n_train", profile),
                                                       generator=gen),
                          sigmas, config.budget("score.ncsn_steps", profile), gen, batch_size=512,
                          lr=2e-3, ema_decay=0.99, max_seconds=config.budget("score.toy_seconds", profile),
                          progress=False)
        model.eval().requires_grad_(False)
        start = time.perf_counter()
        x = annealed_langevin_dynamics(model, sigma_max * torch.randn(n, 2, generator=gen), sigmas,
                                       1e-4, steps_per_level, gen)
        rows += _toy_rows(profile, "ncsn-annealed", name, x, 10 * steps_per_level + 1,
                          time.perf_counter() - start, gen)
        rows.append(_row(profile, "ncsn-annealed", name, "train_s", hist.wall_s, "s", hist.wall_s,
                         steps=len(hist.loss)))
    return rows


def _digits(profile: str) -> list[dict]:
    gen = config.seed_everything(0)
    model = digit_score_model()
    hist = train_digit_score_model(model, config.budget("score.digits_steps", profile), gen,
                                   max_seconds=config.budget("score.digits_seconds", profile),
                                   progress=False)
    rows = [_row(profile, "ncsn-conv", "digits", "train_s", hist.wall_s, "s", hist.wall_s,
                 steps=len(hist.loss))]
    n = config.budget("score.digits_samples", profile)
    real = digit_features(digits("test"))
    top = config.budget("score.digits_steps_per_level", profile)
    for steps_per_level in sorted({max(1, top // 4), max(1, top // 2), top}):
        start = time.perf_counter()
        x = sample_digits(model, n, steps_per_level, gen)
        wall = time.perf_counter() - start
        pr = precision_recall(real, digit_features(x))
        nfe = 10 * steps_per_level + 1
        for metric, value, unit in (("fd", digits_frechet_distance(x), ""),
                                    ("precision", pr["precision"], ""), ("recall", pr["recall"], ""),
                                    ("sample_ms", 1e3 * wall / n, "ms")):
            rows.append(_row(profile, f"ncsn-conv-nfe{nfe}", "digits", metric, value, unit, wall,
                             nfe=nfe))
    return rows


def run(profile: str) -> list[dict]:
    """All rows of the score benchmark for ``profile``."""
    torch.set_num_threads(1)
    return _toys(profile) + _digits(profile)
