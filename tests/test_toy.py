import math

import pytest
import torch

from gmtext.data import toy


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", toy.NAMES)
def test_samples_have_declared_shape_and_are_deterministic(name):
    p = toy.load(name)
    x = p.sample(100, generator=gen(1))
    assert x.shape == (100, p.dim) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, p.sample(100, generator=gen(1)))
    assert not torch.equal(x, p.sample(100, generator=gen(2)))


@pytest.mark.parametrize("name", [n for n in toy.NAMES if toy.load(n).has_log_prob])
def test_density_integrates_to_one(name):
    p = toy.load(name)
    if p.dim == 1:
        grid = torch.linspace(-8, 8, 20001, dtype=torch.float64)[:, None]
        mass = torch.trapezoid(p.log_prob(grid).exp(), grid[:, 0])
    else:
        # The midpoint rule converges spectrally for smooth integrands: a cell of half the
        # smallest std (0.05) is already exact to 1e-6, and it is exact for the squares.
        h = 0.025
        axis = torch.arange(-6 + h / 2, 6, h, dtype=torch.float64)
        xx, yy = torch.meshgrid(axis, axis, indexing="ij")
        pts = torch.stack([xx.flatten(), yy.flatten()], 1)
        mass = p.log_prob(pts).exp().sum() * h * h
    assert abs(mass.item() - 1.0) < 1e-3


@pytest.mark.parametrize("name, std, k", [("grid25", 0.05, 25), ("grid25_wide", 0.2, 25),
                                          ("ring8", 0.1, 8)])
def test_entropy_of_separated_mixture(name, std, k):
    # Well-separated equal-weight components: H = log K + D/2 log(2 pi e sigma^2).
    p = toy.load(name)
    x = p.sample(100_000, generator=gen(0))
    nll = -p.log_prob(x)
    exact = math.log(k) + math.log(2 * math.pi * math.e * std**2)
    assert abs(nll.mean().item() - exact) < 5 * nll.std().item() / len(nll) ** 0.5 + 1e-3


def test_checkerboard_support_and_entropy():
    p = toy.load("checkerboard")
    x = p.sample(10_000, generator=gen(0))
    assert torch.allclose(p.log_prob(x), torch.full((10_000,), -math.log(32)))
    off = torch.tensor([[1.0, -1.0], [5.0, 0.0]])   # a light square, and outside the board
    assert torch.isneginf(p.log_prob(off)).all()


def test_gaussian_mixture_log_prob_matches_torch_distributions():
    means, stds = torch.randn(3, 2, generator=gen(0)), torch.rand(3, 2, generator=gen(1)) + 0.2
    w = torch.tensor([0.2, 0.3, 0.5])
    ref = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(w),
        torch.distributions.Independent(torch.distributions.Normal(means, stds), 1))
    x = torch.randn(50, 2, generator=gen(2))
    p = toy.GaussianMixture(means, stds, w)
    assert torch.allclose(p.log_prob(x), ref.log_prob(x), atol=1e-5)


def test_sample_moments_match_the_mixture():
    p = toy.load("mixture1d")
    x = p.sample(200_000, generator=gen(0)).double()
    mean = (p.weights * p.means[:, 0]).sum()
    second = (p.weights * (p.stds[:, 0] ** 2 + p.means[:, 0] ** 2)).sum()
    assert abs(x.mean() - mean) < 0.02 and abs((x**2).mean() - second) < 0.05


def test_bad_input_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="valid names: mixture1d"):
        toy.load("swiss_roll")
    p = toy.load("ring8")
    with pytest.raises(ValueError, match=r"expects shape \(N, 2\)"):
        p.log_prob(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="unsqueeze"):
        toy.load("mixture1d").log_prob(torch.zeros(5))
    with pytest.raises(TypeError, match="floating-point"):
        p.log_prob(torch.zeros(5, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="positive int"):
        p.sample(0)
    with pytest.raises(NotImplementedError, match="sample-only"):
        toy.load("two_moons").log_prob(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="positive"):
        toy.GaussianMixture([[0.0]], [-1.0])


def test_mixture_score_matches_autograd_of_log_prob():
    p = toy.load("ring8")
    x = p.sample(50, generator=torch.Generator().manual_seed(0)).double().requires_grad_(True)
    (grad,) = torch.autograd.grad(p.log_prob(x).sum(), x)
    torch.testing.assert_close(p.score(x.detach()), grad)


def test_noised_mixture_matches_monte_carlo():
    p = toy.load("grid25_wide")
    g = torch.Generator().manual_seed(1)
    x = p.sample(200_000, generator=g).double()
    y = 0.6 * x + 0.8 * torch.randn(x.shape, generator=g, dtype=torch.float64)
    q = p.noised(sigma=0.8, alpha=0.6)
    own = q.sample(200_000, generator=g).double()
    # the same law: equal mean log-density under q and equal variances, up to MC error
    assert abs(float(q.log_prob(y).mean() - q.log_prob(own).mean())) < 0.02
    torch.testing.assert_close(y.var(0), own.var(0), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="sigma"):
        p.noised(sigma=-1.0)
