r"""Divergences between distributions: KL closed forms and the reverse-KL Monte Carlo estimate.

The Kullback–Leibler divergence (chapter 1, eq. (1.1); chapter 2, eq. (2.4))

.. math:: \mathrm{KL}(q\,\|\,p) = \mathbb E_{z\sim q}\left[\log q(z) - \log p(z)\right] \ge 0

is what maximum likelihood minimises (in the *forward* direction,
:math:`\mathrm{KL}(p_\text{data}\|q)`) and what variational inference minimises (in the *reverse*
direction, :math:`\mathrm{KL}(q\|p)`). Between Gaussians it has a closed form, which the VAE uses
for the KL term of its ELBO; :func:`gmtext.metrics.kl_mc` estimates it by Monte Carlo, which
checks the closed forms in the tests and in chapter 2.

- :func:`kl_normal`: diagonal Gaussians, element by element (eq. (2.5));
- :func:`kl_mvn`: full-covariance Gaussians (eq. (2.6));
- :func:`kl_categorical`: categorical distributions given by logits;
- :func:`reverse_kl`: a reparameterised, differentiable estimate of :math:`\mathrm{KL}(q\|p)` for
  a learnable Gaussian :math:`q` and any log-density :math:`p` (mode-seeking fits, chapter 2).

Example:
    >>> import torch
    >>> kl_normal(torch.tensor([1.0]), torch.tensor([0.0]))      # KL(N(1, 1) || N(0, 1)) = 1/2
    tensor([0.5000])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gmtext.distributions import standard_normal_log_prob

__all__ = ["kl_normal", "kl_mvn", "kl_categorical", "reverse_kl"]


def kl_normal(mean_q: Tensor, log_var_q: Tensor, mean_p: Tensor | float = 0.0,
              log_var_p: Tensor | float = 0.0) -> Tensor:
    r"""KL divergence between diagonal Gaussians, one term per dimension (not summed).

    .. math::

        \mathrm{KL}\big(\mathcal N(\mu_q, \sigma_q^2)\,\|\,\mathcal N(\mu_p, \sigma_p^2)\big)
        = \frac12\left[\log\frac{\sigma_p^2}{\sigma_q^2}
          + \frac{\sigma_q^2 + (\mu_q - \mu_p)^2}{\sigma_p^2} - 1\right]

    For diagonal Gaussians the KL is the sum of these terms over dimensions; keeping them apart
    gives the KL *per latent dimension* that diagnoses posterior collapse. With the defaults
    :math:`p = \mathcal N(0, 1)`, the VAE's prior:
    :math:`\frac12(\mu^2 + \sigma^2 - 1 - \log\sigma^2)`.
    Kingma and Welling (2014), appendix B (arXiv:1312.6114). Derived in chapter 2, eq. (2.5).

    Args:
        mean_q: means of :math:`q`, any shape.
        log_var_q: log-variances of :math:`q`, broadcastable with ``mean_q``.
        mean_p: means of :math:`p` (default 0).
        log_var_p: log-variances of :math:`p` (default 0).

    Returns:
        The element-wise KL in nats, the broadcast shape of the inputs; ``.sum(-1)`` for vectors.

    Raises:
        TypeError: if ``mean_q`` or ``log_var_q`` is not a floating-point tensor.

    Example:
        >>> kl_normal(torch.zeros(2), torch.zeros(2)).sum()         # KL(p || p) = 0
        tensor(0.)
        >>> round(float(kl_normal(torch.tensor(0.0), torch.tensor(0.0), 0.0, math.log(4.0))), 4)
        0.3181
    """
    for name, value in (("mean_q", mean_q), ("log_var_q", log_var_q)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got "
                            f"{value.dtype if isinstance(value, Tensor) else type(value).__name__}")
    mean_p = torch.as_tensor(mean_p, dtype=mean_q.dtype, device=mean_q.device)
    log_var_p = torch.as_tensor(log_var_p, dtype=mean_q.dtype, device=mean_q.device)
    return 0.5 * (log_var_p - log_var_q
                  + (log_var_q.exp() + (mean_q - mean_p).pow(2)) / log_var_p.exp() - 1.0)


def kl_mvn(mean_q: Tensor, cov_q: Tensor, mean_p: Tensor, cov_p: Tensor) -> Tensor:
    r"""KL divergence between full-covariance Gaussians in :math:`D` dimensions.

    .. math::

        \mathrm{KL}\big(\mathcal N(\mu_q, \Sigma_q)\,\|\,\mathcal N(\mu_p, \Sigma_p)\big)
        = \frac12\left[\operatorname{tr}(\Sigma_p^{-1}\Sigma_q)
          + (\mu_p-\mu_q)^\top\Sigma_p^{-1}(\mu_p-\mu_q) - D
          + \log\frac{\det\Sigma_p}{\det\Sigma_q}\right]

    computed with Cholesky factors in float64. The means may carry leading batch dimensions
    (one KL per row); the covariances are shared. Used in chapter 2 to check that the gap between
    :math:`\log p(x)` and the ELBO is the KL to the true posterior of a linear-Gaussian model.
    Derived in chapter 2, eq. (2.6).

    Args:
        mean_q: ``(..., D)`` means of :math:`q`.
        cov_q: ``(D, D)`` covariance of :math:`q`, positive definite.
        mean_p: ``(..., D)`` means of :math:`p` (broadcastable with ``mean_q``).
        cov_p: ``(D, D)`` covariance of :math:`p`, positive definite.

    Returns:
        ``(...)`` KL values in nats, float64.

    Raises:
        ValueError: on mismatched shapes or a covariance that is not positive definite.

    Example:
        >>> eye = torch.eye(2)
        >>> float(kl_mvn(torch.ones(2), eye, torch.zeros(2), eye))     # ||mu||^2 / 2
        1.0
    """
    d = cov_q.shape[-1] if cov_q.ndim == 2 else -1
    if cov_q.shape != (d, d) or cov_p.shape != (d, d) or mean_q.shape[-1:] != (d,) \
            or mean_p.shape[-1:] != (d,):
        raise ValueError(f"expected means (..., D) and covariances (D, D) with one D, got "
                         f"{tuple(mean_q.shape)}, {tuple(cov_q.shape)}, {tuple(mean_p.shape)}, "
                         f"{tuple(cov_p.shape)}")
    chol_q, chol_p = _cholesky(cov_q.double(), "cov_q"), _cholesky(cov_p.double(), "cov_p")
    # tr(Sigma_p^{-1} Sigma_q) = ||L_p^{-1} L_q||_F^2
    trace = torch.linalg.solve_triangular(chol_p, chol_q, upper=False).pow(2).sum()
    diff = (mean_p.double() - mean_q.double()).unsqueeze(-1)                     # (..., D, 1)
    chol_b = chol_p.expand(*diff.shape[:-2], d, d)
    maha = torch.linalg.solve_triangular(chol_b, diff, upper=False).pow(2).sum((-2, -1))
    log_det = 2 * (chol_p.diagonal().log().sum() - chol_q.diagonal().log().sum())
    return 0.5 * (trace + maha - d + log_det)


def kl_categorical(logits_q: Tensor, logits_p: Tensor) -> Tensor:
    r"""KL divergence between categorical distributions given by (unnormalised) logits.

    .. math:: \mathrm{KL}(q\,\|\,p) = \sum_v q_v\,(\log q_v - \log p_v)

    over the last dimension. Derived in chapter 2 (the KL of eq. (2.4) for a discrete variable).

    Args:
        logits_q: ``(..., V)`` logits of :math:`q`.
        logits_p: ``(..., V)`` logits of :math:`p`, broadcastable with ``logits_q``.

    Returns:
        ``(...)`` KL values in nats.

    Raises:
        ValueError: if the numbers of categories differ.

    Example:
        >>> q = torch.tensor([0.0, 0.0])                 # fair coin
        >>> p = torch.tensor([0.0, math.log(3.0)])       # P(heads) = 1/4
        >>> round(float(kl_categorical(q, p)), 4)        # 0.5 log 2 + 0.5 log(2/3)
        0.1438
    """
    if logits_q.shape[-1] != logits_p.shape[-1]:
        raise ValueError(f"logits must have the same number of categories, got "
                         f"{logits_q.shape[-1]} and {logits_p.shape[-1]}")
    log_q, log_p = logits_q.log_softmax(-1), logits_p.log_softmax(-1)
    return (log_q.exp() * (log_q - log_p)).sum(-1)


def reverse_kl(loc: Tensor, scale_tril: Tensor, log_p: Callable[[Tensor], Tensor], n: int,
               generator: torch.Generator) -> Tensor:
    r"""Reparameterised Monte Carlo estimate of :math:`\mathrm{KL}(q\,\|\,p)`, differentiable in q.

    .. math::

        \mathrm{KL}(q\,\|\,p) \approx \frac1n\sum_{i=1}^n \big[\log q(z_i) - \log p(z_i)\big],
        \qquad z_i = \mu + L\epsilon_i,\ \epsilon_i \sim \mathcal N(0, I)

    for :math:`q = \mathcal N(\mu, LL^\top)`. Because :math:`z_i` is a differentiable function of
    :math:`(\mu, L)`, minimising this estimate by gradient descent fits :math:`q` by the *reverse*
    KL (the reparameterisation trick, Kingma and Welling 2014). The reverse KL averages over
    :math:`q`, so it does not penalise modes of :math:`p` that :math:`q` misses: it is
    mode-seeking, where maximum likelihood is mass-covering. :math:`p` need not be normalised (its
    constant shifts the estimate only). Derived in chapter 2, eq. (2.7).

    Args:
        loc: ``(D,)`` mean :math:`\mu` of :math:`q` (e.g. ``GaussianModel.loc``).
        scale_tril: ``(D, D)`` lower-triangular :math:`L` with a positive diagonal
            (e.g. ``GaussianModel.scale_tril``).
        log_p: log-density of the target, ``(n, D) -> (n,)``.
        n: number of samples (>= 1).
        generator: the source of :math:`\epsilon`.

    Returns:
        A scalar tensor (nats) with gradients with respect to ``loc`` and ``scale_tril``.

    Raises:
        ValueError: on bad shapes or ``n``; if ``log_p`` returns a wrong shape.

    Example:
        >>> from gmtext.data import toy
        >>> p = toy.GaussianMixture([[0.0]], 1.0)
        >>> kl = reverse_kl(torch.ones(1), torch.eye(1), p.log_prob, 4000,
        ...                 torch.Generator().manual_seed(0))         # exact: 1/2
        >>> abs(float(kl) - 0.5) < 0.05
        True
    """
    d = loc.shape[0] if loc.ndim == 1 else -1
    if d < 1 or scale_tril.shape != (d, d):
        raise ValueError(f"need loc (D,) and scale_tril (D, D), got {tuple(loc.shape)}, "
                         f"{tuple(scale_tril.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    eps = torch.randn(n, d, generator=generator, dtype=loc.dtype)                  # (n, D)
    z = loc + eps @ scale_tril.T                                                   # (n, D)
    # log q(z) = log N(eps; 0, I) - log|det L|: the change of variables z = mu + L eps
    log_q = standard_normal_log_prob(eps) - scale_tril.diagonal().abs().log().sum()
    values = log_p(z)
    if not isinstance(values, Tensor) or values.shape != (n,):
        raise ValueError(f"log_p must return shape ({n},), got "
                         f"{tuple(values.shape) if isinstance(values, Tensor) else type(values)}")
    return (log_q - values.to(log_q.dtype)).mean()


def _cholesky(cov: Tensor, name: str) -> Tensor:
    chol, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0:
        raise ValueError(f"{name} is not positive definite")
    return chol


__all__ += ["jsd"]


def jsd(log_p: Callable[[Tensor], Tensor], log_q: Callable[[Tensor], Tensor],
        grid: Tensor) -> Tensor:
    r"""Jensen-Shannon divergence of two 1-D densities, by trapezoidal quadrature on ``grid``.

    .. math::

        \mathrm{JSD}(p\,\|\,q) = \tfrac12 \mathrm{KL}(p\,\|\,m) + \tfrac12 \mathrm{KL}(q\,\|\,m),
        \qquad m = \tfrac12 (p + q),

    symmetric and bounded, :math:`0 \le \mathrm{JSD} \le \log 2` (nats), with :math:`\log 2` for
    densities of disjoint support. The GAN game at its optimal discriminator is
    :math:`V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\|p_g)` (Goodfellow et al. 2014,
    arXiv:1406.2661, Theorem 1). Derived in chapter 3, eq. (3.4). Terms with zero density
    contribute zero (:math:`0 \log 0 = 0`); the grid must cover the mass of both densities.

    Args:
        log_p, log_q: log-densities taking ``(M, 1)`` points and returning ``(M,)`` values
            (``-inf`` allowed where a density vanishes).
        grid: ``(M, 1)`` increasing points, ``M >= 2``.

    Returns:
        A scalar tensor, in nats, in the dtype of ``grid`` (use float64 for accuracy).

    Raises:
        TypeError: if ``grid`` is not a floating-point tensor.
        ValueError: for a grid that is not ``(M, 1)`` increasing, or log-densities of the wrong
            shape or holding NaN.

    Example:
        >>> from gmtext.data import toy
        >>> x = torch.linspace(-12, 12, 20001, dtype=torch.float64)[:, None]
        >>> p = toy.GaussianMixture([[-6.0]], 1.0)
        >>> round(float(jsd(p.log_prob, p.log_prob, x)), 6)                     # JSD(p || p) = 0
        0.0
        >>> q = toy.GaussianMixture([[6.0]], 1.0)                           # almost disjoint
        >>> abs(float(jsd(p.log_prob, q.log_prob, x)) - math.log(2)) < 1e-6
        True
    """
    if not isinstance(grid, Tensor) or not grid.is_floating_point():
        raise TypeError(f"grid must be a floating-point tensor of shape (M, 1), got "
                        f"{grid.dtype if isinstance(grid, Tensor) else type(grid).__name__}")
    if grid.ndim != 2 or grid.shape[1] != 1 or grid.shape[0] < 2:
        raise ValueError(f"grid must have shape (M, 1) with M >= 2, got {tuple(grid.shape)}")
    if not bool((grid[1:, 0] > grid[:-1, 0]).all()):
        raise ValueError("grid must be strictly increasing")
    values = []
    for name, f in (("log_p", log_p), ("log_q", log_q)):
        v = f(grid)
        if not isinstance(v, Tensor) or v.shape != (grid.shape[0],) or bool(v.isnan().any()):
            raise ValueError(f"{name} must return a NaN-free tensor of shape ({grid.shape[0]},), "
                             "got "
                             f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
        values.append(v.to(grid.dtype))
    lp, lq = values
    lm = torch.logaddexp(lp, lq) - math.log(2.0)                       # log m = log (p + q)/2
    # p log(p/m) with 0 log 0 = 0 where p vanishes
    integrand = 0.5 * (torch.where(lp > -math.inf, lp.exp() * (lp - lm), 0.0)
                       + torch.where(lq > -math.inf, lq.exp() * (lq - lm), 0.0))
    return torch.trapezoid(integrand, grid[:, 0])
