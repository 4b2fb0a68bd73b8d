r"""Gaussian paths: how much signal :math:`\alpha_t` and noise :math:`\sigma_t` the forward process keeps.

Every generative model of chapters 5-7 that adds Gaussian noise to data is one object here,

.. math:: q(x_t \mid x_0) = \mathcal N(x_t;\ \alpha_t x_0,\ \sigma_t^2 I),\qquad
          \lambda_t = \log(\alpha_t^2 / \sigma_t^2)\ \text{(log signal-to-noise ratio)},

on the time interval :math:`t \in [0, 1]` with **data at** :math:`t = 0` (Ho et al., 2020,
arXiv:2006.11239; Song et al., 2021, arXiv:2011.13456; Kingma et al., 2021, arXiv:2107.00630). A
network is called as ``model(x_t, t)``; a discrete DDPM step :math:`k \in \{0..T\}` lives at
:math:`t = k/T`. The kinds:

- :class:`~gmtext.diffusion.ddpm.DiscreteSchedule`: :math:`(\sqrt{\bar\alpha_k}, \sqrt{1-\bar\alpha_k})`
  with linear or cosine :math:`\beta_k`, on the grid only (DDPM, chapter 6);
- :class:`VPSchedule`: variance preserving, linear :math:`\beta(t)` (the score SDE, chapter 6);
- :class:`VESchedule`: :math:`(1, \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t)` (NCSN, chapter 5);
- :class:`LinearSchedule`: :math:`(1 - t, t)` (flow matching, section 6.x);
- :class:`CosineSchedule`: :math:`(\cos\frac{\pi t}2, \sin\frac{\pi t}2)` (flow matching, section 6.x);
- ``vdm.LinearLogSNR``: learned, :math:`\alpha_t^2 = \mathrm{sigmoid}(\lambda_t)` (the VDM, section 6.x).

A continuous path also has the derivatives :math:`\dot\alpha_t, \dot\sigma_t` (:meth:`Schedule.derivatives`),
hence the velocity :math:`\dot x_t = \dot\alpha_t x_0 + \dot\sigma_t\varepsilon` that flow matching
learns, and the SDE :math:`\mathrm{d}x = f(t)x\,\mathrm{d}t + g(t)\,\mathrm{d}w` with
:math:`f = \dot\alpha_t/\alpha_t` and :math:`g^2 = 2\sigma_t\dot\sigma_t - 2f\sigma_t^2`.
Derived in chapter 6, eqs. (6.1)-(6.2) and (6.9); chapter 7 treats them as one model.

Example:
    >>> a, s = LinearSchedule().alpha_sigma(torch.tensor(0.25))
    >>> float(a), float(s)
    (0.75, 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

class Schedule:
    r"""The interface of every Gaussian path: :math:`\alpha_t, \sigma_t`, their derivatives, :math:`\lambda_t`.

    Subclasses implement :meth:`alpha_sigma` and (when continuous) :meth:`derivatives`; the rest
    follows from them. Times are float64 tensors (or numbers) in [0, 1]; results are float64.
    """

    #: Whether the path has time derivatives (it is defined for every t, not only on a grid).
    continuous: bool = True

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(\alpha_t, \sigma_t)`."""
        raise NotImplementedError

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(\dot\alpha_t, \dot\sigma_t)`, the time derivatives."""
        raise TypeError(f"{type(self).__name__} is defined on a grid of steps only and has no time "
                        "derivatives; use a continuous schedule (VP, VE, linear, cosine)")

    def log_snr(self, t: Tensor | float) -> Tensor:
        r""":math:`\lambda_t = \log\alpha_t^2 - \log\sigma_t^2` (:math:`+\infty` at :math:`\sigma_t = 0`)."""
        a, s = self.alpha_sigma(t)
        return 2 * (a.log() - s.log())

    def d_log_snr(self, t: Tensor | float) -> Tensor:
        r""":math:`\dot\lambda_t = 2(\dot\alpha_t/\alpha_t - \dot\sigma_t/\sigma_t)` (negative: noise grows)."""
        (a, s), (da, ds) = self.alpha_sigma(t), self.derivatives(t)
        return 2 * (da / a - ds / s)

    def drift_diffusion(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(f(t), g(t)^2)` of the SDE :math:`\mathrm{d}x = f x\,\mathrm{d}t + g\,\mathrm{d}w` with these marginals."""
        (a, s), (da, ds) = self.alpha_sigma(t), self.derivatives(t)
        f = da / a
        return f, 2 * s * ds - 2 * f * s**2

    @property
    def prior_std(self) -> float:
        r""":math:`\sigma_1`, the standard deviation of the noise that sampling starts from."""
        return float(self.alpha_sigma(torch.tensor(1.0, dtype=torch.float64))[1])


class VPSchedule(Schedule):
    r"""Variance-preserving SDE with :math:`\beta(t) = \beta_{\min} + t(\beta_{\max}-\beta_{\min})`.

    .. math:: \alpha_t = \exp\!\Big(-\tfrac14 t^2(\beta_{\max}-\beta_{\min}) - \tfrac12 t\beta_{\min}\Big),
              \qquad \sigma_t = \sqrt{1-\alpha_t^2}

    (Song et al., 2021, eq. (33)); :math:`f = -\tfrac12\beta(t)`, :math:`g^2 = \beta(t)`.
    ``beta_min=0.1, beta_max=20`` reproduce DDPM's linear :math:`\beta_k` at :math:`T = 1000`.

    Example:
        >>> vp = VPSchedule()
        >>> a, s = vp.alpha_sigma(torch.tensor([0.0, 1.0]))
        >>> [round(float(v), 4) for v in a], round(float(a[1] ** 2 + s[1] ** 2), 6)
        ([1.0, 0.0066], 1.0)
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0) -> None:
        if not 0 < beta_min < beta_max:
            raise ValueError(f"need 0 < beta_min < beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t: Tensor | float) -> Tensor:
        r""":math:`\beta(t)`, the SDE's :math:`g(t)^2`."""
        return self.beta_min + _time(t) * (self.beta_max - self.beta_min)

    def log_alpha(self, t: Tensor | float) -> Tensor:
        t = _time(t)
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        la = self.log_alpha(t)
        return la.exp(), torch.sqrt(-torch.expm1(2 * la))      # expm1: precise sigma at small t

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`\dot\alpha = -\tfrac12\beta\alpha`, :math:`\dot\sigma = \tfrac12\beta\alpha^2/\sigma`."""
        a, s = self.alpha_sigma(t)
        b = self.beta(t)
        return -0.5 * b * a, 0.5 * b * a**2 / s

    def log_snr(self, t: Tensor | float) -> Tensor:
        la = self.log_alpha(t)
        return 2 * la - torch.log(-torch.expm1(2 * la))

    def drift_diffusion(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        b = self.beta(t)                                     # closed form, exact at t = 0 too
        return -0.5 * b, b

    def __repr__(self) -> str:
        return f"VPSchedule(beta_min={self.beta_min}, beta_max={self.beta_max})"


class VESchedule(Schedule):
    r"""Variance-exploding SDE: :math:`\alpha_t = 1`, :math:`\sigma_t = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t`.

    :math:`f = 0`, :math:`g^2 = 2\sigma_t^2\log(\sigma_{\max}/\sigma_{\min})` (Song et al., 2021,
    eq. (31)). Chapter 5's ladder of :math:`L` noise levels (NCSN, Song & Ermon 2019) is this path at
    :math:`L` evenly spaced times (:meth:`sigmas`).

    Example:
        >>> ve = VESchedule(0.01, 10.0)
        >>> [round(float(v), 4) for v in ve.alpha_sigma(torch.tensor(1.0))]
        [1.0, 10.0]
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0) -> None:
        if not (math.isfinite(sigma_min) and math.isfinite(sigma_max)) or not 0 < sigma_min < sigma_max:
            raise ValueError(f"need finite 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = _time(t)
        return torch.ones_like(t), self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        sigma = self.alpha_sigma(t)[1]
        return torch.zeros_like(sigma), sigma * math.log(self.sigma_max / self.sigma_min)

    def sigmas(self, n: int) -> Tensor:
        r"""The NCSN ladder: :math:`\sigma` at ``n`` evenly spaced times from 1 down to 0, float64 ``(n,)``."""
        _check_steps(n)
        return self.alpha_sigma(torch.linspace(1.0, 0.0, n, dtype=torch.float64))[1]

    def __repr__(self) -> str:
        return f"VESchedule(sigma_min={self.sigma_min}, sigma_max={self.sigma_max})"


class LinearSchedule(Schedule):
    r"""The straight path :math:`x_t = (1-t)\,x_0 + t\,\varepsilon`: :math:`\alpha_t = 1 - t`, :math:`\sigma_t = t`.

    Rectified flow (Liu et al., 2023, arXiv:2209.03003) and the conditional optimal-transport path
    of flow matching (Lipman et al., 2023, arXiv:2210.02747), in the book's time direction; its
    velocity target :math:`\dot x_t = \varepsilon - x_0` is constant in time. Chapter 6.x.
    """

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = _time(t)
        return 1 - t, t.clone()

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = _time(t)
        return -torch.ones_like(t), torch.ones_like(t)

    def __repr__(self) -> str:
        return "LinearSchedule()"


class CosineSchedule(Schedule):
    r"""A variance-preserving path with trigonometric coefficients: :math:`\alpha_t = \cos\frac{\pi t}{2}`, :math:`\sigma_t = \sin\frac{\pi t}{2}`.

    The "trigonometric interpolant" of Albergo & Vanden-Eijnden (2023, arXiv:2209.15571); its
    paths are curved. Chapter 6.x.
    """

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = _time(t)
        return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        a, s = self.alpha_sigma(t)
        return -0.5 * math.pi * s, 0.5 * math.pi * a

    def __repr__(self) -> str:
        return "CosineSchedule()"


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> Tensor:
    r"""``n`` noise levels from ``sigma_max`` down to ``sigma_min``, geometrically spaced, float32 ``(n,)``.

    .. math:: \sigma_i = \sigma_{\max}\,(\sigma_{\min}/\sigma_{\max})^{(i-1)/(n-1)}

    Song & Ermon (2019, arXiv:1907.05600): the ratio of neighbours is constant, so neighbouring
    noised densities overlap equally at every scale. This is :meth:`VESchedule.sigmas`.
    Derived in chapter 5, eq. (5.10).

    Example:
        >>> [round(v, 4) for v in geometric_sigmas(1.0, 0.01, 3).tolist()]
        [1.0, 0.1, 0.01]
    """
    _check_steps(n)
    if not (math.isfinite(sigma_max) and math.isfinite(sigma_min)) or not sigma_max >= sigma_min > 0:
        raise ValueError(f"need finite sigma_max >= sigma_min > 0, got sigma_max={sigma_max}, "
                         f"sigma_min={sigma_min}")
    if n == 1 or sigma_max == sigma_min:
        if sigma_max != sigma_min:
            raise ValueError("one noise level needs sigma_max == sigma_min")
        return torch.full((n,), float(sigma_max))
    return VESchedule(sigma_min, sigma_max).sigmas(n).float()


def ladder_schedule(sigmas: Tensor | Sequence[float]) -> VESchedule:
    r"""The variance-exploding path whose :meth:`VESchedule.sigmas` are the given geometric ladder.

    Chapter 5's noise levels :math:`\sigma_1 > \dots > \sigma_L` are this path at the times
    :math:`t_i = (L - i)/(L - 1)`: NCSN is a Gaussian path like the others (chapter 7).

    Raises:
        ValueError: unless ``sigmas`` has at least two positive, strictly decreasing levels with a
            constant ratio (a geometric ladder, e.g. from :func:`geometric_sigmas`).

    Example:
        >>> ladder_schedule(geometric_sigmas(1.0, 0.01, 5))
        VESchedule(sigma_min=0.009999999776482582, sigma_max=1.0)
    """
    sig = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if sig.numel() < 2 or not bool((sig > 0).all()) or not bool((sig[1:] < sig[:-1]).all()):
        raise ValueError(f"sigmas must be at least two positive, strictly decreasing levels, got {sig.tolist()}")
    ratios = sig[1:] / sig[:-1]
    if not torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-4):
        raise ValueError("the noise levels must form a geometric ladder (constant ratio, e.g. "
                         "geometric_sigmas), the levels of a variance-exploding path")
    return VESchedule(float(sig[-1]), float(sig[0]))


def _time(t: Tensor | float) -> Tensor:
    t = torch.as_tensor(t, dtype=torch.float64) if not isinstance(t, Tensor) else t
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"diffusion time must lie in [0, 1], got values in "
                         f"[{float(t.min()):.4g}, {float(t.max()):.4g}]")
    return t


def _check_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")


__all__ = ["Schedule", "VPSchedule", "VESchedule",
           "LinearSchedule", "CosineSchedule", "geometric_sigmas", "ladder_schedule"]
