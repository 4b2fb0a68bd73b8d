r"""Noise schedules: how much signal :math:`\alpha_t` and noise :math:`\sigma_t` the forward process keeps.

Every schedule here defines the marginal of the forward process (Ho et al., 2020, arXiv:2006.11239;
Kingma et al., 2021, arXiv:2107.00630)

.. math:: q(x_t \mid x_0) = \mathcal N(x_t;\ \alpha_t x_0,\ \sigma_t^2 I),\qquad
          \lambda_t = \log(\alpha_t^2 / \sigma_t^2)\ \text{(log signal-to-noise ratio)}

on the time interval :math:`t \in [0, 1]`, data at :math:`t = 0`. The book uses one time axis
everywhere: a network is called as ``model(x, t)`` with ``t`` in [0, 1], and the discrete DDPM
step :math:`k \in \{0, \dots, T\}` of Ho et al. lives at :math:`t = k/T`.

- :class:`DiscreteSchedule`: DDPM's :math:`\beta_1..\beta_T` ("linear" of Ho et al. or "cosine" of
  Nichol & Dhariwal, 2021, arXiv:2102.09672), :math:`\bar\alpha_k = \prod_{j \le k}(1-\beta_j)`,
  :math:`\alpha_t = \sqrt{\bar\alpha_k}`, :math:`\sigma_t = \sqrt{1-\bar\alpha_k}`, defined on the grid only.
- :class:`VPSchedule`: the variance-preserving SDE of Song et al. (2021, arXiv:2011.13456),
  :math:`\mathrm{d}x = -\tfrac12\beta(t)x\,\mathrm{d}t + \sqrt{\beta(t)}\,\mathrm{d}w`, linear :math:`\beta(t)`;
  its grid at :math:`T = 1000` is DDPM's linear schedule.
- :class:`VESchedule`: the variance-exploding SDE, :math:`\alpha_t = 1`, geometric :math:`\sigma_t`.

A continuous schedule also gives the SDE :math:`\mathrm{d}x = f(t)\,x\,\mathrm{d}t + g(t)\,\mathrm{d}w`
with :math:`f = \mathrm{d}\log\alpha_t/\mathrm{d}t` and :math:`g^2 = \mathrm{d}\sigma_t^2/\mathrm{d}t - 2f\sigma_t^2`.
Derived in chapter 6, eqs. (6.1)-(6.2) and (6.9).

Example:
    >>> s = DiscreteSchedule.from_name("linear", 1000)
    >>> round(float(s.alpha_bar[0]), 6), round(float(s.alpha_bar[-1]), 6)
    (1.0, 4e-05)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: The named DDPM beta schedules.
BETA_SCHEDULES: tuple[str, ...] = ("linear", "cosine")


def ddpm_betas(kind: str, num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
               cosine_s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    r"""DDPM's :math:`\beta_1, \dots, \beta_T` as a float64 tensor of shape ``(T,)``.

    - ``"linear"``: :math:`\beta_k` evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al., 2020).
    - ``"cosine"``: :math:`\bar\alpha_k = \cos^2\!\big(\tfrac{k/T + s}{1+s}\tfrac\pi2\big)/\cos^2\!\big(\tfrac{s}{1+s}\tfrac\pi2\big)`,
      :math:`\beta_k = \min(1 - \bar\alpha_k/\bar\alpha_{k-1},\ \text{max\_beta})` (Nichol & Dhariwal, 2021).

    Example:
        >>> ddpm_betas("linear", 3, 0.1, 0.3).tolist()
        [0.1, 0.2, 0.3]
    """
    if kind not in BETA_SCHEDULES:
        raise ValueError(f"unknown beta schedule {kind!r}; valid: {', '.join(BETA_SCHEDULES)}")
    _check_steps(num_steps)
    if kind == "linear":
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    k = torch.arange(num_steps + 1, dtype=torch.float64)
    f = torch.cos((k / num_steps + cosine_s) / (1 + cosine_s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


class DiscreteSchedule:
    r"""DDPM's discrete forward process :math:`q(x_k \mid x_{k-1}) = \mathcal N(\sqrt{1-\beta_k}\,x_{k-1}, \beta_k I)`.

    Attributes (float64, indexed by the step :math:`k = 0..T`, so entry 0 is the data):
        betas: ``(T + 1,)``, :math:`\beta_0 = 0`.
        alpha_bar: ``(T + 1,)``, :math:`\bar\alpha_k = \prod_{j=1}^k (1-\beta_j)`, :math:`\bar\alpha_0 = 1`.
        num_steps: :math:`T`.

    Times passed to :meth:`alpha_sigma` are :math:`t = k/T` (what a network receives).
    """

    def __init__(self, betas: Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a 1-D tensor (beta_1..beta_T), got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        self.num_steps = betas.numel()
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        self.alpha_bar = torch.cumprod(1 - self.betas, dim=0)

    @classmethod
    def from_name(cls, kind: str, num_steps: int = 1000) -> DiscreteSchedule:
        """A schedule from :func:`ddpm_betas` (``"linear"`` or ``"cosine"``)."""
        return cls(ddpm_betas(kind, num_steps))

    @classmethod
    def from_continuous(cls, schedule: VPSchedule, num_steps: int = 1000) -> DiscreteSchedule:
        r"""The grid :math:`t = k/T` of a VP schedule: :math:`\beta_k = 1 - \alpha_{k/T}^2/\alpha_{(k-1)/T}^2`."""
        _check_steps(num_steps)
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        a2 = schedule.alpha_sigma(t)[0] ** 2
        return cls(1 - a2[1:] / a2[:-1])

    def index(self, t: Tensor | float) -> Tensor:
        """The step indices ``k = t * T`` of times on the grid (raises for times off the grid)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        k = torch.round(t * self.num_steps)
        if bool(((t * self.num_steps - k).abs() > 1e-3).any()) or bool(((k < 0) | (k > self.num_steps)).any()):
            raise ValueError(f"a discrete schedule with T={self.num_steps} is defined at t = k/T, "
                             f"k = 0..{self.num_steps}; got t={t.flatten()[:4].tolist()}")
        return k.long()

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(\alpha_t, \sigma_t) = (\sqrt{\bar\alpha_k}, \sqrt{1-\bar\alpha_k})` at :math:`t = k/T`, float64."""
        ab = self.alpha_bar[self.index(t)]
        return ab.sqrt(), (1 - ab).sqrt()

    def log_snr(self, t: Tensor | float) -> Tensor:
        r""":math:`\lambda_t = \log(\bar\alpha_k / (1-\bar\alpha_k))` (:math:`+\infty` at :math:`t = 0`)."""
        a, s = self.alpha_sigma(t)
        return 2 * (a.log() - s.log())

    def __repr__(self) -> str:
        return f"DiscreteSchedule(T={self.num_steps})"


class VPSchedule:
    r"""Variance-preserving SDE with :math:`\beta(t) = \beta_{\min} + t(\beta_{\max}-\beta_{\min})`.

    .. math:: \alpha_t = \exp\!\Big(-\tfrac14 t^2(\beta_{\max}-\beta_{\min}) - \tfrac12 t\beta_{\min}\Big),
              \qquad \sigma_t = \sqrt{1-\alpha_t^2}

    (Song et al., 2021, eq. (33)). ``beta_min=0.1, beta_max=20`` reproduce DDPM's linear
    :math:`\beta_k` at :math:`T = 1000` (:math:`\beta_k \approx \beta(k/T)/T`).

    Example:
        >>> vp = VPSchedule()
        >>> a, s = vp.alpha_sigma(torch.tensor([0.0, 1.0]))
        >>> [round(float(v), 4) for v in a], round(float(a[1] ** 2 + s[1] ** 2), 6)
        ([1.0, 0.0066], 1.0)
    """

    kind = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0) -> None:
        if not 0 < beta_min < beta_max:
            raise ValueError(f"need 0 < beta_min < beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t: Tensor) -> Tensor:
        r""":math:`\beta(t)`, the SDE's :math:`g(t)^2`."""
        return self.beta_min + _time(t) * (self.beta_max - self.beta_min)

    def log_alpha(self, t: Tensor) -> Tensor:
        t = _time(t)
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(\alpha_t, \sigma_t)`; :math:`\sigma_t` via ``expm1`` so small :math:`t` keeps precision."""
        la = self.log_alpha(t)
        return la.exp(), torch.sqrt(-torch.expm1(2 * la))

    def log_snr(self, t: Tensor | float) -> Tensor:
        r""":math:`\lambda_t = \log\alpha_t^2 - \log\sigma_t^2`."""
        la = self.log_alpha(t)
        return 2 * la - torch.log(-torch.expm1(2 * la))

    def drift_diffusion(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(f(t), g(t)^2) = (-\tfrac12\beta(t),\ \beta(t))` of :math:`\mathrm{d}x = f x\,\mathrm{d}t + g\,\mathrm{d}w`."""
        b = self.beta(t)
        return -0.5 * b, b

    def __repr__(self) -> str:
        return f"VPSchedule(beta_min={self.beta_min}, beta_max={self.beta_max})"


class VESchedule:
    r"""Variance-exploding SDE: :math:`\alpha_t = 1`, :math:`\sigma_t = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t`.

    :math:`f = 0`, :math:`g^2 = \mathrm{d}\sigma_t^2/\mathrm{d}t = 2\sigma_t^2\log(\sigma_{\max}/\sigma_{\min})`
    (Song et al., 2021, eq. (31); the continuous limit of the noise levels of chapter 5's NCSN).

    Example:
        >>> ve = VESchedule(0.01, 10.0)
        >>> [round(float(v), 4) for v in ve.alpha_sigma(torch.tensor(1.0))]
        [1.0, 10.0]
    """

    kind = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        t = _time(t)
        return torch.ones_like(t), self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def log_snr(self, t: Tensor | float) -> Tensor:
        return -2 * torch.log(self.alpha_sigma(t)[1])

    def drift_diffusion(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        sigma = self.alpha_sigma(t)[1]
        return torch.zeros_like(sigma), 2 * sigma**2 * math.log(self.sigma_max / self.sigma_min)

    def __repr__(self) -> str:
        return f"VESchedule(sigma_min={self.sigma_min}, sigma_max={self.sigma_max})"


ContinuousSchedule = VPSchedule | VESchedule


def _time(t: Tensor | float) -> Tensor:
    t = torch.as_tensor(t, dtype=torch.float64) if not isinstance(t, Tensor) else t
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"diffusion time must lie in [0, 1], got values in "
                         f"[{float(t.min()):.4g}, {float(t.max()):.4g}]")
    return t


def _check_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")


__all__ = ["BETA_SCHEDULES", "ddpm_betas", "DiscreteSchedule", "VPSchedule", "VESchedule",
           "ContinuousSchedule"]
