r"""PixelCNN: masked convolutions that give every pixel the conditional of the pixels before it.

A convolution whose kernel is zero on the centre row from the centre rightwards and on every row
below (:func:`conv_mask`) lets output pixel :math:`(i, j)` read only pixels above it or to its left:
the pixels before it in raster order. The first layer ("A") also hides the centre, so that no
pixel sees itself; the later ones ("B") may read the centre, which by then only holds information
from earlier pixels. One pass gives all :math:`D` conditionals :math:`p(x_d \mid x_{<d})` (van den
Oord et al. 2016, arXiv:1601.06759, section 3.4; section 1.x). Stacking 3x3 kernels leaves a *blind
spot*: pixels above and far to the right are never reached; the gated PixelCNN's separate vertical
and horizontal stacks remove it (van den Oord et al. 2016, arXiv:1606.05328).

Example:
    >>> import torch
    >>> tuple(PixelCNN(channels=8, blocks=1)(torch.randint(0, 17, (2, 1, 8, 8))).shape)
    (2, 64, 17)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmtext.nn.masked import _code_size, encode_levels

__all__ = ["conv_mask", "MaskedConv2d", "PixelCNN"]


def conv_mask(kernel: int, kind: str) -> Tensor:
    """The ``(kernel, kernel)`` mask of a PixelCNN convolution: rows above, pixels to the left.

    ``kind="A"`` hides the centre (first layer: a pixel must not see itself), ``"B"`` keeps it.
    van den Oord et al. (2016), section 3.4 (single-channel images: no colour masks).

    Example:
        >>> conv_mask(3, "A")
        tensor([[1., 1., 1.],
                [1., 0., 0.],
                [0., 0., 0.]])
    """
    if kind not in ("A", "B"):
        raise ValueError(f"unknown mask kind {kind!r}; valid: 'A', 'B'")
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be an odd positive int, got {kernel!r}")
    mask, c = torch.ones(kernel, kernel), kernel // 2
    mask[c, c + (kind == "B"):] = 0                                           # centre row: left
    mask[c + 1:] = 0                                                          # rows below
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is multiplied by :func:`conv_mask` (``kind``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, kind: str) -> None:
        super().__init__(in_channels, out_channels, kernel, padding=kernel // 2)
        self.register_buffer("mask", conv_mask(kernel, kind)[None, None])

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class _Residual(nn.Module):
    """``h + W_1x1 dropout(gelu(conv_B(gelu(h))))``: a residual block that keeps the mask."""

    def __init__(self, channels: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv = MaskedConv2d(channels, channels, kernel, "B")
        self.mix = nn.Conv2d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.mix(self.drop(F.gelu(self.conv(F.gelu(h)))))


class PixelCNN(nn.Module):
    r"""A PixelCNN for one-channel images with a :math:`V`-way softmax per pixel, raster order.

    Encoded input, a type-A masked convolution, ``blocks`` residual blocks of type-B masked
    convolutions with dropout, and a 1x1 head to :math:`V` logits; a learnt per-pixel bias added
    after the first layer tells the network where it is (position does not depend on :math:`x`, so
    the causality is untouched). van den Oord et al. (2016); derived in section 1.x.

    Args:
        shape: image shape ``(1, H, W)``.
        levels: grey levels :math:`V`.
        channels: feature channels.
        first_kernel: side of the type-A kernel (7 reaches three rows up).
        kernel: side of the type-B kernels.
        blocks: residual blocks.
        dropout: dropout inside each block.
        encoding: one of ``ENCODINGS``.
    """

    def __init__(self, shape: tuple[int, ...] = (1, 8, 8), levels: int = 17, channels: int = 48,
                 first_kernel: int = 7, kernel: int = 3, blocks: int = 4,
                 dropout: float = 0.2, encoding: str = "thermometer") -> None:
        super().__init__()
        if len(shape) != 3 or shape[0] != 1:
            raise ValueError(f"shape must be (1, H, W) (grey images), got {tuple(shape)}")
        self.shape, self.levels, self.dims = tuple(shape), levels, math.prod(shape)
        self.encoding, code = encoding, _code_size(levels, encoding)
        self.register_buffer("order", torch.arange(self.dims), persistent=False)   # raster
        self.first = MaskedConv2d(code, channels, first_kernel, "A")
        self.position = nn.Parameter(torch.zeros(1, channels, *shape[1:]))
        self.blocks = nn.Sequential(*[_Residual(channels, kernel, dropout) for _ in range(blocks)])
        self.head = nn.Sequential(nn.GELU(), nn.Conv2d(channels, levels, 1))

    def encode(self, x: Tensor) -> Tensor:
        """Codes ``(B, D, E)`` of integer images ``(B, 1, H, W)``: :func:`gmtext.nn.masked.encode_levels`."""
        return encode_levels(x, self.levels, self.shape, self.encoding)

    def forward_encoded(self, e: Tensor) -> Tensor:
        """Logits ``(B, D, levels)`` from codes ``e`` ``(B, D, E)`` (any floats)."""
        grid = e.transpose(1, 2).reshape(e.shape[0], -1, *self.shape[1:])   # (B, E, H, W)
        h = self.first(grid) + self.position                                 # (B, C, H, W)
        logits = self.head(self.blocks(h))                                   # (B, V, H, W)
        return logits.flatten(2).transpose(1, 2)                             # (B, D, V)

    def forward(self, x: Tensor) -> Tensor:
        r"""Logits ``(B, D, levels)`` of :math:`p(x_d \mid x_{<d})` for every pixel (raster)."""
        return self.forward_encoded(self.encode(x))
