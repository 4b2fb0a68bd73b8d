r"""Monte Carlo gradient estimators: the reparameterisation trick and the score function.

To train an encoder we need the gradient of an expectation under a distribution that depends on
the parameters, :math:`\nabla_\phi\,\mathbb E_{q_\phi(z)}[f(z)]`, for
:math:`q_\phi = \mathcal N(\mu, \operatorname{diag}\sigma^2)` and :math:`\phi = (\mu, \log\sigma)`.
Two unbiased single-sample estimators (chapter 2, eqs. (2.11) and (2.12); Mohamed et al. 2020,
arXiv:1906.10652):

- *score function* (REINFORCE, Williams 1992):
  :math:`\hat g = (f(z) - b)\,\nabla_\phi \log q_\phi(z)`, :math:`z\sim q_\phi`, any baseline
  :math:`b` that does not depend on :math:`z`; needs only values of :math:`f`;
- *reparameterisation* (Kingma and Welling 2014; Rezende et al. 2014): write
  :math:`z = \mu + \sigma\odot\epsilon`, :math:`\epsilon\sim\mathcal N(0, I)`, and differentiate
  through the sample, :math:`\hat g = \nabla_\phi f(\mu + \sigma\odot\epsilon)`; needs
  :math:`\nabla_z f`, and usually has a far smaller variance.

:func:`gradient_samples` returns many independent single-sample estimates so that their mean
(unbiasedness) and variance can be measured.

Example:
    >>> import torch
    >>> g = gradient_samples(lambda z: z.pow(2).sum(-1), torch.zeros(1), torch.zeros(1), 5,
    ...                      torch.Generator().manual_seed(0))
    >>> tuple(g.shape)                          # (samples, [d/dmu, d/dlog sigma], D)
    (5, 2, 1)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["ESTIMATORS", "gradient_samples"]

#: The estimators that ``gradient_samples`` accepts.
ESTIMATORS: tuple[str, ...] = ("reparameterization", "score_function")


def gradient_samples(f: Callable[[Tensor], Tensor], mean: Tensor, log_std: Tensor, n: int,
                     generator: torch.Generator, estimator: str = "reparameterization",
                     baseline: float = 0.0) -> Tensor:
    r"""``n`` single-sample estimates of the gradient of a Gaussian expectation.

    The target is :math:`\nabla_\phi\,\mathbb E_{\mathcal N(\mu,\sigma^2)}[f(z)]` with
    :math:`\phi = (\mu, \log\sigma)`.

    With :math:`z = \mu + \sigma\odot\epsilon`:

    .. math::

        \text{reparameterization:}\quad
        \hat g_\mu = \nabla_z f(z), \qquad
        \hat g_{\log\sigma} = \nabla_z f(z)\odot\sigma\odot\epsilon

        \text{score function:}\quad
        \hat g_\mu = (f(z) - b)\,\frac{z-\mu}{\sigma^2}, \qquad
        \hat g_{\log\sigma} = (f(z) - b)\left(\frac{(z-\mu)^2}{\sigma^2} - 1\right)

    The second line is :math:`(f(z)-b)\nabla_\phi\log q_\phi(z)` written out for a diagonal
    Gaussian. Both have mean :math:`\nabla_\phi\mathbb E_q[f]`. Williams (1992); Kingma and
    Welling (2014). Derived in chapter 2, eqs. (2.11) and (2.12).

    Args:
        f: ``(n, D) -> (n,)``, one value per sample (differentiable for the reparameterisation).
        mean: ``(D,)`` mean :math:`\mu`.
        log_std: ``(D,)`` log standard deviation :math:`\log\sigma`.
        n: number of independent estimates (>= 1).
        generator: the source of :math:`\epsilon`.
        estimator: one of :data:`ESTIMATORS`.
        baseline: :math:`b`, subtracted from :math:`f` by the score-function estimator.

    Returns:
        ``(n, 2, D)``: estimates of the gradient with respect to :math:`\mu` (``[:, 0]``) and to
        :math:`\log\sigma` (``[:, 1]``), detached.

    Raises:
        ValueError: on an unknown estimator, bad shapes or ``n``, or if ``f`` returns a wrong shape.

    Example:
        >>> # f(z) = z^2 under N(1, 1): E f = mu^2 + sigma^2, gradient (2 mu, 2 sigma^2) = (2, 2)
        >>> f, gen = lambda z: z.pow(2).sum(-1), torch.Generator().manual_seed(0)
        >>> rp, sf = (gradient_samples(f, torch.ones(1), torch.zeros(1), 50000, gen, name)
        ...           for name in ESTIMATORS)
        >>> bool((rp.mean(0) - 2).abs().max() < 0.1), bool((sf.mean(0) - 2).abs().max() < 0.2)
        (True, True)
        >>> bool((sf.var(0) > 3 * rp.var(0)).all())          # same mean, far noisier
        True
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {ESTIMATORS}")
    if mean.ndim != 1 or log_std.shape != mean.shape:
        raise ValueError(f"mean and log_std must be vectors (D,) of one shape, got "
                         f"{tuple(mean.shape)}, {tuple(log_std.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    eps = torch.randn(n, mean.shape[0], generator=generator, dtype=mean.dtype)     # (n, D)
    if estimator == "reparameterization":
        # one copy of the parameters per sample, so that autograd returns per-sample gradients
        mu = mean.detach().expand(n, -1).clone().requires_grad_(True)              # (n, D)
        log_sigma = log_std.detach().expand(n, -1).clone().requires_grad_(True)   # (n, D)
        values = _check(f(mu + log_sigma.exp() * eps), n)
        grads = torch.autograd.grad(values.sum(), [mu, log_sigma])
        return torch.stack(grads, dim=1).detach()                                  # (n, 2, D)
    with torch.no_grad():
        sigma = log_std.exp()
        z = mean + sigma * eps                                                     # (n, D)
        weight = (_check(f(z), n) - baseline)[:, None]                             # (n, 1)
        score_mu = (z - mean) / sigma.pow(2)                          # d log q / d mu
        score_log_sigma = (z - mean).pow(2) / sigma.pow(2) - 1.0      # d log q / d log sigma
        return torch.stack([weight * score_mu, weight * score_log_sigma], dim=1)


def _check(values: Tensor, n: int) -> Tensor:
    if not isinstance(values, Tensor) or values.shape != (n,):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"f must return one value per sample, shape ({n},), got {got}")
    return values
