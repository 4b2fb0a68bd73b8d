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
section "What complex GANs add", eqs. (3.16)-(3.17).

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
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import Tensor, nn

from gmtext.nn import MLP

__all__ = ["MappingNetwork", "adain", "StyleAffine", "ModulatedConv2d", "architecture_figure"]


class MappingNetwork(nn.Module):
    r"""The mapping network :math:`w = f(\sqrt{d}\, z / \|z\|)`: normalised :math:`z`, then an MLP.

    Karras et al. (2019), section 2: 8 fully connected layers of width 512 with LeakyReLU;
    ``layers`` and ``hidden`` make it small here.
    """

    def __init__(self, latent_dim: int = 16, w_dim: int = 16, hidden: int = 64,
                 layers: int = 4) -> None:
        super().__init__()
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
        self.linear = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.linear.bias)

    def forward(self, w: Tensor) -> tuple[Tensor, Tensor]:
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
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.affine = nn.Linear(w_dim, in_channels)
        nn.init.ones_(self.affine.bias)                                       # styles start at 1
        self.demodulate, self.padding = demodulate, kernel // 2

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        n, c_in, h, width = x.shape
        s = self.affine(w)                                                    # (N, C_in)
        weight = self.weight[None] * s[:, None, :, None, None]     # (N, C_out, C_in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        c_out = weight.shape[1]
        out = F.conv2d(x.reshape(1, n * c_in, h, width),                      # one group per sample
                       weight.reshape(n * c_out, c_in, *weight.shape[3:]),
                       padding=self.padding, groups=n)
        return out.reshape(n, c_out, h, width)



def architecture_figure() -> Figure:
    """A schematic of StyleGAN's generator: mapping network, affine styles, AdaIN in each block."""

    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xlim=(0, 10), ylim=(0, 5.2))
    ax.axis("off")

    def box(x: float, y: float, w: float, h: float, text: str, color: str) -> None:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", facecolor=color,
                                    edgecolor="black"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->"})

    box(0.2, 4.3, 1.2, 0.6, r"$z \sim N(0, I)$", "white")
    box(0.2, 1.2, 1.2, 2.6, "mapping\nnetwork $f$\n(8 FC layers)", "#dde8f5")
    box(0.2, 0.2, 1.2, 0.6, r"$w = f(z)$", "white")
    arrow(0.8, 4.3, 0.8, 3.85)
    arrow(0.8, 1.2, 0.8, 0.85)
    box(3.0, 4.3, 1.6, 0.6, "constant 4x4", "white")
    for i, y in enumerate((3.0, 1.6, 0.2)):
        box(3.0, y, 1.6, 0.9, f"conv, noise,\nAdaIN (block {i + 1})", "#f5e6d3")
        box(1.9, y + 0.2, 0.6, 0.5, "A", "#e3f0dc")
        arrow(1.4, 0.5, 1.9, y + 0.45)
        arrow(2.5, y + 0.45, 3.0, y + 0.45)
    arrow(3.8, 4.3, 3.8, 3.95)
    arrow(3.8, 3.0, 3.8, 2.55)
    arrow(3.8, 1.6, 3.8, 1.15)
    arrow(4.6, 0.65, 5.4, 0.65)
    box(5.4, 0.35, 1.0, 0.6, "image", "white")
    ax.text(5.2, 3.6, r"$\mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)}"
            r" + y_{b,i}$", fontsize=10)
    ax.text(5.2, 2.7, "A: learned affine map $w \\mapsto y = (y_s, y_b)$,\none style per block",
            fontsize=8)
    ax.text(5.2, 1.7, "coarse blocks: pose, shape;\nfine blocks: texture, colour", fontsize=8)
    return fig
