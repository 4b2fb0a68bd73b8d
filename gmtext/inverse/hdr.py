r"""Single-image HDR: non-linear measurements that saturate, :math:`y = \min(x, \tau)` and a soft tone curve.

- :class:`Clip`: a sensor that saturates at level :math:`\tau`, :math:`y = \min(x, \tau)`. Its
  Jacobian is 1 on pixels below :math:`\tau` and exactly 0 on saturated ones, so a gradient method
  (DPS) gets no signal there. Undoing the clip is *inpainting with a constraint*: the unsaturated
  pixels are known, the saturated ones are unknown with :math:`x \ge \tau`
  (:meth:`Clip.as_inpainting`).
- :class:`ToneCurve`: a smooth saturating curve :math:`y = \tau\tanh(x/\tau)`, invertible on
  :math:`|y| < \tau` (:meth:`ToneCurve.inverse`), with a Jacobian :math:`1 - (y/\tau)^2` that
  vanishes as the pixel saturates.

Neither is linear: they have ``forward`` only (no adjoint, no pseudo-inverse), and the posterior
samplers that need :math:`A^+` refuse them; DPS takes them. Derived in chapter 9 (HDR).

Example:
    >>> import torch
    >>> y = Clip(0.5).forward(torch.tensor([[[[0.25, 0.75]]]]))
    >>> y.tolist(), Clip(0.5).saturated(y).tolist()
    ([[[[0.25, 0.5]]]], [[[[False, True]]]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmtext.inverse.operators import Mask, check_image

__all__ = ["Clip", "ToneCurve"]


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not level > 0 or level == float("inf"):
        raise ValueError(f"the clipping level must be a finite number > 0, got {level!r}")
    return float(level)


class Clip:
    r"""Hard saturation :math:`y = \min(x, \tau)` (module docstring).

    Raises:
        ValueError: for a level that is not a finite number > 0, or NaN images.
    """

    linear = False

    def __init__(self, level: float) -> None:
        self.level = _check_level(level)

    def forward(self, x: Tensor) -> Tensor:
        r""":math:`y = \min(x, \tau)`, differentiable (gradient 0 where :math:`x > \tau`)."""
        return check_image(x).clamp(max=self.level)

    __call__ = forward

    def saturated(self, y: Tensor) -> Tensor:
        r"""Boolean map of the saturated pixels, :math:`y \ge \tau`."""
        return check_image(y, "y") >= self.level

    def as_inpainting(self, y: Tensor) -> tuple[Mask, float]:
        r"""The equivalent inpainting problem: a :class:`~gmtext.inverse.operators.Mask` of the
        unsaturated pixels of one image ``y`` ``(1, C, H, W)``, and the lower bound :math:`\tau` that
        the unseen pixels must respect."""
        if y.shape[0] != 1:
            raise ValueError(f"as_inpainting takes one image (1, C, H, W), got {tuple(y.shape)}")
        return Mask(~self.saturated(y)[0]), self.level

    def __repr__(self) -> str:
        return f"Clip({self.level:g})"


class ToneCurve:
    r"""Soft saturation :math:`y = \tau\tanh(x/\tau)`, the identity for :math:`|x|\ll\tau` (module docstring).

    Raises:
        ValueError: for a level that is not a finite number > 0, NaN images, or (in
            :meth:`inverse`) values with :math:`|y| \ge \tau`.
    """

    linear = False

    def __init__(self, level: float) -> None:
        self.level = _check_level(level)

    def forward(self, x: Tensor) -> Tensor:
        r""":math:`y = \tau\tanh(x/\tau)`."""
        return self.level * torch.tanh(check_image(x) / self.level)

    __call__ = forward

    def inverse(self, y: Tensor) -> Tensor:
        r""":math:`x = \tau\,\operatorname{artanh}(y/\tau)` for :math:`|y| < \tau`."""
        y = check_image(y, "y")
        if bool((y.abs() >= self.level).any()):
            raise ValueError(f"the tone curve reaches |y| < {self.level:g} only: saturated values "
                             "have no inverse (treat them as clipped)")
        return self.level * torch.atanh(y / self.level)

    def __repr__(self) -> str:
        return f"ToneCurve({self.level:g})"
