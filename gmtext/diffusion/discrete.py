r"""Discrete data inside a continuous diffusion: the 17-level decoder and a denoiser that knows the levels.

A variational diffusion model (Kingma et al. 2021, arXiv:2107.00630) noises a *continuous* latent
:math:`z_t = \alpha_t y + \sigma_t\varepsilon`, but the digits are *discrete*: every pixel takes
one of :math:`L = 17` grey levels :math:`x \in \{0, \dots, 16\}`. Two pieces connect the two worlds:

- the levels are placed at :math:`y_v = 2v/(L-1) - 1 \in [-1, 1]` (:func:`level_values`), a
  relabelling of a finite set, and
- :func:`decoder_log_probs`, the discrete decoder :math:`p(x\mid z_0)` at :math:`t = 0`, a
  categorical over the levels for every pixel:

.. math:: p(x_d = v \mid z_0) = \operatorname{softmax}_v\Big(-\frac{(z_{0,d} - \alpha_0 y_v)^2}
          {2\sigma_0^2}\Big).

:class:`DiscreteDenoiser` makes the denoiser's output discrete-aware as well: it predicts
per-pixel logits over the :math:`L` levels and returns the posterior mean
:math:`\hat y = \sum_v \pi_v y_v`. Since :math:`z_{t,d}` depends on :math:`x` only through
:math:`x_d`, Bayes' rule splits the exact posterior of one pixel into a known and a learnt part,

.. math:: p(x_d = v \mid z_t) \propto \underbrace{\mathcal N(z_{t,d};\ \alpha_t y_v, \sigma_t^2)}_
          {\text{the pixel's own likelihood, exact}}\;
          \underbrace{p(x_d = v \mid z_{t,-d})}_{\text{what the network learns}},

so the logits are the network's output plus the Gaussian log-likelihood of the pixel's own latent.
At small noise the first factor decides and the prediction is exact without any training.
Derived in chapter 6 (section "Flow matching and the likelihood of discrete data").

Example:
    >>> import torch
    >>> logp = decoder_log_probs(torch.zeros(2, 64), torch.tensor(-5.0))
    >>> tuple(logp.shape), bool(torch.allclose(logp.exp().sum(-1), torch.ones(2, 64)))
    ((2, 64, 17), True)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gmtext.nn import ConditionalMLP

__all__ = ["level_values", "alpha_sigma", "decoder_log_probs",
           "discrete_log_likelihood", "DiscreteDenoiser", "EpsilonDenoiser"]


def level_values(levels: int = 17, device: torch.device | None = None) -> Tensor:
    r"""The positions :math:`y_v = 2v/(L-1) - 1` of the :math:`L` levels in [-1, 1], shape ``(L,)``.

    Example:
        >>> level_values(5).tolist()
        [-1.0, -0.5, 0.0, 0.5, 1.0]
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an int >= 2, got {levels!r}")
    return torch.linspace(-1.0, 1.0, levels, device=device)


def alpha_sigma(gamma: Tensor) -> tuple[Tensor, Tensor]:
    r"""The variance-preserving pair :math:`\alpha^2 = \operatorname{sigmoid}(-\gamma)`,
    :math:`\sigma^2 = \operatorname{sigmoid}(\gamma)` of a log-noise-to-signal ratio
    :math:`\gamma = \log(\sigma^2/\alpha^2) = -\log\mathrm{SNR}` (Kingma et al. 2021, eq. (3)).

    Example:
        >>> a, s = alpha_sigma(torch.tensor(0.0))
        >>> round(float(a ** 2), 3), round(float(s ** 2), 3)
        (0.5, 0.5)
    """
    return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()


def _gaussian_level_logits(z: Tensor, gamma: Tensor, levels: int) -> Tensor:
    r"""``(B, D, L)`` values :math:`-(z_d - \alpha y_v)^2 / (2\sigma^2)` for ``z`` ``(B, D)``."""
    alpha, sigma = alpha_sigma(gamma)
    alpha, sigma = (v.reshape(-1, 1, 1) for v in (alpha, sigma))          # (B or 1, 1, 1)
    y = level_values(levels, z.device)                                     # (L,)
    return -0.5 * ((z[:, :, None] - alpha * y) / sigma).pow(2)             # (B, D, L)


def decoder_log_probs(z0: Tensor, gamma0: Tensor, levels: int = 17) -> Tensor:
    r"""Log-probabilities ``(B, D, L)`` of the discrete decoder :math:`p(x_d = v\mid z_{0,d})`.

    .. math:: \log p(x_d = v \mid z_0) = \log\operatorname{softmax}_v
              \Big(-\frac{(z_{0,d} - \alpha_0 y_v)^2}{2\sigma_0^2}\Big),
              \qquad \sigma_0^2/\alpha_0^2 = e^{\gamma_0}

    Kingma et al. (2021), appendix: the reconstruction term of the VDM. The probabilities of every
    pixel sum to 1 over the ``levels`` grey levels, whatever :math:`z_0`.

    Args:
        z0: ``(B, D)`` latents at :math:`t = 0`.
        gamma0: :math:`\gamma(0)`, a scalar tensor or ``(B,)``.
        levels: the number :math:`L` of levels.
    """
    if not isinstance(z0, Tensor) or z0.ndim != 2:
        raise ValueError(f"z0 must be a tensor (B, D), got "
                         f"{tuple(z0.shape) if isinstance(z0, Tensor) else type(z0).__name__}")
    return F.log_softmax(_gaussian_level_logits(z0, torch.as_tensor(gamma0), levels), dim=-1)


def discrete_log_likelihood(x: Tensor, z0: Tensor, gamma0: Tensor, levels: int = 17) -> Tensor:
    r"""The reconstruction term :math:`\log p(x\mid z_0) = \sum_d \log p(x_d \mid z_{0,d})`, ``(B,)``.

    Args:
        x: integer levels ``(B, ...)`` with ``D`` entries each.
        z0, gamma0, levels: as in :func:`decoder_log_probs`.
    """
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a tensor (B, ...) of integer levels 0..{levels - 1}")
    if not bool(((x >= 0) & (x <= levels - 1) & (x == x.round())).all()):
        raise ValueError(f"x must hold integer levels in 0..{levels - 1} (not rescaled data)")
    idx = x.reshape(x.shape[0], -1).long()                                 # (B, D)
    if idx.shape != z0.shape:
        raise ValueError(f"x has {tuple(idx.shape)} pixels but z0 has shape {tuple(z0.shape)}")
    logp = decoder_log_probs(z0, gamma0, levels)                           # (B, D, L)
    return logp.gather(-1, idx[:, :, None])[:, :, 0].sum(-1)


class DiscreteDenoiser(nn.Module):
    r"""Denoiser :math:`\hat y(z_t, \gamma_t)` that predicts a categorical over the levels per pixel.

    .. math:: \pi_{d,v} = \operatorname{softmax}_v\Big(f_\theta(z_t, \gamma_t)_{d,v}
              - \frac{(z_{t,d} - \alpha_t y_v)^2}{2\sigma_t^2}\Big),
              \qquad \hat y_d = \sum_v \pi_{d,v}\, y_v

    The second term is the exact likelihood of the pixel's own latent (module docstring); the
    network :math:`f_\theta` (a :class:`gmtext.nn.embeddings.ConditionalMLP` of ``(z_t, \gamma_t)``)
    supplies what the other pixels say. ``forward`` returns the posterior mean :math:`\hat y`
    ``(B, D)``; :meth:`logits` the ``(B, D, L)`` logits.

    Args:
        dim: number of pixels :math:`D`.
        levels: number of levels :math:`L`.
        hidden, layers, emb_dim: the size of the MLP.
        pixel_likelihood: add the exact per-pixel likelihood term (True) or let the network
            produce the whole logit (False).
        dropout: dropout on the network's input in training (1,000 digits overfit quickly).
    """

    prediction_type = "sample"

    def __init__(self, dim: int = 64, levels: int = 17, hidden: int = 512, layers: int = 3,
                 emb_dim: int = 64, pixel_likelihood: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.levels, self.pixel_likelihood = dim, levels, pixel_likelihood
        self.drop = nn.Dropout(dropout)
        self.net = ConditionalMLP(dim, dim * levels, hidden=hidden, layers=layers,
                                  emb_dim=emb_dim, scale=1.0)   # conditioned on gamma (log scale)

    def logits(self, z: Tensor, gamma: Tensor) -> Tensor:
        """Logits ``(B, D, L)`` of the levels of every pixel given ``z`` ``(B, D)`` and ``gamma`` ``(B,)``."""
        gamma = gamma.expand(z.shape[0]) if gamma.ndim == 0 else gamma
        out = self.net(self.drop(z), gamma).view(z.shape[0], self.dim, self.levels)  # (B, D, L)
        if self.pixel_likelihood:
            out = out + _gaussian_level_logits(z, gamma, self.levels)
        return out

    def forward(self, z: Tensor, gamma: Tensor) -> Tensor:
        probs = self.logits(z, gamma).softmax(-1)                          # (B, D, L)
        return probs @ level_values(self.levels, z.device)                 # (B, D)


class EpsilonDenoiser(nn.Module):
    r"""The plain parameterization: an MLP predicts the noise, :math:`\hat y = (z_t - \sigma_t\hat\varepsilon)/\alpha_t`.

    The same :class:`gmtext.nn.embeddings.ConditionalMLP` as :class:`DiscreteDenoiser` but with ``D``
    outputs; it knows nothing about the data being discrete (Ho et al. 2020's ε-prediction).
    """

    prediction_type = "epsilon"

    def __init__(self, dim: int = 64, hidden: int = 512, layers: int = 3,
                 emb_dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.drop = nn.Dropout(dropout)
        self.net = ConditionalMLP(dim, dim, hidden=hidden, layers=layers, emb_dim=emb_dim,
                                  scale=1.0)

    def forward(self, z: Tensor, gamma: Tensor) -> Tensor:
        gamma = gamma.expand(z.shape[0]) if gamma.ndim == 0 else gamma
        alpha, sigma = alpha_sigma(gamma[:, None])                         # (B, 1) each
        return (z - sigma * self.net(self.drop(z), gamma)) / alpha
