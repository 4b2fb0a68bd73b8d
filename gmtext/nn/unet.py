r"""A small time-conditioned U-Net for 8x8 images (the digits), after the DDPM network of Ho et al. (2020).

Shapes for the default ``channels=32``::

    x (B, 1, 8, 8) -> conv -> Res(32) @8x8 ------------------------------ skip --+
                              -> down -> Res(64) @4x4 -> Res(64) (middle)        |
                              -> up -> concat(skip) -> Res(32) @8x8 -> conv -> (B, 1, 8, 8)

Each residual block adds a projection of the sinusoidal embedding of ``t`` to its feature maps
(:class:`gmtext.nn.embeddings.SinusoidalEmbedding`), so one network serves every noise level.
The output convolution starts at zero: the untrained network predicts :math:`\varepsilon = 0`.
Used in chapter 6 (the convolutional alternative to the MLP denoiser).

Example:
    >>> import torch
    >>> net = UNet8(channels=8)
    >>> net(torch.zeros(2, 1, 8, 8), torch.rand(2)).shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gmtext._validate import check_float32
from gmtext.nn.embeddings import SinusoidalEmbedding, _as_batch_scalar


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    r"""GroupNorm -> SiLU -> conv, plus the time embedding, -> GroupNorm -> SiLU -> dropout -> conv, plus a skip.

    .. math:: h = \mathrm{conv}_2(\phi(\mathrm{GN}(\mathrm{conv}_1(\phi(\mathrm{GN}(x))) + W e_t))) + \mathrm{skip}(x)
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.block1 = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.time = nn.Linear(emb_dim, c_out)
        self.block2 = nn.Sequential(_norm(c_out), nn.SiLU(), nn.Dropout(dropout),
                                    nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.block1(x) + self.time(emb)[:, :, None, None]    # (B, c_out, H, W)
        return self.block2(h) + self.skip(x)


class UNet8(nn.Module):
    """Time-conditioned U-Net ``f(x, t)`` for ``(B, C, 8, 8)`` images, ``t`` of shape ``(B,)`` in [0, 1].

    Args:
        in_channels: image channels (1 for the digits).
        channels: feature maps at 8x8 (twice as many at 4x4).
        dropout: dropout inside the residual blocks (the 1,000 training digits overfit).
        scale: see :class:`~gmtext.nn.embeddings.SinusoidalEmbedding` (1000 for ``t`` in [0, 1]).
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, dropout: float = 0.0,
                 scale: float = 1000.0) -> None:
        super().__init__()
        if channels < 1 or in_channels < 1:
            raise ValueError(f"need channels, in_channels >= 1, got {channels}, {in_channels}")
        c, emb = channels, 4 * channels
        self.embed = nn.Sequential(SinusoidalEmbedding(c if c % 2 == 0 else c + 1, scale=scale),
                                   nn.Linear(c if c % 2 == 0 else c + 1, emb), nn.SiLU(),
                                   nn.Linear(emb, emb))
        self.inp = nn.Conv2d(in_channels, c, 3, padding=1)
        self.enc = ResBlock(c, c, emb, dropout)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)                 # 8x8 -> 4x4
        self.mid1 = ResBlock(2 * c, 2 * c, emb, dropout)
        self.mid2 = ResBlock(2 * c, 2 * c, emb, dropout)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                nn.Conv2d(2 * c, c, 3, padding=1))              # 4x4 -> 8x8
        self.dec = ResBlock(2 * c, c, emb, dropout)
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)
        self.in_channels = in_channels

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        check_float32(x, "UNet8", self.inp.weight.dtype)
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (8, 8):
            raise ValueError(f"UNet8 expects x of shape (B, {self.in_channels}, 8, 8), got {tuple(x.shape)}")
        t = _as_batch_scalar(t, batch=x.shape[0], device=x.device)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t has {t.shape[0]} entries for a batch of {x.shape[0]}")
        e = self.embed(t)                                  # (B, 4c)
        h0 = self.enc(self.inp(x), e)                      # (B, c, 8, 8)
        h = self.mid2(self.mid1(self.down(h0), e), e)      # (B, 2c, 4, 4)
        h = self.dec(torch.cat([self.up(h), h0], dim=1), e)  # (B, c, 8, 8)
        return self.out(h)


class FlatImageModel(nn.Module):
    """Wraps a network on flat vectors ``(B, D)`` to take images ``(B, C, H, W)`` (e.g. an MLP on digits)."""

    def __init__(self, net: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.net, self.shape = net, tuple(shape)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        return self.net(x.flatten(1), t).reshape(x.shape[0], *self.shape)


__all__ = ["ResBlock", "UNet8", "FlatImageModel"]
