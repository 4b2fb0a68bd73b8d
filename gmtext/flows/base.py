r"""The :class:`Transform` protocol, composition, soft clamping and the :class:`Flow` density.

A normalizing flow pushes a simple base density :math:`p_0 = \mathcal N(0, I)` through invertible
maps :math:`x = f_K \circ \dots \circ f_1(z_0)`. By the change of variables (chapter 4,
eq. (4.5)) every intermediate density is

.. math:: p_i(z_i) = p_{i-1}\big(f_i^{-1}(z_i)\big)\,
          \Big|\det \frac{\partial f_i^{-1}}{\partial z_i}\Big|,

so the log-likelihood of a chain is the base log-density of the pulled-back point plus the sum of
the inverse log-determinants (eq. (4.6); Rezende & Mohamed 2015, arXiv:1505.05770; Papamakarios
et al. 2021, arXiv:1912.02762).

Convention: a transform's ``forward`` is the *generative* direction :math:`z \mapsto x` (towards the
data), ``inverse`` the normalizing direction :math:`x \mapsto z`. Both return the log absolute
Jacobian determinant of the map they apply, one value per sample.

Example:
    >>> from gmtext.flows import realnvp
    >>> flow = realnvp(2, n_layers=2, generator=torch.Generator().manual_seed(0))
    >>> flow.log_prob(torch.zeros(3, 2)).shape
    torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gmtext._validate import check_finite
from gmtext.config import generator_device
from gmtext.distributions import standard_normal_log_prob

__all__ = ["Transform", "Compose", "Flow", "soft_clamp"]


def soft_clamp(s: Tensor, bound: float) -> Tensor:
    r"""Smoothly bound log-scales to :math:`(-b, b)`: :math:`b \tanh(s / b)`.

    Near zero this is the identity (slope 1), so an identity-initialised coupling stays one; far
    away it saturates, so :math:`e^{s}` never exceeds :math:`e^{b}` and cannot overflow
    (chapter 4, eq. (4.12); the same device as zuko's and Glow's bounded scales).

    Example:
        >>> soft_clamp(torch.tensor([0.0, 1e6]), 3.0)
        tensor([0., 3.])
    """
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    return bound * torch.tanh(s / bound)


def check_batch(x: Tensor, dim: int, name: str = "x") -> Tensor:
    """``x`` must be a finite floating-point tensor of shape ``(N, dim)``; raises TypeError/ValueError.

    A NaN would otherwise pass through every layer and come out as a NaN log-density.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, {dim}), "
                        f"got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype} (dequantize integer data "
                        "first, e.g. gmtext.mle.dequantize)")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {tuple(x.shape)}")
    return check_finite(x, name)


class Transform(nn.Module):
    r"""An invertible map :math:`f` of :math:`\mathbb R^D` with a tractable Jacobian determinant.

    Subclasses implement ``_forward`` and ``_inverse``; the public methods check shapes.
    Derived in chapter 4, eq. (4.4).

    Attributes:
        dim: the dimension ``D`` it acts on.
    """

    dim: int

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        r"""``(f(z), log|det df/dz|)`` with shapes ``(N, D)`` and ``(N,)``."""
        return self._forward(check_batch(z, self.dim, "z"))

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""``(f^{-1}(x), log|det df^{-1}/dx|)`` with shapes ``(N, D)`` and ``(N,)``."""
        return self._inverse(check_batch(x, self.dim, "x"))

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class Compose(Transform):
    r"""The composition :math:`f_K \circ \dots \circ f_1`; log-determinants add.

    Derived in chapter 4, eq. (4.6) (Rezende & Mohamed 2015, arXiv:1505.05770).

    Example:
        >>> from gmtext.flows import Reverse
        >>> f = Compose([Reverse(2), Reverse(2)])
        >>> f(torch.tensor([[1.0, 2.0]]))[0]
        tensor([[1., 2.]])
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        super().__init__()
        transforms = list(transforms)
        if not transforms or not all(isinstance(t, Transform) for t in transforms):
            raise TypeError("Compose needs a non-empty sequence of Transform objects")
        dims = {t.dim for t in transforms}
        if len(dims) != 1:
            raise ValueError(f"all transforms must act on the same dimension, got {sorted(dims)}")
        self.transforms = nn.ModuleList(transforms)
        self.dim = dims.pop()

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for t in self.transforms:
            z, ld = t._forward(z)
            total = total + ld
        return z, total

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for t in reversed(self.transforms):
            x, ld = t._inverse(x)
            total = total + ld
        return x, total


class Flow(nn.Module):
    r"""A normalizing flow: a standard normal base pushed through a :class:`Transform`.

    .. math:: \log q(x) = \log \mathcal N\big(f^{-1}(x); 0, I\big)
              + \log\Big|\det \frac{\partial f^{-1}}{\partial x}\Big|

    Derived in chapter 4, eq. (4.6) (Dinh et al. 2017, arXiv:1605.08803).

    Args:
        transform: the generative map ``f`` (base to data), e.g. a :class:`Compose`.

    Example:
        >>> from gmtext.flows import Reverse
        >>> flow = Flow(Reverse(2))                        # a permutation keeps N(0, I)
        >>> round(float(flow.log_prob(torch.zeros(1, 2))), 4)      # -log(2 pi)
        -1.8379
    """

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        if not isinstance(transform, Transform):
            raise TypeError(f"transform must be a Transform, got {type(transform).__name__}")
        self.transform = transform
        self.dim = transform.dim

    def base_log_prob(self, z: Tensor) -> Tensor:
        r"""Standard normal log-density :math:`-\tfrac12\|z\|^2 - \tfrac D2 \log 2\pi`, ``(N,)``."""
        return standard_normal_log_prob(z)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of points ``(N, D)``; returns ``(N,)`` (eq. (4.6))."""
        z, log_det = self.transform.inverse(x)
        return self.base_log_prob(z) + log_det

    def encode(self, x: Tensor) -> Tensor:
        r"""The latent :math:`z = f^{-1}(x)` of data points ``(N, D)``."""
        return self.transform.inverse(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        """The data point :math:`x = f(z)` of latents ``(N, D)``."""
        return self.transform(z)[0]

    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> Tensor:
        r"""``n`` samples :math:`x = f(T\varepsilon)`, :math:`\varepsilon\sim\mathcal N(0,I)`.

        ``temperature`` :math:`T < 1` shrinks the base towards its mode (Kingma & Dhariwal 2018,
        arXiv:1807.03039): fewer odd samples, less diversity (chapter 4, eq. (4.18)).
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        p = next(self.parameters(), torch.empty(0))
        eps = torch.randn(n, self.dim, generator=generator, dtype=p.dtype, device=generator_device(generator))
        return self.decode(temperature * eps.to(p.device))

    def trajectory(self, z: Tensor) -> list[Tensor]:
        """``[z, f_1(z), f_2(f_1(z)), ...]``: the points after each transform (for animations)."""
        transforms = self.transform.transforms if isinstance(self.transform, Compose) \
            else [self.transform]
        points = [check_batch(z, self.dim, "z")]
        for t in transforms:
            points.append(t(points[-1])[0])
        return points
