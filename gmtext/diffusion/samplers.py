r"""Samplers: turn a trained network into samples, one explicit step at a time (never owning the network).

One contract for every sampler of the book (that of diffusers' schedulers)::

    sampler.set_timesteps(n)                       # choose n model calls (NFE)
    x = sampler.init_noise((B, D), generator=gen)  # x at the start time t = 1
    for t in sampler.timesteps:                    # decreasing times in (0, 1]
        out = sampler.step(model(x, t.expand(B), **condition), t, x, generator=gen)
        x = out.prev_sample                        # out.x0_hat: the denoised guess at this step

:func:`sample` is that loop. ``x0_hat`` at every step is what guidance and inverse problems build
on (chapters 8 and 9): they wrap the model or the step, never copy the loop. Code symbols against
the papers: ``a_t, s_t`` are :math:`\alpha_t, \sigma_t` of the path (DDPM's
:math:`\sqrt{\bar\alpha_t}, \sqrt{1-\bar\alpha_t}`); ``s`` is the next (smaller) time.

- :class:`DDPMSampler`: ancestral sampling from :math:`p_\theta(x_s|x_t) = q(x_s|x_t, \hat x_0)`
  (Ho et al., 2020, Algorithm 2; with fewer steps, the posterior between the chosen times).
- :class:`DDIMSampler`: Song, Meng & Ermon (2021, arXiv:2010.02502), eq. (12) with :math:`\eta`;
  :math:`\eta = 1` is DDPM, :math:`\eta = 0` is deterministic.
- :mod:`gmtext.diffusion.sde`: Euler-Maruyama on the reverse SDE, the probability-flow ODE (Euler,
  Adams-Bashforth; flow matching's Euler sampler is its ``order=1`` case), annealed Langevin.

Each works on any path of :mod:`gmtext.diffusion.schedules`. Derived in chapter 6, eqs. (6.7)-(6.11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gmtext._validate import check_positive_int as _check_positive_int
from gmtext._validate import check_same_device, module_device
from gmtext.diffusion.parameterization import check_prediction_type, coefficients, to_x0_and_epsilon
from gmtext.diffusion.process import Model, noise_like, posterior_coefficients
from gmtext.diffusion.ddpm import DiscreteSchedule
from gmtext.diffusion.schedules import Schedule

__all__ = ["SamplerOutput", "Sampler", "DDPMSampler", "DDIMSampler", "sample", "time_grid", "SPACINGS"]

#: Time grids of the continuous samplers and of the ODE likelihood.
SPACINGS: tuple[str, ...] = ("uniform", "quadratic")


@dataclass
class SamplerOutput:
    """What one step saw and did (diffusers' ``DDIMSchedulerOutput``).

    Attributes:
        prev_sample: :math:`x_s`, the sample at the next (smaller) time.
        x0_hat: :math:`\\hat x_0(x_t, t)`, the model's denoised guess at this step.
    """

    prev_sample: Tensor
    x0_hat: Tensor


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
    _check_positive_int("num_steps", num_steps)
    if not 0.0 <= t_min < 1.0:
        raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
    u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
    u = u**2 if spacing == "quadratic" else u
    return (t_min + (1 - t_min) * u).to(dtype)


class Sampler:
    """Shared mechanics: time grid, step bookkeeping, argument checks, the denoised guess.

    Args:
        schedule: the path the network was trained on.
        prediction_type: what the network predicts (see :data:`~gmtext.diffusion.parameterization.TARGETS`).
        t_min: the last time of a continuous schedule's grid (the data end; 0 allowed).
        spacing: the continuous grid, see :func:`time_grid`.
        clip_sample: clamp :math:`\\hat x_0` to ``[-clip_sample, clip_sample]`` at every step
            (1 for data in [-1, 1]); None: no clamp.
    """

    def __init__(self, schedule: Schedule, prediction_type: str = "epsilon", t_min: float = 1e-3,
                 spacing: str = "quadratic", clip_sample: float | None = None) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a gmtext.diffusion Schedule, got {type(schedule).__name__}")
        if spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; valid: {', '.join(SPACINGS)}")
        if not 0.0 <= t_min < 1.0:
            raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
        if clip_sample is not None and not clip_sample > 0:
            raise ValueError(f"clip_sample must be positive (the data's largest |value|) or None, got {clip_sample}")
        self.schedule, self.prediction_type = schedule, check_prediction_type(prediction_type)
        self.t_min, self.spacing, self.clip_sample = t_min, spacing, clip_sample
        self._timesteps: Tensor | None = None
        self._ends: Tensor | None = None                 # ends[i]: the time step i moves to
        self._index = 0

    @property
    def timesteps(self) -> Tensor:
        """The decreasing float64 times at which the network is called (one per model call)."""
        if self._timesteps is None:
            raise RuntimeError(f"{type(self).__name__}: you need to call set_timesteps(n) before "
                               "using timesteps or step")
        return self._timesteps

    def set_timesteps(self, num_steps: int) -> None:
        """Choose ``num_steps`` model calls; fills :attr:`timesteps` and restarts the step count."""
        _check_positive_int("num_steps", num_steps)
        grid = self._grid(num_steps)                          # (num_steps + 1,), decreasing
        self._timesteps, self._ends, self._index = grid[:-1], grid[1:], 0
        self._reset()

    def init_noise(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Tensor:
        r"""A draw of the prior :math:`\mathcal N(0, \sigma_1^2 I)` at :math:`t = 1` (:math:`\sigma_1 = 1` for VP)."""
        return self.schedule.prior_std * noise_like(torch.empty(shape, dtype=dtype, device=device), generator)

    def step(self, model_output: Tensor, t: Tensor | float, x_t: Tensor,
             generator: torch.Generator | None = None) -> SamplerOutput:
        """One reverse step from time ``t`` (the next entry of :attr:`timesteps`) to the following time.

        Raises:
            ValueError: if ``t`` is not the next timestep, the output's shape differs from ``x_t``'s,
                or the output holds NaN or inf (the message names the time and the step).
        """
        times, i = self.timesteps, self._index
        if i >= len(times):
            raise RuntimeError(f"all {len(times)} steps are taken; call set_timesteps again to restart")
        if abs(float(times[i]) - float(t)) > 1e-6:
            raise ValueError(f"t={float(t):.6g} is not the next timestep (step {i + 1} of {len(times)} "
                             f"is at t={float(times[i]):.6g}); loop over sampler.timesteps in order")
        if not isinstance(model_output, Tensor) or model_output.shape != x_t.shape:
            got = tuple(model_output.shape) if isinstance(model_output, Tensor) else type(model_output).__name__
            raise ValueError(f"model_output must have the shape of x_t, {tuple(x_t.shape)}, got {got}")
        check_same_device(model_output, x_t, "model_output", "x_t")
        if not bool(torch.isfinite(model_output).all()):
            raise ValueError(f"the model returned NaN or inf at t={float(t):.4g} (step {i + 1} of "
                             f"{len(times)}): check the network and its input")
        self._index += 1
        prev, x0_hat = self._step(model_output, float(times[i]), float(self._ends[i]), x_t, generator)
        return SamplerOutput(prev, x0_hat)

    def _grid(self, num_steps: int) -> Tensor:
        if isinstance(self.schedule, DiscreteSchedule):
            T = self.schedule.num_steps
            if num_steps > T:
                raise ValueError(f"num_steps={num_steps} exceeds the {T} steps the schedule was "
                                 f"trained with; choose num_steps <= {T}")
            return torch.linspace(T, 0, num_steps + 1, dtype=torch.float64).round() / T  # even steps
        return time_grid(num_steps, self.t_min, self.spacing).flip(0)

    def _reset(self) -> None:
        """Forget the state of a multistep method (called by :meth:`set_timesteps`)."""

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _coefficients(self, t: float, x: Tensor) -> tuple[Tensor, ...]:
        return coefficients(self.schedule, t, x, derivatives=self.schedule.continuous)

    def _x0_eps(self, output: Tensor, t: float, x_t: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`(\hat x_0, \hat\varepsilon)` of the output, :math:`\hat x_0` clamped with ``clip_sample``."""
        a, s, da, ds = self._coefficients(t, x_t)
        x0_hat, eps_hat = to_x0_and_epsilon(output, self.prediction_type, x_t, a, s, da, ds)
        if self.clip_sample is not None:                 # keep x0_hat in the data range, then
            x0_hat = x0_hat.clamp(-self.clip_sample, self.clip_sample)   # make eps consistent
            eps_hat = (x_t - a * x0_hat) / s
        return x0_hat, eps_hat

    def __repr__(self) -> str:
        n = None if self._timesteps is None else len(self._timesteps)
        return f"{type(self).__name__}({self.schedule!r}, steps={n})"


class DDPMSampler(Sampler):
    r"""Ancestral sampling: :math:`x_s \sim q(x_s \mid x_t, x_0 = \hat x_0(x_t, t))` (Ho et al., Algorithm 2)."""

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        # 1. predicted x0;  2. posterior mean and variance (eqs. (6)-(7) of Ho et al.);  3. sample
        x0_hat, _ = self._x0_eps(output, t, x_t)
        c_xt, c_x0, var = (float(v) for v in posterior_coefficients(self.schedule, t, s))
        mean = c_xt * x_t + c_x0 * x0_hat
        return (mean if var == 0 else mean + math.sqrt(var) * noise_like(x_t, generator)), x0_hat


class DDIMSampler(Sampler):
    r"""DDIM (Song, Meng & Ermon, 2021), see formulas (12) and (16) of the paper:

    .. math:: x_s = \alpha_s\hat x_0 + \sqrt{\sigma_s^2 - \sigma_\eta^2}\;\hat\varepsilon + \sigma_\eta z,\qquad
              \sigma_\eta = \eta\,\tilde\sigma_{s|t}

    with :math:`\tilde\sigma_{s|t}^2` the DDPM posterior variance: :math:`\eta = 1` is DDPM's step,
    :math:`\eta = 0` a deterministic map (an Euler step of the probability-flow ODE in the
    variables :math:`x/\alpha`, :math:`\sigma/\alpha`; on the linear path, exactly flow matching's
    Euler step).
    """

    def __init__(self, schedule: Schedule, prediction_type: str = "epsilon", eta: float = 0.0,
                 clip_sample: float | None = None, t_min: float = 1e-3, spacing: str = "quadratic") -> None:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1] (0 = deterministic DDIM, 1 = DDPM), got {eta}")
        super().__init__(schedule, prediction_type, t_min, spacing, clip_sample)
        self.eta = eta

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        # 1. predicted x0 and eps;  2. sigma_eta;  3. the direction pointing to x_t;  4. x_s
        x0_hat, eps_hat = self._x0_eps(output, t, x_t)
        sigma_eta = self.eta * math.sqrt(float(posterior_coefficients(self.schedule, t, s)[2])) if self.eta else 0.0
        a_s, s_s = (float(v) for v in self.schedule.alpha_sigma(torch.tensor(s, dtype=torch.float64)))
        x_s = a_s * x0_hat + math.sqrt(max(s_s**2 - sigma_eta**2, 0.0)) * eps_hat
        return (x_s if sigma_eta == 0 else x_s + sigma_eta * noise_like(x_t, generator)), x0_hat


def sample(model: Model, sampler: Sampler, shape: tuple[int, ...], num_steps: int,
           generator: torch.Generator | None = None, return_path: bool = False,
           device: str | torch.device | None = None, x_init: Tensor | None = None,
           condition: dict[str, Any] | None = None) -> Tensor:
    """Run the sampling loop of the module docstring and return the final samples.

    Args:
        model: ``model(x_t, t, **condition)``.
        sampler: any :class:`Sampler`.
        shape: ``(B, ...)`` of the samples.
        num_steps: passed to ``set_timesteps`` (for annealed Langevin: the number of noise levels).
        generator: all randomness (initial noise and the steps' noise).
        return_path: return every intermediate ``x`` stacked, ``(num_calls + 1, B, ...)``.
        x_init: the starting point instead of ``sampler.init_noise`` (e.g. uniform noise).
        condition: keyword arguments passed to ``model`` at every call (a class label, a caption).
        device: where ``x`` lives; ``None``: the model's device (the CPU for a function).

    Raises:
        ValueError: if ``device`` is not the device of a ``model`` with parameters.
    """
    device = (module_device(model) or torch.device("cpu")) if device is None else torch.device(device)
    sampler.set_timesteps(num_steps)
    x = sampler.init_noise(shape, generator, device=device) if x_init is None else x_init.to(device)
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"x_init has shape {tuple(x.shape)}, expected {tuple(shape)}")
    check_same_device(model, x, "model", "x")
    path = [x]
    with torch.no_grad():
        for t in sampler.timesteps:
            t_batch = torch.full((shape[0],), float(t), device=device, dtype=x.dtype)
            x = sampler.step(model(x, t_batch, **(condition or {})), t, x, generator=generator).prev_sample
            if return_path:
                path.append(x)
    return torch.stack(path) if return_path else x
