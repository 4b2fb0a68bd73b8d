r"""Rational-quadratic spline couplings (Durkan et al. 2019, "Neural Spline Flows",
arXiv:1906.04868).

On :math:`[-B, B]` the map is a monotone piecewise rational-quadratic function through
:math:`K+1` knots :math:`(x^{(k)}, y^{(k)})` with positive slopes :math:`\delta^{(k)}`; outside it
is the identity (slopes 1 at the ends make it continuously differentiable). In bin :math:`k`, with
:math:`s_k = (y^{(k+1)}-y^{(k)})/(x^{(k+1)}-x^{(k)})` and :math:`\xi = (x-x^{(k)})/w_k`,

.. math::
    g(x) = y^{(k)} + \frac{h_k\,[s_k\xi^2 + \delta^{(k)}\xi(1-\xi)]}
                      {s_k + [\delta^{(k+1)} + \delta^{(k)} - 2s_k]\,\xi(1-\xi)},

    g'(x) = \frac{s_k^2\,[\delta^{(k+1)}\xi^2 + 2s_k\xi(1-\xi) + \delta^{(k)}(1-\xi)^2]}
                 {\big(s_k + [\delta^{(k+1)} + \delta^{(k)} - 2s_k]\,\xi(1-\xi)\big)^2},

and the inverse solves a quadratic in :math:`\xi` in closed form. Derived in chapter 4, eq. (4.14).

Example:
    >>> layer = SplineCoupling(torch.tensor([True, False]), bins=4)
    >>> x, log_det = layer(torch.tensor([[0.3, -0.7]]))     # zero-initialised: the identity
    >>> bool(torch.allclose(x, torch.tensor([[0.3, -0.7]]), atol=1e-6)), bool(log_det.abs() < 1e-6)
    (True, True)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from gmtext._validate import check_finite
from gmtext.flows.coupling import Coupling

__all__ = ["rational_quadratic_spline", "SplineCoupling"]

MIN_WIDTH, MIN_HEIGHT, MIN_SLOPE = 1e-3, 1e-3, 1e-3


def _knots(unnormalized: Tensor, bound: float, minimum: float) -> tuple[Tensor, Tensor]:
    k = unnormalized.shape[-1]
    sizes = minimum + (1 - minimum * k) * F.softmax(unnormalized, dim=-1)      # (..., K), sum 1
    knots = F.pad(torch.cumsum(sizes, -1), (1, 0))                            # (..., K+1)
    knots = 2 * bound * knots - bound
    knots = torch.cat([knots[..., :1].clamp(-bound, -bound), knots[..., 1:-1],
                       knots[..., -1:].clamp(bound, bound)], dim=-1)          # exact ends
    return knots, knots[..., 1:] - knots[..., :-1]


def rational_quadratic_spline(v: Tensor, widths: Tensor, heights: Tensor, slopes: Tensor,
                              bound: float = 3.0, inverse: bool = False) -> tuple[Tensor, Tensor]:
    r"""Elementwise monotone rational-quadratic spline on :math:`[-B, B]`, identity outside.

    Args:
        v: inputs ``(...)``.
        widths, heights: unnormalised bin sizes ``(..., K)`` (softmax-normalised here).
        slopes: unnormalised interior knot slopes ``(..., K-1)`` (softplus here; the end slopes
            are 1 to join the identity tails).
        bound: :math:`B`.
        inverse: apply :math:`g^{-1}` instead of :math:`g`.

    Returns:
        ``(g(v), log g'(v))`` (or the inverse and its log-derivative), both shaped like ``v``.

    Derived in chapter 4, eq. (4.14) (Durkan et al. 2019, arXiv:1906.04868).

    Example:
        >>> v = torch.linspace(-4, 4, 9)
        >>> zeros = torch.zeros(9, 5)
        >>> y, log_d = rational_quadratic_spline(v, zeros, zeros, zeros[:, :4])
        >>> bool(torch.allclose(y, v, atol=1e-5)), bool(log_d.abs().max() < 1e-5)
        (True, True)
    """
    if not (isinstance(bound, (int, float)) and math.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be a finite number > 0 (the spline acts on [-bound, bound]), "
                         f"got {bound!r}")
    check_finite(v, "spline input v")
    if widths.shape != heights.shape or slopes.shape[-1] != widths.shape[-1] - 1:
        raise ValueError(f"need widths, heights (..., K) and slopes (..., K-1); got "
                         f"{tuple(widths.shape)}, {tuple(heights.shape)}, {tuple(slopes.shape)}")
    if widths.shape[:-1] != v.shape:
        raise ValueError(f"spline parameters {tuple(widths.shape)} do not match inputs "
                         f"{tuple(v.shape)}")
    inside = (v > -bound) & (v < bound)
    vc = v.clamp(-bound, bound)
    xk, w = _knots(widths, bound, MIN_WIDTH)                        # (..., K+1), (..., K)
    yk, h = _knots(heights, bound, MIN_HEIGHT)
    one = torch.ones_like(slopes[..., :1])
    interior = MIN_SLOPE + (1 - MIN_SLOPE) * F.softplus(slopes + _SOFTPLUS_ONE)  # 1 at zero
    d = torch.cat([one, interior, one], -1)                                    # (..., K+1)
    knots = yk if inverse else xk
    idx = (vc[..., None] >= knots[..., 1:-1]).sum(-1, keepdim=True)           # bin index (..., 1)

    def pick(t: Tensor) -> Tensor:
        return t.gather(-1, idx).squeeze(-1)

    x0, wk, y0, hk, d0, d1 = pick(xk), pick(w), pick(yk), pick(h), pick(d), pick(d[..., 1:])
    s = hk / wk
    if inverse:
        dy = vc - y0
        a = hk * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = hk * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        disc = (b.pow(2) - 4 * a * c).clamp_min(0)
        xi = (2 * c / (-b - disc.sqrt())).clamp(0, 1)
        out = xi * wk + x0
    else:
        xi = ((vc - x0) / wk).clamp(0, 1)
        denom = s + (d1 + d0 - 2 * s) * xi * (1 - xi)
        out = y0 + hk * (s * xi.pow(2) + d0 * xi * (1 - xi)) / denom
    denom = s + (d1 + d0 - 2 * s) * xi * (1 - xi)
    log_deriv = 2 * torch.log(s) + torch.log(d1 * xi.pow(2) + 2 * s * xi * (1 - xi)
                                             + d0 * (1 - xi).pow(2)) - 2 * torch.log(denom)
    if inverse:
        log_deriv = -log_deriv
    return torch.where(inside, out, v), torch.where(inside, log_deriv, torch.zeros_like(v))


_SOFTPLUS_ONE = math.log(math.e - 1)        # softplus(0 + this) = 1: zero parameters give slope 1


class SplineCoupling(Coupling):
    r"""Coupling layer whose elementwise map is a rational-quadratic spline (Durkan et al. 2019).

    The conditioner outputs, per changed coordinate, ``K`` widths, ``K`` heights and ``K-1`` slopes
    (eq. (4.14)); zero outputs give uniform bins and unit slopes, i.e. the identity, so a freshly
    built flow is the base distribution. Derived in chapter 4, eq. (4.14)
    (arXiv:1906.04868).

    Args:
        mask: boolean ``(D,)`` of the kept coordinates.
        bins: number of bins ``K``.
        bound: :math:`B`; the spline acts on :math:`[-B, B]`, the identity outside.
        hidden, layers, dropout: the conditioner MLP.

    Example:
        >>> layer = SplineCoupling(torch.tensor([False, True, True]), bins=3, hidden=8)
        >>> layer.inverse(torch.zeros(5, 3))[0].shape
        torch.Size([5, 3])
    """

    def __init__(self, mask: Tensor, bins: int = 8, bound: float = 5.0, hidden: int = 64,
                 layers: int = 2, dropout: float = 0.0) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins must be an int >= 2, got {bins!r}")
        if not (isinstance(bound, (int, float)) and math.isfinite(bound) and bound > 0):
            raise ValueError(f"bound must be a finite number > 0, got {bound!r}")
        self.params_per_dim = 3 * bins - 1
        self.bins, self.bound = bins, float(bound)
        super().__init__(mask, hidden, layers, dropout)

    def _map(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        k = self.bins
        widths, heights, slopes = params[..., :k], params[..., k:2 * k], params[..., 2 * k:]
        out, log_deriv = rational_quadratic_spline(v, widths, heights, slopes, self.bound, inverse)
        return out, log_deriv.sum(-1)
