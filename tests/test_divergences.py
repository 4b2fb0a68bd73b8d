"""KL divergences: closed forms against Monte Carlo, their properties, and bad input."""

import math

import pytest
import torch

from gmtext.data import toy
from gmtext.divergences import kl_categorical, kl_mvn, kl_normal, reverse_kl
from gmtext.metrics import kl_mc
from gmtext.mle import GaussianModel


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_covariance(d, g):
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_normal_matches_monte_carlo_in_both_directions(seed):
    g = gen(seed)
    mean_q, mean_p = torch.randn(3, generator=g), torch.randn(3, generator=g)
    std_q, std_p = torch.rand(3, generator=g) + 0.3, torch.rand(3, generator=g) + 0.3
    q = toy.GaussianMixture(mean_q[None], std_q[None])
    p = toy.GaussianMixture(mean_p[None], std_p[None])
    for (a, sa, b, sb, dist_a, dist_b) in [(mean_q, std_q, mean_p, std_p, q, p),
                                           (mean_p, std_p, mean_q, std_q, p, q)]:
        closed = float(kl_normal(a, 2 * sa.log(), b, 2 * sb.log()).sum())
        mc, se = kl_mc(dist_a, dist_b.log_prob, 50_000, g)
        assert abs(mc - closed) < 5 * se + 1e-6


def test_kl_normal_is_zero_for_equal_and_positive_and_asymmetric_otherwise():
    m, lv = torch.tensor([0.3, -1.0]), torch.tensor([0.2, -0.5])
    assert torch.allclose(kl_normal(m, lv, m, lv), torch.zeros(2), atol=1e-7)
    forward = kl_normal(m, lv, 0.0, 1.0).sum()
    backward = kl_normal(torch.zeros(2), torch.ones(2), m, lv).sum()
    assert forward > 0 and backward > 0 and not torch.isclose(forward, backward)


def test_kl_normal_default_prior_is_the_vae_formula():
    m, lv = torch.tensor([1.5, -0.2]), torch.tensor([0.4, -1.0])
    expected = 0.5 * (m ** 2 + lv.exp() - 1 - lv)
    assert torch.allclose(kl_normal(m, lv), expected)


def test_kl_normal_rejects_non_tensors():
    with pytest.raises(TypeError, match="mean_q"):
        kl_normal([0.0], torch.zeros(1))
    with pytest.raises(TypeError, match="log_var_q"):
        kl_normal(torch.zeros(1), torch.zeros(1, dtype=torch.long))


def test_kl_mvn_matches_monte_carlo_and_the_diagonal_case():
    g = gen(3)
    d = 4
    cov_q, cov_p = random_covariance(d, g), random_covariance(d, g)
    mean_q, mean_p = torch.randn(d, generator=g).double(), torch.randn(d, generator=g).double()
    q = torch.distributions.MultivariateNormal(mean_q, cov_q)
    p = torch.distributions.MultivariateNormal(mean_p, cov_p)
    eps = torch.randn(200_000, d, generator=g, dtype=torch.float64)
    z = mean_q + eps @ torch.linalg.cholesky(cov_q).T
    diff = q.log_prob(z) - p.log_prob(z)
    closed = kl_mvn(mean_q, cov_q, mean_p, cov_p)
    assert abs(float(diff.mean() - closed)) < 5 * float(diff.std() / math.sqrt(len(z)))
    assert torch.isclose(closed, torch.distributions.kl_divergence(q, p))
    var_q, var_p = torch.rand(d, generator=g) + 0.2, torch.rand(d, generator=g) + 0.2
    diag = kl_mvn(mean_q, torch.diag(var_q), mean_p, torch.diag(var_p))
    expected = kl_normal(mean_q, var_q.log().double(), mean_p, var_p.log().double()).sum()
    assert torch.isclose(diag, expected)


def test_kl_mvn_batches_over_means():
    eye = torch.eye(2)
    means = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    out = kl_mvn(means, eye, torch.zeros(2), eye)
    expected = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    assert out.shape == (3,) and torch.allclose(out, expected)


def test_kl_mvn_bad_input():
    eye = torch.eye(2)
    with pytest.raises(ValueError, match="covariances"):
        kl_mvn(torch.zeros(3), eye, torch.zeros(2), eye)
    with pytest.raises(ValueError, match="positive definite"):
        kl_mvn(torch.zeros(2), -eye, torch.zeros(2), eye)


def test_kl_categorical_matches_the_definition():
    g = gen(4)
    lq, lp = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    q, p = lq.softmax(-1), lp.softmax(-1)
    assert torch.allclose(kl_categorical(lq, lp), (q * (q / p).log()).sum(-1), atol=1e-6)
    assert torch.allclose(kl_categorical(lq, lq + 3.0), torch.zeros(5), atol=1e-6)   # logits shift
    with pytest.raises(ValueError, match="categories"):
        kl_categorical(torch.zeros(3), torch.zeros(4))


def test_reverse_kl_is_an_unbiased_differentiable_estimate():
    p = toy.GaussianMixture([[0.0, 1.0]], [[1.0, 2.0]])
    loc = torch.tensor([0.5, -0.5], requires_grad=True)
    scale = torch.diag(torch.tensor([0.7, 1.3])).requires_grad_(True)
    estimates = torch.stack([reverse_kl(loc, scale, p.log_prob, 2000, gen(s)) for s in range(20)])
    closed = kl_normal(loc.detach(), 2 * torch.tensor([0.7, 1.3]).log(), torch.tensor([0.0, 1.0]),
                       2 * torch.tensor([1.0, 2.0]).log()).sum()
    values = estimates.detach()
    assert abs(float(values.mean() - closed)) < 5 * float(values.std() / math.sqrt(20))
    estimates.mean().backward()
    assert loc.grad is not None and scale.grad is not None and torch.isfinite(loc.grad).all()


def test_reverse_kl_fit_is_mode_seeking():
    target = toy.GaussianMixture([[-3.0], [3.0]], 0.6, weights=[0.4, 0.6])
    q = GaussianModel(1)
    with torch.no_grad():
        q.loc.fill_(1.0)
    opt = torch.optim.Adam(q.parameters(), lr=0.05)
    g = gen(5)
    for _ in range(600):
        loss = reverse_kl(q.loc, q.scale_tril, target.log_prob, 128, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(q.loc.item() - 3.0) < 0.15 and abs(q.scale_tril.item() - 0.6) < 0.1


def test_reverse_kl_bad_input():
    p = toy.GaussianMixture([[0.0]], 1.0)
    with pytest.raises(ValueError, match="scale_tril"):
        reverse_kl(torch.zeros(1), torch.eye(2), p.log_prob, 10, gen())
    with pytest.raises(ValueError, match="positive int"):
        reverse_kl(torch.zeros(1), torch.eye(1), p.log_prob, 0, gen())
    with pytest.raises(ValueError, match="log_p must return"):
        reverse_kl(torch.zeros(1), torch.eye(1), lambda z: z, 10, gen())
