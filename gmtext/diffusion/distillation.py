r"""Few-step samplers from a trained model: progressive distillation and rectified-flow reflow.

**Progressive distillation** (Salimans & Ho, "Progressive Distillation for Fast Sampling of
Diffusion Models", ICLR 2022, arXiv:2202.00512, Algorithm 2). A student of :math:`N` deterministic
DDIM steps on the uniform grid :math:`t_i = i/N` learns to do in one step what its teacher does in
two. For :math:`z_t = \alpha_t x_0 + \sigma_t\varepsilon`, :math:`t' = t - \tfrac1{2N}`,
:math:`t'' = t - \tfrac1N`, the teacher's two DDIM steps
:math:`z_s = \alpha_s\hat x_0 + \tfrac{\sigma_s}{\sigma_t}(z_t - \alpha_t\hat x_0)` give :math:`z_{t''}`,
and the one :math:`\tilde x` that a single DDIM step :math:`t\to t''` must use as its
:math:`\hat x_0` to land there is

.. math:: \tilde x = \frac{z_{t''} - (\sigma_{t''}/\sigma_t)\,z_t}{\alpha_{t''} - (\sigma_{t''}/\sigma_t)\,\alpha_t}.

The student regresses its :math:`\hat x_\eta(z_t)` on :math:`\tilde x` with the weight
:math:`1 + \alpha_t^2/\sigma_t^2` (the paper's "SNR+1", the :math:`v`-loss); it predicts :math:`v`
or :math:`x_0`, as the paper recommends: an :math:`\varepsilon`-network's
:math:`\hat x_0 = (z_t - \sigma_t\hat\varepsilon)/\alpha_t` is undefined at :math:`\alpha_1 = 0`, the
step a one-step sampler cannot avoid. Then the student becomes the teacher: :math:`N\to N/2\to\dots\to 1`.

**Reflow** (Liu, Gong & Liu, "Flow Straight and Fast", ICLR 2023, arXiv:2209.03003). Integrate a
velocity field from noise :math:`\varepsilon` to its endpoint :math:`x = \Phi(\varepsilon)` and
train a new velocity by :func:`~gmtext.diffusion.flow_matching.cfm_loss` on the *pairs*
:math:`(\varepsilon, \Phi(\varepsilon))` instead of independent ones. The paths of the new flow
cross less, so they are straighter (:func:`gmtext.metrics.paths.straightness`), and few Euler
steps land near the many-step result. Flow time :math:`s` (noise at 0) as in
:mod:`~gmtext.diffusion.flow_matching`. Derived in chapter 10.

Example:
    >>> import torch
    >>> from gmtext.diffusion.schedules import CosineSchedule
    >>> z, z2 = torch.ones(1, 2), torch.zeros(1, 2)
    >>> progressive_target(z, z2, torch.tensor([0.5]), torch.tensor([0.0]), CosineSchedule())
    tensor([[0., 0.]])
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gmtext._validate import check_finite, check_positive_int
from gmtext.config import generator_device
from gmtext.diffusion.flow_matching import FlowPath, cfm_loss, linear_path
from gmtext.diffusion.parameterization import check_prediction_type, coefficients, to_x0_and_epsilon
from gmtext.diffusion.process import Model, noise_like
from gmtext.diffusion.samplers import DDIMSampler, sample
from gmtext.diffusion.schedules import Schedule
from gmtext.diffusion.training import _draw, gaussian_path_config
from gmtext.train import History, fit

__all__ = ["ddim_step", "progressive_target", "teacher_two_steps", "progressive_distillation_loss",
           "Stage", "progressive_distillation", "distilled_sampler", "flow_trajectory", "reflow"]

#: What a distilled student may predict (an epsilon student has no x0 at alpha = 0).
STUDENT_TYPES: tuple[str, ...] = ("v_prediction", "sample")


def _times(t: Tensor | float, x: Tensor) -> Tensor:
    t = torch.as_tensor(t, dtype=torch.float64)
    return t.expand(x.shape[0]) if t.ndim == 0 else t


def ddim_step(x0_hat: Tensor, x_t: Tensor, t: Tensor | float, s: Tensor | float, schedule: Schedule) -> Tensor:
    r"""Deterministic DDIM from :math:`t` to :math:`s < t` given :math:`\hat x_0`, per-example times ``(B,)``:
    :math:`x_s = \alpha_s\hat x_0 + \sigma_s(x_t - \alpha_t\hat x_0)/\sigma_t`
    (Song et al. 2021, eq. (12), :math:`\eta = 0`)."""
    a_t, s_t = coefficients(schedule, _times(t, x_t), x_t, derivatives=False)[:2]
    a_s, s_s = coefficients(schedule, _times(s, x_t), x_t, derivatives=False)[:2]
    return a_s * x0_hat + s_s * (x_t - a_t * x0_hat) / s_t


def progressive_target(z_t: Tensor, z_end: Tensor, t: Tensor | float, t_end: Tensor | float,
                       schedule: Schedule) -> Tensor:
    r"""The student's :math:`\tilde x` (module docstring): one DDIM step from ``z_t`` at ``t`` with it as
    :math:`\hat x_0` lands on ``z_end`` at ``t_end``. Salimans & Ho (2022), Algorithm 2."""
    if z_t.shape != z_end.shape:
        raise ValueError(f"z_t and z_end must have one shape, got {tuple(z_t.shape)} and {tuple(z_end.shape)}")
    a_t, s_t = coefficients(schedule, _times(t, z_t), z_t, derivatives=False)[:2]
    a_e, s_e = coefficients(schedule, _times(t_end, z_t), z_t, derivatives=False)[:2]
    ratio = s_e / s_t
    return (z_end - ratio * z_t) / (a_e - ratio * a_t)


def _x0_hat(model: Model, prediction_type: str, schedule: Schedule, x_t: Tensor, t: Tensor,
            clip_sample: float | None = None, condition: dict[str, Any] | None = None) -> Tensor:
    a, s, da, ds = coefficients(schedule, t, x_t, derivatives=prediction_type == "velocity")
    x0 = to_x0_and_epsilon(model(x_t, t.to(x_t.dtype), **(condition or {})), prediction_type, x_t, a, s, da, ds)[0]
    return x0 if clip_sample is None else x0.clamp(-clip_sample, clip_sample)


def teacher_two_steps(teacher: Model, schedule: Schedule, z_t: Tensor, t: Tensor, num_steps: int,
                      prediction_type: str = "v_prediction", clip_sample: float | None = None,
                      condition: dict[str, Any] | None = None) -> tuple[Tensor, Tensor]:
    r"""The teacher's two DDIM steps :math:`t\to t - \tfrac1{2N}\to t - \tfrac1N` for a student of ``num_steps`` = N.

    Returns ``(z_end, t_end)``; ``clip_sample`` clamps the teacher's :math:`\hat x_0` as its sampler does.
    """
    t = _times(t, z_t)
    t_mid, t_end = t - 0.5 / num_steps, t - 1.0 / num_steps
    if bool((t_end < -1e-12).any()):
        raise ValueError(f"times must be >= 1/num_steps = {1 / num_steps:.4g}, got {float(t.min()):.4g}")
    t_end = t_end.clamp_min(0.0)
    x0_hat = _x0_hat(teacher, prediction_type, schedule, z_t, t, clip_sample, condition)
    z_mid = ddim_step(x0_hat, z_t, t, t_mid, schedule)
    x0_mid = _x0_hat(teacher, prediction_type, schedule, z_mid, t_mid, clip_sample, condition)
    return ddim_step(x0_mid, z_mid, t_mid, t_end, schedule), t_end


def progressive_distillation_loss(student: Model, teacher: Model, schedule: Schedule, x0: Tensor, num_steps: int,
                                  generator: torch.Generator | None = None, prediction_type: str = "v_prediction",
                                  clip_sample: float | None = None) -> Tensor:
    r"""One minibatch of Algorithm 2 (Salimans & Ho 2022): the mean over examples of
    :math:`(1 + \alpha_t^2/\sigma_t^2)\,\overline{(\hat x_\eta(z_t) - \tilde x)^2}` (mean over pixels), a scalar.

    ``t = i / num_steps`` with ``i`` uniform in ``1..num_steps``; student and teacher predict ``prediction_type``.
    """
    check_prediction_type(prediction_type, STUDENT_TYPES)
    check_positive_int("num_steps", num_steps)
    check_finite(x0, "x0")
    i = torch.randint(1, num_steps + 1, (x0.shape[0],), generator=generator, device=generator_device(generator))
    t = (i.double() / num_steps).to(x0.device)
    a, s = coefficients(schedule, t, x0, derivatives=False)[:2]
    z_t = a * x0 + s * noise_like(x0, generator)
    with torch.no_grad():
        target = progressive_target(z_t, teacher_two_steps(teacher, schedule, z_t, t, num_steps, prediction_type,
                                                           clip_sample)[0], t, t - 1.0 / num_steps, schedule)
    x_hat = _x0_hat(student, prediction_type, schedule, z_t, t)
    per_example = (x_hat - target).pow(2).flatten(1).mean(1)                     # (B,)
    return ((1 + (a / s) ** 2).reshape(-1) * per_example).mean()                # SNR + 1 weighting


@dataclass
class Stage:
    """One halving: the student of ``num_steps`` DDIM steps, its training time and its loss history."""

    num_steps: int
    student: nn.Module
    seconds: float
    history: History


def progressive_distillation(teacher: nn.Module, schedule: Schedule, data: Tensor | Callable[..., Tensor],
                             teacher_steps: int, steps_per_stage: int, generator: torch.Generator, *,
                             prediction_type: str = "v_prediction", batch_size: int = 128, lr: float = 1e-4,
                             ema_decay: float | None = 0.995, clip_sample: float | None = None,
                             transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
                             progress: bool = True) -> list[Stage]:
    r"""Halve the teacher's ``teacher_steps`` (a power of 2) down to one step: students of N/2, N/4, ..., 1 steps.

    Each stage copies the previous network (the teacher first) and trains it by
    :func:`progressive_distillation_loss` for ``steps_per_stage`` Adam steps (cosine decay, weight
    average: :func:`gmtext.diffusion.training.gaussian_path_config`); its average is the next
    teacher. ``data``, ``batch_size``, ``transform`` as in :func:`gmtext.diffusion.training.train_diffusion`.
    Sample a student of N steps with :func:`distilled_sampler` and ``num_steps = N``.

    Returns:
        One :class:`Stage` per halving, the one-step student last.
    """
    check_positive_int("teacher_steps", teacher_steps)
    check_positive_int("steps_per_stage", steps_per_stage)
    if teacher_steps < 2 or teacher_steps & (teacher_steps - 1):
        raise ValueError(f"teacher_steps must be a power of 2 >= 2 (it is halved to 1), got {teacher_steps}")
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be an nn.Module (the student starts as its copy), got {type(teacher).__name__}")
    draw, stages, current, n = _draw(data, batch_size, generator), [], teacher, teacher_steps // 2
    while n >= 1:
        frozen = copy.deepcopy(current).eval().requires_grad_(False)
        student = copy.deepcopy(current).train().requires_grad_(True)

        def loss(batch: Tensor, student: nn.Module = student, frozen: nn.Module = frozen, n: int = n) -> Tensor:
            x0 = transform(batch, generator) if transform is not None else batch
            return progressive_distillation_loss(student, frozen, schedule, x0, n, generator, prediction_type,
                                                 clip_sample)

        start = time.perf_counter()
        history = fit(student, loss, draw, gaussian_path_config(steps_per_stage, lr, ema_decay,
                                                                progress=progress, desc=f"distil to {n} steps"))
        current = (history.ema if ema_decay else student).eval().requires_grad_(False)
        stages.append(Stage(n, current, time.perf_counter() - start, history))
        n //= 2
    return stages


def distilled_sampler(schedule: Schedule, prediction_type: str = "v_prediction",
                      clip_sample: float | None = None) -> DDIMSampler:
    """The deterministic DDIM sampler on the uniform grid ending at t = 0, the grid the students are trained on."""
    return DDIMSampler(schedule, prediction_type, eta=0.0, clip_sample=clip_sample, t_min=0.0, spacing="uniform")


def flow_trajectory(velocity: Model, noise: Tensor, num_steps: int,
                    path: FlowPath | None = None) -> tuple[Tensor, Tensor]:
    r"""Euler paths of the flow ``velocity(x, s)`` from ``noise`` ``(N, D)`` at :math:`s = 0` to :math:`s = 1`.

    Returns ``(trajectory, times)``: ``(num_steps + 1, N, D)`` and the flow times ``(num_steps + 1,)``;
    ``trajectory[-1]`` is the endpoint :math:`\Phi(\varepsilon)`. (DDIM on the path with the velocity
    is Euler's method: :mod:`gmtext.diffusion.samplers`.)
    """
    path = linear_path() if path is None else path
    if not isinstance(noise, Tensor) or noise.ndim != 2:
        raise ValueError(f"noise must be a tensor (N, D), got "
                         f"{tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__}")
    sampler = DDIMSampler(path.schedule, "velocity", t_min=0.0, spacing="uniform")
    traj = sample(FlowPath.to_diffusion(velocity), sampler, tuple(noise.shape), num_steps, x_init=noise,
                  return_path=True, device=noise.device)
    return traj, torch.linspace(0.0, 1.0, num_steps + 1, dtype=noise.dtype)


def reflow(model: nn.Module, noise: Tensor, endpoints: Tensor, steps: int, generator: torch.Generator, *,
           path: FlowPath | None = None, batch_size: int = 256, lr: float = 2e-3, ema_decay: float = 0.999,
           progress: bool = True) -> tuple[nn.Module, History]:
    r"""Train ``model`` :math:`u(x, s)` by :func:`gmtext.diffusion.flow_matching.cfm_loss` on the coupled pairs ``(noise[i], endpoints[i])``.

    ``endpoints`` are :math:`\Phi(\varepsilon)` of the teacher flow (``flow_trajectory(teacher, noise, K)[0][-1]``).
    Liu et al. (2023), eq. (5). Returns ``(ema_model, history)`` as :func:`gmtext.diffusion.training.train_flow_matching`.
    """
    if not isinstance(noise, Tensor) or not isinstance(endpoints, Tensor) or noise.shape != endpoints.shape \
            or noise.ndim != 2:
        raise ValueError("noise and endpoints must be tensors of one shape (N, D)")
    check_finite(endpoints, "endpoints")
    if noise.shape[0] < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {noise.shape[0]} pairs")
    path = linear_path() if path is None else path

    def pairs(step: int) -> tuple[Tensor, Tensor]:
        i = torch.randint(0, noise.shape[0], (batch_size,), generator=generator)
        return noise[i], endpoints[i]

    model.train()
    history = fit(model, lambda b: cfm_loss(model, b[1], generator, path, noise=b[0]), pairs,
                  gaussian_path_config(steps, lr, ema_decay, progress=progress, desc="reflow"))
    return history.ema, history
