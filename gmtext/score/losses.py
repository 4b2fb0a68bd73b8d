r"""The four score-matching objectives: explicit, implicit (Hyvärinen), sliced and denoising.

A score model :math:`s_\theta:\mathbb R^D\to\mathbb R^D` should match the data score
:math:`\nabla_x\log p(x)`. Chapter 5 derives four objectives; the first three share that minimiser,
and denoising score matching's is the score of the noised density :math:`p_\sigma`:

==========================  =============================================================================
explicit (5.5)              :math:`\tfrac12\mathbb E_p\|s_\theta(x) - \nabla_x\log p(x)\|^2` (needs the true score)
implicit (5.6)              :math:`\mathbb E_p\big[\operatorname{tr}\nabla_x s_\theta(x) + \tfrac12\|s_\theta(x)\|^2\big]`
sliced (5.7)                :math:`\mathbb E_{p, v}\big[v^\top\nabla_x(v^\top s_\theta(x)) + \tfrac12(v^\top s_\theta(x))^2\big]`
denoising (5.8)             :math:`\tfrac12\mathbb E_{p(x)}\mathbb E_{\tilde x\sim\mathcal N(x,\sigma^2 I)}
                            \|s_\theta(\tilde x) + (\tilde x - x)/\sigma^2\|^2`
==========================  =============================================================================

Explicit and implicit differ by a constant independent of :math:`\theta` (integration by parts,
Hyvärinen 2005); denoising equals the explicit objective of the *noised* density
:math:`p_\sigma = p * \mathcal N(0, \sigma^2 I)` up to a constant (Vincent 2011). Every function
returns a scalar Monte Carlo average over the batch ``x`` that can be back-propagated.

Example:
    >>> import torch
    >>> x = torch.randn(4096, 2, generator=torch.Generator().manual_seed(0))
    >>> true = lambda v: -v                    # the score of N(0, I)
    >>> round(float(explicit_score_matching(true, x, -x)), 6)
    0.0
    >>> round(implicit_score_matching(true, x, create_graph=False).item() + 1.0, 1)  # E[-2 + |x|^2/2] + 1
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gmtext._validate import check_data as check_points
from gmtext.config import generator_device
from gmtext.diffusion.losses import denoising_loss
from gmtext.diffusion.schedules import VESchedule, ladder_schedule

__all__ = ["explicit_score_matching", "implicit_score_matching", "sliced_score_matching",
           "denoising_score_matching", "ncsn_loss", "jacobian_trace"]

ScoreFn = Callable[[Tensor], Tensor]


def _scores(score_fn: ScoreFn, x: Tensor) -> Tensor:
    if not callable(score_fn):
        raise TypeError(f"score_fn must be a callable (N, D) -> (N, D), got {type(score_fn).__name__}")
    s = score_fn(x)
    if not isinstance(s, Tensor) or s.shape != x.shape:
        shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
        raise ValueError(f"score_fn must return the shape of x, {tuple(x.shape)}, got {shape}")
    return s


def explicit_score_matching(score_fn: ScoreFn, x: Tensor, target: Tensor) -> Tensor:
    r"""Explicit score matching with a known target score.

    .. math:: J_\text{ESM}(\theta) = \tfrac12\,\mathbb E_{p(x)}\|s_\theta(x) - \nabla_x\log p(x)\|^2

    Half the Fisher divergence (see :func:`gmtext.metrics.modes.fisher_divergence`). Usable only where the
    data score is known (toys); chapter 5, eq. (5.5).

    Args:
        score_fn: the model, ``(N, D) -> (N, D)``.
        x: ``(N, D)`` samples of :math:`p`.
        target: ``(N, D)`` true scores :math:`\nabla_x\log p(x)` at ``x``.
    """
    x = check_points(x)
    if not isinstance(target, Tensor) or target.shape != x.shape:
        raise ValueError(f"target must be a tensor of the shape of x, {tuple(x.shape)}, got "
                         f"{tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__}")
    return 0.5 * (_scores(score_fn, x) - target).pow(2).sum(-1).mean()


def jacobian_trace(score_fn: ScoreFn, x: Tensor, create_graph: bool = True) -> tuple[Tensor, Tensor]:
    r"""The scores and the exact trace of their Jacobian, :math:`\operatorname{tr}\nabla_x s(x)`.

    One backward pass per dimension (``D`` in all), so only for small ``D``: this cost is what
    sliced score matching removes. Chapter 5, eq. (5.6).

    Returns:
        ``(scores (N, D), traces (N,))``.
    """
    x = check_points(x)
    with torch.enable_grad():
        v = x.detach().requires_grad_(True)
        s = _scores(score_fn, v)
        trace = torch.zeros(x.shape[0], dtype=s.dtype, device=s.device)
        for d in range(x.shape[1]):
            # d s_d / d x_d for every example: the examples are independent, so sum over the batch
            (g,) = torch.autograd.grad(s[:, d].sum(), v, retain_graph=True,
                                       create_graph=create_graph)
            trace = trace + g[:, d]
    return s, trace


def implicit_score_matching(score_fn: ScoreFn, x: Tensor, create_graph: bool = True) -> Tensor:
    r"""Implicit score matching (Hyvärinen 2005) with the exact Jacobian trace.

    .. math:: J_\text{ISM}(\theta) = \mathbb E_{p(x)}\Big[\operatorname{tr}\big(\nabla_x s_\theta(x)\big)
              + \tfrac12\|s_\theta(x)\|^2\Big] = J_\text{ESM}(\theta) - C

    with :math:`C = \tfrac12\mathbb E_p\|\nabla_x\log p\|^2` independent of :math:`\theta`
    (integration by parts, assuming :math:`p(x)s_\theta(x)\to 0` at infinity). Hyvärinen,
    "Estimation of Non-Normalized Statistical Models by Score Matching", JMLR 2005. Chapter 5,
    eq. (5.6). Costs ``D`` backward passes (:func:`jacobian_trace`).

    Args:
        score_fn: the model, ``(N, D) -> (N, D)``.
        x: ``(N, D)`` samples of :math:`p`.
        create_graph: keep the graph of the trace so the loss can be back-propagated (training).
    """
    s, trace = jacobian_trace(score_fn, x, create_graph=create_graph)
    return (trace + 0.5 * s.pow(2).sum(-1)).mean()


def sliced_score_matching(score_fn: ScoreFn, x: Tensor, generator: torch.Generator,
                          n_projections: int = 1, variance_reduced: bool = True) -> Tensor:
    r"""Sliced score matching (Song, Garg, Shi & Ermon 2019, arXiv:1905.07088).

    Project the score on random directions :math:`v\sim\mathcal N(0, I)`; the Jacobian trace
    becomes one Jacobian-vector product, :math:`\mathbb E_v[v^\top\nabla_x s\,v] = \operatorname{tr}\nabla_x s`:

    .. math:: J_\text{SSM}(\theta) = \mathbb E_{p(x)}\mathbb E_{v}\Big[v^\top\nabla_x\big(v^\top s_\theta(x)\big)
              + \tfrac12\big(v^\top s_\theta(x)\big)^2\Big]

    and the variance-reduced form replaces :math:`\tfrac12(v^\top s)^2` by its expectation
    :math:`\tfrac12\|s\|^2`. Both have the expectation :math:`J_\text{ISM}`. Chapter 5, eq. (5.7).

    Args:
        score_fn: the model, ``(N, D) -> (N, D)``.
        x: ``(N, D)`` samples of :math:`p`.
        generator: draws the projections.
        n_projections: random directions per example.
        variance_reduced: use :math:`\tfrac12\|s\|^2` (SSM-VR) instead of :math:`\tfrac12(v^\top s)^2`.
    """
    x = check_points(x)
    if isinstance(n_projections, bool) or not isinstance(n_projections, int) or n_projections < 1:
        raise ValueError(f"n_projections must be a positive int, got {n_projections!r}")
    n, d = x.shape
    xs = x.detach().repeat(n_projections, 1)                                   # (M*N, D)
    v = torch.randn(xs.shape, generator=generator, dtype=x.dtype,
                device=generator_device(generator)).to(x.device)  # (M*N, D)
    with torch.enable_grad():
        xs.requires_grad_(True)
        s = _scores(score_fn, xs)
        vs = (v * s).sum(-1)                                                   # v^T s, (M*N,)
        (grad,) = torch.autograd.grad(vs.sum(), xs, create_graph=True)         # d(v^T s)/dx
        jvp = (grad * v).sum(-1)                                               # v^T (grad s) v
    second = 0.5 * s.pow(2).sum(-1) if variance_reduced else 0.5 * vs.pow(2)
    return (jvp + second).mean()


def denoising_score_matching(score_fn: ScoreFn, x: Tensor, sigma: float,
                             generator: torch.Generator) -> Tensor:
    r"""Denoising score matching at one noise level (Vincent 2011).

    .. math:: J_\text{DSM}(\theta) = \tfrac12\,\mathbb E_{p(x)}\mathbb E_{\varepsilon\sim\mathcal N(0,I)}
              \Big\|s_\theta(x + \sigma\varepsilon) + \frac{\varepsilon}{\sigma}\Big\|^2

    since :math:`\nabla_{\tilde x}\log\mathcal N(\tilde x; x, \sigma^2 I) = -(\tilde x - x)/\sigma^2
    = -\varepsilon/\sigma`. Its minimiser is the score of the noised density
    :math:`p_\sigma = p * \mathcal N(0,\sigma^2 I)`. Vincent, "A Connection Between Score Matching and
    Denoising Autoencoders", Neural Computation 2011. Chapter 5, eq. (5.8). It is
    :func:`gmtext.diffusion.losses.denoising_loss` at one time of a variance-exploding path
    (:math:`\alpha = 1`, :math:`\sigma_t = \sigma`) with the score as target and weight 1/2.

    Args:
        score_fn: the model, ``(N, D) -> (N, D)``.
        x: ``(N, D)`` clean samples.
        sigma: the noise standard deviation (> 0).
        generator: draws the noise.
    """
    x = check_points(x)
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be positive, got {sigma}")
    level = VESchedule(sigma, 2 * sigma)              # sigma_t = sigma at t = 0 (only t = 0 is used)
    t = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    return denoising_loss(lambda x_t, t: _scores(score_fn, x_t), level, x, generator, t=t,
                          prediction_type="score", weighting=0.5, reduction="sum").mean()


def ncsn_loss(score_net: Callable[[Tensor, Tensor], Tensor], x: Tensor, sigmas: Tensor | Sequence[float],
              generator: torch.Generator) -> Tensor:
    r"""Denoising score matching over many noise levels, weighted by :math:`\lambda(\sigma) = \sigma^2`.

    .. math:: \mathcal L(\theta) = \frac1L\sum_{i=1}^L \tfrac12\,\sigma_i^2\,
              \mathbb E\Big\|s_\theta(x + \sigma_i\varepsilon, \sigma_i) + \frac{\varepsilon}{\sigma_i}\Big\|^2
              = \frac1L\sum_i\tfrac12\,\mathbb E\big\|\sigma_i s_\theta(\tilde x, \sigma_i) + \varepsilon\big\|^2

    With :math:`\lambda = \sigma^2` every level contributes a term of order one, since
    :math:`\|\sigma\nabla\log p_\sigma\|\approx\|\varepsilon\|`: the loss is
    :func:`gmtext.diffusion.losses.denoising_loss` on the ladder's variance-exploding path
    (:func:`gmtext.diffusion.schedules.ladder_schedule`) with the :math:`\varepsilon` target and
    weight 1/2. One level is drawn uniformly per example (an unbiased estimate of the average).
    Song & Ermon, "Generative Modeling by Estimating Gradients of the Data Distribution", NeurIPS
    2019 (arXiv:1907.05600). Chapter 5, eq. (5.11).

    Args:
        score_net: ``(x (N, D), sigma (N,)) -> (N, D)``, e.g. :class:`gmtext.nn.score.NoiseConditionalScore`.
        x: ``(N, D)`` clean samples.
        sigmas: the noise levels, a geometric ladder (:func:`gmtext.diffusion.schedules.geometric_sigmas`).
        generator: draws the levels and the noise.
    """
    x = check_points(x)
    schedule = ladder_schedule(sigmas)
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype)
    idx = torch.randint(len(sigmas), (x.shape[0],), generator=generator, device=generator_device(generator)).cpu()
    t = torch.linspace(1.0, 0.0, len(sigmas), dtype=torch.float64)[idx].to(x.device)   # level i at t_i
    sigma = sigmas[idx].to(x.device)                                                  # (N,)
    return denoising_loss(lambda x_t, t: score_net(x_t, sigma), schedule, x, generator, t=t,
                          prediction_type="score", target="epsilon", weighting=0.5,
                          reduction="sum").mean()
