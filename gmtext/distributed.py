r"""Data-parallel training under ``torchrun``: shards of one batch, averaged gradients, one logger.

Launched as ``torchrun --nproc_per_node N script.py``, each of the N processes runs the same
script; once the script (or :func:`gmtext.train.fit`) finds ``torch.distributed`` initialised, every
process draws the *same* global batch of :math:`N b` examples from the same seeded generator, keeps
its own :math:`b` rows (:func:`shard`), and averages its gradient with the others
(:func:`average_gradients`). With equal shards the average of the shard means is the mean over the
global batch,

.. math:: \frac1N \sum_{r=1}^{N} \nabla_\theta \frac1b \sum_{i \in S_r} \ell_i
          = \nabla_\theta \frac{1}{Nb} \sum_{i=1}^{Nb} \ell_i ,

so N processes take exactly the steps of one process with the N-fold batch (up to the order of
float additions). This is what ``DistributedDataParallel`` computes; gmtext all-reduces the gradients
itself because its losses are closures over the bare module, which DDP's hooks never see
(docs/decisions.md, decision 33). Only rank 0 draws a progress bar and writes checkpoints.

Outside ``torchrun`` (no process group) every function is the identity: :func:`world_size` is 1.

Example:
    >>> world_size(), rank(), is_main()
    (1, 0, True)
    >>> shard(torch.arange(6)).tolist()
    [0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["is_distributed", "world_size", "rank", "is_main", "shard", "average_gradients",
           "broadcast_module", "mean_over_ranks", "any_rank", "init_from_env", "map_tensors"]


def is_distributed() -> bool:
    """True when a process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """True on rank 0, the process that logs and saves."""
    return rank() == 0


def init_from_env(backend: str | None = None) -> bool:
    """Initialise the process group from ``torchrun``'s environment variables, if they are set.

    ``backend`` defaults to ``"nccl"`` when CUDA is present, else ``"gloo"``. On CUDA each process
    takes the GPU ``LOCAL_RANK``. Returns True if a group with more than one process now exists.
    """
    import os

    if "WORLD_SIZE" not in os.environ or dist.is_initialized():
        return is_distributed()
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return is_distributed()


def shard(batch: Any) -> Any:
    """This rank's rows of every tensor in ``batch`` (a tensor, or a tuple/list/dict of them).

    Rank ``r`` of ``N`` keeps rows ``[r B/N, (r+1) B/N)`` of a batch of ``B`` rows; other values pass
    unchanged.

    Raises:
        ValueError: if ``B`` is not a multiple of ``N`` (unequal shards would weight the examples
            of the smaller shard more in the averaged gradient), or tensors differ in ``B``.
    """
    n = world_size()
    if n == 1:
        return batch
    sizes = {t.shape[0] for t in _tensors(batch)}
    if len(sizes) > 1:
        raise ValueError(f"the tensors of a batch differ in their first dimension: {sorted(sizes)}")
    if sizes and next(iter(sizes)) % n:
        raise ValueError(f"a batch of {next(iter(sizes))} rows does not split into {n} equal shards; "
                         f"use a global batch size that is a multiple of {n}")
    r = rank()
    return map_tensors(batch, lambda t: t[r * (t.shape[0] // n):(r + 1) * (t.shape[0] // n)])


def average_gradients(params: Iterable[Tensor]) -> None:
    """Replace each gradient by its mean over the ranks (one all-reduce of a flat buffer).

    Parameters without a gradient are skipped; every rank must have the same ones (the same
    network and loss on every rank ensure it).
    """
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


@torch.no_grad()
def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (a common start, whatever each seeded)."""
    if not is_distributed():
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


def mean_over_ranks(value: Tensor) -> Tensor:
    """The mean of a (detached) tensor over the ranks: the loss of the global batch."""
    if not is_distributed():
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def any_rank(flag: bool, device: torch.device | None = None) -> bool:
    """True if ``flag`` is True on any rank, so that all ranks stop at the same step."""
    if not is_distributed():
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _tensors(batch: Any) -> list[Tensor]:
    if isinstance(batch, Tensor):
        return [batch]
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else ()
    return [t for v in values for t in _tensors(v)]


def map_tensors(batch: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``fn`` applied to every tensor of ``batch`` (a tensor, or nested tuples, lists, dicts)."""
    if isinstance(batch, Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        return {k: map_tensors(v, fn) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        items = [map_tensors(v, fn) for v in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    return batch
