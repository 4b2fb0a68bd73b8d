r"""k-means clustering with k-means++ seeding: the starting point of EM for Gaussian mixtures.

EM and gradient ascent only find a local maximum of a mixture's likelihood (chapter 1), so where
they start matters. A few iterations of Lloyd's k-means from well-spread k-means++ seeds
(Arthur and Vassilvitskii 2007) put one centre in each cluster far more often than a random start.

Example:
    >>> import torch
    >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    >>> centres, labels = kmeans(x, 2, torch.Generator().manual_seed(0))
    >>> sorted(round(c, 2) for c in centres[:, 0].tolist()), labels[0] != labels[2]
    ([0.05, 5.05], tensor(True))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gmtext._validate import check_data


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator | None = None,
                     trials: int | None = None) -> Tensor:
    r"""Greedy k-means++ seeding: ``k`` data points that spread over the data, ``(k, D)``.

    Each new seed is drawn with probability :math:`\propto D(x)^2`, the squared distance to the
    nearest seed already chosen (Arthur and Vassilvitskii 2007). The greedy variant draws ``trials``
    candidates (default :math:`2 + \lfloor\ln k\rfloor`, as in scikit-learn) and keeps the one that
    lowers :math:`\sum_n D(x_n)^2` most, which rarely puts two seeds in one cluster.

    Raises:
        ValueError: unless ``1 <= k <= N`` and ``trials >= 1``.
    """
    x = check_data(x)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= x.shape[0]:
        raise ValueError(f"k must be an int in [1, N={x.shape[0]}], got {k!r}")
    trials = 2 + int(math.log(k)) if trials is None else trials
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    centres = [x[first]]
    d2 = (x - x[first]).pow(2).sum(-1)                                            # (N,)
    for _ in range(k - 1):
        p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / len(d2))
        candidates = torch.multinomial(p, trials, replacement=True, generator=generator)
        new_d2 = torch.minimum(d2, torch.cdist(x[candidates], x).pow(2))          # (trials, N)
        best = int(new_d2.sum(1).argmin())
        centres.append(x[candidates[best]])
        d2 = new_d2[best]
    return torch.stack(centres)


def kmeans(x: Tensor, k: int, generator: torch.Generator | None = None, iters: int = 10,
           restarts: int = 1) -> tuple[Tensor, Tensor]:
    r"""Lloyd's k-means from k-means++ seeds: ``(centres (K, D), labels (N,))``.

    Each iteration assigns every point to its nearest centre and moves each centre to the mean of
    its points (an empty cluster keeps its centre). With ``restarts > 1`` the clustering with the
    smallest within-cluster sum of squares :math:`\sum_n \|x_n - c_{\ell(n)}\|^2` is kept.

    Raises:
        ValueError: unless ``1 <= k <= N``, ``iters >= 0`` and ``restarts >= 1``.
    """
    if iters < 0 or restarts < 1:
        raise ValueError(f"need iters >= 0 and restarts >= 1, got {iters}, {restarts}")
    best: tuple[float, Tensor, Tensor] | None = None
    for _ in range(restarts):
        centres = kmeans_plus_plus(x, k, generator)
        for _ in range(iters):
            labels = torch.cdist(x, centres).argmin(1)                            # (N,)
            counts = torch.bincount(labels, minlength=k)[:, None]                 # (K, 1)
            sums = torch.zeros_like(centres).index_add_(0, labels, x)             # (K, D)
            centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        distance, labels = torch.cdist(x, centres).min(1)                         # (N,), (N,)
        inertia = float(distance.pow(2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centres, labels)
    return best[1], best[2]
