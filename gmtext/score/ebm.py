r"""Energy-based models and their scores: why the partition function drops out.

An energy-based model (LeCun et al. 2006) is a density defined up to a constant,

.. math:: p_\theta(x) = \frac{e^{-E_\theta(x)}}{Z_\theta},\qquad
          Z_\theta = \int e^{-E_\theta(x)}\,dx ,

and :math:`Z_\theta` is an integral over the whole space, intractable in high dimension. Its score
does not need it, because :math:`\log Z_\theta` does not depend on :math:`x`:

.. math:: \nabla_x \log p_\theta(x) = -\nabla_x E_\theta(x) - \underbrace{\nabla_x \log Z_\theta}_{=0}.

Derived in chapter 5, eq. (5.2). The score of any unnormalised log-density can therefore be taken by
automatic differentiation (:func:`score_from_log_density`).

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0, -2.0]])
    >>> score_from_log_density(lambda v: -0.5 * v.pow(2).sum(-1) + 7.0, x)   # N(0, I) plus a constant
    tensor([[-1.,  2.]])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gmtext._validate import check_data as check_points

__all__ = ["score_from_log_density", "EnergyModel"]


def score_from_log_density(log_density: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    r"""The score :math:`\nabla_x \log \tilde p(x)` of an (unnormalised) log-density, by autograd.

    .. math:: s(x) = \nabla_x \log \tilde p(x) = \nabla_x \log p(x)
              \quad\text{for } \tilde p = Z p,\ Z > 0 \text{ constant}

    Derived in chapter 5, eq. (5.2). The result is detached (no graph is kept).

    Args:
        log_density: ``(N, D) -> (N,)``, differentiable, e.g. ``toy.load("ring8").log_prob`` or
            ``lambda x: -energy(x)``.
        x: ``(N, D)`` points.

    Returns:
        ``(N, D)`` scores.

    Raises:
        TypeError: if ``x`` is not a floating-point tensor or ``log_density`` is not callable.
        ValueError: if ``x`` is not ``(N, D)`` or ``log_density`` does not return ``(N,)``.
    """
    if not callable(log_density):
        raise TypeError(f"log_density must be a callable (N, D) -> (N,), got {type(log_density).__name__}")
    x = check_points(x)
    with torch.enable_grad():
        v = x.detach().requires_grad_(True)
        out = log_density(v)
        if not isinstance(out, Tensor) or out.shape != (x.shape[0],):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"log_density must return shape ({x.shape[0]},), got {shape}")
        (grad,) = torch.autograd.grad(out.sum(), v)
    return grad.detach()


class EnergyModel(nn.Module):
    r"""An energy-based model :math:`p(x)\propto e^{-E(x)}` around any energy network.

    Only the energy is stored; :meth:`score` is :math:`-\nabla_x E(x)` (chapter 5, eq. (5.2)), and
    :meth:`unnormalized_log_prob` is :math:`-E(x)`: the true log-density minus the unknown
    :math:`\log Z`.

    Args:
        energy: a module ``(N, D) -> (N,)`` or ``(N, D) -> (N, 1)``.
    """

    def __init__(self, energy: nn.Module) -> None:
        super().__init__()
        if not isinstance(energy, nn.Module):
            raise TypeError(f"energy must be an nn.Module, got {type(energy).__name__}")
        self.energy = energy

    def unnormalized_log_prob(self, x: Tensor) -> Tensor:
        """:math:`-E(x)`, shape ``(N,)``."""
        e = self.energy(check_points(x))
        return -(e[:, 0] if e.ndim == 2 and e.shape[1] == 1 else e)

    def score(self, x: Tensor) -> Tensor:
        r""":math:`-\nabla_x E(x)`, shape ``(N, D)`` (detached)."""
        return score_from_log_density(self.unnormalized_log_prob, x)

