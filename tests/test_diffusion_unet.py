"""Tests of gmtext.nn.unet: shapes, time conditioning, zero start, every parameter trained."""

from __future__ import annotations

import pytest
import torch

from gmtext.diffusion import VPSchedule, denoising_loss
from gmtext.diffusion.training import gradient_check
from gmtext.nn import ConditionalMLP
from gmtext.nn.unet import FlatImageModel, UNet8


def test_unet_shapes_zero_start_and_time_dependence():
    net = UNet8(channels=16)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([0.1, 0.5, 0.9])
    assert torch.equal(net(x, t), torch.zeros(3, 1, 8, 8))     # zero-initialised output layer
    torch.nn.init.normal_(net.out[-1].weight)
    assert not torch.allclose(net(x, t), net(x, t.flip(0)))     # t changes the output
    assert net(x, 0.3).shape == (3, 1, 8, 8)                    # a number is broadcast


def test_unet_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    net = UNet8(channels=8)
    x0 = torch.randn(16, 1, 8, 8)
    loss = denoising_loss(net, VPSchedule(), x0, torch.Generator().manual_seed(0)).mean()
    # the zero output layer blocks every gradient but its own at step 0: take one step first
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss.backward()
    opt.step()
    report = gradient_check(net, denoising_loss(net, VPSchedule(), x0, torch.Generator().manual_seed(1)).mean())
    assert report == {"no_gradient": [], "unregistered": []}


def test_flat_image_model_and_errors():
    model = FlatImageModel(ConditionalMLP(64, 64, hidden=16, layers=1), (1, 8, 8))
    assert model(torch.zeros(2, 1, 8, 8), torch.rand(2)).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\)"):
        UNet8()(torch.zeros(2, 1, 7, 7), torch.rand(2))
    with pytest.raises(ValueError, match="entries for a batch"):
        UNet8()(torch.zeros(2, 1, 8, 8), torch.rand(3))
