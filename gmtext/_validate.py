"""Input checks shared by the density-estimation modules (:mod:`gmtext.mle`, :mod:`gmtext.mixture`,
:mod:`gmtext.kmeans`): each raises a ``ValueError``/``TypeError`` that says what was expected."""

from __future__ import annotations

import torch
from torch import Tensor


def check_n(n: int) -> None:
    """``n`` must be a positive int (a number of samples)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (number of samples), got {n!r}")


def check_data(x: Tensor) -> Tensor:
    """``x`` must be a finite floating-point tensor of shape ``(N, D)`` with ``N >= 1``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (N, D), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 1:
        hint = " (use x.unsqueeze(-1) for 1-D data)" if x.ndim == 1 else ""
        raise ValueError(f"x must have shape (N, D) with N >= 1, got {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got {x.dtype} (convert with x.float())")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    return x


def check_points(x: Tensor, dim: int) -> Tensor:
    """:func:`check_data`, and the points must have dimension ``dim`` (the model's)."""
    x = check_data(x)
    if x.shape[1] != dim:
        raise ValueError(f"the model has dimension {dim}, got points of shape {tuple(x.shape)}")
    return x
