r"""Fréchet distance between Gaussians fitted to two feature sets (the "FID" construction).

Heusel et al. (2017) compare a generator with the data by fitting a Gaussian to each set's
features in a pretrained classifier and measuring the squared 2-Wasserstein (Fréchet) distance
between the two Gaussians:

.. math::

    d^2\big(\mathcal N(\mu_a, \Sigma_a), \mathcal N(\mu_b, \Sigma_b)\big)
    = \|\mu_a - \mu_b\|_2^2 + \operatorname{tr}\big(\Sigma_a + \Sigma_b
      - 2 (\Sigma_a \Sigma_b)^{1/2}\big).

On ImageNet-scale images the features come from Inception; in this book they come from the shared
digit classifier (``gmtext.metrics.classifier``). The distance is a *squared* distance:
it is 0 for identical sets, symmetric, unchanged when both sets are moved by the same translation
or rotation, and grows by :math:`\|c\|^2` when one set alone is translated by :math:`c`.

Example:
    >>> import torch
    >>> a = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    >>> frechet_distance(a, a)
    0.0
    >>> round(frechet_distance(a, a + 2.0) - frechet_distance(a, a), 6)   # ||(2, 2, 2)||^2
    12.0
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["frechet_distance", "frechet_distance_gaussians"]


def frechet_distance_gaussians(mean_a: Tensor, cov_a: Tensor, mean_b: Tensor,
                               cov_b: Tensor) -> float:
    r"""Fréchet (2-Wasserstein squared) distance between two Gaussians in closed form.

    .. math::

        d^2 = \|\mu_a - \mu_b\|_2^2 + \operatorname{tr}\Sigma_a + \operatorname{tr}\Sigma_b
              - 2 \operatorname{tr}\big(\Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}\big)^{1/2}

    The trace of :math:`(\Sigma_a\Sigma_b)^{1/2}` is computed through the symmetric matrix
    :math:`\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}`, which has the same eigenvalues as
    :math:`\Sigma_a\Sigma_b` but can be diagonalised stably with ``eigh`` (float64; eigenvalues
    that round-off pushes below zero are set to zero). A result within round-off of zero is
    returned as 0. Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a
    Local Nash Equilibrium", NeurIPS 2017 (arXiv:1706.08500); Dowson and Landau (1982).

    Args:
        mean_a: ``(D,)`` mean of the first Gaussian.
        cov_a: ``(D, D)`` symmetric positive semi-definite covariance.
        mean_b: ``(D,)`` mean of the second Gaussian.
        cov_b: ``(D, D)`` covariance of the second Gaussian.

    Raises:
        ValueError: on mismatched shapes, non-finite entries, or a covariance that is not
            symmetric positive semi-definite (an eigenvalue below round-off of zero).

    Example:
        >>> one = torch.eye(1)
        >>> frechet_distance_gaussians(torch.zeros(1), 4 * one, torch.ones(1), one)  # 1 + (2-1)^2
        2.0
    """
    for name, t in (("mean_a", mean_a), ("cov_a", cov_a), ("mean_b", mean_b), ("cov_b", cov_b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
    d = mean_a.shape[0] if mean_a.ndim == 1 else -1
    if d < 1 or mean_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ValueError(f"expected means (D,) and covariances (D, D) with one D, got "
                         f"{tuple(mean_a.shape)}, {tuple(cov_a.shape)}, {tuple(mean_b.shape)}, "
                         f"{tuple(cov_b.shape)}")
    mu_a, mu_b = mean_a.detach().double().cpu(), mean_b.detach().double().cpu()
    sig_a, sig_b = _covariance(cov_a, "cov_a"), _covariance(cov_b, "cov_b")
    root_a = _psd_sqrt(sig_a)                                      # Sigma_a^{1/2}, (D, D)
    middle = _symmetric(root_a @ sig_b @ root_a)      # same spectrum as Sigma_a Sigma_b
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + sig_a.trace() + sig_b.trace() - 2 * trace_sqrt
    # round-off tolerance relative to the scale of the terms
    scale = float(sig_a.trace() + sig_b.trace() + (mu_a - mu_b).pow(2).sum()) + 1e-300
    return 0.0 if abs(float(value)) <= 1e-10 * scale else max(float(value), 0.0)


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    r"""Fréchet distance between Gaussians fitted (mean, covariance) to two feature sets.

    .. math::

        \mathrm{FD} = \|\hat\mu_a - \hat\mu_b\|_2^2
        + \operatorname{tr}\big(\hat\Sigma_a + \hat\Sigma_b - 2(\hat\Sigma_a\hat\Sigma_b)^{1/2}\big)

    with the sample means and unbiased sample covariances (Heusel et al. 2017,
    arXiv:1706.08500). Used in chapters 3, 6, 8 and 10 with ``gmtext.metrics.digit_features``.

    The estimate is biased upwards for finite sets (by about :math:`\operatorname{tr}(\Sigma_a)/N_a
    + \operatorname{tr}(\Sigma_b)/N_b` for equal Gaussians), so compare numbers computed with the
    same sample sizes only.

    Args:
        feats_a: ``(N, D)`` features of the first set (N >= 2).
        feats_b: ``(M, D)`` features of the second set (M >= 2).

    Raises:
        TypeError: if the inputs are not tensors.
        ValueError: on shapes other than ``(N, D)`` with one D, fewer than 2 rows, or non-finite
            values.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(4000, 2, generator=g), 2 * torch.randn(4000, 2, generator=g)
        >>> abs(frechet_distance(a, b) - 2.0) < 0.1     # closed form: 2 * (2 - 1)^2 = 2
        True
    """
    a, b = _features(feats_a, "feats_a"), _features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a and feats_b must have the same feature dimension, got "
                         f"{a.shape[1]} and {b.shape[1]}")
    return frechet_distance_gaussians(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


def _features(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, D), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, D) with N >= 2, got {tuple(x.shape)}")
    x = x.detach().double().cpu()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x                                                          # (N, D) float64


def _symmetric(m: Tensor) -> Tensor:
    return 0.5 * (m + m.T)


def _covariance(c: Tensor, name: str) -> Tensor:
    """``c`` as float64, refused unless symmetric positive semi-definite up to round-off."""
    c = c.detach().double().cpu()
    scale = float(c.abs().max()) + 1e-300
    if float((c - c.T).abs().max()) > 1e-6 * scale:
        raise ValueError(f"{name} must be a symmetric covariance matrix, got one with "
                         f"|C - C^T| up to {float((c - c.T).abs().max()):.3g}")
    smallest = float(torch.linalg.eigvalsh(_symmetric(c))[0])
    if smallest < -1e-8 * scale:
        raise ValueError(f"{name} must be positive semi-definite (a covariance), got an "
                         f"eigenvalue of {smallest:.3g}")
    return _symmetric(c)


def _psd_sqrt(m: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition."""
    eigenvalues, vectors = torch.linalg.eigh(m)
    return (vectors * eigenvalues.clamp_min(0).sqrt()) @ vectors.T    # V diag(sqrt(l)) V^T
