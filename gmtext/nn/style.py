r"""StyleGAN's two ideas in small: a mapping network and style modulation (AdaIN, demodulation).

StyleGAN (Karras et al. 2019, arXiv:1812.04948) does not feed :math:`z` to the first layer.
A **mapping network** :math:`f: z \mapsto w` (an 8-layer MLP in the paper) produces an
intermediate latent :math:`w` whose distribution need not be Gaussian, so it can "unwarp" the
factors of variation; at every layer an affine map :math:`A` turns :math:`w` into a **style**
:math:`y = (y_s, y_b)` that sets each feature map's scale and bias by adaptive instance
normalisation (Huang and Belongie 2017, arXiv:1703.06868):

.. math:: \mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i}.

StyleGAN2 (Karras et al. 2020, arXiv:1912.04958, eqs. (1)-(3)) moves the scaling into the
convolution weights, :math:`w'_{ijk} = s_i w_{ijk}`, and **demodulates**,
:math:`w''_{ijk} = w'_{ijk} / \sqrt{\sum_{i,k} w'^2_{ijk} + \epsilon}`, so that unit-variance
inputs give unit-variance outputs without normalising activations. Derived in chapter 3,
section "What complex GANs add", eqs. (3.16)-(3.17). The schematic of the whole generator is
:func:`gmtext.viz.gan.architecture_figure`.

Example:
    >>> import torch
    >>> x = torch.randn(2, 4, 8, 8)
    >>> scale, bias = torch.full((2, 4), 3.0), torch.full((2, 4), 1.0)
    >>> y = adain(x, scale, bias)
    >>> std = y.std(dim=(2, 3), unbiased=False)
    >>> torch.allclose(y.mean(dim=(2, 3)), bias, atol=1e-5), torch.allclose(std, scale, atol=1e-3)
    (True, True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from gmtext.nn.mlp import MLP

__all__ = ["MappingNetwork", "adain", "StyleAffine", "ModulatedConv2d"]


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_w(w: Tensor, w_dim: int, n: int | None) -> None:
    """``w`` must be ``(N, w_dim)`` (with ``N = n`` when given)."""
    rows = "N" if n is None else str(n)
    if not isinstance(w, Tensor) or w.ndim != 2 or w.shape[1] != w_dim or (
            n is not None and len(w) != n):
        got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"w must have shape ({rows}, {w_dim}), got {got}")

class MappingNetwork(nn.Module):
    r"""The mapping network :math:`w = f(\sqrt{d}\, z / \|z\|)`: normalised :math:`z`, then an MLP.

    Karras et al. (2019), section 2: 8 fully connected layers of width 512 with LeakyReLU;
    ``layers`` and ``hidden`` make it small here.
    """

    def __init__(self, latent_dim: int = 16, w_dim: int = 16, hidden: int = 64,
                 layers: int = 4) -> None:
        super().__init__()
        _check_sizes(latent_dim=latent_dim, w_dim=w_dim)
        self.latent_dim = latent_dim
        self.net = MLP(latent_dim, w_dim, hidden, layers, activation="leaky_relu")

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)        # "pixel norm" of z
        return self.net(z)


def adain(x: Tensor, scale: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Adaptive instance normalisation of feature maps ``x`` ``(N, C, H, W)`` by styles ``(N, C)``.

    .. math:: \mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i}

    with :math:`\mu, \sigma` the mean and standard deviation of channel :math:`i` of each image
    over its spatial positions: the style *replaces* each channel's first two moments.
    Huang and Belongie (2017), eq. (8); Karras et al. (2019), eq. (1).

    Raises:
        ValueError: if the shapes do not match.
    """
    if not all(isinstance(t, Tensor) for t in (x, scale, bias)):
        raise TypeError("adain expects tensors x (N, C, H, W) and scale, bias (N, C)")
    if x.ndim != 4 or scale.shape != x.shape[:2] or bias.shape != x.shape[:2]:
        raise ValueError(f"expected x (N, C, H, W) and scale, bias (N, C), got {tuple(x.shape)}, "
                         f"{tuple(scale.shape)}, {tuple(bias.shape)}")
    mean = x.mean(dim=(2, 3), keepdim=True)                                   # (N, C, 1, 1)
    std = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return scale[..., None, None] * (x - mean) / std + bias[..., None, None]


class StyleAffine(nn.Module):
    r"""The learned affine map :math:`A`: :math:`w \mapsto (y_s, y_b)`, scales start near 1."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        _check_sizes(w_dim=w_dim, channels=channels)
        self.w_dim = w_dim
        self.linear = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.linear.bias)

    def forward(self, w: Tensor) -> tuple[Tensor, Tensor]:
        _check_w(w, self.w_dim, None)
        scale, bias = self.linear(w).chunk(2, dim=1)                          # (N, C) each
        return 1.0 + scale, bias


class ModulatedConv2d(nn.Module):
    r"""StyleGAN2's modulated, demodulated convolution (Karras et al. 2020, eqs. (1)-(3)).

    .. math::

        w'_{ijk} = s_i\,w_{ijk}, \qquad
        w''_{ijk} = \frac{w'_{ijk}}{\sqrt{\sum_{i,k} {w'_{ijk}}^2 + \epsilon}}

    (:math:`i` input channel, :math:`j` output channel, :math:`k` kernel position), one weight
    per sample, applied as a grouped convolution. With ``demodulate=True`` every output channel
    has unit variance when the inputs are independent with unit variance.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel: int = 3,
                 demodulate: bool = True) -> None:
        super().__init__()
        _check_sizes(in_channels=in_channels, out_channels=out_channels, w_dim=w_dim,
                     kernel=kernel)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.affine = nn.Linear(w_dim, in_channels)
        nn.init.ones_(self.affine.bias)                                       # styles start at 1
        self.demodulate, self.padding = demodulate, kernel // 2

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        c_in = self.weight.shape[1]
        if x.ndim != 4 or x.shape[1] != c_in:
            raise ValueError(f"x must have shape (N, {c_in}, H, W), got {tuple(x.shape)}")
        _check_w(w, self.affine.in_features, len(x))
        n = len(x)
        s = self.affine(w)                                                    # (N, C_in)
        weight = self.weight[None] * s[:, None, :, None, None]     # (N, C_out, C_in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        # one group per sample: the batch becomes channels of a single image
        out = F.conv2d(rearrange(x, "n c h w -> 1 (n c) h w"),
                       rearrange(weight, "n o i kh kw -> (n o) i kh kw"),
                       padding=self.padding, groups=n)                       # (1, N C_out, H, W)
        return rearrange(out, "1 (n o) h w -> n o h w", n=n)
