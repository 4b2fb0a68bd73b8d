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

from typing import Any

import torch
from torch import Tensor

from gmtext.config import generator_device
from gmtext.flows.base import Flow
from gmtext.mle import dequantize
from gmtext.distributions import log_mean_exp
from gmtext.train import History, TrainConfig, fit, minibatches

__all__ = ["train_flow", "mean_nll"]


def mean_nll(flow: Flow, x: Tensor, generator: torch.Generator | None = None,
             dequantize_data: bool = False, samples: int = 1) -> float:
    r"""Mean negative log-likelihood :math:`-\frac1N\sum_n \log q(x_n)` in nats, in eval mode.

    With ``dequantize_data`` the integer data ``(N, ...)`` are dequantized with ``generator``; with
    ``samples`` :math:`K` noise draws per point it returns the importance-weighted bound

    .. math:: -\log P(x) \le \mathbb E_{u_{1:K}}\Big[-\log \frac1K\sum_{k=1}^K q(x + u_k)\Big]
              \le \mathbb E_u[-\log q(x+u)],

    an upper bound on the discrete NLL that tightens as :math:`K` grows (the uniform noise is the
    proposal, as in the IWAE bound of chapter 2; Burda et al. 2016, arXiv:1509.00519). ``K = 1``
    is the plain dequantized bound of chapter 4, eq. (4.15). Derived in chapter 4, eq. (4.19).

    Example:
        >>> from gmtext.flows import realnvp
        >>> round(mean_nll(realnvp(2, n_layers=1), torch.zeros(4, 2)), 4)
        1.8379
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    if samples > 1 and not dequantize_data:
        raise ValueError("samples > 1 averages over dequantization noise: "
                         "pass dequantize_data=True")
    was_training = flow.training
    flow.eval()
    with torch.no_grad():
        if dequantize_data:
            log_q = torch.stack([flow.log_prob(dequantize(x, generator))
                                 for _ in range(samples)])                        # (K, N)
            value = float(-log_mean_exp(log_q, 0).mean())
        else:
            value = float(-flow.log_prob(x).mean())
    flow.train(was_training)
    return value


def train_flow(flow: Flow, data: Tensor | Any, steps: int, *, generator: torch.Generator,
               batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 0.0,
               dequantize_data: bool = False, val: Tensor | None = None, every: int = 50,
               patience: int = 10, max_seconds: float | None = None, anneal: bool = False,
               ema: float | None = None, clip_grad_norm: float | None = None,
               progress: bool = True, desc: str = "flow") -> History:
    r"""Fit ``flow`` by maximum likelihood with Adam (Kingma & Ba 2015, arXiv:1412.6980).

    .. math:: \min_\theta -\frac1B \sum_{b} \log q_\theta(x_b)

    Derived in chapter 4, eq. (4.7) (Dinh et al. 2017, arXiv:1605.08803); the module's example
    runs it. A thin wrapper: the loss, the data-dependent ActNorm start and dequantization, then
    :func:`gmtext.train.fit` with a :class:`~gmtext.train.TrainConfig`.

    Args:
        flow: the model.
        data: training points ``(N, D)`` (float), integer images ``(N, ...)`` with
            ``dequantize_data=True``, or a distribution with ``sample(n, generator=...)`` (a toy
            from :func:`gmtext.data.toy.load`): then every step draws a fresh batch, so the
            model never sees a point twice and cannot overfit.
        steps: optimiser steps.
        generator: all randomness of training: the batches (fresh samples or the minibatch
            order), the dequantization noise and the seed of the validation noise. Not the
            weights: the builders' ``generator=`` (:func:`~gmtext.flows.realnvp`, ...) draws
            only the rotations and permutations, while the coupling networks are initialised
            by torch's global generator when the flow is built, which also draws the dropout
            masks during training. Seed it (``gmtext.config.seed_everything``) before building.
        batch_size, lr, weight_decay: optimiser settings.
        dequantize_data: add fresh uniform noise to every batch (eq. (4.15)).
        val: validation data; with it, early stopping on the validation NLL every ``every``
            steps with ``patience`` (the best weights are restored).
        max_seconds: wall-time safety cap.
        anneal: decay the learning rate to zero on a cosine over ``steps``,
            :math:`\eta_k = \tfrac12\eta_0(1 + \cos(\pi k / K))`.
        ema: if given, keep an exponential moving average of the weights with this decay
            (no warm-up) and load it into ``flow`` at the end; with ``val`` the average is
            what early stopping judges, and the best average is loaded.
        clip_grad_norm: clip the gradient's global norm to this value, so that one batch with
            an extreme log-density (a point far in a tail, where the scales of many layers
            multiply) cannot throw the weights far away (chapter 4, section on numerical safety).
        progress: show a progress bar.
        desc: the progress bar's label.

    Returns:
        The :class:`~gmtext.train.History` (validation NLL under ``logs["val"]``).
    """
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a gmtext.flows.Flow, got {type(flow).__name__}")
    fresh = not isinstance(data, Tensor)
    if fresh and not callable(getattr(data, "sample", None)):
        raise TypeError("data must be a tensor or a distribution with sample(n, generator=...), "
                        f"got {type(data).__name__}")
    if fresh and dequantize_data:
        raise TypeError("dequantize_data needs integer data as a tensor, not a distribution")
    if not fresh and dequantize_data == data.is_floating_point():
        raise TypeError("integer data need dequantize_data=True and float data need False; got "
                        f"{data.dtype} with dequantize_data={dequantize_data}")
    config = TrainConfig(steps, lr=lr, weight_decay=weight_decay,
                         lr_schedule="cosine" if anneal else "constant", ema_decay=ema,
                         ema_warmup=False, clip_grad_norm=clip_grad_norm, max_seconds=max_seconds,
                         eval_every=None if val is None else every, patience=patience,
                         progress=progress, desc=desc)
    if not fresh:
        batch_size = min(batch_size, data.shape[0])
    flow.train()
    with torch.no_grad():                             # data-dependent ActNorm initialisation
        first = data.sample(1024, generator=generator) if fresh else data[:min(1024, len(data))]
        flow.log_prob(dequantize(first, generator) if dequantize_data else first)

    def loss_fn(batch: Tensor) -> Tensor:
        points = dequantize(batch, generator) if dequantize_data else batch
        return -flow.log_prob(points).mean()

    if fresh:
        def batches(step: int) -> Tensor:
            return data.sample(batch_size, generator=generator)
    else:
        batches = minibatches(data, batch_size=batch_size, generator=generator)
    evaluate = None
    if val is not None:
        seed = int(torch.randint(2**31, (1,), generator=generator, device=generator_device(generator)))
        val_gen = torch.Generator().manual_seed(seed)
        state = val_gen.get_state()

        def evaluate() -> float:
            val_gen.set_state(state)                  # the same noise at every check
            return mean_nll(flow, val, val_gen, dequantize_data)

    history = fit(flow, loss_fn, batches, config, evaluate=evaluate)
    if history.ema is not None:
        flow.load_state_dict(history.ema.state_dict())
    flow.eval()
    return history
