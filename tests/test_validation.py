"""Bad input, tried as a hostile user would: each case gets a clear error, never a NaN."""

from __future__ import annotations

import math

import pytest
import torch

from gmtext.data import toy
from gmtext.flows import rational_quadratic_spline, realnvp, spline_flow
from gmtext.metrics.frechet import frechet_distance_gaussians
from gmtext.mixture import MixtureModel
from gmtext.nn import MLP, CategoricalDecoder, ConditionalMLP, GaussianEncoder
from gmtext.nn.unet import UNet8
from gmtext.train import TrainConfig
from gmtext.vae import VAE, fit_vae

NAN = float("nan")


@pytest.mark.parametrize("means, weights, words", [
    ([[0.0], [NAN]], None, "means must be finite"),
    ([[0.0], [1.0]], [0.5, NAN], "weights must be finite"),
])
def test_mixtures_refuse_nan_parameters(means, weights, words):
    with pytest.raises(ValueError, match=words):
        MixtureModel(torch.tensor(means), stds=1.0,
                     weights=None if weights is None else torch.tensor(weights))
    with pytest.raises(ValueError, match=words):
        toy.GaussianMixture(means, 1.0, weights=weights)


def test_mixture_refuses_nan_stds():
    with pytest.raises(ValueError, match="stds must be finite"):
        toy.GaussianMixture([[0.0]], [NAN])


@pytest.mark.parametrize("name", ["ring8", "checkerboard", "mixture1d"])
def test_toy_log_prob_refuses_nan_points(name):
    p = toy.load(name)
    x = torch.zeros(3, p.dim)
    x[1, 0] = NAN
    with pytest.raises(ValueError, match=f"points given to {name}.log_prob must be finite"):
        p.log_prob(x)


def test_flow_log_prob_refuses_nan_points():
    flow = spline_flow(2, n_layers=2, bins=4, hidden=8, generator=torch.Generator().manual_seed(0))
    x = torch.tensor([[0.0, NAN]])
    with pytest.raises(ValueError, match="x must be finite"):
        flow.log_prob(x)
    with pytest.raises(ValueError, match="z must be finite"):
        flow.decode(torch.tensor([[math.inf, 0.0]]))


def test_spline_refuses_nan_inputs_and_a_zero_bound():
    zeros = torch.zeros(3, 5)
    with pytest.raises(ValueError, match="spline input v must be finite"):
        rational_quadratic_spline(torch.tensor([0.0, NAN, 1.0]), zeros, zeros, zeros[:, :4])
    with pytest.raises(ValueError, match=r"bound must be a finite number > 0.*got 0"):
        rational_quadratic_spline(torch.zeros(3), zeros, zeros, zeros[:, :4], bound=0.0)
    with pytest.raises(ValueError, match="bound must be a finite number > 0"):
        spline_flow(2, bound=0.0)


@pytest.mark.parametrize("beta", [NAN, -1.0, math.inf])
def test_beta_vae_refuses_nan_and_negative_beta(beta):
    vae = VAE(GaussianEncoder(2), CategoricalDecoder(2))
    x = torch.randint(0, 17, (4, 1, 8, 8))
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        vae.elbo(x, beta=beta)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        fit_vae(vae, x, x, 1, beta=beta, batch_size=2, progress=False)


def test_frechet_distance_refuses_a_covariance_that_is_not_psd():
    bad = torch.tensor([[1.0, 2.0], [2.0, 1.0]])                 # eigenvalues 3 and -1
    with pytest.raises(ValueError, match="cov_b must be positive semi-definite.*-1"):
        frechet_distance_gaussians(torch.zeros(2), torch.eye(2), torch.zeros(2), bad)
    with pytest.raises(ValueError, match="cov_a must be a symmetric"):
        frechet_distance_gaussians(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]),
                                   torch.zeros(2), torch.eye(2))


@pytest.mark.parametrize("net, args", [
    (MLP(2, 1, hidden=8), ()),
    (ConditionalMLP(2, hidden=8, layers=1), (0.5,)),
    (UNet8(channels=4), (0.5,)),
])
def test_networks_say_float32_is_expected(net, args):
    shape = (3, 1, 8, 8) if isinstance(net, UNet8) else (3, 2)
    with pytest.raises(TypeError, match="expects float32 input.*got torch.float64"):
        net(torch.zeros(shape, dtype=torch.float64), *args)
    net.double()                                  # a network converted on purpose takes float64
    assert net(torch.zeros(shape, dtype=torch.float64), *args).dtype == torch.float64


def test_realnvp_in_float64_is_still_allowed():
    flow = realnvp(2, n_layers=2, hidden=8, generator=torch.Generator().manual_seed(0)).double()
    assert flow.log_prob(torch.zeros(2, 2, dtype=torch.float64)).dtype == torch.float64


def test_categorical_decoder_and_encoder_say_integer_levels_are_expected():
    dec, enc = CategoricalDecoder(2), GaussianEncoder(2)
    floats = torch.rand(3, 1, 8, 8)
    with pytest.raises(TypeError, match="integer grey levels 0 .. 16.*torch.float32"):
        dec(torch.zeros(3, 2), floats)
    with pytest.raises(TypeError, match="integer grey levels 0 .. 16.*torch.float32"):
        enc(floats)
    with pytest.raises(TypeError, match="integer grey levels"):
        VAE(enc, dec).elbo(floats)


def test_negative_clip_grad_norm_is_refused():
    with pytest.raises(ValueError, match="clip_grad_norm must be None or a finite number > 0, "
                                         "got -1.0"):
        TrainConfig(10, clip_grad_norm=-1.0)
