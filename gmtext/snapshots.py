"""Copies of a model's weights kept while it trains: the moving average and the best so far.

:class:`EMA` keeps an exponential moving average of the weights, :class:`EarlyStopping` the
weights that scored best on validation data. :func:`gmtext.train.fit` builds both from a
:class:`gmtext.train.TrainConfig`; both are re-exported by :mod:`gmtext.train`.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(1, 1, bias=False)
    >>> ema = EMA(net, decay=0.9)
    >>> ema.update(net); ema.updates
    1
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from gmtext.train import History

__all__ = ["EMA", "EarlyStopping", "evaluate_average"]


def _positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


class EMA:
    r"""Exponential moving average of a module's parameters and buffers.

    .. math:: \bar\theta \leftarrow \beta_k\,\bar\theta + (1-\beta_k)\,\theta,\qquad
              \beta_k = \min\big(\beta, \tfrac{1+k}{10+k}\big)\ \text{(warm-up)}

    at the :math:`k`-th update (:math:`k = 0, 1, \dots`). Averaged weights give smoother samples
    for GANs and diffusion models (Ho et al. 2020 use :math:`\beta = 0.9999`); the warm-up makes
    the average of a short run forget the random initialisation. ``shadow`` is the averaged copy
    (eval mode); ``copy_to(model)`` writes it into a module.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        if not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.decay, self.warmup, self.updates = decay, warmup, 0
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards the current weights of ``model``."""
        k, self.updates = self.updates, self.updates + 1
        decay = min(self.decay, (1 + k) / (10 + k)) if self.warmup else self.decay
        for avg, cur in zip(self.shadow.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(cur, 1.0 - decay)
            else:
                avg.copy_(cur)

    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model``."""
        model.load_state_dict(self.shadow.state_dict())



class EarlyStopping:
    """Callback: evaluate every ``every`` steps, keep the best weights, stop after ``patience``
    checks without improvement.

    With 1,000 training digits every model in the book overfits within seconds, so the validation
    split, not the step budget, decides when to stop (chapter 2). :func:`gmtext.train.fit` builds one from
    ``config.eval_every``; after training ``model`` holds the best weights seen.

    Args:
        model: the module whose ``state_dict`` is kept.
        evaluate: returns a validation loss (lower is better); called under ``torch.no_grad``
            with the model in eval mode.
        every, patience: steps between evaluations; evaluations without improvement.
        name: key of the logged series in ``History.logs``.
    """

    def __init__(self, model: nn.Module, evaluate: Callable[[], float], every: int = 100,
                 patience: int = 10, name: str = "val", restore_best: bool = True) -> None:
        _positive_int("every", every)
        _positive_int("patience", patience)
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


def evaluate_average(model: nn.Module, ema: EMA, evaluate: Callable[[], float]) -> Callable[[], float]:
    """``evaluate`` of the averaged weights: they are loaded into ``model`` for the call only."""

    def judged() -> float:
        current = copy.deepcopy(model.state_dict())
        was_training = model.training
        ema.copy_to(model)
        model.eval()
        try:
            return evaluate()
        finally:
            model.load_state_dict(current)
            model.train(was_training)

    return judged
