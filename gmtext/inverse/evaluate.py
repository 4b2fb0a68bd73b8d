r"""Classical baselines for the linear inverse problems and the measures of a reconstruction.

Baselines (scikit-image, one image at a time; chapter 9 compares the posterior mean with the best):

- ``"biharmonic"``: inpainting and uncropping by the biharmonic equation :math:`\Delta^2 x = 0` on
  the unseen pixels with the seen ones as boundary values (``skimage.restoration.inpaint_biharmonic``);
- ``"bilinear"``, ``"bicubic"``: spline upsampling of the low-resolution image
  (``skimage.transform.resize``, order 1 and 3);
- ``"wiener"``: Wiener-Hunt deconvolution with a Laplacian regulariser of weight ``balance``
  (``skimage.restoration.wiener``, circular boundary);
- ``"richardson_lucy"``: ``iterations`` of Richardson-Lucy deconvolution on the image shifted to
  [0, 1] (the blur is linear and sums to one, so the shift commutes with it);
- ``"pinv"``: the pseudo-inverse :math:`A^+y` (any linear operator).

Measures: PSNR (:func:`gmtext.metrics.psnr`), SSIM (Wang et al. 2004, ``skimage.metrics.structural_similarity``
with a 3x3 window, since the digits are 8x8), measurement consistency :math:`\|A(\hat x) - y\|`
and the per-pixel standard deviation of posterior samples. Derived in chapter 9.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gmtext.inverse.operators import LinearOperator, Mask, check_image

__all__ = ["BASELINES", "classical_reconstruction", "to_grey_levels", "ssim", "consistency", "pixel_std"]

#: The classical reconstructions :func:`classical_reconstruction` knows, by the operator they undo.
BASELINES: dict[str, tuple[str, ...]] = {"Mask": ("biharmonic", "pinv"), "Crop": ("biharmonic", "pinv"),
                                         "Downsample": ("bilinear", "bicubic", "pinv"),
                                         "Blur": ("wiener", "richardson_lucy", "pinv")}


def _unseen(operator: LinearOperator, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(operator, Mask):
        return (operator.mask.reshape(-1, *shape)[0] == 0).numpy()
    inside = np.zeros(shape, dtype=bool)
    (h, w) = operator.window
    inside[operator.top:operator.top + h, operator.left:operator.left + w] = True
    return ~inside


def classical_reconstruction(operator: LinearOperator, y: Tensor, method: str, size: tuple[int, int] = (8, 8),
                             balance: float = 0.1, iterations: int = 10) -> Tensor:
    """The baseline ``method`` (module docstring) for one-channel measurements ``y`` ``(N, 1, h, w)``.

    Returns images ``(N, 1, *size)`` on the scale of the data (float32).

    Raises:
        ValueError: for a method that does not fit the operator (the valid ones are listed).
    """
    from skimage import restoration, transform

    valid = BASELINES.get(type(operator).__name__, ("pinv",))
    if method not in valid:
        raise ValueError(f"unknown baseline {method!r} for {operator!r}; valid: {', '.join(valid)}")
    y = check_image(y, "y", channels=1)
    if method == "pinv":
        return operator.pinv(y).float()
    out = []
    for img in y[:, 0].double().numpy():
        if method == "biharmonic":
            full = operator.pinv(torch.from_numpy(img)[None, None])[0, 0].numpy()
            rec = restoration.inpaint_biharmonic(full, _unseen(operator, size))
        elif method in ("bilinear", "bicubic"):
            rec = transform.resize(img, size, order=1 if method == "bilinear" else 3, mode="edge",
                                   anti_aliasing=False)
        elif method == "wiener":
            rec = restoration.wiener(img, operator.kernel.numpy(), balance, clip=False)
        else:                                            # Richardson-Lucy needs positive images
            rec = 2 * restoration.richardson_lucy((img + 1) / 2, operator.kernel.numpy(), iterations,
                                                  clip=False) - 1
        out.append(torch.from_numpy(np.asarray(rec, dtype=np.float64)))
    return torch.stack(out)[:, None].float()


def to_grey_levels(y: Tensor) -> Tensor:
    r"""Signed digits back to the 0..16 scale without rounding, :math:`x = 17(y + 1)/2 - 1/2` clamped
    (the inverse of :func:`gmtext.data.images.scale_digits` at the bin centres)."""
    return (17 * (y + 1) / 2 - 0.5).clamp(0, 16)


def ssim(x: Tensor, reference: Tensor, data_range: float, reduction: str = "mean") -> float | Tensor:
    """Mean structural similarity of each image of ``x`` ``(N, 1, H, W)`` with its ``reference`` (3x3 windows).

    ``reduction``: ``"mean"`` (a float) or ``"none"`` (``(N,)``).
    """
    from skimage.metrics import structural_similarity

    if x.shape != reference.shape:
        raise ValueError(f"x has shape {tuple(x.shape)}, the reference {tuple(reference.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; valid: mean, none")
    a = check_image(x.double()).numpy()
    b = check_image(reference.double(), "reference").numpy()
    values = torch.tensor([structural_similarity(a[i, 0], b[i, 0], win_size=3, data_range=data_range)
                           for i in range(a.shape[0])], dtype=torch.float64)
    return float(values.mean()) if reduction == "mean" else values


def consistency(operator: object, x: Tensor, y: Tensor) -> Tensor:
    r"""Measurement consistency :math:`\|A(\hat x) - y\|_2` of each reconstruction, ``(N,)``."""
    return (operator.forward(x) - y).flatten(1).norm(dim=1)


def pixel_std(samples: Tensor) -> Tensor:
    """Per-pixel standard deviation over posterior samples ``(K, N, ...)`` -> ``(N, ...)`` (posterior diversity)."""
    if samples.ndim < 3 or samples.shape[0] < 2:
        raise ValueError(f"samples must be (K, N, ...) with K >= 2, got {tuple(samples.shape)}")
    return samples.std(0)
