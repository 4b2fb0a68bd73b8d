r"""Samplers: turn a trained network into samples, one explicit step at a time (never owning the network).

The contract follows diffusers' schedulers::

    sampler.set_timesteps(n)                       # choose n model calls (NFE)
    x = sampler.init_noise((B, D), generator=gen)  # x at the start time (t = 1)
    for t in sampler.timesteps:                    # decreasing times in (0, 1]
        x = sampler.step(model(x, t.expand(B)), t, x, generator=gen)

(:func:`sample` is that loop). Code symbols against the papers: ``alpha_t, sigma_t`` are
:math:`\sqrt{\bar\alpha_t}, \sqrt{1-\bar\alpha_t}` of DDPM; ``x0_hat``, ``eps_hat`` the
network's :math:`\hat x_0, \hat\varepsilon`; ``s`` is the next (smaller) time.

- :class:`DDPMSampler`: ancestral sampling from :math:`p_\theta(x_s|x_t) = q(x_s|x_t, \hat x_0)`
  (Ho et al., 2020, Algorithm 2; with fewer steps, the posterior between the chosen times).
- :class:`DDIMSampler`: Song, Meng & Ermon (2021, arXiv:2010.02502), eq. (12) with :math:`\eta`;
  :math:`\eta = 1` is DDPM, :math:`\eta = 0` is deterministic.
- :class:`EulerMaruyamaSampler`: the reverse SDE of Song et al. (2021, arXiv:2011.13456), eq. (6).
- :class:`ProbabilityFlowSampler`: the probability-flow ODE, eq. (13) there, Euler or 2nd-order
  Adams-Bashforth steps; :func:`sample_ode` integrates the same ODE with :func:`gmtext.ode.odeint`.

Derived in chapter 6, eqs. (6.7)-(6.11).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gmtext.diffusion.parameterization import (broadcast_coefficient, check_prediction_type, convert,
                                               to_x0_and_epsilon)
from gmtext.diffusion.process import Model, noise_like, posterior_coefficients
from gmtext.diffusion.schedules import ContinuousSchedule, DiscreteSchedule
from gmtext.ode import Velocity, odeint


class Sampler:
    """Shared mechanics: timesteps, argument checks, the initial noise. Subclasses implement ``_step``."""

    def __init__(self, schedule: DiscreteSchedule | ContinuousSchedule,
                 prediction_type: str = "epsilon") -> None:
        self.schedule = schedule
        self.prediction_type = check_prediction_type(prediction_type)
        self._timesteps: Tensor | None = None
        self._ends: Tensor | None = None  # ends[i]: the time step i moves to

    @property
    def timesteps(self) -> Tensor:
        """The decreasing float64 times at which the network is called (one per model call)."""
        if self._timesteps is None:
            raise RuntimeError(f"{type(self).__name__}: you need to call set_timesteps(n) before "
                               "using timesteps or step")
        return self._timesteps

    def set_timesteps(self, num_steps: int) -> None:
        """Choose ``num_steps`` model calls; fills :attr:`timesteps`."""
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        grid = self._grid(num_steps)                        # (num_steps + 1,), decreasing
        self._timesteps, self._ends = grid[:-1], grid[1:]
        self._previous_velocity: Tensor | None = None

    def init_noise(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Tensor:
        r"""A draw of the prior :math:`\mathcal N(0, \sigma_1^2 I)` at :math:`t = 1` (:math:`\sigma_1 = 1` for VP)."""
        sigma = float(self.schedule.alpha_sigma(torch.tensor(1.0, dtype=torch.float64))[1])
        return sigma * noise_like(torch.empty(shape, dtype=dtype, device=device), generator)

    def step(self, model_output: Tensor, t: Tensor | float, x_t: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        """One reverse step from time ``t`` (an entry of :attr:`timesteps`) to the next time."""
        i = self._locate(t)
        if model_output.shape != x_t.shape:
            raise ValueError(f"model_output has shape {tuple(model_output.shape)}, "
                             f"x_t has {tuple(x_t.shape)}")
        return self._step(model_output, float(self.timesteps[i]), float(self._ends[i]), x_t, generator)

    def _locate(self, t: Tensor | float) -> int:
        times = self.timesteps
        t = float(t)
        i = int(torch.argmin((times - t).abs()))
        if abs(float(times[i]) - t) > 1e-6:
            raise ValueError(f"t={t:.6g} is not one of this sampler's timesteps "
                             f"({len(times)} from {float(times[0]):.4g} to {float(times[-1]):.4g}); "
                             "loop over sampler.timesteps")
        return i

    def _grid(self, num_steps: int) -> Tensor:
        raise NotImplementedError

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def _x0_eps(self, output: Tensor, t: float, x_t: Tensor) -> tuple[Tensor, Tensor]:
        a, s = (float(v) for v in self.schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64)))
        return to_x0_and_epsilon(output, self.prediction_type, x_t, a, s)

    def __repr__(self) -> str:
        n = None if self._timesteps is None else len(self._timesteps)
        return f"{type(self).__name__}({self.schedule!r}, steps={n})"


class _DiscreteSampler(Sampler):
    def __init__(self, schedule: DiscreteSchedule, prediction_type: str = "epsilon",
                 clip_sample: float | None = None) -> None:
        if not isinstance(schedule, DiscreteSchedule):
            raise TypeError(f"{type(self).__name__} needs a DiscreteSchedule, got {type(schedule).__name__}")
        super().__init__(schedule, prediction_type)
        self.clip_sample = clip_sample

    def _grid(self, num_steps: int) -> Tensor:
        T = self.schedule.num_steps
        if num_steps > T:
            raise ValueError(f"num_steps={num_steps} exceeds the {T} steps the schedule was "
                             f"trained with; choose num_steps <= {T}")
        k = torch.linspace(T, 0, num_steps + 1, dtype=torch.float64).round()  # evenly spaced steps
        return k / T

    def _x0_eps(self, output: Tensor, t: float, x_t: Tensor) -> tuple[Tensor, Tensor]:
        x0_hat, eps_hat = super()._x0_eps(output, t, x_t)
        if self.clip_sample is not None:                 # keep x0_hat in the data range, then
            x0_hat = x0_hat.clamp(-self.clip_sample, self.clip_sample)   # make eps consistent
            a, s = (float(v) for v in self.schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64)))
            eps_hat = (x_t - a * x0_hat) / s
        return x0_hat, eps_hat


class DDPMSampler(_DiscreteSampler):
    r"""Ancestral sampling: :math:`x_s \sim q(x_s \mid x_t, x_0 = \hat x_0(x_t, t))` (Ho et al., Algorithm 2).

    Args:
        schedule: the :class:`~gmtext.diffusion.schedules.DiscreteSchedule` the network was trained with.
        prediction_type: what the network predicts.
        clip_sample: clamp :math:`\hat x_0` to ``[-clip_sample, clip_sample]`` (1 for data in [-1, 1]).
    """

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> Tensor:
        # 1. predicted x0;  2. posterior mean and variance (eqs. (6)-(7) of Ho et al.);  3. sample
        x0_hat, _ = self._x0_eps(output, t, x_t)
        c_xt, c_x0, var = (float(v) for v in posterior_coefficients(self.schedule, t, s))
        mean = c_xt * x_t + c_x0 * x0_hat
        return mean if var == 0 else mean + math.sqrt(var) * noise_like(x_t, generator)


class DDIMSampler(_DiscreteSampler):
    r"""DDIM (Song, Meng & Ermon, 2021), see formulas (12) and (16) of the paper:

    .. math:: x_s = \alpha_s\hat x_0 + \sqrt{\sigma_s^2 - \sigma_\eta^2}\;\hat\varepsilon + \sigma_\eta z,\qquad
              \sigma_\eta = \eta\,\tilde\sigma_{s|t}

    with :math:`\tilde\sigma_{s|t}^2` the DDPM posterior variance: :math:`\eta = 1` is DDPM's step,
    :math:`\eta = 0` a deterministic map (an Euler step of the probability-flow ODE in the
    variables :math:`x/\alpha`, :math:`\sigma/\alpha`).
    """

    def __init__(self, schedule: DiscreteSchedule, prediction_type: str = "epsilon", eta: float = 0.0,
                 clip_sample: float | None = None) -> None:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1] (0 = deterministic DDIM, 1 = DDPM), got {eta}")
        super().__init__(schedule, prediction_type, clip_sample)
        self.eta = eta

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> Tensor:
        # 1. predicted x0 and eps;  2. sigma_eta;  3. the direction pointing to x_t;  4. x_s
        x0_hat, eps_hat = self._x0_eps(output, t, x_t)
        var = float(posterior_coefficients(self.schedule, t, s)[2])
        sigma_eta = self.eta * math.sqrt(var)
        a_s, s_s = (float(v) for v in self.schedule.alpha_sigma(torch.tensor(s, dtype=torch.float64)))
        x_s = a_s * x0_hat + math.sqrt(max(s_s**2 - sigma_eta**2, 0.0)) * eps_hat
        return x_s if sigma_eta == 0 else x_s + sigma_eta * noise_like(x_t, generator)


#: Time grids of the continuous samplers and of the ODE likelihood.
SPACINGS: tuple[str, ...] = ("uniform", "quadratic")


def time_grid(num_steps: int, t_min: float = 1e-3, spacing: str = "quadratic",
              dtype: torch.dtype = torch.float64) -> Tensor:
    r"""Increasing times :math:`t_0 = t_{\min} < \dots < t_n = 1`, ``(num_steps + 1,)``.

    ``"quadratic"``: :math:`t_i = t_{\min} + (1 - t_{\min})(i/n)^2`, small steps near the data
    where the field changes fastest (narrow modes make the ODE stiff there); ``"uniform"``:
    evenly spaced.

    Example:
        >>> time_grid(2, 0.0).tolist()
        [0.0, 0.25, 1.0]
    """
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; valid: {', '.join(SPACINGS)}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    if not 0.0 <= t_min < 1.0:
        raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
    u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
    u = u**2 if spacing == "quadratic" else u
    return (t_min + (1 - t_min) * u).to(dtype)


class _ContinuousSampler(Sampler):
    def __init__(self, schedule: ContinuousSchedule, prediction_type: str = "epsilon",
                 t_min: float = 1e-3, spacing: str = "quadratic") -> None:
        if isinstance(schedule, DiscreteSchedule) or not hasattr(schedule, "drift_diffusion"):
            raise TypeError(f"{type(self).__name__} needs a continuous schedule (VPSchedule or "
                            f"VESchedule), got {type(schedule).__name__}")
        if not 0.0 < t_min < 1.0:
            raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
        if spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; valid: {', '.join(SPACINGS)}")
        super().__init__(schedule, prediction_type)
        self.t_min, self.spacing = t_min, spacing

    def _grid(self, num_steps: int) -> Tensor:
        return time_grid(num_steps, self.t_min, self.spacing).flip(0)

    def _score(self, output: Tensor, t: float, x_t: Tensor) -> Tensor:
        a, s = (float(v) for v in self.schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64)))
        return convert(output, self.prediction_type, "score", x_t, a, s)


class EulerMaruyamaSampler(_ContinuousSampler):
    r"""The reverse SDE :math:`\mathrm{d}x = [f(t)x - g(t)^2\nabla\log p_t(x)]\,\mathrm{d}t + g(t)\,\mathrm{d}\bar w`,
    integrated from :math:`t = 1` to ``t_min`` with Euler-Maruyama steps (:math:`\mathrm{d}t < 0`).
    """

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> Tensor:
        f, g2 = (float(v) for v in self.schedule.drift_diffusion(torch.tensor(t, dtype=torch.float64)))
        dt = s - t                                                       # negative
        drift = f * x_t - g2 * self._score(output, t, x_t)
        return x_t + drift * dt + math.sqrt(g2 * -dt) * noise_like(x_t, generator)


class ProbabilityFlowSampler(_ContinuousSampler):
    r"""The probability-flow ODE :math:`\mathrm{d}x/\mathrm{d}t = f(t)x - \tfrac12 g(t)^2\nabla\log p_t(x)`.

    ``order=1``: Euler steps; ``order=2``: Adams-Bashforth with the previous step's velocity
    (second order at one model call per step). Deterministic: the generator is not used.
    """

    def __init__(self, schedule: ContinuousSchedule, prediction_type: str = "epsilon",
                 t_min: float = 1e-3, spacing: str = "quadratic", order: int = 2) -> None:
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (Euler) or 2 (Adams-Bashforth), got {order}")
        super().__init__(schedule, prediction_type, t_min, spacing)
        self.order = order

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> Tensor:
        f, g2 = (float(v) for v in self.schedule.drift_diffusion(torch.tensor(t, dtype=torch.float64)))
        velocity = f * x_t - 0.5 * g2 * self._score(output, t, x_t)
        h = s - t
        previous, self._previous_velocity = self._previous_velocity, (velocity, h)
        if self.order == 1 or previous is None or float(self.timesteps[0]) == t:
            return x_t + h * velocity
        v_old, h_old = previous                      # variable-step AB2
        r = h / h_old
        return x_t + h * ((1 + 0.5 * r) * velocity - 0.5 * r * v_old)


def probability_flow_velocity(model: Model, schedule: ContinuousSchedule,
                              prediction_type: str = "epsilon") -> Velocity:
    r"""The probability-flow ODE's field :math:`v(x, t) = f(t)x - \tfrac12 g(t)^2 s_\theta(x, t)` for :mod:`gmtext.ode`."""
    check_prediction_type(prediction_type)

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        f, g2 = schedule.drift_diffusion(t.double().cpu())
        a, s = schedule.alpha_sigma(t.double().cpu())
        score = convert(model(x, t), prediction_type, "score", x, a, s)
        return broadcast_coefficient(f, x) * x - 0.5 * broadcast_coefficient(g2, x) * score
    return velocity


def sample_ode(model: Model, schedule: ContinuousSchedule, x_1: Tensor, num_steps: int,
               prediction_type: str = "epsilon", method: str = "heun", t_min: float = 1e-3,
               spacing: str = "quadratic") -> Tensor:
    r"""Integrate the probability-flow ODE from :math:`t = 1` down to ``t_min`` with :func:`gmtext.ode.odeint`.

    NFE = ``num_steps`` times 1, 2 or 4 (``euler``, ``heun``, ``rk4``).
    """
    times = time_grid(num_steps, t_min, spacing, dtype=x_1.dtype).flip(0)
    with torch.no_grad():
        return odeint(probability_flow_velocity(model, schedule, prediction_type), x_1, times, method)


def sample(model: Model, sampler: Sampler, shape: tuple[int, ...], num_steps: int,
           generator: torch.Generator | None = None, return_path: bool = False,
           device: str | torch.device = "cpu") -> Tensor:
    """Run the sampling loop of the module docstring; ``return_path`` stacks every intermediate ``x``."""
    sampler.set_timesteps(num_steps)
    x = sampler.init_noise(shape, generator, device=device)
    path = [x]
    with torch.no_grad():
        for t in sampler.timesteps:
            t_batch = torch.full((shape[0],), float(t), device=device)
            x = sampler.step(model(x, t_batch), t, x, generator=generator)
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x


__all__ = ["Sampler", "DDPMSampler", "DDIMSampler", "EulerMaruyamaSampler", "ProbabilityFlowSampler",
           "probability_flow_velocity", "sample_ode", "sample", "time_grid", "SPACINGS"]
