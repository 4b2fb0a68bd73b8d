"""Tests of gmtext.diffusion.vdm and gmtext.diffusion.discrete: decoder normalisation, prior KL
against the closed form of torch.distributions, the diffusion-loss estimator against quadrature,
the ELBO as a bound that is tight for the exact denoiser of a 1-pixel, 17-level distribution."""

from __future__ import annotations

import math

import pytest
import torch

from gmtext.data.images import scale_digits
from gmtext.diffusion.discrete import (DiscreteDenoiser, EpsilonDenoiser, alpha_sigma,
                                       decoder_log_probs, discrete_log_likelihood, level_values)
from gmtext.diffusion.vdm import VDM, LinearLogSNR, prior_kl, stratified_times


def test_decoder_probabilities_sum_to_one_over_the_levels():
    gen = torch.Generator().manual_seed(0)
    for gamma0 in (-12.0, -5.0, 0.0, 3.0):
        z0 = 3 * torch.randn(10, 64, generator=gen)
        probs = decoder_log_probs(z0, torch.tensor(gamma0)).exp()
        assert probs.shape == (10, 64, 17)
        assert torch.allclose(probs.sum(-1), torch.ones(10, 64), atol=1e-5)


def test_decoder_is_sharp_at_low_noise():
    x = torch.arange(17).reshape(1, 17)
    gamma0 = torch.tensor(-12.0)
    alpha, _ = alpha_sigma(gamma0)
    logp = discrete_log_likelihood(x, alpha * scale_digits(x, "signed_levels").y.reshape(x.shape[0], -1), gamma0)
    assert float(logp) > -1e-6


def test_prior_kl_matches_torch_distributions():
    y = torch.randn(5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for g in (-2.0, 1.0, 6.0):
        gamma = torch.tensor(g, dtype=torch.float64)
        a, s = alpha_sigma(gamma)
        ref = torch.distributions.kl_divergence(torch.distributions.Normal(a * y, s),
                                                torch.distributions.Normal(0.0, 1.0)).sum(-1)
        assert torch.allclose(prior_kl(y, gamma), ref, atol=1e-12)


def test_schedule_end_points_derivative_and_monotonicity():
    s = LinearLogSNR(-9.0, 4.0)
    t = torch.linspace(0, 1, 11)
    g = s(t)
    assert torch.allclose(g[[0, -1]], torch.tensor([-9.0, 4.0]), atol=1e-5)
    assert bool((g.diff() > 0).all())
    assert abs(s.derivative().item() - 13.0) < 1e-5
    assert len(list(LinearLogSNR(learned=False).parameters())) == 0


def test_stratified_times_cover_every_stratum_and_are_uniform():
    t = stratified_times(1000, torch.Generator().manual_seed(0))
    assert sorted((1000 * t).floor().long().tolist()) == list(range(1000))
    draws = torch.stack([stratified_times(3, torch.Generator().manual_seed(i)) for i in range(4000)])
    assert abs(float(draws[:, 0].mean()) - 0.5) < 0.02          # each entry is U(0, 1)


def test_denoisers_return_predictions_of_the_data():
    z = torch.randn(4, 64)
    gamma = torch.full((4,), -1.0)
    disc = DiscreteDenoiser(hidden=16, layers=1)
    assert disc(z, gamma).shape == (4, 64) and bool((disc(z, gamma).abs() <= 1 + 1e-6).all())
    assert disc.logits(z, gamma).shape == (4, 64, 17)
    eps_net = EpsilonDenoiser(hidden=16, layers=1)
    with torch.no_grad():                          # eps_hat = 0 gives y_hat = z / alpha
        for p in eps_net.net.out.parameters():
            p.zero_()
    alpha, _ = alpha_sigma(gamma[:, None])
    assert torch.allclose(eps_net(z, gamma), z / alpha)


def _model(levels_logp: torch.Tensor | None = None, dim: int = 64) -> VDM:
    den = DiscreteDenoiser(dim=dim, hidden=16, layers=1)
    if levels_logp is not None:                    # the exact posterior of one pixel: prior + likelihood
        with torch.no_grad():
            den.net.out.weight.zero_()
            den.net.out.bias.copy_(levels_logp)
    return VDM(den, LinearLogSNR(-12.0, 12.0, learned=False))


def test_diffusion_loss_estimator_is_unbiased_for_the_time_integral():
    torch.manual_seed(0)
    model = _model(dim=4)
    x = torch.randint(0, 17, (1, 4), generator=torch.Generator().manual_seed(1))
    y = scale_digits(x, "signed_levels").y.reshape(x.shape[0], -1)
    eps = torch.randn(1, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        grid = torch.linspace(0, 1, 20001)
        values = model.diffusion_loss(y.expand(len(grid), 4), grid, eps.expand(len(grid), 4))
        integral = float(torch.trapezoid(values, grid))
        t = torch.rand(200_000, generator=torch.Generator().manual_seed(3))
        mc = model.diffusion_loss(y.expand(len(t), 4), t, eps.expand(len(t), 4))
    assert abs(float(mc.mean()) - integral) < 4 * float(mc.std()) / math.sqrt(len(t))


def _expected_bound(model: VDM, probs: torch.Tensor, n: int, seed: int) -> tuple[float, float]:
    """E_p[-ELBO(x)] for 1-pixel data with level probabilities ``probs`` and its standard error."""
    x = torch.arange(17).repeat_interleave(n).reshape(-1, 1)             # every level, n times
    with torch.no_grad():
        total = model.elbo_terms(x, torch.Generator().manual_seed(seed))["total"].reshape(17, n)
    return float((probs * total.mean(1)).sum()), float((probs.pow(2) * total.var(1) / n).sum().sqrt())


def test_elbo_bounds_the_entropy_and_is_tight_for_the_exact_denoiser():
    """1 pixel, 17 levels, a known distribution p: E_p[-ELBO] >= H(p) for any denoiser, and the
    exact posterior-mean denoiser makes the bound tight (up to the tiny prior/decoder terms).
    The integrand is heavy-tailed near t = 0, hence the comparison in standard errors."""
    probs = torch.softmax(torch.randn(17, generator=torch.Generator().manual_seed(0)), 0)
    entropy = float(-(probs * probs.log()).sum())
    exact, se = _expected_bound(_model(probs.log(), dim=1), probs, 10000, 1)
    assert abs(exact - entropy) < 4 * se + 0.005 and se < 0.05
    uniform, se_u = _expected_bound(_model(torch.zeros(17), dim=1), probs, 10000, 2)
    assert uniform - entropy > 4 * se_u                 # a worse denoiser, a looser bound
    assert uniform < math.log(17) + 4 * se_u            # ... no worse than uniform over levels


def test_loss_reaches_every_parameter_including_the_schedule():
    model = VDM(DiscreteDenoiser(hidden=16, layers=1))
    x = torch.randint(0, 17, (8, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    model.loss(x, torch.Generator().manual_seed(1)).backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    assert float(model.schedule.start.grad.abs()) > 0


def test_bad_inputs_raise():
    model = VDM(DiscreteDenoiser(hidden=8, layers=1))
    with pytest.raises(ValueError, match="integer grey levels"):
        model.loss(torch.full((2, 64), 0.5))                            # rescaled data, not levels
    with pytest.raises(ValueError, match="integer grey levels"):
        model.loss(torch.full((2, 64), 17))
    with pytest.raises(TypeError, match="tensor"):
        model.loss([[1, 2]])
    with pytest.raises(ValueError, match="gamma_min < gamma_max"):
        LinearLogSNR(3.0, -3.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LinearLogSNR()(torch.tensor([1.5]))
    with pytest.raises(ValueError, match="positive int"):
        stratified_times(0)
    with pytest.raises(ValueError, match="levels"):
        level_values(1)
    with pytest.raises(ValueError, match="repeats"):
        _model().nll_bound(torch.zeros(2, 64, dtype=torch.long), torch.Generator(), repeats=0)
