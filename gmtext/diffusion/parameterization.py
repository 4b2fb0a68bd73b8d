r"""What a network predicts: one converter between :math:`x_0`, :math:`\varepsilon`, :math:`v`, the score and the velocity.

Given :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`, any one of these determines the others
(with :math:`x_t` and the path's coefficients known):

.. math::
    \varepsilon = \frac{x_t - \alpha_t x_0}{\sigma_t},\qquad
    v = \alpha_t\varepsilon - \sigma_t x_0,\qquad
    \nabla_{x_t}\log q(x_t) = -\frac{\varepsilon}{\sigma_t},\qquad
    \dot x_t = \dot\alpha_t x_0 + \dot\sigma_t\varepsilon:

the noise, :math:`v` (Salimans & Ho, 2022, arXiv:2202.00512), the score (Tweedie's formula) and
the velocity of flow matching.

From :math:`v`: :math:`x_0 = (\alpha_t x_t - \sigma_t v)/(\alpha_t^2+\sigma_t^2)`,
:math:`\varepsilon = (\sigma_t x_t + \alpha_t v)/(\alpha_t^2+\sigma_t^2)`; from the velocity
:math:`u`: :math:`x_0 = (\dot\sigma_t x_t - \sigma_t u)/\Delta`,
:math:`\varepsilon = (\alpha_t u - \dot\alpha_t x_t)/\Delta` with
:math:`\Delta = \alpha_t\dot\sigma_t - \sigma_t\dot\alpha_t`. Derived in chapter 6, eq. (6.6)
and section 6.x; chapter 7 unifies them.

The names of the network's target follow diffusers: ``prediction_type`` is ``"epsilon"``,
``"sample"`` (:math:`x_0`), ``"v_prediction"``, ``"score"`` or ``"velocity"``; only
``"velocity"`` needs the derivatives (pass ``d_alpha``, ``d_sigma``, or use :func:`convert_at`,
which takes them from the schedule).

Example:
    >>> import torch
    >>> x0, eps = torch.tensor([[1.0]]), torch.tensor([[0.5]])
    >>> a, s = torch.tensor(0.6), torch.tensor(0.8)
    >>> xt = a * x0 + s * eps
    >>> convert(eps, "epsilon", "sample", xt, a, s).item()
    1.0
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

#: What a network may be trained to predict.
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "sample", "v_prediction", "score", "velocity")
#: Everything :func:`convert` understands (the same five).
TARGETS: tuple[str, ...] = PREDICTION_TYPES


def check_prediction_type(prediction_type: str, allowed: tuple[str, ...] = PREDICTION_TYPES) -> str:
    """Return ``prediction_type`` if it is one of ``allowed``, else raise a ValueError listing them."""
    if prediction_type not in allowed:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; valid: {', '.join(allowed)}")
    return prediction_type


def broadcast_coefficient(c: Tensor | float, x: Tensor) -> Tensor:
    """A scalar or per-example ``(B,)`` coefficient reshaped to broadcast against ``x`` ``(B, D...)``."""
    if not isinstance(c, Tensor):
        return x.new_tensor(float(c))
    c = c.to(dtype=x.dtype, device=x.device)
    if c.ndim == 0:
        return c
    if c.ndim == 1 and c.shape[0] == x.shape[0]:
        return c.reshape(-1, *([1] * (x.ndim - 1)))
    if c.shape == x.shape or (c.ndim == x.ndim and c.shape[0] == x.shape[0] and c[0].numel() == 1):
        return c                                           # already shaped (B, 1, ...) or like x
    raise ValueError(f"a coefficient must be a number or have shape ({x.shape[0]},), "
                     f"got {tuple(c.shape)} for x of shape {tuple(x.shape)}")


def to_x0_and_epsilon(output: Tensor, prediction_type: str, x_t: Tensor, alpha: Tensor | float,
                      sigma: Tensor | float, d_alpha: Tensor | float | None = None,
                      d_sigma: Tensor | float | None = None) -> tuple[Tensor, Tensor]:
    r"""Both :math:`\hat x_0` and :math:`\hat\varepsilon` from a network output of any target type."""
    check_prediction_type(prediction_type, TARGETS)
    if not isinstance(output, Tensor) or output.shape != x_t.shape:
        got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise ValueError(f"the model output must have the shape of x_t, {tuple(x_t.shape)}, got {got}")
    a, s = broadcast_coefficient(alpha, x_t), broadcast_coefficient(sigma, x_t)
    if prediction_type == "epsilon":
        eps = output
        return (x_t - s * eps) / a, eps                      # x0 = (x_t - sigma eps) / alpha
    if prediction_type == "score":
        eps = -s * output                                    # eps = -sigma * score
        return (x_t - s * eps) / a, eps
    if prediction_type == "sample":
        x0 = output
        return x0, (x_t - a * x0) / s                        # eps = (x_t - alpha x0) / sigma
    if prediction_type == "velocity":
        if d_alpha is None or d_sigma is None:
            raise ValueError("converting a velocity needs the derivatives d_alpha and d_sigma "
                             "(use convert_at with a continuous schedule)")
        da, ds = broadcast_coefficient(d_alpha, x_t), broadcast_coefficient(d_sigma, x_t)
        det = a * ds - s * da                                # 1 for the linear path
        return (ds * x_t - s * output) / det, (a * output - da * x_t) / det
    norm = a**2 + s**2                                       # = 1 for a VP schedule
    return (a * x_t - s * output) / norm, (s * x_t + a * output) / norm


def from_x0_and_epsilon(x0: Tensor, eps: Tensor, target: str, alpha: Tensor | float, sigma: Tensor | float,
                        d_alpha: Tensor | float | None = None,
                        d_sigma: Tensor | float | None = None) -> Tensor:
    r"""The quantity ``target`` of the pair :math:`(x_0, \varepsilon)`: the regression target of a network."""
    check_prediction_type(target, TARGETS)
    if target == "sample":
        return x0
    if target == "epsilon":
        return eps
    a, s = broadcast_coefficient(alpha, x0), broadcast_coefficient(sigma, x0)
    if target == "score":
        return -eps / s
    if target == "v_prediction":
        return a * eps - s * x0                               # v = alpha eps - sigma x0
    if d_alpha is None or d_sigma is None:
        raise ValueError("a velocity needs the derivatives d_alpha and d_sigma (a continuous schedule)")
    return broadcast_coefficient(d_alpha, x0) * x0 + broadcast_coefficient(d_sigma, x0) * eps


def convert(output: Tensor, source: str, target: str, x_t: Tensor, alpha: Tensor | float,
            sigma: Tensor | float, d_alpha: Tensor | float | None = None,
            d_sigma: Tensor | float | None = None) -> Tensor:
    r"""Convert a prediction of type ``source`` into type ``target`` (both in :data:`TARGETS`).

    ``alpha``, ``sigma`` (and for ``"velocity"`` ``d_alpha``, ``d_sigma``) are numbers or
    per-example ``(B,)`` tensors. Where :math:`\sigma_t = 0` (no noise) :math:`\varepsilon` and the
    score are undefined, and where :math:`\alpha_t = 0` :math:`x_0` is: those conversions give
    inf/NaN, as the formulas do.

    Example:
        >>> import torch
        >>> xt, v = torch.tensor([[1.0]]), torch.tensor([[0.2]])
        >>> round(convert(v, "v_prediction", "score", xt, 0.6, 0.8).item(), 4)   # eps = 0.92
        -1.15
    """
    check_prediction_type(target, TARGETS)
    x0, eps = to_x0_and_epsilon(output, source, x_t, alpha, sigma, d_alpha, d_sigma)
    return from_x0_and_epsilon(x0, eps, target, alpha, sigma, d_alpha, d_sigma)


def coefficients(schedule: Any, t: Tensor | float, x: Tensor,
                 derivatives: bool = True) -> tuple[Tensor, ...]:
    r"""The path's :math:`\alpha_t, \sigma_t` (and :math:`\dot\alpha_t, \dot\sigma_t` when ``derivatives``
    and the schedule is continuous; else ``None``), shaped to broadcast against ``x`` ``(B, ...)``.

    ``t`` is a number or ``(B,)``; the coefficients are computed in float64 and cast to ``x``'s dtype.
    """
    t = torch.as_tensor(t).detach().double()        # float64: precise coefficients near t = 0
    a, s = schedule.alpha_sigma(t)
    out = [broadcast_coefficient(a, x), broadcast_coefficient(s, x)]
    if derivatives and getattr(schedule, "continuous", True):
        da, ds = schedule.derivatives(t)
        out += [broadcast_coefficient(da, x), broadcast_coefficient(ds, x)]
    else:
        out += [None, None]
    return tuple(out)


def convert_at(schedule: Any, output: Tensor, source: str, target: str, x_t: Tensor,
               t: Tensor | float) -> Tensor:
    r""":func:`convert` at time ``t`` of ``schedule`` (any :class:`~gmtext.diffusion.schedules.Schedule`).

    Example:
        >>> import torch
        >>> from gmtext.diffusion.schedules import LinearSchedule
        >>> x0, eps = torch.tensor([[2.0]]), torch.tensor([[1.0]])
        >>> xt = 0.5 * x0 + 0.5 * eps                          # the linear path at t = 1/2
        >>> convert_at(LinearSchedule(), eps, "epsilon", "velocity", xt, 0.5).item()   # eps - x0
        -1.0
    """
    return convert(output, source, target, x_t, *coefficients(schedule, t, x_t))


class ClippedDenoiser(nn.Module):
    r"""A network's denoiser with :math:`\hat x_0` clamped to the data range; it predicts :math:`\varepsilon`.

    .. math:: \tilde x_0 = \mathrm{clamp}\big(\hat x_0(x_t, t), -b, b\big),\qquad
              \tilde\varepsilon = (x_t - \alpha_t\tilde x_0)/\sigma_t

    The samplers' ``clip_sample`` applies the same clamp inside each step; this wrapper applies it
    to the *model*, so that the probability-flow ODE and its likelihood use it too. Why it matters
    (chapter 6, the digits likelihood): for data in :math:`[-b, b]` the exact :math:`x_0`-predictor
    is bounded, so far from the data the exact velocity only rescales :math:`x_t`. A trained
    network extrapolates there instead; its ODE can then carry an unusual test image ever farther
    out, and the density assigned to it collapses. With the clamp, the far field is exact.

    Args:
        model: the network, ``model(x_t, t)``.
        schedule: its schedule (anything with ``alpha_sigma(t)``).
        prediction_type: what ``model`` predicts.
        bound: :math:`b > 0`, the largest absolute value of the data (1 for the signed digits).
    """

    def __init__(self, model: nn.Module, schedule: Any, prediction_type: str = "epsilon",
                 bound: float = 1.0) -> None:
        super().__init__()
        check_prediction_type(prediction_type)
        if not callable(getattr(schedule, "alpha_sigma", None)):
            raise TypeError(f"schedule must have alpha_sigma(t), got {type(schedule).__name__}")
        if not bound > 0:
            raise ValueError(f"bound must be positive, got {bound}")
        self.model, self.schedule = model, schedule
        self.prediction_type, self.bound = prediction_type, float(bound)

    def forward(self, x_t: Tensor, t: Tensor, **condition: Any) -> Tensor:
        a, s, da, ds = coefficients(self.schedule, t, x_t)
        x0, _ = to_x0_and_epsilon(self.model(x_t, t, **condition), self.prediction_type, x_t, a, s, da, ds)
        return (x_t - a * x0.clamp(-self.bound, self.bound)) / s


__all__ = ["PREDICTION_TYPES", "TARGETS", "check_prediction_type", "broadcast_coefficient",
           "to_x0_and_epsilon", "from_x0_and_epsilon", "convert", "convert_at", "coefficients",
           "ClippedDenoiser"]
