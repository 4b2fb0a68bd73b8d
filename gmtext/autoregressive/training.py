r"""The autoregressive networks of section 1.x for the 8x8 digits, and their maximum-likelihood fit.

Training maximises the exact log-likelihood, :math:`\min_\theta -\frac1B\sum_b \log
p_\theta(x_b)` with :math:`\log p_\theta(x) = \sum_d \log p_\theta(x_{o_d}\mid x_{o_{<d}})`
(section 1.x): one parallel pass per batch, no bound, no sampling. With 1,000
training digits every network overfits, so the validation likelihood, checked once per epoch,
picks the weights (:func:`gmtext.train.fit` with early stopping).

Example:
    >>> import torch
    >>> net = digits_network("fvsbn")
    >>> tuple(net(torch.zeros(2, 1, 8, 8, dtype=torch.long)).shape)
    (2, 64, 17)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gmtext.autoregressive.core import log_prob
from gmtext.nn.masked import MADE, NADE
from gmtext.nn.pixelcnn import PixelCNN
from gmtext.train import History, TrainConfig, fit, minibatches

__all__ = ["NETWORKS", "digits_network", "nll_loss", "fit_autoregressive"]

#: The networks :func:`digits_network` builds, from the simplest to the strongest.
NETWORKS: tuple[str, ...] = ("fvsbn", "nade", "made", "pixelcnn")


def digits_network(kind: str, **overrides: Any) -> nn.Module:
    """An autoregressive network for the 8x8 digits with 17 grey levels, as section 1.x builds it.

    - ``"fvsbn"``: fully visible softmax belief net, ``MADE(hidden=())``: each pixel a logistic
      (softmax) regression on the earlier pixels' codes;
    - ``"nade"``: :class:`gmtext.nn.masked.NADE` with 256 shared hidden units;
    - ``"made"``: :class:`gmtext.nn.masked.MADE` with one hidden layer of 512 units, dropout 0.3
      and direct connections (the FVSBN's map added to its output);
    - ``"pixelcnn"``: :class:`gmtext.nn.pixelcnn.PixelCNN`, 48 channels, a 7x7 type-A layer and
      four residual 3x3 type-B blocks with dropout 0.2.

    All read thermometer codes of the grey levels (``encoding="thermometer"``) in raster order;
    ``overrides`` replace any constructor argument (e.g. ``encoding="onehot"``).

    Raises:
        ValueError: for an unknown kind, listing the valid ones.
    """
    if kind not in NETWORKS:
        raise ValueError(f"unknown network {kind!r}; valid: {', '.join(NETWORKS)}")
    if kind == "fvsbn":
        return MADE(**{"hidden": (), **overrides})
    if kind == "nade":
        return NADE(**{"hidden": 256, **overrides})
    if kind == "made":
        return MADE(**{"hidden": (512,), "dropout": 0.3, "direct": True, **overrides})
    return PixelCNN(**overrides)


def nll_loss(net: nn.Module, x: Tensor) -> Tensor:
    r"""The mean exact negative log-likelihood :math:`-\frac1N\sum_n \log p(x_n)` (nats/image)."""
    return -log_prob(net, x).mean()


def fit_autoregressive(net: nn.Module, train: Tensor, val: Tensor, config: TrainConfig, *,
                       batch_size: int = 32, generator: torch.Generator | None = None) -> History:
    """Fit ``net`` by maximum likelihood on ``train``, early-stopped on the likelihood of ``val``.

    ``config`` sets the optimiser, schedule and the checks (``eval_every``, ``patience``); the
    best validation weights are restored at the end. ``generator`` draws the minibatches; dropout
    uses torch's global generator (seed it, or use :mod:`gmtext.recipes.autoregressive`).

    Returns:
        The :class:`gmtext.train.History`: ``loss`` is the training NLL (nats per image),
        ``logs["val"]`` the validation NLL at each check.

    Raises:
        TypeError, ValueError: for images that are not integer grey levels of the network's shape
            (checked before training), or an invalid ``config`` (see :class:`gmtext.train.TrainConfig`).
    """
    for split in (train, val):
        net.encode(split[:1])                                                # fail early
    batches = minibatches(train, batch_size=batch_size, generator=generator)
    return fit(net, lambda x: nll_loss(net, x), batches, config,
               evaluate=lambda: float(nll_loss(net, val)))
