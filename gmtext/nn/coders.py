r"""Encoder and decoder networks of the VAE for small discrete images (the 8x8 digits).

Both are plain ``nn.Module``\ s that know nothing of the objective (``gmtext.vae`` owns the ELBO):

- :class:`GaussianEncoder`: image -> mean and log-variance of
  :math:`q_\phi(z\mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))`;
- :class:`CategoricalDecoder`: latent -> logits of an independent categorical distribution over the
  grey levels of every pixel, :math:`p_\theta(x\mid z) = \prod_d \mathrm{Cat}(x_d;
  \operatorname{softmax} f_\theta(z)_d)` (chapter 2, eq. (2.13)).

Images are integer tensors ``(N, C, H, W)`` with values ``0 .. levels - 1``; the networks rescale
them to [0, 1] at their input. Decoders share one interface, which
:class:`gmtext.nn.pixel.LocalAutoregressiveDecoder` follows too: ``decoder(z, x)`` returns logits
``(B, D, levels)`` (``x`` is ignored here, an autoregressive decoder reads it), and
``decoder.sample(z, generator)`` returns integer images.

Example:
    >>> import torch
    >>> enc, dec = GaussianEncoder(latent_dim=4), CategoricalDecoder(latent_dim=4)
    >>> mean, log_var = enc(torch.randint(0, 17, (3, 1, 8, 8)))
    >>> tuple(mean.shape), tuple(dec(mean).shape)
    ((3, 4), (3, 64, 17))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gmtext.nn.mlp import MLP

__all__ = ["LOG_VAR_LIMIT", "GaussianEncoder", "CategoricalDecoder", "scale_images", "check_latent"]

#: Bound c of the encoders' log-variances, soft-clamped to (-c, c) so that ``exp`` cannot overflow.
LOG_VAR_LIMIT = 10.0


def scale_images(x: Tensor, levels: int, shape: tuple[int, ...]) -> Tensor:
    """Integer images ``(N, *shape)`` with values ``0 .. levels - 1`` to floats ``(N, D)``, [0, 1].

    Raises:
        TypeError: if ``x`` is not an integer tensor (grey levels, not already rescaled floats).
        ValueError: on another shape or values outside ``0 .. levels - 1``.

    Example:
        >>> scale_images(torch.full((1, 1, 2, 2), 16), 17, (1, 2, 2))
        tensor([[1., 1., 1., 1.]])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, "
                        f"{', '.join(map(str, shape))}), got {type(x).__name__}")
    if x.is_floating_point() or x.dtype == torch.bool:
        raise TypeError(f"images must hold integer grey levels 0 .. {levels - 1} (an integer "
                        f"dtype such as torch.int64), got {x.dtype}; pass the data as loaded, "
                        "not rescaled")
    if tuple(x.shape[1:]) != tuple(shape) or x.ndim != len(shape) + 1:
        raise ValueError(f"images must have shape (N, {', '.join(map(str, shape))}), "
                         f"got {tuple(x.shape)}")
    if x.numel() and (bool((x < 0).any()) or bool((x > levels - 1).any())):
        raise ValueError(f"image values must lie in 0 .. {levels - 1} (integer grey levels), got "
                         f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x.reshape(x.shape[0], -1).float() / (levels - 1)


def check_latent(z: Tensor, latent_dim: int) -> Tensor:
    """``z`` must be a float32 tensor ``(B, latent_dim)``; returns it.

    Example:
        >>> check_latent(torch.zeros(2, 3), 3).shape
        torch.Size([2, 3])
    """
    if not isinstance(z, Tensor) or not z.is_floating_point():
        raise TypeError(f"z must be a float32 tensor (B, {latent_dim}), got "
                        f"{z.dtype if isinstance(z, Tensor) else type(z).__name__}")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape (B, {latent_dim}), got {tuple(z.shape)}")
    return z


class GaussianEncoder(nn.Module):
    r"""MLP encoder of a Gaussian posterior, :math:`x \mapsto (\mu_\phi(x), \log\sigma^2_\phi(x))`.

    The log-variance is soft-clamped to :math:`(-c, c)` with :math:`c` = :data:`LOG_VAR_LIMIT`,
    :math:`\log\sigma^2 = c\tanh(h/c)`, so that :math:`\sigma = e^{\log\sigma^2/2}` can neither
    overflow nor vanish while gradients keep flowing. Kingma and Welling (2014), appendix C.2.

    Args:
        latent_dim: :math:`L`, the number of latent dimensions.
        shape: image shape ``(C, H, W)``.
        levels: number of grey levels (17 for the digits).
        hidden: width of the hidden layers.
        layers: number of hidden layers.
        dropout: dropout after each hidden activation (the digits need it: the book's conventions
            page, section The 8×8 digits).

    Example:
        >>> enc = GaussianEncoder(2)
        >>> mean, log_var = enc(torch.zeros(5, 1, 8, 8, dtype=torch.long))
        >>> tuple(mean.shape), bool((log_var.abs() < LOG_VAR_LIMIT).all())
        ((5, 2), True)
    """

    def __init__(self, latent_dim: int, shape: tuple[int, ...] = (1, 8, 8), levels: int = 17,
                 hidden: int = 256, layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.latent_dim, self.shape, self.levels = latent_dim, tuple(shape), levels
        self.net = MLP(math.prod(shape), 2 * latent_dim, hidden=hidden, layers=layers,
                       dropout=dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance ``(N, L)`` each, for integer images ``x`` ``(N, C, H, W)``."""
        mean, raw = self.net(scale_images(x, self.levels, self.shape)).chunk(2, dim=-1)
        return mean, LOG_VAR_LIMIT * torch.tanh(raw / LOG_VAR_LIMIT)


class CategoricalDecoder(nn.Module):
    r"""MLP decoder: independent categorical pixels given :math:`z`, logits :math:`f_\theta(z)`.

    .. math::

        \log p_\theta(x\mid z)
        = \sum_{d=1}^D \log\operatorname{softmax}\big(f_\theta(z)_d\big)_{x_d}

    The pixels are conditionally independent given :math:`z`: every dependence between pixels has
    to pass through the latent code. Derived in chapter 2, eq. (2.13).

    Args:
        latent_dim: :math:`L`.
        shape: image shape ``(C, H, W)``.
        levels: number of grey levels :math:`V` (17 for the digits).
        hidden: width of the hidden layers.
        layers: number of hidden layers.
        dropout: dropout after each hidden activation.

    Example:
        >>> dec = CategoricalDecoder(2)
        >>> x = dec.sample(torch.zeros(3, 2), torch.Generator().manual_seed(0))
        >>> tuple(x.shape), x.dtype, bool(x.max() <= 16)
        ((3, 1, 8, 8), torch.int64, True)
    """

    autoregressive = False

    def __init__(self, latent_dim: int, shape: tuple[int, ...] = (1, 8, 8), levels: int = 17,
                 hidden: int = 256, layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.latent_dim, self.shape, self.levels = latent_dim, tuple(shape), levels
        self.pixels = math.prod(shape)
        self.net = MLP(latent_dim, self.pixels * levels, hidden=hidden, layers=layers,
                       dropout=dropout)

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        """Logits ``(B, D, levels)`` for latents ``z`` ``(B, L)``; ``x`` (integer) is not used."""
        z = check_latent(z, self.latent_dim)
        if x is not None and (x.is_floating_point() or x.dtype == torch.bool):
            raise TypeError(f"a categorical decoder scores integer grey levels 0 .. "
                            f"{self.levels - 1}, got x of dtype {x.dtype} "
                            "(pass the data as loaded)")
        return self.net(z).view(z.shape[0], self.pixels, self.levels)

    @torch.no_grad()
    def sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One image per latent: every pixel drawn from its categorical, ``(B, C, H, W)`` int64."""
        probs = self.forward(z).softmax(-1)                                   # (B, D, V)
        flat = torch.multinomial(probs.reshape(-1, self.levels), 1, generator=generator)
        return flat.view(z.shape[0], *self.shape)

    @torch.no_grad()
    def mean(self, z: Tensor) -> Tensor:
        r"""The expected grey level of every pixel, :math:`\sum_v v\,p_\theta(x_d = v\mid z)`.

        A smooth picture of what the decoder believes; ``(B, C, H, W)`` float on the 0..V-1 scale.
        """
        probs = self.forward(z).softmax(-1)                                   # (B, D, V)
        values = torch.arange(self.levels, dtype=probs.dtype, device=probs.device)
        return (probs @ values).view(z.shape[0], *self.shape)
