"""Tests of gmtext.flows: the math of every transform (round trip, log-det against autograd),
shapes, errors, normalisation of a trained 2-D density and determinism under a generator."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from gmtext.data import toy
from gmtext.flows import (ActNorm, AffineCoupling, Compose, Flow, InvertibleLinear, Logit,
                          Permutation, Reverse, Rotation, SplineCoupling, checkerboard_mask,
                          conditioner_signal, digits_flow, mean_nll, rational_quadratic_spline,
                          realnvp, soft_clamp, spline_flow, train_flow)


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every parameter random values (couplings start as the identity, which tests little)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module.eval()


def _transforms(dim: int) -> dict[str, torch.nn.Module]:
    gen = torch.Generator().manual_seed(0)
    return {
        "affine": AffineCoupling(checkerboard_mask(dim, 0), hidden=16),
        "affine-odd": AffineCoupling(checkerboard_mask(dim, 1), hidden=16, layers=1),
        "spline": SplineCoupling(checkerboard_mask(dim, 0), bins=5, bound=2.0, hidden=16),
        "permutation": Permutation(torch.randperm(dim, generator=gen)),
        "reverse": Reverse(dim),
        "rotation": Rotation(dim, generator=gen),
        "linear": InvertibleLinear(dim, generator=gen),
        "actnorm": ActNorm(dim),
        "logit": Logit(dim, scale=17.0),
        "realnvp": realnvp(dim, n_layers=3, hidden=16, actnorm=True, mixing="permutation",
                           generator=gen).transform,
        "spline-flow": spline_flow(dim, n_layers=2, bins=4, hidden=16, mixing="permutation",
                                   generator=gen).transform,
        "glow-like": realnvp(dim, n_layers=3, hidden=16, actnorm=True, mixing="linear",
                             generator=gen).transform,
    }


NAMES = list(_transforms(4))


def _inputs(name: str, dim: int, n: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    if name == "logit":                # the logit map's data side is the box (0, 17)^D
        return 17.0 * torch.rand(n, dim, generator=gen, dtype=torch.float64)
    z = 1.5 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    z[0, 0] = 2.5                      # outside the spline's [-2, 2]: the identity tail
    return z


def _tol(name: str) -> float:
    # a rotation's Q is stored in float32, orthogonal only to float32 round-off
    return 1e-6 if name == "rotation" else 1e-8


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dim", [2, 5])
def test_round_trip_and_shapes(name: str, dim: int) -> None:
    t = _randomise(_transforms(dim)[name], 3).double()
    z = _inputs(name, dim)
    with torch.no_grad():
        x, ld = t.inverse(z) if name == "logit" else t(z)
        z2, ld_inv = t(x) if name == "logit" else t.inverse(x)
    assert x.shape == z.shape and ld.shape == (z.shape[0],)
    assert torch.allclose(z2, z, atol=1e-8)
    assert torch.allclose(ld + ld_inv, torch.zeros_like(ld), atol=_tol(name))
    assert torch.isfinite(x).all() and torch.isfinite(ld).all()


@pytest.mark.parametrize("name", NAMES)
def test_log_det_matches_autograd_jacobian(name: str) -> None:
    dim = 4
    t = _randomise(_transforms(dim)[name], 4).double()
    z = _inputs(name, dim)
    with torch.no_grad():
        _, ld = t(z)
        x = t(z)[0]
        _, ld_inv = t.inverse(x)
    for i in range(z.shape[0]):
        jac = jacobian(lambda v: t(v[None])[0][0], z[i])                       # (D, D)
        assert math.isclose(float(ld[i]), float(torch.linalg.slogdet(jac)[1]), abs_tol=_tol(name))
        jac_inv = jacobian(lambda v: t.inverse(v[None])[0][0], x[i])
        assert math.isclose(float(ld_inv[i]), float(torch.linalg.slogdet(jac_inv)[1]),
                            abs_tol=_tol(name))


def test_spline_is_monotone_and_identity_outside() -> None:
    gen = torch.Generator().manual_seed(0)
    v = torch.linspace(-4, 4, 801, dtype=torch.float64)
    params = [torch.randn(6, generator=gen, dtype=torch.float64).expand(801, 6) for _ in range(2)]
    slopes = torch.randn(5, generator=gen, dtype=torch.float64).expand(801, 5)
    y, log_d = rational_quadratic_spline(v, *params, slopes, bound=3.0)
    assert (y.diff() > 0).all()
    outside = v.abs() >= 3
    assert torch.equal(y[outside], v[outside]) and (log_d[outside] == 0).all()
    back, _ = rational_quadratic_spline(y, *params, slopes, bound=3.0, inverse=True)
    assert torch.allclose(back, v, atol=1e-9)


def test_soft_clamp_bounds_scales_and_no_overflow() -> None:
    s = torch.tensor([-1e30, -5.0, 0.0, 1e-3, 5.0, 1e30])
    out = soft_clamp(s, 3.0)
    assert out.abs().max() <= 3.0 and out[2] == 0
    assert math.isclose(float(out[3]), 1e-3, rel_tol=1e-5)
    layer = AffineCoupling(torch.tensor([True, False]), hidden=4)
    with torch.no_grad():
        layer.conditioner[-1].bias.fill_(1e6)       # a wild conditioner output
    x, ld = layer(torch.ones(3, 2))
    assert torch.isfinite(x).all() and torch.isfinite(ld).all() and (ld <= 3.0).all()


def test_bad_inputs_raise_clear_errors() -> None:
    flow = realnvp(2, n_layers=2)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        flow.log_prob(torch.zeros(3, 3))
    with pytest.raises(TypeError, match="floating point"):
        flow.log_prob(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="Tensor"):
        flow.log_prob([[0.0, 0.0]])
    with pytest.raises(ValueError, match="mixing"):
        realnvp(2, mixing="shuffle")
    with pytest.raises(ValueError, match="dim >= 2"):
        spline_flow(1)
    with pytest.raises(ValueError, match="bins"):
        SplineCoupling(torch.tensor([True, False]), bins=1)
    with pytest.raises(ValueError, match="keep at least one"):
        AffineCoupling(torch.tensor([True, True]))
    with pytest.raises(TypeError, match="bool"):
        AffineCoupling(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="reordering"):
        Permutation(torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match=r"data on \[0, 17\]"):
        Logit(2, scale=17.0).inverse(torch.tensor([[-1.0, 3.0]]))
    with pytest.raises(ValueError, match="temperature"):
        flow.sample(3, temperature=0.0)
    with pytest.raises(ValueError, match="positive int"):
        flow.sample(0)
    for layer in (Rotation, ActNorm, InvertibleLinear, Reverse):
        with pytest.raises(ValueError, match="dim must be a positive int"):
            layer(0)
    with pytest.raises(ValueError, match="alpha"):
        Logit(2, scale=17.0, alpha=0.5)
    zeros = torch.zeros(9, 5)
    with pytest.raises(ValueError, match=r"slopes \(\.\.\., K-1\)"):
        rational_quadratic_spline(torch.zeros(9), zeros, zeros, zeros)
    with pytest.raises(ValueError, match="do not match inputs"):
        rational_quadratic_spline(torch.zeros(8), zeros, zeros, zeros[:, :4])
    with pytest.raises(ValueError, match="bound must be positive"):
        soft_clamp(torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="same dimension"):
        Compose([Reverse(2), Reverse(3)])
    with pytest.raises(TypeError, match="dequantize_data"):
        train_flow(flow, torch.zeros(10, 2, dtype=torch.long), 1,
                   generator=torch.Generator(), progress=False)
    with pytest.raises(TypeError, match=r"sample\(n, generator"):
        train_flow(flow, [[0.0, 0.0]], 1, generator=torch.Generator(), progress=False)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        train_flow(flow, torch.zeros(10, 2), 1, generator=torch.Generator(), clip_grad_norm=-1.0,
                   progress=False)
    with pytest.raises(ValueError, match="positive int"):
        InvertibleLinear(0)


def test_invertible_linear_is_plu_and_its_log_det_is_the_sum_of_log_diagonal() -> None:
    layer = _randomise(InvertibleLinear(5, generator=torch.Generator().manual_seed(0)), 1)
    layer = layer.double().requires_grad_(False)
    w = layer.matrix()
    lower, upper = layer.factors()
    assert torch.equal(torch.diagonal(lower), torch.ones(5, dtype=torch.float64))
    assert torch.equal(torch.tril(upper, -1), torch.zeros(5, 5, dtype=torch.float64))
    assert math.isclose(float(torch.linalg.slogdet(w)[1]), float(layer.log_diag.sum()),
                        abs_tol=1e-10)
    # initialised at a rotation: W^T W = I before training
    w0 = InvertibleLinear(5, generator=torch.Generator().manual_seed(0)).matrix()
    assert torch.allclose(w0.T @ w0, torch.eye(5), atol=1e-5)


def test_fresh_samples_and_ema_train_a_flow_towards_the_toy() -> None:
    gen = torch.Generator().manual_seed(0)
    p = toy.load("ring8")
    flow = spline_flow(2, n_layers=2, bins=6, hidden=16, generator=gen)
    before = -float(p.log_prob(p.sample(2000, generator=gen)).mean())
    with torch.no_grad():
        nll_0 = -float(flow.log_prob(p.sample(2000, generator=gen)).mean())
    train_flow(flow, p, 100, generator=gen, lr=5e-3, ema=0.9, progress=False)
    with torch.no_grad():
        nll_1 = -float(flow.log_prob(p.sample(2000, generator=gen)).mean())
    assert nll_1 < nll_0 and nll_1 > before - 0.1        # better, and never below the entropy
    assert digits_flow(mixing="linear").dim == 64


def test_trained_2d_density_integrates_to_one() -> None:
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(2000, 2, generator=gen) * torch.tensor([1.0, 0.3])
    data = torch.stack([data[:, 0], data[:, 1] + 0.5 * data[:, 0] ** 2], 1)     # a banana
    flow = spline_flow(2, n_layers=2, bins=6, hidden=32, generator=gen)
    train_flow(flow, data, 150, generator=gen, lr=3e-3, progress=False)
    grid = torch.linspace(-8, 8, 321, dtype=torch.float64)
    gx, gy = torch.meshgrid(grid, grid, indexing="ij")
    points = torch.stack([gx, gy], -1).reshape(-1, 2)
    with torch.no_grad():
        density = flow.double().log_prob(points).exp()
    mass = float(density.sum()) * float(grid[1] - grid[0]) ** 2
    assert abs(mass - 1.0) < 0.01


def test_sampling_is_deterministic_under_a_generator() -> None:
    flow = _randomise(spline_flow(2, n_layers=2, bins=4, hidden=8), 0)
    with torch.no_grad():
        a = flow.sample(16, generator=torch.Generator().manual_seed(5))
        b = flow.sample(16, generator=torch.Generator().manual_seed(5))
        c = flow.sample(16, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_training_is_deterministic_under_a_generator() -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        flow = realnvp(2, n_layers=2, hidden=8, generator=gen)
        train_flow(flow, torch.randn(64, 2, generator=gen), 5, generator=gen, progress=False)
        return torch.cat([p.detach().flatten() for p in flow.parameters()])

    assert torch.equal(run(), run())


def test_temperature_shrinks_samples_and_flow_matches_base_at_init() -> None:
    flow = realnvp(3, n_layers=2)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x = flow.sample(4000, generator=gen, temperature=0.5)
        base = torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3))
        assert torch.allclose(flow.log_prob(x), base.log_prob(x), atol=1e-5)
    assert abs(float(x.std()) - 0.5) < 0.03


def test_early_stopping_with_an_average_keeps_the_best_average() -> None:
    gen = torch.Generator().manual_seed(0)
    flow = realnvp(2, n_layers=1, hidden=8, generator=gen)
    data, val = torch.randn(256, 2, generator=gen), torch.randn(64, 2, generator=gen)
    hist = train_flow(flow, data, 40, generator=gen, ema=0.5, val=val, every=10, patience=2,
                      progress=False)
    assert hist.ema is not None and [s for s, _ in hist.logs["val"]][:2] == [9, 19]
    for a, b in zip(flow.state_dict().values(), hist.ema.state_dict().values()):
        assert torch.equal(a, b)                 # the flow holds the (best) average
    best = min(v for _, v in hist.logs["val"])
    assert mean_nll(flow, val) == pytest.approx(best, abs=1e-5)


def test_cosine_annealing_decays_the_learning_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(0)
    flow = realnvp(2, n_layers=1, hidden=4, generator=gen)
    lrs: list[float] = []
    adam_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    train_flow(flow, torch.randn(64, 2, generator=gen), 10, generator=gen, lr=1e-2,
               anneal=True, progress=False)
    assert lrs[0] == 1e-2 and lrs[-1] < 0.05 * lrs[0]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_conditioner_signal_vanishes_for_independent_coordinates_only() -> None:
    gen = torch.Generator().manual_seed(0)
    flow = realnvp(2, n_layers=4, hidden=16, mixing="swap", generator=gen)
    x = torch.randn(50_000, 2, generator=gen)
    independent = x * torch.tensor([2.0, 0.5]) + torch.tensor([1.0, -1.0])
    dependent = x @ torch.tensor([[2.0, 1.0], [0.0, 0.5]])
    assert max(conditioner_signal(flow, independent)) < 0.03
    assert min(conditioner_signal(flow, dependent)) > 0.1
    with pytest.raises(ValueError, match="no coupling"):
        conditioner_signal(Flow(Reverse(2)), independent)


def test_importance_weighted_dequantization_bound_tightens_with_samples() -> None:
    gen = torch.Generator().manual_seed(0)
    flow = _randomise(realnvp(4, n_layers=2, hidden=8, data_scale=17.0, generator=gen), 1)
    x = torch.randint(0, 17, (200, 4), generator=gen)
    bounds = [mean_nll(flow, x, torch.Generator().manual_seed(2), True, samples=k)
              for k in (1, 8, 64)]
    assert bounds[0] > bounds[1] > bounds[2]
    # K = 1 is the plain dequantized bound, draw for draw
    plain = mean_nll(flow, x, torch.Generator().manual_seed(2), True)
    assert math.isclose(bounds[0], plain, rel_tol=1e-6)
    with pytest.raises(ValueError, match="samples"):
        mean_nll(flow, x, gen, True, samples=0)
    with pytest.raises(ValueError, match="dequantize_data=True"):
        mean_nll(flow, x.float(), gen, False, samples=4)
