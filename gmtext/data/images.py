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

Values stay integers 0..16; a model that works on real numbers rescales them with
:func:`scale_digits`, which also returns the log-Jacobian of the map, so that a density of the
rescaled data converts to nats per image on the 0..16 scale without a forgotten term.
Likelihoods are reported in nats per image on this discrete data (chapter 1).

Example:
    >>> x, y = digits("test", labels=True)
    >>> tuple(x.shape), x.dtype, int(x.max()), tuple(y.shape)
    ((447, 1, 8, 8), torch.int64, 16, (447,))
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

SPLITS: dict[str, tuple[int, int]] = {"train": (0, 1000), "val": (1000, 1350), "test": (1350, 1797)}
LEVELS = 17          # grey levels 0..16
SHAPE = (1, 8, 8)    # (C, H, W)

#: The ways a model of the book places the digits on the real line (see :func:`scale_digits`).
SCALINGS: tuple[str, ...] = ("signed_bins", "signed_levels", "unit")
_SLOPE = {"signed_bins": 2 / LEVELS, "signed_levels": 2 / (LEVELS - 1), "unit": 1 / (LEVELS - 1)}
_OFFSET = {"signed_bins": -1.0, "signed_levels": -1.0, "unit": 0.0}


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


class Scaled(NamedTuple):
    r"""Rescaled digits ``y`` and the log-Jacobian ``log_det`` of the rescaling.

    For a density :math:`q` of ``y``, :math:`-\log q(x) = -\log q(y) - \text{log\_det}` is the
    negative log-density on the 0..16 scale (unit-width bins), the number the book reports.
    """

    y: Tensor        #: the rescaled images, float32, the shape of the input
    log_det: float   #: :math:`\log|\det \partial y/\partial x|` of one image, in nats


def scale_digits(x: Tensor, scaling: str = "signed_bins",
                 generator: torch.Generator | None = None) -> Scaled:
    r"""Digits on 0..16 mapped to the real line, with the log-Jacobian of the map.

    - ``"signed_bins"``: :math:`y = 2(x + u)/17 - 1 \in (-1, 1)`, each grey level a bin of width
      2/17. With a ``generator``, :math:`u \sim U[0, 1)` (uniform dequantization: a density of
      :math:`y` then bounds the discrete likelihood); without one, :math:`u = 1/2` (bin centres).
      Diffusion and flow matching on digits (chapter 6).
    - ``"signed_levels"``: :math:`y = 2x/16 - 1 \in [-1, 1]`, the levels themselves, no
      dequantization: for models whose last step is a distribution over the 17 levels (a GAN's
      tanh output, the discrete decoder of the variational diffusion model, section 6.x).
    - ``"unit"``: :math:`y = x/16 \in [0, 1]` (score models of chapter 5, the digit classifier).

    ``log_det`` is :math:`D\log a` for the slope :math:`a` and :math:`D` pixels per image:
    for ``"signed_bins"`` :math:`64\log(2/17) \approx -137.0` nats, which is why a flow or an ODE on
    these values must *add* 137.0 nats to its negative log-density (chapter 1, "units").

    Raises:
        TypeError: if ``x`` is not a tensor.
        ValueError: for an unknown ``scaling`` (the valid ones are listed), a shape that is not
            ``(N, ...)``, or values outside 0..16.

    Example:
        >>> y, log_det = scale_digits(torch.tensor([[0, 8, 16]]), "signed_levels")
        >>> y.tolist(), round(log_det, 4)
        ([[-1.0, 0.0, 1.0]], -6.2383)
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; valid: {', '.join(SCALINGS)}")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a tensor of grey levels 0..{LEVELS - 1}, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    x = x.float()
    if not bool(((x >= 0) & (x <= LEVELS - 1) & (x == x.round())).all()):
        raise ValueError(f"x must hold integer grey levels 0..{LEVELS - 1}, got values in "
                         f"[{float(x.min()):.3g}, {float(x.max()):.3g}] (already rescaled?)")
    if scaling == "signed_bins":
        u = 0.5 if generator is None else torch.rand(x.shape, generator=generator).to(x.device)
        x = x + u
    a = _SLOPE[scaling]
    return Scaled(a * x + _OFFSET[scaling], x[0].numel() * math.log(a))


def unscale_digits(y: Tensor, scaling: str = "signed_bins") -> Tensor:
    """The inverse of :func:`scale_digits`, rounded to the grey level whose bin (or value) is nearest.

    Returns floats 0..16 of ``y``'s shape (values outside the data range are clamped to it).

    Example:
        >>> unscale_digits(scale_digits(torch.tensor([[0, 7, 16]]))[0]).tolist()
        [[0.0, 7.0, 16.0]]
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; valid: {', '.join(SCALINGS)}")
    x = (y - _OFFSET[scaling]) / _SLOPE[scaling]
    x = torch.floor(x) if scaling == "signed_bins" else torch.round(x)
    return x.clamp(0, LEVELS - 1)
