r"""What a diffusion network predicts: converters between :math:`x_0`, :math:`\varepsilon`, :math:`v` and the score.

Given :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`, any one of these determines the others
(with :math:`x_t`, :math:`\alpha_t`, :math:`\sigma_t` known):

.. math::
    \varepsilon = \frac{x_t - \alpha_t x_0}{\sigma_t},\qquad
    v = \alpha_t\varepsilon - \sigma_t x_0 \ \text{(Salimans \& Ho, 2022, arXiv:2202.00512)},\qquad
    \nabla_{x_t}\log q(x_t) \approx -\frac{\varepsilon}{\sigma_t}\ \text{(Tweedie)}.

From :math:`v`: :math:`x_0 = (\alpha_t x_t - \sigma_t v)/(\alpha_t^2+\sigma_t^2)`,
:math:`\varepsilon = (\sigma_t x_t + \alpha_t v)/(\alpha_t^2+\sigma_t^2)` (the denominator is 1
for a variance-preserving schedule). Derived in chapter 6, eq. (6.6); chapter 7 unifies them.

The names of the network's target follow diffusers: ``prediction_type`` is ``"epsilon"``,
``"sample"`` (:math:`x_0`) or ``"v_prediction"``; ``"score"`` is accepted by :func:`convert` too.

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
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "sample", "v_prediction")
#: Everything :func:`convert` understands.
TARGETS: tuple[str, ...] = PREDICTION_TYPES + ("score",)


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
    if c.shape == x.shape:
        return c
    raise ValueError(f"a coefficient must be a number or have shape ({x.shape[0]},), "
                     f"got {tuple(c.shape)} for x of shape {tuple(x.shape)}")


def to_x0_and_epsilon(output: Tensor, prediction_type: str, x_t: Tensor, alpha: Tensor | float,
                      sigma: Tensor | float) -> tuple[Tensor, Tensor]:
    r"""Both :math:`\hat x_0` and :math:`\hat\varepsilon` from a network output of any target type."""
    check_prediction_type(prediction_type, TARGETS)
    if output.shape != x_t.shape:
        raise ValueError(f"output has shape {tuple(output.shape)}, x_t has {tuple(x_t.shape)}")
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
    norm = a**2 + s**2                                       # = 1 for a VP schedule
    return (a * x_t - s * output) / norm, (s * x_t + a * output) / norm


def convert(output: Tensor, source: str, target: str, x_t: Tensor, alpha: Tensor | float,
            sigma: Tensor | float) -> Tensor:
    r"""Convert a prediction of type ``source`` into type ``target`` (both in :data:`TARGETS`).

    ``alpha`` and ``sigma`` are numbers or per-example ``(B,)`` tensors. Where :math:`\sigma_t = 0`
    (no noise) :math:`\varepsilon` and the score are undefined, and where :math:`\alpha_t = 0`
    :math:`x_0` is: those conversions give inf/NaN, as the formulas do.

    Example:
        >>> import torch
        >>> xt, v = torch.tensor([[1.0]]), torch.tensor([[0.2]])
        >>> round(convert(v, "v_prediction", "score", xt, 0.6, 0.8).item(), 4)   # eps = 0.92
        -1.15
    """
    check_prediction_type(target, TARGETS)
    x0, eps = to_x0_and_epsilon(output, source, x_t, alpha, sigma)
    a, s = broadcast_coefficient(alpha, x_t), broadcast_coefficient(sigma, x_t)
    if target == "sample":
        return x0
    if target == "epsilon":
        return eps
    if target == "score":
        return -eps / s
    return a * eps - s * x0                                   # v = alpha eps - sigma x0


def target_for(prediction_type: str, x0: Tensor, noise: Tensor, alpha: Tensor | float,
               sigma: Tensor | float) -> Tensor:
    r"""The regression target of a network of type ``prediction_type`` for the pair :math:`(x_0, \varepsilon)`."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    a, s = broadcast_coefficient(alpha, x0), broadcast_coefficient(sigma, x0)
    return a * noise - s * x0


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

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        alpha, sigma = self.schedule.alpha_sigma(torch.as_tensor(t, dtype=torch.float64).cpu())
        x0, _ = to_x0_and_epsilon(self.model(x_t, t), self.prediction_type, x_t, alpha, sigma)
        a, s = broadcast_coefficient(alpha, x_t), broadcast_coefficient(sigma, x_t)
        return (x_t - a * x0.clamp(-self.bound, self.bound)) / s


__all__ = ["PREDICTION_TYPES", "TARGETS", "check_prediction_type", "broadcast_coefficient",
           "to_x0_and_epsilon", "convert", "target_for", "ClippedDenoiser"]
