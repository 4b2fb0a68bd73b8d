"""Feeding a training loop: endless shuffled minibatches; any source of batches as ``draw(step)``.

Beside the data because a batch is a view of the data, not of the model; :mod:`gmtext.train`
re-exports both.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> batches = minibatches(torch.arange(4), batch_size=2, generator=g)
    >>> sorted(next(batches).tolist() + next(batches).tolist())
    [0, 1, 2, 3]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["minibatches", "batch_source"]


def minibatches(*tensors: Tensor, batch_size: int,
                generator: torch.Generator | None = None) -> Iterator[Tensor | tuple[Tensor, ...]]:
    """Endless shuffled minibatches of ``tensors`` (all with the same first dimension).

    Yields a tensor when one tensor is given, else a tuple. Every epoch is a fresh permutation
    drawn from ``generator``; the last incomplete batch of an epoch is dropped.

    Raises:
        ValueError: for no tensors, tensors of different lengths, or a ``batch_size`` outside
            ``[1, N]``.
    """
    if not tensors:
        raise ValueError("minibatches needs at least one tensor")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"tensors differ in length: {[t.shape[0] for t in tensors]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an int in [1, {n}], got {batch_size!r}")
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            batch = tuple(t[idx.to(t.device)] for t in tensors)
            yield batch[0] if len(batch) == 1 else batch


def batch_source(batches: Iterable[Any] | Callable[[int], Any] | None
                 ) -> Callable[[int], Any] | None:
    """Any source of batches as a function ``draw(step)``, the form every training loop consumes.

    A callable is returned as it is (``draw(step)``, e.g. fresh samples of a toy); an iterator is
    read until it ends; any other iterable (a list) is cycled for ever; ``None`` (a loss that
    needs no data) stays ``None``.

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
