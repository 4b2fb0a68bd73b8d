"""Data parallelism: N processes with batches of b take the steps of one process with batches of N b.

Two CPU processes (gloo, a file rendezvous, so no port is shared with other test workers) train
chapter 6's denoiser with ``train_diffusion`` for a few steps; their final weights must equal those
of one process on the doubled batch, up to the order of float additions in the gradient average.
"""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gmtext import config, distributed
from gmtext.diffusion import VPSchedule
from gmtext.diffusion.training import train_diffusion
from gmtext.nn.embeddings import ConditionalMLP
from gmtext.train import TrainConfig, fit

STEPS, BATCH = 6, 32


def _data() -> torch.Tensor:
    return torch.randn(400, 2, generator=config.generator(1)) * torch.tensor([2.0, 0.5])


def _train(batch_size: int, init_seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(init_seed)
    net = ConditionalMLP(2, hidden=32)
    ema, hist = train_diffusion(net, VPSchedule(), _data(), STEPS, config.generator(2),
                                batch_size=batch_size, lr=1e-2, progress=False)
    return {"net": torch.cat([p.detach().flatten() for p in net.parameters()]),
            "ema": torch.cat([p.detach().flatten() for p in ema.parameters()]),
            "loss": torch.tensor(hist.loss)}


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        # rank 1 builds its network from another seed: fit starts every rank from rank 0's weights
        torch.save(_train(BATCH, init_seed=0 if rank == 0 else 99), f"{out_dir}/rank{rank}.pt")
        torch.save(_helpers(rank), f"{out_dir}/shard{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The two processes, started once. Forked where the system can (as DataLoader workers are):
    a spawned process imports torch again, seconds on a busy machine."""
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_worker, args=(2, str(out / "rendezvous"), str(out)), nprocs=2, join=True,
                       start_method="fork")
    return out


def test_two_processes_equal_one_process_with_the_doubled_batch(runs):
    single = _train(2 * BATCH, init_seed=0)
    for rank in (0, 1):
        run = torch.load(runs / f"rank{rank}.pt")
        for key in ("net", "ema", "loss"):
            torch.testing.assert_close(run[key], single[key], rtol=1e-4, atol=1e-5, msg=f"rank {rank}, {key}")
    # and the doubled batch is not the same training as the single batch (the test can fail)
    assert not torch.allclose(_train(BATCH, init_seed=0)["net"], single["net"], atol=1e-3)


def _helpers(rank: int) -> dict:
    """On each rank: its shard of a batch, the error for an uneven one, and an averaged gradient."""
    rows = distributed.shard((torch.arange(6), {"y": torch.arange(6) * 10}))
    try:
        distributed.shard(torch.arange(5))
        uneven = ""
    except ValueError as err:
        uneven = str(err)
    w = torch.zeros(1, requires_grad=True)
    # each rank's loss pulls w to its own target; the average gradient pulls to their mean
    fit(None, lambda: (w - 4.0 * rank).pow(2).sum(), None,
        TrainConfig(200, lr=0.05, optimizer="sgd", progress=False), optimizer=torch.optim.SGD([w], lr=0.05))
    return {"rows": rows, "uneven": uneven, "w": w.detach()}


def test_shards_split_every_tensor_and_gradients_are_averaged(runs):
    got = [torch.load(runs / f"shard{rank}.pt") for rank in (0, 1)]
    assert got[0]["rows"][0].tolist() == [0, 1, 2] and got[1]["rows"][1]["y"].tolist() == [30, 40, 50]
    assert all("does not split into 2 equal shards" in g["uneven"] for g in got)
    for g in got:                                   # the minimiser of the mean of both losses: w = 2
        assert float(g["w"]) == pytest.approx(2.0, abs=1e-4)
