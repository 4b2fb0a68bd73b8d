r"""Training a diffusion network: :func:`gmtext.train.fit` on :func:`gmtext.diffusion.process.diffusion_loss`.

Also the book's scaling of the 8x8 digits to the signed range a diffusion model expects.
Derived in chapter 6, eq. (6.6).

Example:
    >>> x = torch.tensor([[0.0, 16.0]])
    >>> signed_to_digits(digits_to_signed(x)).tolist()
    [[0.0, 16.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from gmtext.diffusion.process import Schedule, diffusion_loss
from gmtext.train import EMA, History, fit

#: Grey levels of the digits (0..16).
LEVELS = 17
#: :math:`-\log|\mathrm{d}y/\mathrm{d}x|` summed over 64 pixels for :func:`digits_to_signed`, in nats:
#: add it to a negative log-density of the signed data to get nats on the 0..16 scale (DATA.md).
SIGNED_LOG_JACOBIAN = 64 * math.log(LEVELS / 2)


def digits_to_signed(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Digits on 0..16 to :math:`y = 2(x + u)/17 - 1 \in (-1, 1)`.

    With a ``generator``, :math:`u \sim U[0, 1)` (uniform dequantization, so a density of
    :math:`y` bounds the discrete likelihood); without one, :math:`u = 1/2` (bin centres).
    """
    x = x.float()
    u = 0.5 if generator is None else torch.rand(x.shape, generator=generator).to(x.device)
    return 2 * (x + u) / LEVELS - 1


def signed_to_digits(y: Tensor) -> Tensor:
    """The inverse of :func:`digits_to_signed` followed by rounding down: 0..16 floats."""
    return torch.floor((y + 1) * LEVELS / 2).clamp(0, LEVELS - 1)


def train_diffusion(model: nn.Module, schedule: Schedule, data: Tensor | Callable[..., Tensor],
                    steps: int, generator: torch.Generator, batch_size: int = 256, lr: float = 2e-3,
                    prediction_type: str = "epsilon", power: float = 1.0, ema_decay: float = 0.999,
                    transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
                    max_seconds: float | None = None, progress: bool = True,
                    desc: str = "diffusion") -> tuple[nn.Module, History]:
    r"""Minimise the simple loss with Adam (cosine-decayed learning rate) and return the EMA network.

    Args:
        model: the network ``model(x_t, t)``.
        schedule: the forward process.
        data: a tensor ``(N, D...)`` to draw minibatches from, or ``data(n, generator)`` that
            draws fresh samples (a toy's ``sample``: infinite data).
        steps: optimiser steps (a cap when ``max_seconds`` stops training first).
        generator: all randomness of training (batches, times, noise).
        batch_size, lr: Adam's batch size and peak learning rate.
        prediction_type: the network's target.
        power: see :func:`gmtext.diffusion.process.sample_times`.
        ema_decay: decay of the weight average returned (after a warm-up of
            :math:`\min(\text{ema\_decay}, (1+k)/(10+k))` at step :math:`k`).
        transform: applied to each batch, e.g. ``digits_to_signed`` (dequantization).
        max_seconds: wall-time cap.

    Returns:
        ``(ema_model, history)``: an averaged copy in eval mode, and the loss history.
    """
    if isinstance(data, Tensor):
        if data.shape[0] < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {data.shape[0]} training examples")
        draw = lambda step: data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)]  # noqa: E731
    elif callable(data):
        draw = lambda step: data(batch_size, generator=generator)  # noqa: E731
    else:
        raise TypeError(f"data must be a tensor or a callable(n, generator), got {type(data).__name__}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr / 20)
    ema = EMA(model, min(ema_decay, 0.1))

    def loss_fn(batch: Tensor) -> Tensor:
        batch = transform(batch, generator) if transform is not None else batch
        return diffusion_loss(model, schedule, batch, generator, prediction_type, power=power)

    def lr_step(step: int, loss: float, history: History) -> bool:
        scheduler.step()
        # EMA warm-up: average over at most ~the steps taken so far, so that a short run (or one
        # cut by max_seconds) is not an average that still remembers the random initialisation
        ema.decay = min(ema_decay, (1 + step) / (10 + step))
        return False

    model.train()
    history = fit(loss_fn, optimizer, draw, steps, model=model, ema=ema, callbacks=[lr_step],
                  max_seconds=max_seconds, progress=progress, desc=desc)
    return ema.shadow.eval(), history


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


__all__ = ["LEVELS", "SIGNED_LOG_JACOBIAN", "digits_to_signed", "signed_to_digits",
           "train_diffusion", "gradient_check"]
