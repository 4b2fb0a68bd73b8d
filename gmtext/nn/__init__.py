"""Small networks used across chapters: plain ``nn.Module`` subclasses that know nothing of the objective."""

from gmtext.nn.coders import CategoricalDecoder, GaussianEncoder
from gmtext.nn.embeddings import ConditionalMLP, SinusoidalEmbedding
from gmtext.nn.mlp import MLP
from gmtext.nn.pixel import LocalAutoregressiveDecoder

__all__ = ["MLP", "GaussianEncoder", "CategoricalDecoder", "LocalAutoregressiveDecoder",
           "SinusoidalEmbedding", "ConditionalMLP"]

# the GAN chapter's networks and the digit classifier behind the Frechet distance
from gmtext.nn.classifier import DigitClassifier  # noqa: E402
from gmtext.nn.dcgan import (DigitDiscriminator, DigitGenerator, MinibatchStd, Packed,  # noqa: E402
                             toy_discriminator, toy_generator)
from gmtext.nn.style import MappingNetwork, ModulatedConv2d, StyleAffine, adain  # noqa: E402
from gmtext.nn.translator import PointwiseResidual, Translator  # noqa: E402

__all__ += ["DigitClassifier", "DigitDiscriminator", "DigitGenerator", "MinibatchStd", "Packed",
            "toy_discriminator", "toy_generator", "MappingNetwork", "ModulatedConv2d",
            "StyleAffine", "adain", "PointwiseResidual", "Translator"]

# the noise-conditional score networks of chapter 5
from gmtext.nn.score import ConvScoreNet, NoiseConditionalScore, mlp_score_net  # noqa: E402

__all__ += ["ConvScoreNet", "NoiseConditionalScore", "mlp_score_net"]

# the class-conditional networks of chapter 8
from gmtext.nn.conditional import ClassConditionalMLP, ClassConditionalUNet8, NoisyDigitClassifier  # noqa: E402

__all__ += ["ClassConditionalMLP", "ClassConditionalUNet8", "NoisyDigitClassifier"]
