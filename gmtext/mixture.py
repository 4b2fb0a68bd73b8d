r"""Gaussian mixture models: a learnable mixture for gradient MLE, and EM.

A mixture of :math:`K` diagonal Gaussians (chapter 1, eq. (1.7))

.. math:: q_\theta(x) = \sum_{k=1}^K \pi_k\, \mathcal N\big(x;\ \mu_k, \operatorname{diag}\sigma_k^2\big)

is fitted two ways in the book: by gradient ascent on the log-likelihood (:class:`MixtureModel`
with :func:`gmtext.mle.fit_mle`), and by expectation-maximisation (:func:`fit_em`), which alternates
the responsibilities (E-step, eq. (1.9)) with closed-form weighted MLEs (M-step, eq. (1.10)) and never
decreases the log-likelihood (Dempster, Laird and Rubin 1977). Both evaluate densities with
:func:`gmtext.data.toy.gaussian_mixture_log_prob`, the function the analytic toys use.

Example:
    >>> import torch
    >>> from gmtext.data import toy
    >>> g = torch.Generator().manual_seed(0)
    >>> x = toy.load("ring8").sample(2000, generator=g)
    >>> em = fit_em(x, k=8, iters=50, generator=g)
    >>> all(b >= a - 1e-9 for a, b in zip(em.log_likelihood, em.log_likelihood[1:]))
    True
    >>> em.model().sample(3, generator=g).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gmtext.data.toy import gaussian_mixture_log_prob


class MixtureModel(nn.Module):
    r"""A learnable mixture of diagonal Gaussians, eq. (1.7) of chapter 1.

    Unconstrained parameters, so that any gradient step gives a valid density:
    means :math:`\mu_k`; log-scales :math:`s_k` with :math:`\sigma_k = \sigma_{\min} + e^{s_k}`
    (the floor :math:`\sigma_{\min}` stops a component from collapsing onto one data point, where
    the likelihood is unbounded); logits :math:`a` with :math:`\pi = \operatorname{softmax}(a)`.

    Args:
        means: ``(K, D)`` initial means.
        stds: initial standard deviations, a scalar or ``(K, D)`` / ``(K, 1)``, all ``> min_std``.
        weights: ``(K,)`` initial mixing weights (normalised here); equal when ``None``.
        min_std: the floor :math:`\sigma_{\min} \ge 0`.

    Example:
        >>> q = MixtureModel(torch.tensor([[-1.0], [1.0]]), stds=0.5)
        >>> x = torch.linspace(-6, 6, 2001)[:, None]
        >>> round(float(torch.trapezoid(q.log_prob(x).exp(), x[:, 0])), 4)
        1.0
    """

    def __init__(self, means: Tensor, stds: Tensor | float = 1.0, weights: Tensor | None = None,
                 min_std: float = 1e-3) -> None:
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.get_default_dtype())
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        k, d = means.shape
        stds = torch.broadcast_to(torch.as_tensor(stds, dtype=means.dtype), (k, d)).clone()
        if min_std < 0 or not bool((stds > min_std).all()):
            raise ValueError(f"need min_std >= 0 and every initial std > min_std={min_std}")
        weights = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights)
        if weights.shape != (k,) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
            raise ValueError(f"weights must be {k} non-negative numbers with a positive sum, "
                             f"got shape {tuple(weights.shape)}")
        weights = (weights / weights.sum()).clamp_min(1e-12).to(means.dtype)
        self.min_std = float(min_std)
        self.means = nn.Parameter(means.clone())
        self.log_scales = nn.Parameter(torch.log(stds - min_std))
        self.logits = nn.Parameter(weights.log())

    @classmethod
    def init_from_data(cls, x: Tensor, k: int, generator: torch.Generator | None = None,
                       min_std: float = 1e-3) -> MixtureModel:
        """Means by k-means++ seeding (:func:`kmeans_plus_plus`), every std the data's std, equal weights."""
        x = _check_data(x)
        std = x.std(0).clamp_min(2 * min_std + 1e-6)                      # (D,)
        return cls(kmeans_plus_plus(x, k, generator), std.expand(k, -1), None, min_std)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def stds(self) -> Tensor:
        """``(K, D)`` standard deviations :math:`\\sigma_{\\min} + e^{s}`."""
        return self.min_std + self.log_scales.exp()

    @property
    def log_weights(self) -> Tensor:
        """``(K,)`` normalised log mixing weights :math:`\\log\\pi_k`."""
        return torch.log_softmax(self.logits, dim=0)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log q(x)`` for ``x`` of shape ``(N, D)``; returns ``(N,)``."""
        x = _check_points(x, self.dim)
        return gaussian_mixture_log_prob(x, self.means, self.stds, self.log_weights)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples ``(n, D)``: pick a component k ~ pi, then x = mu_k + sigma_k * eps."""
        _check_n(n)
        k = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        return self.means[k] + self.stds[k] * eps


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    r"""k-means++ seeding: ``k`` data points, each drawn with probability :math:`\propto D(x)^2`.

    :math:`D(x)` is the distance to the nearest point already chosen, so seeds spread over the data
    (Arthur and Vassilvitskii 2007). Returns ``(k, D)``.
    """
    x = _check_data(x)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= x.shape[0]:
        raise ValueError(f"k must be an int in [1, N={x.shape[0]}], got {k!r}")
    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    centres = [x[first]]
    d2 = (x - x[first]).pow(2).sum(-1)                                    # (N,)
    for _ in range(k - 1):
        p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / len(d2))
        idx = int(torch.multinomial(p, 1, generator=generator))
        centres.append(x[idx])
        d2 = torch.minimum(d2, (x - x[idx]).pow(2).sum(-1))
    return torch.stack(centres)


@dataclass
class EMResult:
    """What :func:`fit_em` returns.

    Attributes:
        means: ``(K, D)``; stds: ``(K, D)``; weights: ``(K,)``.
        log_likelihood: the average log-likelihood per data point (nats) at the initial
            parameters and after every iteration: ``iters + 1`` values, non-decreasing.
        history: ``(means, stds, weights)`` after every iteration when ``record=True``.
    """

    means: Tensor
    stds: Tensor
    weights: Tensor
    log_likelihood: list[float]
    history: list[tuple[Tensor, Tensor, Tensor]] = field(default_factory=list)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log q(x)`` of the fitted mixture, ``(N,)``."""
        x = _check_points(x, self.means.shape[1])
        return gaussian_mixture_log_prob(x, self.means.to(x.dtype), self.stds.to(x.dtype),
                                         self.weights.to(x.dtype).clamp_min(1e-300).log())

    def model(self, min_std: float = 0.0) -> MixtureModel:
        """The fitted mixture as a :class:`MixtureModel` (for sampling, or further gradient steps)."""
        return MixtureModel(self.means, self.stds, self.weights, min_std=min_std)


def fit_em(x: Tensor, k: int, iters: int, generator: torch.Generator | None = None, *,
           min_std: float = 1e-3, tol: float | None = None, record: bool = False,
           init: MixtureModel | None = None) -> EMResult:
    r"""Expectation-maximisation for a mixture of ``k`` diagonal Gaussians (Dempster et al. 1977).

    E-step (chapter 1, eq. (1.9)), the posterior over the component of each point:

    .. math:: r_{nk} = \frac{\pi_k \mathcal N(x_n; \mu_k, \sigma_k^2)}
                            {\sum_j \pi_j \mathcal N(x_n; \mu_j, \sigma_j^2)}

    M-step (eq. (1.10)), weighted maximum-likelihood estimates with :math:`N_k = \sum_n r_{nk}`:

    .. math:: \pi_k = \frac{N_k}{N},\quad \mu_k = \frac{1}{N_k}\sum_n r_{nk} x_n,\quad
              \sigma_{kd}^2 = \max\Big(\frac{1}{N_k}\sum_n r_{nk}(x_{nd}-\mu_{kd})^2,\ \sigma_{\min}^2\Big)

    **Variance floor.** The likelihood of a mixture is unbounded: a component centred on one data
    point with :math:`\sigma \to 0` sends it to :math:`+\infty`. The floor ``min_std`` forbids this
    collapse. Since the expected complete-data log-likelihood is unimodal in each :math:`\sigma^2_{kd}`,
    clipping the unconstrained maximiser at the floor is the exact constrained maximiser, so EM with
    the floor still never decreases the log-likelihood (eq. (1.8)).

    Computation is in float64 (the monotonicity holds to round-off); results come back in ``x``'s dtype.

    Args:
        x: data ``(N, D)``.
        k: number of components, ``1 <= k <= N``.
        iters: maximum number of EM iterations (``>= 0``).
        generator: randomness of the k-means++ initialisation (:meth:`MixtureModel.init_from_data`).
        min_std: the standard-deviation floor :math:`\sigma_{\min} > 0`, in the units of ``x``.
        tol: stop early when an iteration gains less than ``tol`` nats per point.
        record: keep the parameters after every iteration in ``history`` (for animations).
        init: start from this mixture instead of k-means++ seeding.

    Raises:
        ValueError: on a bad ``x``, ``k``, ``iters`` or ``min_std``.
    """
    x = _check_data(x)
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be a non-negative int, got {iters!r}")
    if not min_std > 0:
        raise ValueError(f"min_std must be > 0 (it prevents collapse), got {min_std}")
    if init is None:
        init = MixtureModel.init_from_data(x, k, generator, min_std=min_std)
    elif init.means.shape[1] != x.shape[1]:
        raise ValueError(f"init has dimension {init.means.shape[1]}, data has {x.shape[1]}")
    with torch.no_grad():
        xd = x.double()
        means, stds = init.means.double().clone(), init.stds.double().clone().clamp_min(min_std)
        log_w = init.log_weights.double().clone()
    lls: list[float] = []
    history: list[tuple[Tensor, Tensor, Tensor]] = []
    for it in range(iters + 1):
        # E-step: log pi_k + log N(x_n; mu_k, sigma_k), one component at a time   (N, K)
        log_joint = torch.stack([gaussian_mixture_log_prob(xd, m[None], s[None], lw[None])
                                 for m, s, lw in zip(means, stds, log_w)], dim=1)
        log_q = torch.logsumexp(log_joint, dim=1)                                 # (N,)
        lls.append(float(log_q.mean()))
        if it == iters or (tol is not None and it > 0 and lls[-1] - lls[-2] < tol):
            break
        resp = torch.exp(log_joint - log_q[:, None])                              # r_nk, (N, K)
        # M-step: weighted MLEs, eq. (1.10); an empty component keeps its mean and weight 0
        nk = resp.sum(0)                                                          # (K,)
        safe = nk.clamp_min(1e-300)[:, None]
        new_means = resp.T @ xd / safe                                            # (K, D)
        means = torch.where(nk[:, None] > 0, new_means, means)
        var = (resp.T @ xd.pow(2)) / safe - means.pow(2)                          # E_r[x^2] - mu^2
        stds = var.clamp_min(min_std**2).sqrt()
        log_w = torch.log(nk / nk.sum())
        if record:
            history.append((means.to(x.dtype), stds.to(x.dtype), log_w.exp().to(x.dtype)))
    return EMResult(means.to(x.dtype), stds.to(x.dtype), log_w.exp().to(x.dtype), lls, history)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (number of samples), got {n!r}")


def _check_data(x: Tensor) -> Tensor:
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


def _check_points(x: Tensor, dim: int) -> Tensor:
    x = _check_data(x)
    if x.shape[1] != dim:
        raise ValueError(f"the model has dimension {dim}, got points of shape {tuple(x.shape)}")
    return x


LOG_2PI = math.log(2 * math.pi)
