r"""Gaussian mixture models: a learnable mixture for gradient MLE, and EM.

A mixture of :math:`K` diagonal Gaussians (chapter 1, eq. (1.7))

.. math::

    q_\theta(x) = \sum_{k=1}^K \pi_k\,
                  \mathcal N\big(x;\ \mu_k, \operatorname{diag}\sigma_k^2\big)

is fitted two ways in the book: by gradient ascent on the log-likelihood (:class:`MixtureModel`
with :func:`gmtext.mle.fit_mle`), and by expectation-maximisation (:func:`fit_em`), which
alternates the responsibilities (E-step, eq. (1.9)) with closed-form weighted MLEs (M-step,
eq. (1.10)) and never decreases the log-likelihood (Dempster, Laird and Rubin 1977). Densities
are evaluated by :func:`gmtext.data.toy.gaussian_mixture_log_prob`, the function the analytic toys
use; EM's E-step uses an equivalent matrix-product form for speed.

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

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gmtext._validate import check_data, check_finite, check_n, check_points
from gmtext.data.toy import gaussian_mixture_log_prob
from gmtext.distributions import LOG_2PI
from gmtext.kmeans import kmeans


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
        >>> density = q.log_prob(x).exp().detach()
        >>> round(float(torch.trapezoid(density, x[:, 0])), 4)
        1.0
    """

    def __init__(self, means: Tensor, stds: Tensor | float = 1.0, weights: Tensor | None = None,
                 min_std: float = 1e-3) -> None:
        super().__init__()
        means = check_finite(torch.as_tensor(means, dtype=torch.get_default_dtype()), "means")
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        k, d = means.shape
        stds = torch.broadcast_to(torch.as_tensor(stds, dtype=means.dtype), (k, d)).clone()
        check_finite(stds, "stds")
        if min_std < 0 or not bool((stds > min_std).all()):
            raise ValueError(f"need min_std >= 0 and every initial std > min_std={min_std}")
        weights = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights)
        check_finite(weights, "weights")
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
                       min_std: float = 1e-3, kmeans_iters: int = 10,
                       restarts: int = 1) -> MixtureModel:
        """Start from a k-means clustering of ``x`` (``gmtext.kmeans.kmeans``), as usual for EM.

        Each component gets its cluster's mean, per-dimension std (at least ``2 * min_std``; the
        data's std for clusters of fewer than two points) and fraction of the points. With
        ``restarts > 1`` the best of that many k-means runs (smallest within-cluster sum of squares)
        is used.
        """
        x = check_data(x)
        centres, labels = kmeans(x, k, generator, kmeans_iters, restarts)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)                  # (K,)
        sq = torch.zeros_like(centres).index_add_(0, labels, (x - centres[labels]).pow(2))
        stds = (sq / counts.clamp_min(1)[:, None]).sqrt()                         # (K, D)
        stds = torch.where(counts[:, None] > 1, stds, x.std(0).expand(k, -1))
        return cls(centres, stds.clamp_min(2 * min_std + 1e-6), counts.clamp_min(0.5), min_std)

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
        x = check_points(x, self.dim)
        return gaussian_mixture_log_prob(x, self.means, self.stds, self.log_weights)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples ``(n, D)``: pick a component k ~ pi, then x = mu_k + sigma_k * eps."""
        check_n(n)
        k = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        return self.means[k] + self.stds[k] * eps


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
        x = check_points(x, self.means.shape[1])
        return gaussian_mixture_log_prob(x, self.means.to(x.dtype), self.stds.to(x.dtype),
                                         self.weights.to(x.dtype).clamp_min(1e-300).log())

    def model(self, min_std: float = 0.0) -> MixtureModel:
        """The fitted mixture as a :class:`MixtureModel` (to sample, or to train further)."""
        return MixtureModel(self.means, self.stds, self.weights, min_std=min_std)


def fit_em(x: Tensor, k: int, iters: int, generator: torch.Generator | None = None, *,
           min_std: float = 1e-3, tol: float | None = None, record: bool = False,
           init: MixtureModel | None = None, restarts: int = 1) -> EMResult:
    r"""Expectation-maximisation for a mixture of ``k`` diagonal Gaussians (Dempster et al. 1977).

    E-step (chapter 1, eq. (1.9)), the posterior over the component of each point:

    .. math:: r_{nk} = \frac{\pi_k \mathcal N(x_n; \mu_k, \sigma_k^2)}
                            {\sum_j \pi_j \mathcal N(x_n; \mu_j, \sigma_j^2)}

    M-step (eq. (1.10)), weighted maximum-likelihood estimates with :math:`N_k = \sum_n r_{nk}`:

    .. math::

        \pi_k = \frac{N_k}{N},\quad \mu_k = \frac{1}{N_k}\sum_n r_{nk} x_n,\quad
        \sigma_{kd}^2 = \max\Big(\frac{1}{N_k}\sum_n r_{nk}(x_{nd}-\mu_{kd})^2,\
                                 \sigma_{\min}^2\Big)

    **Variance floor.** The likelihood of a mixture is unbounded: a component centred on one data
    point with :math:`\sigma \to 0` sends it to :math:`+\infty`. The floor ``min_std`` forbids this
    collapse. Since the expected complete-data log-likelihood is unimodal in each
    :math:`\sigma^2_{kd}`, clipping the unconstrained maximiser at the floor is the exact
    constrained maximiser, so EM with the floor still never decreases the log-likelihood
    (eq. (1.8)).

    Computation is in float64 (the monotonicity holds to round-off); results come back in ``x``'s
    dtype.

    Args:
        x: data ``(N, D)``.
        k: number of components, ``1 <= k <= N``.
        iters: maximum number of EM iterations (``>= 0``).
        generator: randomness of the k-means++ initialisation (:meth:`MixtureModel.init_from_data`).
        min_std: the standard-deviation floor :math:`\sigma_{\min} > 0`, in the units of ``x``.
        tol: stop early when an iteration gains less than ``tol`` nats per point.
        record: keep the parameters after every iteration in ``history`` (for animations).
        init: start from this mixture instead of k-means++ seeding.
        restarts: run EM from this many k-means++ seedings and keep the run with the highest final
            log-likelihood. EM only finds a local maximum: on ``grid25`` a single run often puts two
            components on one mode and none on another.

    Raises:
        ValueError: on a bad ``x``, ``k``, ``iters`` or ``min_std``.
    """
    x = check_data(x)
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be a non-negative int, got {iters!r}")
    if not min_std > 0:
        raise ValueError(f"min_std must be > 0 (it prevents collapse), got {min_std}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be a positive int, got {restarts!r}")
    if restarts > 1:
        if init is not None:
            raise ValueError("restarts > 1 draws new k-means++ seeds; it cannot be used with init")
        runs = [fit_em(x, k, iters, generator, min_std=min_std, tol=tol, record=record)
                for _ in range(restarts)]
        return max(runs, key=lambda run: run.log_likelihood[-1])
    if init is None:
        init = MixtureModel.init_from_data(x, k, generator, min_std=min_std)
    elif init.means.shape[1] != x.shape[1]:
        raise ValueError(f"init has dimension {init.means.shape[1]}, data has {x.shape[1]}")
    with torch.no_grad():
        xd = x.double()
        means, stds = init.means.double().clone(), init.stds.double().clone().clamp_min(min_std)
        log_w = init.log_weights.double()
        log_w = log_w - torch.logsumexp(log_w, 0)    # renormalise: a float32 softmax is off by 1e-7
    lls: list[float] = []
    history: list[tuple[Tensor, Tensor, Tensor]] = []
    for it in range(iters + 1):
        # E-step: log pi_k + log N(x_n; mu_k, sigma_k)                                 (N, K)
        log_joint = _log_joint(xd, means, stds, log_w)
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
        # sum_n r_nk (x_nd - mu_kd)^2 / N_k = E_r[x^2] - mu^2 for the weighted mean mu (float64)
        var = (resp.T @ xd.pow(2)) / safe - new_means.pow(2)                      # (K, D)
        stds = var.clamp_min(min_std**2).sqrt()
        log_w = torch.log(nk / nk.sum())
        if record:
            history.append((means.to(x.dtype), stds.to(x.dtype), log_w.exp().to(x.dtype)))
    return EMResult(means.to(x.dtype), stds.to(x.dtype), log_w.exp().to(x.dtype), lls, history)


def _log_joint(x: Tensor, means: Tensor, stds: Tensor, log_w: Tensor) -> Tensor:
    r"""``(N, K)`` matrix of :math:`\log\pi_k + \log\mathcal N(x_n; \mu_k, \sigma_k^2)`.

    The quadratic form is expanded, :math:`\sum_d (x_d-\mu_{kd})^2/\sigma_{kd}^2 =
    x^2\cdot\sigma_k^{-2} - 2x\cdot\mu_k\sigma_k^{-2} + \mu_k^2\cdot\sigma_k^{-2}`, so that an EM
    step costs three matrix products instead of an ``(N, K, D)`` tensor. Used in float64, where the
    cancellation is harmless; :func:`gmtext.data.toy.gaussian_mixture_log_prob` is the reference
    (their logsumexp over ``k`` agrees, a test).
    """
    precision = stds.pow(-2)                                                      # (K, D)
    quad = x.pow(2) @ precision.T - 2 * x @ (means * precision).T \
        + (means.pow(2) * precision).sum(1)                                       # (N, K)
    log_norm = -0.5 * quad - stds.log().sum(1) - 0.5 * x.shape[1] * LOG_2PI
    return log_norm + log_w
