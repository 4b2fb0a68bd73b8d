"""Maximum likelihood, mixtures, EM and KDE (gmtext.mle, gmtext.mixture): the math of chapter 1."""

from __future__ import annotations

import math

import pytest
import torch

from gmtext.data import toy
from gmtext.mle import (
    GaussianModel,
    MixtureModel,
    categorical_log_prob,
    categorical_mle,
    dequantize,
    fit_em,
    fit_mle,
    gaussian_mle,
    kde_log_prob,
    silverman_bandwidth,
)
from gmtext.kmeans import kmeans, kmeans_plus_plus


def correlated_gaussian(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([[1.5, 0.0], [0.8, 0.5]])
    return torch.randn(n, 2, generator=g) @ scale.T + torch.tensor([1.0, -2.0])


def test_gaussian_mle_is_the_1_over_n_moments():
    x = correlated_gaussian(500)
    mean, cov = gaussian_mle(x)
    torch.testing.assert_close(mean, x.mean(0))
    torch.testing.assert_close(cov, torch.cov(x.T, correction=0))   # 1/N, not 1/(N-1)


def test_closed_form_equals_gradient_ascent():
    """eq. (1.6) is the stationary point that gradient MLE (gmtext.train.fit) converges to."""
    x = correlated_gaussian(1000)
    mean, cov = gaussian_mle(x)
    q = GaussianModel(2)
    history = fit_mle(q, x, steps=400, lr=0.1, progress=False)
    torch.testing.assert_close(q.loc.detach(), mean, atol=1e-3, rtol=0)
    torch.testing.assert_close(q.covariance.detach(), cov, atol=1e-3, rtol=0)
    with torch.no_grad():
        best = -GaussianModel.from_moments(mean, cov).log_prob(x).mean()
    assert history.loss[-1] >= float(best) - 1e-5       # nothing beats the MLE on its own data


def test_em_log_likelihood_never_decreases():
    g = torch.Generator().manual_seed(1)
    x = toy.load("ring8").sample(1000, generator=g)
    for k in (3, 8, 40):              # under-, well- and over-specified (k=40 hits the floor)
        ll = torch.tensor(fit_em(x, k, iters=60, generator=g, min_std=0.02).log_likelihood,
                          dtype=torch.float64)
        assert len(ll) == 61
        assert bool((ll.diff() >= -1e-10).all()), ll.diff().min()


def test_em_recovers_mixture1d():
    """20k samples: each estimate is within a few standard errors of the truth.

    With N_k = N pi_k points in component k, the standard errors are sigma_k / sqrt(N_k) for the
    mean, sigma_k / sqrt(2 N_k) for the std and sqrt(pi_k (1 - pi_k) / N) for the weight; overlap of
    the components inflates them somewhat, so we allow 6 of them.
    """
    g = torch.Generator().manual_seed(0)
    p = toy.load("mixture1d")
    n = 20_000
    em = fit_em(p.sample(n, generator=g), k=3, iters=300, generator=g)
    order = em.means[:, 0].argsort()                     # components up to permutation
    true_mu, true_sd, true_pi = p.means[:, 0].float(), p.stds[:, 0].float(), p.weights.float()
    nk = n * true_pi
    assert bool(((em.means[order, 0] - true_mu).abs() < 6 * true_sd / nk.sqrt()).all())
    assert bool(((em.stds[order, 0] - true_sd).abs() < 6 * true_sd / (2 * nk).sqrt()).all())
    weight_se = (true_pi * (1 - true_pi) / n).sqrt()
    assert bool(((em.weights[order] - true_pi).abs() < 6 * weight_se).all())


def test_em_restarts_keep_the_best_run():
    g = torch.Generator().manual_seed(3)
    x = toy.load("grid25").sample(2000, generator=g)
    single = fit_em(x, 25, iters=30, generator=torch.Generator().manual_seed(0))
    best = fit_em(x, 25, iters=30, generator=torch.Generator().manual_seed(0), restarts=3)
    assert best.log_likelihood[-1] >= single.log_likelihood[-1]


def test_kde_integrates_to_one_in_1d():
    g = torch.Generator().manual_seed(0)
    data = toy.load("mixture1d").sample(50, generator=g)
    grid = torch.linspace(-12, 12, 20001, dtype=torch.float64)[:, None]
    for h in (0.05, 0.3, 1.0, silverman_bandwidth(data)):
        density = kde_log_prob(grid, data.double(), h).exp()
        assert abs(float(torch.trapezoid(density, grid[:, 0])) - 1) < 1e-4


def test_kde_chunking_does_not_change_the_result():
    g = torch.Generator().manual_seed(0)
    data, x = torch.randn(300, 2, generator=g), torch.randn(100, 2, generator=g)
    torch.testing.assert_close(kde_log_prob(x, data, 0.4, chunk_elements=1000),
                               kde_log_prob(x, data, 0.4))


def test_kde_overfits_with_a_small_bandwidth():
    g = torch.Generator().manual_seed(0)
    p = toy.load("mixture1d")
    train, test = p.sample(200, generator=g), p.sample(2000, generator=g)
    nll_train = -kde_log_prob(train, train, 0.02).mean()
    nll_test = -kde_log_prob(test, train, 0.02).mean()
    assert nll_train < -p.log_prob(test).mean() < nll_test      # below the entropy, above it


def test_mixture_model_integrates_to_one_in_2d():
    q = MixtureModel(torch.tensor([[-1.0, 0.5], [1.5, -1.0], [0.0, 2.0]]),
                     stds=torch.tensor([[0.5, 0.3], [0.8, 0.6], [0.4, 1.0]]),
                     weights=torch.tensor([0.2, 0.5, 0.3]))
    axis = torch.linspace(-7, 7, 701)
    grid = torch.cartesian_prod(axis, axis)                                 # (701*701, 2)
    with torch.no_grad():
        density = q.log_prob(grid).exp().reshape(len(axis), len(axis))
    mass = torch.trapezoid(torch.trapezoid(density, axis, dim=1), axis)
    assert abs(float(mass) - 1) < 1e-3


def test_samples_have_the_model_moments():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([1.0, -2.0, 0.5])
    cov = torch.tensor([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    x = GaussianModel.from_moments(mean, cov).sample(200_000, generator=g)
    torch.testing.assert_close(x.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), cov, atol=0.03, rtol=0)

    q = MixtureModel(torch.tensor([[-2.0], [1.0]]), torch.tensor([[0.5], [1.0]]),
                     torch.tensor([0.3, 0.7]))
    x = q.sample(200_000, generator=g)
    pi, mu, sd = q.log_weights.exp().detach(), q.means[:, 0].detach(), q.stds[:, 0].detach()
    mix_mean = (pi * mu).sum()
    mix_var = (pi * (sd**2 + mu**2)).sum() - mix_mean**2
    assert abs(float(x.mean()) - float(mix_mean)) < 0.02
    assert abs(float(x.var()) - float(mix_var)) < 0.05


def test_determinism_under_a_generator():
    x = toy.load("ring8").sample(500, generator=torch.Generator().manual_seed(0))
    a = fit_em(x, 8, iters=10, generator=torch.Generator().manual_seed(5))
    b = fit_em(x, 8, iters=10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.means, b.means) and a.log_likelihood == b.log_likelihood
    q = a.model()
    assert torch.equal(q.sample(10, generator=torch.Generator().manual_seed(1)),
                       q.sample(10, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(kmeans_plus_plus(x, 4, torch.Generator().manual_seed(2)),
                       kmeans_plus_plus(x, 4, torch.Generator().manual_seed(2)))


def test_categorical_mle_is_the_frequency_table():
    x = torch.tensor([[0, 2], [1, 2], [0, 2], [0, 1]])
    table = categorical_mle(x, levels=3, pseudocount=0.0).exp()
    torch.testing.assert_close(table, torch.tensor([[0.75, 0.25, 0.0], [0.0, 0.25, 0.75]]))
    logp = categorical_log_prob(x, categorical_mle(x, levels=3))
    assert logp.shape == (4,) and bool(torch.isfinite(logp).all())


def test_em_model_agrees_with_em_log_prob():
    x = toy.load("ring8").sample(500, generator=torch.Generator().manual_seed(0))
    em = fit_em(x, 8, iters=20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(em.model().log_prob(x), em.log_prob(x), atol=1e-4, rtol=1e-5)
    assert math.isclose(float(em.log_prob(x).mean()), em.log_likelihood[-1], rel_tol=1e-5)


def test_kmeans_puts_one_centre_on_each_separated_cluster():
    p = toy.load("grid25")
    x = p.sample(2500, generator=torch.Generator().manual_seed(0))
    centres, labels = kmeans(x, 25, torch.Generator().manual_seed(1))
    nearest = torch.cdist(p.means.float(), centres).min(1).values          # (25,)
    assert bool((nearest < 0.1).all()) and len(labels.unique()) == 25


def test_dequantize_fills_the_unit_cell_above_each_value():
    x = torch.randint(0, 17, (100, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    y = dequantize(x, torch.Generator().manual_seed(1))
    offset = y - x.flatten(1).float()
    assert y.shape == (100, 64) and bool((offset >= 0).all()) and bool((offset < 1).all())


@pytest.mark.parametrize("call, error", [
    (lambda: gaussian_mle(torch.randn(10)), ValueError),                   # 1-D, not (N, D)
    (lambda: gaussian_mle(torch.ones(3, 2, dtype=torch.int64)), TypeError),
    (lambda: gaussian_mle(torch.tensor([[float("nan")]])), ValueError),
    (lambda: fit_em(torch.randn(5, 2), k=6, iters=3), ValueError),         # k > N
    (lambda: fit_em(torch.randn(5, 2), k=0, iters=3), ValueError),
    (lambda: fit_em(torch.randn(5, 2), k=2, iters=-1), ValueError),
    (lambda: fit_em(torch.randn(5, 2), k=2, iters=3, min_std=0.0), ValueError),
    (lambda: kde_log_prob(torch.randn(4, 2), torch.randn(5, 2), 0.0), ValueError),
    (lambda: kde_log_prob(torch.randn(4, 3), torch.randn(5, 2), 0.5), ValueError),
    (lambda: MixtureModel(torch.zeros(3)), ValueError),
    (lambda: MixtureModel(torch.zeros(2, 1), stds=-1.0), ValueError),
    (lambda: MixtureModel(torch.zeros(2, 1)).log_prob(torch.zeros(4, 3)), ValueError),
    (lambda: GaussianModel(0), ValueError),
    (lambda: GaussianModel.from_moments(torch.zeros(2), -torch.eye(2)), ValueError),
    (lambda: GaussianModel(2).sample(0), ValueError),
    (lambda: categorical_mle(torch.rand(4, 2), levels=3), TypeError),
    (lambda: categorical_mle(torch.tensor([[0, 5]]), levels=3), ValueError),
    (lambda: dequantize(torch.rand(4, 64)), TypeError),                 # already continuous
    (lambda: kmeans(torch.randn(10, 2), 3, restarts=0), ValueError),
])
def test_bad_input_is_rejected(call, error):
    with pytest.raises(error):
        call()
