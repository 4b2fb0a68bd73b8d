"""Section 1.x and its benchmark: autoregressive networks fitted to the 8x8 digits, seeded.

:func:`fit_digits` builds a network of :func:`gmtext.autoregressive.digits_network`, fits it by
maximum likelihood with AdamW and a cosine learning rate over a number of epochs (budget
``autoregressive.epochs`` for the PixelCNN, ``autoregressive.shallow_epochs`` for the others),
checks the validation likelihood after every epoch and keeps the best weights, then scores the
test split exactly, all on ``gmtext.config.device()``. ``autoregressive.seconds`` is a safety cap
that the epochs, not the clock, should end. The weights are initialised and the dropout masks drawn inside
``torch.random.fork_rng`` after ``torch.manual_seed(seed)``, and the minibatches come from a
generator seeded with ``seed``: the fit is reproducible and leaves the caller's random state alone.

Example:
    >>> fitted = fit_digits("fvsbn", profile="quick", progress=False)
    >>> fitted.test_log_prob.shape
    torch.Size([447])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gmtext import config
from gmtext.autoregressive import NETWORKS, digits_network, fit_autoregressive, log_prob
from gmtext.data.images import digits
from gmtext.metrics import nll_nats
from gmtext.train import History, TrainConfig

__all__ = ["LEARNING_RATES", "DigitsFit", "fit_digits"]

#: Peak learning rate of each network (AdamW, cosine decay to zero).
LEARNING_RATES: dict[str, float] = {"fvsbn": 3e-3, "nade": 3e-3, "made": 2e-3, "pixelcnn": 3e-3}
BATCH_SIZE = 32


@dataclass
class DigitsFit:
    """A fitted network and what the section reports about it."""

    net: nn.Module            #: the network with the best validation weights, in eval mode
    history: History          #: training NLL per step, validation NLL per epoch (``logs["val"]``)
    test_log_prob: Tensor     #: exact log p(x) of every test digit, nats, ``(447,)``
    test_nll: float           #: mean exact negative log-likelihood on the test split, nats/image
    train_s: float            #: training wall time in seconds


def fit_digits(kind: str, profile: str | None = None, seed: int = 0, progress: bool = True,
               **overrides: Any) -> DigitsFit:
    """Fit the autoregressive network ``kind`` to the digits with the budgets of ``profile``.

    Args:
        kind: one of ``gmtext.autoregressive.NETWORKS``.
        profile: the run profile (default: the active one).
        seed: seeds the weights, the dropout masks and the minibatch order.
        progress: show a progress bar.
        overrides: constructor arguments of the network (e.g. ``encoding="onehot"``).

    Raises:
        ValueError: for an unknown kind or profile.
    """
    if kind not in NETWORKS:
        raise ValueError(f"unknown network {kind!r}; valid: {', '.join(NETWORKS)}")
    epochs = config.budget("autoregressive.epochs" if kind == "pixelcnn"
                           else "autoregressive.shallow_epochs", profile)
    device = config.device()                                  # CUDA when present (full profile)
    train, val, test = (digits(split).to(device) for split in ("train", "val", "test"))
    per_epoch = len(train) // BATCH_SIZE
    settings = TrainConfig(epochs * per_epoch, lr=LEARNING_RATES[kind], optimizer="adamw",
                           lr_schedule="cosine", eval_every=per_epoch, patience=epochs,
                           max_seconds=config.budget("autoregressive.seconds", profile),
                           progress=progress, desc=kind)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = digits_network(kind, **overrides).to(device)
        history = fit_autoregressive(net, train, val, settings, batch_size=BATCH_SIZE,
                                     generator=torch.Generator().manual_seed(seed))
    net.eval()
    with torch.no_grad():
        test_log_prob = log_prob(net, test).cpu()
    return DigitsFit(net, history, test_log_prob, nll_nats(test_log_prob), history.wall_s)
