r"""Sample-quality metrics that need no density: precision and recall, mode coverage, PSNR, MMD.

A generator without a tractable likelihood (a GAN) is judged by its samples alone. Two questions
are kept apart (Sajjadi et al. 2018; Kynkäänniemi et al. 2019): *precision*, are the samples
realistic; *recall*, is every part of the data reproduced. On the ``grid25`` toy the same two
questions are asked exactly: the high-quality fraction and the number of modes covered (chapter 3).

Example:
    >>> import torch
    >>> from gmtext.data import toy
    >>> p = toy.load("grid25")
    >>> x = p.sample(2500, generator=torch.Generator().manual_seed(0))
    >>> mode_coverage(x, p.means, std=0.05)["modes_covered"]
    25
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmtext._validate import check_data

__all__ = ["precision_recall", "mode_coverage", "psnr", "mmd_rbf"]

_CHUNK = 1024  # rows of a distance matrix computed at once: 1024 x 2000 float64 = 16 MB


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> dict[str, float]:
    r"""Improved precision and recall of a sample set with k-nearest-neighbour manifolds.

    Each set :math:`\Phi` is approximated by the union of balls around its points, the ball of
    :math:`\phi` reaching its :math:`k`-th nearest neighbour in the same set,
    :math:`\mathrm{NN}_k(\phi, \Phi)`:

    .. math::

        f(\phi, \Phi) = \begin{cases} 1 & \text{if } \|\phi - \phi'\|_2 \le
        \|\phi' - \mathrm{NN}_k(\phi', \Phi)\|_2 \text{ for some } \phi' \in \Phi \\
        0 & \text{otherwise} \end{cases}

    .. math::

        \text{precision} = \frac{1}{|\Phi_g|} \sum_{\phi_g \in \Phi_g} f(\phi_g, \Phi_r), \qquad
        \text{recall} = \frac{1}{|\Phi_r|} \sum_{\phi_r \in \Phi_r} f(\phi_r, \Phi_g)

    Precision is the fraction of generated samples that land on the real manifold (quality),
    recall the fraction of real samples that land on the generated manifold (diversity).
    Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing Generative Models",
    NeurIPS 2019 (arXiv:1904.06991), who use :math:`k = 3`. Used in chapters 3 and 10.

    The sets are compared as given (images are flattened to vectors); pass features (e.g.
    ``gmtext.metrics.digit_features``) to compare in a learned space. Distances are computed
    exactly in float64, in chunks, so sets of a few thousand points are cheap.

    Args:
        real: ``(N, ...)`` real samples or features.
        fake: ``(M, ...)`` generated samples or features, same shape after the first dimension.
        k: neighbour defining each ball's radius (``1 <= k < min(N, M)``).

    Returns:
        ``{"precision": float, "recall": float}``, both in [0, 1].

    Raises:
        TypeError: if the inputs are not tensors.
        ValueError: on mismatched shapes, non-finite values or an invalid ``k``.

    Example:
        >>> x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
        >>> precision_recall(x, x)
        {'precision': 1.0, 'recall': 1.0}
        >>> precision_recall(x, x + 100.0)
        {'precision': 0.0, 'recall': 0.0}
    """
    real, fake = _as_features(real, "real"), _as_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must have the same number of features, got "
                         f"{real.shape[1]} and {fake.shape[1]}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"k must be an int with 1 <= k < min(N, M) = {min(len(real), len(fake))}, "
                         f"got {k!r}")
    real_radii, fake_radii = _knn_radii(real, k), _knn_radii(fake, k)
    return {"precision": _inside_fraction(fake, real, real_radii),
            "recall": _inside_fraction(real, fake, fake_radii)}


def _as_features(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, ...), got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 2, got {tuple(x.shape)}")
    x = x.detach().reshape(x.shape[0], -1).double().cpu()     # (N, D)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def _cdist(a: Tensor, b: Tensor) -> Tensor:
    # exact Euclidean distances: the matrix-multiply shortcut loses the zero of identical points
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _knn_radii(x: Tensor, k: int) -> Tensor:
    """Distance of every point of ``x`` to its k-th nearest neighbour in ``x`` (itself excluded)."""
    radii = []
    for start in range(0, len(x), _CHUNK):
        d = _cdist(x[start:start + _CHUNK], x)                              # (c, N)
        # the k+1 smallest include the point itself at distance 0
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)                                                 # (N,)


def _inside_fraction(points: Tensor, centres: Tensor, radii: Tensor) -> float:
    """Fraction of ``points`` inside at least one ball (``centres``, ``radii``)."""
    inside = 0
    for start in range(0, len(points), _CHUNK):
        d = _cdist(points[start:start + _CHUNK], centres)                   # (c, N)
        inside += int((d <= radii[None]).any(dim=1).sum())
    return inside / len(points)


def mode_coverage(samples: Tensor, means: Tensor, std: float, n_sigma: float = 3.0,
                  min_count: int = 20) -> dict[str, int | float | Tensor]:
    r"""Modes covered and high-quality fraction of samples of a mixture with known means.

    Each sample is assigned to its nearest mean :math:`\mu_{k(x)}` and called *high quality* if

    .. math:: \|x - \mu_{k(x)}\|_2 \le n_\sigma \, \sigma .

    A mode is *covered* if at least ``min_count`` high-quality samples are assigned to it. This is
    the mode-collapse benchmark of VEEGAN (Srivastava et al. 2017, arXiv:1705.07761) and PacGAN
    (Lin et al. 2018, arXiv:1712.04086) on ``grid25``, measured in chapter 3 (the book's
    conventions page, section Mode coverage).

    The default ``min_count = 20`` assumes **2,500 samples**, as in those papers; for another
    sample size :math:`N` scale it to ``round(20 * N / 2500)`` to ask the same question. Note that
    even exact samples are not all high quality: for an isotropic Gaussian in 2-D,
    :math:`P(\|x - \mu\| \le 3\sigma) = 1 - e^{-9/2} \approx 0.989`.

    Args:
        samples: ``(N, D)`` samples.
        means: ``(K, D)`` mode centres (e.g. ``toy.load("grid25").means``).
        std: the modes' standard deviation :math:`\sigma` (0.05 for ``grid25``).
        n_sigma: radius of the high-quality ball in units of ``std``.
        min_count: high-quality samples a mode needs to count as covered.

    Returns:
        A dict with ``modes_covered`` (int), ``n_modes`` (int, :math:`K`),
        ``high_quality_fraction`` (float) and ``counts`` (``(K,)`` int64 tensor of high-quality
        samples per mode).

    Raises:
        TypeError: if ``samples`` or ``means`` is not a tensor.
        ValueError: on mismatched shapes, non-finite samples, or non-positive ``std``,
            ``n_sigma`` or ``min_count``.

    Example:
        >>> means = torch.tensor([[0.0, 0.0], [5.0, 5.0]])
        >>> out = mode_coverage(torch.zeros(30, 2), means, std=0.1)
        >>> out["modes_covered"], out["n_modes"], out["high_quality_fraction"]
        (1, 2, 1.0)
        >>> out["counts"].tolist()
        [30, 0]
    """
    for name, t in (("samples", samples), ("means", means)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if means.ndim != 2 or samples.ndim != 2 or samples.shape[1] != means.shape[1]:
        raise ValueError(f"expected samples (N, D) and means (K, D) with the same D, got "
                         f"{tuple(samples.shape)} and {tuple(means.shape)}")
    if samples.shape[0] == 0 or means.shape[0] == 0:
        raise ValueError("samples and means must not be empty")
    if not bool(torch.isfinite(samples).all()):
        raise ValueError("samples hold NaN or infinite values")
    if not (std > 0 and n_sigma > 0):
        raise ValueError(f"std and n_sigma must be positive, got std={std}, n_sigma={n_sigma}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a positive int, got {min_count!r}")
    x = samples.detach().double().cpu()
    mu = means.detach().double().cpu()
    nearest = torch.cdist(x, mu, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)  # (N,)
    high_quality = nearest.values <= n_sigma * std                                        # (N,)
    counts = torch.bincount(nearest.indices[high_quality], minlength=len(mu))             # (K,)
    return {"modes_covered": int((counts >= min_count).sum()), "n_modes": len(mu),
            "high_quality_fraction": float(high_quality.double().mean()), "counts": counts}


def psnr(x: Tensor, y: Tensor, data_range: float, reduction: str = "mean") -> float | Tensor:
    r"""Peak signal-to-noise ratio in decibels between images ``x`` and references ``y``.

    .. math:: \mathrm{PSNR}(x, y) = 10 \log_{10} \frac{R^2}{\frac1D \|x - y\|_2^2}

    with :math:`R` the data range (16 for the digits, 1 for images on [0, 1]), computed per image
    over its :math:`D` values. Identical images give :math:`+\infty`. Used for the inverse
    problems of chapter 9.

    Args:
        x: ``(N, ...)`` reconstructions.
        y: ``(N, ...)`` references, same shape.
        data_range: :math:`R`, the maximum minus the minimum possible value.
        reduction: ``"mean"`` (mean over images, a float) or ``"none"`` (an ``(N,)`` tensor).

    Raises:
        TypeError: if the inputs are not tensors.
        ValueError: on different shapes, non-finite values, ``data_range <= 0`` or an unknown
            ``reduction``.

    Example:
        >>> x = torch.zeros(2, 1, 4, 4)
        >>> round(psnr(x + 0.1, x, data_range=1.0), 6)
        20.0
    """
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.shape != y.shape or x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x and y must have the same shape (N, ...), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    diff = (x.detach().double() - y.detach().double()).reshape(x.shape[0], -1)  # (N, D)
    if not bool(torch.isfinite(diff).all()):
        raise ValueError("x or y holds NaN or infinite values")
    mse = diff.pow(2).mean(dim=1)                                               # (N,)
    values = 10.0 * torch.log10(data_range**2 / mse)                           # inf where mse == 0
    return float(values.mean()) if reduction == "mean" else values


def mmd_rbf(x: Tensor, y: Tensor, bandwidth: float) -> float:
    r"""Unbiased estimate of the squared maximum mean discrepancy with a Gaussian kernel.

    .. math:: \mathrm{MMD}^2 = \mathbb E\,k(x, x') + \mathbb E\,k(y, y') - 2\,\mathbb E\,k(x, y),
              \qquad k(a, b) = \exp\big(-\|a - b\|^2 / (2h^2)\big)

    with the diagonal terms left out of the within-set averages (so it can be slightly negative when
    the laws agree). Gretton et al., "A Kernel Two-Sample Test", JMLR 2012. Used in chapters 5 and 6 on the 2-D toys.

    Args:
        x: ``(N, D)`` samples, ``y``: ``(M, D)`` samples (N, M >= 2).
        bandwidth: :math:`h > 0`, in the units of the data.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
        >>> abs(mmd_rbf(x, y, bandwidth=1.0)) < 0.01
        True
    """
    x, y = check_data(x).double(), check_data(y).double()
    if x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"need x (N, D), y (M, D) with N, M >= 2, got {tuple(x.shape)}, {tuple(y.shape)}")
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")

    def mean_kernel(a: Tensor, b: Tensor, same: bool) -> float:
        k = torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2))
        if same:
            return float((k.sum() - k.diagonal().sum()) / (len(a) * (len(a) - 1)))
        return float(k.mean())

    return mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2 * mean_kernel(x, y, False)
