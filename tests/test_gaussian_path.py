"""Tests of the one Gaussian-path core: every schedule's derivatives, one loss for every family, one
oracle for every target, and the samplers' equivalences (DDIM on the linear path is flow matching's
Euler; annealed Langevin is Song & Ermon's loop)."""

from __future__ import annotations

import math

import pytest
import torch

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion import (AnnealedLangevinSampler, CosineSchedule, DDIMSampler, LinearSchedule,
                              ProbabilityFlowSampler, VESchedule, VPSchedule, convert_at, denoising_loss,
                              geometric_sigmas, ladder_schedule, linear_path, mixture_model,
                              mixture_posterior_means, sample)
from gmtext.diffusion.vdm import LinearLogSNR
from gmtext.ode import odeint
from gmtext.score import annealed_langevin_dynamics, ncsn_loss

SCHEDULES = [VPSchedule(), VESchedule(0.05, 5.0), LinearSchedule(), CosineSchedule(),
             LinearLogSNR(-6.0, 5.0, learned=False)]
TWO = GaussianMixture([[-1.0, 0.5], [1.5, -0.5]], [[0.3, 0.6], [0.5, 0.2]], [0.3, 0.7])


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_derivatives_and_log_snr_against_finite_differences(schedule):
    t = torch.tensor([0.1, 0.35, 0.6, 0.9], dtype=torch.float64)
    h = 1e-6
    with torch.no_grad():
        (a_p, s_p), (a_m, s_m) = schedule.alpha_sigma(t + h), schedule.alpha_sigma(t - h)
        da, ds = schedule.derivatives(t)
        assert torch.allclose(da, (a_p - a_m) / (2 * h), rtol=1e-5, atol=1e-7)
        assert torch.allclose(ds, (s_p - s_m) / (2 * h), rtol=1e-5, atol=1e-7)
        lam_fd = (schedule.log_snr(t + h) - schedule.log_snr(t - h)) / (2 * h)
        assert torch.allclose(schedule.d_log_snr(t).double(), lam_fd.double(), rtol=1e-5)
        a, s = schedule.alpha_sigma(t)
        assert torch.allclose(schedule.log_snr(t).double(), (2 * (a.log() - s.log())).double(), atol=1e-9)
        assert bool((schedule.d_log_snr(t) < 0).all())                     # noise grows with t


def test_vp_drift_diffusion_closed_form_equals_the_generic_one():
    vp, t = VPSchedule(), torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)
    f, g2 = vp.drift_diffusion(t)
    (a, s), (da, ds) = vp.alpha_sigma(t), vp.derivatives(t)
    assert torch.allclose(f, da / a) and torch.allclose(g2, 2 * s * ds - 2 * da / a * s**2)


def test_the_ncsn_ladder_is_a_variance_exploding_path():
    sig = geometric_sigmas(3.0, 0.05, 10)
    ve = ladder_schedule(sig)
    assert torch.allclose(ve.sigmas(10).float(), sig) and ve.sigma_max == 3.0
    with pytest.raises(ValueError, match="geometric ladder"):
        ladder_schedule([3.0, 2.9, 0.05])
    with pytest.raises(ValueError, match="strictly decreasing"):
        ladder_schedule([0.05, 3.0])


@pytest.mark.parametrize("schedule", SCHEDULES[:4], ids=lambda s: type(s).__name__)
def test_the_oracle_is_the_least_squares_denoiser(schedule):
    # E[x0 | x_t] is the least-squares predictor: its residual is orthogonal to functions of x_t
    n, g = 200_000, _gen(1)
    x0 = TWO.sample(n, g).double()
    t = torch.full((n,), 0.4, dtype=torch.float64)
    a, s = (float(v) for v in schedule.alpha_sigma(torch.tensor(0.4, dtype=torch.float64)))
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x_t = a * x0 + s * eps
    x0_hat, eps_hat = mixture_posterior_means(TWO, schedule, x_t, t)
    assert torch.allclose(a * x0_hat + s * eps_hat, x_t, atol=1e-9)       # consistent pair
    for resid in (x0 - x0_hat, eps - eps_hat):
        for test_fn in (torch.ones(n, 1, dtype=torch.float64), x_t, torch.tanh(x_t)):
            inner = resid * test_fn                                           # (n, 2)
            assert (inner.mean(0).abs() < 4 * inner.std(0) / math.sqrt(n)).all()


def test_oracle_targets_agree_with_the_noised_mixture_score():
    ve, vp = VESchedule(0.05, 5.0), VPSchedule()
    x, t = TWO.sample(50, _gen(2)), torch.full((50,), 0.3)
    for sched in (ve, vp):
        a, s = (float(v) for v in sched.alpha_sigma(torch.tensor(0.3, dtype=torch.float64)))
        truth = TWO.noised(s, a).score(x.double()).float()
        assert torch.allclose(mixture_model(TWO, sched, "score")(x, t), truth, atol=1e-4)


def test_ddim_on_the_linear_path_is_flow_matching_euler_step_for_step():
    velocity = mixture_model(TWO, LinearSchedule(), "velocity")               # diffusion time
    ddim = DDIMSampler(LinearSchedule(), "velocity", t_min=0.0, spacing="uniform")
    euler = ProbabilityFlowSampler(LinearSchedule(), "velocity", t_min=0.0, spacing="uniform", order=1)
    x = torch.randn(500, 2, generator=_gen(3), dtype=torch.float64)
    a = b = x
    for sampler in (ddim, euler):
        sampler.set_timesteps(8)
    for t in ddim.timesteps:
        tb = t.expand(500)
        a = ddim.step(velocity(a, tb), t, a).prev_sample
        b = euler.step(velocity(b, tb), t, b).prev_sample
        assert torch.allclose(a, b, atol=1e-12), float(t)
    # and both are flow matching's Euler integration from noise (s = 0) to data (s = 1)
    fm = odeint(lambda y, s: -velocity(y, 1 - s), x, torch.linspace(0, 1, 9, dtype=torch.float64), "euler")
    assert torch.allclose(a, fm, atol=1e-12)


def test_one_loss_gives_the_families_losses():
    g = torch.Generator()
    x = TWO.sample(256, _gen(4))
    net = torch.nn.Linear(2, 2)
    score_net = lambda y, sigma: net(y) / sigma[:, None]                    # noqa: E731
    sigmas = geometric_sigmas(2.0, 0.1, 5)
    # NCSN (eq. (5.11)) by hand, with the same draws
    g.manual_seed(5)
    idx = torch.randint(5, (256,), generator=g)
    eps = torch.randn(x.shape, generator=g)
    sig = sigmas[idx][:, None]
    by_hand = 0.5 * (sig * score_net(x + sig * eps, sigmas[idx]) + eps).pow(2).sum(-1).mean()
    g.manual_seed(5)
    assert torch.allclose(ncsn_loss(score_net, x, sigmas, g), by_hand, rtol=1e-5)
    # the ELBO weighting is the same number on the x0 error and on the epsilon error
    sched, t = VPSchedule(), torch.rand(256, generator=_gen(6)) * 0.9 + 0.05
    model = lambda y, t: net(y)                                              # noqa: E731
    on_x0 = denoising_loss(model, sched, x, _gen(7), t=t, prediction_type="epsilon", target="sample",
                           weighting="elbo", reduction="sum")
    on_eps = denoising_loss(model, sched, x, _gen(7), t=t, prediction_type="epsilon",
                            weighting="elbo", reduction="sum")
    assert torch.allclose(on_x0, on_eps, rtol=1e-4)


def test_the_loss_refuses_what_it_cannot_mean():
    x = torch.randn(8, 2)
    with pytest.raises(ValueError, match=r"shape of x0, \(8, 2\), got \(8, 1\)"):
        denoising_loss(lambda y, t: y[:, :1], VPSchedule(), x, _gen(0))    # never broadcast
    with pytest.raises(ValueError, match="valid: uniform, elbo"):
        denoising_loss(lambda y, t: y, VPSchedule(), x, _gen(0), weighting="snr")
    with pytest.raises(ValueError, match="valid: mean, sum"):
        denoising_loss(lambda y, t: y, VPSchedule(), x, _gen(0), reduction="max")
    with pytest.raises(ValueError, match="derivatives"):                      # no velocity on a grid
        from gmtext.diffusion import DiscreteSchedule
        denoising_loss(lambda y, t: y, DiscreteSchedule.from_name("linear", 10), x, _gen(0),
                       prediction_type="velocity")


def test_cfm_minimum_is_the_oracle_velocity():
    from gmtext.diffusion import cfm_loss, mixture_velocity
    x1 = TWO.sample(20_000, _gen(8))
    exact = lambda y, s: mixture_velocity(TWO, y, s)                          # noqa: E731
    shifted = lambda y, s: exact(y, s) + torch.tensor([0.3, -0.4])             # noqa: E731
    gap = cfm_loss(shifted, x1, _gen(9)) - cfm_loss(exact, x1, _gen(9))
    assert abs(float(gap) - 0.25) < 0.03                                       # + ||c||^2
    assert torch.allclose(linear_path().target(torch.zeros(1, 2), torch.ones(1, 2), torch.tensor([0.3])),
                          torch.ones(1, 2))


def test_annealed_langevin_is_song_and_ermons_loop():
    sigmas, step, T = geometric_sigmas(2.0, 0.1, 4), 1e-3, 5
    score = lambda y, sigma: TWO.noised(float(sigma[0])).score(y.double()).float()   # noqa: E731
    x0 = 2 * torch.randn(300, 2, generator=_gen(10))
    got, frames = annealed_langevin_dynamics(score, x0, sigmas, step, T, _gen(11), return_trajectory=True)
    g, x = _gen(11), x0.clone()
    for sigma in sigmas:                                                       # Algorithm 1
        alpha = step * (sigma / sigmas[-1]) ** 2
        for _ in range(T):
            z = torch.randn(x.shape, generator=g)
            x = x + alpha * score(x, sigma.expand(300)) + (2 * alpha).sqrt() * z
    x = x + sigmas[-1] ** 2 * score(x, sigmas[-1].expand(300))                # Tweedie
    assert torch.allclose(got, x, atol=1e-4) and frames.shape == (4 + 2, 300, 2)
    with pytest.raises(TypeError, match="VESchedule"):
        AnnealedLangevinSampler(LinearSchedule(), 1e-3, 2)


def test_convert_at_reads_the_schedule():
    x0, eps = torch.tensor([[2.0]]), torch.tensor([[1.0]])
    for sched in (LinearSchedule(), CosineSchedule(), VPSchedule()):
        a, s = sched.alpha_sigma(torch.tensor(0.3, dtype=torch.float64))
        da, ds = sched.derivatives(torch.tensor(0.3, dtype=torch.float64))
        x_t = (a * x0 + s * eps).float()
        got = convert_at(sched, eps, "epsilon", "velocity", x_t, 0.3)
        assert torch.allclose(got, (da * x0 + ds * eps).float(), atol=1e-5)


def test_sample_returns_x0_hat_that_guidance_can_use():
    sched = VPSchedule()
    model = mixture_model(TWO, sched)
    sampler = DDIMSampler(sched)
    sampler.set_timesteps(10)
    x = sampler.init_noise((400, 2), _gen(12))
    for t in sampler.timesteps:
        out = sampler.step(model(x, t.expand(400).float()), t, x)
        exact, _ = mixture_posterior_means(TWO, sched, x, t.expand(400))
        assert torch.allclose(out.x0_hat.double(), exact, atol=1e-4)
        x = out.prev_sample
    assert sample(model, sampler, (400, 2), 10, _gen(12)).shape == (400, 2)
