r"""Posterior samplers for :math:`y = A(x) + n` built on one unconditional diffusion prior.

Each is a sampler of the package's contract (:mod:`gmtext.diffusion.samplers`): ``set_timesteps(n)``,
then ``step(model_output, t, x_t)`` returning ``SamplerOutput(prev_sample, x0_hat)``; the network
is never owned, and :func:`posterior_sample` is the loop. Code symbols against the papers:
``a_t, s_t`` are :math:`\alpha_t, \sigma_t`; ``s`` is the next (smaller) time; the update after
the correction is DDIM's (Song, Meng & Ermon 2021, eq. (12)) with :math:`\eta` (1: DDPM's ancestral step).

- :class:`ReplacementSampler`: replace what the measurement sees by a noised copy of it at every
  step, :math:`x_s \leftarrow (I - A^+A)\,x_s + A^+(\alpha_s y + \sigma_s A z)`; for a mask this is
  RePaint (Lugmayr et al. 2022, arXiv:2201.09865), with ``resample`` - 1 jumps back
  :math:`x_s \to x_t` per step (jump length 1); for other linear operators it is the projection
  of Song et al. (2022, arXiv:2111.08005) with :math:`\lambda = 1`.
- :class:`DDNMSampler`: the range-null correction of the denoised guess,
  :math:`\hat x_0 \leftarrow A^+ y + (I - A^+A)\hat x_0`, then the step from the corrected guess
  (Wang, Yu & Zhang 2023, arXiv:2212.00490, Algorithm 1; noise is not treated, as in plain DDNM).
- :class:`DPSSampler`: diffusion posterior sampling (Chung et al. 2023, arXiv:2209.14687,
  Algorithm 1): the ancestral step, then a gradient step on the measurement error through the
  network, :math:`x_s \leftarrow x_s - \zeta_t\nabla_{x_t}\|y - A(\hat x_0(x_t))\|^2` with
  :math:`\zeta_t = \zeta/\|y - A(\hat x_0(x_t))\|` (their appendix C), that is a step of length
  :math:`2\zeta` along the gradient of the *norm*. Any differentiable ``A`` (also non-linear).

Derived in chapter 9, eqs. (9.4)-(9.6).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gmtext._validate import check_positive_int
from gmtext.diffusion.parameterization import to_x0_and_epsilon
from gmtext.diffusion.process import Model, noise_like, posterior_coefficients
from gmtext.diffusion.samplers import DDIMSampler
from gmtext.diffusion.schedules import Schedule
from gmtext.inverse.operators import check_image

__all__ = ["PosteriorSampler", "ReplacementSampler", "DDNMSampler", "DPSSampler", "posterior_sample"]


class PosteriorSampler(DDIMSampler):
    r"""Shared mechanics: the measurement ``y``, its operator, and DDIM's step from a corrected :math:`\hat x_0`.

    Args:
        schedule: the path the prior network was trained on.
        operator: :math:`A` (see :mod:`gmtext.inverse.operators`); samplers that need :math:`A^+`
            refuse non-linear ones.
        y: the measurements, ``(B, ...)``, one per sample drawn (repeat them for several samples).
        prediction_type, clip_sample, t_min, spacing: see :class:`~gmtext.diffusion.samplers.Sampler`.
        eta: DDIM's :math:`\eta` (1: DDPM's ancestral step, 0: deterministic).
    """

    needs_grad: bool = False
    needs_linear: bool = True

    def __init__(self, schedule: Schedule, operator: Any, y: Tensor, prediction_type: str = "epsilon",
                 eta: float = 1.0, clip_sample: float | None = None, t_min: float = 1e-3,
                 spacing: str = "quadratic") -> None:
        super().__init__(schedule, prediction_type, eta, clip_sample, t_min, spacing)
        if not callable(getattr(operator, "forward", None)):
            raise TypeError(f"operator must have a forward(x) method, got {type(operator).__name__}")
        if self.needs_linear and not getattr(operator, "linear", False):
            raise TypeError(f"{type(self).__name__} needs a linear operator with a pseudo-inverse, got "
                            f"{operator!r}; use DPSSampler for non-linear measurements")
        self.operator, self.y = operator, check_image(y, "y")

    def _a_s(self, u: float) -> tuple[float, float]:
        a, s = self.schedule.alpha_sigma(torch.tensor(u, dtype=torch.float64))
        return float(a), float(s)

    def _check_y(self, x: Tensor) -> None:
        if x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x_t has {x.shape[0]} samples but y has {self.y.shape[0]} measurements; "
                             "repeat y once per sample (y.repeat_interleave(k, 0))")

    def _update(self, x0: Tensor, x_t: Tensor, t: float, s: float, generator: torch.Generator | None) -> Tensor:
        r"""DDIM's eq. (12) from :math:`\hat x_0` = ``x0``, with :math:`\hat\varepsilon = (x_t - \alpha_t\hat x_0)/\sigma_t`."""
        a_t, s_t = self._a_s(t)
        a_s, s_s = self._a_s(s)
        eps = (x_t - a_t * x0) / s_t
        sigma_eta = self.eta * math.sqrt(float(posterior_coefficients(self.schedule, t, s)[2])) if self.eta else 0.0
        x_s = a_s * x0 + math.sqrt(max(s_s**2 - sigma_eta**2, 0.0)) * eps
        return x_s if sigma_eta == 0 else x_s + sigma_eta * noise_like(x_t, generator)


class ReplacementSampler(PosteriorSampler):
    r"""RePaint-style replacement (module docstring), with ``resample`` model calls per time.

    ``timesteps`` lists each time ``resample`` times: after each of the first ``resample - 1``
    calls the sample goes back from :math:`s` to :math:`t` by the forward process,
    :math:`x_t = \alpha_{t|s}x_s + \sigma_{t|s}z` (Lugmayr et al., Algorithm 1 with jump length 1).
    """

    def __init__(self, schedule: Schedule, operator: Any, y: Tensor, resample: int = 1, **kwargs: Any) -> None:
        super().__init__(schedule, operator, y, **kwargs)
        self.resample = check_positive_int("resample", resample)

    def set_timesteps(self, num_steps: int) -> None:
        """``num_steps`` times from 1 to 0, each repeated ``resample`` times (the resampling jumps)."""
        super().set_timesteps(num_steps)
        r = self.resample
        self._timesteps = self._timesteps.repeat_interleave(r)
        self._ends = self._ends.repeat_interleave(r)
        self._jump = (torch.arange(len(self._timesteps)) % r) < r - 1     # go back to t after this call

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        # 1. the unconditional step;  2. replace the seen part by the noised measurement;  3. jump back
        self._check_y(x_t)
        x_s, x0_hat = super()._step(output, t, s, x_t, generator)
        a_s, s_s = self._a_s(s)
        seen = a_s * self.y + s_s * self.operator.forward(noise_like(x_s, generator))
        x_s = self.operator.project(x_s, seen)
        if bool(self._jump[self._index - 1]):
            a_t, s_t = self._a_s(t)
            ratio = a_t / a_s
            x_s = ratio * x_s + math.sqrt(max(s_t**2 - ratio**2 * s_s**2, 0.0)) * noise_like(x_s, generator)
        return x_s, x0_hat


class DDNMSampler(PosteriorSampler):
    r"""DDNM: the range-null correction :math:`\hat x_0 \leftarrow A^+ y + (I - A^+A)\hat x_0` at every step,
    then DDIM's step from the corrected guess; ``x0_hat`` of the output is the corrected guess."""

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        # 1. denoised guess;  2. range-null correction (DDNM eq. (13));  3. DDIM step from it
        self._check_y(x_t)
        x0_hat, _ = self._x0_eps(output, t, x_t)
        x0_hat = self.operator.project(x0_hat, self.y)
        return self._update(x0_hat, x_t, t, s, generator), x0_hat


class DPSSampler(PosteriorSampler):
    r"""DPS (module docstring): the model output must carry the graph from ``x_t`` (:func:`posterior_sample`
    calls the network on ``x_t.requires_grad_()``).

    Args:
        zeta: :math:`\zeta`, the step size before normalisation by :math:`\|y - A(\hat x_0)\|`
            (Chung et al. use 0.1 to 1 on images in [-1, 1]); too large a step overshoots.
    """

    needs_grad, needs_linear = True, False

    def __init__(self, schedule: Schedule, operator: Any, y: Tensor, zeta: float = 0.5, **kwargs: Any) -> None:
        super().__init__(schedule, operator, y, **kwargs)
        if not (isinstance(zeta, (int, float)) and math.isfinite(zeta) and zeta >= 0):
            raise ValueError(f"zeta must be a finite number >= 0, got {zeta!r}")
        self.zeta = float(zeta)

    def _step(self, output: Tensor, t: float, s: float, x_t: Tensor,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        # 1. x0_hat(x_t) with its graph;  2. ||y - A(x0_hat)|| and its gradient w.r.t. x_t;
        # 3. the unconditional step from the (clipped) guess;  4. the normalised gradient step
        self._check_y(x_t)
        if not (x_t.requires_grad and output.requires_grad):
            raise ValueError("DPS needs the gradient through the network: call the model on "
                             "x_t.requires_grad_() with gradients enabled (posterior_sample does)")
        a, sig, da, ds = self._coefficients(t, x_t)
        x0_raw, _ = to_x0_and_epsilon(output, self.prediction_type, x_t, a, sig, da, ds)
        residual = (self.y - self.operator.forward(x0_raw)).flatten(1)            # (B, M)
        norm = residual.norm(dim=1)                                                # (B,)
        (grad,) = torch.autograd.grad(norm.pow(2).sum(), x_t)
        x0_hat, _ = self._x0_eps(output.detach(), t, x_t.detach())
        x_s = self._update(x0_hat, x_t.detach(), t, s, generator)
        zeta_t = self.zeta / norm.detach().clamp_min(1e-12)                        # (B,)
        return x_s - zeta_t.view(-1, *[1] * (x_s.ndim - 1)) * grad, x0_hat


def posterior_sample(model: Model, sampler: Any, shape: tuple[int, ...], num_steps: int,
                     generator: torch.Generator | None = None, x_init: Tensor | None = None) -> Tensor:
    """The sampling loop of :func:`gmtext.diffusion.samplers.sample`, with gradients through the
    network where the sampler needs them (DPS), and without them elsewhere.

    Args:
        model: ``model(x_t, t)``, the unconditional prior.
        sampler: a :class:`PosteriorSampler` (or any sampler of the contract).
        shape: ``(B, C, H, W)`` of the samples (``B`` = the number of measurements in ``sampler.y``).
        num_steps: passed to ``set_timesteps``.
        generator: all randomness.
        x_init: the starting point instead of ``sampler.init_noise``.
    """
    grad = getattr(sampler, "needs_grad", False)
    sampler.set_timesteps(num_steps)
    x = sampler.init_noise(shape, generator) if x_init is None else x_init.clone()
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"x_init has shape {tuple(x.shape)}, expected {tuple(shape)}")
    for t in sampler.timesteps:
        t_batch = torch.full((shape[0],), float(t), dtype=x.dtype)
        with torch.set_grad_enabled(grad):
            x_in = x.detach().requires_grad_(grad)
            x = sampler.step(model(x_in, t_batch), t, x_in, generator=generator).prev_sample.detach()
    return x
