"""Tests of gmtext.score: score-matching objectives on analytic cases, Langevin samplers against
exact stationary laws, determinism under a generator, and error messages."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from gmtext.data import toy
from gmtext.metrics import mmd_rbf
from gmtext.nn import MLP
from gmtext.nn.score import NoiseConditionalScore, mlp_score_net
from gmtext.metrics.modes import fisher_divergence, mode_weights
from gmtext.score import (EnergyModel, annealed_langevin_dynamics, denoising_score_matching,
                          explicit_score_matching, geometric_sigmas, implicit_score_matching,
                          jacobian_trace, langevin_dynamics, langevin_stationary_variance, ncsn_loss,
                          score_from_log_density, sliced_score_matching)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Linear(torch.nn.Module):
    """s(x) = A x + b, the family that contains the score of any Gaussian."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Parameter(a.clone()), torch.nn.Parameter(b.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.a.T + self.b


# a 2-D Gaussian target N(mu, cov) with score -P (x - mu), P = cov^{-1}
MU = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
PREC = torch.linalg.inv(COV)


def _gaussian_samples(n: int, seed: int = 0) -> torch.Tensor:
    z = torch.randn(n, 2, generator=_gen(seed), dtype=torch.float64)
    return MU + z @ torch.linalg.cholesky(COV).T


def _true_score(x: torch.Tensor) -> torch.Tensor:
    return -(x - MU) @ PREC.T


# ---------------------------------------------------------------- scores of unnormalised densities
def test_partition_function_drops_out_of_the_score():
    p = toy.load("ring8")
    x = p.sample(100, generator=_gen()).double()
    unnormalised = lambda v: p.log_prob(v) + 123.4          # log(Z p) for Z = e^123.4
    assert torch.allclose(score_from_log_density(unnormalised, x), p.score(x), atol=1e-10)
    ebm = EnergyModel(MLP(2, 1, hidden=8, layers=1)).double()
    auto = jacobian(lambda v: -ebm.energy(v[None])[0, 0], x[0])
    assert torch.allclose(ebm.score(x[:1])[0], auto, atol=1e-12)


def test_toy_score_equals_autograd_of_log_prob_also_noised():
    q = toy.load("grid25_wide").noised(0.7)
    x = q.sample(50, generator=_gen()).double()
    assert torch.allclose(score_from_log_density(q.log_prob, x), q.score(x), atol=1e-10)


# ---------------------------------------------------------------- objectives
def test_explicit_loss_is_zero_at_the_true_score_and_fisher_is_twice_it():
    x = _gaussian_samples(1000)
    assert float(explicit_score_matching(_true_score, x, _true_score(x))) == 0.0
    model = Linear(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    esm = explicit_score_matching(model, x, _true_score(x)).item()
    # closed form: E||(A + P)x + b - P mu||^2 for x ~ N(mu, cov)
    m = torch.eye(2, dtype=torch.float64) + PREC
    exact = 0.5 * float(torch.trace(m @ COV @ m.T) + (m @ MU - PREC @ MU).pow(2).sum())
    assert abs(esm - exact) / exact < 0.05
    p = toy.load("ring8")
    fd, se = fisher_divergence(p.score, p, 500, _gen())
    assert fd == 0.0 and se == 0.0


def test_implicit_minus_explicit_is_the_same_constant_for_different_models():
    x = _gaussian_samples(200_000)
    # C = 1/2 E||grad log p||^2 = 1/2 tr(P) for a Gaussian
    constant = -0.5 * float(torch.trace(PREC))
    for seed in range(3):
        g = _gen(seed)
        model = Linear(torch.randn(2, 2, generator=g, dtype=torch.float64),
                       torch.randn(2, generator=g, dtype=torch.float64))
        gap = (implicit_score_matching(model, x, create_graph=False)
               - explicit_score_matching(model, x, _true_score(x))).item()
        assert abs(gap - constant) < 0.02, (seed, gap, constant)


def test_jacobian_trace_matches_autograd_jacobian():
    net = MLP(3, 3, hidden=16, layers=2).double()
    x = torch.randn(4, 3, generator=_gen(), dtype=torch.float64)
    scores, traces = jacobian_trace(net, x, create_graph=False)
    for i in range(4):
        assert torch.isclose(traces[i], torch.trace(jacobian(lambda v: net(v[None])[0], x[i])))
    assert torch.allclose(scores, net(x))


def test_sliced_score_matching_is_unbiased_for_the_implicit_loss():
    net = MLP(2, 2, hidden=16, layers=2).double()
    x = torch.randn(500, 2, generator=_gen(), dtype=torch.float64)
    ism = implicit_score_matching(net, x, create_graph=False).item()
    for vr in (True, False):
        ssm = sliced_score_matching(net, x, _gen(1), n_projections=400, variance_reduced=vr).item()
        assert abs(ssm - ism) < 0.02 * (1 + abs(ism)), (vr, ssm, ism)


def test_dsm_optimum_is_the_score_of_the_noised_density():
    # data N(0, s^2) in 1-D, noise sigma: the noised density is N(0, s^2 + sigma^2), score -x/(s^2+sigma^2)
    s, sigma = 0.8, 0.5
    x = s * torch.randn(100_000, 1, generator=_gen(), dtype=torch.float64)
    model = Linear(torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    g = _gen(1)
    for _ in range(300):
        opt.zero_grad()
        denoising_score_matching(model, x, sigma, g).backward()
        opt.step()
    assert abs(model.a.item() + 1 / (s**2 + sigma**2)) < 0.03
    assert abs(model.b.item()) < 0.02


def test_dsm_differs_from_explicit_on_the_noised_density_by_a_constant():
    p = toy.load("ring8")
    sigma = 0.5
    q = p.noised(sigma)
    x = p.sample(100_000, generator=_gen()).double()
    x_noised = q.sample(100_000, generator=_gen(1)).double()
    gaps = []
    for seed in range(2):
        net = MLP(2, 2, hidden=16, layers=2).double()
        torch.manual_seed(seed)
        with torch.no_grad():
            for prm in net.parameters():
                prm.normal_(0, 0.5)
        dsm = denoising_score_matching(net, x, sigma, _gen(2)).item()
        esm = explicit_score_matching(net, x_noised, q.score(x_noised)).item()
        gaps.append(dsm - esm)
    assert abs(gaps[0] - gaps[1]) < 0.05 * (1 + abs(gaps[0]))


def test_ncsn_loss_at_the_exact_noised_score_beats_a_wrong_score():
    p = toy.load("ring8")
    sigmas = geometric_sigmas(2.0, 0.1, 5)
    exact = lambda x, sig: torch.stack([p.noised(float(s)).score(xi[None])[0]
                                        for xi, s in zip(x, sig)])
    x = p.sample(2000, generator=_gen())
    good = ncsn_loss(exact, x, sigmas, _gen(1)).item()
    bad = float(ncsn_loss(lambda x, sig: 0.8 * exact(x, sig), x, sigmas, _gen(1)))
    assert good < bad < 1.0                     # (eps-level loss: 1/2 E||eps||^2 = 1 for D = 2)


# ---------------------------------------------------------------- noise levels and networks
def test_geometric_sigmas():
    s = geometric_sigmas(10.0, 0.01, 7)
    assert math.isclose(float(s[0]), 10.0, rel_tol=1e-6) and math.isclose(float(s[-1]), 0.01, rel_tol=1e-6)
    ratios = s[1:] / s[:-1]
    assert torch.allclose(ratios, ratios[0].expand(6), rtol=1e-5)
    for bad in [(0.01, 10.0, 3), (1.0, 0.0, 3), (1.0, 0.1, 0), (float("nan"), 0.1, 3)]:
        with pytest.raises(ValueError):
            geometric_sigmas(*bad)


def test_noise_conditional_score_divides_by_sigma():
    f = mlp_score_net(2, hidden=8, layers=1)
    model = NoiseConditionalScore(f)
    x, sigma = torch.randn(5, 2, generator=_gen()), torch.full((5,), 0.3)
    assert torch.allclose(model(x, sigma), f(x, sigma.log()) / 0.3)
    assert torch.allclose(model(x, 0.3), model.at(0.3)(x))
    with pytest.raises(ValueError, match="positive"):
        model(x, torch.zeros(5))
    with pytest.raises(ValueError, match="shape"):
        model(x, torch.ones(3))


# ---------------------------------------------------------------- samplers
def test_langevin_reaches_the_discretised_gaussian_stationary_law():
    var, step = 2.0, 0.4
    x0 = torch.randn(40_000, 1, generator=_gen(), dtype=torch.float64) + 5.0
    x = langevin_dynamics(lambda v: -(v - 3.0) / var, x0, step, 150, _gen(1))
    exact = langevin_stationary_variance(var, step)       # 2.222, not 2.0: the discretisation bias
    se = exact * math.sqrt(2 / 40_000)
    assert abs(float(x.var()) - exact) < 4 * se
    assert abs(float(x.mean()) - 3.0) < 4 * math.sqrt(exact / 40_000)


def test_langevin_trajectory_and_errors():
    x0 = torch.zeros(10, 2)
    x, traj = langevin_dynamics(lambda v: -v, x0, 0.1, 10, _gen(), return_trajectory=True, every=3)
    assert traj.shape == (5, 10, 2) and torch.equal(traj[-1], x) and torch.equal(traj[0], x0)
    with pytest.raises(ValueError, match="step_size"):
        langevin_dynamics(lambda v: -v, x0, 0.0, 10, _gen())
    with pytest.raises(ValueError, match="n_steps"):
        langevin_dynamics(lambda v: -v, x0, 0.1, 0, _gen())
    with pytest.raises(ValueError, match="shape"):
        langevin_dynamics(lambda v: -v, torch.zeros(10), 0.1, 5, _gen())
    with pytest.raises(ValueError, match="diverged"):
        langevin_dynamics(lambda v: -100 * v, torch.ones(10, 2), 1.0, 200, _gen())
    with pytest.raises(ValueError):
        langevin_stationary_variance(1.0, 2.5)


def test_annealed_langevin_is_deterministic_under_a_generator():
    model = NoiseConditionalScore(mlp_score_net(2, hidden=8, layers=1)).eval()
    sigmas = geometric_sigmas(1.0, 0.1, 4)
    x0 = torch.randn(20, 2, generator=_gen())
    a = annealed_langevin_dynamics(model, x0, sigmas, 0.01, 5, _gen(1))
    b, traj = annealed_langevin_dynamics(model, x0, sigmas, 0.01, 5, _gen(1), return_trajectory=True)
    c = annealed_langevin_dynamics(model, x0, sigmas, 0.01, 5, _gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert traj.shape == (4 + 2, 20, 2) and torch.equal(traj[-1], a)
    with pytest.raises(ValueError, match="decreasing"):
        annealed_langevin_dynamics(model, x0, sigmas.flip(0), 0.01, 5, _gen())
    with pytest.raises(ValueError, match="steps_per_level"):
        annealed_langevin_dynamics(model, x0, sigmas, 0.01, 0, _gen())


def test_annealed_langevin_with_exact_scores_samples_a_gaussian():
    # target N(0, v): the noised law is N(0, v + sigma^2); Tweedie's denoising then shrinks
    v = 0.25
    sigmas = geometric_sigmas(3.0, 0.05, 8)
    exact = lambda x, sig: -x / (v + sig[:, None] ** 2)
    x0 = 3.0 * torch.randn(20_000, 1, generator=_gen(), dtype=torch.float64)
    x = annealed_langevin_dynamics(exact, x0, sigmas, 1e-3, 100, _gen(1), denoise=False)
    target = langevin_stationary_variance(v + 0.05**2, 1e-3)
    assert abs(float(x.var()) - target) < 0.05 * target


# ---------------------------------------------------------------- measurement
def test_mmd_and_mode_weights():
    p = toy.load("ring8")
    x, y = p.sample(1000, generator=_gen()), p.sample(1000, generator=_gen(1))
    assert abs(mmd_rbf(x, y, 0.5)) < 0.005
    assert mmd_rbf(x, y + 0.5, 0.5) > 0.05
    w = mode_weights(x, p.means, p.weights)
    assert w["tv"] < 0.05 and w["kl"] < 0.01 and math.isclose(float(w["weights"].sum()), 1.0)
    collapsed = mode_weights(x[:10] * 0 + p.means[0].float(), p.means, p.weights)
    assert math.isclose(collapsed["tv"], 7 / 8) and math.isclose(collapsed["kl"], math.log(8))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd_rbf(x, y, 0.0)
    with pytest.raises(ValueError):
        mode_weights(x, p.means[:, :1], p.weights)


def test_bad_inputs_of_losses():
    x = torch.randn(10, 2, generator=_gen())
    with pytest.raises(ValueError, match="shape of x"):
        explicit_score_matching(lambda v: v[:, :1], x, x)
    with pytest.raises(ValueError, match="target"):
        explicit_score_matching(lambda v: v, x, x[:5])
    with pytest.raises(TypeError):
        implicit_score_matching("not a function", x)
    with pytest.raises(ValueError, match="sigma"):
        denoising_score_matching(lambda v: v, x, 0.0, _gen())
    with pytest.raises(ValueError, match="n_projections"):
        sliced_score_matching(lambda v: v, x, _gen(), n_projections=0)
    with pytest.raises(ValueError, match="sigmas"):
        ncsn_loss(lambda v, s: v, x, [], _gen())
    with pytest.raises(ValueError, match=r"shape of x0, \(10, 2\), got \(10, 1\)"):
        ncsn_loss(lambda v, s: v[:, :1], x, [1.0, 0.5], _gen())             # never broadcast
    with pytest.raises(ValueError, match=r"shape of x, \(10, 2\)"):
        langevin_dynamics(lambda v: v[:, :1], x, 0.1, 3, _gen())
    with pytest.raises(ValueError, match=r"shape of x, \(1000, 2\)"):
        fisher_divergence(lambda v: v[:, :1], toy.load("ring8"), 1000, _gen())
    with pytest.raises(ValueError, match="NaN"):
        explicit_score_matching(lambda v: v, x * float("nan"), x)
    with pytest.raises(TypeError):
        score_from_log_density(lambda v: v.sum(-1), torch.zeros(3, 2, dtype=torch.long))


def test_digit_sampler_shape_scale_and_errors():
    from gmtext.recipes.score import digit_score_model, sample_digits

    model = digit_score_model(channels=4, blocks=1).eval()
    x = sample_digits(model, 4, 1, _gen())
    assert x.shape == (4, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 16
    assert torch.equal(x, sample_digits(model, 4, 1, _gen()))
    with pytest.raises(ValueError, match="positive int"):
        sample_digits(model, 0, 1, _gen())


def test_every_parameter_of_the_score_networks_is_trained():
    """No block is dead or kept outside the module (where no optimiser would see it)."""
    from gmtext.diffusion.training import gradient_check
    from gmtext.recipes.score import digit_score_model
    gen = torch.Generator().manual_seed(0)
    sigmas = geometric_sigmas(2.0, 0.05, 5)
    cases = ((NoiseConditionalScore(mlp_score_net(2)), torch.randn(64, 2, generator=gen)),
             (digit_score_model(channels=8, blocks=1), torch.rand(16, 64, generator=gen)))
    for model, x in cases:
        report = gradient_check(model, ncsn_loss(model, x, sigmas, gen))
        assert report == {"no_gradient": [], "unregistered": []}, report
