"""Chapter 1: classical density models, measured against the truth on the toys and on the digits.

Toys (fresh test samples, paired with the exact density):

- ``test_nll``: the model's NLL on ``density.n_test`` fresh samples (nats per point, ``se`` its
  standard error); the toy's entropy ``H(p)`` is the floor.
- ``kl``: KL(p || q) = E_p[log p - log q] on paired fresh samples (nats, ``se``), the measure of
  the book's conventions page.

Models: ``gaussian`` (closed-form MLE, eq. (1.6)), ``gmm-em`` (EM with k-means restarts) and
``gmm-gradient`` (Adam on the log-likelihood from the best of several k-means clusterings), with
K the number of modes of the toy (16 for the misspecified ``checkerboard``).

Digits (test split, in the units of the book's conventions page): ``test_nll`` in nats/image and
bits/dim of the independent per-pixel categorical (exact) and of the full-covariance Gaussian, the
diagonal mixture (K chosen on validation) and the kernel density estimate (bandwidth chosen on
validation), the last three on
uniformly dequantized data, an upper bound on the discrete NLL (``kind``).
"""

from __future__ import annotations

import math
import time

import torch

from gmtext import config
from gmtext.data import toy
from gmtext.data.images import digits
from gmtext.metrics import bits_per_dim, kl_mc, nll_nats
from gmtext import mle

TOYS: dict[str, int] = {"mixture1d": 3, "grid25_wide": 25, "ring8": 8, "checkerboard": 16,
                        "grid25": 25}
DIGIT_COMPONENTS = (1, 2, 5, 10, 20, 30, 50, 100, 150)
DIGIT_BANDWIDTHS = torch.linspace(1.0, 4.0, 13)


def _row(profile: str, model: str, dataset: str, metric: str, value: float, unit: str,
         wall_s: float, **extra: object) -> dict:
    return {"benchmark": "density", "model": model, "dataset": dataset, "metric": metric,
            "value": round(float(value), 5), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def _fit_toy_model(model: str, x: torch.Tensor, k: int, profile: str,
                   generator: torch.Generator):
    """Fit one model to toy samples; returns its log_prob (N, D) -> (N,)."""
    if model == "gaussian":
        return mle.GaussianModel.from_moments(*mle.gaussian_mle(x)).log_prob
    if model == "gmm-em":
        return mle.fit_em(x, k, config.budget("density.em_iters", profile), generator,
                      restarts=config.budget("density.em_restarts", profile)).log_prob
    q = mle.MixtureModel.init_from_data(x, k, generator,
                                    restarts=config.budget("density.em_restarts", profile))
    mle.fit_mle(q, x, config.budget("density.gd_steps", profile), lr=0.05, progress=False)
    return q.log_prob


def toy_rows(profile: str) -> list[dict]:
    """Test NLL and KL to the truth of every chapter-1 model on every toy with a density."""
    rows = []
    n_train = config.budget("density.n_train", profile)
    n_test = config.budget("density.n_test", profile)
    for name, k in TOYS.items():
        generator = config.seed_everything(0)
        p = toy.load(name)
        x = p.sample(n_train, generator=generator)
        for model in ("gaussian", "gmm-em", "gmm-gradient"):
            start = time.perf_counter()
            log_q = _fit_toy_model(model, x, k, profile, generator)
            wall = time.perf_counter() - start
            with torch.no_grad():
                nll = -log_q(p.sample(n_test, generator=generator)).double()
            kl, kl_se = kl_mc(p, log_q, n_test, generator)
            label = model if model == "gaussian" else f"{model} (K={k})"
            rows.append(_row(profile, label, name, "test_nll", nll.mean(), "nats", wall,
                             se=round(float(nll.std() / math.sqrt(n_test)), 5)))
            rows.append(_row(profile, label, name, "kl", kl, "nats", wall, se=round(kl_se, 5)))
    return rows


def digit_rows(profile: str) -> list[dict]:
    """Test NLL of the classical models on the 8x8 digits, nats/image and bits/dim."""
    generator = config.seed_everything(0)
    train, val, test = digits("train"), digits("val"), digits("test")
    y_train, y_val, y_test = (mle.dequantize(x, generator) for x in (train, val, test))
    results: list[tuple[str, str, float, float]] = []

    start = time.perf_counter()
    table = mle.categorical_mle(train, levels=17, pseudocount=1.0)
    nll = nll_nats(mle.categorical_log_prob(test, table))
    results.append(("per-pixel categorical", "exact", nll, time.perf_counter() - start))

    start = time.perf_counter()
    with torch.no_grad():
        nll = nll_nats(mle.GaussianModel.from_moments(*mle.gaussian_mle(y_train)).log_prob(y_test))
    results.append(("gaussian (full covariance)", "dequantized upper bound", nll,
                    time.perf_counter() - start))

    start = time.perf_counter()
    iters, k_max = (config.budget(key, profile)
                    for key in ("density.digits_em_iters", "density.digits_k_max"))
    fits = [mle.fit_em(y_train, k, iters, generator) for k in DIGIT_COMPONENTS if k <= k_max]
    best = min(fits, key=lambda em: nll_nats(em.log_prob(y_val)))
    results.append((f"gmm-em (diagonal, K={len(best.weights)})", "dequantized upper bound",
                    nll_nats(best.log_prob(y_test)), time.perf_counter() - start))

    start = time.perf_counter()
    h = min(DIGIT_BANDWIDTHS.tolist(), key=lambda h: nll_nats(mle.kde_log_prob(y_val, y_train, h)))
    results.append((f"kde (h={h:.2f})", "dequantized upper bound",
                    nll_nats(mle.kde_log_prob(y_test, y_train, h)), time.perf_counter() - start))

    rows = []
    for model, kind, nll, wall in results:
        rows.append(_row(profile, model, "digits", "test_nll", nll, "nats/image", wall, kind=kind))
        rows.append(_row(profile, model, "digits", "test_nll", bits_per_dim(nll, 64), "bits/dim",
                         wall, kind=kind))
    return rows


def run(profile: str) -> list[dict]:
    """All rows of the chapter-1 benchmark for ``profile`` (``quick``, ``default`` or ``full``)."""
    if profile not in config.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {config.PROFILES}")
    # The tensors here are small: splitting them over threads costs more than it saves, and on a
    # busy machine (CI runs two jobs on two cores) it can make a gradient step 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return toy_rows(profile) + digit_rows(profile)
    finally:
        torch.set_num_threads(threads)
