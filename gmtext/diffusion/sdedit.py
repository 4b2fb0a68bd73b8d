r"""Image-to-image with a diffusion prior: SDEdit (Meng et al. 2022, arXiv:2108.01073).

To turn a source image :math:`x^{\text{src}}` into an image of the domain a diffusion model was
trained on, noise it to an intermediate time and let the model denoise it:

.. math:: x_{t_0} = \alpha_{t_0}x^{\text{src}} + \sigma_{t_0}\varepsilon,\qquad
          x_0 = \text{reverse sampler from } t_0 \text{ down to } 0 .

The noise washes out what the two domains differ in, at the scales where :math:`\sigma_{t_0}`
dominates the signal, and the prior fills it in; what survives the noise (the coarse layout)
is kept. :math:`t_0` trades **faithfulness** to the source (small :math:`t_0`) against
**realism** in the target domain (large :math:`t_0`; :math:`t_0 = 1` forgets the source). Derived
in chapter 8.

The sampler contract of :mod:`gmtext.diffusion.samplers` runs from :math:`t = 1`; starting at
:math:`t_0` is the same path on a rescaled clock :math:`u = t/t_0 \in [0, 1]`
(:class:`TruncatedSchedule`), with the model called at :math:`t = t_0 u`. Every sampler and its
checks then apply unchanged.

Example:
    >>> import torch
    >>> from gmtext.diffusion.schedules import VPSchedule
    >>> vp = VPSchedule()
    >>> half = TruncatedSchedule(vp, 0.5)
    >>> float(half.alpha_sigma(1.0)[0]) == float(vp.alpha_sigma(0.5)[0])      # u = 1 is t = t_0
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gmtext._validate import check_finite, check_positive_int
from gmtext.diffusion.process import Model, q_sample
from gmtext.diffusion.samplers import DDIMSampler, sample
from gmtext.diffusion.schedules import Schedule

__all__ = ["TruncatedSchedule", "sdedit"]


def _check_start(t_start: float) -> float:
    if isinstance(t_start, bool) or not isinstance(t_start, (int, float)) or not 0 < t_start <= 1:
        raise ValueError(f"t_start must be a number in (0, 1] (the time the source is noised to), got {t_start!r}")
    return float(t_start)


class TruncatedSchedule(Schedule):
    r"""The path on :math:`[0, t_0]` on the clock :math:`u = t/t_0`: :math:`\alpha'_u = \alpha_{t_0u}`, :math:`\sigma'_u = \sigma_{t_0u}`.

    Derivatives follow the chain rule, :math:`\dot\alpha'_u = t_0\dot\alpha_{t_0 u}`. Needs a
    continuous base path (a DDPM grid has no values between its steps).
    """

    def __init__(self, base: Schedule, t_start: float) -> None:
        if not isinstance(base, Schedule) or not base.continuous:
            raise TypeError(f"base must be a continuous gmtext.diffusion Schedule (VP, VE, linear, cosine), "
                            f"got {type(base).__name__}")
        self.base, self.t_start = base, _check_start(t_start)

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        return self.base.alpha_sigma(self.t_start * torch.as_tensor(t, dtype=torch.float64))

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        da, ds = self.base.derivatives(self.t_start * torch.as_tensor(t, dtype=torch.float64))
        return self.t_start * da, self.t_start * ds

    def __repr__(self) -> str:
        return f"TruncatedSchedule({self.base!r}, t_start={self.t_start})"


def sdedit(model: Model, schedule: Schedule, source: Tensor, t_start: float, num_steps: int,
           generator: torch.Generator | None = None, condition: dict[str, Any] | None = None,
           eta: float = 0.0, clip_sample: float | None = None) -> Tensor:
    r"""SDEdit: noise ``source`` to ``t_start`` and denoise it with ``model``'s DDIM sampler (module docstring).

    Args:
        model: ``model(x_t, t, **condition)``, an :math:`\varepsilon`-network trained on ``schedule``
            (the prior of the *target* domain).
        schedule: the continuous path the model was trained on.
        source: images ``(B, ...)`` on the model's scale (e.g. digits on [-1, 1]).
        t_start: :math:`t_0 \in (0, 1]`.
        num_steps: network calls between :math:`t_0` and 0.
        generator: the noise of :math:`x_{t_0}` (and of the steps when ``eta > 0``).
        condition: passed to the model (e.g. ``{"labels": c}``); None: unconditional.
        eta, clip_sample: see :class:`~gmtext.diffusion.samplers.DDIMSampler`.

    Returns:
        The translated images, the shape of ``source``.
    """
    t_start = _check_start(t_start)
    check_positive_int("num_steps", num_steps)
    if not isinstance(source, Tensor) or source.ndim < 2 or not source.is_floating_point():
        raise ValueError(f"source must be a float tensor (B, ...), got "
                         f"{tuple(source.shape) if isinstance(source, Tensor) else type(source).__name__}")
    check_finite(source, "source")
    sampler = DDIMSampler(TruncatedSchedule(schedule, t_start), eta=eta, clip_sample=clip_sample)
    x_start = q_sample(schedule, source, t_start, generator=generator)            # eq. (6.2) at t_0

    def on_clock(x: Tensor, u: Tensor, **cond: Any) -> Tensor:                     # u = t / t_0
        return model(x, t_start * u, **cond)

    return sample(on_clock, sampler, tuple(source.shape), num_steps, generator=generator,
                  device=source.device, x_init=x_start, condition=condition)
