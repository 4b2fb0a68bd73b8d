r"""Maximum-likelihood training of a flow: minimise :math:`-\frac1N\sum_n \log q_\theta(x_n)`.

A flow's density is exact, so its training loss is the negative log-likelihood itself
(chapter 1, eq. (1.4); chapter 4, eq. (4.7)). For integer data (the digits) each batch is
dequantized afresh, :math:`x + u`, :math:`u\sim\mathcal U[0,1)^D` (chapter 4, eq. (4.15)).

Example:
    >>> from gmtext.flows import realnvp
    >>> gen = torch.Generator().manual_seed(0)
    >>> flow = realnvp(2, n_layers=2, hidden=16, generator=gen)
    >>> hist = train_flow(flow, torch.randn(256, 2, generator=gen), steps=20, generator=gen,
    ...                   progress=False)
    >>> len(hist.loss)
    20
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from gmtext.flows.base import Flow
from gmtext.mle import dequantize
from gmtext.train import EarlyStopping, History, fit, minibatches

__all__ = ["train_flow", "mean_nll"]


def mean_nll(flow: Flow, x: Tensor, generator: torch.Generator | None = None,
             dequantize_data: bool = False) -> float:
    r"""Mean negative log-likelihood :math:`-\frac1N\sum_n \log q(x_n)` in nats, in eval mode.

    With ``dequantize_data`` the integer data ``(N, ...)`` are dequantized once with ``generator``
    (an upper bound on the discrete NLL, chapter 4, eq. (4.15)).

    Example:
        >>> from gmtext.flows import realnvp
        >>> round(mean_nll(realnvp(2, n_layers=1), torch.zeros(4, 2)), 4)
        1.8379
    """
    was_training = flow.training
    flow.eval()
    with torch.no_grad():
        points = dequantize(x, generator) if dequantize_data else x
        value = float(-flow.log_prob(points).mean())
    flow.train(was_training)
    return value


def train_flow(flow: Flow, data: Tensor, steps: int, *, generator: torch.Generator,
               batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 0.0,
               dequantize_data: bool = False, val: Tensor | None = None, every: int = 50,
               patience: int = 10, max_seconds: float | None = None, anneal: bool = False,
               progress: bool = True, desc: str = "flow") -> History:
    r"""Fit ``flow`` by maximum likelihood with Adam (Kingma & Ba 2015, arXiv:1412.6980).

    .. math:: \min_\theta -\frac1B \sum_{b} \log q_\theta(x_b)

    Derived in chapter 4, eq. (4.7) (Dinh et al. 2017, arXiv:1605.08803); the module's example
    runs it.

    Args:
        flow: the model.
        data: training points ``(N, D)`` (float), or integer images ``(N, ...)`` with
            ``dequantize_data=True``.
        steps: optimiser steps.
        generator: randomness of the minibatches and of the dequantization noise.
        batch_size, lr, weight_decay: optimiser settings.
        dequantize_data: add fresh uniform noise to every batch (eq. (4.15)).
        val: validation data; with it, early stopping on the validation NLL every ``every``
            steps with ``patience`` (the best weights are restored).
        max_seconds: wall-time budget.
        anneal: decay the learning rate to zero on a cosine,
            :math:`\eta = \tfrac12\eta_0(1 + \cos\pi r)`, where :math:`r` is the larger of the
            fractions of ``steps`` and of ``max_seconds`` used, so that the schedule ends when
            training ends even on a busy machine.
        progress: show a progress bar.
        desc: the progress bar's label.

    Returns:
        The :class:`~gmtext.train.History` (validation NLL under ``logs["val"]``).
    """
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a gmtext.flows.Flow, got {type(flow).__name__}")
    if dequantize_data == data.is_floating_point():
        raise TypeError("integer data need dequantize_data=True and float data need False; got "
                        f"{data.dtype} with dequantize_data={dequantize_data}")
    batch_size = min(batch_size, data.shape[0])
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr, weight_decay=weight_decay)
    flow.train()
    with torch.no_grad():                             # data-dependent ActNorm initialisation
        first = data[:min(1024, data.shape[0])]
        flow.log_prob(dequantize(first, generator) if dequantize_data else first)

    def loss_fn(batch: Tensor) -> Tensor:
        points = dequantize(batch, generator) if dequantize_data else batch
        return -flow.log_prob(points).mean()

    callbacks: list = []
    if anneal:
        callbacks.append(_cosine_schedule(optimizer, lr, steps, max_seconds))
    if val is not None:
        seed = int(torch.randint(2**31, (1,), generator=generator))
        val_gen = torch.Generator().manual_seed(seed)
        state = val_gen.get_state()

        def evaluate() -> float:
            val_gen.set_state(state)                  # the same noise at every check
            return mean_nll(flow, val, val_gen, dequantize_data)

        callbacks.append(EarlyStopping(flow, evaluate, every=every, patience=patience))
    history = fit(loss_fn, optimizer, minibatches(data, batch_size=batch_size, generator=generator),
                  steps, model=flow, callbacks=callbacks, max_seconds=max_seconds,
                  progress=progress, desc=desc)
    flow.eval()
    return history


def _cosine_schedule(optimizer: torch.optim.Optimizer, lr: float, steps: int,
                     max_seconds: float | None):
    start = time.perf_counter()

    def callback(step: int, loss: float, history: History) -> bool:
        used = (step + 1) / steps
        if max_seconds is not None:
            used = max(used, (time.perf_counter() - start) / max_seconds)
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * min(used, 1.0)))
        return False

    return callback
