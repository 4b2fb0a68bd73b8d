"""Tests of gmtext.gan, its networks (gmtext.nn.dcgan, .translator, .style), its recipes and
gmtext.divergences.jsd: hand-computed loss values, the gradient penalty on a linear critic, the
optimal discriminator and V(D*, G) = -log 4 + 2 JSD, JSD closed forms, CycleGAN terms, style
modulation identities, shapes, and bad input refused with a message."""

from __future__ import annotations

import math

import pytest
import torch

from gmtext.data import toy
from gmtext.data.styles import bold_negative, unpaired_domains
from gmtext.divergences import jsd
from gmtext.gan import (discriminator_loss, from_gan_scale, generator_coverage, generator_loss,
                        gradient_penalty, r1_penalty, sample_latent, to_gan_scale, train_gan)
from gmtext.gan.cyclegan import CycleGAN, cycle_loss, identity_loss, train_cyclegan
from gmtext.gan.optimal import (game_value, generator_logit_gradient, optimal_discriminator,
                                value_at_optimum)
from gmtext.nn import (DigitDiscriminator, DigitGenerator, MappingNetwork, MinibatchStd,
                       ModulatedConv2d, Packed, StyleAffine, Translator, adain, toy_discriminator,
                       toy_generator)
from gmtext.recipes.gan_toy import FIX, RECIPES, train_grid_gan
from gmtext.train import TrainConfig


def _config(steps: int, **kwargs: object) -> TrainConfig:
    return TrainConfig(steps, lr=2e-4, progress=False, **kwargs)


def _grid(lo: float = -15.0, hi: float = 15.0, m: int = 60001) -> torch.Tensor:
    return torch.linspace(lo, hi, m, dtype=torch.float64)[:, None]


# ---------------------------------------------------------------- losses, by hand
def test_discriminator_loss_by_hand():
    # D(real) = sigmoid(log 3) = 3/4, D(fake) = sigmoid(-log 3) = 1/4
    real, fake = torch.tensor([math.log(3.0)]), torch.tensor([-math.log(3.0)])
    expected = -math.log(0.75) - math.log(1 - 0.25)
    assert float(discriminator_loss(real, fake, "minimax")) == pytest.approx(expected, rel=1e-6)
    ns = discriminator_loss(real, fake, "non_saturating")
    assert float(ns) == pytest.approx(expected, rel=1e-6)
    assert float(discriminator_loss(real, fake, "wasserstein")) == pytest.approx(-2 * math.log(3))


def test_generator_losses_by_hand():
    fake = torch.tensor([-math.log(3.0)])                         # D = 1/4
    assert float(generator_loss(fake, "minimax")) == pytest.approx(math.log(0.75), rel=1e-6)
    assert float(generator_loss(fake, "non_saturating")) == pytest.approx(-math.log(0.25), rel=1e-6)
    assert float(generator_loss(torch.tensor([2.0, 4.0]), "wasserstein")) == -3.0


def test_losses_are_stable_for_huge_logits():
    big = torch.tensor([1e4, -1e4])
    for kind in ("minimax", "non_saturating"):
        assert torch.isfinite(discriminator_loss(big, big, kind))
        assert torch.isfinite(generator_loss(big, kind))


def test_generator_gradients_saturate_as_derived():
    d = torch.tensor([1e-3, 0.25, 0.5, 0.9])
    assert torch.allclose(generator_logit_gradient(d, "minimax"), -d, atol=1e-6)
    assert torch.allclose(generator_logit_gradient(d, "non_saturating"), -(1 - d), atol=1e-6)


def test_gradient_penalty_linear_critic_by_hand():
    # f(x) = w.x has |grad f| = |w| = 5 everywhere: GP = (5 - 1)^2 = 16, R1 = 25
    w = torch.tensor([3.0, 4.0])
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, 2, generator=gen), torch.randn(16, 2, generator=gen)
    assert float(gradient_penalty(lambda x: x @ w, real, fake, gen)) == pytest.approx(16.0)
    assert float(r1_penalty(lambda x: x @ w, real)) == pytest.approx(25.0)
    # a unit-norm critic has zero penalty
    unit = gradient_penalty(lambda x: x @ (w / 5), real, fake, gen)
    assert float(unit) == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_quadratic_critic_by_hand():
    # f(x) = |x|^2 / 2 has grad f = x; with real = fake = x the mix is x, so GP = mean (|x| - 1)^2
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    gp = gradient_penalty(lambda v: 0.5 * v.pow(2).sum(1), x, x.clone())
    assert float(gp.detach()) == pytest.approx(((5 - 1) ** 2 + (2 - 1) ** 2) / 2)


def test_gradient_penalty_is_differentiable_in_the_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = gradient_penalty(lambda x: x @ w, torch.randn(4, 2), torch.randn(4, 2))
    (grad,) = torch.autograd.grad(gp, w)          # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_loss_errors():
    with pytest.raises(ValueError, match="valid: minimax"):
        discriminator_loss(torch.zeros(2), torch.zeros(2), "hinge")
    with pytest.raises(TypeError, match="floating-point"):
        generator_loss(torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        generator_loss(torch.zeros(0))
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum(1), torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        generator_logit_gradient(torch.tensor([0.0, 0.5]), "minimax")


# ---------------------------------------------------------------- D* and JSD
def test_optimal_discriminator_formula():
    p, q = toy.GaussianMixture([[0.0]], 1.0), toy.GaussianMixture([[1.0]], 2.0)
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None]
    pd, qd = p.log_prob(x).exp(), q.log_prob(x).exp()
    assert torch.allclose(optimal_discriminator(x, p.log_prob, q.log_prob), pd / (pd + qd))


def test_optimal_discriminator_maximises_the_value():
    # any other discriminator, D* perturbed, has a lower V (in expectation, by quadrature)
    p, q = toy.GaussianMixture([[0.0]], 1.0), toy.GaussianMixture([[1.5]], 0.7)
    x = _grid(-10, 10, 20001)
    pd, qd = p.log_prob(x).exp(), q.log_prob(x).exp()

    def value(d: torch.Tensor) -> float:
        return float(torch.trapezoid(pd * d.log() + qd * (1 - d).log(), x[:, 0]))

    d_star = optimal_discriminator(x, p.log_prob, q.log_prob).clamp(1e-12, 1 - 1e-12)
    best = value(d_star)
    for shift in (-0.5, 0.3):
        assert value(torch.sigmoid(torch.logit(d_star) + shift)) < best
    assert best == pytest.approx(-math.log(4) + 2 * float(jsd(p.log_prob, q.log_prob, x)), abs=1e-6)


def test_value_at_optimum_monte_carlo_matches_jsd():
    p, q = toy.GaussianMixture([[-1.0]], 1.0), toy.GaussianMixture([[1.0]], 1.0)
    gen = torch.Generator().manual_seed(0)
    n = 200000
    x_p, x_q = p.sample(n, gen).double(), q.sample(n, gen).double()
    v = value_at_optimum(x_p, x_q, p.log_prob, q.log_prob)
    exact = -math.log(4) + 2 * float(jsd(p.log_prob, q.log_prob, _grid()))
    assert float(v) == pytest.approx(exact, abs=0.01)            # MC error ~ 2e-3


def test_game_value_at_half():
    assert float(game_value(torch.zeros(3), torch.zeros(3))) == pytest.approx(-math.log(4))


def test_jsd_closed_forms():
    x = _grid(-2, 3, 500001)
    # U[0, 1] vs U[0.5, 1.5]: JSD = (log 2) / 2
    def uniform(lo):
        return lambda v: torch.where((v[:, 0] >= lo) & (v[:, 0] <= lo + 1), 0.0, -math.inf).double()
    assert float(jsd(uniform(0.0), uniform(0.5), x)) == pytest.approx(math.log(2) / 2, abs=1e-4)
    assert float(jsd(uniform(0.0), uniform(1.5), x)) == pytest.approx(math.log(2), abs=1e-4)
    assert float(jsd(uniform(0.0), uniform(0.0), x)) == pytest.approx(0.0, abs=1e-9)


def test_jsd_symmetric_and_bounded():
    p, q = toy.load("mixture1d"), toy.GaussianMixture([[0.5]], 2.0)
    a, b = jsd(p.log_prob, q.log_prob, _grid()), jsd(q.log_prob, p.log_prob, _grid())
    assert float(a) == pytest.approx(float(b), abs=1e-12)
    assert 0 < float(a) < math.log(2)


def test_jsd_errors():
    p = toy.GaussianMixture([[0.0]], 1.0)
    with pytest.raises(ValueError, match=r"\(M, 1\)"):
        jsd(p.log_prob, p.log_prob, torch.linspace(0, 1, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="increasing"):
        jsd(p.log_prob, p.log_prob, torch.tensor([[1.0], [0.0]]))
    with pytest.raises(TypeError, match="floating-point"):
        jsd(p.log_prob, p.log_prob, torch.arange(3)[:, None])
    with pytest.raises(ValueError, match="log_q"):
        jsd(p.log_prob, lambda v: torch.zeros(2), torch.linspace(0, 1, 5)[:, None])


# ---------------------------------------------------------------- networks and training
def test_packed_discriminator_reshapes_and_checks():
    d = toy_discriminator(hidden=8, layers=1, pack=4)
    assert d(torch.zeros(8, 2)).shape == (2, 1)
    with pytest.raises(ValueError, match="divisible"):
        d(torch.zeros(6, 2))
    with pytest.raises(ValueError, match="positive int"):
        Packed(torch.nn.Identity(), 0)


def test_minibatch_std_by_hand():
    layer = MinibatchStd(group=2, eps=0.0)
    x = torch.tensor([[1.0, 0.0, 4.0], [3.0, 0.0, 0.0], [7.0, 7.0, 7.0], [7.0, 7.0, 7.0]])
    out = layer(x)
    assert out.shape == (4, 4) and torch.equal(out[:, :3], x)
    # group 1: population stds (1, 0, 2) -> mean 1; group 2: identical samples -> 0
    torch.testing.assert_close(out[:, 3], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    # a shift of the whole batch changes nothing; a group larger than the batch is one group
    torch.testing.assert_close(layer(x + 5.0)[:, 3], out[:, 3])
    whole = MinibatchStd(group=64, eps=0.0)(x)[:, 3]
    expected = x.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(whole, expected.expand(4))
    # eps keeps the gradient finite for identical samples
    y = torch.zeros(2, 3, requires_grad=True)
    MinibatchStd(group=2)(y).sum().backward()
    assert torch.isfinite(y.grad).all()


def test_minibatch_std_errors_and_discriminator_shape():
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStd(group=4)(torch.zeros(6, 2))
    with pytest.raises(ValueError, match=">= 2"):
        MinibatchStd(group=1)
    with pytest.raises(ValueError, match="shape"):
        MinibatchStd()(torch.zeros(4, 2, 2))
    d = toy_discriminator(hidden=8, layers=2, pack=2, minibatch_std=4)
    assert d(torch.zeros(16, 2)).shape == (8, 1)
    with pytest.raises(ValueError, match="layers >= 1"):
        toy_discriminator(hidden=8, layers=0, minibatch_std=4)


def test_gan_scale_round_trip():
    x = torch.arange(17).reshape(1, 1, 1, 17)
    assert torch.equal(from_gan_scale(to_gan_scale(x)), x.float())
    assert float(to_gan_scale(x).min()) == -1.0 and float(to_gan_scale(x).max()) == 1.0


def test_digit_nets_shapes_and_label_errors():
    g, d = DigitGenerator(8, 8, n_classes=10), DigitDiscriminator(8, n_classes=10)
    y = torch.tensor([1, 2, 3])
    x = g(torch.randn(3, 8), y)
    assert x.shape == (3, 1, 8, 8) and float(x.detach().abs().max()) <= 1.0
    assert d(x, y).shape == (3,)
    with pytest.raises(ValueError, match="labels must be given"):
        g(torch.randn(3, 8))
    with pytest.raises(ValueError, match="shape"):
        DigitDiscriminator(8)(torch.zeros(3, 8, 8))


def test_train_gan_is_deterministic_and_validates():
    def run():
        torch.manual_seed(0)
        g, d = toy_generator(2, 16, 1), toy_discriminator(16, 1, pack=2)
        data = toy.load("ring8")
        gen = torch.Generator().manual_seed(0)
        hist = train_gan(g, d, lambda s: data.sample(32, gen), _config(5), latent_dim=2,
                         generator=gen, gp_weight=1.0, r1_weight=1.0)
        return hist.loss
    assert run() == run()
    with pytest.raises(ValueError, match="valid"):
        train_gan(toy_generator(), toy_discriminator(), [torch.zeros(4, 2)], _config(1),
                  latent_dim=2, generator=torch.Generator(), loss="hinge")


def test_train_gan_ema_tracks_the_weight_average_by_hand():
    # After one step the average is beta * theta_0 + (1 - beta) * theta_1 (Yazici et al. 2019),
    # and snapshots render the module they are given.
    torch.manual_seed(0)
    g, d = toy_generator(2, 8, 1), toy_discriminator(8, 1)
    theta0 = [p.detach().clone() for p in g.parameters()]
    gen, data = torch.Generator().manual_seed(0), toy.load("grid25")
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    config = _config(1, ema_decay=0.9, ema_warmup=False)
    hist = train_gan(g, d, lambda s: data.sample(16, gen), config, latent_dim=2, generator=gen,
                     snapshot_every=1, snapshot_z=z, snapshot_average=True)
    for p0, p1, avg in zip(theta0, g.parameters(), hist.ema.parameters()):
        assert not torch.equal(p0, p1)                               # the generator moved
        torch.testing.assert_close(avg, 0.9 * p0 + 0.1 * p1.detach())
    with torch.no_grad():
        torch.testing.assert_close(hist.snapshots[0][1], hist.ema(z))


def test_train_grid_gan_samples_the_recipe_generator():
    run = train_grid_gan(FIX, steps=3, seed=0, progress=False)
    assert run.coverage is run.coverage_average and run.coverage_last is not run.coverage
    assert not run.generator.training
    assert not any(p.requires_grad for p in run.generator.parameters())
    vanilla = train_grid_gan("vanilla", steps=3, seed=0, progress=False)
    assert vanilla.coverage is vanilla.coverage_last and vanilla.generator.training
    assert len(vanilla.history.loss) == 3 and {"vanilla", FIX} <= set(RECIPES)
    with pytest.raises(ValueError, match="valid: vanilla"):
        train_grid_gan("pacgan4", steps=1)


# ---------------------------------------------------------------- CycleGAN and styles
def test_cycle_and_identity_losses_by_hand():
    a = torch.zeros(2, 1, 8, 8)
    assert float(cycle_loss(a, a + 0.5)) == 0.5
    assert float(identity_loss(a, a - 2.0)) == 2.0
    with pytest.raises(ValueError, match="same shape"):
        cycle_loss(a, torch.zeros(2, 1, 4, 4))


def test_cyclegan_objective_terms():
    model = CycleGAN(channels=4, blocks=1)
    a, b = torch.rand(4, 1, 8, 8) * 2 - 1, torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        t = model.generator_objective(a, b, cycle_weight=10.0, identity_weight=5.0)
    expected = t["adversarial"] + 10 * t["cycle"] + 5 * t["identity"]
    assert float(t["total"]) == pytest.approx(float(expected), rel=1e-5)
    assert "identity" not in model.generator_objective(a, b, identity_weight=0.0)


def test_bold_negative_by_hand_and_domains_disjoint():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.int64)
    x[0, 0, 2, 5] = 10
    b = bold_negative(x)
    assert b.dtype == torch.int64
    assert sorted(map(tuple, (b[0, 0] == 6).nonzero().tolist())) == [(2, 5), (2, 6), (3, 5), (3, 6)]
    (a, ya), (bb, yb) = unpaired_domains("test", seed=0)
    (a2, _), _ = unpaired_domains("test", seed=0)
    assert torch.equal(a, a2) and len(a) + len(bb) == 447
    with pytest.raises(ValueError, match=r"\[0, 16\]"):
        bold_negative(torch.full((1, 1, 8, 8), 17))


# ---------------------------------------------------------------- StyleGAN components
def test_adain_sets_channel_moments():
    x = torch.randn(3, 5, 8, 8) * 4 + 2
    scale, bias = torch.rand(3, 5) + 0.5, torch.randn(3, 5)
    y = adain(x, scale, bias)
    assert torch.allclose(y.mean(dim=(2, 3)), bias, atol=1e-5)
    assert torch.allclose(y.std(dim=(2, 3), unbiased=False), scale, atol=1e-4)
    with pytest.raises(ValueError, match="expected x"):
        adain(x, scale[:, :2], bias)


def test_demodulation_gives_unit_variance():
    torch.manual_seed(0)
    conv = ModulatedConv2d(16, 4, w_dim=8)
    x = torch.randn(2, 16, 64, 64)
    out = conv(x, torch.randn(2, 8) * 3)[:, :, 1:-1, 1:-1]         # away from the zero padding
    assert torch.allclose(out.std(dim=(2, 3)), torch.ones(2, 4), atol=0.05)
    mapping = MappingNetwork(latent_dim=4, w_dim=8)
    assert mapping(torch.randn(5, 4)).shape == (5, 8)


# ---------------------------------------------------------------- bad input, as a hostile user
def test_losses_refuse_several_logits_per_sample_and_nan():
    expected = r"one logit per sample, shape \(N,\) or \(N, 1\), got \(4, 2\)"
    with pytest.raises(ValueError, match=expected):
        discriminator_loss(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="one logit per sample"):
        generator_loss(torch.zeros(4, 1, 1))
    assert float(generator_loss(torch.zeros(4, 1))) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="fake_logits holds NaN"):
        discriminator_loss(torch.zeros(3), torch.tensor([0.0, float("nan"), 1.0]))
    with pytest.raises(ValueError, match="valid: minimax, non_saturating, wasserstein"):
        generator_loss(torch.zeros(3), "least_squares")


def test_penalties_refuse_wide_critics_and_nan():
    with pytest.raises(ValueError, match=r"one value per sample .* got \(4, 2\)"):
        gradient_penalty(lambda x: x * 2, torch.zeros(4, 2), torch.ones(4, 2))
    with pytest.raises(ValueError, match="one value per sample"):
        r1_penalty(lambda x: x.sum(), torch.zeros(4, 2))            # a scalar: summed silently
    packed = toy_discriminator(8, 1, pack=2)                         # one value per pack is fine
    assert gradient_penalty(packed, torch.zeros(4, 2), torch.ones(4, 2)).item() >= 0
    with pytest.raises(ValueError, match="real holds NaN"):
        gradient_penalty(lambda x: x.sum(1), torch.full((2, 2), float("nan")), torch.zeros(2, 2))


def test_train_gan_refuses_bad_discriminators_batches_weights_and_configs():
    def game(d=None, batch=None, config=None, **kwargs):
        torch.manual_seed(0)
        g = toy_generator(2, 8, 1)
        d = toy_discriminator(8, 1) if d is None else d
        batch = torch.randn(8, 2) if batch is None else batch
        return train_gan(g, d, [batch], _config(2) if config is None else config, latent_dim=2,
                         generator=torch.Generator().manual_seed(0), **kwargs)

    with pytest.raises(ValueError, match=r"one logit per sample .* got \(8, 2\)"):
        game(d=toy_generator(2, 8, 1))                  # two outputs per sample, not one logit
    with pytest.raises(ValueError, match="real batch .* NaN"):
        game(batch=torch.full((8, 2), float("nan")))
    with pytest.raises(TypeError, match=r"pair \(x, labels\)"):
        game(batch={"x": torch.zeros(8, 2)})
    for name, value in (("gp_weight", -1.0), ("r1_weight", float("nan")),
                        ("gp_weight", float("inf"))):
        with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0"):
            game(**{name: value})
    with pytest.raises(ValueError, match="d_steps must be an int >= 1, got 0"):
        game(d_steps=0)
    with pytest.raises(ValueError, match="snapshot_every must be an int >= 0"):
        game(snapshot_every=-1)
    with pytest.raises(ValueError, match="snapshot_average needs config.ema_decay"):
        game(snapshot_average=True)
    with pytest.raises(TypeError, match="TrainConfig, got int"):
        game(config=5)
    with pytest.raises(ValueError, match="eval_every must be None"):
        game(config=_config(2, eval_every=1))
    with pytest.raises(ValueError, match="d_config.ema_decay must be None"):
        game(d_config=_config(2, ema_decay=0.9))
    with pytest.raises(ValueError, match="betas must be two numbers in"):
        game(betas=(0.5, 1.5))


def test_cyclegan_refuses_negative_weights_and_nan():
    model = CycleGAN(channels=4, blocks=1)
    a = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="cycle_weight must be a finite number >= 0, got -1.0"):
        model.generator_objective(a, a, cycle_weight=-1.0)
    with pytest.raises(ValueError, match="identity_weight must be a finite number >= 0"):
        train_cyclegan(model, [(a, a)], _config(1), identity_weight=float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        cycle_loss(a, torch.full_like(a, float("nan")))
    hist = train_cyclegan(model, [(a, a)], _config(2))
    assert len(hist.loss) == 2 and set(hist.terms) >= {"discriminator", "cycle", "total"}


def test_networks_refuse_bad_sizes_labels_and_shapes():
    with pytest.raises(ValueError, match="channels must be a positive int, got -1"):
        DigitGenerator(8, channels=-1)
    with pytest.raises(ValueError, match="n_classes must be an int >= 0"):
        DigitDiscriminator(8, n_classes=-2)
    with pytest.raises(ValueError, match="channels must be a positive int"):
        Translator(channels=0)
    with pytest.raises(ValueError, match="pack must be a positive int, got 0"):
        toy_discriminator(8, 1, pack=0)
    g = DigitGenerator(8, 4, n_classes=10)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9, got values in 0\.\.10"):
        g(torch.zeros(2, 8), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="int64"):
        g(torch.zeros(2, 8), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"divisible by the pack size 2"):
        toy_discriminator(8, 1, pack=2)(torch.zeros(3, 2))
    conv = ModulatedConv2d(4, 2, w_dim=3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4, H, W\)"):
        conv(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"w must have shape \(2, 3\), got \(5, 3\)"):
        conv(torch.zeros(2, 4, 8, 8), torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"w must have shape \(N, 3\)"):
        StyleAffine(3, 4)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        MappingNetwork(latent_dim=0)


def test_sampling_and_recipes_refuse_bad_input():
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        sample_latent(0, 2)
    with pytest.raises(ValueError, match="NaN"):
        from_gan_scale(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match=r"\[0, 16\]"):
        to_gan_scale(torch.full((1, 1, 8, 8), -1.0))                # already on [-1, 1]
    with pytest.raises(TypeError, match="GaussianMixture"):
        generator_coverage(toy_generator(2, 8, 1), toy.load("grid25").sample)
    with pytest.raises(ValueError, match="frames must be an int >= 0"):
        train_grid_gan("vanilla", steps=1, frames=-1)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        train_grid_gan("vanilla", steps=1, seed=-3)


def test_recipes_leave_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_grid_gan("vanilla", steps=1, seed=0, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_training_animation_needs_snapshots():
    from gmtext.viz.gan import training_animation
    with pytest.raises(ValueError, match="runs is empty"):
        training_animation({}, torch.zeros(25, 2))
    run = train_grid_gan("vanilla", steps=2, seed=0, progress=False)
    with pytest.raises(ValueError, match="no snapshots"):
        training_animation({"vanilla": run.history}, torch.zeros(25, 2))


def test_gan_scale_is_the_signed_levels_scaling_of_the_data():
    from gmtext.data.images import digits, scale_digits
    x = digits("test")[:50]
    assert torch.equal(to_gan_scale(x), scale_digits(x, "signed_levels").y)
