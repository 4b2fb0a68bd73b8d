r"""The linear-Gaussian latent-variable model (factor analysis, probabilistic PCA), all exact.

.. math::

    p(z) = \mathcal N(0, I_L), \qquad p(x\mid z) = \mathcal N(Wz + b,\ \Psi),\quad
    \Psi = \operatorname{diag}(\psi_1, \dots, \psi_D)

is a VAE whose decoder is linear and whose likelihood is Gaussian. Unlike a neural decoder, it
has closed forms for all the quantities a VAE can only bound or approximate (chapter 2,
eq. (2.3); Tipping and Bishop 1999; Bishop 2006, sec. 12.2):

.. math::

    p(x) = \mathcal N(x;\ b,\ WW^\top + \Psi), \qquad
    p(z\mid x) = \mathcal N\big(S W^\top\Psi^{-1}(x - b),\ S\big),\quad
    S = (I + W^\top\Psi^{-1}W)^{-1},

and the ELBO of any Gaussian :math:`q(z) = \mathcal N(m, V)` (:meth:`LinearGaussian.elbo`). So the
identity :math:`\log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}(q\,\|\,p(z\mid x))` can be checked to
round-off. With :math:`\Psi = \sigma^2 I` it is probabilistic PCA, whose maximum-likelihood fit is
also closed form (:meth:`LinearGaussian.fit_ppca`).

All computations are in float64.

Example:
    >>> import torch
    >>> model = LinearGaussian(torch.tensor([[1.0], [2.0]]), torch.zeros(2), torch.ones(2))
    >>> x = torch.tensor([[0.5, -1.0]])
    >>> mean, cov = model.posterior(x)
    >>> bool(torch.allclose(model.elbo(x, mean, cov), model.log_prob(x)))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmtext.distributions import LOG_2PI
from gmtext.divergences import kl_mvn

__all__ = ["LinearGaussian"]


class LinearGaussian:
    r"""Factor analysis / probabilistic PCA with exact marginal, posterior and ELBO.

    Args:
        weight: ``(D, L)`` loading matrix :math:`W`.
        bias: ``(D,)`` mean :math:`b`.
        noise_var: ``(D,)`` (factor analysis) or a scalar (PPCA) noise variances :math:`\psi_d > 0`.

    Raises:
        ValueError: on inconsistent shapes or non-positive noise variances.
    """

    def __init__(self, weight: Tensor, bias: Tensor, noise_var: Tensor | float) -> None:
        weight, bias = torch.as_tensor(weight).double(), torch.as_tensor(bias).double()
        if weight.ndim != 2 or bias.shape != weight.shape[:1]:
            raise ValueError(f"need weight (D, L) and bias (D,), got {tuple(weight.shape)}, "
                             f"{tuple(bias.shape)}")
        noise = torch.as_tensor(noise_var, dtype=torch.float64).expand(weight.shape[0]).clone()
        if not bool((noise > 0).all()):
            raise ValueError("noise variances must be positive")
        self.weight, self.bias, self.noise_var = weight, bias, noise
        self.dim, self.latent_dim = weight.shape

    @classmethod
    def fit_ppca(cls, x: Tensor, latent_dim: int) -> LinearGaussian:
        r"""Maximum-likelihood probabilistic PCA (Tipping and Bishop 1999, eqs. (7)-(8)).

        With the eigenvalues :math:`\lambda_1\ge\dots\ge\lambda_D` and eigenvectors :math:`U` of the
        data covariance: :math:`\sigma^2 = \frac{1}{D-L}\sum_{j>L}\lambda_j`,
        :math:`W = U_L(\Lambda_L - \sigma^2 I)^{1/2}`, :math:`b = \bar x`.

        Raises:
            ValueError: if ``x`` is not ``(N, D)`` or ``latent_dim`` is not in ``1 .. D - 1``.
        """
        if x.ndim != 2:
            raise ValueError(f"x must have shape (N, D), got {tuple(x.shape)}")
        d = x.shape[1]
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) \
                or not 1 <= latent_dim < d:
            raise ValueError(f"latent_dim must be an int in 1 .. {d - 1}, got {latent_dim!r}")
        x = x.double()
        mean = x.mean(0)
        evals, evecs = torch.linalg.eigh((x - mean).T @ (x - mean) / x.shape[0])
        evals, evecs = evals.flip(0), evecs.flip(1)                        # descending
        noise = evals[latent_dim:].mean()
        weight = evecs[:, :latent_dim] * (evals[:latent_dim] - noise).clamp_min(0).sqrt()
        return cls(weight, mean, noise)

    def _check(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (N, {self.dim}), got {got}")
        return x.double()

    @property
    def marginal_covariance(self) -> Tensor:
        r""":math:`WW^\top + \Psi`, ``(D, D)``."""
        return self.weight @ self.weight.T + torch.diag(self.noise_var)

    def log_prob(self, x: Tensor) -> Tensor:
        r"""Exact :math:`\log p(x) = \log\mathcal N(x; b, WW^\top+\Psi)`, ``(N,)`` (eq. (2.3))."""
        x = self._check(x)
        chol = torch.linalg.cholesky(self.marginal_covariance)
        white = torch.linalg.solve_triangular(chol, (x - self.bias).T, upper=False)   # (D, N)
        return (-0.5 * white.pow(2).sum(0) - chol.diagonal().log().sum()
                - 0.5 * self.dim * LOG_2PI)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x\mid z)` for ``x`` ``(N, D)`` and ``z`` ``(N, L)`` or ``(K, N, L)``."""
        x = self._check(x)
        resid = x - (z.double() @ self.weight.T + self.bias)                   # (..., N, D)
        return -0.5 * (resid.pow(2) / self.noise_var + self.noise_var.log() + LOG_2PI).sum(-1)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""Exact posterior :math:`p(z\mid x) = \mathcal N(m(x), S)` (eq. (2.3)).

        Returns the means ``(N, L)`` and the covariance ``(L, L)``, which is the same for every x.
        """
        x = self._check(x)
        scaled = self.weight / self.noise_var[:, None]                          # Psi^{-1} W (D, L)
        cov = torch.linalg.inv(torch.eye(self.latent_dim, dtype=torch.float64)
                               + self.weight.T @ scaled)
        return (x - self.bias) @ scaled @ cov, cov                              # S symmetric

    def elbo(self, x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
        r"""Exact ELBO of the Gaussian :math:`q(z) = \mathcal N(m, V)` for every row of x, ``(N,)``.

        .. math::

            \mathrm{ELBO}(q) = \log\mathcal N(x;\, Wm + b, \Psi)
            - \tfrac12\operatorname{tr}\big(\Psi^{-1}WVW^\top\big)
            - \mathrm{KL}\big(\mathcal N(m, V)\,\|\,\mathcal N(0, I)\big)

        (eq. (2.9) with the expectation of a quadratic under a Gaussian done in closed form).

        Args:
            x: ``(N, D)`` data.
            mean: ``(N, L)`` means :math:`m` of :math:`q`, one per row of ``x``.
            cov: ``(L, L)`` covariance :math:`V` of :math:`q` (shared).
        """
        x, mean, cov = self._check(x), mean.double(), cov.double()
        spread = (self.weight @ cov @ self.weight.T).diagonal() / self.noise_var   # (D,)
        prior = (torch.zeros(self.latent_dim, dtype=torch.float64),
                 torch.eye(self.latent_dim, dtype=torch.float64))
        return (self.log_likelihood(x, mean) - 0.5 * spread.sum()
                - kl_mvn(mean, cov, prior[0], prior[1]))

    def log_weights(self, x: Tensor, mean: Tensor, cov: Tensor, k: int,
                    generator: torch.Generator) -> Tensor:
        r"""Importance log-weights ``(K, N)`` of the proposal :math:`\mathcal N(m, V)` (eq. (2.16)).

        .. math:: \log w_k = \log p(x, z_k) - \log q(z_k), \qquad z_k\sim\mathcal N(m, V)
        """
        x, mean = self._check(x), mean.double()
        chol = torch.linalg.cholesky(cov.double())
        eps = torch.randn(k, *mean.shape, generator=generator, dtype=torch.float64)   # (K, N, L)
        z = mean + eps @ chol.T
        log_q = (-0.5 * eps.pow(2).sum(-1) - chol.diagonal().log().sum()
                 - 0.5 * self.latent_dim * LOG_2PI)
        log_prior = -0.5 * (z.pow(2).sum(-1) + self.latent_dim * LOG_2PI)
        return self.log_likelihood(x, z) + log_prior - log_q

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` draws from the joint distribution: ``x`` ``(n, D)`` and ``z`` ``(n, L)``."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return z @ self.weight.T + self.bias + noise * self.noise_var.sqrt(), z
