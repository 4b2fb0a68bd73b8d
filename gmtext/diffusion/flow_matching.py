r"""Conditional flow matching: the Gaussian paths of diffusion, seen in flow matching's time direction.

Lipman et al., "Flow Matching for Generative Modeling", ICLR 2023 (arXiv:2210.02747); Liu et al.,
"Flow Straight and Fast", ICLR 2023 (arXiv:2209.03003); Albergo and Vanden-Eijnden, "Building
Normalizing Flows with Stochastic Interpolants", ICLR 2023 (arXiv:2209.15571).

The papers run time the other way: noise at :math:`s = 0`, data at :math:`s = 1`,
:math:`x_s = a_s x + b_s\varepsilon` for data :math:`x` and noise :math:`\varepsilon\sim\mathcal N(0, I)`
(the book keeps :math:`x_0` for data, so the papers' noise :math:`x_0` is written :math:`\varepsilon`).
Everything else in the book has data at :math:`t = 0`. **This module is the one place where
time is converted**: :class:`FlowPath` wraps a diffusion path (:mod:`gmtext.diffusion.schedules`)
with :math:`s = 1 - t`, so :math:`a_s = \alpha_{1-s}`, :math:`b_s = \sigma_{1-s}`, and a flow
network's velocity :math:`u(x, s) = \mathrm{d}x/\mathrm{d}s` is minus the diffusion-time velocity
:math:`v(x, t) = \mathrm{d}x/\mathrm{d}t` at :math:`t = 1 - s`. The linear ("rectified flow") path is
:class:`~gmtext.diffusion.schedules.LinearSchedule`, target :math:`u = x - \varepsilon`; the loss

.. math:: \mathcal L_{\mathrm{CFM}}(\theta) = \mathbb E_{s, x, \varepsilon}
          \big\|u_\theta(x_s, s) - \tfrac{\mathrm d}{\mathrm ds}x_s\big\|^2

is :func:`gmtext.diffusion.losses.denoising_loss` with the velocity target; its minimiser is the
marginal velocity, which :func:`mixture_velocity` gives exactly for a Gaussian mixture. Derived in
chapter 6.x; the straightness of the resulting trajectories is measured by :mod:`gmtext.metrics.paths`.

Example:
    >>> import torch
    >>> path = linear_path()
    >>> noise, data = torch.zeros(1, 2), torch.ones(1, 2)
    >>> path.sample(noise, data, torch.tensor([0.25])), path.target(noise, data, torch.tensor([0.25]))
    (tensor([[0.2500, 0.2500]]), tensor([[1., 1.]]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gmtext.config import generator_device
from gmtext.data.toy import GaussianMixture
from gmtext.diffusion.losses import denoising_loss
from gmtext.diffusion.oracles import mixture_model
from gmtext.diffusion.process import Model
from gmtext.diffusion.schedules import CosineSchedule, LinearSchedule, Schedule

__all__ = ["FlowPath", "linear_path", "cosine_path", "cfm_loss", "mixture_velocity"]


@dataclass(frozen=True)
class FlowPath:
    r"""A diffusion path in flow matching's time :math:`s = 1 - t` (noise at 0, data at 1).

    Attributes:
        schedule: the diffusion-time path, :math:`x_t = \alpha_t x + \sigma_t\varepsilon` (data at t = 0).
        name: a label.
    """

    schedule: Schedule
    name: str = "affine"

    def coefficients(self, s: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r""":math:`(a_s, b_s, \dot a_s, \dot b_s) = (\alpha_t, \sigma_t, -\dot\alpha_t, -\dot\sigma_t)` at :math:`t = 1 - s`, ``(B, 1)``."""
        s = _check_times(s, x).double()
        t = 1 - s                                                          # the conversion
        (a, b), (da, db) = self.schedule.alpha_sigma(t), self.schedule.derivatives(t)
        return tuple(c[:, None].to(x.dtype) for c in (a, b, -da, -db))

    def sample(self, noise: Tensor, data: Tensor, s: Tensor) -> Tensor:
        r""":math:`x_s = a_s x + b_s\varepsilon` for ``noise`` :math:`\varepsilon` and ``data`` :math:`x` ``(B, D)``, times ``(B,)``."""
        _check_pair(noise, data)
        a, b, _, _ = self.coefficients(s, data)
        return a * data + b * noise

    def target(self, noise: Tensor, data: Tensor, s: Tensor) -> Tensor:
        r"""The conditional velocity :math:`u_s = \dot a_s x + \dot b_s\varepsilon`, ``(B, D)``."""
        _check_pair(noise, data)
        _, _, da, db = self.coefficients(s, data)
        return da * data + db * noise

    @staticmethod
    def to_diffusion(model: Model) -> Model:
        r"""A flow network :math:`u(x, s)` as a diffusion-time velocity model :math:`v(x, t) = -u(x, 1 - t)`."""
        return lambda x, t, **condition: -model(x, 1 - t, **condition)

    @staticmethod
    def from_diffusion(model: Model) -> Model:
        r"""A diffusion-time velocity model :math:`v(x, t)` as a flow network :math:`u(x, s) = -v(x, 1 - s)`."""
        return lambda x, s, **condition: -model(x, 1 - s, **condition)


def linear_path() -> FlowPath:
    r"""The rectified-flow / optimal-transport path :math:`x_s = s\,x + (1-s)\,\varepsilon`, target :math:`x - \varepsilon`."""
    return FlowPath(LinearSchedule(), "linear")


def cosine_path() -> FlowPath:
    r"""A variance-preserving path :math:`a_s = \sin(\pi s/2)`, :math:`b_s = \cos(\pi s/2)`; its trajectories are curved."""
    return FlowPath(CosineSchedule(), "cosine")


def cfm_loss(model: nn.Module, data: Tensor, generator: torch.Generator | None = None,
             path: FlowPath | None = None, noise: Tensor | None = None, **condition: Any) -> Tensor:
    r"""The conditional flow-matching loss of a batch of ``data`` ``(B, D)``, a scalar.

    .. math:: \frac1B\sum_b \big\|u_\theta(x_{s_b}, s_b) - u_{s_b}(\varepsilon_b, x_b)\big\|^2,
              \quad s_b \sim U(0, 1),\ \varepsilon_b\sim\mathcal N(0, I)

    Lipman et al. (2023), eq. (9). ``noise`` may be given (a coupling, as in reflow: Liu et al. 2023);
    by default it is fresh noise (drawn before the times). ``model(x, s)`` returns the velocity.
    """
    path = linear_path() if path is None else path
    if not isinstance(data, Tensor) or data.ndim != 2:
        raise ValueError(f"data must be a tensor (B, D), got "
                         f"{tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__}")
    if noise is None:
        noise = torch.randn(data.shape, generator=generator, device=generator_device(generator)).to(data)
    s = torch.rand(data.shape[0], generator=generator, device=generator_device(generator)).to(data)
    return denoising_loss(FlowPath.to_diffusion(model), path.schedule, data, t=1 - s.double(), noise=noise,
                          prediction_type="velocity", reduction="sum", condition=condition).mean()


def mixture_velocity(mixture: GaussianMixture, x: Tensor, s: Tensor, path: FlowPath | None = None) -> Tensor:
    r"""The exact marginal velocity :math:`u^\star(y, s) = \mathbb E[\dot a_s x + \dot b_s\varepsilon\mid x_s = y]`
    of a Gaussian-mixture toy, ``(N, D)``: the optimum of :func:`cfm_loss`
    (:func:`gmtext.diffusion.oracles.mixture_model`, read in flow time)."""
    path = linear_path() if path is None else path
    s = _check_times(s, x)
    return FlowPath.from_diffusion(mixture_model(mixture, path.schedule, "velocity"))(x, s)


def _check_pair(noise: Tensor, data: Tensor) -> None:
    if not isinstance(noise, Tensor) or not isinstance(data, Tensor):
        raise TypeError("noise and data must be tensors (B, D)")
    if noise.shape != data.shape or data.ndim != 2:
        raise ValueError(f"noise and data must have the same shape (B, D), got {tuple(noise.shape)} "
                         f"and {tuple(data.shape)}")


def _check_times(t: Tensor | float, x: Tensor) -> Tensor:
    if not isinstance(t, Tensor):
        t = torch.full((x.shape[0],), float(t))
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must have shape ({x.shape[0]},) (one time per point), got {tuple(t.shape)}")
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"times must lie in [0, 1], got [{float(t.min())}, {float(t.max())}]")
    return t.to(x.device)
