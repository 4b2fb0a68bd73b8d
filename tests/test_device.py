"""Devices: noise is drawn on the generator's device and moved to the data's; mixed devices raise
an error naming both; training loops and checkpoints follow the model's device.

Everywhere: the checks run against torch's "meta" device (tensors without storage), so the errors
are proved on a CPU-only machine. With CUDA: a CPU generator gives the CPU run's numbers on the GPU.
"""

import pytest
import torch

from gmtext import checkpoint, config, distributed
from gmtext._validate import check_same_device, module_device
from gmtext.diffusion import DDIMSampler, DDPMSampler, VPSchedule, sample
from gmtext.diffusion.losses import denoising_loss
from gmtext.diffusion.process import noise_like
from gmtext.diffusion.training import train_diffusion
from gmtext.nn.embeddings import ConditionalMLP
from gmtext.train import TrainConfig, fit

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
META = torch.device("meta")


def _net(seed: int = 0, device: str = "cpu") -> ConditionalMLP:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ConditionalMLP(2, hidden=32).to(device)


def _data() -> torch.Tensor:
    return torch.randn(256, 2, generator=config.generator(1)) * torch.tensor([2.0, 0.5])


def _train(device: str, generator: torch.Generator, steps: int = 15) -> torch.nn.Module:
    net = _net(device=device)
    train_diffusion(net, VPSchedule(), _data(), steps, generator, batch_size=64, progress=False)
    return net


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().cpu() for p in module.parameters()])


def test_generator_helper_seeds_on_the_cpu_and_refuses_bad_seeds():
    g = config.generator(3)
    assert g.device.type == "cpu" and config.generator_device(g) == g.device
    assert config.generator_device(None) == torch.device("cpu")
    assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=torch.Generator().manual_seed(3)))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="non-negative int"):
            config.generator(bad)


def test_mixed_devices_raise_naming_both():
    with pytest.raises(ValueError, match="model is on meta but x is on cpu"):
        check_same_device(torch.nn.Linear(2, 2, device="meta"), torch.zeros(1))
    check_same_device(lambda x: x, torch.zeros(1))                     # a function runs anywhere
    check_same_device(torch.nn.Identity(), torch.zeros(1, device="meta"))
    assert module_device(torch.nn.Linear(1, 1, device="meta")) == META
    assert module_device(torch.nn.BatchNorm1d(1, affine=False)) == torch.device("cpu")  # buffers only


def test_denoising_loss_refuses_noise_times_or_output_on_another_device():
    x0 = torch.randn(8, 2, generator=config.generator(0))
    vp = VPSchedule()
    with pytest.raises(ValueError, match="noise is on meta but x0 is on cpu"):
        denoising_loss(_net(), vp, x0, noise=torch.zeros(8, 2, device="meta"), t=torch.full((8,), 0.5))
    with pytest.raises(ValueError, match="t is on meta but x0 is on cpu"):
        denoising_loss(_net(), vp, x0, config.generator(0), t=torch.full((8,), 0.5, device="meta"))
    with pytest.raises(ValueError, match="the model output is on meta but x0 is on cpu"):
        denoising_loss(lambda x, t: torch.zeros(8, 2, device="meta"), vp, x0, config.generator(0))


def test_sampler_refuses_a_model_on_another_device():
    with pytest.raises(ValueError, match="model is on meta but x is on cpu"):
        sample(_net(device="meta"), DDIMSampler(VPSchedule()), (4, 2), 3, config.generator(0), device="cpu")
    sampler = DDPMSampler(VPSchedule())
    sampler.set_timesteps(2)
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="model_output is on meta but x_t is on cpu"):
        sampler.step(torch.zeros(4, 2, device="meta"), sampler.timesteps[0], x)


def test_sample_defaults_to_the_models_device():
    net = _net().eval()
    a = sample(net, DDPMSampler(VPSchedule()), (16, 2), 5, config.generator(4))
    b = sample(net, DDPMSampler(VPSchedule()), (16, 2), 5, config.generator(4), device="cpu")
    assert a.device.type == "cpu" and torch.equal(a, b)


def test_noise_is_drawn_on_the_generators_device_then_moved():
    x = torch.zeros(3, 4, device="meta")
    noise = noise_like(x, config.generator(0))             # a CPU generator, meta data
    assert noise.device == META and noise.shape == x.shape


def test_fit_moves_each_batch_to_the_models_device():
    seen, w = [], torch.ones(1, requires_grad=True)
    model = torch.nn.Linear(2, 1, device="meta")           # its device decides; `w` is trained

    def loss_fn(batch):
        seen.append({t.device.type for t in batch})
        return (w - 2).pow(2).sum()

    fit(model, loss_fn, [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))],
        TrainConfig(3, lr=0.1, progress=False), optimizer=torch.optim.SGD([w], lr=0.1))
    assert seen == [{"meta"}] * 3 and float(w.detach()) != 1.0


def test_a_derived_generator_gives_the_numbers_of_a_passed_one():
    # train_diffusion now draws the batch's times and noise with the batch: on the CPU the result is
    # that of the generator's stream, however the generator was made
    a = _train("cpu", config.generator(2))
    b = _train("cpu", torch.Generator().manual_seed(2))
    c = _train("cpu", config.seed_everything(2))
    assert torch.equal(_flat(a), _flat(b)) and torch.equal(_flat(a), _flat(c))


def test_checkpoint_loads_onto_the_modules_device(tmp_path):
    path = checkpoint.save(_net(5).state_dict(), tmp_path / "net.pt")
    target = _net(6, device="meta")
    checkpoint.load(target, path)
    assert module_device(target) == META


def test_distributed_helpers_are_the_identity_without_a_process_group():
    assert (distributed.world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    batch = (torch.arange(6), {"y": torch.arange(6)})
    assert distributed.shard(batch) is batch
    assert not distributed.any_rank(False) and distributed.any_rank(True)


@cuda
def test_cuda_training_with_a_cpu_generator_matches_the_cpu_run():
    cpu = _train("cpu", config.generator(2))
    gpu = _train("cuda", config.generator(2))
    assert module_device(gpu).type == "cuda"
    torch.testing.assert_close(_flat(gpu), _flat(cpu), rtol=1e-3, atol=1e-4)


@cuda
def test_cuda_generator_trains_and_samples_on_the_gpu():
    net = _train("cuda", config.generator(2, "cuda"), steps=5).eval()
    x = sample(net, DDIMSampler(VPSchedule()), (32, 2), 5, config.generator(3, "cuda"))
    assert x.device.type == "cuda" and bool(torch.isfinite(x).all())


@cuda
def test_cuda_sampling_and_checkpoint_follow_the_model(tmp_path):
    net = _net().eval()
    cpu = sample(net, DDPMSampler(VPSchedule()), (64, 2), 10, config.generator(4))
    path = checkpoint.save(net.state_dict(), tmp_path / "net.pt")
    gpu_net = checkpoint.load(_net(7, device="cuda"), path).eval()
    gpu = sample(gpu_net, DDPMSampler(VPSchedule()), (64, 2), 10, config.generator(4))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
