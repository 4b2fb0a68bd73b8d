r"""Maximum-likelihood density estimation: closed forms, gradient MLE, kernel density estimation.

Maximum likelihood picks the parameters that make the data most probable (chapter 1, eq. (1.4)),

.. math:: \hat\theta = \arg\max_\theta \frac1N \sum_{n=1}^N \log q_\theta(x_n),

which is the same as minimising the forward KL divergence
:math:`\mathrm{KL}(p_\text{data}\,\|\,q_\theta)` (eq. (1.5)). This module holds what chapter 1 fits:

- :func:`gaussian_mle`: the closed-form Gaussian MLE (eq. (1.6));
- :class:`GaussianModel`: a learnable full-covariance Gaussian, for gradient MLE (:func:`fit_mle`);
- :class:`~gmtext.mixture.MixtureModel` and :func:`~gmtext.mixture.fit_em` (re-exported from
  :mod:`gmtext.mixture`): Gaussian mixtures by gradient MLE and by EM;
- :func:`categorical_mle`: independent per-pixel categoricals by counts, the image baseline;
- :func:`kde_log_prob`: the Gaussian kernel density estimator (Parzen window, eq. (1.11));
- :func:`dequantize`: uniform dequantization of integer data (eq. (1.12)).

Example:
    >>> x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)) * 2.0 + 1.0
    >>> mean, cov = gaussian_mle(x)                       # closed form, eq. (1.6)
    >>> bool(torch.allclose(GaussianModel.from_moments(mean, cov).covariance, cov, atol=1e-5))
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gmtext._validate import check_data, check_n, check_points
from gmtext.distributions import LOG_2PI
from gmtext.mixture import EMResult, MixtureModel, fit_em
from gmtext.train import Callback, History, TrainConfig, fit, minibatches

__all__ = ["gaussian_mle", "GaussianModel", "fit_mle", "categorical_mle", "categorical_log_prob",
           "dequantize", "kde_log_prob", "silverman_bandwidth", "MixtureModel", "EMResult",
           "fit_em"]


def gaussian_mle(x: Tensor) -> tuple[Tensor, Tensor]:
    r"""Closed-form maximum-likelihood Gaussian: the sample mean and the 1/N sample covariance.

    .. math:: \hat\mu = \frac1N\sum_n x_n,\qquad
              \hat\Sigma = \frac1N\sum_n (x_n-\hat\mu)(x_n-\hat\mu)^\top

    Note the :math:`1/N`, not the unbiased :math:`1/(N-1)`: the MLE is biased,
    :math:`\mathbb E[\hat\Sigma] = \frac{N-1}{N}\Sigma` (chapter 1, exercise).
    Derived in chapter 1, eq. (1.6).

    Args:
        x: data ``(N, D)``, floating point.

    Returns:
        ``(mean, cov)`` of shapes ``(D,)`` and ``(D, D)``.

    Example:
        >>> gaussian_mle(torch.tensor([[0.0], [2.0]]))
        (tensor([1.]), tensor([[1.]]))
    """
    x = check_data(x)
    mean = x.mean(0)                                   # (D,)
    centred = x - mean                                 # (N, D)
    return mean, centred.T @ centred / x.shape[0]      # (D, D)


class GaussianModel(nn.Module):
    r"""A learnable full-covariance Gaussian :math:`q(x) = \mathcal N(x; \mu, LL^\top)`.

    :math:`L` is lower triangular with a positive diagonal :math:`e^{\ell}` (a Cholesky factor), so
    every parameter value is a valid covariance and gradient ascent needs no constraint.

    .. math:: \log q(x) = -\tfrac12\|L^{-1}(x-\mu)\|^2 - \sum_d \ell_d - \tfrac D2\log 2\pi

    Args:
        dim: dimension ``D``; starts as the standard normal.

    Example:
        >>> q = GaussianModel(3)                      # starts as N(0, I)
        >>> with torch.no_grad():
        ...     log_q0 = float(q.log_prob(torch.zeros(1, 3)))
        >>> math.isclose(log_q0, -1.5 * math.log(2 * math.pi), rel_tol=1e-6)
        True
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_diag = nn.Parameter(torch.zeros(dim))          # log of L's diagonal
        self.lower = nn.Parameter(torch.zeros(dim, dim))        # strictly lower part used only

    @classmethod
    def from_moments(cls, mean: Tensor, cov: Tensor) -> GaussianModel:
        """The Gaussian with mean ``(D,)`` and covariance ``(D, D)`` (positive definite)."""
        mean, cov = torch.as_tensor(mean), torch.as_tensor(cov)
        d = mean.shape[0] if mean.ndim == 1 else -1
        if mean.ndim != 1 or cov.shape != (d, d):
            raise ValueError(f"need mean (D,) and cov (D, D), got {tuple(mean.shape)}, "
                             f"{tuple(cov.shape)}")
        chol, info = torch.linalg.cholesky_ex(cov.double())
        if int(info) != 0:
            raise ValueError("cov is not positive definite (add a small multiple of the identity)")
        q = cls(d)
        with torch.no_grad():
            q.loc.copy_(mean)
            q.log_diag.copy_(chol.diagonal().log())
            q.lower.copy_(chol.tril(-1))
        return q

    @property
    def dim(self) -> int:
        return self.loc.shape[0]

    @property
    def scale_tril(self) -> Tensor:
        """The Cholesky factor :math:`L` ``(D, D)``."""
        return self.lower.tril(-1) + torch.diag_embed(self.log_diag.exp())

    @property
    def covariance(self) -> Tensor:
        """:math:`\\Sigma = LL^\\top`, ``(D, D)``."""
        scale = self.scale_tril
        return scale @ scale.T

    def log_prob(self, x: Tensor) -> Tensor:
        """``log q(x)`` for ``x`` of shape ``(N, D)``; returns ``(N,)``."""
        x = check_points(x, self.dim)
        # z = L^{-1} (x - mu) by a triangular solve                                  (N, D)
        z = torch.linalg.solve_triangular(self.scale_tril, (x - self.loc).T, upper=False).T
        return -0.5 * z.pow(2).sum(-1) - self.log_diag.sum() - 0.5 * self.dim * LOG_2PI

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples ``(n, D)``: :math:`x = \\mu + L\\epsilon` with
        :math:`\\epsilon\\sim\\mathcal N(0, I)`."""
        check_n(n)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.loc.dtype)
        return self.loc + eps @ self.scale_tril.T


def fit_mle(model: nn.Module, x: Tensor, steps: int, *, lr: float = 0.05,
            batch_size: int | None = None, generator: torch.Generator | None = None,
            anneal: bool = True, callbacks: Sequence[Callback] = (), progress: bool = True,
            desc: str = "MLE") -> History:
    r"""Gradient MLE: minimise the average negative log-likelihood with Adam.

    .. math:: \mathcal L(\theta) = -\frac1N\sum_n \log q_\theta(x_n)

    the loss of eq. (1.4) in chapter 1; ``model`` is anything with ``log_prob(x) -> (N,)``.

    Args:
        model: the density model, trained in place.
        x: training data ``(N, D)``.
        steps: optimiser steps.
        lr: Adam's learning rate.
        batch_size: minibatch size (``None``: the full data every step, deterministic).
        generator: minibatch shuffling, the only randomness of the fit (the model's starting
            parameters are whatever ``model`` holds: its constructor decides them).
        anneal: decay the learning rate to 0 on a cosine schedule (the end settles on the optimum).
        callbacks, progress, desc: passed to :func:`gmtext.train.fit`.

    Returns:
        The :class:`~gmtext.train.History`; ``history.loss`` is the training NLL in nats per point.
    """
    x = check_data(x)
    config = TrainConfig(steps, lr=lr, lr_schedule="cosine" if anneal else "constant",
                         progress=progress, desc=desc)
    if batch_size is None:
        return fit(model, lambda: -model.log_prob(x).mean(), None, config, callbacks=callbacks)
    batches = minibatches(x, batch_size=batch_size, generator=generator)
    return fit(model, lambda batch: -model.log_prob(batch).mean(), batches, config,
               callbacks=callbacks)


def categorical_mle(x: Tensor, levels: int, pseudocount: float = 1.0) -> Tensor:
    r"""Independent categorical per dimension, fitted by (smoothed) counts.

    .. math:: \log q(x_d = v) = \log\frac{c_{dv} + \alpha}{N + V\alpha}

    where :math:`c_{dv}` counts training points with value :math:`v` in dimension :math:`d`. With
    :math:`\alpha = 0` this is the MLE (chapter 1, exercise); :math:`\alpha = 1` (Laplace smoothing)
    keeps values never seen in training at a finite likelihood.

    Args:
        x: integer data ``(N, ...)`` with values in ``0 .. levels - 1`` (flattened per point).
        levels: number of values ``V``.
        pseudocount: :math:`\alpha \ge 0`.

    Returns:
        log-probabilities ``(D, V)``, ``D`` the number of dimensions per point.

    Example:
        >>> categorical_mle(torch.tensor([[0], [0], [1]]), levels=2, pseudocount=0).exp()
        tensor([[0.6667, 0.3333]])
    """
    if not isinstance(x, Tensor) or x.is_floating_point() or x.ndim < 2:
        raise TypeError(f"x must be an integer tensor (N, ...), got {getattr(x, 'dtype', type(x))}")
    if int(x.min()) < 0 or int(x.max()) >= levels or pseudocount < 0:
        raise ValueError(f"need values in [0, {levels}) and pseudocount >= 0, got values in "
                         f"[{int(x.min())}, {int(x.max())}], pseudocount {pseudocount}")
    flat = x.reshape(x.shape[0], -1)                                              # (N, D)
    counts = nn.functional.one_hot(flat, levels).sum(0).double() + pseudocount    # (D, V)
    return (counts / counts.sum(-1, keepdim=True)).log().float()


def categorical_log_prob(x: Tensor, log_probs: Tensor) -> Tensor:
    """``log q(x) = sum_d log q(x_d)``, shape ``(N,)``, under a :func:`categorical_mle` table."""
    flat = x.reshape(x.shape[0], -1)                                              # (N, D)
    if flat.shape[1] != log_probs.shape[0]:
        raise ValueError(f"x has {flat.shape[1]} dimensions per point, "
                         f"the table {log_probs.shape[0]}")
    return log_probs.gather(1, flat.T).sum(0)


def dequantize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Uniform dequantization: integer data ``(N, ...)`` to floats ``(N, D)``, :math:`y = x + u`.

    With :math:`u \sim \mathcal U[0,1)^D`, a continuous density :math:`q` evaluated at :math:`y`
    gives an upper bound on the NLL of the discrete model it induces (Jensen; Theis et al. 2016):

    .. math:: -\log P(x) = -\log\int_{[0,1)^D} q(x+u)\,du \le \mathbb E_u[-\log q(x+u)]

    Derived in chapter 1, eq. (1.12).
    """
    if not isinstance(x, Tensor) or x.is_floating_point() or x.ndim < 2:
        raise TypeError(f"x must be an integer tensor (N, ...), got {getattr(x, 'dtype', type(x))}")
    flat = x.reshape(x.shape[0], -1).float()                                      # (N, D)
    return flat + torch.rand(flat.shape, generator=generator)


def kde_log_prob(x: Tensor, data: Tensor, bandwidth: float | Tensor,
                 chunk_elements: int = 2**22) -> Tensor:
    r"""Gaussian kernel density estimate (Parzen window) evaluated at ``x``.

    .. math:: q_h(x) = \frac1M \sum_{m=1}^M \mathcal N(x;\ x_m, h^2 I)

    a mixture with one component per training point :math:`x_m` (Parzen 1962). Every training point
    counts (no leave-one-out): evaluated on its own training data the estimate sees each point's own
    kernel, so as :math:`h\to 0` the training NLL goes to :math:`-\infty` while the test NLL goes to
    :math:`+\infty` -- overfitting in its purest form. Derived in chapter 1, eq. (1.11).

    Args:
        x: query points ``(N, D)``.
        data: training points ``(M, D)``.
        bandwidth: :math:`h > 0`, a number or a ``(D,)`` tensor (one per dimension).
        chunk_elements: queries are processed in chunks of about this many ``N*M`` distances.

    Returns:
        ``(N,)`` log-densities.

    Example:
        >>> grid = torch.linspace(-8, 8, 4001)[:, None]
        >>> q = kde_log_prob(grid, torch.tensor([[-1.0], [0.5], [2.0]]), 0.3).exp()
        >>> round(float(torch.trapezoid(q, grid[:, 0])), 4)
        1.0
    """
    data = check_data(data)
    x = check_points(x, data.shape[1])
    h = torch.as_tensor(bandwidth, dtype=x.dtype)
    if h.ndim > 1 or (h.ndim == 1 and h.shape[0] != data.shape[1]) or not bool((h > 0).all()):
        raise ValueError(f"bandwidth must be positive, a number or ({data.shape[1]},), "
                         f"got {bandwidth}")
    m, d = data.shape
    h = h.expand(d)                                                               # (D,)
    const = -math.log(m) - float(h.log().sum()) - 0.5 * d * LOG_2PI
    scaled_data = data.to(x.dtype) / h                                            # (M, D)
    chunk = max(1, chunk_elements // m)
    out = []
    for start in range(0, x.shape[0], chunk):
        # squared kernel distances ||(x - x_m) / h||^2, computed exactly (no matmul shortcut) (c, M)
        sq = torch.cdist(x[start:start + chunk] / h, scaled_data,
                         compute_mode="donot_use_mm_for_euclid_dist").pow(2)
        out.append(torch.logsumexp(-0.5 * sq, dim=1) + const)
    return torch.cat(out)


def silverman_bandwidth(data: Tensor) -> float:
    r"""Silverman's rule of thumb for a Gaussian kernel in ``D`` dimensions (Silverman 1986).

    .. math:: h = \Big(\frac{4}{(D+2)\,M}\Big)^{1/(D+4)} \bar\sigma

    with :math:`\bar\sigma` the average per-dimension standard deviation; optimal for Gaussian data,
    too wide for multimodal data (chapter 1 compares it with the validation optimum).

    Example:
        >>> round(silverman_bandwidth(torch.linspace(-1, 1, 101)[:, None]), 3)
        0.247
    """
    data = check_data(data)
    m, d = data.shape
    return float((4.0 / ((d + 2) * m)) ** (1.0 / (d + 4)) * data.std(0).mean())
