r"""Training a Gaussian-path network: :func:`gmtext.train.fit` on :func:`gmtext.diffusion.losses.denoising_loss`.

Diffusion (chapter 6) and flow matching (section 6.x) share one recipe, so that networks trained for
the same steps compare fairly: batches drawn with replacement (or fresh samples of a toy), Adam, a
cosine learning rate decaying to lr/20, and a weight average with warm-up
(:class:`gmtext.train.TrainConfig`). The wrappers below only choose the loss. Derived in chapter 6, eq. (6.6).

Seeding: ``generator`` draws the batches, times and noise; the network's initial weights are
drawn when it is built, so seed that too (the chapters call ``config.seed_everything`` first).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gmtext import distributed
from gmtext.diffusion.flow_matching import FlowPath, cfm_loss, linear_path
from gmtext.diffusion.losses import denoising_loss
from gmtext.diffusion.process import noise_like, sample_times
from gmtext.diffusion.schedules import Schedule
from gmtext.train import History, TrainConfig, fit

__all__ = ["gaussian_path_config", "train_diffusion", "train_flow_matching", "gradient_check"]


def gaussian_path_config(steps: int, lr: float = 2e-3, ema_decay: float = 0.999,
                         max_seconds: float | None = None, progress: bool = True,
                         desc: str = "diffusion") -> TrainConfig:
    """The shared recipe: Adam at ``lr``, cosine decay to ``lr / 20``, an EMA with warm-up."""
    return TrainConfig(steps, lr=lr, lr_schedule="cosine", lr_min=1 / 20, ema_decay=ema_decay,
                       max_seconds=max_seconds, progress=progress, desc=desc)


def _draw(data: Tensor | Callable[..., Tensor], batch_size: int,
          generator: torch.Generator) -> Callable[[int], Tensor]:
    if isinstance(data, Tensor):
        if data.shape[0] < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {data.shape[0]} training examples")
        return lambda step: data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)]
    if callable(data):
        return lambda step: data(batch_size, generator=generator)      # a toy: infinite data
    raise TypeError(f"data must be a tensor or a callable(n, generator), got {type(data).__name__}")


def train_diffusion(model: nn.Module, schedule: Schedule, data: Tensor | Callable[..., Tensor],
                    steps: int, generator: torch.Generator, batch_size: int = 256, lr: float = 2e-3,
                    prediction_type: str = "epsilon", power: float = 1.0, ema_decay: float = 0.999,
                    transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
                    max_seconds: float | None = None, progress: bool = True,
                    desc: str = "diffusion") -> tuple[nn.Module, History]:
    r"""Minimise DDPM's :math:`L_{\text{simple}}` (uniform weighting, mean over pixels) and return the EMA network.

    Args:
        model: the network ``model(x_t, t)``.
        schedule: the forward process.
        data: a tensor ``(N, D...)`` to draw minibatches from, or ``data(n, generator)`` that
            draws fresh samples (a toy's ``sample``: infinite data).
        steps, lr, ema_decay, max_seconds, progress, desc: see :func:`gaussian_path_config`.
        generator: all randomness of training (batches, times, noise).
        batch_size: the batch size (per process under ``torchrun``: N processes train on
            global batches of ``N * batch_size``, with the steps of one process on that batch).
        prediction_type: the network's target.
        power: see :func:`gmtext.diffusion.process.sample_times`.
        transform: applied to each batch, e.g. ``lambda x, g: scale_digits(x, "signed_bins", g).y``.

    Returns:
        ``(ema_model, history)``: an averaged copy in eval mode, and the loss history.
    """
    draw = _draw(data, batch_size * distributed.world_size(), generator)

    def examples(step: int) -> tuple[Tensor, Tensor, Tensor]:
        # the global batch with its times and noise, so that each process's shard keeps its own
        batch = draw(step)
        batch = transform(batch, generator) if transform is not None else batch
        t = sample_times(schedule, batch.shape[0], generator, power=power)
        return batch, t, noise_like(batch, generator)

    def loss_fn(batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        x0, t, noise = batch
        return denoising_loss(model, schedule, x0, t=t, noise=noise,
                              prediction_type=prediction_type).mean()

    model.train()
    history = fit(model, loss_fn, examples, gaussian_path_config(steps, lr, ema_decay, max_seconds, progress, desc))
    return history.ema, history


def train_flow_matching(model: nn.Module, data: Tensor, steps: int, *, generator: torch.Generator,
                        path: FlowPath | None = None, batch_size: int = 256, lr: float = 2e-3,
                        ema_decay: float = 0.999, max_seconds: float | None = None,
                        progress: bool = True) -> tuple[nn.Module, History]:
    r"""Minimise :func:`gmtext.diffusion.flow_matching.cfm_loss` over ``data`` ``(N, D)``: the recipe of
    :func:`train_diffusion` with the flow-matching loss. Returns ``(ema_model, history)``."""
    if not isinstance(data, Tensor) or data.ndim != 2:
        raise ValueError(f"data must be a tensor (N, D), got "
                         f"{tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__}")
    path = linear_path() if path is None else path
    model.train()
    history = fit(model, lambda x1: cfm_loss(model, x1, generator, path), _draw(data, batch_size, generator),
                  gaussian_path_config(steps, lr, ema_decay, max_seconds, progress, f"flow matching ({path.name})"))
    return history.ema, history


def gradient_check(model: nn.Module, loss: Tensor) -> dict[str, list[str]]:
    """Which trainable tensors the ``loss`` depends on, compared with what ``model`` registers.

    Returns a dict with two lists (both empty when all is well):

    - ``"no_gradient"``: registered parameters whose gradient is missing or all zero after
      ``loss.backward()`` (dead blocks, a branch the forward pass never uses);
    - ``"unregistered"``: shapes of leaf tensors that require grad and feed the loss but are not
      parameters of ``model`` -- the signature of networks kept in a plain Python list, which the
      optimiser never sees, never trains and never saves.
    """
    registered = {id(p) for p in model.parameters()}
    leaves, seen, stack = [], set(), [loss.grad_fn]
    while stack:                                     # walk the autograd graph to its leaves
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.append(node.variable)
        stack.extend(child for child, _ in node.next_functions)
    model.zero_grad(set_to_none=True)
    loss.backward()
    dead = [name for name, p in model.named_parameters()
            if p.grad is None or not bool((p.grad != 0).any())]
    model.zero_grad(set_to_none=True)
    return {"no_gradient": dead,
            "unregistered": [str(tuple(v.shape)) for v in leaves if id(v) not in registered]}
