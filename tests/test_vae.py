"""The VAE: ELBO and IWAE identities, exact linear-Gaussian checks, networks, bad input."""

import itertools
import math

import pytest
import torch

from gmtext.divergences import kl_mvn
from gmtext.estimators import ESTIMATORS, gradient_samples
from gmtext.latents import (
    active_units,
    interpolate,
    kl_per_dimension,
    posterior_means,
    rate_distortion,
    traverse,
)
from gmtext.linear_gaussian import LinearGaussian
from gmtext.nn import CategoricalDecoder, GaussianEncoder, LocalAutoregressiveDecoder
from gmtext.nn.coders import scale_images
from gmtext.nn.pixel import causal_offsets
from gmtext.distributions import log_mean_exp
from gmtext.vae import VAE, digits_vae, fit_vae, iwae_bounds


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n, seed=0, levels=17, shape=(1, 8, 8)):
    return torch.randint(0, levels, (n, *shape), generator=gen(seed))


@pytest.fixture(params=["categorical", "local_ar"])
def vae(request):
    torch.manual_seed(0)
    return digits_vae(request.param, latent_dim=3, dropout=0.0).eval()


@pytest.fixture
def linear():
    g = gen(1)
    return LinearGaussian(torch.randn(5, 2, generator=g), torch.randn(5, generator=g),
                          torch.rand(5, generator=g) + 0.2)


# --- shapes --------------------------------------------------------------------------------------

def test_shapes(vae):
    x = images(6)
    mean, log_var = vae.encoder(x)
    assert mean.shape == log_var.shape == (6, 3)
    assert vae.log_likelihood(x, mean).shape == (6,)
    assert vae.log_likelihood(x, torch.randn(4, 6, 3)).shape == (4, 6)
    assert vae.elbo(x, gen()).shape == (6,)
    assert vae.log_weights(x, 7, gen(), batch_rows=10).shape == (7, 6)
    sample = vae.sample(5, gen())
    assert sample.shape == (5, 1, 8, 8) and sample.dtype == torch.long
    assert 0 <= int(sample.min()) and int(sample.max()) <= 16


def test_chunking_does_not_change_the_log_weights(vae):
    x = images(5)
    small = vae.log_weights(x, 12, gen(3), batch_rows=7)
    large = vae.log_weights(x, 12, gen(3), batch_rows=10_000)
    assert small.shape == large.shape == (12, 5)
    assert torch.isfinite(small).all() and torch.isfinite(large).all()


# --- the ELBO and the IWAE bound -----------------------------------------------------------------

def test_iwae_with_one_sample_is_the_monte_carlo_elbo(vae):
    x = images(8)
    with torch.no_grad():
        iwae1 = vae.log_weights(x, 1, gen(7))[0]
        elbo = vae.elbo(x, gen(7), kl="monte_carlo")
    assert torch.allclose(iwae1, elbo, atol=1e-4)
    assert torch.allclose(iwae_bounds(iwae1[None], [1])[0], elbo, atol=1e-4)


def test_analytic_and_monte_carlo_kl_give_the_same_elbo_in_expectation(vae):
    x = images(4)
    with torch.no_grad():
        weights = vae.log_weights(x, 4000, gen(1))                     # mean = MC ELBO
        analytic = torch.stack([vae.elbo(x, gen(s)) for s in range(200)])
    se = weights.std(0) / math.sqrt(4000) + analytic.std(0) / math.sqrt(200)
    assert ((weights.mean(0) - analytic.mean(0)).abs() < 5 * se).all()


def test_iwae_is_monotone_in_k_in_expectation(vae):
    x = images(10)
    with torch.no_grad():
        weights = vae.log_weights(x, 2000, gen(2))
    bounds = iwae_bounds(weights, [1, 10, 100, 1000]).mean(1)
    assert (bounds.diff() > 0).all()
    assert float(bounds[-1]) <= float(log_mean_exp(weights, 0).mean()) + 1e-4


def test_beta_weights_the_kl(vae):
    x = images(3)
    log_lik, kl = vae.elbo_terms(x, gen(4))
    assert torch.allclose(vae.elbo(x, gen(4), beta=0.5), log_lik - 0.5 * kl.sum(-1), atol=1e-5)
    assert torch.allclose(vae.elbo(x, gen(4), beta=0.0), log_lik, atol=1e-5)


def test_iwae_bounds_by_hand():
    w = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [6.0, 1.0]]).log1p()   # (K=4, N=2)
    out = iwae_bounds(w, [1, 2, 4])
    assert torch.allclose(out[0], w.mean(0))
    assert torch.allclose(out[1, 0], (torch.tensor([2.0, 6.0]).log().mean()))     # (1+3)/2, (5+7)/2
    assert torch.allclose(out[2], log_mean_exp(w, 0))
    with pytest.raises(ValueError, match="divisor"):
        iwae_bounds(w, [3])
    with pytest.raises(ValueError, match="shape"):
        iwae_bounds(w[0], [1])


# --- exact checks on the linear-Gaussian model ---------------------------------------------------

def test_linear_gaussian_marginal_and_posterior_follow_bayes_rule(linear):
    x = torch.randn(4, 5, generator=gen(2)).double()
    z = torch.randn(4, 2, generator=gen(3)).double()
    mean, cov = linear.posterior(x)
    log_post = torch.distributions.MultivariateNormal(mean, cov).log_prob(z)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1).double()
    # Bayes: log p(z|x) = log p(x|z) + log p(z) - log p(x)
    assert torch.allclose(log_post, linear.log_likelihood(x, z) + log_prior - linear.log_prob(x))


def test_elbo_with_the_true_posterior_is_log_p_exactly(linear):
    x, _ = linear.sample(20, gen(4))
    mean, cov = linear.posterior(x)
    assert torch.allclose(linear.elbo(x, mean, cov), linear.log_prob(x), rtol=0, atol=1e-10)
    weights = linear.log_weights(x, mean, cov, 5, gen(5))          # every weight equals p(x)
    assert torch.allclose(weights, linear.log_prob(x).expand(5, -1), rtol=0, atol=1e-9)


def test_elbo_gap_is_the_kl_to_the_posterior(linear):
    x, _ = linear.sample(20, gen(6))
    mean, cov = linear.posterior(x)
    q_mean, q_cov = mean + 0.3, torch.diag(cov.diagonal() * 1.5)
    gap = linear.log_prob(x) - linear.elbo(x, q_mean, q_cov)
    assert (gap > 0).all()
    assert torch.allclose(gap, kl_mvn(q_mean, q_cov, mean, cov), rtol=0, atol=1e-10)
    weights = linear.log_weights(x, q_mean, q_cov, 4000, gen(7))     # Monte Carlo ELBO
    se = weights.std(0) / math.sqrt(4000)
    assert ((weights.mean(0) - linear.elbo(x, q_mean, q_cov)).abs() < 5 * se).all()


def test_iwae_tends_to_log_p(linear):
    x, _ = linear.sample(20, gen(8))
    mean, cov = linear.posterior(x)
    weights = linear.log_weights(x, mean - 0.5, cov * 2.0, 4000, gen(9))
    gaps = linear.log_prob(x).mean() - iwae_bounds(weights, [1, 10, 100, 1000, 4000]).mean(1)
    # the bound tightens and its gap vanishes (up to Monte Carlo noise, which can be of either sign)
    assert gaps[0] > 0.5 and (gaps[:3].diff() < 0).all() and gaps[-1].abs() < 0.05 * gaps[0]


def test_ppca_fit_is_rotation_invariant_and_a_maximum():
    g = gen(10)
    x = torch.randn(400, 2, generator=g) @ torch.randn(2, 6, generator=g)
    x = x + 0.3 * torch.randn(400, 6, generator=g)
    fit = LinearGaussian.fit_ppca(x, 2)
    rot, _ = torch.linalg.qr(torch.randn(2, 2, generator=g, dtype=torch.float64))
    rotated = LinearGaussian(fit.weight @ rot, fit.bias, fit.noise_var)
    assert torch.allclose(fit.log_prob(x), rotated.log_prob(x))
    best = fit.log_prob(x).mean()
    for scale in (0.9, 1.1):
        assert LinearGaussian(fit.weight * scale, fit.bias, fit.noise_var).log_prob(x).mean() < best
        assert LinearGaussian(fit.weight, fit.bias, fit.noise_var * scale).log_prob(x).mean() < best


def test_linear_gaussian_bad_input(linear):
    with pytest.raises(ValueError, match="weight"):
        LinearGaussian(torch.zeros(3), torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="positive"):
        LinearGaussian(torch.zeros(3, 1), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        linear.log_prob(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="latent_dim"):
        LinearGaussian.fit_ppca(torch.zeros(10, 3), 3)


# --- the decoders are normalised and causal ------------------------------------------------------

@pytest.mark.parametrize("decoder_cls", [CategoricalDecoder, LocalAutoregressiveDecoder])
def test_decoders_are_normalised_distributions(decoder_cls):
    torch.manual_seed(0)
    kwargs = {"kernel": 3} if decoder_cls is LocalAutoregressiveDecoder else {}
    decoder = decoder_cls(2, shape=(1, 2, 2), levels=3, hidden=8, **kwargs)
    vae = VAE(GaussianEncoder(2, shape=(1, 2, 2), levels=3, hidden=8), decoder).eval()
    every = torch.tensor(list(itertools.product(range(3), repeat=4))).view(-1, 1, 2, 2)  # all 81
    z = torch.randn(1, 2).expand(len(every), 2)
    with torch.no_grad():
        total = vae.log_likelihood(every, z).exp().sum()
    assert torch.isclose(total, torch.tensor(1.0), atol=1e-5)


def test_local_decoder_only_looks_at_earlier_pixels():
    torch.manual_seed(0)
    decoder = LocalAutoregressiveDecoder(2, kernel=5).eval()
    z, x = torch.randn(1, 2), images(1)
    with torch.no_grad():
        base = decoder(z, x)
        for d in (0, 17, 40, 63):
            changed = x.clone().view(1, -1)
            changed[:, d:] = (changed[:, d:] + 5) % 17               # pixel d and all after it
            logits = decoder(z, changed.view(1, 1, 8, 8))
            assert torch.allclose(logits[:, :d + 1], base[:, :d + 1])     # pixels 0..d unchanged
    assert causal_offsets(5)[-2:] == [(0, -2), (0, -1)] and len(causal_offsets(5)) == 12


def test_sampling_is_deterministic_under_a_seed(vae):
    assert torch.equal(vae.sample(4, gen(11)), vae.sample(4, gen(11)))


# --- training and latent-space tools -------------------------------------------------------------

def test_fit_vae_lowers_the_validation_loss():
    torch.manual_seed(0)
    vae = digits_vae("categorical", latent_dim=2)
    data = images(64)
    history = fit_vae(vae, data, data[:16], 60, every=20, patience=5, batch_size=16,
                      generator=gen(), progress=False)
    val = [v for _, v in history.logs["val"]]
    assert len(history.loss) == 60 and val[-1] < val[0]


def test_rate_plus_distortion_is_the_negative_elbo(vae):
    x = images(30)
    rate, distortion = rate_distortion(vae, x, gen(), samples=5)
    with torch.no_grad():
        elbo = torch.stack([vae.elbo(x, gen(s)) for s in range(50)]).mean()
    assert abs(rate + distortion + float(elbo)) < 0.05 * abs(float(elbo))
    assert math.isclose(rate, float(kl_per_dimension(vae, x).sum()), rel_tol=1e-5)
    assert active_units(vae, x).shape == (3,) and posterior_means(vae, x).shape == (30, 3)


def test_latent_tools_restore_training_mode():
    vae = digits_vae("categorical", latent_dim=2).train()
    kl_per_dimension(vae, images(4))
    assert vae.training


def test_interpolation_and_traversal():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    line = interpolate(z0, z1, 5)
    assert torch.allclose(line[0], z0) and torch.allclose(line[-1], z1)
    arc = interpolate(z0, z1, 5, method="spherical")
    assert torch.allclose(arc[0], z0, atol=1e-6) and torch.allclose(arc[-1], z1, atol=1e-6)
    grid = traverse(torch.zeros(3), [0, 2], torch.tensor([-1.0, 0.0, 1.0]))
    assert grid.shape == (6, 3) and grid[2, 0] == 1.0 and grid[3, 2] == -1.0 and grid[3, 0] == 0.0


# --- gradient estimators -------------------------------------------------------------------------

@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_gradient_estimators_are_unbiased(estimator):
    mean, log_std = torch.tensor([0.5, -1.0]), torch.tensor([0.2, -0.3])
    g = gradient_samples(lambda z: (z - 1).pow(2).sum(-1), mean, log_std, 100_000, gen(), estimator)
    truth = torch.stack([2 * (mean - 1), 2 * (2 * log_std).exp()])          # d/dmu, d/dlog sigma
    se = g.std(0) / math.sqrt(len(g))
    assert g.shape == (100_000, 2, 2) and ((g.mean(0) - truth).abs() < 5 * se).all()


# --- bad input -----------------------------------------------------------------------------------

def test_bad_input_is_reported():
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(GaussianEncoder(2), CategoricalDecoder(3))
    vae = digits_vae("categorical", latent_dim=2)
    with pytest.raises(ValueError, match="unknown kl"):
        vae.elbo(images(2), gen(), kl="exact")
    with pytest.raises(ValueError, match="beta"):
        vae.elbo(images(2), gen(), beta=-1.0)
    with pytest.raises(ValueError, match="positive int"):
        vae.log_weights(images(2), 0, gen())
    with pytest.raises(ValueError, match="unknown proposal"):
        vae.log_weights(images(2), 2, gen(), proposal="uniform")
    with pytest.raises(ValueError, match="0 .. 16"):
        vae.elbo(images(2) + 1, gen())
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        vae.elbo(torch.zeros(2, 64, dtype=torch.long), gen())
    with pytest.raises(TypeError):
        scale_images([[0]], 17, (1, 8, 8))
    with pytest.raises(ValueError, match="unknown decoder"):
        digits_vae("gaussian")
    with pytest.raises(ValueError, match="needs the images"):
        LocalAutoregressiveDecoder(2)(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"z must have shape"):
        CategoricalDecoder(2)(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="odd"):
        causal_offsets(4)
    with pytest.raises(ValueError, match="unknown estimator"):
        gradient_samples(lambda z: z.sum(-1), torch.zeros(1), torch.zeros(1), 2, gen(), "reinforce")
    with pytest.raises(ValueError, match="one value per sample"):
        gradient_samples(lambda z: z, torch.zeros(2), torch.zeros(2), 3, gen())
    with pytest.raises(ValueError, match="unknown method"):
        interpolate(torch.zeros(2), torch.ones(2), 3, method="cubic")
    with pytest.raises(ValueError, match="out of range"):
        traverse(torch.zeros(2), [2], torch.zeros(3))
    with pytest.raises(TypeError, match="VAE"):
        kl_per_dimension(torch.nn.Linear(2, 2), images(2))
