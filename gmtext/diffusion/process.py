r"""The forward (noising) process and its posterior, for any Gaussian path.

With a schedule :math:`(\alpha_t, \sigma_t)` (see :mod:`gmtext.diffusion.schedules`) and data at
:math:`t = 0` (Ho et al., 2020, arXiv:2006.11239; Kingma et al., 2021, arXiv:2107.00630):

.. math::
    q(x_t \mid x_0) = \mathcal N(\alpha_t x_0, \sigma_t^2 I), \qquad
    q(x_s \mid x_t, x_0) = \mathcal N\big(\tilde\mu_{s|t},\ \tilde\sigma_{s|t}^2 I\big),\ s < t,

    \tilde\mu_{s|t} = \frac{\alpha_{t|s}\sigma_s^2}{\sigma_t^2}x_t + \frac{\alpha_s\sigma_{t|s}^2}{\sigma_t^2}x_0,\qquad
    \tilde\sigma_{s|t}^2 = \frac{\sigma_{t|s}^2\sigma_s^2}{\sigma_t^2},\qquad
    \alpha_{t|s} = \frac{\alpha_t}{\alpha_s},\ \sigma_{t|s}^2 = \sigma_t^2 - \alpha_{t|s}^2\sigma_s^2.

For DDPM's neighbouring steps :math:`s = t - 1/T` these are Ho et al.'s eqs. (6)-(7):
:math:`\sigma_{t|s}^2 = \beta_k`. A network is called as ``model(x_t, t)`` with ``t`` of shape ``(B,)``.
Derived in chapter 6, eqs. (6.2)-(6.3) and (6.6).

Example:
    >>> from gmtext.diffusion.ddpm import DiscreteSchedule
    >>> sched = DiscreteSchedule.from_name("linear", 10)
    >>> mean, var = posterior_mean_variance(sched, torch.zeros(1, 2), torch.ones(1, 2), 0.5)
    >>> bool(torch.allclose(var.double(), sched.betas[5] * (1 - sched.alpha_bar[4]) / (1 - sched.alpha_bar[5])))
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gmtext.config import generator_device
from gmtext.diffusion.parameterization import broadcast_coefficient
from gmtext.diffusion.ddpm import DiscreteSchedule
from gmtext.diffusion.schedules import Schedule

#: ``model(x_t, t, **condition) -> prediction`` with ``t`` of shape ``(B,)`` in [0, 1]; a condition
#: (a class label, a caption embedding) passes through every loss and sampler untouched.
Model = Callable[..., Tensor]


def q_mean_std(schedule: Schedule, x0: Tensor, t: Tensor | float) -> tuple[Tensor, Tensor]:
    r"""Mean :math:`\alpha_t x_0` and standard deviation :math:`\sigma_t` (broadcastable) of :math:`q(x_t \mid x_0)`."""
    a, s = _alpha_sigma(schedule, t, x0)
    return a * x0, s


def q_sample(schedule: Schedule, x0: Tensor, t: Tensor | float, noise: Tensor | None = None,
             generator: torch.Generator | None = None) -> Tensor:
    r"""Draw :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` in one shot (the closed form of eq. (6.2)).

    ``t`` is a number or a ``(B,)`` tensor; ``noise`` (:math:`\varepsilon`) is drawn from
    ``generator`` when not given.
    """
    noise = noise_like(x0, generator) if noise is None else noise
    if noise.shape != x0.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, x0 has {tuple(x0.shape)}")
    a, s = _alpha_sigma(schedule, t, x0)
    return a * x0 + s * noise


def posterior_mean_variance(schedule: Schedule, x0: Tensor, x_t: Tensor, t: Tensor | float,
                            s: Tensor | float | None = None) -> tuple[Tensor, Tensor]:
    r"""Mean and variance of :math:`q(x_s \mid x_t, x_0)` (module docstring); variance broadcastable.

    ``s`` defaults to the previous DDPM step :math:`t - 1/T` for a :class:`~gmtext.diffusion.ddpm.DiscreteSchedule` and
    must be given for a continuous one. At :math:`s = 0` the posterior is the point mass at :math:`x_0`.
    """
    if x0.shape != x_t.shape:
        raise ValueError(f"x0 has shape {tuple(x0.shape)}, x_t has {tuple(x_t.shape)}")
    if s is None:
        if not isinstance(schedule, DiscreteSchedule):
            raise ValueError("pass s < t: a continuous schedule has no 'previous step'")
        s = torch.as_tensor(t, dtype=torch.float64) - 1.0 / schedule.num_steps
    coef_xt, coef_x0, var = posterior_coefficients(schedule, t, s)
    c_xt, c_x0 = broadcast_coefficient(coef_xt, x_t), broadcast_coefficient(coef_x0, x_t)
    return c_xt * x_t + c_x0 * x0, broadcast_coefficient(var, x_t)


def posterior_coefficients(schedule: Schedule, t: Tensor | float,
                           s: Tensor | float) -> tuple[Tensor, Tensor, Tensor]:
    r"""The float64 coefficients :math:`(\alpha_{t|s}\sigma_s^2/\sigma_t^2,\ \alpha_s\sigma_{t|s}^2/\sigma_t^2,\ \tilde\sigma_{s|t}^2)`."""
    t, s = torch.as_tensor(t, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)
    if bool((s >= t).any()) or bool((s < 0).any()):
        raise ValueError(f"the posterior q(x_s | x_t, x_0) needs 0 <= s < t, got s={s.tolist()}, t={t.tolist()}")
    a_t, s_t = schedule.alpha_sigma(t)
    a_s, s_s = schedule.alpha_sigma(s)
    a_ts = a_t / a_s                                        # alpha_{t|s}
    var_ts = s_t**2 - a_ts**2 * s_s**2                      # sigma_{t|s}^2
    return a_ts * s_s**2 / s_t**2, a_s * var_ts / s_t**2, var_ts * s_s**2 / s_t**2


def sample_times(schedule: Schedule, n: int, generator: torch.Generator | None = None,
                 t_min: float = 1e-3, power: float = 1.0) -> Tensor:
    r"""Training times, float32 ``(n,)``: :math:`t = k/T`, :math:`k \sim U\{1..T\}` (discrete) or :math:`t \sim U(t_{\min}, 1)`.

    ``power > 1`` draws :math:`u^{\text{power}}` instead of :math:`u`, more small times, where the
    fine detail of the data is learnt (the toys with narrow modes need it).
    """
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator_device(generator))
    u = u.cpu() ** power
    if isinstance(schedule, DiscreteSchedule):
        k = torch.ceil(u * schedule.num_steps).clamp(min=1)
        return (k / schedule.num_steps).float()
    return (t_min + (1 - t_min) * u).float()


def _alpha_sigma(schedule: Schedule, t: Tensor | float, x: Tensor) -> tuple[Tensor, Tensor]:
    a, s = schedule.alpha_sigma(torch.as_tensor(t, dtype=torch.float64).cpu())
    return broadcast_coefficient(a, x), broadcast_coefficient(s, x)


def noise_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x`` drawn from ``generator`` (on its device), moved to ``x``'s device."""
    noise = torch.randn(x.shape, generator=generator, device=generator_device(generator), dtype=x.dtype)
    return noise.to(x.device)


__all__ = ["q_mean_std", "q_sample", "posterior_mean_variance", "posterior_coefficients",
           "sample_times", "noise_like", "Model"]
