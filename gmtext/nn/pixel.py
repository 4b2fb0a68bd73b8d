r"""A VAE decoder with structure across pixels: local autoregression given the latent code.

The plain VAE decoder (:class:`gmtext.nn.coders.CategoricalDecoder`) makes the pixels independent
given :math:`z`, so every correlation between neighbouring pixels (a stroke continues, its edge is
grey) must be carried by the latent code. A *local autoregressive* decoder lets each pixel also
look at the already generated pixels in a small causal window :math:`\mathcal N(d)` above and to the
left of it, in raster order (chapter 2, eq. (2.18)):

.. math::

    p_\theta(x\mid z) = \prod_{d=1}^D \mathrm{Cat}\Big(x_d;\ \operatorname{softmax}
    g_\theta\big(h_\theta(z)_d,\ x_{\mathcal N(d)}\big)\Big),
    \qquad \mathcal N(d) \subset \{1, \dots, d-1\}.

:math:`h_\theta(z)_d` are per-pixel features computed from :math:`z` by an MLP, and :math:`g_\theta`
is one small MLP shared by all pixels, applied to those features and to the window, which is a
PixelCNN's masked convolution followed by 1x1 convolutions (van den Oord et al. 2016) written as a
gather and a linear layer. Because the window is small, the decoder can model texture (local
correlations) but not the global shape of a digit, which must still come from :math:`z`: the
design of PixelVAE (Gulrajani et al. 2017, arXiv:1611.05013) and of the variational lossy
autoencoder (Chen et al. 2017, arXiv:1611.02731). Training is one parallel pass (teacher forcing);
sampling takes :math:`D` sequential steps.

Example:
    >>> import torch
    >>> dec = LocalAutoregressiveDecoder(latent_dim=2)
    >>> x = torch.randint(0, 17, (3, 1, 8, 8))
    >>> tuple(dec(torch.zeros(3, 2), x).shape)
    (3, 64, 17)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmtext.nn.coders import check_latent, scale_images
from gmtext.nn.mlp import MLP

__all__ = ["causal_offsets", "LocalAutoregressiveDecoder"]


def causal_offsets(kernel: int) -> list[tuple[int, int]]:
    """Offsets ``(dy, dx)`` of the pixels before the centre of a square window, in raster order.

    The rows above the centre in full and the pixels to its left: the mask of a PixelCNN's first
    ("type A") convolution. ``kernel = 3`` gives 4 neighbours, ``kernel = 5`` gives 12.

    Raises:
        ValueError: if ``kernel`` is not an odd int >= 3.

    Example:
        >>> causal_offsets(3)
        [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    """
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"kernel must be an odd int >= 3, got {kernel!r}")
    r = kernel // 2
    return [(dy, dx) for dy in range(-r, 1) for dx in range(-r, r + 1) if dy < 0 or dx < 0]


class LocalAutoregressiveDecoder(nn.Module):
    r"""Categorical pixels, each conditioned on :math:`z` and on a causal window of earlier pixels.

    Implements eq. (2.18) of chapter 2 (see the module docstring). Pixels outside the image count
    as 0 (paper).

    Args:
        latent_dim: :math:`L`.
        shape: image shape ``(1, H, W)`` (one channel).
        levels: number of grey levels :math:`V`.
        kernel: odd side of the causal window (5: the two rows above and two pixels to the left).
        features: per-pixel features computed from :math:`z`.
        hidden: width of the MLP :math:`z \mapsto h_\theta(z)`.
        layers: its number of hidden layers.
        head_hidden: width of the per-pixel MLP :math:`g_\theta`.
        head_layers: its number of hidden layers.
        dropout: dropout in the MLP from :math:`z`.

    Example:
        >>> dec = LocalAutoregressiveDecoder(latent_dim=2, kernel=3)
        >>> x = dec.sample(torch.zeros(4, 2), torch.Generator().manual_seed(0))
        >>> tuple(x.shape), x.dtype
        ((4, 1, 8, 8), torch.int64)
    """

    autoregressive = True

    def __init__(self, latent_dim: int, shape: tuple[int, ...] = (1, 8, 8), levels: int = 17,
                 kernel: int = 5, features: int = 8, hidden: int = 256, layers: int = 2,
                 head_hidden: int = 64, head_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if len(shape) != 3 or shape[0] != 1:
            raise ValueError(f"shape must be (1, H, W) (grey images), got {tuple(shape)}")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.latent_dim, self.shape, self.levels = latent_dim, tuple(shape), levels
        self.pixels, self.features, self.pad = math.prod(shape), features, kernel // 2
        offsets = causal_offsets(kernel)
        height, width = shape[1:]
        padded_width = width + 2 * self.pad
        # index[d, j]: position of the j-th causal neighbour of pixel d in the flat padded image
        index = [[(i + self.pad + dy) * padded_width + (j + self.pad + dx) for dy, dx in offsets]
                 for i in range(height) for j in range(width)]
        self.register_buffer("index", torch.tensor(index), persistent=False)     # (D, n)
        self.latent_net = MLP(latent_dim, self.pixels * features, hidden=hidden, layers=layers,
                              dropout=dropout)
        self.head = MLP(features + len(offsets), levels, hidden=head_hidden, layers=head_layers)

    def context(self, x: Tensor) -> Tensor:
        """The causal window of every pixel of the images ``x``: ``(B, D, n)`` values on [0, 1]."""
        y = scale_images(x, self.levels, self.shape).view(-1, *self.shape[1:])   # (B, H, W)
        padded = F.pad(y, (self.pad,) * 4).flatten(1)                           # (B, H'W')
        return padded[:, self.index]                                            # (B, D, n)

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        """Logits ``(B, D, levels)`` of every pixel given ``z`` ``(B, L)`` and the images ``x``.

        Raises:
            ValueError: if ``x`` is missing (an autoregressive decoder reads the image it scores).
        """
        z = check_latent(z, self.latent_dim)
        if x is None:
            raise ValueError("an autoregressive decoder needs the images x to score them; "
                             "use sample(z, generator) to generate")
        if x.shape[0] != z.shape[0]:
            raise ValueError(f"z and x differ in batch size: {z.shape[0]} vs {x.shape[0]}")
        h = self.latent_net(z).view(z.shape[0], self.pixels, self.features)     # (B, D, F)
        return self.head(torch.cat([h, self.context(x)], dim=-1))               # (B, D, V)

    @torch.no_grad()
    def sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral sampling in raster order, one pixel per step: ``(B, 1, H, W)`` int64."""
        z = check_latent(z, self.latent_dim)
        h = self.latent_net(z).view(z.shape[0], self.pixels, self.features)     # (B, D, F)
        x = torch.zeros(z.shape[0], *self.shape, dtype=torch.long, device=z.device)
        flat = x.view(z.shape[0], -1)                                           # shares memory
        for d in range(self.pixels):
            logits = self.head(torch.cat([h[:, d], self.context(x)[:, d]], dim=-1))   # (B, V)
            flat[:, d] = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
        return x
