r"""Coupling layers: half of the coordinates parameterise an invertible map of the other half.

Split :math:`z = (z_a, z_b)` by a fixed binary mask. A coupling layer keeps :math:`z_a` and maps
:math:`z_b` elementwise with parameters :math:`\theta(z_a)` from a neural *conditioner*:

.. math:: x_a = z_a, \qquad x_b = g\big(z_b;\ \theta(z_a)\big).

Its Jacobian is block triangular, so :math:`\log|\det| = \sum_i \log|g'(z_{b,i})|` costs
:math:`O(D)` instead of :math:`O(D^3)`, and the inverse needs only :math:`g^{-1}`, never
:math:`\theta^{-1}` (chapter 4, eq. (4.9); Dinh et al. 2015, arXiv:1410.8516, and 2017,
arXiv:1605.08803). The affine choice :math:`g(z;s,t) = e^{s}z + t` is RealNVP's (eq. (4.10));
:class:`~gmtext.flows.spline.SplineCoupling` uses a rational-quadratic spline.

Example:
    >>> layer = AffineCoupling(torch.tensor([True, False]))
    >>> with torch.no_grad():                               # zero-initialised: the identity
    ...     x, log_det = layer(torch.tensor([[1.0, 2.0]]))
    >>> x.tolist(), log_det.tolist()
    ([[1.0, 2.0]], [0.0])
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmtext.flows.base import Flow, Transform, soft_clamp
from gmtext.nn.mlp import MLP

__all__ = ["Coupling", "AffineCoupling", "checkerboard_mask", "conditioner_signal"]


def checkerboard_mask(dim: int, parity: int = 0) -> Tensor:
    """Boolean mask ``(dim,)`` that keeps every other coordinate (``parity`` 0 or 1 picks which).

    Example:
        >>> checkerboard_mask(4, parity=1)
        tensor([False,  True, False,  True])
    """
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    return torch.arange(dim) % 2 == parity


class Coupling(Transform):
    """Base class: conditioner ``MLP(kept -> params_per_dim * changed)``, zero-initialised.

    Subclasses define ``params_per_dim`` and the elementwise map ``_map(z_b, params, inverse)``.

    Args:
        mask: boolean ``(D,)``; True marks the coordinates that are kept and condition the rest.
        hidden: conditioner width.
        layers: conditioner hidden layers.
        dropout: dropout in the conditioner (regularises flows on small image sets).
    """

    params_per_dim: int = 2

    def __init__(self, mask: Tensor, hidden: int = 64, layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool or mask.ndim != 1:
            raise TypeError(f"mask must be a 1-D bool tensor, got {mask.dtype} {tuple(mask.shape)}")
        n_keep = int(mask.sum())
        if n_keep in (0, mask.numel()):
            raise ValueError("mask must keep at least one and change at least one coordinate")
        self.dim = mask.numel()
        self.register_buffer("mask", mask)
        # index form of the mask: gathers are cheaper than boolean indexing
        self.register_buffer("kept_idx", torch.nonzero(mask).flatten())
        self.register_buffer("changed_idx", torch.nonzero(~mask).flatten())
        self.register_buffer("unsplit", torch.argsort(torch.cat([self.kept_idx, self.changed_idx])))
        self.n_change = self.dim - n_keep
        # zero output layer: theta(z_a) starts at the identity parameters (eq. (4.10))
        self.conditioner = MLP(n_keep, self.n_change * self.params_per_dim, hidden=hidden,
                               layers=layers, dropout=dropout, zero_last=True)

    def _params(self, kept: Tensor) -> Tensor:
        return self.conditioner(kept).reshape(kept.shape[0], self.n_change, self.params_per_dim)

    def _couple(self, v: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        kept, changed = v[:, self.kept_idx], v[:, self.changed_idx]    # (N, D_a), (N, D_b)
        new, log_det = self._map(changed, self._params(kept), inverse)  # (N, D_b), (N,)
        return torch.cat([kept, new], dim=1)[:, self.unsplit], log_det  # (N, D)

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(z, inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(x, inverse=True)

    def _map(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class AffineCoupling(Coupling):
    r"""RealNVP's affine coupling (Dinh et al. 2017, arXiv:1605.08803), eq. (4.10):

    .. math:: x_b = z_b \odot e^{s(z_a)} + t(z_a), \qquad
              \log|\det J| = \textstyle\sum_i s_i(z_a), \qquad
              z_b = (x_b - t(x_a)) \odot e^{-s(x_a)},

    with the log-scale soft-clamped, :math:`s = b\tanh(\tilde s/b)` (eq. (4.12)), so that
    :math:`e^{\pm s}` stays within :math:`e^{\pm b}`. Derived in chapter 4, eq. (4.10).

    Args:
        mask: boolean ``(D,)`` of the kept coordinates.
        hidden, layers, dropout: the conditioner MLP.
        scale_bound: :math:`b`, the bound on the log-scale.

    Example:
        >>> layer = AffineCoupling(checkerboard_mask(4), hidden=8)
        >>> layer.inverse(torch.ones(2, 4))[1].abs().tolist()
        [0.0, 0.0]
    """

    params_per_dim = 2

    def __init__(self, mask: Tensor, hidden: int = 64, layers: int = 2, dropout: float = 0.0,
                 scale_bound: float = 3.0) -> None:
        super().__init__(mask, hidden, layers, dropout)
        if not scale_bound > 0:
            raise ValueError(f"scale_bound must be positive, got {scale_bound}")
        self.scale_bound = float(scale_bound)

    def _map(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        s = soft_clamp(params[..., 0], self.scale_bound)               # (N, D_b)
        t = params[..., 1]
        if inverse:
            return (v - t) * torch.exp(-s), -s.sum(-1)
        return v * torch.exp(s) + t, s.sum(-1)


def conditioner_signal(flow: Flow, x: Tensor) -> list[float]:
    r"""How strongly the NLL gradient asks each coupling's conditioner to *use* its input.

    For a conditioner whose output layer is :math:`o = Wh + b`, the gradient of the loss splits as

    .. math:: \frac{\partial L}{\partial W} = \mathbb E[g\,h^\top]
              = \underbrace{\mathbb E[g]\,\mathbb E[h]^\top}_{\text{constant shift}}
              + \underbrace{\operatorname{Cov}(g, h)}_{\text{signal}},
              \qquad g = \frac{\partial \ell}{\partial o},

    and only the covariance term teaches the conditioner a parameter that varies with the kept
    coordinates. Returns
    :math:`\|\operatorname{Cov}(g,h)\|_F / \|\mathbb E[g]\,\mathbb E[h]^\top\|_F`
    for every :class:`~gmtext.flows.coupling.Coupling` of ``flow`` (generative order), estimated
    on the points ``x``.
    When the target factorises and the couplings only swap coordinates, the kept and changed
    coordinates are independent at the identity initialisation and the signal is zero up to
    Monte Carlo noise: a saddle (chapter 4, section on the toys, eq. (4.10)).

    Example:
        >>> from gmtext.flows import realnvp
        >>> flow = realnvp(2, n_layers=2, mixing="swap")
        >>> x = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0))
        >>> max(conditioner_signal(flow, x * torch.tensor([3.0, 0.5]))) < 0.05  # independent
        True
        >>> min(conditioner_signal(flow, x @ torch.tensor([[3.0, 1.0], [0.0, 0.5]]))) > 0.1
        True
    """
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a gmtext.flows.Flow, got {type(flow).__name__}")
    couplings = [m for m in flow.modules() if isinstance(m, Coupling)]
    if not couplings:
        raise ValueError("flow has no coupling layers")
    features: dict[int, Tensor] = {}
    hooks = [c.conditioner[-1].register_forward_hook(
        lambda m, inputs, out: features.__setitem__(id(m), inputs[0].detach().mean(0)))
        for c in couplings]
    try:
        loss = -flow.log_prob(x).mean()
        lasts = [c.conditioner[-1] for c in couplings]
        grads = torch.autograd.grad(loss, [p for m in lasts for p in (m.weight, m.bias)])
    finally:
        for h in hooks:
            h.remove()
    signal = []
    for k, m in enumerate(lasts):
        d_weight, d_bias = grads[2 * k], grads[2 * k + 1]
        shift = torch.outer(d_bias, features[id(m)])                   # E[g] E[h]^T
        signal.append(float((d_weight - shift).norm() / shift.norm().clamp_min(1e-12)))
    return signal
