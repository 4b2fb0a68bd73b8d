r"""One weighted denoising loss for every Gaussian path: DSM/NCSN, DDPM's L_simple, flow matching, the VDM bound.

Draw a time :math:`t`, noise :math:`\varepsilon\sim\mathcal N(0, I)`, form
:math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`, and regress the network's output, converted to
the ``target`` quantity, on that quantity's true value:

.. math:: \mathcal L(\theta) = \mathbb E_{t, x_0, \varepsilon}\Big[w(t)\,
          \big\|\mathrm{target}_\theta(x_t, t) - \mathrm{target}(x_0, \varepsilon)\big\|^2\Big].

The families of the book are choices of (path, output, target, weighting, reduction):

===================================  =========  ===========  ===========  ======================  ========
loss                                 path       output       target       :math:`w(t)`            pixels
===================================  =========  ===========  ===========  ======================  ========
NCSN (chapter 5, eq. (5.11))         VE ladder  score        epsilon      1/2                      sum
L_simple (Ho et al., eq. (14))       DDPM/VP    epsilon      epsilon      1                        mean
conditional flow matching (6.x)      linear     velocity     velocity     1                        sum
VDM diffusion term (Kingma et al.)   learned    sample       sample       ``"elbo"``               sum
===================================  =========  ===========  ===========  ======================  ========

``"elbo"`` is :math:`w = -\tfrac12\dot\lambda_t e^{\lambda_t}` on the :math:`x_0` error (equivalently
:math:`-\tfrac12\dot\lambda_t` on the :math:`\varepsilon` error): with it the loss is the
continuous-time diffusion term of the negative ELBO (Kingma et al., 2021, eq. (17); chapter 7).

Example:
    >>> import torch
    >>> from gmtext.diffusion.schedules import LinearSchedule
    >>> x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    >>> exact = lambda x_t, t: torch.zeros_like(x_t)        # not a good model
    >>> loss = denoising_loss(exact, LinearSchedule(), x0, torch.Generator().manual_seed(1),
    ...                       prediction_type="velocity", reduction="sum")
    >>> loss.shape, bool(loss.mean() > 0)
    (torch.Size([64]), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from gmtext._validate import check_same_device
from gmtext.diffusion.parameterization import (check_prediction_type, coefficients, from_x0_and_epsilon,
                                               to_x0_and_epsilon)
from gmtext.diffusion.process import Model, noise_like, sample_times
from gmtext.diffusion.schedules import Schedule

__all__ = ["WEIGHTINGS", "REDUCTIONS", "denoising_loss", "elbo_weight"]

#: Named weightings :math:`w(t)` (a number or a callable ``w(schedule, t) -> (B,)`` is accepted too).
WEIGHTINGS: tuple[str, ...] = ("uniform", "elbo")
#: How the squared error of one example is reduced over its dimensions.
REDUCTIONS: tuple[str, ...] = ("mean", "sum")


def elbo_weight(schedule: Schedule, t: Tensor, target: str) -> Tensor:
    r"""The weight that turns the squared ``target`` error into the ELBO's diffusion integrand, ``(B,)``.

    .. math:: -\tfrac12\,\dot\lambda_t\, e^{\lambda_t}\ \text{on}\ \|x_0 - \hat x_0\|^2,
              \qquad -\tfrac12\,\dot\lambda_t\ \text{on}\ \|\varepsilon - \hat\varepsilon\|^2

    (since :math:`\|x_0 - \hat x_0\|^2 = e^{-\lambda_t}\|\varepsilon - \hat\varepsilon\|^2`). Kingma
    et al. (2021, arXiv:2107.00630), eq. (17); derived in chapter 7.
    """
    d_lam = schedule.d_log_snr(t)
    if target == "sample":
        return -0.5 * d_lam * torch.exp(schedule.log_snr(t))
    if target == "epsilon":
        return -0.5 * d_lam
    raise ValueError(f"the 'elbo' weighting is defined here for target 'sample' or 'epsilon', got {target!r}")


def denoising_loss(model: Model, schedule: Schedule, x0: Tensor, generator: torch.Generator | None = None,
                   *, prediction_type: str = "epsilon", target: str | None = None,
                   weighting: str | float | Callable[[Schedule, Tensor], Tensor] = "uniform",
                   reduction: str = "mean", t: Tensor | None = None, noise: Tensor | None = None,
                   power: float = 1.0, condition: dict[str, Any] | None = None) -> Tensor:
    r"""The per-example weighted denoising loss ``(B,)`` (module docstring); ``.mean()`` is the training loss.

    Args:
        model: ``model(x_t, t, **condition)`` returning a ``prediction_type`` of ``x0``'s shape.
        schedule: the Gaussian path (any :class:`~gmtext.diffusion.schedules.Schedule`).
        x0: clean data ``(B, ...)``.
        generator: draws ``t`` (first) and then the noise, unless they are given.
        prediction_type: what ``model`` outputs.
        target: the quantity regressed (default: ``prediction_type``); the output is converted to it.
        weighting: ``"uniform"``, ``"elbo"``, a number, or ``w(schedule, t) -> (B,)``.
        reduction: ``"mean"`` or ``"sum"`` of the squared error over the dimensions of one example.
        t: times ``(B,)``; by default :func:`~gmtext.diffusion.process.sample_times` (the grid
            :math:`k/T` of a discrete schedule, else :math:`U(10^{-3}, 1)`, skewed by ``power``).
        noise: :math:`\varepsilon`, by default drawn like ``x0``.
        condition: keyword arguments passed to ``model`` unchanged (a class label, a caption).

    Raises:
        ValueError: on an unknown option (the valid ones are listed), a model output whose shape
            differs from ``x0``'s (never broadcast) or that holds NaN, or a ``t`` or ``noise`` of
            the wrong shape.
    """
    target = check_prediction_type(prediction_type if target is None else target)
    check_prediction_type(prediction_type)
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")
    if isinstance(weighting, str) and weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; valid: {', '.join(WEIGHTINGS)}, a number "
                         "or a callable w(schedule, t)")
    if not isinstance(x0, Tensor) or x0.ndim < 2 or x0.shape[0] == 0:
        raise ValueError(f"x0 must be a tensor (B, ...) with B >= 1, got "
                         f"{tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__}")
    b = x0.shape[0]
    t = sample_times(schedule, b, generator, power=power).to(x0.device) if t is None else t
    if not isinstance(t, Tensor) or t.shape != (b,):
        raise ValueError(f"t must have shape ({b},), got {tuple(t.shape) if isinstance(t, Tensor) else t!r}")
    noise = noise_like(x0, generator) if noise is None else noise
    if noise.shape != x0.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, x0 has {tuple(x0.shape)}")
    check_same_device(t, x0, "t", "x0")
    check_same_device(noise, x0, "noise", "x0")
    a, s, da, ds = coefficients(schedule, t, x0)
    x_t = a * x0 + s * noise                                           # eq. (6.2)
    out = model(x_t, t.to(x0.dtype), **(condition or {}))
    if not isinstance(out, Tensor) or out.shape != x0.shape:
        raise ValueError(f"the model output must have the shape of x0, {tuple(x0.shape)}, got "
                         f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}")
    check_same_device(out, x0, "the model output", "x0")
    if not bool(torch.isfinite(out).all()):
        bad = t[~torch.isfinite(out.detach()).flatten(1).all(1)]
        raise ValueError(f"the model returned NaN or inf at t = {bad[:3].tolist()} "
                         "(check the network, and that x0 is finite)")
    if target != prediction_type:                                      # e.g. a score net, eps error
        out = from_x0_and_epsilon(*to_x0_and_epsilon(out, prediction_type, x_t, a, s, da, ds),
                                  target, a, s, da, ds)
    err = (out - from_x0_and_epsilon(x0, noise, target, a, s, da, ds)).pow(2).flatten(1)   # (B, D)
    err = err.mean(1) if reduction == "mean" else err.sum(1)                               # (B,)
    if weighting == "uniform":
        return err
    if weighting == "elbo":
        return elbo_weight(schedule, t, target).to(err) * err
    if callable(weighting):
        return weighting(schedule, t).to(err) * err
    return float(weighting) * err
