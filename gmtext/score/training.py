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
from gmtext.train import History, TrainConfig, fit, minibatches

__all__ = ["fit_score", "train_ncsn"]


def fit_score(loss_fn: Callable[[Tensor], Tensor], model: nn.Module, data: Tensor, steps: int,
              generator: torch.Generator, batch_size: int = 256, lr: float = 1e-3,
              ema_decay: float | None = None, max_seconds: float | None = None,
              progress: bool = True, desc: str = "score") -> History:
    """Minimise ``loss_fn(batch)`` over ``model``'s parameters: Adam, a cosine learning rate to 0,
    shuffled minibatches, and (with ``ema_decay``) a weight average copied into ``model`` at the end.

    Args:
        loss_fn: ``batch (B, D) -> scalar``, e.g. ``lambda b: ncsn_loss(model, b, sigmas, g)``.
        model: the score model (its parameters are trained).
        data: ``(N, D)`` training points.
        steps: optimiser steps (a cap if ``max_seconds`` stops earlier).
        generator: shuffles the minibatches (the loss draws its own noise from its generator);
            the initial weights come from the global seed when ``model`` was built.
        batch_size: minibatch size (at most ``N``).
        lr, ema_decay, max_seconds, progress, desc: see :class:`gmtext.train.TrainConfig`.
    """
    config = TrainConfig(steps, lr=lr, lr_schedule="cosine", ema_decay=ema_decay,
                         max_seconds=max_seconds, progress=progress, desc=desc)
    batches = minibatches(data, batch_size=min(batch_size, len(data)), generator=generator)
    model.train()
    history = fit(model, loss_fn, batches, config)
    if history.ema is not None:
        model.load_state_dict(history.ema.state_dict())
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
