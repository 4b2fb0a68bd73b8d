r"""Primitives of probability shared by every chapter: the Gaussian log-density and a stable log-mean-exp.

One definition each, so that a constant such as :math:`\log 2\pi` is written once in the package.

Example:
    >>> import torch
    >>> round(float(normal_log_prob(torch.zeros(1, 2))), 4)       # -log(2 pi)
    -1.8379
    >>> float(log_mean_exp(torch.tensor([0.0, 0.0, 0.0])))
    0.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: :math:`\log 2\pi`.
LOG_2PI: float = math.log(2 * math.pi)

__all__ = ["LOG_2PI", "normal_log_prob", "standard_normal_log_prob", "log_mean_exp"]


def normal_log_prob(z: Tensor, mean: Tensor | float = 0.0, log_var: Tensor | float = 0.0) -> Tensor:
    r"""Log-density of a diagonal Gaussian, summed over the last dimension.

    .. math:: \log\mathcal N(z;\mu,\operatorname{diag}\sigma^2)
              = -\frac12\sum_l\left[\log 2\pi + \log\sigma_l^2
                + \frac{(z_l-\mu_l)^2}{\sigma_l^2}\right]

    Derived in chapter 1 (the Gaussian likelihood) and used from chapter 2 on (the ELBO's terms).
    """
    if not isinstance(z, Tensor):
        raise TypeError(f"z must be a tensor, got {type(z).__name__}")
    log_var = torch.as_tensor(log_var, dtype=z.dtype, device=z.device)
    return -0.5 * (LOG_2PI + log_var + (z - mean).pow(2) / log_var.exp()).sum(-1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    r""":math:`\log\mathcal N(z; 0, I)` of ``z`` ``(N, ...)``, summed over everything but the first axis: ``(N,)``.

    The base density of a flow (chapter 4) and the prior of the probability-flow ODE (chapter 6).

    Example:
        >>> [round(v, 4) for v in standard_normal_log_prob(torch.zeros(3, 1, 2)).tolist()]
        [-1.8379, -1.8379, -1.8379]
    """
    if not isinstance(z, Tensor) or z.ndim < 2:
        raise ValueError(f"z must be a tensor (N, ...), got "
                         f"{tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__}")
    flat = z.flatten(1)                                                      # (N, D)
    return -0.5 * flat.pow(2).sum(1) - 0.5 * flat.shape[1] * LOG_2PI


def log_mean_exp(x: Tensor, dim: int = 0) -> Tensor:
    r""":math:`\log \frac1K\sum_k e^{x_k}` along ``dim``, computed stably with ``logsumexp``.

    The IWAE bound (chapter 2, eq. (2.17)) and every importance-sampled likelihood use it.
    """
    if x.shape[dim] == 0:
        raise ValueError(f"log_mean_exp needs at least one value along dim {dim}, got shape {tuple(x.shape)}")
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])
