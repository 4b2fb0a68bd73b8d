r"""The image GANs of chapter 3 on the 8x8 digits: DCGAN, conditional GAN and CycleGAN.

One seeded recipe per model, shared by section 3.x of the book and ``benchmarks/gan.py``.

- :func:`train_digit_gan`: data are the train split (1,000 digits) rescaled from 0..16 to
  [-1, 1] by :math:`y = x / 8 - 1` (:func:`gmtext.gan.sampling.to_gan_scale`), the range of the
  generator's tanh; samples (:func:`gmtext.gan.sampling.sample_digits`) are mapped back and clamped to
  [0, 16] for the shared metrics. Non-saturating loss, Adam with the DCGAN settings (lr 2e-4,
  betas (0.5, 0.999); Radford et al. 2016, arXiv:1511.06434), batches of 64. The conditional GAN
  (Mirza and Osindero 2014, arXiv:1411.1784) feeds the label to both networks. Chapter 3,
  section "A convolutional GAN on the digits".
- :func:`stored_digit_gan`: the same generator through the model store (:mod:`gmtext.store`),
  trained once per budget and code version and then loaded, with its training time (chapter 10).
- :func:`train_style_cyclegan`, :func:`content_preservation`: CycleGAN (Zhu et al. 2017,
  arXiv:1703.10593) between plain digits and bold negatives (:mod:`gmtext.data.styles`), and
  how much of the digit its translations keep, read by the shared digit classifier. Chapter 3,
  section "Unpaired translation".

Every recipe seeds its weight initialisation with ``seed`` inside
:func:`torch.random.fork_rng` (the caller's random state is left as it was) and draws batches
and latents from an explicit generator seeded with the same ``seed``.

Example:
    >>> import torch
    >>> from gmtext.gan import sample_digits
    >>> g, hist = train_digit_gan(2, channels=4, progress=False)
    >>> sample_digits(g, 5, torch.Generator().manual_seed(0)).shape, len(hist.loss)
    (torch.Size([5, 1, 8, 8]), 2)
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor

from gmtext import store
from gmtext import train as train_module
from gmtext.data.images import digits
from gmtext.data.styles import unpaired_domains
from gmtext.gan.cyclegan import CycleGAN, CycleHistory, train_cyclegan
from gmtext.gan import training as gan_training
from gmtext.gan.sampling import to_gan_scale, translate
from gmtext.gan.training import GANHistory, train_gan
from gmtext.metrics.classifier import label_accuracy
from gmtext.nn.dcgan import DigitDiscriminator, DigitGenerator
from gmtext.train import TrainConfig, minibatches

__all__ = ["LATENT_DIM", "train_digit_gan", "stored_digit_gan", "train_style_cyclegan", "content_preservation"]

#: Size of the latent vector of the digit GANs.
LATENT_DIM = 32


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")


def _networks(conditional: bool, channels: int, seed: int,
              device: torch.device | str) -> tuple[DigitGenerator, DigitDiscriminator]:
    """Both networks, initialised from ``seed`` (generator first), the caller's RNG kept."""
    n_classes = 10 if conditional else 0
    with torch.random.fork_rng(devices=[]):          # seeded initialisation, caller's RNG kept
        torch.manual_seed(seed)
        g = DigitGenerator(LATENT_DIM, channels, n_classes).to(device)
        d = DigitDiscriminator(channels, n_classes).to(device)
    return g, d


def _fit(g: DigitGenerator, d: DigitDiscriminator, steps: int, conditional: bool, seed: int,
         batch_size: int, max_seconds: float | None, progress: bool) -> GANHistory:
    gen = torch.Generator().manual_seed(seed)
    x, y = digits("train", labels=True)
    tensors = (to_gan_scale(x), y) if conditional else (to_gan_scale(x),)
    config = TrainConfig(steps, lr=2e-4, max_seconds=max_seconds, progress=progress,
                         desc="conditional GAN" if conditional else "DCGAN")
    return train_gan(g, d, minibatches(*tensors, batch_size=batch_size, generator=gen), config,
                     latent_dim=LATENT_DIM, generator=gen, betas=(0.5, 0.999))


def train_digit_gan(steps: int, *, conditional: bool = False, channels: int = 32, seed: int = 0,
                    batch_size: int = 64, max_seconds: float | None = None,
                    device: torch.device | str = "cpu",
                    progress: bool = True) -> tuple[DigitGenerator, GANHistory]:
    """Train a DCGAN-style (optionally class-conditional) GAN on the train digits.

    ``seed`` seeds the initialisation of both networks and the generator of batches and latents.

    Returns:
        The generator (in eval mode, on ``device``) and the training history.
    """
    _check_seed(seed)
    g, d = _networks(conditional, channels, seed, device)
    hist = _fit(g, d, steps, conditional, seed, batch_size, max_seconds, progress)
    return g.eval(), hist


def stored_digit_gan(steps: int, *, conditional: bool = False, channels: int = 32, seed: int = 0,
                     batch_size: int = 64, device: torch.device | str = "cpu", profile: str | None = None,
                     progress: bool = True) -> tuple[DigitGenerator, store.StoreRecord]:
    """:func:`train_digit_gan` (no wall-time cap) through the model store: the same generator, trained
    once per arguments, ``profile`` and code version, then loaded; ``record.seconds`` is its training time.

    Returns:
        The generator (eval mode, on ``device``) and the :class:`gmtext.store.StoreRecord`
        (``info``: ``steps_done``, ``seed``).
    """
    _check_seed(seed)

    def train(g: DigitGenerator) -> dict:
        d = _networks(conditional, channels, seed, device)[1]      # the discriminator of that seed
        with torch.enable_grad():
            hist = _fit(g, d, steps, conditional, seed, batch_size, None, progress)
        return {"steps_done": len(hist.loss), "seed": seed}

    args = {"steps": steps, "conditional": conditional, "channels": channels, "seed": seed,
            "batch_size": batch_size}
    g, record = store.cached("digit_gan", lambda: _networks(conditional, channels, seed, device)[0], train,
                             args=args, profile=profile,
                             version_of=[sys.modules[__name__], gan_training, train_module])
    return g.eval(), record


def train_style_cyclegan(steps: int, *, channels: int = 16, blocks: int = 2, seed: int = 0,
                         batch_size: int = 64, cycle_weight: float = 10.0,
                         identity_weight: float = 5.0, max_seconds: float | None = None,
                         device: torch.device | str = "cpu",
                         progress: bool = True) -> tuple[CycleGAN, CycleHistory]:
    """Train a :class:`gmtext.gan.cyclegan.CycleGAN` between the two unpaired digit domains.

    A = plain digits, B = bold negatives (:func:`gmtext.data.styles.unpaired_domains`), each a
    disjoint half of the train split, on [-1, 1] (:func:`gmtext.gan.sampling.to_gan_scale`).
    ``cycle_weight`` and ``identity_weight`` weigh the terms of the full objective
    (:func:`gmtext.gan.cyclegan.train_cyclegan`); 0 removes a term. ``seed`` seeds the split
    into domains, the initialisation of the four networks, and the batches. Returns the model
    in eval mode and its history.
    """
    _check_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    (a, _), (b, _) = unpaired_domains("train", seed=seed)
    with torch.random.fork_rng(devices=[]):          # seeded initialisation, caller's RNG kept
        torch.manual_seed(seed)
        model = CycleGAN(channels, blocks).to(device)
    source_a = minibatches(to_gan_scale(a), batch_size=batch_size, generator=gen)
    source_b = minibatches(to_gan_scale(b), batch_size=batch_size, generator=gen)
    config = TrainConfig(steps, lr=2e-4, max_seconds=max_seconds, progress=progress,
                         desc="CycleGAN")
    hist = train_cyclegan(model, zip(source_a, source_b), config, betas=(0.5, 0.999),
                          cycle_weight=cycle_weight, identity_weight=identity_weight)
    return model.eval(), hist


def content_preservation(model: CycleGAN, split: str = "test", seed: int = 0) -> dict[str, float]:
    r"""Accuracy of the shared digit classifier (trained on domain A) on translated images.

    Returns the accuracies on: the A images themselves (``source_a``); the B images as they are
    (``raw_b``: the domain gap); B simply inverted, :math:`16 - b` (``inverted_b``: the naive
    translation that ignores the bold strokes); :math:`F(b)` (``translated_b``: content preserved
    by B -> A); and :math:`F(G(a))` (``cycle_a``).
    """
    (a, ya), (b, yb) = unpaired_domains(split, seed=seed)
    return {"source_a": label_accuracy(a, ya), "raw_b": label_accuracy(b, yb),
            "inverted_b": label_accuracy(16 - b, yb),
            "translated_b": label_accuracy(translate(model.g_ba, b), yb),
            "cycle_a": label_accuracy(translate(model.g_ba, translate(model.g_ab, a)), ya)}
