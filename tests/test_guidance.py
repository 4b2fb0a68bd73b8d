"""Chapter 8: guidance as a model wrapper, checked against the exact two-class mixture; SDEdit's clock;
the class-conditional networks; clear errors for bad labels, weights and shapes."""

import math

import pytest
import torch

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion import DDIMSampler, LinearSchedule, VESchedule, VPSchedule, convert_at, mixture_model, sample
from gmtext.diffusion.guidance import (ClassifierGuidedModel, ClassMixture, GuidedModel, class_log_prob_grad,
                                       class_axis, classifier_free_guidance, classifier_guided_epsilon,
                                       drop_labels, guided_epsilon)
from gmtext.diffusion.sdedit import TruncatedSchedule, sdedit
from gmtext.nn.conditional import ClassConditionalMLP, ClassConditionalUNet8, NoisyDigitClassifier

TWO = ClassMixture([GaussianMixture([[-1.0, 0.0], [-1.5, 1.0]], 0.4), GaussianMixture([[1.0, 0.2]], 0.5)],
                   weights=[0.6, 0.4])


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _points(n=64, seed=0):
    return 2 * torch.randn(n, 2, generator=_gen(seed), dtype=torch.float64)


def _exact_classifier(schedule):
    return lambda x, t: TWO.class_log_prob(x, float(t[0]), schedule)      # log-probs are logits


@pytest.mark.parametrize("schedule", [VPSchedule(), VESchedule(0.01, 10.0), LinearSchedule()])
@pytest.mark.parametrize("time", [0.05, 0.3, 0.8])
def test_conditional_minus_unconditional_is_the_classifier_gradient(schedule, time):
    x, t = _points(), torch.full((64,), time, dtype=torch.float64)
    model = TWO.model(schedule)
    sigma = float(schedule.alpha_sigma(torch.tensor(time, dtype=torch.float64))[1])
    for c in range(2):
        labels = torch.full((64,), c)
        diff = model(x, t, labels=labels) - model(x, t)
        grad = class_log_prob_grad(_exact_classifier(schedule), x, t, labels)
        assert torch.allclose(diff, -sigma * grad, atol=1e-9)


def test_marginal_is_the_prior_weighted_mixture_of_the_classes():
    x = _points(200)
    joint = torch.stack([c.log_prob(x) + p.log() for c, p in zip(TWO.classes, TWO.priors)], 1)
    assert torch.allclose(TWO.marginal.log_prob(x), torch.logsumexp(joint, 1))


@pytest.mark.parametrize("w", [0.0, 0.5, 3.0])
def test_classifier_guidance_with_the_exact_classifier_is_cfg_with_exact_epsilons(w):
    vp = VPSchedule()
    x, t, labels = _points(), torch.full((64,), 0.4, dtype=torch.float64), torch.arange(64) % 2
    cfg = classifier_free_guidance(TWO.model(vp), w)(x, t, labels=labels)
    cg = ClassifierGuidedModel(TWO.model(vp), _exact_classifier(vp), vp, 1 + w)(x, t, labels=labels)
    assert torch.allclose(cfg, cg, atol=1e-9)


def test_guidance_is_the_same_in_every_parameterisation():
    vp, w = VPSchedule(), 2.0
    x, t, labels = _points(), torch.full((64,), 0.3, dtype=torch.float64), torch.arange(64) % 2
    eps = TWO.model(vp, "epsilon")
    v = TWO.model(vp, "v_prediction")
    guided_v = classifier_free_guidance(v, w)(x, t, labels=labels)
    guided_eps = classifier_free_guidance(eps, w)(x, t, labels=labels)
    assert torch.allclose(convert_at(vp, guided_v, "v_prediction", "epsilon", x, t), guided_eps, atol=1e-9)


def test_guided_model_ends_and_its_batched_call():
    calls = []

    def net(x, t, labels):
        calls.append(len(x))
        return x * (labels[:, None].double() + 1) + t[:, None]

    x, t, labels = _points(8), torch.rand(8, dtype=torch.float64), torch.arange(8) % 3
    guided = GuidedModel(net, 1.5, null_class=3)(x, t, labels=labels)
    manual = 2.5 * net(x, t, labels) - 1.5 * net(x, t, torch.full_like(labels, 3))
    assert torch.allclose(guided, manual) and calls[0] == 16               # one call, both halves
    assert torch.allclose(GuidedModel(net, 0.0, 3)(x, t, labels=labels), net(x, t, labels))
    assert torch.allclose(GuidedModel(net, -1.0, 3)(x, t, labels=labels), net(x, t, torch.full_like(labels, 3)))
    eps = torch.randn(5, 3, generator=_gen(1))
    assert torch.allclose(guided_epsilon(eps, eps, 7.0), eps, atol=1e-6)   # nothing to amplify
    assert torch.allclose(classifier_guided_epsilon(eps, torch.ones_like(eps), 0.5, 2.0), eps - 1.0)


def test_guidance_moves_samples_away_from_the_other_class():
    vp = VPSchedule()
    centre0, centre1 = TWO.classes[0].means.mean(0), TWO.classes[1].means[0]
    seps = []
    for w in (0.0, 1.0, 4.0):
        x = sample(classifier_free_guidance(TWO.model(vp), w), DDIMSampler(vp), (2000, 2), 60,
                   generator=_gen(3), condition={"labels": torch.ones(2000, dtype=torch.long)})
        seps.append(float(class_axis(x, centre1, centre0).mean()))
    assert seps[0] < seps[1] < seps[2], seps


def test_tilted_samples_match_the_tilted_density_on_a_grid():
    g = torch.linspace(-5, 5, 401, dtype=torch.float64)
    grid = torch.cartesian_prod(g, g)
    for w in (0.0, 2.0):
        log_p = TWO.tilted_log_prob(grid, 1, w)
        p = torch.softmax(log_p, 0)
        mean_grid = (p[:, None] * grid).sum(0)
        x = TWO.tilted_sample(20000, 1, w, _gen(int(w)))
        se = x.double().std(0) / math.sqrt(len(x))
        assert bool(((x.double().mean(0) - mean_grid).abs() < 4 * se + 1e-3).all()), (x.mean(0), mean_grid)
    assert torch.allclose(TWO.tilted_log_prob(grid[:5], 1, 0.0), TWO.classes[1].log_prob(grid[:5]))


def test_drop_labels_rate_and_ends():
    y = torch.arange(20000) % 10
    dropped = drop_labels(y, 0.15, 10, _gen(0))
    rate = float((dropped == 10).double().mean())
    assert abs(rate - 0.15) < 4 * math.sqrt(0.15 * 0.85 / 20000)
    kept = dropped != 10
    assert torch.equal(dropped[kept], y[kept])
    assert torch.equal(drop_labels(y, 0.0, 10, _gen(0)), y)
    assert bool((drop_labels(y, 1.0, 10, _gen(0)) == 10).all())


# --- SDEdit ---------------------------------------------------------------------------------------

def test_truncated_schedule_is_the_path_on_a_rescaled_clock():
    vp, t0 = VPSchedule(), 0.4
    half = TruncatedSchedule(vp, t0)
    u, h = torch.linspace(0.05, 0.95, 7, dtype=torch.float64), 1e-6
    a, s = half.alpha_sigma(u)
    a_ref, s_ref = vp.alpha_sigma(t0 * u)
    assert torch.allclose(a, a_ref) and torch.allclose(s, s_ref)
    da, ds = half.derivatives(u)
    (ap, sp), (am, sm) = half.alpha_sigma(u + h), half.alpha_sigma(u - h)
    assert torch.allclose(da, (ap - am) / (2 * h), atol=1e-6) and torch.allclose(ds, (sp - sm) / (2 * h), atol=1e-6)


def test_sdedit_from_time_one_is_plain_sampling_and_from_small_times_keeps_the_source():
    vp, mix = VPSchedule(), GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], 0.3)
    model = mixture_model(mix, vp)
    source = torch.tensor([[0.2, 1.5], [-2.0, -1.0]]).repeat(50, 1)
    x_full = sdedit(model, vp, source, 1.0, 40, generator=_gen(4))
    x_init = vp.alpha_sigma(torch.tensor(1.0))[0].float() * source + vp.prior_std * torch.randn(
        source.shape, generator=_gen(4))
    x_ref = sample(model, DDIMSampler(vp), tuple(source.shape), 40, generator=_gen(5), x_init=x_init)
    assert torch.allclose(x_full, x_ref, atol=1e-5)
    near = sdedit(model, vp, source, 0.01, 10, generator=_gen(6))
    far = sdedit(model, vp, source, 0.9, 40, generator=_gen(6))
    assert (near - source).norm(dim=1).mean() < 0.3 < (far - source).norm(dim=1).mean()
    assert (far[:, 1].abs().mean() < 0.6)                                  # pulled onto the prior's modes


# --- networks -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: ClassConditionalMLP(10, hidden=32, layers=2),
                                  lambda: ClassConditionalUNet8(10, channels=8)])
def test_conditional_networks_use_the_label_and_default_to_the_null_class(make):
    torch.manual_seed(0)
    net = make()
    torch.nn.init.normal_(net.out[-1].weight if isinstance(net.out, torch.nn.Sequential) else net.out.weight)
    x, t = torch.randn(4, 1, 8, 8, generator=_gen(0)), torch.rand(4, generator=_gen(1))
    a, b = net(x, t, labels=torch.zeros(4, dtype=torch.long)), net(x, t, labels=torch.full((4,), 3))
    assert a.shape == x.shape and not torch.allclose(a, b)
    assert torch.equal(net(x, t), net(x, t, labels=torch.full((4,), net.null_class)))
    net(x, t, labels=torch.arange(4)).sum().backward()
    assert net.label_embed.weight.grad is not None and bool(net.label_embed.weight.grad[:4].abs().sum(1).gt(0).all())


def test_noisy_classifier_shape():
    assert NoisyDigitClassifier(10, channels=8)(torch.zeros(3, 1, 8, 8), torch.rand(3)).shape == (3, 10)


# --- bad input ------------------------------------------------------------------------------------

def test_bad_labels_weights_and_shapes_get_clear_errors():
    net = ClassConditionalMLP(10, hidden=16, layers=1)
    x, t = torch.zeros(4, 1, 8, 8), torch.rand(4)
    with pytest.raises(ValueError, match=r"0\.\.10"):
        net(x, t, labels=torch.tensor([0, 1, 2, 11]))
    with pytest.raises(ValueError, match=r"0\.\.9"):                      # the null class is not a request
        GuidedModel(net, 1.0)(x, t, labels=torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="-1"):
        net(x, t, labels=torch.tensor([0, -1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        GuidedModel(net, 1.0)(x, t, labels=torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        net(x, t, labels=torch.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        net(torch.zeros(4, 64), t)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            classifier_free_guidance(net, bad)
        with pytest.raises(ValueError, match="finite"):
            ClassifierGuidedModel(net, lambda x, t: x.flatten(1)[:, :10], VPSchedule(), bad)
    with pytest.raises(TypeError, match="real number"):
        GuidedModel(net, "2")
    with pytest.raises(ValueError, match="shape of eps"):
        classifier_guided_epsilon(torch.zeros(4, 2), torch.zeros(4, 3), 1.0, 1.0)
    with pytest.raises(ValueError, match="p_uncond"):
        drop_labels(torch.zeros(3, dtype=torch.long), 1.5, 10)
    with pytest.raises(ValueError, match="t_start"):
        sdedit(lambda x, t: x, VPSchedule(), torch.zeros(2, 2), 0.0, 10)
    with pytest.raises(TypeError, match="continuous"):
        from gmtext.diffusion import DiscreteSchedule
        TruncatedSchedule(DiscreteSchedule.from_name("linear", 10), 0.5)
    with pytest.raises(ValueError, match="w >= 0"):
        TWO.tilted_sample(10, 0, -1.0)
