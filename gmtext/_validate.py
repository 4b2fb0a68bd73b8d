"""Input checks shared by the package: each raises a ``ValueError``/``TypeError`` that says what
was expected and what came, so that bad input never turns into a silent NaN.

Example:
    >>> check_float32(torch.zeros(2, 3), "MLP")
    >>> check_float32(torch.zeros(2, 3, dtype=torch.float64), "MLP")
    Traceback (most recent call last):
    ...
    TypeError: MLP expects float32 input (the dtype of its weights), got torch.float64 (convert with x.to(torch.float32))
"""

from __future__ import annotations

import math

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


def check_finite(x: Tensor, name: str = "x") -> Tensor:
    """``x`` must hold no NaN or infinite value (one reduction over the batch)."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s) "
                         f"in a tensor of shape {tuple(x.shape)}")
    return x


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an int >= 1 (not a bool), else raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_nonnegative(name: str, value: float) -> float:
    """``value`` must be a finite number >= 0 (a weight such as the beta of the beta-VAE)."""
    number = float(value) if isinstance(value, (int, float, Tensor)) else math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def check_float32(x: Tensor, owner: str, expected: torch.dtype = torch.float32) -> None:
    """A network's input must be a tensor of its weights' dtype: float32 in the book.

    A float64 batch would fail deep inside the first layer with a dtype mismatch that does not
    name the network; this check names it and the fix. A network converted with ``.double()``
    (the book's exact Jacobian tests) passes ``expected=torch.float64``. Costs one attribute
    lookup.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner} expects a {expected} tensor, got {type(x).__name__}")
    if x.dtype != expected:
        hint = "" if x.is_floating_point() else ", after rescaling integer data"
        raise TypeError(f"{owner} expects {str(expected).replace('torch.', '')} input (the dtype "
                        f"of its weights), got {x.dtype} (convert with x.to({expected}){hint})")


def module_device(module: object) -> torch.device | None:
    """The device of a module's first parameter (or buffer); ``None`` for a plain function or a
    module without tensors (an exact oracle), which runs wherever its input is."""
    if not isinstance(module, torch.nn.Module):
        return None
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return None


def check_same_device(a: Tensor | torch.nn.Module | object, b: Tensor | torch.nn.Module | object,
                      a_name: str = "model", b_name: str = "x") -> None:
    """``a`` and ``b`` (tensors or modules) must sit on one device; the error names both.

    Anything else (a plain function such as an exact oracle) and a module without tensors pass.

    Torch's own error for a mixed computation comes from deep inside a kernel and names neither
    the network nor the fix; this check runs before it.

    Example:
        >>> check_same_device(torch.zeros(1, device="meta"), torch.zeros(1), "noise", "x0")
        Traceback (most recent call last):
        ...
        ValueError: noise is on meta but x0 is on cpu: move one with .to(...) (e.g. model.to(x.device))
    """
    devices = [v.device if isinstance(v, Tensor) else module_device(v) for v in (a, b)]
    if None not in devices and devices[0] != devices[1]:
        raise ValueError(f"{a_name} is on {devices[0]} but {b_name} is on {devices[1]}: move one "
                         "with .to(...) (e.g. model.to(x.device))")
