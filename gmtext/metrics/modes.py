r"""Measuring a score model and a sampler against a known target (chapter 5).

- :func:`fisher_divergence`: :math:`\mathbb E_p\|s_\theta - \nabla\log p\|^2` by Monte Carlo, the
  quantity every score-matching objective minimises (chapter 5, eq. (5.4));
- :func:`mode_weights`: the fraction of samples nearest each mode of a mixture, compared with the
  true weights by total variation, the measure that exposes Langevin dynamics' wrong mode weights;
- :func:`toy_sample_report`: both, plus the kernel MMD of
  :func:`gmtext.metrics.sample_quality.mmd_rbf`, for one sampler's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from gmtext._validate import check_data as check_points
from gmtext.metrics.sample_quality import mmd_rbf

__all__ = ["fisher_divergence", "mode_weights", "toy_sample_report"]


def fisher_divergence(score_fn: Callable[[Tensor], Tensor], p: Any, n: int,
                      generator: torch.Generator) -> tuple[float, float]:
    r"""Fisher divergence of a score model from a distribution with a known score, and its standard error.

    .. math:: F(p\,\|\,q_\theta) = \mathbb E_{x\sim p}\big\|s_\theta(x) - \nabla_x\log p(x)\big\|^2
              \approx \frac1n\sum_i \|s_\theta(x_i) - \nabla_x\log p(x_i)\|^2

    Twice the explicit score-matching loss (chapter 5, eq. (5.4)).

    Args:
        score_fn: the model, ``(N, D) -> (N, D)``.
        p: a distribution with ``sample(n, generator=...)`` and an exact ``score(x)``
            (e.g. ``toy.load("ring8")`` or ``toy.load("ring8").noised(0.5)``).
        n: number of samples (>= 2).
        generator: draws the samples.

    Returns:
        ``(estimate, standard_error)``.
    """
    if not callable(getattr(p, "score", None)) or not callable(getattr(p, "sample", None)):
        raise TypeError(f"p must have sample(n, generator=...) and score(x), got {type(p).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    x = p.sample(n, generator=generator)
    with torch.no_grad():
        s = score_fn(x)
        if not isinstance(s, Tensor) or s.shape != x.shape:              # never broadcast (N, 1)
            raise ValueError(f"score_fn must return the shape of x, {tuple(x.shape)}, got "
                             f"{tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__}")
        sq = (s - p.score(x)).pow(2).sum(-1).double()                    # (n,)
    if not bool(torch.isfinite(sq).all()):
        raise ValueError("score_fn returned NaN or infinite values")
    return float(sq.mean()), float(sq.std() / math.sqrt(n))


def mode_weights(samples: Tensor, means: Tensor, weights: Tensor) -> dict[str, Tensor | float]:
    r"""Fraction of samples nearest each mode, and its distance from the true mixing weights.

    .. math:: \hat\pi_k = \frac1N\#\{i: k = \arg\min_j \|x_i - \mu_j\|\},\qquad
              \mathrm{TV} = \tfrac12\sum_k |\hat\pi_k - \pi_k|,\qquad
              \mathrm{KL}(\hat\pi\,\|\,\pi) = \sum_k \hat\pi_k \log\frac{\hat\pi_k}{\pi_k}

    For well-separated modes (``ring8``, ``grid25_wide``) the nearest-mean assignment of exact samples
    is almost always their true component, so :math:`\hat\pi\to\pi` for a correct sampler; Langevin
    dynamics with the exact score but too few steps does *not* get there (chapter 5).

    Args:
        samples: ``(N, D)``; means: ``(K, D)``; weights: ``(K,)`` true weights summing to 1.

    Returns:
        ``{"weights": (K,) tensor, "tv": float, "kl": float}`` (KL in nats).
    """
    x = check_points(samples).double()
    means, weights = torch.as_tensor(means).double(), torch.as_tensor(weights).double()
    if means.ndim != 2 or means.shape[1] != x.shape[1] or weights.shape != (len(means),):
        raise ValueError(f"need means (K, {x.shape[1]}) and weights (K,), got {tuple(means.shape)} "
                         f"and {tuple(weights.shape)}")
    nearest = torch.cdist(x, means).argmin(dim=1)                             # (N,)
    w = torch.bincount(nearest, minlength=len(means)).double() / len(x)       # (K,)
    kl = float(torch.where(w > 0, w * (w / weights).log(), torch.zeros_like(w)).sum())
    return {"weights": w, "tv": float(0.5 * (w - weights).abs().sum()), "kl": kl}


def toy_sample_report(samples: Tensor, p: Any, generator: torch.Generator,
                      bandwidth: float = 0.2) -> dict[str, float]:
    r"""Every sample-based measure of chapter 5 for samples of a Gaussian-mixture toy, in one dict.

    - ``modes_covered`` / ``high_quality`` (:func:`gmtext.metrics.mode_coverage` with
      ``min_count`` scaled to the sample size, as on the book's conventions page);
    - ``weights_tv`` and ``weights_kl`` (:func:`mode_weights`): by the data-processing inequality
      :math:`\mathrm{KL}(\hat\pi\,\|\,\pi)` is a lower bound on :math:`\mathrm{KL}(q\,\|\,p)`, estimated
      without any density of the sampler :math:`q`;
    - ``mmd`` (:func:`gmtext.metrics.sample_quality.mmd_rbf` against as many fresh exact samples) and ``mmd_floor`` (the same
      estimate between two exact sample sets: the noise level of the estimate).

    Args:
        samples: ``(N, D)`` samples to judge; p: a ``GaussianMixture`` toy with equal stds;
        generator: draws the reference samples; bandwidth: the MMD kernel's :math:`h`.
    """
    from gmtext.metrics import mode_coverage

    x = check_points(samples)
    n = len(x)
    ref, ref2 = p.sample(n, generator=generator), p.sample(n, generator=generator)
    cover = mode_coverage(x, p.means.float(), float(p.stds[0, 0]), min_count=max(1, round(20 * n / 2500)))
    weights = mode_weights(x, p.means, p.weights)
    return {"modes_covered": cover["modes_covered"], "n_modes": cover["n_modes"],
            "high_quality": cover["high_quality_fraction"], "weights_tv": weights["tv"],
            "weights_kl": weights["kl"], "mmd": mmd_rbf(ref, x, bandwidth),
            "mmd_floor": mmd_rbf(ref, ref2, bandwidth)}
