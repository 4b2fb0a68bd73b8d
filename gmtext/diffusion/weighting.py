r"""What each target costs: one network read as any target, and the weighting :math:`w(\lambda)` each loss implies.

On a Gaussian path :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` every target is linear in
:math:`(x_0, \varepsilon)` with :math:`x_t` fixed, so the error of a converted prediction is a
multiple of the :math:`\varepsilon`-error (:func:`error_factor`, chapter 7, eq. (7.9)):

.. math:: \|\hat x_0 - x_0\|^2 = e^{-\lambda}\|\hat\varepsilon - \varepsilon\|^2,\quad
          \|\hat v - v\|^2 = \frac{(\alpha^2+\sigma^2)^2}{\alpha^2}\|\hat\varepsilon - \varepsilon\|^2,\quad
          \|\hat s - s\|^2 = \frac{\|\hat\varepsilon - \varepsilon\|^2}{\sigma^2},\quad
          \|\hat u - u\|^2 = \Big(\dot\sigma - \frac{\dot\alpha\sigma}{\alpha}\Big)^2\|\hat\varepsilon - \varepsilon\|^2 .

A loss :math:`\mathbb E_{t\sim U(0,1)}[\kappa(t)\|\text{target error}\|^2]` is then, with
:math:`\mathrm dt = \mathrm d\lambda/(-\dot\lambda)`, the weighted ELBO of Kingma & Gao (2023,
arXiv:2303.00848)

.. math:: \tfrac12\int w(\lambda)\,\mathbb E\|\hat\varepsilon_\lambda - \varepsilon\|^2\,\mathrm d\lambda,\qquad
          w(\lambda_t) = \frac{2\,\kappa(t)\,c_{\text{target}}(t)}{-\dot\lambda_t}

(:func:`implied_weighting`): :math:`w \equiv 1` is the ELBO (Kingma et al., 2021, arXiv:2107.00630).
:func:`as_target` reads a network trained for one target as a network of another (Salimans & Ho,
2022, arXiv:2202.00512): the samplers then give the same samples. Derived in chapter 7,
eqs. (7.9)-(7.11).

Example:
    >>> import torch
    >>> from gmtext.diffusion.schedules import CosineSchedule
    >>> t = torch.tensor([0.5], dtype=torch.float64)            # lambda = 0
    >>> [round(float(error_factor(CosineSchedule(), t, k)), 4) for k in ("sample", "v_prediction")]
    [1.0, 2.0]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from gmtext.diffusion.parameterization import check_prediction_type, coefficients, convert
from gmtext.diffusion.process import Model
from gmtext.diffusion.schedules import Schedule

__all__ = ["error_factor", "implied_weighting", "as_target", "TargetView", "time_at_log_snr"]


def _times(schedule: Schedule, t: Tensor | float) -> Tensor:
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a gmtext.diffusion Schedule, got {type(schedule).__name__}")
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.ndim > 1:
        raise ValueError(f"t must be a number or a 1-D tensor of times, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()) or not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"times must be finite and lie in [0, 1], got {t.flatten()[:4].tolist()}")
    return t


def error_factor(schedule: Schedule, t: Tensor | float, target: str) -> Tensor:
    r""":math:`c_{\text{target}}(t)`: the squared ``target`` error per unit squared :math:`\varepsilon`-error, float64.

    ``"velocity"`` needs a continuous schedule. At :math:`\alpha_t = 0` the :math:`x_0` factor is
    infinite and at :math:`\sigma_t = 0` the score factor is, as the formulas say. Chapter 7, eq. (7.9).

    Example:
        >>> from gmtext.diffusion.schedules import LinearSchedule
        >>> round(float(error_factor(LinearSchedule(), 0.5, "velocity")), 4)     # 1 / alpha^2
        4.0
    """
    check_prediction_type(target)
    t = _times(schedule, t)
    a, s = schedule.alpha_sigma(t)
    if target == "epsilon":
        return torch.ones_like(a)
    if target == "sample":
        return s**2 / a**2                                        # e^{-lambda}
    if target == "score":
        return 1 / s**2
    if target == "v_prediction":
        return (a**2 + s**2) ** 2 / a**2                          # 1 + e^{-lambda} on a VP path
    da, ds = schedule.derivatives(t)
    return (ds - da * s / a) ** 2


def implied_weighting(schedule: Schedule, t: Tensor | float, target: str,
                      weight: Tensor | float = 1.0) -> Tensor:
    r"""Kingma & Gao's :math:`w(\lambda_t)` of the loss :math:`\mathbb E_{t\sim U(0,1)}[\kappa(t)\|\text{target error}\|^2]`.

    .. math:: w(\lambda_t) = \frac{2\,\kappa(t)\,c_{\text{target}}(t)}{-\dot\lambda_t}

    so that the loss is :math:`\tfrac12\int w(\lambda)\,\mathbb E\|\hat\varepsilon_\lambda - \varepsilon\|^2\,\mathrm d\lambda`;
    :math:`w\equiv 1` is the ELBO (e.g. ``weight`` :math:`= -\tfrac12\dot\lambda_t` on the
    :math:`\varepsilon` error, :func:`~gmtext.diffusion.losses.elbo_weight`). Needs a continuous
    schedule. Chapter 7, eq. (7.11).

    Args:
        schedule: the path the times are drawn on (uniformly).
        t: times, a number or ``(B,)``, in [0, 1].
        target: the regressed quantity (see :data:`~gmtext.diffusion.parameterization.TARGETS`).
        weight: :math:`\kappa(t)`, a number or a tensor of ``t``'s shape.

    Example:
        >>> from gmtext.diffusion.schedules import CosineSchedule
        >>> import math
        >>> w = implied_weighting(CosineSchedule(), 0.5, "epsilon")     # sech(lambda / 2) / pi at lambda = 0
        >>> round(float(w) * math.pi, 6)
        1.0
    """
    check_prediction_type(target)
    t = _times(schedule, t)
    if not getattr(schedule, "continuous", False):
        raise ValueError(f"the implied weighting needs a continuous schedule (d lambda / dt), got "
                         f"{type(schedule).__name__}")
    weight = torch.as_tensor(weight, dtype=torch.float64)
    if weight.ndim and weight.shape != t.shape:
        raise ValueError(f"weight must be a number or have the shape of t, {tuple(t.shape)}, got {tuple(weight.shape)}")
    if not bool(torch.isfinite(weight).all()):
        raise ValueError("weight must be finite")
    return 2 * weight * error_factor(schedule, t, target) / -schedule.d_log_snr(t)


class TargetView(nn.Module):
    r"""A network trained for ``source`` read as a network of ``target`` on the same path (eq. (7.8)).

    ``TargetView(net, schedule, "epsilon", "velocity")(x_t, t)`` is :math:`\dot\alpha_t\hat x_0 +
    \dot\sigma_t\hat\varepsilon` of the :math:`\varepsilon`-network; the network is called once.
    """

    def __init__(self, model: Model, schedule: Schedule, source: str, target: str) -> None:
        super().__init__()
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a gmtext.diffusion Schedule, got {type(schedule).__name__}")
        self.model, self.schedule = model, schedule
        self.source, self.target = check_prediction_type(source), check_prediction_type(target)
        if "velocity" in (source, target) and not schedule.continuous:
            raise ValueError("a velocity view needs a continuous schedule (time derivatives)")

    def forward(self, x_t: Tensor, t: Tensor, **condition: Any) -> Tensor:
        out = self.model(x_t, t, **condition)
        if self.source == self.target:
            return out
        return convert(out, self.source, self.target, x_t, *coefficients(self.schedule, t, x_t))


def as_target(model: Model, schedule: Schedule, source: str, target: str) -> TargetView:
    r"""``model`` (predicting ``source``) as a model predicting ``target``: a :class:`TargetView`.

    Example:
        >>> import torch
        >>> from gmtext.diffusion.schedules import VPSchedule
        >>> eps_net = lambda x, t: torch.zeros_like(x)             # predicts epsilon = 0
        >>> x0_net = as_target(eps_net, VPSchedule(), "epsilon", "sample")
        >>> a = float(VPSchedule().alpha_sigma(torch.tensor(0.3))[0])
        >>> x = torch.ones(1, 2)
        >>> bool(torch.allclose(x0_net(x, torch.tensor([0.3])), x / a))     # x0 = x_t / alpha
        True
    """
    return TargetView(model, schedule, source, target)


def time_at_log_snr(schedule: Schedule, log_snr: float, tol: float = 1e-12) -> float:
    r"""The time :math:`t\in[0, 1]` at which ``schedule`` reaches :math:`\lambda_t` = ``log_snr`` (bisection).

    :math:`\lambda_t` decreases with :math:`t` on every path of the book, so two paths cover the
    same range of noise levels on ``(time_at_log_snr(a, hi), time_at_log_snr(a, lo))`` and
    ``(time_at_log_snr(b, hi), time_at_log_snr(b, lo))``: the end points of :func:`~gmtext.diffusion.hvae.continuous_diffusion_loss`, eq. (7.7).

    Raises:
        ValueError: if ``log_snr`` is not finite or lies outside the schedule's range.

    Example:
        >>> from gmtext.diffusion.schedules import LinearSchedule
        >>> round(time_at_log_snr(LinearSchedule(), 0.0), 6)         # alpha = sigma at t = 1/2
        0.5
    """
    if not math.isfinite(log_snr):
        raise ValueError(f"log_snr must be finite, got {log_snr}")
    lam = lambda t: float(schedule.log_snr(torch.tensor(t, dtype=torch.float64)))  # noqa: E731
    lo, hi = 0.0, 1.0
    top, bottom = lam(lo), lam(hi)
    if not bottom <= log_snr <= top:
        raise ValueError(f"log_snr={log_snr:.4g} lies outside the range [{bottom:.4g}, {top:.4g}] of {schedule!r}")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if lam(mid) > log_snr else (lo, mid)
    return 0.5 * (lo + hi)
