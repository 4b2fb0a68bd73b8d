r"""The theory of the GAN game: the optimal discriminator, the value of the game, loss gradients.

For a fixed generator with density :math:`p_g`, the discriminator maximising
:math:`V(D, G) = \mathbb E_{p_\text{data}}[\log D] + \mathbb E_{p_g}[\log(1 - D)]` is, pointwise,

.. math:: D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)},

and at it :math:`V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\,\|\,p_g)`
(Goodfellow et al. 2014, arXiv:1406.2661, Proposition 1 and Theorem 1; chapter 3,
eqs. (3.2)-(3.3); the JSD is eq. (3.4)). Chapter 3 checks both with two known 1-D densities.

Example:
    >>> import torch
    >>> from gmtext.data import toy
    >>> p = toy.GaussianMixture([[0.0]], 1.0)
    >>> optimal_discriminator(torch.zeros(1, 1), p.log_prob, p.log_prob)    # p_g = p_data
    tensor([0.5000])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gmtext.gan.losses import discriminator_loss, generator_loss
from gmtext.train import History, TrainConfig, fit

__all__ = ["optimal_discriminator", "optimal_logit", "game_value", "value_at_optimum",
           "generator_logit_gradient", "train_discriminator"]

LogDensity = Callable[[Tensor], Tensor]


def optimal_logit(x: Tensor, log_p_data: LogDensity, log_p_g: LogDensity) -> Tensor:
    r"""The optimal discriminator's logit, :math:`\log p_\text{data}(x) - \log p_g(x)`.

    Since :math:`D^* = \sigma(\log p_\text{data} - \log p_g)`, the optimal discriminator's logit
    is the log density ratio: a trained discriminator is a density-ratio estimator.
    Derived in chapter 3, eq. (3.2).

    Raises:
        ValueError: if the log-densities do not return ``(N,)`` values for ``x`` ``(N, D)``.
    """
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ValueError(f"x must be a tensor of shape (N, D), got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    a, b = log_p_data(x), log_p_g(x)
    for name, v in (("log_p_data", a), ("log_p_g", b)):
        if not isinstance(v, Tensor) or v.shape != (len(x),):
            raise ValueError(f"{name} must return shape ({len(x)},), got "
                             f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
    return a - b


def optimal_discriminator(x: Tensor, log_p_data: LogDensity, log_p_g: LogDensity) -> Tensor:
    r""":math:`D^*(x) = p_\text{data}(x) / (p_\text{data}(x) + p_g(x))`, shape ``(N,)``.

    Maximise :math:`a \log D + b \log(1 - D)` over :math:`D \in (0, 1)` pointwise with
    :math:`a = p_\text{data}(x)`, :math:`b = p_g(x)`: the maximum is at :math:`D = a / (a + b)`.
    Computed as a sigmoid of the log ratio, stable where both densities are tiny.
    Goodfellow et al. (2014), Proposition 1. Derived in chapter 3, eq. (3.2).
    """
    return torch.sigmoid(optimal_logit(x, log_p_data, log_p_g))


def game_value(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Monte Carlo estimate of :math:`V(D, G) = \mathbb E_{p_\text{data}}[\log D(x)]
    + \mathbb E_{p_g}[\log(1 - D(x))]` from the discriminator's logits on both sample sets.

    It is minus the discriminator's loss (chapter 3, eq. (3.1)).

    Example:
        >>> import math
        >>> round(float(game_value(torch.zeros(5), torch.zeros(5))), 4) == round(-math.log(4), 4)
        True
    """
    return -discriminator_loss(real_logits, fake_logits, "minimax")


def value_at_optimum(x_data: Tensor, x_g: Tensor, log_p_data: LogDensity,
                     log_p_g: LogDensity) -> Tensor:
    r""":math:`V(D^*, G)` by Monte Carlo on samples ``x_data ~ p_data`` and ``x_g ~ p_g``.

    Equals :math:`-\log 4 + 2\,\mathrm{JSD}(p_\text{data}\|p_g)` (chapter 3, eq. (3.3)), up to
    Monte Carlo error; compare with :func:`gmtext.divergences.jsd`.
    """
    return game_value(optimal_logit(x_data, log_p_data, log_p_g),
                      optimal_logit(x_g, log_p_data, log_p_g))


def generator_logit_gradient(d: Tensor, kind: str) -> Tensor:
    r"""Gradient of the generator's per-sample loss with respect to the logit, as a function of D.

    With :math:`D = \sigma(\ell)`:

    .. math::

        \frac{\partial}{\partial \ell}\log(1 - \sigma(\ell)) = -D \quad\text{(minimax)},\qquad
        \frac{\partial}{\partial \ell}\big(-\log \sigma(\ell)\big) = -(1 - D)
        \quad\text{(non-saturating)}.

    Computed by autograd through :func:`gmtext.gan.losses.generator_loss`, so the figure of
    chapter 3 (eq. (3.7)) plots the implemented losses, not a formula typed twice.

    Args:
        d: discriminator outputs :math:`D(G(z)) \in (0, 1)`, any shape.
        kind: ``"minimax"``, ``"non_saturating"`` or ``"wasserstein"``.

    Raises:
        ValueError: for values of ``d`` outside (0, 1).

    Example:
        >>> generator_logit_gradient(torch.tensor([0.01, 0.5]), "minimax")
        tensor([-0.0100, -0.5000])
        >>> generator_logit_gradient(torch.tensor([0.01, 0.5]), "non_saturating")
        tensor([-0.9900, -0.5000])
    """
    if not isinstance(d, Tensor) or not d.is_floating_point():
        raise TypeError(f"d must be a floating-point tensor, got {type(d).__name__}")
    if not bool(((d > 0) & (d < 1)).all()):
        raise ValueError("d must lie strictly inside (0, 1)")
    logits = torch.logit(d).detach().requires_grad_(True)
    with torch.enable_grad():
        # the loss is a mean over the batch: multiply by N for the per-sample gradient
        (grad,) = torch.autograd.grad(generator_loss(logits.reshape(-1), kind) * d.numel(), logits)
    return grad.detach()


def train_discriminator(d: torch.nn.Module, sample_data: Callable[[int], Tensor],
                        sample_g: Callable[[int], Tensor], config: TrainConfig, *,
                        batch_size: int = 512) -> History:
    r"""Train ``d`` alone to tell ``sample_data(n)`` from ``sample_g(n)``, the generator held fixed.

    Minimises :math:`-V(D, G)` (:func:`gmtext.gan.losses.discriminator_loss`) on fresh samples
    every step, with the optimiser of ``config`` (a :class:`gmtext.train.TrainConfig`, e.g.
    ``TrainConfig(1500, lr=3e-3)``): the inner maximisation of the game, whose solution is
    :math:`D^*` (chapter 3, eq. (3.2)). ``d`` returns one logit per sample.

    Raises:
        ValueError: for ``batch_size < 1``, or logits that are not one per sample.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")

    def loss() -> Tensor:
        return discriminator_loss(d(sample_data(batch_size)), d(sample_g(batch_size)))

    return fit(d, loss, None, config)
