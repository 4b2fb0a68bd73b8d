r"""The networks of the GAN chapter: MLPs for 2-D toys (with PacGAN packing and minibatch standard
deviation) and DCGAN-style convolutional networks for the 8x8 digits.

- :class:`Packed`: a PacGAN discriminator (Lin et al. 2018, arXiv:1712.04086) judges ``m``
  samples at once, concatenated; a collapsed generator's packs are visibly too alike.
- :class:`MinibatchStd`: minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196,
  section 3): a layer that appends the average spread of a group's features to every sample of
  the group, so the discriminator can tell a batch that is too uniform.
- :func:`toy_generator`, :func:`toy_discriminator`: MLPs for 2-D data.
- :class:`DigitGenerator`, :class:`DigitDiscriminator`: DCGAN-style (Radford et al. 2016,
  arXiv:1511.06434) transposed / strided convolutions, batch norm in the generator, LeakyReLU
  in the discriminator, tanh output on [-1, 1]; optionally class-conditional with a learned label
  embedding (Mirza and Osindero 2014, arXiv:1411.1784).

They are plain modules: the game they play is :mod:`gmtext.gan`. Chapter 3.

Example:
    >>> import torch
    >>> g = DigitGenerator(latent_dim=16, n_classes=10)
    >>> x = g(torch.randn(4, 16), torch.tensor([0, 1, 2, 3]))
    >>> x.shape, DigitDiscriminator(n_classes=10)(x, torch.tensor([0, 1, 2, 3])).shape
    (torch.Size([4, 1, 8, 8]), torch.Size([4]))
"""

from __future__ import annotations

import torch
from einops import rearrange
from einops.layers.torch import Rearrange
from torch import Tensor, nn

from gmtext.nn.mlp import MLP

__all__ = ["Packed", "MinibatchStd", "toy_generator", "toy_discriminator", "DigitGenerator",
           "DigitDiscriminator"]


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


class Packed(nn.Module):
    r"""PacGAN: the wrapped discriminator sees ``m`` samples at once, :math:`D(x_1, \dots, x_m)`.

    A batch ``(B, d)`` becomes ``(B / m, m d)``; packs are formed from consecutive samples, which
    are independent draws. Real packs hold only real samples and fake packs only fakes (Lin et al.
    2018, section 3). ``B`` must be divisible by ``m``.
    """

    def __init__(self, net: nn.Module, m: int) -> None:
        super().__init__()
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"pack size m must be a positive int, got {m!r}")
        self.net, self.m = net, m

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or len(x) % self.m:
            raise ValueError(f"expected a batch (B, ...) with B divisible by the pack size "
                             f"{self.m}, got shape {tuple(x.shape)}")
        return self.net(rearrange(x, "(b m) ... -> b (m ...)", m=self.m))   # (B/m, m*d) -> (B/m, 1)


class MinibatchStd(nn.Module):
    r"""Minibatch standard deviation: append one feature, the mean spread of the sample's group.

    The batch ``(B, F)`` is cut into ``B / G`` groups of ``G`` consecutive samples; for group
    :math:`g` (Karras et al. 2018, arXiv:1710.10196, section 3)

    .. math::

        s_g = \frac1F \sum_{f=1}^F \sqrt{\frac1G \sum_{i \in g} \big(h_{if} - \bar h_{gf}\big)^2
              + \epsilon},

    and every sample of the group gets :math:`s_g` as feature ``F + 1``. ``G`` is capped at
    ``B`` (a smaller batch is one group). A generator that collapses makes groups whose
    features spread less than the data's; this layer lets the discriminator see it. Derived in
    chapter 3, eq. (3.13).

    Example:
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 1.0], [5.0, 5.0], [5.0, 5.0]])
        >>> MinibatchStd(group=2, eps=0.0)(x)[:, 2]     # group 1: stds (1, 0); group 2: (0, 0)
        tensor([0.5000, 0.5000, 0.0000, 0.0000])
    """

    def __init__(self, group: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        if isinstance(group, bool) or not isinstance(group, int) or group < 2:
            raise ValueError(f"group must be an int >= 2, got {group!r}")
        self.group, self.eps = group, eps

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2:
            raise ValueError(f"MinibatchStd expects features (B, F), got shape {tuple(x.shape)}")
        size = min(self.group, len(x))
        if len(x) % size:
            raise ValueError(f"batch size {len(x)} is not divisible by the group size {size}")
        groups = rearrange(x, "(g s) f -> g s f", s=size)                    # (B/G, G, F)
        spread = (groups.var(dim=1, unbiased=False) + self.eps).sqrt().mean(dim=1)  # (B/G,)
        return torch.cat([x, spread.repeat_interleave(size)[:, None]], dim=1)   # (B, F + 1)


def toy_generator(latent_dim: int = 2, hidden: int = 128, layers: int = 3,
                  activation: str = "relu") -> MLP:
    """An MLP generator ``z -> x`` in 2-D, :math:`x = G(z)` of the game (chapter 3, eq. (3.1))."""
    return MLP(latent_dim, 2, hidden, layers, activation=activation)


def toy_discriminator(hidden: int = 128, layers: int = 3, pack: int = 1,
                      activation: str = "leaky_relu", minibatch_std: int = 0) -> nn.Module:
    """An MLP discriminator for 2-D samples, packed (PacGAN-``pack``) when ``pack > 1``.

    ``minibatch_std = G > 0`` inserts :class:`MinibatchStd` with groups of ``G`` (packs, when
    packed) after the last hidden layer, which then feeds ``hidden + 1`` features to the logit.
    """
    _check_positive(pack=pack)
    net = MLP(2 * pack, 1, hidden, layers, activation=activation)
    if minibatch_std:
        if layers < 1:
            raise ValueError(f"minibatch_std needs layers >= 1, got layers={layers}")
        net = nn.Sequential(*list(net)[:-1], MinibatchStd(minibatch_std), nn.Linear(hidden + 1, 1))
    return Packed(net, pack) if pack > 1 else net


def _check_labels(labels: Tensor | None, n_classes: int, batch: int) -> None:
    if (labels is None) != (n_classes == 0):
        raise ValueError("labels must be given exactly when the network is class-conditional "
                         f"(n_classes={n_classes}, labels "
                         f"{'missing' if labels is None else 'given'})")
    if labels is None:
        return
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a ({batch},) int64 tensor, got {type(labels).__name__}")
    if labels.shape != (batch,) or labels.dtype != torch.long:
        raise ValueError(f"labels must be a ({batch},) int64 tensor, got "
                         f"{tuple(labels.shape)} {labels.dtype}")
    if batch and not 0 <= int(labels.min()) <= int(labels.max()) < n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got values in "
                         f"{int(labels.min())}..{int(labels.max())}")


class DigitGenerator(nn.Module):
    """DCGAN-style generator ``z (, label) -> (N, 1, 8, 8)`` on [-1, 1].

    Linear to a ``(2c, 2, 2)`` map, two transposed convolutions to 4x4 and 8x8 (batch norm, ReLU),
    a 3x3 convolution and tanh. A class label adds a learned embedding to :math:`z`.
    """

    def __init__(self, latent_dim: int = 32, channels: int = 64, n_classes: int = 0) -> None:
        super().__init__()
        _check_positive(latent_dim=latent_dim, channels=channels)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"n_classes must be an int >= 0 (0: unconditional), got {n_classes!r}")
        c = channels
        self.latent_dim, self.n_classes, self.channels = latent_dim, n_classes, c
        self.embed = nn.Embedding(n_classes, latent_dim) if n_classes else None
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * c * 4), nn.BatchNorm1d(2 * c * 4),
                                     nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),                  # 4x4
            nn.BatchNorm2d(c), nn.ReLU(),
            nn.ConvTranspose2d(c, c, 4, stride=2, padding=1),                      # 8x8
            nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, 1, 3, padding=1), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        _check_labels(labels, self.n_classes, len(z))
        if self.embed is not None:
            z = z + self.embed(labels)
        h = rearrange(self.project(z), "n (c h w) -> n c h w", h=2, w=2)      # (N, 2c, 2, 2)
        return self.body(h)                                                    # (N, 1, 8, 8)


class DigitDiscriminator(nn.Module):
    """DCGAN-style discriminator ``(N, 1, 8, 8) (, label) -> (N,)`` logits.

    Two strided convolutions (8x8 -> 4x4 -> 2x2, LeakyReLU 0.2), then a linear logit. A class
    label enters by projection (Miyato and Koyama 2018, arXiv:1802.05637): the logit gains
    :math:`\\langle e_y, h(x) \\rangle`, with :math:`e_y` a learned embedding.
    """

    def __init__(self, channels: int = 64, n_classes: int = 0) -> None:
        super().__init__()
        _check_positive(channels=channels)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"n_classes must be an int >= 0 (0: unconditional), got {n_classes!r}")
        c = channels
        self.n_classes = n_classes
        self.body = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),   # 4x4
            nn.Conv2d(2 * c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 2x2
            Rearrange("n c h w -> n (c h w)"))                                # (N, 8c)
        self.head = nn.Linear(2 * c * 4, 1)
        self.embed = nn.Embedding(n_classes, 2 * c * 4) if n_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"x must have shape (N, 1, 8, 8), got {tuple(x.shape)}")
        _check_labels(labels, self.n_classes, len(x))
        h = self.body(x)                                                       # (N, 8c)
        out = self.head(h).squeeze(1)                                          # (N,)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(dim=1)
        return out
