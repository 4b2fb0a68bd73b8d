"""Generative adversarial networks (chapter 3): losses, the optimal discriminator, networks,
the alternating training loop, CycleGAN and a StyleGAN-style mapping + modulation block."""

from gmtext.gan.losses import (LOSSES, discriminator_loss, generator_loss, gradient_penalty,
                               r1_penalty)
from gmtext.gan.nets import (DigitDiscriminator, DigitGenerator, MinibatchStd, Packed,
                             from_gan_scale, to_gan_scale, toy_discriminator, toy_generator)
from gmtext.gan.training import GANHistory, sample_latent, train_gan

__all__ = ["LOSSES", "discriminator_loss", "generator_loss", "gradient_penalty", "r1_penalty",
           "DigitDiscriminator", "DigitGenerator", "MinibatchStd", "Packed", "from_gan_scale",
           "to_gan_scale", "toy_discriminator", "toy_generator", "GANHistory", "sample_latent",
           "train_gan"]
