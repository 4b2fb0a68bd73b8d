"""Small networks used across chapters: plain ``nn.Module``s that know nothing of the objective."""

from gmtext.nn.mlp import MLP

__all__ = ["MLP"]
