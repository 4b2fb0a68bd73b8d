r"""The DCGAN and conditional GAN of chapter 3 on the 8x8 digits (notebook and benchmark).

Data: the train split (1,000 digits) rescaled from 0..16 to [-1, 1] by :math:`y = x / 8 - 1`
(:func:`gmtext.gan.nets.to_gan_scale`), the range of the generator's tanh; samples are mapped
back and clamped to [0, 16] for the shared metrics. Training: non-saturating loss, Adam with the
DCGAN settings (lr 2e-4, betas (0.5, 0.999); Radford et al. 2016, arXiv:1511.06434), batches of 64.
The conditional GAN (Mirza and Osindero 2014, arXiv:1411.1784) feeds the label to both networks.
Chapter 3, section "A convolutional GAN on the digits".

Example:
    >>> import torch
    >>> g = DigitGenerator(latent_dim=LATENT_DIM, channels=8)
    >>> sample_digits(g, 5, torch.Generator().manual_seed(0)).shape
    torch.Size([5, 1, 8, 8])
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmtext import config
from gmtext.data.images import digits
from gmtext.gan.nets import DigitDiscriminator, DigitGenerator, from_gan_scale, to_gan_scale
from gmtext.gan.training import GANHistory, sample_latent, train_gan
from gmtext.train import minibatches

__all__ = ["LATENT_DIM", "train_digit_gan", "sample_digits"]

#: Size of the latent vector of the digit GANs.
LATENT_DIM = 32


def train_digit_gan(steps: int, *, conditional: bool = False, channels: int = 32, seed: int = 0,
                    batch_size: int = 64, max_seconds: float | None = None,
                    device: torch.device | str = "cpu",
                    progress: bool = True) -> tuple[DigitGenerator, GANHistory]:
    """Train a DCGAN-style (optionally class-conditional) GAN on the train digits.

    Returns:
        The generator (in eval mode, on ``device``) and the training history.
    """
    gen = config.seed_everything(seed)
    x, y = digits("train", labels=True)
    n_classes = 10 if conditional else 0
    g = DigitGenerator(LATENT_DIM, channels, n_classes).to(device)
    d = DigitDiscriminator(channels, n_classes).to(device)
    tensors = (to_gan_scale(x), y) if conditional else (to_gan_scale(x),)
    hist = train_gan(g, d, minibatches(*tensors, batch_size=batch_size, generator=gen), steps,
                     latent_dim=LATENT_DIM, generator=gen, lr_g=2e-4, lr_d=2e-4,
                     betas=(0.5, 0.999), max_seconds=max_seconds, progress=progress,
                     desc="conditional GAN" if conditional else "DCGAN")
    return g.eval(), hist


def sample_digits(g: DigitGenerator, n: int, generator: torch.Generator,
                  labels: Tensor | None = None) -> Tensor:
    """``n`` samples of ``g`` on the digits' 0..16 scale (float, clamped), on the CPU.

    ``labels`` ``(n,)`` are required for a conditional generator.
    """
    device = next(g.parameters()).device
    z = sample_latent(n, g.latent_dim, generator, device)
    cond = () if labels is None else (labels.to(device),)
    with torch.no_grad():
        return from_gan_scale(g(z, *cond)).cpu()                              # (n, 1, 8, 8)
