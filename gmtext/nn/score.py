r"""Noise-conditional score networks :math:`s_\theta(x, \sigma)`.

One network serves every noise level: it takes :math:`\log\sigma` as a condition (a sinusoidal
embedding, :class:`gmtext.nn.embeddings.ConditionalMLP` with ``scale=1``) and its output is divided by
:math:`\sigma`,

.. math:: s_\theta(x, \sigma) = \frac{f_\theta(x, \log\sigma)}{\sigma},

because the true score of the noised data has norm of order :math:`\sqrt D/\sigma` (Song & Ermon 2020,
"Improved Techniques for Training Score-Based Generative Models", arXiv:2006.09011). The network
:math:`f_\theta` then predicts :math:`-\varepsilon`, a quantity of order one at every level, and the
loss of eq. (5.11) becomes :math:`\tfrac12\|f_\theta(\tilde x, \log\sigma) + \varepsilon\|^2`.
Chapter 5, eq. (5.11). The networks know no objective: the loss is in :mod:`gmtext.score.losses`.

Example:
    >>> import torch
    >>> net = NoiseConditionalScore(mlp_score_net(2, hidden=16, layers=2))
    >>> net(torch.zeros(3, 2), torch.full((3,), 0.5)).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from einops import rearrange
from torch import Tensor, nn

from gmtext.nn.embeddings import ConditionalMLP, SinusoidalEmbedding

__all__ = ["NoiseConditionalScore", "mlp_score_net", "ConvScoreNet"]


def mlp_score_net(dim: int, hidden: int = 128, layers: int = 3, emb_dim: int = 32) -> ConditionalMLP:
    r"""The :math:`f_\theta(x, \log\sigma)` of a noise-conditional score network: a conditional MLP.

    ``scale=1`` in the embedding because :math:`\log\sigma` is of order one.
    """
    return ConditionalMLP(dim, dim, hidden=hidden, layers=layers, emb_dim=emb_dim, scale=1.0)


class NoiseConditionalScore(nn.Module):
    r""":math:`s_\theta(x, \sigma) = f_\theta(x, \log\sigma)/\sigma` around a network ``f(x, t)``.

    Args:
        net: a module ``f(x (N, D), t (N,)) -> (N, D)``, e.g. :func:`mlp_score_net`.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be an nn.Module f(x, t), got {type(net).__name__}")
        self.net = net

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """Scores ``(N, D)`` at points ``x`` ``(N, D)`` and noise levels ``sigma`` ``(N,)`` or a number."""
        if not isinstance(sigma, Tensor):
            sigma = torch.full((x.shape[0],), float(sigma), device=x.device, dtype=x.dtype)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        if sigma.shape != (x.shape[0],):
            raise ValueError(f"sigma must be a number or have shape ({x.shape[0]},), got {tuple(sigma.shape)}")
        if not bool((sigma > 0).all()):
            raise ValueError("sigma must be positive")
        return self.net(x, sigma.log()) / sigma[:, None]

    def at(self, sigma: float) -> Callable[[Tensor], Tensor]:
        """The score function ``x -> s(x, sigma)`` at one fixed level (for single-level tools)."""
        return lambda x: self(x, sigma)


class ConvScoreNet(nn.Module):
    r"""A small convolutional :math:`f_\theta(x, \log\sigma)` for flattened square images.

    ``(N, C*H*W)`` in and out (the interface of :func:`mlp_score_net`), reshaped to images inside:
    a 3x3 convolution, ``blocks`` residual blocks
    :math:`h \leftarrow h + W_2 * \phi\big(W_1 * \phi(h) + U\,\mathrm{emb}(\log\sigma)\big)`
    (the condition added per channel, as in the DDPM U-Net's blocks, Ho et al. 2020), and a 3x3
    convolution back to the image channels. Convolutions share weights across positions, so a stroke
    is denoised the same way wherever it is: the inductive bias an MLP lacks. Chapter 5.

    Args:
        shape: image shape ``(C, H, W)``, e.g. ``(1, 8, 8)``.
        channels: feature channels.
        blocks: residual blocks (receptive field ``4 * blocks + 5`` pixels).
        emb_dim: size of the sinusoidal embedding of :math:`\log\sigma`.

    Example:
        >>> net = ConvScoreNet((1, 8, 8), channels=8, blocks=1)
        >>> net(torch.zeros(2, 64), torch.zeros(2)).shape
        torch.Size([2, 64])
    """

    def __init__(self, shape: tuple[int, int, int] = (1, 8, 8), channels: int = 32, blocks: int = 3,
                 emb_dim: int = 32) -> None:
        super().__init__()
        if len(shape) != 3 or min(shape) < 1 or channels < 1 or blocks < 1:
            raise ValueError(f"need shape (C, H, W) and channels, blocks >= 1, got {shape}, "
                             f"{channels}, {blocks}")
        self.shape = tuple(shape)
        self.embed = nn.Sequential(SinusoidalEmbedding(emb_dim, scale=1.0),
                                   nn.Linear(emb_dim, channels), nn.SiLU())
        self.inp = nn.Conv2d(shape[0], channels, 3, padding=1)
        self.conv1 = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(blocks))
        self.conv2 = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(blocks))
        self.cond = nn.ModuleList(nn.Linear(channels, channels) for _ in range(blocks))
        self.out = nn.Conv2d(channels, shape[0], 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        r"""``x``: ``(N, C*H*W)``; ``t``: ``(N,)`` (here :math:`\log\sigma`)."""
        if x.ndim != 2 or x.shape[1] != math.prod(self.shape):
            raise ValueError(f"ConvScoreNet expects x of shape (N, {math.prod(self.shape)}), "
                             f"got {tuple(x.shape)}")
        e = self.embed(t)                                                    # (N, ch)
        h = self.inp(rearrange(x, "n (c h w) -> n c h w", c=self.shape[0], h=self.shape[1]))  # (N, ch, H, W)
        for conv1, conv2, cond in zip(self.conv1, self.conv2, self.cond):
            u = conv1(self.act(h)) + cond(e)[:, :, None, None]
            h = h + conv2(self.act(u))
        return rearrange(self.out(self.act(h)), "n c h w -> n (c h w)")       # (N, C*H*W)
