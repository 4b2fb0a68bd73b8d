r"""Drawing from a trained generator: latents, digits on the data's scale, translations, coverage.

A GAN has no likelihood; it is judged by its samples (chapter 3). These functions turn a
generator into samples in the units the shared metrics expect:

- :func:`sample_latent`: :math:`z \sim \mathcal N(0, I)`, drawn on the CPU with an explicit
  generator so a seed gives the same latents on every device;
- :func:`to_gan_scale`, :func:`from_gan_scale`: digits on 0..16 to the generator's tanh range
  [-1, 1] (the ``"signed_levels"`` map of :func:`gmtext.data.images.scale_digits`) and back;
- :func:`sample_digits`, :func:`translate`: digit samples and CycleGAN translations on 0..16;
- :func:`generator_coverage`: modes covered and high-quality fraction on a 2-D mixture (the
  protocol of VEEGAN and PacGAN, :func:`gmtext.metrics.mode_coverage`).

Example:
    >>> x = torch.arange(17.0).reshape(1, 1, 1, 17)
    >>> torch.equal(from_gan_scale(to_gan_scale(x)), x)
    True
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gmtext.data import toy
from gmtext.data.images import LEVELS
from gmtext.metrics import mode_coverage

__all__ = ["sample_latent", "to_gan_scale", "from_gan_scale", "sample_digits", "translate",
           "generator_coverage"]


def sample_latent(n: int, latent_dim: int, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> Tensor:
    r"""Draw ``n`` latent vectors :math:`z \sim \mathcal N(0, I_{d})`, shape ``(n, latent_dim)``.

    The noise is drawn on the CPU with ``generator`` (so a seed gives the same samples on every
    device) and moved to ``device``. Chapter 3, eq. (3.1).
    """
    for name, value in (("n", n), ("latent_dim", latent_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return torch.randn(n, latent_dim, generator=generator).to(device)


def to_gan_scale(x: Tensor) -> Tensor:
    r"""Digits on 0..16 to the generator's range: :math:`y = x / 8 - 1 \in [-1, 1]`.

    On data it is the ``"signed_levels"`` map of :func:`gmtext.data.images.scale_digits` (the
    levels themselves, no dequantization; a GAN has no density, so no log-Jacobian is needed).
    Unlike that map it also takes real values on [0, 16]: CycleGAN translates translations.

    Raises:
        TypeError: if ``x`` is not a tensor.
        ValueError: for NaN or values outside [0, 16] (e.g. images already on [-1, 1]).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a tensor of digits on 0..16, got {type(x).__name__}")
    x = x.float()
    if not bool(((x >= 0) & (x <= LEVELS - 1)).all()):              # NaN fails both tests
        raise ValueError(f"x must hold digits on [0, {LEVELS - 1}] without NaN, got values in "
                         f"[{float(x.min()):.3g}, {float(x.max()):.3g}] (already rescaled?)")
    return x / 8.0 - 1.0


def from_gan_scale(y: Tensor) -> Tensor:
    r"""The inverse of :func:`to_gan_scale`, clamped to [0, 16], not rounded: :math:`x = 8 (y + 1)`.

    The metrics take real-valued samples on the 0..16 scale; rounding to levels would add
    quantization noise that the generator did not make.
    """
    if not isinstance(y, Tensor) or not y.is_floating_point():
        raise TypeError(f"y must be a floating-point tensor on [-1, 1], got "
                        f"{y.dtype if isinstance(y, Tensor) else type(y).__name__}")
    if bool(torch.isnan(y).any()):
        raise ValueError("y holds NaN values (did the generator diverge?)")
    return (8.0 * (y + 1.0)).clamp(0.0, 16.0)


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def sample_digits(g: nn.Module, n: int, generator: torch.Generator,
                  labels: Tensor | None = None) -> Tensor:
    """``n`` samples of a digit generator ``g`` on the digits' 0..16 scale (float, clamped), CPU.

    ``g(z)`` (or ``g(z, labels)``) must return ``(n, 1, 8, 8)`` images on [-1, 1] and have a
    ``latent_dim`` attribute (:class:`gmtext.nn.dcgan.DigitGenerator`). ``labels`` ``(n,)``
    are required for a conditional generator.

    Example:
        >>> from gmtext.nn.dcgan import DigitGenerator
        >>> g = DigitGenerator(latent_dim=8, channels=4).eval()
        >>> sample_digits(g, 5, torch.Generator().manual_seed(0)).shape
        torch.Size([5, 1, 8, 8])
    """
    device = _device(g)
    z = sample_latent(n, g.latent_dim, generator, device)
    cond = () if labels is None else (labels.to(device),)
    with torch.no_grad():
        return from_gan_scale(g(z, *cond)).cpu()                              # (n, 1, 8, 8)


def translate(net: nn.Module, images: Tensor) -> Tensor:
    """Translate ``(N, 1, 8, 8)`` images on 0..16 with ``net``; the result on 0..16 (CPU, float).

    ``net`` works on [-1, 1], as :class:`gmtext.nn.translator.Translator` (chapter 3, CycleGAN).
    """
    with torch.no_grad():
        return from_gan_scale(net(to_gan_scale(images).to(_device(net)))).cpu()


def generator_coverage(g: nn.Module, data: toy.GaussianMixture, n: int = 2500, seed: int = 12345,
                       latent_dim: int = 2) -> dict[str, object]:
    """:func:`gmtext.metrics.mode_coverage` of ``n`` fresh samples of ``g`` (fixed seed).

    The protocol of VEEGAN and PacGAN (Lin et al. 2018, arXiv:1712.04086): a sample is high
    quality within 3 standard deviations of its nearest mean; a mode is covered by at least 20 of
    2,500 samples (scaled with ``n``). The latents come from their own generator seeded with
    ``seed``, so every model is judged on the same latents. Chapter 3, section "Mode collapse".

    Raises:
        TypeError: if ``data`` is not a Gaussian mixture (the protocol needs its means).
    """
    if not isinstance(data, toy.GaussianMixture):
        raise TypeError(f"data must be a gmtext.data.toy.GaussianMixture, got "
                        f"{type(data).__name__}")
    device = _device(g)
    with torch.no_grad():
        x = g(sample_latent(n, latent_dim, torch.Generator().manual_seed(seed), device)).cpu()
    std = float(data.stds.max())
    return mode_coverage(x, data.means.float(), std=std, min_count=round(20 * n / 2500))
