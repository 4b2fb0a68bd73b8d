r"""DDPM's discrete forward process: :math:`T` steps with variances :math:`\beta_1..\beta_T`.

:math:`q(x_k \mid x_{k-1}) = \mathcal N(\sqrt{1-\beta_k}\,x_{k-1}, \beta_k I)` (Ho et al., 2020,
arXiv:2006.11239), a :class:`~gmtext.diffusion.schedules.Schedule` defined on the grid
:math:`t = k/T` only. Derived in chapter 6, eqs. (6.1)-(6.2).

Example:
    >>> s = DiscreteSchedule.from_name("linear", 1000)
    >>> round(float(s.alpha_bar[0]), 6), round(float(s.alpha_bar[-1]), 6)
    (1.0, 4e-05)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gmtext.diffusion.schedules import Schedule, _check_steps

#: The named DDPM beta schedules.
BETA_SCHEDULES: tuple[str, ...] = ("linear", "cosine")

__all__ = ["BETA_SCHEDULES", "ddpm_betas", "DiscreteSchedule"]


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


class DiscreteSchedule(Schedule):
    r"""DDPM's discrete forward process :math:`q(x_k \mid x_{k-1}) = \mathcal N(\sqrt{1-\beta_k}\,x_{k-1}, \beta_k I)`.

    The per-step quantity :math:`1 - \beta_k` has no symbol of its own in the code: :math:`\alpha`
    always means the signal scale :math:`\alpha_t = \sqrt{\bar\alpha_k}` of the marginal.

    Attributes (float64, indexed by the step :math:`k = 0..T`, so entry 0 is the data):
        betas: ``(T + 1,)``, :math:`\beta_0 = 0`.
        alpha_bar: ``(T + 1,)``, :math:`\bar\alpha_k = \prod_{j=1}^k (1-\beta_j)`, :math:`\bar\alpha_0 = 1`.
        num_steps: :math:`T`.
    """

    continuous = False

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
    def from_continuous(cls, schedule: Schedule, num_steps: int = 1000) -> DiscreteSchedule:
        r"""The grid :math:`t = k/T` of a continuous path: :math:`\beta_k = 1 - \alpha_{k/T}^2\sigma^2_{\cdot}\ldots`

        Exactly: :math:`\bar\alpha_k = \alpha_{k/T}^2/(\alpha^2_{k/T} + \sigma^2_{k/T})`, the
        variance-preserving path with the same signal-to-noise ratios (for a VP path, its own grid).
        """
        _check_steps(num_steps)
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        a, s = schedule.alpha_sigma(t)
        alpha_bar = a**2 / (a**2 + s**2)
        return cls(1 - alpha_bar[1:] / alpha_bar[:-1])

    def index(self, t: Tensor | float) -> Tensor:
        """The step indices ``k = t * T`` of times on the grid (raises for times off the grid)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        k = torch.round(t * self.num_steps)
        if bool(((t * self.num_steps - k).abs() > 1e-3).any()) or bool(((k < 0) | (k > self.num_steps)).any()):
            raise ValueError(f"a discrete schedule with T={self.num_steps} is defined at t = k/T, "
                             f"k = 0..{self.num_steps}; got t={t.flatten()[:4].tolist()}")
        return k.long()

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`(\alpha_t, \sigma_t) = (\sqrt{\bar\alpha_k}, \sqrt{1-\bar\alpha_k})` at :math:`t = k/T`."""
        ab = self.alpha_bar.to(torch.as_tensor(t).device)[self.index(t)]
        return ab.sqrt(), (1 - ab).sqrt()

    def __repr__(self) -> str:
        return f"DiscreteSchedule(T={self.num_steps})"
