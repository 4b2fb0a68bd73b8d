r"""Deblurring: :math:`y = k * x`, a convolution with a kernel that sums to one, and its pseudo-inverse.

Two boundary rules (state which one a result uses):

- ``"circular"``: the image wraps around, so :math:`A` is diagonal in the Fourier basis,
  :math:`A = \mathcal F^{-1}\operatorname{diag}(\hat k)\,\mathcal F`; its singular values are
  :math:`|\hat k(\omega)|`, :math:`A^\top` multiplies by :math:`\overline{\hat k}` and the
  pseudo-inverse by :math:`\overline{\hat k}/|\hat k|^2` where :math:`|\hat k| > r\max|\hat k|`
  and by 0 elsewhere (the cut-off :math:`r` = ``rcond``).
- ``"zero"``: pixels outside the image are 0; :math:`A^\top` is the transposed convolution and
  :math:`A^+` the pseudo-inverse of the dense :math:`HW\times HW` matrix (``torch.linalg.pinv``
  with the same relative cut-off), for small images only.

With a cut-off, ``pinv`` is the exact pseudo-inverse of the operator whose singular values below
:math:`r\max` are set to zero: the identities :math:`AA^+A = A` and :math:`A^+AA^+ = A^+` hold
when no singular value lies in :math:`(0, r\max)`. A larger ``rcond`` is a regularised inverse
(truncated SVD) that keeps measurement noise from being amplified by :math:`1/|\hat k|`.
Derived in chapter 9, eq. (9.2).

Example:
    >>> import torch
    >>> A = Blur(gaussian_kernel(3, 0.8))
    >>> x, y = torch.randn(2, 1, 1, 6, 6, dtype=torch.float64)
    >>> bool(torch.allclose((A.forward(x) * y).sum(), (x * A.adjoint(y)).sum()))
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gmtext.inverse.operators import LinearOperator

__all__ = ["Blur", "gaussian_kernel", "PADDINGS"]

#: The boundary rules of :class:`Blur`.
PADDINGS: tuple[str, ...] = ("circular", "zero")


def gaussian_kernel(size: int, std: float) -> Tensor:
    r"""A ``(size, size)`` Gaussian kernel :math:`k_{ij}\propto e^{-(i^2+j^2)/2s^2}` centred, summing to one (float64)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd positive int, got {size!r}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-r.pow(2) / (2 * std**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


class Blur(LinearOperator):
    r"""Convolution with ``kernel`` (odd square, sums to one), applied to each channel (module docstring).

    Args:
        kernel: ``(k, k)`` with odd :math:`k`, finite, summing to one (within 1e-6).
        padding: ``"circular"`` or ``"zero"``.
        rcond: relative cut-off :math:`r` of the pseudo-inverse (on :math:`\max` singular value).

    Raises:
        ValueError: for a kernel that is not odd and square, not finite, does not sum to one,
            is larger than the image, an unknown padding (the valid ones are listed), or
            ``rcond`` outside [0, 1).
    """

    def __init__(self, kernel: Tensor, padding: str = "circular", rcond: float = 1e-6) -> None:
        kernel = torch.as_tensor(kernel, dtype=torch.float64)
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
            raise ValueError(f"kernel must be square with an odd size, got {tuple(kernel.shape)}")
        if not bool(torch.isfinite(kernel).all()):
            raise ValueError("kernel holds NaN or infinite values")
        if abs(float(kernel.sum()) - 1.0) > 1e-6:
            raise ValueError(f"a blur kernel must sum to one (it keeps the mean grey level), got "
                             f"{float(kernel.sum()):.6g}; divide it by its sum")
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; valid: {', '.join(PADDINGS)}")
        if not 0.0 <= rcond < 1.0:
            raise ValueError(f"rcond must lie in [0, 1), got {rcond}")
        self.kernel, self.padding, self.rcond = kernel, padding, rcond
        self._cache: dict[tuple[int, int], Tensor] = {}

    # -- the circular case: diagonal in the Fourier basis ------------------------------------
    def transfer(self, size: tuple[int, int]) -> Tensor:
        r""":math:`\hat k(\omega)` on an image of ``size`` :math:`(H, W)`, complex ``(H, W)``: the eigenvalues of :math:`A`."""
        H, W = size
        k = self.kernel.shape[0]
        if k > H or k > W:
            raise ValueError(f"the {k}x{k} kernel is larger than the {H}x{W} image")
        padded = torch.zeros(H, W, dtype=torch.float64)
        padded[:k, :k] = self.kernel
        padded = torch.roll(padded, (-(k // 2), -(k // 2)), dims=(0, 1))   # centre at pixel (0, 0)
        return torch.fft.fft2(padded)

    def _fourier(self, x: Tensor, factor: Tensor) -> Tensor:
        return torch.fft.ifft2(torch.fft.fft2(x.double()) * factor).real.to(x.dtype)

    def _inverse_transfer(self, size: tuple[int, int]) -> Tensor:
        k_hat = self.transfer(size)
        keep = k_hat.abs() > self.rcond * k_hat.abs().max()
        return torch.where(keep, k_hat.conj() / k_hat.abs().pow(2).clamp_min(1e-300), torch.zeros_like(k_hat))

    # -- the zero-padded case: a convolution and its dense pseudo-inverse ---------------------
    def _weight(self, x: Tensor) -> Tensor:
        return self.kernel.flip(0, 1).to(dtype=x.dtype, device=x.device)[None, None]   # conv, not correlation

    def _conv(self, x: Tensor, transpose: bool = False) -> Tensor:
        n, c, H, W = x.shape
        flat = x.reshape(n * c, 1, H, W)
        op = F.conv_transpose2d if transpose else F.conv2d
        return op(flat, self._weight(x), padding=self.kernel.shape[0] // 2).reshape(n, c, H, W)

    def matrix(self, size: tuple[int, int]) -> Tensor:
        r"""The dense :math:`HW\times HW` matrix of :math:`A` on one channel (float64)."""
        H, W = size
        basis = torch.eye(H * W, dtype=torch.float64).reshape(H * W, 1, H, W)
        return self._forward(basis).reshape(H * W, H * W).T

    def _dense_pinv(self, size: tuple[int, int]) -> Tensor:
        if size not in self._cache:
            if size[0] * size[1] > 4096:
                raise ValueError(f"the dense pseudo-inverse of zero padding is for small images "
                                 f"(<= 4096 pixels), got {size}; use padding='circular'")
            self._cache[size] = torch.linalg.pinv(self.matrix(size), rtol=self.rcond)
        return self._cache[size]

    # -- the three maps -----------------------------------------------------------------------
    def _forward(self, x: Tensor) -> Tensor:
        if self.padding == "circular":
            return self._fourier(x, self.transfer(tuple(x.shape[-2:])))
        return self._conv(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        if self.padding == "circular":
            return self._fourier(y, self.transfer(tuple(y.shape[-2:])).conj())
        return self._conv(y, transpose=True)

    def _pinv(self, y: Tensor) -> Tensor:
        size = tuple(y.shape[-2:])
        if self.padding == "circular":
            return self._fourier(y, self._inverse_transfer(size))
        n, c, H, W = y.shape
        flat = y.reshape(n * c, H * W).double() @ self._dense_pinv(size).T
        return flat.reshape(n, c, H, W).to(y.dtype)

    def __repr__(self) -> str:
        k = self.kernel.shape[0]
        return f"Blur({k}x{k}, padding={self.padding!r}, rcond={self.rcond:g})"
