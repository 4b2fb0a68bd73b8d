"""Chapter 7: the hierarchical ELBO two ways, the diffusion loss for T steps and in the limit, the
weighting each target implies, one network through every view, and the flow limit of the PF-ODE."""

import math

import pytest
import torch

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion import (CosineSchedule, DDIMSampler, DiscreteSchedule, LinearSchedule, VESchedule,
                              VPSchedule, convert_at, elbo_terms, elbo_weight, mixture_model, sample)
from gmtext.diffusion.flow_limit import euler_flow_log_prob
from gmtext.diffusion.hvae import (conditional_variance, continuous_diffusion_loss, discrete_diffusion_loss,
                                   hierarchical_elbo)
from gmtext.diffusion.sde import probability_flow_velocity
from gmtext.diffusion.weighting import as_target, error_factor, implied_weighting, time_at_log_snr
from gmtext.distributions import standard_normal_log_prob

MIX = GaussianMixture([[-1.0, 0.0], [1.0, 0.5]], 0.3)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _mean_se(v):
    return float(v.mean()), float(v.std() / math.sqrt(len(v)))


# --- the hierarchical ELBO -------------------------------------------------------------------------

def test_two_estimators_have_one_mean_and_the_consistency_one_more_variance():
    vp = VPSchedule()
    x = MIX.sample(200, _gen(0)).double().repeat_interleave(4, 0)
    model = mixture_model(MIX, vp)
    den = hierarchical_elbo(model, vp, x, 30, _gen(1), estimator="denoising")["total"]
    con = hierarchical_elbo(model, vp, x, 30, _gen(2), estimator="consistency")["total"]
    diff = (con - den).reshape(-1, 4).mean(1)
    assert abs(float(diff.mean())) < 4 * float(diff.std() / math.sqrt(len(diff)))
    assert conditional_variance(con, 4) > 3 * conditional_variance(den, 4)


def test_denoising_form_matches_ddpm_elbo_terms_on_a_discrete_schedule():
    sched = DiscreteSchedule.from_continuous(VPSchedule(), 50)     # sigma_T = 1: both priors N(0, I)
    x = MIX.sample(2000, _gen(0)).double()
    ours = hierarchical_elbo(mixture_model(MIX, sched), sched, x, 50, _gen(1))
    theirs = elbo_terms(mixture_model(MIX, sched), sched, x, seed=2)
    assert torch.allclose(ours["prior"], theirs["prior"], rtol=1e-3, atol=1e-6)   # closed form, no noise
    for key_ours, key_theirs in (("matching", "diffusion"), ("reconstruction", "reconstruction")):
        (m1, s1), (m2, s2) = _mean_se(ours[key_ours]), _mean_se(theirs[key_theirs])
        assert abs(m1 - m2) < 4 * math.hypot(s1, s2)


def test_elbo_of_a_gaussian_bounds_its_exact_log_density():
    gauss, vp = GaussianMixture([[0.5, -0.5]], 0.7), VPSchedule()
    x = gauss.sample(3000, _gen(0)).double()
    total = hierarchical_elbo(mixture_model(gauss, vp), vp, x, 100, _gen(1))["total"]
    gap = total + gauss.log_prob(x)
    m, se = _mean_se(gap)
    assert -3 * se < m < 3               # a bound; the fixed decoder variances leave a gap of nats


def test_hierarchical_elbo_refuses_bad_input():
    vp = VPSchedule()
    model = mixture_model(MIX, vp)
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="denoising, consistency"):
        hierarchical_elbo(model, vp, x, 10, estimator="nope")
    with pytest.raises(ValueError, match="num_steps"):
        hierarchical_elbo(model, vp, x, 1)
    with pytest.raises(ValueError, match="sigma_0"):
        hierarchical_elbo(mixture_model(MIX, VESchedule()), VESchedule(), x, 10)
    with pytest.raises(ValueError, match="NaN"):
        hierarchical_elbo(model, vp, torch.full((3, 2), math.nan, dtype=torch.float64), 10)
    with pytest.raises(ValueError, match="shape of x_t"):
        hierarchical_elbo(lambda x, t: x[:, :1], vp, x, 10)
    with pytest.raises(ValueError, match="x0 must be"):
        hierarchical_elbo(model, vp, torch.zeros(3, dtype=torch.float64), 10)


# --- the diffusion loss for T steps and in the limit ----------------------------------------------

def test_discrete_loss_falls_with_refinement_and_tends_to_the_continuous_loss():
    vp = VPSchedule()
    x = MIX.sample(3000, _gen(0)).double()
    model = mixture_model(MIX, vp)
    losses = {T: float(v.mean()) for T, v in discrete_diffusion_loss(model, vp, x, (5, 10, 20, 40, 400), _gen(1)).items()}
    assert losses[5] > losses[10] > losses[20] > losses[40] > losses[400]
    cont, se = _mean_se(continuous_diffusion_loss(mixture_model(MIX, vp, "sample"), vp,
                                                  MIX.sample(200000, _gen(2)).double(), _gen(3),
                                                  prediction_type="sample"))
    assert losses[400] - cont < 0.2 * (losses[40] - cont) and losses[400] > cont - 3 * se


def test_discrete_loss_of_a_gaussian_in_closed_form():
    # data N(0, s^2) in 1-D: E||x0 - E[x0|x_t]||^2 = s^2 / (1 + s^2 SNR), no noise in the estimate's mean
    s2, vp = 0.25, VPSchedule()
    gauss = GaussianMixture([[0.0]], math.sqrt(s2))
    x = gauss.sample(40000, _gen(0)).double()
    got = float(discrete_diffusion_loss(mixture_model(gauss, vp), vp, x, 8, _gen(1))[8].mean())
    t = torch.linspace(1e-3, 1.0, 9, dtype=torch.float64)
    snr = torch.exp(vp.log_snr(t))
    expected = float((0.5 * (snr[:-1] - snr[1:]) * s2 / (1 + s2 * snr[1:])).sum())
    assert abs(got / expected - 1) < 0.03


def test_continuous_loss_is_invariant_to_the_path_between_equal_end_points():
    vp = VPSchedule()
    lam_hi, lam_lo = (float(vp.log_snr(torch.tensor(t, dtype=torch.float64))) for t in (1e-3, 1.0))
    x = MIX.sample(200000, _gen(0)).double()
    est = []
    for k, path in enumerate((vp, VESchedule(0.005, 200.0), LinearSchedule(), CosineSchedule())):
        t_range = (time_at_log_snr(path, lam_hi), time_at_log_snr(path, lam_lo))
        est.append(_mean_se(continuous_diffusion_loss(mixture_model(MIX, path, "sample"), path, x, _gen(k + 1),
                                                      prediction_type="sample", t_range=t_range)))
    for (m1, s1) in est:
        for (m2, s2) in est:
            assert abs(m1 - m2) < 4 * math.hypot(s1, s2)


def test_loss_functions_refuse_bad_input():
    vp, model = VPSchedule(), mixture_model(MIX, VPSchedule())
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="t_range"):
        continuous_diffusion_loss(model, vp, x, t_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="continuous schedule"):
        continuous_diffusion_loss(model, DiscreteSchedule.from_name("linear", 10), x)
    with pytest.raises(ValueError, match="num_steps"):
        discrete_diffusion_loss(model, vp, x, [10, 0])
    with pytest.raises(ValueError, match="noise has shape"):
        discrete_diffusion_loss(model, vp, x, 4, noise=torch.zeros(3, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="multiple of repeats"):
        conditional_variance(torch.ones(5), 2)
    with pytest.raises(ValueError, match="NaN"):
        conditional_variance(torch.tensor([1.0, math.nan]), 2)


# --- targets and weightings ------------------------------------------------------------------------

PATHS = (VPSchedule(), VESchedule(0.01, 20.0), LinearSchedule(), CosineSchedule())


@pytest.mark.parametrize("path", PATHS, ids=lambda p: type(p).__name__)
def test_error_factor_is_the_ratio_of_squared_errors(path):
    g = _gen(0)
    t = 0.02 + 0.96 * torch.rand(50, generator=g, dtype=torch.float64)
    x0, eps, eps_hat = (torch.randn(50, 3, generator=g, dtype=torch.float64) for _ in range(3))
    a, s = path.alpha_sigma(t)
    x_t = a[:, None] * x0 + s[:, None] * eps
    base = (eps_hat - eps).pow(2).sum(1)
    for target in ("epsilon", "sample", "v_prediction", "score", "velocity"):
        err = (convert_at(path, eps_hat, "epsilon", target, x_t, t)
               - convert_at(path, eps, "epsilon", target, x_t, t)).pow(2).sum(1)
        assert torch.allclose(err, error_factor(path, t, target) * base, rtol=1e-8)


def test_implied_weighting_closed_forms_of_kingma_and_gao():
    t = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    cos, lin, vp = CosineSchedule(), LinearSchedule(), VPSchedule()
    lam = cos.log_snr(t)
    assert torch.allclose(implied_weighting(cos, t, "epsilon"), 1 / torch.cosh(lam / 2) / math.pi)
    assert torch.allclose(implied_weighting(cos, t, "v_prediction"), 2 * torch.exp(-lam / 2) / math.pi)
    assert torch.allclose(implied_weighting(lin, t, "velocity"), torch.exp(-lin.log_snr(t) / 2))
    # the ELBO weighting of the losses module is w = 1 for both of its targets
    for target in ("epsilon", "sample"):
        assert torch.allclose(implied_weighting(vp, t, target, elbo_weight(vp, t, target)), torch.ones_like(t))


def test_weighting_functions_refuse_bad_input():
    with pytest.raises(ValueError, match="valid"):
        error_factor(VPSchedule(), 0.5, "noise")
    with pytest.raises(ValueError, match="finite"):
        error_factor(VPSchedule(), torch.tensor([math.nan]), "sample")
    with pytest.raises(ValueError, match="continuous"):
        implied_weighting(DiscreteSchedule.from_name("linear", 10), 0.5, "epsilon")
    with pytest.raises(ValueError, match="shape of t"):
        implied_weighting(VPSchedule(), torch.tensor([0.2, 0.3]), "epsilon", torch.ones(3))
    with pytest.raises(ValueError, match="outside the range"):
        time_at_log_snr(VESchedule(0.01, 10.0), 30.0)
    with pytest.raises(ValueError, match="continuous"):
        as_target(lambda x, t: x, DiscreteSchedule.from_name("linear", 10), "epsilon", "velocity")


def test_time_at_log_snr_inverts_the_schedule():
    for path in PATHS:
        for t in (0.1, 0.5, 0.9):
            lam = float(path.log_snr(torch.tensor(t, dtype=torch.float64)))
            assert abs(time_at_log_snr(path, lam) - t) < 1e-9


def test_every_view_of_one_network_gives_the_same_samples():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    model = lambda x, t: net(torch.cat([x, t[:, None]], 1))            # noqa: E731, any eps-network
    vp, z = VPSchedule(), torch.randn(64, 2, generator=_gen(1))
    runs = [sample(as_target(model, vp, "epsilon", k), DDIMSampler(vp, k), z.shape, 20, x_init=z)
            for k in ("epsilon", "sample", "v_prediction", "score", "velocity")]
    for x in runs[1:]:
        assert torch.allclose(x, runs[0], atol=1e-4)


# --- the flow limit -------------------------------------------------------------------------------

def test_euler_flow_log_prob_converges_to_the_exact_gaussian_density():
    gauss, vp = GaussianMixture([[1.0, -0.5]], [[0.3, 0.6]]), VPSchedule()
    x = gauss.sample(50, _gen(0)).double()
    (a0, s0), (a1, s1) = (vp.alpha_sigma(torch.tensor(t, dtype=torch.float64)) for t in (1e-3, 1.0))
    exact = gauss.noised(float(s0), float(a0)).log_prob(x)
    field = probability_flow_velocity(mixture_model(gauss, vp), vp)
    errors = [float((euler_flow_log_prob(field, x, torch.linspace(1e-3, 1, k + 1, dtype=torch.float64),
                                         gauss.noised(float(s1), float(a1)).log_prob) - exact).abs().mean())
              for k in (20, 200)]
    assert errors[1] < errors[0] / 5 and errors[1] < 0.02


def test_euler_flow_log_prob_of_a_linear_field_is_the_discrete_change_of_variables():
    x = torch.randn(5, 2, generator=_gen(0), dtype=torch.float64)
    times = torch.linspace(0, 1, 11, dtype=torch.float64)
    lp = euler_flow_log_prob(lambda y, t: -0.5 * y, x, times, standard_normal_log_prob)
    expected = standard_normal_log_prob(x * 0.95**10) + 2 * 10 * math.log(0.95)
    assert torch.allclose(lp, expected)
    with pytest.raises(ValueError, match="monotone"):
        euler_flow_log_prob(lambda y, t: y, x, torch.tensor([0.0, 0.5, 0.2]), standard_normal_log_prob)
    with pytest.raises(ValueError, match="NaN"):
        euler_flow_log_prob(lambda y, t: y, x * math.nan, times, standard_normal_log_prob)
