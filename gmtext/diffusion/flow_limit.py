r"""The probability-flow ODE as the limit of a composition of invertible maps (chapter 4's change of variables).

One Euler step :math:`x \mapsto x + h\,v(x, t)` of an ODE is, for small :math:`h`, an invertible map,
a flow layer; :math:`K` steps are a flow of :math:`K` layers, and chapter 4's change of variables
for a composition (eq. (4.4)) gives

.. math:: \log p_{t_0}(x) = \log p_{t_K}(x_K) + \sum_{k=0}^{K-1}\log\big|\det(I + h_k\,\partial_x v(x_k, t_k))\big|,

with :math:`\log|\det(I + hJ)| = h\,\mathrm{tr}J + O(h^2)`: as :math:`K\to\infty` the sum becomes
:math:`\int\nabla\!\cdot v\,\mathrm dt`, the instantaneous change of variables of
:func:`gmtext.ode.log_prob_by_ode` (Chen et al., 2018, arXiv:1806.07366). The error is
:math:`O(1/K)`. Exact Jacobians (autograd, one backward pass per dimension): for low dimensions.
Derived in chapter 7, eq. (7.13).

Example:
    >>> import torch
    >>> from gmtext.distributions import standard_normal_log_prob
    >>> x = torch.zeros(1, 2, dtype=torch.float64)
    >>> times = torch.linspace(0, 1, 101, dtype=torch.float64)
    >>> lp = euler_flow_log_prob(lambda y, t: y, x, times, standard_normal_log_prob)   # x_1 = e x_0
    >>> round(float(lp + 1.8379), 2)                                                    # 2 log(1.01^100)
    1.99
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gmtext.ode import Velocity

__all__ = ["euler_flow_log_prob"]


def euler_flow_log_prob(velocity: Velocity, x: Tensor, times: Tensor,
                        prior_log_prob: Callable[[Tensor], Tensor]) -> Tensor:
    r""":math:`\log p(x)` ``(B,)`` of the flow made of the Euler steps of ``velocity`` on ``times``.

    Args:
        velocity: ``v(x, t)`` with ``t`` of shape ``(B,)``.
        x: points ``(B, D)`` at ``times[0]`` (the data end).
        times: strictly monotone 1-D times, ``times[-1]`` the end where ``prior_log_prob`` holds.
        prior_log_prob: the log-density at ``times[-1]``, ``(B, D) -> (B,)``.

    Raises:
        ValueError: for ``x`` not ``(B, D)`` or not finite, or times that are not strictly monotone.
    """
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a tensor (B, D), got {tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    times = torch.as_tensor(times, dtype=torch.float64)
    steps = times[1:] - times[:-1]
    if times.ndim != 1 or len(times) < 2 or not (bool((steps > 0).all()) or bool((steps < 0).all())):
        raise ValueError("times must be a 1-D tensor of at least two strictly monotone time points")
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for t, h in zip(times[:-1].tolist(), steps.tolist()):
        t_batch = torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)
        with torch.enable_grad():
            y = x.detach().requires_grad_(True)
            v = velocity(y, t_batch)                                     # (B, D)
            rows = [torch.autograd.grad(v[:, i].sum(), y, retain_graph=i + 1 < x.shape[1])[0]
                    for i in range(x.shape[1])]
        jac = torch.stack(rows, dim=1)                                   # (B, D, D): d v_i / d x_j
        log_det += torch.linalg.slogdet(eye + h * jac)[1]               # one layer of chapter 4
        x = (y + h * v).detach()
    return prior_log_prob(x) + log_det
