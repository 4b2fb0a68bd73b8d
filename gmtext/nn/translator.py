r"""The image-to-image network of CycleGAN, sized for the 8x8 digits.

A :class:`Translator` maps an image on [-1, 1] to an image of the same shape; CycleGAN
(:mod:`gmtext.gan.cyclegan`, Zhu et al. 2017, arXiv:1703.10593) trains two of them, one per
direction. Chapter 3, section "Unpaired translation".

Example:
    >>> import torch
    >>> Translator(channels=8)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["PointwiseResidual", "Translator"]


class PointwiseResidual(nn.Module):
    r"""A residual block of two 1x1 convolutions, :math:`x + \mathrm{IN}(W_2\,\mathrm{ReLU}(
    \mathrm{IN}(W_1 x)))`: it mixes channels, never neighbouring pixels.

    The paper's ResNet generator uses 3x3 convolutions in its blocks (Johnson et al. 2016,
    arXiv:1603.08155); :class:`Translator` explains why these are 1x1.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        c = channels
        self.body = nn.Sequential(nn.Conv2d(c, c, 1), nn.InstanceNorm2d(c, affine=True),
                                  nn.ReLU(), nn.Conv2d(c, c, 1), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Translator(nn.Module):
    """A small CycleGAN generator for ``(N, 1, 8, 8)`` images on [-1, 1].

    3x3 convolution, ``blocks`` residual blocks with instance norm (as in the paper's ResNet
    generator, without down-sampling: the images are 8x8), 3x3 convolution, tanh. The blocks use
    1x1 convolutions, so each output pixel sees a 5x5 neighbourhood of the input (plus, through
    instance norm, two statistics per channel of the whole map). That
    locality is the inductive bias that keeps the digit: the losses alone allow any bijection
    between the domains. With 3x3 convolutions in the blocks (each pixel seeing the whole 8x8
    image) a first version learned a cycle-consistent *relabelling* of the digits: 3 % classifier
    accuracy on F(b), 96 % on the round trip F(G(a)). A local translator can only restyle strokes.
    """

    def __init__(self, channels: int = 32, blocks: int = 3) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"blocks must be an int >= 0, got {blocks!r}")
        self.net = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
                                 *[PointwiseResidual(channels) for _ in range(blocks)],
                                 nn.Conv2d(channels, 1, 3, padding=1), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"x must have shape (N, 1, 8, 8) on [-1, 1], got {tuple(x.shape)}")
        return self.net(x)
