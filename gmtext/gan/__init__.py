"""Generative adversarial networks (chapter 3): losses and penalties, the optimal discriminator,
the alternating training loop, the CycleGAN objective, and sampling from a trained generator.

The networks are in :mod:`gmtext.nn` (:mod:`~gmtext.nn.dcgan`, :mod:`~gmtext.nn.translator`,
:mod:`~gmtext.nn.style`); the chapter's seeded experiments in :mod:`gmtext.recipes.gan_toy` and
:mod:`gmtext.recipes.gan_digits`; its figures in :mod:`gmtext.viz.gan`.
"""

from gmtext.gan.losses import (LOSSES, discriminator_loss, generator_loss, gradient_penalty,
                               r1_penalty)
from gmtext.gan.sampling import (from_gan_scale, generator_coverage, sample_digits,
                                 sample_latent, to_gan_scale, translate)
from gmtext.gan.training import GANHistory, train_gan

__all__ = ["LOSSES", "discriminator_loss", "generator_loss", "gradient_penalty", "r1_penalty",
           "from_gan_scale", "generator_coverage", "sample_digits", "sample_latent",
           "to_gan_scale", "translate", "GANHistory", "train_gan"]
