r"""The variational autoencoder: ELBO, importance-weighted (IWAE) bound, training.

A VAE is a latent-variable model :math:`p_\theta(x) = \int p_\theta(x\mid z)\,p(z)\,dz` with
:math:`p(z) = \mathcal N(0, I)`, trained together with an encoder
:math:`q_\phi(z\mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))` by maximising
the evidence lower bound (chapter 2, eqs. (2.9) and (2.15); Kingma and Welling 2014,
arXiv:1312.6114; Rezende et al. 2014, arXiv:1401.4082)

.. math::

    \mathcal L(x) = \mathbb E_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)]
    - \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big) \le \log p_\theta(x).

:class:`VAE` is the process: it owns no layers of its own, only an encoder and a decoder from
``gmtext.nn`` (any decoder with ``decoder(z, x) -> logits`` and
``decoder.sample(z, generator)``).
The test log-likelihood is estimated with the IWAE bound (Burda et al. 2016, arXiv:1509.00519)

.. math::

    \mathcal L_K(x) = \mathbb E\left[\log \frac1K \sum_{k=1}^K w_k\right],\quad
    w_k = \frac{p_\theta(x\mid z_k)\,p(z_k)}{q_\phi(z_k\mid x)},\ z_k \sim q_\phi(z\mid x),

which grows with :math:`K` and tends to :math:`\log p_\theta(x)` (eq. (2.17)).

Example:
    >>> import torch
    >>> vae = VAE(GaussianEncoder(2), CategoricalDecoder(2))
    >>> x = torch.randint(0, 17, (5, 1, 8, 8))
    >>> g = torch.Generator().manual_seed(0)
    >>> vae.elbo(x, g).shape, vae.log_weights(x, 10, g).shape
    (torch.Size([5]), torch.Size([10, 5]))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gmtext._validate import check_nonnegative
from gmtext.distributions import log_mean_exp, normal_log_prob
from gmtext.divergences import kl_normal
from gmtext.nn import CategoricalDecoder, GaussianEncoder, LocalAutoregressiveDecoder
from gmtext.train import History, TrainConfig, fit, minibatches

__all__ = ["VAE", "DECODERS", "digits_vae", "iwae_bounds", "fit_vae"]

PROPOSALS = ("posterior", "prior")

#: The decoders that ``digits_vae`` builds.
DECODERS: tuple[str, ...] = ("categorical", "local_ar")


def iwae_bounds(log_weights: Tensor, ks: Sequence[int]) -> Tensor:
    r"""IWAE bounds :math:`\mathcal L_K` for several K from one set of importance log-weights.

    The :math:`K_{\max}` weights per example are split into :math:`K_{\max}/K` disjoint groups of
    :math:`K`; the bound of each group, :math:`\log\frac1K\sum_{k\in\text{group}} w_k`, is averaged.
    All groups are unbiased estimates of :math:`\mathcal L_K` (eq. (2.17)), so the average is one
    with a smaller variance. :math:`K = 1` gives the Monte Carlo ELBO
    :math:`\frac{1}{K_{\max}}\sum_k \log w_k`. Burda et al. (2016).
    Derived in chapter 2, eq. (2.17).

    Args:
        log_weights: ``(K_max, N)`` values :math:`\log w_k` (from :meth:`VAE.log_weights`).
        ks: the values of :math:`K`, each a divisor of ``K_max``.

    Returns:
        ``(len(ks), N)``: the estimate of :math:`\mathcal L_K(x_n)` for each :math:`K` and example.

    Raises:
        ValueError: on a bad shape or a :math:`K` that does not divide ``K_max``.

    Example:
        >>> w = torch.log(torch.tensor([[1.0], [3.0]]))           # two weights of one example
        >>> iwae_bounds(w, [1, 2]).squeeze(1)                     # mean of logs, log of mean
        tensor([0.5493, 0.6931])
    """
    if not isinstance(log_weights, Tensor) or log_weights.ndim != 2:
        raise ValueError("log_weights must be a tensor of shape (K, N)")
    k_max = log_weights.shape[0]
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k_max % k]
    if bad:
        raise ValueError(f"every K must be a positive divisor of K_max = {k_max}, got {bad}")
    groups = [log_mean_exp(log_weights.reshape(k_max // k, k, -1), dim=1).mean(0) for k in ks]
    return torch.stack(groups)                                                # (len(ks), N)


class VAE(nn.Module):
    r"""A VAE with prior :math:`\mathcal N(0, I)`, a Gaussian encoder and a categorical decoder.

    Args:
        encoder: ``x -> (mean, log_var)``, e.g. :class:`gmtext.nn.coders.GaussianEncoder`.
        decoder: ``(z, x) -> logits (B, D, levels)`` with ``sample(z, generator)``, e.g.
            :class:`gmtext.nn.coders.CategoricalDecoder` or
            :class:`gmtext.nn.pixel.LocalAutoregressiveDecoder`.

    Raises:
        ValueError: if the encoder's and the decoder's latent dimensions differ.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        if getattr(encoder, "latent_dim", None) != getattr(decoder, "latent_dim", None):
            raise ValueError(f"encoder and decoder disagree on latent_dim: "
                             f"{getattr(encoder, 'latent_dim', None)} vs "
                             f"{getattr(decoder, 'latent_dim', None)}")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim: int = encoder.latent_dim

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p_\theta(x\mid z)` for images ``x`` ``(N, C, H, W)`` and ``z`` ``(N, L)`` or
        ``(K, N, L)``; returns ``(N,)`` or ``(K, N)`` (eq. (2.13))."""
        lead = z.shape[:-1]                                                   # (N,) or (K, N)
        flat_z = z.reshape(-1, self.latent_dim)                               # (K N, L)
        flat_x = x.repeat(flat_z.shape[0] // x.shape[0], *([1] * (x.ndim - 1)))   # (K N, C, H, W)
        log_p = self.decoder(flat_z, flat_x).log_softmax(-1)                  # (K N, D, V)
        picked = log_p.gather(-1, flat_x.reshape(flat_x.shape[0], -1, 1))[..., 0]   # (K N, D)
        return picked.sum(-1).view(lead)

    def _latents(self, x: Tensor, k: int | None, generator: torch.Generator | None
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Posterior mean and log-variance ``(N, L)``, reparameterised samples ``([k,] N, L)``."""
        mean, log_var = self.encoder(x)
        shape = mean.shape if k is None else (k, *mean.shape)
        eps = torch.randn(shape, generator=generator,
                          device=generator.device if generator is not None else None)
        return mean, log_var, mean + (0.5 * log_var).exp() * eps.to(mean)    # z = mu + sigma eps

    def elbo_terms(self, x: Tensor, generator: torch.Generator | None = None
                   ) -> tuple[Tensor, Tensor]:
        r"""One-sample reconstruction term :math:`\log p_\theta(x\mid z)` ``(N,)`` and the analytic
        KL per latent dimension ``(N, L)`` (eqs. (2.15) and (2.5))."""
        mean, log_var, z = self._latents(x, None, generator)
        return self.log_likelihood(x, z), kl_normal(mean, log_var)

    def elbo(self, x: Tensor, generator: torch.Generator | None = None, beta: float = 1.0,
             kl: str = "analytic") -> Tensor:
        r"""One-sample estimate of the (:math:`\beta`-weighted) ELBO of every example, ``(N,)``.

        .. math::

            \mathcal L_\beta(x) = \log p_\theta(x\mid z)
            - \beta\,\mathrm{KL}(q_\phi(z\mid x)\|p(z)),
            \quad z = \mu_\phi(x) + \sigma_\phi(x)\odot\epsilon

        With ``kl="analytic"`` the KL is the closed form (eq. (2.5)); with ``kl="monte_carlo"`` it
        is :math:`\log q_\phi(z\mid x) - \log p(z)` at the same :math:`z`, and then the ELBO equals
        :meth:`log_weights` with :math:`K = 1` for the same generator state. :math:`\beta = 1` is
        the ELBO (eq. (2.15)); other values give the :math:`\beta`-VAE objective (eq. (2.20),
        Higgins et al. 2017). Derived in chapter 2.

        Raises:
            ValueError: for an unknown ``kl`` or a ``beta`` that is negative or not finite.
        """
        if kl not in ("analytic", "monte_carlo"):
            raise ValueError(f"unknown kl {kl!r}; valid: 'analytic', 'monte_carlo'")
        check_nonnegative("beta", beta)
        mean, log_var, z = self._latents(x, None, generator)
        if kl == "analytic":
            divergence = kl_normal(mean, log_var).sum(-1)
        else:
            divergence = normal_log_prob(z, mean, log_var) - normal_log_prob(z)
        return self.log_likelihood(x, z) - beta * divergence

    def log_weights(self, x: Tensor, k: int, generator: torch.Generator | None = None,
                    proposal: str = "posterior", batch_rows: int = 2048) -> Tensor:
        r"""Importance log-weights :math:`\log w_k` of every example, ``(K, N)`` (eq. (2.16)).

        With ``proposal="posterior"``, :math:`z_k\sim q_\phi(z\mid x)` and
        :math:`\log w_k = \log p_\theta(x\mid z_k) + \log p(z_k) - \log q_\phi(z_k\mid x)`; with
        ``proposal="prior"``, :math:`z_k \sim p(z)` and :math:`\log w_k = \log p_\theta(x\mid z_k)`,
        the naive Monte Carlo estimate of eq. (2.2). Either way
        :math:`\log\frac1K\sum_k w_k` is a stochastic lower bound on :math:`\log p_\theta(x)`.
        Computed in chunks of about ``batch_rows`` decoder rows; wrap in ``torch.no_grad()`` to
        evaluate.

        Raises:
            ValueError: for a bad ``k`` or an unknown ``proposal``.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int (number of importance samples), got {k!r}")
        if proposal not in PROPOSALS:
            raise ValueError(f"unknown proposal {proposal!r}; valid: {PROPOSALS}")
        out = []
        for xb in x.split(max(1, batch_rows // k)):                        # examples per chunk
            chunk = max(1, batch_rows // xb.shape[0])                            # samples per chunk
            parts = []
            for start in range(0, k, chunk):
                mean, log_var, z = self._latents(xb, min(chunk, k - start), generator)  # (kc,n,L)
                if proposal == "prior":
                    z = (z - mean) * (-0.5 * log_var).exp()                # the noise eps ~ N(0, I)
                    parts.append(self.log_likelihood(xb, z))
                else:
                    parts.append(self.log_likelihood(xb, z) + normal_log_prob(z)
                                 - normal_log_prob(z, mean, log_var))
            out.append(torch.cat(parts))
        return torch.cat(out, dim=1)                                             # (K, N)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""``n`` images: :math:`z\sim\mathcal N(0, I)`, then :math:`x\sim p_\theta(x\mid z)`."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator,
                        device=generator.device if generator is not None else None)
        return self.decoder.sample(z.to(device), generator)


def fit_vae(vae: VAE, train: Tensor, val: Tensor, steps: int, *, lr: float = 1e-3,
            beta: float = 1.0, batch_size: int = 64, every: int = 50, patience: int = 20,
            generator: torch.Generator | None = None, max_seconds: float | None = None,
            progress: bool = True, desc: str = "VAE") -> History:
    r"""Train ``vae`` by maximising the :math:`\beta`-ELBO with Adam, early-stopped on ``val``.

    The loss is :math:`-\frac1B\sum_b \mathcal L_\beta(x_b)` on minibatches of ``train``
    (eq. (2.15); eq. (2.20) for :math:`\beta \ne 1`). Every ``every`` steps the same objective is
    evaluated on ``val`` (dropout off, fixed noise so that checks compare); after ``patience``
    checks without improvement training stops and the best weights are restored
    (:func:`gmtext.train.fit` with ``eval_every``): with 1,000 training digits the validation
    split, not the step budget, decides the result (chapter 2).

    Reproducibility: ``generator`` draws the minibatches and the reparameterisation noise; the
    validation noise is a fixed seed. The weight initialisation and dropout masks come from
    torch's global generator, so seed it (``gmtext.config.seed_everything``) before building
    the model *and* before calling this function.

    Returns:
        The :class:`gmtext.train.History`; ``loss`` is the training negative ELBO in nats per
        image, ``logs["val"]`` the validation one.

    Raises:
        ValueError: for a negative or NaN ``beta`` (before any training), or any invalid
            training setting (see :class:`gmtext.train.TrainConfig`).
    """
    check_nonnegative("beta", beta)
    config = TrainConfig(steps, lr=lr, eval_every=every, patience=patience,
                         max_seconds=max_seconds, progress=progress, desc=desc)

    def val_loss() -> float:
        return -float(vae.elbo(val, torch.Generator().manual_seed(0), beta=beta).mean())

    batches = minibatches(train, batch_size=batch_size, generator=generator)
    return fit(vae, lambda x: -vae.elbo(x, generator, beta=beta).mean(), batches, config,
               evaluate=val_loss)


def digits_vae(decoder: str = "categorical", latent_dim: int = 16, dropout: float = 0.2) -> VAE:
    r"""The VAEs of chapter 2 for the 8x8 digits (17 grey levels), as the chapter builds them.

    Encoder: an MLP 64-256-256 with dropout, giving :math:`\mu_\phi(x)` and
    :math:`\log\sigma^2_\phi(x)` (:class:`gmtext.nn.coders.GaussianEncoder`). Decoder:

    - ``"categorical"``: the plain VAE, an MLP :math:`L`-256-256-(64 x 17) with independent
      categorical pixels (eq. (2.13), :class:`gmtext.nn.coders.CategoricalDecoder`);
    - ``"local_ar"``: each pixel also conditioned on the 12 earlier pixels of its 5x5 window
      (eq. (2.18), :class:`gmtext.nn.pixel.LocalAutoregressiveDecoder`).

    Args:
        decoder: one of :data:`DECODERS`.
        latent_dim: :math:`L`.
        dropout: dropout of the encoder and of the decoder's MLP from :math:`z`.

    Raises:
        ValueError: for an unknown decoder.

    Example:
        >>> vae = digits_vae("local_ar", latent_dim=4)
        >>> vae.sample(2, torch.Generator().manual_seed(0)).shape
        torch.Size([2, 1, 8, 8])
    """
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; valid: {DECODERS}")
    encoder = GaussianEncoder(latent_dim, dropout=dropout)
    if decoder == "categorical":
        return VAE(encoder, CategoricalDecoder(latent_dim, dropout=dropout))
    return VAE(encoder, LocalAutoregressiveDecoder(latent_dim, dropout=dropout))
