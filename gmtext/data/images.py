"""Image data sets, loaded offline: the book's 8x8 digits with a fixed split.

``digits(split)`` returns ``sklearn.datasets.load_digits`` (1,797 images, 8x8, integer grey levels
0..16) in the loader's order, split by rows as in Tomczak's *Deep Generative Modeling* companion code
so that numbers compare with it:

=========  ===============  ======
split      rows             images
=========  ===============  ======
``train``  [0, 1000)        1,000
``val``    [1000, 1350)     350
``test``   [1350, 1797)     447
=========  ===============  ======

Values stay integers 0..16; any rescaling is the model's business and each chapter states it.
Likelihoods are reported in nats per image on this discrete data (DATA.md).

Example:
    >>> x, y = digits("test", labels=True)
    >>> tuple(x.shape), x.dtype, int(x.max()), tuple(y.shape)
    ((447, 1, 8, 8), torch.int64, 16, (447,))
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

SPLITS: dict[str, tuple[int, int]] = {"train": (0, 1000), "val": (1000, 1350), "test": (1350, 1797)}
LEVELS = 17          # grey levels 0..16
SHAPE = (1, 8, 8)    # (C, H, W)


@lru_cache(maxsize=1)
def _load_all() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits  # imported lazily: sklearn is slow to import

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.int64).reshape(-1, *SHAPE)   # (1797, 1, 8, 8)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


def digits(split: str, labels: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The 8x8 digits of ``split`` as an int64 tensor ``(N, 1, 8, 8)`` with values 0..16.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        labels: also return the ``(N,)`` class labels 0..9.

    Raises:
        ValueError: for an unknown split, listing the valid ones.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    lo, hi = SPLITS[split]
    images, targets = _load_all()
    x = images[lo:hi].clone()
    return (x, targets[lo:hi].clone()) if labels else x
