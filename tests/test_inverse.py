"""Chapter 9: measurement operators (adjoints, pseudo-inverses, range-null), HDR, posterior samplers, the exact posterior."""

import math

import pytest
import torch

from gmtext.diffusion import DDIMSampler, DiscreteSchedule, VPSchedule
from gmtext.inverse import (Blur, Clip, Crop, DDNMSampler, Downsample, DPSSampler, Grayscale, Mask, ReplacementSampler,
                            RotatedMixture, ToneCurve, gaussian_kernel, mixture_posterior, operator_matrix,
                            posterior_sample, psnr_gap, smooth_prior)
from gmtext.inverse.evaluate import classical_reconstruction, pixel_std, ssim

GEN = torch.Generator().manual_seed(0)


def _randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def _box(n):
    return torch.ones(n, n, dtype=torch.float64) / n**2


MASK = (torch.rand(8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).float()
# (operator, channels of x); the 3x3 box kernel has exact zeros in its spectrum on a 6x6 grid
OPERATORS = {
    "mask": (Mask(MASK), 1), "mask-per-channel": (Mask(MASK.expand(3, 8, 8)), 3), "crop": (Crop((8, 8), (4, 6)), 1),
    "downsample": (Downsample(2), 2), "grayscale": (Grayscale(), 3),
    "blur-circular": (Blur(gaussian_kernel(5, 1.0)), 1), "blur-zero": (Blur(gaussian_kernel(3, 0.8), "zero"), 1),
    "blur-box-circular": (Blur(_box(3), rcond=1e-8), 1),
}


def _x(name):
    op, c = OPERATORS[name]
    size = 6 if name == "blur-box-circular" else 8
    return op, _randn(4, c, size, size)


@pytest.mark.parametrize("name", OPERATORS)
def test_adjoint_identity(name):
    op, x = _x(name)
    y = _randn(*op.forward(x).shape)
    assert torch.allclose((op.forward(x) * y).sum(), (x * op.adjoint(y)).sum(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", OPERATORS)
def test_moore_penrose_identities(name):
    op, x = _x(name)
    y = _randn(*op.forward(x).shape)
    assert torch.allclose(op.forward(op.pinv(op.forward(x))), op.forward(x), atol=1e-8)     # A A+ A = A
    assert torch.allclose(op.pinv(op.forward(op.pinv(y))), op.pinv(y), atol=1e-8)           # A+ A A+ = A+


@pytest.mark.parametrize("name", OPERATORS)
def test_range_null_decomposition_matches_the_measurement(name):
    op, x = _x(name)
    y = op.forward(x)
    x_hat = op.project(_randn(*x.shape), y)          # A+ y + (I - A+ A) x0 for an arbitrary x0
    assert torch.allclose(op.forward(x_hat), y, atol=1e-8)
    null_part = x_hat - op.pinv(y)
    assert torch.allclose(op.forward(null_part), torch.zeros_like(y), atol=1e-8)


def test_circular_pinv_is_the_dense_pseudo_inverse():
    op = Blur(_box(3), rcond=1e-8)
    M = operator_matrix(op, (1, 6, 6))
    y = _randn(2, 1, 6, 6)
    dense = (y.flatten(1) @ torch.linalg.pinv(M, rtol=1e-8).T).reshape(y.shape)
    assert torch.allclose(op.pinv(y), dense, atol=1e-8)
    assert torch.linalg.matrix_rank(M) < 36                       # the box kernel loses frequencies


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="does not match"):
        Mask(torch.ones(8, 8)).forward(torch.zeros(2, 1, 6, 6))
    with pytest.raises(ValueError, match="0 .*1"):
        Mask(torch.full((8, 8), 0.5))
    with pytest.raises(ValueError, match="sum to one"):
        Blur(torch.ones(3, 3))
    with pytest.raises(ValueError, match="odd"):
        Blur(torch.ones(2, 2) / 4)
    with pytest.raises(ValueError, match="padding"):
        Blur(gaussian_kernel(3, 1.0), "reflect")
    with pytest.raises(ValueError, match="divide"):
        Downsample(3).forward(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="> 0"):
        Clip(0.0)
    with pytest.raises(ValueError, match="> 0"):
        ToneCurve(-1.0)
    with pytest.raises(ValueError, match="NaN"):
        Downsample(2).forward(torch.full((1, 1, 8, 8), math.nan))
    with pytest.raises(ValueError, match="NaN"):
        Mask(MASK).pinv(torch.full((1, 1, 8, 8), math.nan))
    with pytest.raises(ValueError, match="3 channel"):
        Grayscale().forward(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="fit"):
        Crop((8, 8), (9, 4))
    with pytest.raises(TypeError, match="floating"):
        Downsample(2).forward(torch.zeros(1, 1, 8, 8, dtype=torch.int64))


def test_clip_has_zero_gradient_on_saturated_pixels_and_is_an_inpainting():
    x = _randn(1, 1, 8, 8).requires_grad_()
    clip = Clip(0.5)
    (grad,) = torch.autograd.grad(clip.forward(x).sum(), x)
    saturated = x.detach() > 0.5
    assert bool((grad[saturated] == 0).all()) and bool((grad[~saturated] == 1).all())
    y = clip.forward(x.detach())
    mask, level = clip.as_inpainting(y)
    assert level == 0.5 and torch.equal(mask.forward(y), torch.where(saturated, 0.0, y))


def test_tone_curve_inverts_below_saturation():
    curve = ToneCurve(2.0)
    x = _randn(2, 1, 4, 4)
    assert torch.allclose(curve.inverse(curve.forward(x)), x, atol=1e-9)
    with pytest.raises(ValueError, match="saturated"):
        curve.inverse(torch.full((1, 1, 2, 2), 2.0, dtype=torch.float64))


def test_mixture_posterior_matches_the_information_form():
    prior = smooth_prior((3, 3), length=1.2, std=0.7)
    A = operator_matrix(Downsample(3), (1, 3, 3)).double()
    A = torch.cat([A, operator_matrix(Mask(torch.eye(3)), (1, 3, 3))])           # a mixed measurement
    y, sigma = _randn(5, A.shape[0]), 0.3
    mean, cov, _ = mixture_posterior(prior, A, y, sigma)
    C = prior.covariances[0]
    info = torch.linalg.inv(C) + A.T @ A / sigma**2
    cov_ref = torch.linalg.inv(info)
    assert torch.allclose(cov[0], cov_ref, atol=1e-10)
    assert torch.allclose(mean, (y @ A / sigma**2) @ cov_ref, atol=1e-10)        # prior mean 0


def test_rotated_mixture_is_the_exact_gaussian_denoiser():
    prior = smooth_prior((2, 3), length=1.0, std=0.8, offsets=torch.full((1, 6), 0.3))
    vp = VPSchedule()
    x_t, t = _randn(4, 1, 2, 3).float(), torch.full((4,), 0.4)
    a, s = (float(v) for v in vp.alpha_sigma(torch.tensor(0.4, dtype=torch.float64)))
    C, mu = prior.covariances[0], prior.means[0]
    x0 = mu + (x_t.flatten(1).double() - a * mu) @ torch.linalg.inv(a**2 * C + s**2 * torch.eye(6, dtype=torch.float64)) @ C * a
    assert torch.allclose(prior.model(vp, "sample")(x_t, t).flatten(1).double(), x0, atol=1e-5)


def test_exact_posterior_samples_sit_3_db_below_the_mean():
    prior = smooth_prior((4, 4))
    op, sigma, n = Downsample(2), 0.1, 20000
    x = prior.sample(n, GEN).double()
    y = op.forward(x) + sigma * _randn(n, 1, 2, 2)
    mean, cov, _ = mixture_posterior(prior, operator_matrix(op, (1, 4, 4)), y, sigma)
    draws = mean + _randn(n, 16) @ torch.linalg.cholesky(cov[0]).T
    gap, se = psnr_gap(x.flatten(1), mean, draws)
    assert abs(gap - 10 * math.log10(2)) < 4 * se and se < 0.05


SCHED = DiscreteSchedule.from_continuous(VPSchedule(), 1000)
PRIOR = smooth_prior((4, 4))


def test_ddnm_guess_and_replacement_samples_are_consistent_with_a_noiseless_mask():
    op, model = Mask(MASK[:4, :4]), PRIOR.model(VPSchedule())
    y = op.forward(PRIOR.sample(6, GEN))
    ddnm = DDNMSampler(SCHED, op, y)
    ddnm.set_timesteps(5)
    x = ddnm.init_noise((6, 1, 4, 4), GEN)
    for t in ddnm.timesteps:
        out = ddnm.step(model(x, t.expand(6).float()), t, x, GEN)
        assert torch.allclose(op.forward(out.x0_hat), y, atol=1e-6)
        x = out.prev_sample
    x = posterior_sample(model, ReplacementSampler(SCHED, op, y, resample=2), (6, 1, 4, 4), 5, GEN)
    assert torch.allclose(op.forward(x), y, atol=1e-6)


def test_dps_with_zero_step_is_the_unconditional_ddim_step():
    op, model = Downsample(2), PRIOR.model(VPSchedule())
    y = torch.zeros(3, 1, 2, 2)
    x0 = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    dps = posterior_sample(model, DPSSampler(SCHED, op, y, zeta=0.0), (3, 1, 4, 4), 4,
                           torch.Generator().manual_seed(2), x_init=x0)
    ddim = DDIMSampler(SCHED, eta=1.0)
    ddim.set_timesteps(4)
    x, gen = x0, torch.Generator().manual_seed(2)
    for t in ddim.timesteps:
        x = ddim.step(model(x, t.expand(3).float()), t, x, gen).prev_sample
    assert torch.allclose(dps, x, atol=1e-5)


def test_samplers_refuse_what_they_cannot_do():
    y = torch.zeros(2, 1, 4, 4)
    with pytest.raises(TypeError, match="linear"):
        DDNMSampler(SCHED, Clip(0.5), y)
    DPSSampler(SCHED, Clip(0.5), y)                                      # DPS takes non-linear A
    dps = DPSSampler(SCHED, Mask(torch.ones(4, 4)), y)
    dps.set_timesteps(2)
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="gradient"):
        dps.step(torch.zeros(2, 1, 4, 4), dps.timesteps[0], x)
    ddnm = DDNMSampler(SCHED, Mask(torch.ones(4, 4)), y)
    ddnm.set_timesteps(2)
    with pytest.raises(ValueError, match="repeat y"):
        ddnm.step(torch.zeros(3, 1, 4, 4), ddnm.timesteps[0], torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match="zeta"):
        DPSSampler(SCHED, Clip(0.5), y, zeta=-1.0)
    with pytest.raises(ValueError, match="resample"):
        ReplacementSampler(SCHED, Mask(torch.ones(4, 4)), y, resample=0)


def test_baselines_and_measures():
    op = Mask(MASK)
    x = torch.rand(2, 1, 8, 8, generator=GEN)
    rec = classical_reconstruction(op, op.forward(x), "biharmonic")
    assert torch.allclose(op.forward(rec), op.forward(x), atol=1e-6)          # seen pixels kept
    with pytest.raises(ValueError, match="valid"):
        classical_reconstruction(op, op.forward(x), "wiener")
    assert ssim(x, x, 1.0) == pytest.approx(1.0) and ssim(x, 1 - x, 1.0) < 0.5
    assert torch.equal(pixel_std(torch.stack([x, x])), torch.zeros_like(x))
    with pytest.raises(ValueError, match="K >= 2"):
        pixel_std(x[None])


def test_rotated_mixture_rejects_a_non_orthogonal_rotation():
    with pytest.raises(ValueError, match="orthogonal"):
        RotatedMixture(PRIOR.mixture, torch.ones(16, 16), (1, 4, 4))
