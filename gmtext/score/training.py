r"""Training a score model: Adam on minibatches of the data, with an EMA of the weights.

The objective is any of :mod:`gmtext.score.losses`; this module only wires it to
:func:`gmtext.train.fit`, so that every score model of chapter 5 (and its benchmark) is trained
the same way. Song & Ermon (2020, arXiv:2006.09011) recommend an exponential moving average of the
weights for sampling; it is copied into the model at the end.

Example:
    >>> import torch
    >>> from gmtext.nn import MLP
    >>> from gmtext.score.losses import denoising_score_matching
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(512, 2, generator=g)
    >>> net = MLP(2, 2, hidden=16, layers=1)
    >>> hist = fit_score(lambda b: denoising_score_matching(net, b, 0.5, g), net, x, 20, g,
    ...                  progress=False)
    >>> len(hist.loss)
    20
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from gmtext.score.losses import ncsn_loss
from gmtext.train import EMA, History, fit, minibatches

__all__ = ["fit_score", "train_ncsn"]


def fit_score(loss_fn: Callable[[Tensor], Tensor], model: nn.Module, data: Tensor, steps: int,
              generator: torch.Generator, batch_size: int = 256, lr: float = 1e-3,
              ema_decay: float | None = None, max_seconds: float | None = None,
              progress: bool = True, desc: str = "score") -> History:
    """Minimise ``loss_fn(batch)`` over ``model``'s parameters with Adam and a cosine learning rate.

    Args:
        loss_fn: ``batch (B, D) -> scalar``, e.g. ``lambda b: ncsn_loss(model, b, sigmas, g)``.
        model: the score model (its parameters are trained).
        data: ``(N, D)`` training points.
        steps: optimiser steps (a cap if ``max_seconds`` stops earlier).
        generator: shuffles the minibatches.
        batch_size: minibatch size (at most ``N``).
        lr: peak learning rate; it decays to 0 by a cosine over ``steps``.
        ema_decay: if given, an EMA of the weights is kept and copied into ``model`` at the end.
        max_seconds: wall-time cap.
        progress: show a progress bar.
        desc: the bar's label.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    ema = None if ema_decay is None else EMA(model, ema_decay)

    batches = minibatches(data, batch_size=min(batch_size, len(data)), generator=generator)
    model.train()
    history = fit(loss_fn, optimizer, batches, steps, model=model, ema=ema,
                  callbacks=[lambda step, loss, hist: schedule.step()],   # after each optimiser step
                  max_seconds=max_seconds, progress=progress, desc=desc)
    if ema is not None:
        ema.copy_to(model)
    return history


def train_ncsn(model: nn.Module, data: Tensor, sigmas: Tensor | Sequence[float], steps: int,
               generator: torch.Generator, **kwargs: object) -> History:
    r"""Train a noise-conditional score network with the loss of eq. (5.11) (:func:`~gmtext.score.losses.ncsn_loss`).

    Keyword arguments go to :func:`fit_score` (``batch_size``, ``lr``, ``ema_decay``, ...).
    Chapter 5, eq. (5.11); Song & Ermon (2019, arXiv:1907.05600).
    """
    sigmas = torch.as_tensor(sigmas, dtype=data.dtype)
    return fit_score(lambda batch: ncsn_loss(model, batch, sigmas, generator), model, data, steps,
                     generator, **kwargs)
