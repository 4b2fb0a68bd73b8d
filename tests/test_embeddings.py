"""The sinusoidal embedding and the conditional MLP: shapes, the embedding's math, bad input."""

import math

import pytest
import torch

from gmtext.nn import ConditionalMLP, SinusoidalEmbedding


def test_embedding_matches_formula_and_has_unit_norm_pairs():
    emb = SinusoidalEmbedding(8, scale=1.0, max_period=100.0)
    t = torch.tensor([0.0, 0.5, 3.0])
    out = emb(t)
    freqs = [100.0 ** (-k / 3) for k in range(4)]
    expected = torch.tensor([[math.sin(f * s) for f in freqs] + [math.cos(f * s) for f in freqs]
                             for s in t.tolist()])
    torch.testing.assert_close(out, expected)
    # sin^2 + cos^2 = 1 for every frequency
    torch.testing.assert_close(out[:, :4] ** 2 + out[:, 4:] ** 2, torch.ones(3, 4))


def test_conditional_mlp_depends_on_t_and_broadcasts_numbers():
    torch.manual_seed(0)
    net = ConditionalMLP(2, 3, hidden=16, layers=2)
    x = torch.randn(4, 2)
    a, b = net(x, torch.zeros(4)), net(x, torch.ones(4))
    assert a.shape == (4, 3) and not torch.allclose(a, b)
    torch.testing.assert_close(net(x, 1.0), b)
    torch.testing.assert_close(net(x, torch.ones(4, 1)), b)


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(4, 2), torch.tensor([0.0, 1.0, float("nan"), 0.0])])
def test_conditional_mlp_rejects_bad_t(bad):
    net = ConditionalMLP(2, hidden=8, layers=1)
    with pytest.raises(ValueError):
        net(torch.zeros(4, 2), bad)


def test_bad_construction_and_x_shape():
    with pytest.raises(ValueError, match="even"):
        SinusoidalEmbedding(5)
    with pytest.raises(ValueError, match="activation"):
        ConditionalMLP(2, activation="nope")
    with pytest.raises(ValueError, match="shape"):
        ConditionalMLP(2)(torch.zeros(4, 3), torch.zeros(4))
