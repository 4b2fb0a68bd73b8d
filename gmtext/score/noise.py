r"""Noise levels of a noise-conditional score network: a geometric ladder of standard deviations.

Song & Ermon (2019), "Generative Modeling by Estimating Gradients of the Data Distribution"
(arXiv:1907.05600), perturb the data with Gaussian noise at :math:`L` levels

.. math:: \sigma_i = \sigma_{\max}\Big(\frac{\sigma_{\min}}{\sigma_{\max}}\Big)^{\frac{i-1}{L-1}},
          \qquad i = 1, \dots, L,

a geometric sequence from the largest to the smallest, so that the ratio
:math:`\sigma_{i}/\sigma_{i+1}` is constant: neighbouring noised densities overlap equally at every
scale. Derived in chapter 5, eq. (5.10).

Example:
    >>> geometric_sigmas(1.0, 0.01, 3).tolist()
    [1.0, 0.10000000149011612, 0.009999999776482582]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["geometric_sigmas"]


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> Tensor:
    r"""``n`` noise levels from ``sigma_max`` down to ``sigma_min``, geometrically spaced.

    .. math:: \sigma_i = \sigma_{\max}\,(\sigma_{\min}/\sigma_{\max})^{(i-1)/(n-1)}

    Song & Ermon (2019, arXiv:1907.05600). Derived in chapter 5, eq. (5.10).

    Args:
        sigma_max: the largest standard deviation (about the largest distance between data points).
        sigma_min: the smallest one (> 0, below the scale of the data's details).
        n: number of levels (>= 2; with n = 1 only ``sigma_max`` is returned, which must then
            equal ``sigma_min``).

    Returns:
        ``(n,)`` float32 tensor, decreasing.

    Raises:
        ValueError: unless ``sigma_max >= sigma_min > 0`` (finite) and ``n`` is a positive int.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (number of noise levels), got {n!r}")
    if not (math.isfinite(sigma_max) and math.isfinite(sigma_min)) or not sigma_max >= sigma_min > 0:
        raise ValueError(f"need finite sigma_max >= sigma_min > 0, got sigma_max={sigma_max}, "
                         f"sigma_min={sigma_min}")
    if n == 1:
        if sigma_max != sigma_min:
            raise ValueError("one noise level needs sigma_max == sigma_min")
        return torch.tensor([float(sigma_max)])
    exponent = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    return (sigma_max * (sigma_min / sigma_max) ** exponent).float()
