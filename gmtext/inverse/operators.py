r"""Linear measurement operators :math:`y = A x + n` on images ``(N, C, H, W)``, with adjoint and pseudo-inverse.

Every operator of this module is linear and has three maps:

- ``forward``: :math:`y = A x`;
- ``adjoint``: :math:`A^\top y`, defined by :math:`\langle A x, y\rangle = \langle x, A^\top y\rangle`;
- ``pinv``: the Moore-Penrose pseudo-inverse :math:`A^+ y`, with :math:`A A^+ A = A` and
  :math:`A^+ A A^+ = A^+`.

:math:`A^+ A` is the orthogonal projection onto the row space of :math:`A` (what the measurement
sees) and :math:`I - A^+ A` the projection onto its null space (what it cannot see), so the
range-null decomposition (Wang et al. 2023, DDNM, arXiv:2212.00490, eq. (3))

.. math:: \hat x = A^+ y + (I - A^+ A)\,\bar x

satisfies :math:`A\hat x = y` for *any* :math:`\bar x` (:meth:`LinearOperator.project`). The
operators: :class:`Mask` (inpainting), :class:`Crop` (uncropping: only a centre window is seen),
:class:`Downsample` (super-resolution by average pooling), :class:`Grayscale` (colorization) and
:class:`~gmtext.inverse.blur.Blur` (deblurring). The non-linear HDR operators are in
:mod:`gmtext.inverse.hdr`. Derived in chapter 9, eqs. (9.1)-(9.3).

Example:
    >>> import torch
    >>> A = Downsample(2)
    >>> x = torch.randn(1, 1, 4, 4)
    >>> bool(torch.allclose(A.forward(A.project(x, torch.zeros(1, 1, 2, 2))), torch.zeros(1, 1, 2, 2), atol=1e-6))
    True
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LinearOperator", "Mask", "Crop", "Downsample", "Grayscale", "check_image"]


def check_image(x: Tensor, name: str = "x", channels: int | None = None) -> Tensor:
    """``x`` must be a finite floating-point tensor ``(N, C, H, W)`` (with ``C == channels`` if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype} (convert with .float())")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


class LinearOperator(ABC):
    r"""A linear measurement :math:`A`: ``forward``, ``adjoint``, ``pinv`` and the range-null ``project``.

    Subclasses implement ``_forward``, ``_adjoint``, ``_pinv`` on checked tensors.
    """

    linear: bool = True

    def forward(self, x: Tensor) -> Tensor:
        r""":math:`y = A x` for images ``x`` ``(N, C, H, W)``."""
        return self._forward(check_image(x))

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def adjoint(self, y: Tensor) -> Tensor:
        r""":math:`A^\top y`: :math:`\langle A x, y\rangle = \langle x, A^\top y\rangle` for all :math:`x, y`."""
        return self._adjoint(check_image(y, "y"))

    def pinv(self, y: Tensor) -> Tensor:
        r"""The pseudo-inverse :math:`A^+ y`: the least-norm :math:`x` among those closest to :math:`Ax = y`."""
        return self._pinv(check_image(y, "y"))

    def project(self, x: Tensor, y: Tensor) -> Tensor:
        r"""The range-null step :math:`A^+ y + (I - A^+ A)x = x + A^+(y - Ax)` (eq. (9.3)): keeps what
        the measurement cannot see of ``x`` and takes the rest from ``y``."""
        return x + self.pinv(y - self.forward(x))

    # each operator defines its map, adjoint and pseudo-inverse on validated input
    @abstractmethod
    def _forward(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def _adjoint(self, y: Tensor) -> Tensor: ...

    @abstractmethod
    def _pinv(self, y: Tensor) -> Tensor: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Mask(LinearOperator):
    r"""Inpainting: :math:`A = \operatorname{diag}(m)`, :math:`m\in\{0, 1\}` (1 = pixel seen).

    :math:`y = m\odot x` keeps the image's shape (unseen pixels read 0). :math:`A` is an orthogonal
    projection, so :math:`A^\top = A^+ = A`.

    Args:
        mask: ``(H, W)`` (shared by the channels) or ``(C, H, W)``, values 0 or 1 (bool allowed).

    Raises:
        ValueError: for a mask that is not 2-D/3-D, holds values other than 0 and 1, or (when
            applied) does not match the image's shape.
    """

    def __init__(self, mask: Tensor) -> None:
        mask = torch.as_tensor(mask)
        if mask.ndim not in (2, 3):
            raise ValueError(f"mask must have shape (H, W) or (C, H, W), got {tuple(mask.shape)}")
        mask = mask.float()
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must hold 0 (unseen) and 1 (seen) only")
        self.mask = mask

    def _check(self, x: Tensor) -> Tensor:
        if x.shape[-self.mask.ndim:] != self.mask.shape:
            raise ValueError(f"the mask has shape {tuple(self.mask.shape)}, which does not match "
                             f"images of shape {tuple(x.shape)}")
        return self.mask.to(dtype=x.dtype, device=x.device)

    def _forward(self, x: Tensor) -> Tensor:
        return x * self._check(x)

    _adjoint = _pinv = _forward

    def __repr__(self) -> str:
        return f"Mask({tuple(self.mask.shape)}, {int(self.mask.sum())} seen)"


class Crop(LinearOperator):
    r"""Uncropping: only the centre ``window`` :math:`(h, w)` of an ``size`` :math:`(H, W)` image is seen.

    :math:`y = x_{[i:i+h,\, j:j+w]}` with the window centred (:math:`i = \lfloor (H-h)/2\rfloor`).
    :math:`A A^\top = I`, so :math:`A^+ = A^\top` (zero-padding back to :math:`H\times W`).

    Raises:
        ValueError: for a window that does not fit in the image, or images of another size.
    """

    def __init__(self, size: tuple[int, int], window: tuple[int, int]) -> None:
        (H, W), (h, w) = size, window
        if not (0 < h <= H and 0 < w <= W):
            raise ValueError(f"the window {window} must fit inside the image {size} (positive sizes)")
        self.size, self.window = (H, W), (h, w)
        self.top, self.left = (H - h) // 2, (W - w) // 2

    def _forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.size:
            raise ValueError(f"Crop expects images of size {self.size}, got {tuple(x.shape)}")
        (h, w) = self.window
        return x[..., self.top:self.top + h, self.left:self.left + w]

    def _adjoint(self, y: Tensor) -> Tensor:
        if tuple(y.shape[-2:]) != self.window:
            raise ValueError(f"Crop.adjoint expects measurements of size {self.window}, got {tuple(y.shape)}")
        (H, W), (h, w) = self.size, self.window
        return F.pad(y, (self.left, W - w - self.left, self.top, H - h - self.top))   # (N, C, H, W)

    _pinv = _adjoint

    def __repr__(self) -> str:
        return f"Crop(size={self.size}, window={self.window})"


class Downsample(LinearOperator):
    r"""Super-resolution: average pooling by ``factor`` :math:`f`, :math:`y_{ij} = f^{-2}\sum_{\text{block}} x`.

    :math:`A^\top` spreads each value over its block divided by :math:`f^2`; :math:`AA^\top = f^{-2}I`,
    so :math:`A^+ = f^2 A^\top` is nearest-neighbour upsampling.

    Raises:
        ValueError: for a factor that is not an int >= 1, or one that does not divide the image size.
    """

    def __init__(self, factor: int) -> None:
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"factor must be an int >= 1, got {factor!r}")
        self.factor = factor

    def _forward(self, x: Tensor) -> Tensor:
        H, W = x.shape[-2:]
        if H % self.factor or W % self.factor:
            raise ValueError(f"the factor {self.factor} must divide the image size, got {H}x{W}")
        return F.avg_pool2d(x, self.factor)

    def _pinv(self, y: Tensor) -> Tensor:
        return y.repeat_interleave(self.factor, -2).repeat_interleave(self.factor, -1)

    def _adjoint(self, y: Tensor) -> Tensor:
        return self._pinv(y) / self.factor**2

    def __repr__(self) -> str:
        return f"Downsample({self.factor})"


class Grayscale(LinearOperator):
    r"""Colorization: RGB to grey, :math:`y = \sum_c w_c x_c` for images ``(N, 3, H, W)`` -> ``(N, 1, H, W)``.

    :math:`A^\top y = w\,y` and :math:`AA^\top = \|w\|^2`, so :math:`A^+ y = w\,y/\|w\|^2`.
    The default weights are ITU-R BT.601's luma (0.299, 0.587, 0.114).

    Raises:
        ValueError: for weights that are not 3 finite non-negative numbers with a positive sum, or
            images without 3 channels.
    """

    def __init__(self, weights: tuple[float, float, float] = (0.299, 0.587, 0.114)) -> None:
        w = torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (3,) or not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"weights must be 3 finite non-negative numbers with a positive sum, got {weights}")
        self.weights = w

    def _w(self, x: Tensor) -> Tensor:
        return self.weights.to(dtype=x.dtype, device=x.device).view(1, 3, 1, 1)

    def _forward(self, x: Tensor) -> Tensor:
        check_image(x, channels=3)
        return (x * self._w(x)).sum(1, keepdim=True)               # (N, 1, H, W)

    def _adjoint(self, y: Tensor) -> Tensor:
        check_image(y, "y", channels=1)
        return y * self._w(y)                                       # (N, 3, H, W)

    def _pinv(self, y: Tensor) -> Tensor:
        return self._adjoint(y) / float(self.weights.pow(2).sum())

    def __repr__(self) -> str:
        return f"Grayscale({tuple(round(float(v), 4) for v in self.weights)})"
