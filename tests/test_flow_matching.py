"""Tests of gmtext.diffusion.flow_matching: path end points, target velocity vs finite differences,
the one converter read in flow time, the exact mixture velocity vs Monte Carlo, straightness, errors."""

from __future__ import annotations

import pytest
import torch

from gmtext.data import toy
from gmtext.diffusion import convert_at
from gmtext.diffusion.flow_matching import cfm_loss, cosine_path, linear_path, mixture_velocity
from gmtext.metrics.paths import path_length_ratio, straightness
from gmtext.nn import ConditionalMLP
from gmtext.ode import odeint

PATHS = [linear_path(), cosine_path()]


def _pair(seed: int = 0, n: int = 6, d: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=gen, dtype=torch.float64),
            torch.randn(n, d, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_end_points_are_noise_and_data(path):
    x0, x1 = _pair()
    n = x0.shape[0]
    assert torch.allclose(path.sample(x0, x1, torch.zeros(n, dtype=x0.dtype)), x0, atol=1e-12)
    assert torch.allclose(path.sample(x0, x1, torch.ones(n, dtype=x0.dtype)), x1, atol=1e-12)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_target_is_the_time_derivative_of_the_path(path):
    x0, x1 = _pair(1)
    t = torch.linspace(0.1, 0.9, x0.shape[0], dtype=torch.float64)
    h = 1e-6
    fd = (path.sample(x0, x1, t + h) - path.sample(x0, x1, t - h)) / (2 * h)
    assert torch.allclose(path.target(x0, x1, t), fd, atol=1e-7)


def test_linear_target_is_constant():
    x0, x1 = _pair(2)
    t = torch.rand(x0.shape[0], dtype=torch.float64)
    assert torch.allclose(linear_path().target(x0, x1, t), x1 - x0)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_converters_round_trip(path):
    x0, x1 = _pair(3)
    t = torch.linspace(0.05, 0.95, x0.shape[0], dtype=torch.float64)
    x, v = path.sample(x0, x1, t), path.target(x0, x1, t)
    # the one converter of the diffusion chapters, at diffusion time 1 - t, velocity -v
    sched, back = path.schedule, 1 - t
    assert torch.allclose(convert_at(sched, -v, "velocity", "sample", x, back), x1, atol=1e-10)
    assert torch.allclose(convert_at(sched, -v, "velocity", "epsilon", x, back), x0, atol=1e-10)
    assert torch.allclose(-convert_at(sched, x1, "sample", "velocity", x, back), v, atol=1e-10)
    assert torch.allclose(-convert_at(sched, x0, "epsilon", "velocity", x, back), v, atol=1e-10)


def test_velocity_to_score_matches_the_exact_score_of_the_noised_mixture():
    p = toy.GaussianMixture([[0.0, 0.0], [2.0, -1.0]], [0.5, 0.3])
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for tv in (0.2, 0.5, 0.8):
        t = torch.full((50,), tv, dtype=torch.float64)
        v = mixture_velocity(p, x, t)
        exact = p.noised(sigma=1 - tv, alpha=tv).score(x)
        score = convert_at(linear_path().schedule, -v, "velocity", "score", x, 1 - t)
        assert torch.allclose(score, exact, atol=1e-8)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_mixture_velocity_is_the_conditional_expectation(path):
    """E[u | x_t in a small ball] by Monte Carlo ~ the closed-form marginal velocity there."""
    p = toy.GaussianMixture([[-1.0, 0.0], [1.5, 1.0]], 0.4, weights=[0.3, 0.7])
    gen = torch.Generator().manual_seed(0)
    n = 400_000
    x1 = p.sample(n, generator=gen).double()
    x0 = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    t = torch.full((n,), 0.6, dtype=torch.float64)
    xt, u = path.sample(x0, x1, t), path.target(x0, x1, t)
    centre = torch.tensor([[0.5, 0.4]], dtype=torch.float64)
    near = (xt - centre).norm(dim=1) < 0.08
    assert near.sum() > 500
    mc = u[near].mean(0)
    se = u[near].std(0) / near.sum().sqrt()
    exact = mixture_velocity(p, centre, t[:1], path)[0]
    assert ((mc - exact).abs() < 5 * se + 0.02).all()


def test_exact_velocity_transports_noise_to_the_mixture():
    p = toy.GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], 0.3)
    x0 = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x1 = odeint(lambda x, t: mixture_velocity(p, x, t), x0,
                torch.linspace(0, 1, 101, dtype=torch.float64))
    assert abs(float(x1[:, 0].abs().mean()) - 2.0) < 0.05
    assert abs(float(x1[:, 1].std()) - 0.3) < 0.03


def test_cfm_loss_is_zero_for_the_exact_field_of_a_point_mass():
    """Data = a single point c: the marginal velocity is (c - x)/(1 - t) and the loss vanishes."""
    c = torch.tensor([[1.0, -2.0]])
    field = lambda x, t: (c - x) / (1 - t)[:, None]                  # noqa: E731
    loss = cfm_loss(field, c.expand(64, 2), torch.Generator().manual_seed(0))
    assert float(loss) < 1e-8


def test_cfm_loss_has_gradients_for_every_parameter():
    net = ConditionalMLP(2, 2, hidden=16, layers=2)
    cfm_loss(net, torch.randn(8, 2), torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_straightness_zero_for_lines_and_positive_for_curves():
    times = torch.linspace(0, 1, 21, dtype=torch.float64)
    a, b = _pair(4, n=5, d=2)
    line = a + times[:, None, None] * (b - a)
    assert float(straightness(line, times)) < 1e-20
    assert abs(float(path_length_ratio(line)) - 1) < 1e-9
    angle = torch.pi * times
    arc = torch.stack([angle.cos(), angle.sin()], -1)[:, None, :]   # half circle, (21, 1, 2)
    assert float(straightness(arc, times)) > 1.0
    assert abs(float(path_length_ratio(arc)) - torch.pi / 2) < 0.01


def test_bad_inputs_raise():
    x0, x1 = _pair()
    path = linear_path()
    with pytest.raises(ValueError, match="same shape"):
        path.sample(x0, x1[:, :2], torch.zeros(6))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        path.sample(x0, x1, torch.full((6,), 1.5))
    with pytest.raises(ValueError, match="one time per point"):
        path.target(x0, x1, torch.zeros(3))
    with pytest.raises(TypeError, match="GaussianMixture"):
        mixture_velocity(toy.load("checkerboard"), x0[:, :2], torch.zeros(6))
    with pytest.raises(ValueError, match="trajectory"):
        straightness(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        cfm_loss(lambda x, t: x, torch.zeros(4))
    with pytest.raises(ValueError, match=r"shape of x0, \(6, 3\), got \(6, 1\)"):
        cfm_loss(lambda x, t: x[:, :1], x1.float())                  # an (N, 1) field, never broadcast
    with pytest.raises(ValueError, match="NaN"):
        cfm_loss(lambda x, t: x * float("nan"), x1.float())


def test_equal_nfe_samples_share_the_noise_and_converge():
    from gmtext.diffusion import VPSchedule, mixture_model
    from gmtext.recipes.flow_matching import equal_nfe_samples

    p = toy.GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], 0.3)
    vp = VPSchedule()
    noise = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = equal_nfe_samples(lambda x, t: mixture_velocity(p, x, t), mixture_model(p, vp), vp,
                            noise, (1, 2, 128))
    assert set(out) == {"FM Euler", "FM Heun", "DDIM", "PF-ODE Heun"}
    assert set(out["FM Euler"]) == {1, 2, 128} and set(out["FM Heun"]) == {2, 128}
    assert torch.allclose(out["FM Euler"][1], noise + mixture_velocity(p, noise, torch.zeros(200)))
    fine = out["FM Heun"][128]
    assert (out["FM Euler"][128] - fine).norm(dim=1).mean() < 0.05
    assert (out["FM Euler"][2] - fine).norm(dim=1).mean() > (out["FM Euler"][128] - fine).norm(dim=1).mean()
    assert abs(float(out["DDIM"][128][:, 0].abs().mean()) - 1.0) < 0.1     # reaches the modes
