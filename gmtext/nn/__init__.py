"""Small networks used across chapters: plain ``nn.Module`` subclasses that know nothing of the objective."""

from gmtext.nn.coders import CategoricalDecoder, GaussianEncoder
from gmtext.nn.embeddings import ConditionalMLP, SinusoidalEmbedding
from gmtext.nn.mlp import MLP
from gmtext.nn.pixel import LocalAutoregressiveDecoder

__all__ = ["MLP", "GaussianEncoder", "CategoricalDecoder", "LocalAutoregressiveDecoder",
           "SinusoidalEmbedding", "ConditionalMLP"]
