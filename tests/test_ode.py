"""Tests of gmtext.ode: integrators against analytic flows (and their order of accuracy), the
divergence against an autograd Jacobian, Hutchinson's estimator is unbiased, and the continuous
change of variables reproduces the known density of a Gaussian pushed through a linear flow."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from gmtext.ode import divergence, log_prob_by_ode, odeint

A = torch.tensor([[-0.3, 1.0], [-0.8, 0.2]], dtype=torch.float64)   # not symmetric, tr A = -0.1


def _linear(a: torch.Tensor):
    return lambda x, t: x @ a.T


def _standard_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z**2).flatten(1).sum(1) - 0.5 * z[0].numel() * math.log(2 * math.pi)


def _points(n: int = 7, dim: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_odeint_linear_flow_matches_matrix_exponential():
    x = _points()
    exact = x @ torch.linalg.matrix_exp(A).T
    for method, steps, tol in [("euler", 2000, 1e-3), ("heun", 200, 1e-4), ("rk4", 50, 1e-8)]:
        y = odeint(_linear(A), x, torch.linspace(0, 1, steps + 1, dtype=torch.float64), method)
        assert torch.allclose(y, exact, atol=tol), method


@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_error_order(method, order):
    x = _points()
    exact = x @ torch.linalg.matrix_exp(2 * A).T
    errors = []
    for n in (8, 16, 32):
        y = odeint(_linear(A), x, torch.linspace(0, 2, n + 1, dtype=torch.float64), method)
        errors.append((y - exact).abs().max().item())
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(abs(r - order) < 0.35 for r in rates), (method, rates)


def test_odeint_backward_in_time_inverts_forward():
    x = _points()
    ts = torch.linspace(0, 1, 41, dtype=torch.float64)
    y = odeint(_linear(A), x, ts)
    back = odeint(_linear(A), y, ts.flip(0))
    assert torch.allclose(back, x, atol=1e-8)


def test_return_path_and_time_argument():
    seen = []

    def field(x, t):
        seen.append(t.clone())
        return torch.zeros_like(x)

    x = torch.zeros(3, 1, 2, 2)
    path = odeint(field, x, torch.tensor([0.0, 0.5, 1.0]), "euler", return_path=True)
    assert path.shape == (3, 3, 1, 2, 2)
    assert [s.shape for s in seen] == [(3,), (3,)] and seen[1].tolist() == [0.5] * 3


def test_exact_divergence_matches_jacobian_trace_on_images():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 8), torch.nn.Unflatten(1, (2, 2, 2))).double()
    field = lambda x, t: net(x) * (1 + t[:, None, None, None])  # noqa: E731
    x = torch.randn(4, 2, 2, 2, dtype=torch.float64)
    t = torch.rand(4, dtype=torch.float64)
    div = divergence(field, x, t)
    for b in range(4):
        jac = jacobian(lambda xb: field(xb[None], t[b:b + 1])[0], x[b]).reshape(8, 8)
        assert torch.allclose(div[b], jac.trace(), atol=1e-10)


def test_hutchinson_is_unbiased_and_seeded():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 5)).double()
    field = lambda x, t: net(x)  # noqa: E731
    point = torch.randn(1, 5, dtype=torch.float64)
    exact = divergence(field, point, 0.0).item()
    many = point.expand(40000, 5).clone()
    est = divergence(field, many, 0.0, "hutchinson", generator=torch.Generator().manual_seed(0))
    se = est.std().item() / math.sqrt(est.numel())
    assert est.std().item() > 0.01                      # really random, not the exact trace
    assert abs(est.mean().item() - exact) < 4 * se
    again = divergence(field, many, 0.0, "hutchinson", generator=torch.Generator().manual_seed(0))
    assert torch.equal(est, again)


def test_log_prob_of_gaussian_through_linear_flow():
    # x_1 = M x_0 with M = exp(A); base N(0, I) at t = 1, so p_0 = N(0, M^{-1} M^{-T})
    m_inv = torch.linalg.matrix_exp(-A)
    truth = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64),
                                                   covariance_matrix=m_inv @ m_inv.T)
    x = _points(50)
    lp = log_prob_by_ode(_linear(A), x, torch.linspace(0, 1, 21, dtype=torch.float64),
                         _standard_normal)
    assert torch.allclose(lp, truth.log_prob(x), atol=1e-8)


def test_log_prob_time_dependent_field_and_decreasing_times():
    # v = t A x on [0, 1]: x_1 = exp(A/2) x_0; run from the data side at t = 1 down to the base at 0
    a = 2 * A
    ts = torch.linspace(1, 0, 31, dtype=torch.float64)
    field = lambda x, t: t[:, None] * (x @ a.T)  # noqa: E731
    x = _points(20)
    lp = log_prob_by_ode(field, x, ts, _standard_normal)
    m = torch.linalg.matrix_exp(-a / 2)        # x_0 = exp(-A/2) x_1
    expected = _standard_normal(x @ m.T) + torch.logdet(m)
    assert torch.allclose(lp, expected, atol=1e-7)


def test_log_prob_hutchinson_is_unbiased():
    x = _points(1).expand(4000, 2).clone()
    ts = torch.linspace(0, 1, 11, dtype=torch.float64)
    exact = log_prob_by_ode(_linear(A), x[:1], ts, _standard_normal)
    est = log_prob_by_ode(_linear(A), x, ts, _standard_normal, trace="hutchinson",
                          generator=torch.Generator().manual_seed(3))
    se = est.std().item() / math.sqrt(est.numel())
    assert abs(est.mean().item() - exact.item()) < 4 * se + 1e-9


@pytest.mark.parametrize("kwargs,match", [
    (dict(times=torch.tensor([0.0, 0.5, 0.4])), "strictly increasing or strictly decreasing"),
    (dict(times=torch.tensor([0.0])), "at least 2 points"),
    (dict(method="midpoint"), "valid: euler, heun, rk4"),
    (dict(x=torch.zeros(3)), r"shape \(B, D...\)"),
    (dict(velocity=lambda x, t: x[:, :1]), "shaped like x"),
])
def test_errors(kwargs, match):
    args = dict(velocity=lambda x, t: x, x=torch.zeros(3, 2), times=torch.tensor([0.0, 1.0]))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        odeint(**args)


def test_divergence_and_log_prob_errors():
    with pytest.raises(ValueError, match="valid: exact, hutchinson"):
        divergence(lambda x, t: x, torch.zeros(2, 2), 0.0, method="sliced")
    with pytest.raises(ValueError, match="base_log_prob must return shape"):
        log_prob_by_ode(lambda x, t: x, torch.zeros(2, 2), torch.tensor([0.0, 1.0]),
                        lambda z: z.sum())
