r"""Two unpaired image domains for CycleGAN (chapter 3): the digits as written, and a bold negative.

- **Domain A** ("plain"): the 8x8 digits as :func:`gmtext.data.images.digits` returns them, dark
  ink (16) on light paper (0).
- **Domain B** ("bold negative"): the same kind of digit rendered with strokes thickened by a
  grey-level dilation and the tones inverted,

  .. math:: B(x) = 16 - \max_{(i, j) \in S} x_{\cdot + i, \cdot + j},\qquad S = \{0, 1\}^2,

  i.e. light ink on dark paper, one pixel bolder to the right and down.

The translation A -> B is content-preserving (the digit stays the same digit) but not trivial in
the direction B -> A: the dilation is not invertible (holes close, strokes merge), so the
generator must *thin* strokes it has never seen paired with their thin version. The domains
are **unpaired**: a seeded permutation splits a data split into two disjoint halves, one rendered
in each style, so no image of A has its own counterpart in B (Zhu et al. 2017, arXiv:1703.10593).

Example:
    >>> import torch
    >>> x = torch.zeros(1, 1, 8, 8, dtype=torch.int64); x[0, 0, 3, 3] = 16
    >>> b = bold_negative(x)
    >>> int(b.min()), int(b.max()), int((b == 0).sum())          # ink spreads to a 2x2 block
    (0, 16, 4)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gmtext.data.images import LEVELS, digits

__all__ = ["bold_negative", "unpaired_domains", "STYLES"]

#: The two domains' names, in the order (A, B).
STYLES: tuple[str, str] = ("plain", "bold negative")


def bold_negative(x: Tensor) -> Tensor:
    r"""Render digits ``(N, 1, 8, 8)`` on 0..16 in domain B: dilate by a 2x2 block, then invert.

    Integer in, integer out (int64, values 0..16), so domain B has the 17 grey levels of A.

    Raises:
        TypeError: if ``x`` is not a tensor.
        ValueError: for another shape or values outside [0, 16].
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor (N, 1, 8, 8), got {type(x).__name__}")
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
        raise ValueError(f"x must have shape (N, 1, 8, 8), got {tuple(x.shape)}")
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > LEVELS - 1):
        raise ValueError(f"x must lie in [0, {LEVELS - 1}] (the digits' scale), got "
                         f"[{float(x.min())}, {float(x.max())}]")
    # pad left/top so that output pixel (i, j) is the max over input pixels (i-1..i, j-1..j)
    dilated = F.max_pool2d(F.pad(x.double(), (1, 0, 1, 0)), kernel_size=2, stride=1)  # (N, 1, 8, 8)
    return ((LEVELS - 1) - dilated).round().to(x.dtype)


def unpaired_domains(split: str, seed: int = 0
                     ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Split the digits of ``split`` into two disjoint halves, render one half in each domain.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: seeds the permutation that decides which image goes to which domain.

    Returns:
        ``((a, labels_a), (b, labels_b))``: int64 images ``(N, 1, 8, 8)`` on 0..16 and their labels.
        The labels are for evaluation only (CycleGAN never sees them).

    Example:
        >>> (a, ya), (b, yb) = unpaired_domains("test")
        >>> len(a) + len(b), float(a.float().mean()) < float(b.float().mean())   # B: dark paper
        (447, True)
    """
    x, y = digits(split, labels=True)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    ia, ib = order[: len(x) // 2], order[len(x) // 2:]
    return (x[ia], y[ia]), (bold_negative(x[ib]), y[ib])
