"""Analytic 1-D and 2-D toy distributions with exact densities.

Every toy has ``sample(n, generator=None)`` returning an ``(n, dim)`` float tensor and, except where
it says otherwise, an exact ``log_prob(x)`` for ``x`` of shape ``(N, dim)``. The exact density makes
the true entropy H(p) = E_p[-log p(x)] computable, and with it KL(p || q) = NLL_q - H(p) >= 0 puts
any model on an absolute scale (chapter 1, eq. (1.3)).

The standard toys (the book's conventions page, section The 2-D and 1-D toys):

========================  =================================================================
``mixture1d``             1-D mixture of three Gaussians (weights .3/.5/.2)
``grid25``                25 Gaussians, means {-4,-2,0,2,4}^2, std 0.05 (VEEGAN / PacGAN)
``grid25_wide``           the same means, std 0.2
``ring8``                 8 Gaussians on a circle of radius 2, std 0.1
``checkerboard``          uniform on the 8 dark squares of a 4x4 board on [-4, 4]^2
``two_moons``             two interleaved half circles plus noise: sample only, no density
========================  =================================================================

Example:
    >>> import torch
    >>> from gmtext.data import toy
    >>> p = toy.load("ring8")
    >>> x = p.sample(5, generator=torch.Generator().manual_seed(0))
    >>> x.shape, p.log_prob(x).shape
    (torch.Size([5, 2]), torch.Size([5]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from gmtext._validate import check_finite, check_n
from gmtext.distributions import LOG_2PI

#: The names :func:`load` accepts.
NAMES: tuple[str, ...] = ("mixture1d", "grid25", "grid25_wide", "ring8", "checkerboard", "two_moons")


def gaussian_mixture_log_prob(x: Tensor, means: Tensor, stds: Tensor, log_weights: Tensor) -> Tensor:
    r"""Log-density of a mixture of diagonal Gaussians.

    .. math:: \log q(x) = \log \sum_k \pi_k \prod_d \mathcal N(x_d; \mu_{kd}, \sigma_{kd}^2)

    computed with ``logsumexp`` so that far-away points give a finite, very negative number
    instead of ``log(0)``.

    Args:
        x: points, shape ``(N, D)``.
        means: component means, shape ``(K, D)``.
        stds: component standard deviations, shape ``(K, D)`` (broadcastable), all positive.
        log_weights: log mixing weights, shape ``(K,)``, normalised (``logsumexp == 0``).

    Returns:
        ``(N,)`` log-densities.
    """
    z = (x[:, None, :] - means[None]) / stds[None]                      # (N, K, D)
    log_norm = -0.5 * z.pow(2) - torch.log(stds)[None] - 0.5 * LOG_2PI
    return torch.logsumexp(log_norm.sum(-1) + log_weights[None], dim=1)  # (N,)


class ToyDistribution:
    """Base class: a named distribution on R^dim with ``sample`` and (usually) ``log_prob``."""

    name: str = "toy"
    dim: int = 2
    has_log_prob: bool = True

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` independent samples, shape ``(n, dim)``, float32 on the CPU."""
        check_n(n)
        return self._sample(n, generator)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density at ``x`` of shape ``(N, dim)``; returns shape ``(N,)``."""
        return self._log_prob(_check_points(x, self.dim, self.name))

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def _log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class GaussianMixture(ToyDistribution):
    """Mixture of diagonal Gaussians with fixed parameters.

    Args:
        means: ``(K, D)`` component means.
        stds: a scalar, ``(K,)`` or ``(K, D)`` standard deviations (positive).
        weights: ``(K,)`` non-negative mixing weights (normalised here); equal when ``None``.
        name: a label for printing.
    """

    def __init__(self, means: Tensor | Sequence, stds: float | Tensor | Sequence,
                 weights: Tensor | Sequence | None = None, name: str = "mixture") -> None:
        means = check_finite(torch.as_tensor(means, dtype=torch.float64), "means")
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        k, d = means.shape
        stds = check_finite(torch.as_tensor(stds, dtype=torch.float64), "stds")
        stds = stds.reshape(k, 1) if stds.ndim == 1 else stds
        stds = torch.broadcast_to(stds, (k, d)).clone()
        if not bool((stds > 0).all()):
            raise ValueError(f"stds must all be positive, got min {float(stds.min()):.3g}")
        weights = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(
            weights, dtype=torch.float64)
        check_finite(weights, "weights")
        if weights.shape != (k,) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
            raise ValueError(f"weights must be {k} non-negative numbers with a positive sum")
        self.means, self.stds, self.weights = means, stds, weights / weights.sum()
        self.name, self.dim = name, d

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[component] + self.stds[component] * noise).float()

    def _log_prob(self, x: Tensor) -> Tensor:
        p = dict(dtype=x.dtype, device=x.device)
        return gaussian_mixture_log_prob(x, self.means.to(**p), self.stds.to(**p),
                                         self.weights.log().to(**p))

    def score(self, x: Tensor) -> Tensor:
        r"""The exact score :math:`\nabla_x \log p(x)`, shape ``(N, D)``.

        .. math:: \nabla_x \log p(x) = \sum_k r_k(x)\,\frac{\mu_k - x}{\sigma_k^2},\qquad
                  r_k(x) = \frac{\pi_k \mathcal N(x; \mu_k, \sigma_k^2)}{\sum_j \pi_j \mathcal N(x; \mu_j, \sigma_j^2)}

        the responsibility-weighted pull towards each mean. Used as the ground truth of score
        matching (chapter 5) and of diffusion denoisers (chapter 6).
        """
        x = _check_points(x, self.dim, self.name)
        p = dict(dtype=x.dtype, device=x.device)
        means, stds = self.means.to(**p), self.stds.to(**p)
        z = (x[:, None, :] - means[None]) / stds[None]                       # (N, K, D)
        log_comp = (-0.5 * z.pow(2) - torch.log(stds)[None]).sum(-1) + self.weights.log().to(**p)
        resp = torch.softmax(log_comp, dim=1)                                # (N, K)
        return (resp[:, :, None] * (-z / stds[None])).sum(1)                 # (N, D)

    def noised(self, sigma: float, alpha: float = 1.0) -> GaussianMixture:
        r"""The law of :math:`\alpha X + \sigma\varepsilon` with :math:`X \sim p`, :math:`\varepsilon \sim \mathcal N(0, I)`.

        A Gaussian mixture again: means :math:`\alpha\mu_k`, variances
        :math:`\alpha^2\sigma_k^2 + \sigma^2`, the same weights. This is the marginal of a
        diffusion's forward process (chapter 6) and the noised density whose score denoising
        score matching learns (chapter 5).

        Example:
            >>> p = GaussianMixture([[0.0], [2.0]], 0.5)
            >>> q = p.noised(sigma=1.0, alpha=0.5)
            >>> q.means.flatten().tolist(), round(float(q.stds[0, 0]) ** 2, 4)
            ([0.0, 1.0], 1.0625)
        """
        if not (math.isfinite(sigma) and math.isfinite(alpha)) or sigma < 0 or alpha <= 0:
            raise ValueError(f"need sigma >= 0 and alpha > 0 (finite), got sigma={sigma}, alpha={alpha}")
        if sigma == 0 and alpha == 1:
            return self
        stds = torch.sqrt(alpha**2 * self.stds.pow(2) + sigma**2)
        return GaussianMixture(alpha * self.means, stds, self.weights, name=f"{self.name}+noise")


class Checkerboard(ToyDistribution):
    """Uniform density on the 8 dark squares (side 2) of a 4x4 board covering [-4, 4]^2.

    A square (i, j), i, j in {0..3}, is dark when i + j is even. The density is 1/32 on the dark
    squares and 0 elsewhere, so ``log_prob`` is ``-log 32`` or ``-inf`` and H(p) = log 32.
    """

    name, dim = "checkerboard", 2

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        dark = torch.tensor([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0])
        square = dark[torch.randint(len(dark), (n,), generator=generator)]           # (n, 2)
        offset = torch.rand(n, 2, generator=generator)
        return (2.0 * (square + offset) - 4.0).float()

    def _log_prob(self, x: Tensor) -> Tensor:
        cell = torch.floor((x + 4.0) / 2.0)                                           # (N, 2)
        inside = ((cell >= 0) & (cell <= 3)).all(-1) & (cell.sum(-1) % 2 == 0)
        out = torch.full(x.shape[:1], -math.log(32.0), dtype=x.dtype, device=x.device)
        return out.masked_fill(~inside, -math.inf)


class TwoMoons(ToyDistribution):
    """Two interleaving half circles with isotropic Gaussian noise (std 0.1), centred at 0.

    Sample only: the density is a convolution of a curve with a Gaussian and has no closed form,
    so ``log_prob`` raises ``NotImplementedError``.
    """

    name, dim, has_log_prob = "two_moons", 2, False

    def _sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        angle = math.pi * torch.rand(n, generator=generator)
        upper = torch.rand(n, generator=generator) < 0.5
        x = torch.where(upper, torch.cos(angle), 1.0 - torch.cos(angle))
        y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
        points = torch.stack([x - 0.5, y - 0.25], dim=1)
        return points + 0.1 * torch.randn(n, 2, generator=generator)

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError("two_moons is sample-only: its density has no closed form; "
                                  f"toys with an exact log_prob: {[n for n in NAMES if n != self.name]}")


def _grid_means() -> Tensor:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(axis, axis)                                         # (25, 2)


def _ring_means(k: int = 8, radius: float = 2.0) -> Tensor:
    angle = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)       # (k, 2)


def load(name: str) -> ToyDistribution:
    """The toy distribution called ``name`` (one of :data:`NAMES`).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if name == "mixture1d":
        return GaussianMixture([[-3.0], [0.0], [2.5]], [0.6, 0.8, 0.4], [0.3, 0.5, 0.2], name=name)
    if name == "grid25":
        return GaussianMixture(_grid_means(), 0.05, name=name)
    if name == "grid25_wide":
        return GaussianMixture(_grid_means(), 0.2, name=name)
    if name == "ring8":
        return GaussianMixture(_ring_means(), 0.1, name=name)
    if name == "checkerboard":
        return Checkerboard()
    if name == "two_moons":
        return TwoMoons()
    raise ValueError(f"unknown toy {name!r}; valid names: {', '.join(NAMES)}")


def _check_points(x: Tensor, dim: int, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (N, {dim}), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        hint = " (use x.unsqueeze(-1) for a batch of scalars)" if dim == 1 and x.ndim == 1 else ""
        raise ValueError(f"{name}.log_prob expects shape (N, {dim}), got {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    return check_finite(x, f"the points given to {name}.log_prob")
