r"""The exact check: a Gaussian (mixture) prior and a linear-Gaussian measurement have a closed-form posterior.

Prior :math:`x = Uz`, :math:`z\sim\sum_k\pi_k\mathcal N(m_k, \operatorname{diag}s_k^2)` with an
orthogonal :math:`U` (:class:`RotatedMixture`): a mixture of correlated Gaussians with covariances
:math:`C_k = U\operatorname{diag}(s_k^2)U^\top`. Because the noise of every Gaussian path is
isotropic, :math:`x_t = Uz_t`, and the exact denoiser is the rotated denoiser of the diagonal
mixture (:func:`gmtext.diffusion.oracles.mixture_model`): samplers run on the exact prior, so what
is left of an error is the sampler's. With :math:`y = Ax + \sigma_y n` the posterior is the mixture
(Bishop 2006, eqs. (2.113)-(2.117); chapter 2's linear-Gaussian model)

.. math::
    p(x\mid y) = \sum_k w_k(y)\,\mathcal N(\mu_k(y), \Sigma_k),\quad
    S_k = AC_kA^\top + \sigma_y^2 I,\quad K_k = C_kA^\top S_k^{-1},

    \mu_k(y) = \mu_k + K_k(y - A\mu_k),\quad \Sigma_k = C_k - K_kAC_k,\quad
    w_k(y)\propto\pi_k\,\mathcal N(y; A\mu_k, S_k),

:func:`mixture_posterior`. A sample :math:`\tilde x` of the exact posterior and its mean
:math:`\bar x = \mathbb E[x\mid y]` satisfy :math:`\mathbb E\|\tilde x - x\|^2 = 2\,\mathbb E\|\bar x - x\|^2`
(both equal the posterior's total variance, and the two errors add independently), so samples
lie :math:`10\log_{10}2\approx 3.01` dB below the mean in PSNR (:func:`psnr_gap`).
Derived in chapter 9, eqs. (9.7)-(9.8).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion.oracles import mixture_model
from gmtext.diffusion.process import Model
from gmtext.diffusion.schedules import Schedule

__all__ = ["RotatedMixture", "smooth_prior", "operator_matrix", "mixture_posterior", "moment_errors",
           "psnr_gap"]


class RotatedMixture:
    r"""Images :math:`x = Uz` of a diagonal Gaussian mixture :math:`z` (module docstring).

    Args:
        mixture: the mixture of :math:`z`, dimension :math:`D`.
        rotation: orthogonal ``(D, D)`` :math:`U`.
        shape: the image shape ``(C, H, W)`` with :math:`CHW = D`.
    """

    def __init__(self, mixture: GaussianMixture, rotation: Tensor, shape: tuple[int, ...]) -> None:
        U = torch.as_tensor(rotation, dtype=torch.float64)
        d = mixture.dim
        if U.shape != (d, d) or not torch.allclose(U.T @ U, torch.eye(d, dtype=torch.float64), atol=1e-8):
            raise ValueError(f"rotation must be an orthogonal ({d}, {d}) matrix")
        if math.prod(shape) != d:
            raise ValueError(f"shape {shape} does not hold {d} values")
        self.mixture, self.rotation, self.shape, self.dim = mixture, U, tuple(shape), d

    @classmethod
    def gaussian(cls, mean: Tensor, cov: Tensor, shape: tuple[int, ...], floor: float = 1e-8) -> RotatedMixture:
        r"""One Gaussian :math:`\mathcal N(\mu, \Sigma)`: :math:`U` from the eigenvectors of :math:`\Sigma`,
        eigenvalues floored at ``floor`` (a noiseless measurement leaves some exactly 0)."""
        evals, U = torch.linalg.eigh(torch.as_tensor(cov, dtype=torch.float64))
        mean = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1)
        return cls(GaussianMixture(mean @ U, evals.clamp_min(floor).sqrt()[None]), U, shape)

    @property
    def means(self) -> Tensor:
        r"""Component means :math:`\mu_k = Um_k`, ``(K, D)`` float64."""
        return self.mixture.means @ self.rotation.T

    @property
    def covariances(self) -> Tensor:
        r"""Component covariances :math:`C_k = U\operatorname{diag}(s_k^2)U^\top`, ``(K, D, D)`` float64."""
        U = self.rotation
        return torch.einsum("ij,kj,lj->kil", U, self.mixture.stds.pow(2), U)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` images ``(n, *shape)``, float32."""
        z = self.mixture.sample(n, generator).double()
        return (z @ self.rotation.T).float().reshape(n, *self.shape)

    def model(self, schedule: Schedule, prediction_type: str = "epsilon") -> Model:
        r"""The exact ``prediction_type`` network on ``schedule``: :math:`U f(U^\top x_t, t)` with
        :math:`f` the diagonal mixture's (every target is equivariant under rotations)."""
        inner = mixture_model(self.mixture, schedule, prediction_type)
        U = self.rotation

        def model(x_t: Tensor, t: Tensor, **condition: object) -> Tensor:
            z_t = x_t.flatten(1).double() @ U                      # (B, D): U^T x per row
            return (inner(z_t, t).double() @ U.T).to(x_t.dtype).reshape(x_t.shape)
        return model


def smooth_prior(size: tuple[int, int] = (4, 4), length: float = 1.5, std: float = 0.5,
                 offsets: Tensor | None = None, nugget: float = 1e-2) -> RotatedMixture:
    r"""A prior of smooth one-channel images: covariance :math:`C_{ij} = s^2e^{-\|p_i-p_j\|^2/2\ell^2} + \nu\delta_{ij}`
    over pixel positions :math:`p`; one Gaussian at 0, or one per row of ``offsets`` ``(K, H*W)`` (equal weights)."""
    H, W = size
    pos = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"), -1).reshape(-1, 2).double()
    cov = std**2 * torch.exp(-torch.cdist(pos, pos).pow(2) / (2 * length**2)) + nugget * torch.eye(H * W, dtype=torch.float64)
    evals, U = torch.linalg.eigh(cov)
    means = torch.zeros(1, H * W, dtype=torch.float64) if offsets is None else torch.as_tensor(offsets, dtype=torch.float64)
    return RotatedMixture(GaussianMixture(means @ U, evals.sqrt().expand(means.shape[0], -1)), U, (1, H, W))


def operator_matrix(operator: object, shape: tuple[int, ...]) -> Tensor:
    r"""The dense matrix ``(M, D)`` of a linear operator on images of ``shape`` ``(C, H, W)`` (float64)."""
    d = math.prod(shape)
    columns = operator.forward(torch.eye(d, dtype=torch.float64).reshape(d, *shape))   # (D, ...)
    return columns.reshape(d, -1).T


def mixture_posterior(prior: RotatedMixture, matrix: Tensor, y: Tensor,
                      sigma_y: float) -> tuple[Tensor, Tensor, Tensor]:
    r"""Mean ``(N, D)``, covariance ``(N, D, D)`` and component weights ``(N, K)`` of :math:`p(x\mid y)`
    for measurements ``y`` ``(N, M)`` of :math:`y = Ax + \sigma_y n` (module docstring; float64)."""
    A, y = matrix.double(), y.flatten(1).double()
    if A.shape != (y.shape[1], prior.dim):
        raise ValueError(f"matrix must be ({y.shape[1]}, {prior.dim}), got {tuple(A.shape)}")
    if not sigma_y >= 0:
        raise ValueError(f"sigma_y must be >= 0, got {sigma_y}")
    keep = A.abs().sum(1) > 0                      # a mask's unseen pixels read 0: no information
    A, y = A[keep], y[:, keep]
    mus, covs = prior.means, prior.covariances                                   # (K, D), (K, D, D)
    S = A @ covs @ A.T + sigma_y**2 * torch.eye(A.shape[0], dtype=torch.float64)  # (K, M, M)
    gain = covs @ A.T @ torch.linalg.inv(S)                                      # (K, D, M)
    resid = y[:, None, :] - mus @ A.T                                            # (N, K, M)
    post_means = mus + torch.einsum("kdm,nkm->nkd", gain, resid)                 # (N, K, D)
    post_covs = covs - gain @ A @ covs                                           # (K, D, D)
    log_w = torch.distributions.MultivariateNormal(torch.zeros_like(resid[0]), S).log_prob(resid)
    w = torch.softmax(log_w + prior.mixture.weights.log(), dim=1)                # (N, K)
    mean = torch.einsum("nk,nkd->nd", w, post_means)
    second = torch.einsum("nk,kde->nde", w, post_covs) + torch.einsum("nk,nkd,nke->nde", w, post_means, post_means)
    return mean, second - mean[:, :, None] * mean[:, None, :], w


def moment_errors(samples: Tensor, mean: Tensor, cov: Tensor) -> dict[str, float]:
    r"""How far the samples ``(N, D)`` of one posterior are from its ``mean`` ``(D,)`` and ``cov`` ``(D, D)``.

    Returns ``mean_z`` and ``var_z``: the largest absolute z-score over the coordinates of the
    sample mean (standard error :math:`\sqrt{\Sigma_{ii}/N}`) and of the sample variances (standard
    error from the sample's fourth moment), which are :math:`\lesssim 4` for a correct sampler
    (pixels whose exact variance is 0, fixed by a noiseless measurement, are left out and their
    largest absolute error is ``fixed_err``);
    ``cov_rel``: :math:`\|\hat\Sigma - \Sigma\|_F/\|\Sigma\|_F`; ``var_ratio``: the sampled total
    variance over the exact one.
    """
    x, mean, cov = samples.flatten(1).double(), mean.double(), cov.double()
    n = x.shape[0]
    free = cov.diagonal() > 1e-10 * cov.diagonal().max()     # pixels a noiseless measurement fixes: excluded
    centred = x - x.mean(0)
    var = centred.pow(2).mean(0)
    se_var = ((centred.pow(4).mean(0) - var.pow(2)) / n).sqrt()
    emp_cov = centred.T @ centred / (n - 1)
    mean_z = (x.mean(0) - mean) / (cov.diagonal() / n).sqrt()
    var_z = (var - cov.diagonal()) / se_var
    return {"mean_z": float(mean_z[free].abs().max()), "var_z": float(var_z[free].abs().max()),
            "fixed_err": float((x - mean)[:, ~free].abs().max()) if bool((~free).any()) else 0.0,
            "cov_rel": float(torch.linalg.norm(emp_cov - cov) / torch.linalg.norm(cov)),
            "var_ratio": float(var.sum() / cov.diagonal().sum())}


def psnr_gap(truth: Tensor, mean: Tensor, samples: Tensor) -> tuple[float, float]:
    r"""PSNR of the posterior means minus PSNR of the samples, in dB, from pooled squared errors,
    :math:`10\log_{10}(\sum\|\tilde x - x\|^2/\sum\|\bar x - x\|^2)`, and its standard error (delta method).

    One sample per truth; all three ``(N, ...)``. Exact posterior samples give 3.01 dB.
    """
    a = (samples - truth).flatten(1).double().pow(2).sum(1)
    b = (mean - truth).flatten(1).double().pow(2).sum(1)
    n = a.shape[0]
    u = a / a.mean() - b / b.mean()                      # influence of log(mean a / mean b)
    return 10 * math.log10(float(a.mean() / b.mean())), 10 / math.log(10) * float(u.std() / math.sqrt(n))
