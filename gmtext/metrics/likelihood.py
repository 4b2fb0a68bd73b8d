r"""Likelihood metrics: NLL in nats, bits per dimension, entropy and KL divergence by Monte Carlo.

Every likelihood in the book is reported in **nats** (natural logarithm). For images the number is
per image, with bits/dim alongside (the book's conventions page, section Likelihood units). On
the analytic toys of ``gmtext.data.toy`` the exact density gives the true entropy :math:`H(p)`, the
floor of any model's NLL, and the gap

.. math:: \mathrm{KL}(p \,\|\, q) = \mathbb E_p[-\log q(x)] - H(p) \ge 0

puts every model on an absolute scale (chapter 1). :func:`kl_mc` estimates it on paired samples,
which is far tighter than subtracting two separate estimates.

Example:
    >>> import torch
    >>> from gmtext.data import toy
    >>> p = toy.load("ring8")
    >>> kl, se = kl_mc(p, p.log_prob, 1000, torch.Generator().manual_seed(0))
    >>> kl, se
    (0.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["nll_nats", "bits_per_dim", "entropy_mc", "kl_mc"]


def nll_nats(log_prob: Tensor) -> float:
    r"""Mean negative log-likelihood in nats of per-example log-densities.

    .. math:: \mathrm{NLL} = -\frac1N \sum_{n=1}^N \log q(x_n)

    Maximum likelihood minimises exactly this (chapter 1, MLE = min KL(p_data || q)).

    Args:
        log_prob: ``(N,)`` values :math:`\log q(x_n)` in nats (a model's ``log_prob`` on data).

    Returns:
        The mean NLL in nats, a Python float.

    Raises:
        TypeError: if ``log_prob`` is not a floating-point tensor.
        ValueError: if it is not 1-D and non-empty, or holds NaN or infinite values (a model that
            gives zero density to a data point has infinite NLL: that is reported, not averaged).

    Example:
        >>> nll_nats(torch.tensor([-1.0, -3.0]))
        2.0
    """
    if not isinstance(log_prob, Tensor) or not log_prob.is_floating_point():
        got = log_prob.dtype if isinstance(log_prob, Tensor) else type(log_prob).__name__
        raise TypeError(f"log_prob must be a floating-point tensor of shape (N,), got {got}")
    if log_prob.ndim != 1 or log_prob.numel() == 0:
        raise ValueError(f"log_prob must have shape (N,) with N >= 1, got {tuple(log_prob.shape)}")
    _check_finite(log_prob, "log_prob")
    return -float(log_prob.detach().double().mean())


def bits_per_dim(nats: float, dims: int) -> float:
    r"""Convert an NLL in nats per example to bits per dimension.

    .. math:: \text{bits/dim} = \frac{\mathrm{NLL}_{\text{nats}}}{D \ln 2}

    For the 8x8 digits :math:`D = 64` (the book's conventions page, section Likelihood units).

    Args:
        nats: negative log-likelihood of one example in nats.
        dims: number of dimensions :math:`D` of an example (e.g. 64 for an 8x8 image).

    Raises:
        ValueError: if ``dims`` is not a positive int or ``nats`` is not finite.

    Example:
        >>> round(bits_per_dim(64 * math.log(2), 64), 6)
        1.0
    """
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise ValueError(f"dims must be a positive int, got {dims!r}")
    if not math.isfinite(float(nats)):
        raise ValueError(f"nats must be a finite number, got {nats!r}")
    return float(nats) / (dims * math.log(2.0))


def entropy_mc(dist: Any, n: int, generator: torch.Generator) -> tuple[float, float]:
    r"""Monte Carlo entropy of a distribution with an exact ``log_prob``, with its standard error.

    .. math::

        \hat H = \frac1n \sum_{i=1}^n -\log p(x_i), \quad x_i \sim p, \qquad
        \mathrm{SE} = \frac{\operatorname{std}_i[-\log p(x_i)]}{\sqrt n}

    The true entropy is the lowest NLL any model of :math:`p` can reach (chapter 1).

    Args:
        dist: a distribution with ``sample(n, generator=...)`` and ``log_prob(x)``, such as a toy
            from ``gmtext.data.toy.load``.
        n: number of samples (>= 2).
        generator: the source of randomness.

    Returns:
        ``(entropy, standard_error)`` in nats.

    Raises:
        TypeError: if ``dist`` has no usable ``log_prob`` or ``generator`` is not a generator.
        ValueError: if ``n < 2`` or ``log_prob`` returns a wrong shape or non-finite values.

    Example:
        >>> from gmtext.data import toy
        >>> h, se = entropy_mc(toy.load("grid25"), 20000, torch.Generator().manual_seed(0))
        >>> abs(h - 0.0654) < 5 * se
        True
    """
    x = _draw(dist, n, generator, "dist")
    with torch.no_grad():
        log_p = _check_values(dist.log_prob(x), n, "dist.log_prob")
    return _mean_se(-log_p)


def kl_mc(p: Any, log_q: Callable[[Tensor], Tensor], n: int,
          generator: torch.Generator) -> tuple[float, float]:
    r"""Monte Carlo estimate of :math:`\mathrm{KL}(p \,\|\, q)` on paired samples, with its error.

    .. math::

        \widehat{\mathrm{KL}} = \frac1n \sum_{i=1}^n \big[\log p(x_i) - \log q(x_i)\big],
        \quad x_i \sim p, \qquad
        \mathrm{SE} = \frac{\operatorname{std}_i[\log p(x_i) - \log q(x_i)]}{\sqrt n}

    Both log-densities are evaluated on the *same* fresh samples, so their noise largely cancels
    and the standard error is far smaller than that of NLL minus entropy estimated separately
    (the book's conventions page asks for ``n >= 10**4``). The estimate is unbiased; a single
    estimate can be slightly negative when :math:`q \approx p`. Forward KL is what maximum
    likelihood minimises (chapter 1); chapter 2 contrasts it with the reverse KL.

    Args:
        p: the data distribution, with ``sample(n, generator=...)`` and an exact ``log_prob(x)``
            (a toy from ``gmtext.data.toy.load``).
        log_q: the model's log-density, ``(n, D) -> (n,)``; evaluated under ``torch.no_grad``.
        n: number of samples (>= 2).
        generator: the source of randomness.

    Returns:
        ``(kl, standard_error)`` in nats.

    Raises:
        TypeError: if ``p`` has no usable ``log_prob`` (e.g. ``two_moons``) or ``log_q`` is not
            callable.
        ValueError: if ``log_q`` returns a wrong shape, NaN, or :math:`-\infty` (then
            :math:`\mathrm{KL} = \infty`: ``q`` gives zero density where ``p`` has mass).

    Example:
        >>> from gmtext.data import toy
        >>> p = toy.GaussianMixture([[0.0]], 1.0)
        >>> log_q = torch.distributions.Normal(1.0, 1.0).log_prob   # KL = (0 - 1)^2 / 2 = 0.5
        >>> kl, se = kl_mc(p, lambda x: log_q(x[:, 0]), 20000, torch.Generator().manual_seed(0))
        >>> abs(kl - 0.5) < 5 * se
        True
    """
    if not callable(log_q):
        raise TypeError(f"log_q must be a callable (N, D) -> (N,), got {type(log_q).__name__}")
    x = _draw(p, n, generator, "p")
    with torch.no_grad():
        log_p = _check_values(p.log_prob(x), n, "p.log_prob")
        lq = _check_values(log_q(x), n, "log_q")
    return _mean_se(log_p - lq)


def _draw(dist: Any, n: int, generator: torch.Generator, name: str) -> Tensor:
    if not callable(getattr(dist, "sample", None)) or not callable(getattr(dist, "log_prob", None)):
        raise TypeError(f"{name} must have sample(n, generator=...) and log_prob(x); "
                        f"got {type(dist).__name__}")
    if not getattr(dist, "has_log_prob", True):
        raise TypeError(f"{name} ({getattr(dist, 'name', type(dist).__name__)}) has no exact "
                        "log_prob; use a toy with a density (see gmtext.data.toy.NAMES)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2 (a standard error needs two samples), got {n!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return dist.sample(n, generator=generator)


def _check_values(values: Any, n: int, name: str) -> Tensor:
    if not isinstance(values, Tensor):
        raise TypeError(f"{name} must return a tensor of shape ({n},), got {type(values).__name__}")
    if values.shape != (n,):
        raise ValueError(f"{name} must return shape ({n},) (one log-density per sample), "
                         f"got {tuple(values.shape)}")
    values = values.detach().double().cpu()
    _check_finite(values, name)
    return values


def _check_finite(values: Tensor, name: str) -> None:
    nan = int(torch.isnan(values).sum())
    if nan:
        raise ValueError(f"{name} holds {nan} NaN value(s) out of {values.numel()}")
    inf = int(torch.isinf(values).sum())
    if inf:
        raise ValueError(f"{name} holds {inf} infinite value(s) out of {values.numel()}: a density "
                         "of zero where the data has mass gives an infinite NLL / KL")


def _mean_se(values: Tensor) -> tuple[float, float]:
    # values: (n,) float64; standard error of the mean with the unbiased sample std
    return float(values.mean()), float(values.std(unbiased=True) / math.sqrt(values.numel()))
