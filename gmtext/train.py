"""One model-agnostic training loop.

:func:`fit` knows nothing about the model: it repeatedly draws a batch, calls ``loss_fn(batch)``,
and takes an optimiser step. What the loss means (a negative log-likelihood, a negative ELBO, a GAN
player's loss, a denoising loss) is the chapter's business. Progress is shown with ``tqdm.auto``
(a bar in JupyterLab, a line in a terminal), the loss history is returned, an exponential moving
average of the weights (:class:`EMA`) and callbacks such as :class:`EarlyStopping` are optional.

Example:
    >>> import torch
    >>> w = torch.zeros(1, requires_grad=True)
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> hist = fit(lambda batch: (w - batch).pow(2).mean(), opt, [torch.tensor([3.0])] * 4,
    ...            steps=100, progress=False)
    >>> round(w.item(), 3), len(hist.loss)
    (3.0, 100)
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

Callback = Callable[[int, float, "History"], "bool | None"]


@dataclass
class History:
    """What a call to :func:`fit` recorded.

    Attributes:
        loss: the training loss after every step.
        logs: other series by name, each a list of ``(step, value)`` pairs (written by callbacks).
        wall_s: training wall time in seconds.
        stopped_early: True if a callback ended training before ``steps``.
    """

    loss: list[float] = field(default_factory=list)
    logs: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    wall_s: float = 0.0
    stopped_early: bool = False

    def log(self, key: str, step: int, value: float) -> None:
        """Append ``(step, value)`` to the series ``key``."""
        self.logs.setdefault(key, []).append((step, float(value)))


class EMA:
    r"""Exponential moving average of a module's parameters and buffers.

    .. math:: \bar\theta \leftarrow \beta\,\bar\theta + (1-\beta)\,\theta

    Averaged weights give smoother samples for GANs and diffusion models (Ho et al. 2020 use
    beta = 0.9999). ``copy_to(model)`` writes the average into a module for evaluation.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards the current weights of ``model``."""
        for avg, cur in zip(self.shadow.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(cur, 1.0 - self.decay)
            else:
                avg.copy_(cur)

    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model``."""
        model.load_state_dict(self.shadow.state_dict())


class EarlyStopping:
    """Callback: evaluate every ``every`` steps, keep the best weights, stop after ``patience`` bad checks.

    With 1,000 training digits every model in the book overfits within seconds, so the validation
    split, not the step budget, decides when to stop (DATA.md). After :func:`fit` returns, the
    module holds the best weights seen (``restore_best=True``).

    Args:
        model: the module whose ``state_dict`` is kept.
        evaluate: returns a validation loss (lower is better); called under ``torch.no_grad``
            with the model in eval mode.
        every: steps between evaluations.
        patience: number of evaluations without improvement before stopping.
        name: key of the logged series in ``History.logs``.
    """

    def __init__(self, model: nn.Module, evaluate: Callable[[], float], every: int = 100,
                 patience: int = 10, name: str = "val", restore_best: bool = True) -> None:
        if every < 1 or patience < 1:
            raise ValueError(f"every and patience must be >= 1, got {every}, {patience}")
        self.model, self.evaluate, self.every, self.patience = model, evaluate, every, patience
        self.name, self.restore_best = name, restore_best
        self.best, self.best_step, self.bad = float("inf"), -1, 0
        self.best_state: dict[str, Tensor] | None = None

    def __call__(self, step: int, loss: float, history: History) -> bool:
        if (step + 1) % self.every:
            return False
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            value = float(self.evaluate())
        self.model.train(was_training)
        history.log(self.name, step, value)
        if value < self.best:
            self.best, self.best_step, self.bad = value, step, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.bad += 1
        return self.bad >= self.patience

    def on_end(self, history: History) -> None:
        if self.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def minibatches(*tensors: Tensor, batch_size: int,
                generator: torch.Generator | None = None) -> Iterator[Tensor | tuple[Tensor, ...]]:
    """Endless shuffled minibatches of ``tensors`` (all with the same first dimension).

    Yields a tensor when one tensor is given, else a tuple. Every epoch is a fresh permutation
    drawn from ``generator``; the last incomplete batch of an epoch is dropped.
    """
    if not tensors:
        raise ValueError("minibatches needs at least one tensor")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"tensors differ in length: {[t.shape[0] for t in tensors]}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            batch = tuple(t[idx.to(t.device)] for t in tensors)
            yield batch[0] if len(batch) == 1 else batch


def _end_bar(bar: tqdm, n: int, reason: str) -> None:
    """Show a bar stopped before its total as complete at ``n`` steps, with the reason.

    A part-full bar is drawn as a failure (red in a notebook), but a budget or early stopping
    ending a fit is the plan, not an error.
    """
    if bar.disable:
        return
    start = bar.start_t
    bar.reset(total=n)
    bar.start_t = start              # keep the elapsed time and rate of the whole run
    bar.update(n)
    bar.set_postfix_str(f"{bar.postfix}, {reason}" if bar.postfix else reason)


def fit(loss_fn: Callable[..., Tensor], optimizer: torch.optim.Optimizer,
        batches: Iterable[Any] | Callable[[int], Any] | None, steps: int, *,
        model: nn.Module | None = None, ema: EMA | None = None,
        callbacks: Sequence[Callback] = (), max_seconds: float | None = None,
        clip_grad_norm: float | None = None, progress: bool = True,
        desc: str = "train") -> History:
    """Minimise ``loss_fn`` for ``steps`` optimiser steps and return the :class:`History`.

    Args:
        loss_fn: ``loss_fn(batch) -> scalar tensor`` (``loss_fn()`` when ``batches`` is None).
        optimizer: any ``torch.optim`` optimiser over the parameters to train.
        batches: an iterable (restarted when exhausted, e.g. a list or :func:`minibatches`),
            a function ``step -> batch``, or ``None``.
        steps: number of optimiser steps (>= 1).
        model: the trained module; needed for ``ema`` and ``clip_grad_norm``.
        ema: an :class:`EMA` updated after every step.
        callbacks: ``cb(step, loss, history) -> bool``; returning True stops training.
            A callback with an ``on_end(history)`` method is told when training ends.
        max_seconds: stop after this much wall time (a budget, not a target).
        clip_grad_norm: clip the global gradient norm of ``model`` to this value.
        progress: show a ``tqdm`` progress bar.
        desc: the progress bar's label.

    Raises:
        ValueError: on ``steps < 1``, a missing ``model`` where one is needed, or a non-finite loss
            (the step and the loss are in the message; training never continues on NaN).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if (ema is not None or clip_grad_norm is not None) and model is None:
        raise ValueError("pass model=... when using ema or clip_grad_norm")
    draw = batch_source(batches)
    history, start = History(), time.perf_counter()
    bar = tqdm(total=steps, desc=desc, disable=not progress, mininterval=0.5)
    for step in range(steps):
        loss = loss_fn() if draw is None else loss_fn(draw(step))
        if not torch.isfinite(loss):
            raise ValueError(f"loss is {loss.item()} at step {step}: training diverged "
                             "(lower the learning rate, or check the model's inputs)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if ema is not None:
            ema.update(model)
        history.loss.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{history.loss[-1]:.4g}", refresh=False)
        bar.update(1)
        stop = any([bool(cb(step, history.loss[-1], history)) for cb in callbacks])
        timed_out = max_seconds is not None and time.perf_counter() - start > max_seconds
        if stop or timed_out:
            history.stopped_early = step + 1 < steps
            if history.stopped_early:
                _end_bar(bar, step + 1, "time cap" if timed_out and not stop else "early stop")
            break
    bar.close()
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(history)
    history.wall_s = time.perf_counter() - start
    return history


def batch_source(batches: Iterable[Any] | Callable[[int], Any] | None
                 ) -> Callable[[int], Any] | None:
    """Any source of batches as a function ``draw(step)``, the form every training loop consumes.

    A callable is returned as it is (``draw(step)``, e.g. fresh samples of a toy); an iterator is
    read until it ends; any other iterable (a list, a :func:`minibatches` generator function's
    result) is cycled for ever; ``None`` (a loss that needs no data) stays ``None``.

    Example:
        >>> draw = batch_source([1, 2])
        >>> [draw(step) for step in range(3)]
        [1, 2, 1]
    """
    if batches is None:
        return None
    if callable(batches):
        return batches
    if isinstance(batches, Iterator):
        iterator: Iterator[Any] = batches
    else:
        iterator = itertools.cycle(batches)
    return lambda step: next(iterator)
