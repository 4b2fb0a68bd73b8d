"""One model-agnostic training loop and the one configuration every trainer in the book uses.

:func:`fit` knows nothing about the model: it repeatedly draws a batch, calls ``loss_fn(batch)``
and takes an optimiser step. What the loss means (a negative log-likelihood, a negative ELBO, a
denoising loss) is the chapter's business. Everything else a trainer varies (optimiser, learning
rate schedule, weight average, clipping, early stopping, the progress bar) is one frozen
:class:`TrainConfig`, so a family writes its loss and at most a thin wrapper.

Example:
    >>> import torch
    >>> w = torch.nn.Linear(1, 1, bias=False)
    >>> _ = torch.nn.init.zeros_(w.weight)
    >>> hist = fit(w, lambda x: (w(x) - 3 * x).pow(2).mean(), [torch.ones(4, 1)],
    ...            TrainConfig(steps=200, lr=0.2, lr_schedule="cosine", progress=False))
    >>> round(w.weight.item(), 2), len(hist.loss)
    (3.0, 200)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from gmtext import distributed
from gmtext._validate import module_device
from gmtext.data.batches import batch_source, minibatches
from gmtext.snapshots import EMA, EarlyStopping, _positive_int, evaluate_average

Callback = Callable[[int, float, "History"], "bool | None"]

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def _optional_positive(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                  and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be None or a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: every field a trainer in the book varies, checked when the config is made.

    The field comments are the documentation; :func:`fit` applies them in this order at every
    step: loss, backward, gradient clipping, optimiser step, learning-rate step, EMA update,
    evaluation (every ``eval_every`` steps), callbacks, time cap.
    """

    steps: int                          # optimiser steps (>= 1)
    lr: float = 1e-3                    # peak learning rate
    optimizer: str = "adam"             # one of OPTIMIZERS (adamw: Loshchilov & Hutter 2019)
    weight_decay: float = 0.0           # L2 penalty (adam, sgd) or decoupled decay (adamw)
    lr_schedule: str = "constant"       # one of LR_SCHEDULES
    lr_min: float = 0.0                 # cosine decays to lr * lr_min (a fraction of lr) by `steps`
    ema_decay: float | None = None      # None: no weight average
    ema_warmup: bool = True             # k-th EMA update uses min(ema_decay, (1 + k) / (10 + k))
    clip_grad_norm: float | None = None  # clip the global gradient norm (> 0) of the model
    max_seconds: float | None = None    # wall-time safety cap (> 0)
    eval_every: int | None = None       # early stopping: `evaluate()` every N steps (None: off)
    patience: int = 10                  # evaluations without improvement before stopping
    progress: bool = True               # a tqdm.auto bar
    desc: str = "train"                 # the bar's label

    def __post_init__(self) -> None:
        _positive_int("steps", self.steps)
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; "
                             f"valid: {', '.join(OPTIMIZERS)}")
        if not isinstance(self.weight_decay, (int, float)) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; "
                             f"valid: {', '.join(LR_SCHEDULES)}")
        if not isinstance(self.lr_min, (int, float)) or not 0 <= self.lr_min <= 1:
            raise ValueError(f"lr_min is a fraction of lr and must be in [0, 1], "
                             f"got {self.lr_min!r}")
        if self.ema_decay is not None and not (isinstance(self.ema_decay, (int, float))
                                               and 0 <= self.ema_decay < 1):
            raise ValueError(f"ema_decay must be None or in [0, 1), got {self.ema_decay!r}")
        _optional_positive("clip_grad_norm", self.clip_grad_norm)
        _optional_positive("max_seconds", self.max_seconds)
        if self.eval_every is not None:
            _positive_int("eval_every", self.eval_every)
        _positive_int("patience", self.patience)


def make_optimizer(params: Iterable[Tensor] | Iterable[dict], config: TrainConfig
                   ) -> torch.optim.Optimizer:
    """The optimiser named by ``config.optimizer`` with its ``lr`` and ``weight_decay``.

    Example:
        >>> type(make_optimizer([torch.zeros(1, requires_grad=True)], TrainConfig(1))).__name__
        'Adam'
    """
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return kind[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay)


def make_lr_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig
                      ) -> torch.optim.lr_scheduler.LambdaLR:
    r"""The learning-rate schedule, to be stepped once after every optimiser step.

    ``"cosine"`` (Loshchilov & Hutter 2017, arXiv:1608.03983, without restarts) uses, after
    :math:`k` steps of :math:`K`,

    .. math:: \eta_k = \eta\,\Big[m + (1 - m)\,\tfrac12\big(1 + \cos(\pi k / K)\big)\Big],

    with :math:`m` = ``lr_min``; ``"constant"`` keeps :math:`\eta`.

    Example:
        >>> opt = make_optimizer([torch.zeros(1, requires_grad=True)], TrainConfig(1))
        >>> sched = make_lr_scheduler(opt, TrainConfig(2, lr_schedule="cosine"))
        >>> [opt.step() or sched.step() or opt.param_groups[0]["lr"] for _ in range(2)]
        [0.0005, 0.0]
    """
    steps, floor = config.steps, config.lr_min
    if config.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0)

    def cosine(k: int) -> float:
        return floor + (1 - floor) * (0.5 * (1 + math.cos(math.pi * (min(k, steps) / steps))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)


@dataclass
class History:
    """What a call to :func:`fit` recorded.

    Attributes:
        loss: the training loss after every step.
        logs: other series by name, each a list of ``(step, value)`` pairs (``"val"``: evaluations).
        wall_s: training wall time in seconds.
        stopped_early: True if early stopping, a callback or the time cap ended training.
        ema: the weight average (eval mode) when ``config.ema_decay`` is set, else None.
    """

    loss: list[float] = field(default_factory=list)
    logs: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    wall_s: float = 0.0
    stopped_early: bool = False
    ema: nn.Module | None = None

    def log(self, key: str, step: int, value: float) -> None:
        """Append ``(step, value)`` to the series ``key``."""
        self.logs.setdefault(key, []).append((step, float(value)))


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




def fit(model: nn.Module | None, loss_fn: Callable[..., Tensor],
        batches: Iterable[Any] | Callable[[int], Any] | None, config: TrainConfig, *,
        evaluate: Callable[[], float] | None = None, callbacks: Sequence[Callback] = (),
        optimizer: torch.optim.Optimizer | None = None) -> History:
    """Minimise ``loss_fn`` for ``config.steps`` optimiser steps and return the :class:`History`.

    Args:
        model: the trained module (its parameters build the optimiser; the EMA, clipping and
            early stopping act on it). ``None`` is allowed with an ``optimizer`` and none of those.
        loss_fn: ``loss_fn(batch) -> scalar tensor`` (``loss_fn()`` when ``batches`` is None).
        batches: an iterable (restarted when exhausted, e.g. a list or :func:`minibatches`),
            a function ``step -> batch`` (e.g. fresh samples of a toy), or ``None``.
        config: the :class:`TrainConfig`.
        evaluate: the validation loss (lower is better) for early stopping, required exactly
            when ``config.eval_every`` is set; called under ``torch.no_grad`` with ``model`` in
            eval mode. Without an EMA, ``model`` ends with the best weights evaluated. With
            one, the *average* is what is evaluated (loaded into ``model`` for the call) and
            ``history.ema`` ends as the best average, while ``model`` keeps its last weights.
        callbacks: ``cb(step, loss, history) -> bool``; returning True stops training.
            A callback with an ``on_end(history)`` method is told when training ends.
        optimizer: use this optimiser instead of building one from ``config`` (its own learning
            rate and weight decay then apply; ``config.lr_schedule`` still does).

    Every tensor of a batch is moved to ``model``'s device (a CPU batch feeds a GPU model).
    Under ``torchrun`` (an initialised process group, :mod:`gmtext.distributed`) every rank draws
    the same global batch, keeps its shard, averages its gradients with the others and starts from
    rank 0's weights; ``history.loss`` is the global batch's loss, only rank 0 shows a progress bar,
    and all ranks stop at the same step. Per-example noise drawn inside ``loss_fn`` is then the same
    on every rank: draw it with the batch instead (as
    :func:`gmtext.diffusion.training.train_diffusion` does).

    Raises:
        TypeError: if ``config`` is not a :class:`TrainConfig`.
        ValueError: for a missing ``model``/``optimizer``/``evaluate`` that the config needs, or a
            non-finite loss (the step and the loss are in the message; training never
            continues on NaN).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a gmtext.train.TrainConfig, got {type(config).__name__}")
    if model is None:
        needs = [name for name in ("ema_decay", "clip_grad_norm", "eval_every")
                 if getattr(config, name) is not None]
        if optimizer is None or needs:
            raise ValueError("fit(model=None, ...) needs an optimizer= and no ema_decay, "
                             f"clip_grad_norm or eval_every; got optimizer={optimizer!r}, {needs}")
    if (config.eval_every is None) != (evaluate is None):
        raise ValueError("early stopping needs both config.eval_every and evaluate=...; got "
                         f"eval_every={config.eval_every!r} and evaluate={evaluate!r}")
    if distributed.is_distributed() and model is not None:
        distributed.broadcast_module(model)              # one start on every rank, before the EMA copy
    if optimizer is None:
        optimizer = make_optimizer(model.parameters(), config)
    scheduler = make_lr_scheduler(optimizer, config) if config.lr_schedule != "constant" else None
    ema = EMA(model, config.ema_decay, config.ema_warmup) if config.ema_decay is not None else None
    callbacks = list(callbacks)
    if evaluate is not None:
        judged = model if ema is None else ema.shadow
        callbacks.insert(0, EarlyStopping(judged, evaluate if ema is None
                                          else evaluate_average(model, ema, evaluate),
                                          every=config.eval_every, patience=config.patience))
    draw, device, parallel = batch_source(batches), module_device(model), distributed.is_distributed()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    history, start = History(), time.perf_counter()
    bar = tqdm(total=config.steps, desc=config.desc, mininterval=0.5,
               disable=not config.progress or not distributed.is_main())
    for step in range(config.steps):
        loss = loss_fn() if draw is None else loss_fn(_on_device(distributed.shard(draw(step)), device))
        value = distributed.mean_over_ranks(loss.detach())      # the global batch's loss
        if not torch.isfinite(value):
            raise ValueError(f"loss is {value.item()} at step {step}: training diverged "
                             "(lower the learning rate, or check the model's inputs)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_gradients(params)
        if config.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update(model)
        history.loss.append(value.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{history.loss[-1]:.4g}", refresh=False)
        bar.update(1)
        stop = any([bool(cb(step, history.loss[-1], history)) for cb in callbacks])
        timed_out = (config.max_seconds is not None
                     and time.perf_counter() - start > config.max_seconds)
        if distributed.any_rank(stop or timed_out, value.device) if parallel else stop or timed_out:
            history.stopped_early = step + 1 < config.steps
            if history.stopped_early:
                _end_bar(bar, step + 1, "time cap" if timed_out and not stop else "early stop")
            break
    bar.close()
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(history)
    history.ema = ema.shadow.eval() if ema is not None else None
    history.wall_s = time.perf_counter() - start
    return history


def descend(loss: Tensor, optimizer: torch.optim.Optimizer, params: Iterable[Tensor],
            clip_grad_norm: float | None = None) -> None:
    """One gradient step on ``loss``: zero the gradients, back-propagate, clip their global norm
    to ``clip_grad_norm`` (if given), step. The inner step of a second player (a GAN's critic)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm is not None:
        nn.utils.clip_grad_norm_(params, clip_grad_norm)
    optimizer.step()


def _on_device(batch: Any, device: torch.device | None) -> Any:
    """Every tensor of ``batch`` on ``device`` (unchanged when ``device`` is None or already right)."""
    return batch if device is None else distributed.map_tensors(batch, lambda t: t.to(device))


__all__ = ["OPTIMIZERS", "LR_SCHEDULES", "TrainConfig", "make_optimizer", "make_lr_scheduler",
           "descend", "EMA", "History", "EarlyStopping", "minibatches", "batch_source", "fit", "Callback"]
