r"""Continuous-time samplers: the reverse SDE, the probability-flow ODE, and annealed Langevin dynamics.

All follow the contract of :mod:`gmtext.diffusion.samplers` (``set_timesteps`` → ``step`` returning
``prev_sample`` and ``x0_hat``) and need a continuous path (one with time derivatives).

- :class:`EulerMaruyamaSampler`: :math:`\mathrm{d}x = [f x - g^2\nabla\log p_t]\mathrm{d}t + g\,\mathrm{d}\bar w`
  (Song et al., 2021, arXiv:2011.13456, eq. (6)), integrated from :math:`t = 1` down.
- :class:`ProbabilityFlowSampler`: :math:`\mathrm{d}x/\mathrm{d}t = \dot\alpha_t\hat x_0 + \dot\sigma_t\hat\varepsilon
  = f x - \tfrac12 g^2\nabla\log p_t` (eq. (13) there; the velocity of flow matching), with Euler
  or second-order Adams-Bashforth steps. On :class:`~gmtext.diffusion.schedules.LinearSchedule` with
  a velocity network and ``order=1, spacing="uniform", t_min=0`` it is flow matching's Euler sampler.
- :class:`AnnealedLangevinSampler`: Song & Ermon (2019, arXiv:1907.05600), Algorithm 1, on the
  ladder of a variance-exploding path, ending with Tweedie's denoising step.

:func:`probability_flow_velocity` is the same ODE field as a function, for :func:`gmtext.ode.odeint`
and the exact likelihood. Derived in chapter 5, eqs. (5.12)-(5.13), and chapter 6, eqs. (6.9)-(6.11).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gmtext.diffusion.parameterization import (check_prediction_type, coefficients, convert,
                                               from_x0_and_epsilon)
from gmtext.diffusion.process import Model, noise_like
from gmtext.diffusion.samplers import Sampler
from gmtext.diffusion.schedules import Schedule, VESchedule
from gmtext.ode import Velocity

__all__ = ["EulerMaruyamaSampler", "ProbabilityFlowSampler", "AnnealedLangevinSampler",
           "probability_flow_velocity"]


class _ContinuousSampler(Sampler):
    def __init__(self, schedule: Schedule, prediction_type: str = "epsilon", t_min: float = 1e-3,
                 spacing: str = "quadratic", clip_sample: float | None = None) -> None:
        if not getattr(schedule, "continuous", False):
            raise TypeError(f"{type(self).__name__} needs a continuous schedule (VP, VE, linear, cosine), "
                            f"got {type(schedule).__name__}")
        super().__init__(schedule, prediction_type, t_min, spacing, clip_sample)

    def _velocity(self, output: Tensor, t: float, x_t: Tensor) -> tuple[Tensor, Tensor]:
        r"""The ODE velocity :math:`\dot\alpha_t\hat x_0 + \dot\sigma_t\hat\varepsilon` and :math:`\hat x_0`."""
        x0_hat, eps_hat = self._x0_eps(output, t, x_t)
        if self.prediction_type == "velocity" and self.clip_sample is None:
            return output, x0_hat                       # the network's own velocity, unchanged
        a, s, da, ds = self._coefficients(t, x_t)
        return from_x0_and_epsilon(x0_hat, eps_hat, "velocity", a, s, da, ds), x0_hat


class EulerMaruyamaSampler(_ContinuousSampler):
    r"""The reverse SDE :math:`\mathrm{d}x = [f(t)x - g(t)^2\nabla\log p_t(x)]\,\mathrm{d}t + g(t)\,\mathrm{d}\bar w`,
    integrated from :math:`t = 1` to ``t_min`` with Euler-Maruyama steps (:math:`\mathrm{d}t < 0`).
    """

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        x0_hat, eps_hat = self._x0_eps(output, t, x_t)
        f, g2 = (float(v) for v in self.schedule.drift_diffusion(torch.tensor(t, dtype=torch.float64)))
        sigma_t = float(self.schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64))[1])
        dt = s - t                                                       # negative
        drift = f * x_t + g2 * eps_hat / sigma_t                         # f x - g^2 score
        return x_t + drift * dt + math.sqrt(g2 * -dt) * noise_like(x_t, generator), x0_hat


class ProbabilityFlowSampler(_ContinuousSampler):
    r"""The probability-flow ODE, ``order=1``: Euler steps; ``order=2``: Adams-Bashforth with the
    previous step's velocity (second order at one model call per step). Deterministic.
    """

    def __init__(self, schedule: Schedule, prediction_type: str = "epsilon", t_min: float = 1e-3,
                 spacing: str = "quadratic", order: int = 2, clip_sample: float | None = None) -> None:
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (Euler) or 2 (Adams-Bashforth), got {order}")
        super().__init__(schedule, prediction_type, t_min, spacing, clip_sample)
        self.order = order

    def _reset(self) -> None:
        self._previous: tuple[Tensor, float] | None = None

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        velocity, x0_hat = self._velocity(output, t, x_t)
        h = s - t
        previous, self._previous = self._previous, (velocity, h)
        if self.order == 1 or previous is None:
            return x_t + h * velocity, x0_hat
        v_old, h_old = previous                                          # variable-step AB2
        r = h / h_old
        return x_t + h * ((1 + 0.5 * r) * velocity - 0.5 * r * v_old), x0_hat


class AnnealedLangevinSampler(_ContinuousSampler):
    r"""Annealed Langevin dynamics on the noise ladder of a :class:`~gmtext.diffusion.schedules.VESchedule`.

    ``set_timesteps(L)`` picks :math:`L` levels :math:`\sigma_1 > \dots > \sigma_L` (the path at
    evenly spaced times from 1 to ``t_min``); each is visited for ``steps_per_level`` steps of

    .. math:: x \leftarrow x + a_i\,s_\theta(x, \sigma_i) + \sqrt{2a_i}\,z,\qquad a_i = \epsilon\,\sigma_i^2/\sigma_L^2,

    and with ``denoise`` one more call applies Tweedie's formula :math:`x \leftarrow x + \sigma_L^2
    s_\theta(x, \sigma_L)` (Efron 2011). NFE = ``L * steps_per_level`` (+1). Chapter 5, eqs. (5.12)-(5.13).

    Args:
        schedule: a :class:`~gmtext.diffusion.schedules.VESchedule` (:math:`\alpha_t = 1`).
        step_size: :math:`\epsilon`, the step at the smallest level (> 0).
        steps_per_level: Langevin steps per level (>= 1).
        prediction_type: what the model returns (default: the score).
        denoise: end with Tweedie's step.
        t_min: the time of the smallest level (0: :math:`\sigma_L = \sigma_{\min}`).
    """

    def __init__(self, schedule: VESchedule, step_size: float, steps_per_level: int,
                 prediction_type: str = "score", denoise: bool = True, t_min: float = 0.0) -> None:
        if not isinstance(schedule, VESchedule):
            raise TypeError(f"annealed Langevin needs a VESchedule (alpha_t = 1), got {type(schedule).__name__}")
        if not step_size > 0 or not math.isfinite(step_size):
            raise ValueError(f"step_size must be positive, got {step_size}")
        if isinstance(steps_per_level, bool) or not isinstance(steps_per_level, int) or steps_per_level < 1:
            raise ValueError(f"steps_per_level must be a positive int, got {steps_per_level!r}")
        super().__init__(schedule, prediction_type, t_min, "uniform")
        self.step_size, self.steps_per_level, self.denoise = float(step_size), steps_per_level, denoise

    def _grid(self, num_steps: int) -> Tensor:
        levels = torch.linspace(1.0, self.t_min, num_steps, dtype=torch.float64)     # (L,)
        calls = levels.repeat_interleave(self.steps_per_level)
        if self.denoise:
            calls = torch.cat([calls, levels[-1:]])
        self._sigma_last = float(self.schedule.alpha_sigma(levels[-1])[1])
        return torch.cat([calls, levels[-1:]])             # the end of the last call: no move in t

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        x0_hat, eps_hat = self._x0_eps(output, t, x_t)    # Tweedie: x0_hat = x + sigma^2 score
        if self.denoise and self._index == len(self.timesteps):
            return x0_hat, x0_hat                          # the final denoising call, eq. (5.13)
        sigma = float(self.schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64))[1])
        a = self.step_size * (sigma / self._sigma_last) ** 2                 # a_i, eq. (5.12)
        z = noise_like(x_t, generator)
        return x_t - a * eps_hat / sigma + math.sqrt(2 * a) * z, x0_hat     # score = -eps / sigma


def probability_flow_velocity(model: Model, schedule: Schedule, prediction_type: str = "epsilon",
                              **condition: Any) -> Velocity:
    r"""The probability-flow ODE's field :math:`v(x, t) = \dot\alpha_t\hat x_0 + \dot\sigma_t\hat\varepsilon`
    for :func:`gmtext.ode.odeint` and :func:`gmtext.ode.log_prob_by_ode` (either time direction)."""
    check_prediction_type(prediction_type)
    if not getattr(schedule, "continuous", False):
        raise TypeError(f"the probability-flow ODE needs a continuous schedule, got {type(schedule).__name__}")

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        out = model(x, t, **condition)
        return out if prediction_type == "velocity" else convert(
            out, prediction_type, "velocity", x, *coefficients(schedule, t, x))
    return velocity
