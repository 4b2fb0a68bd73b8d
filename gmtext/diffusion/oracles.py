r"""The exact denoiser of a Gaussian mixture on any Gaussian path: the optimum every network is trying to reach.

If the data are a mixture of diagonal Gaussians :math:`\sum_k\pi_k\mathcal N(m_k, \operatorname{diag}s_k^2)`,
then given component :math:`k`, :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` is Gaussian with
mean :math:`\alpha_t m_k` and variance :math:`v_k = \alpha_t^2 s_k^2 + \sigma_t^2`, and the posterior
means are

.. math:: \mathbb E[x_0\mid x_t, k] = m_k + \frac{\alpha_t s_k^2}{v_k}(x_t - \alpha_t m_k),\qquad
          \mathbb E[\varepsilon\mid x_t, k] = \frac{\sigma_t}{v_k}(x_t - \alpha_t m_k),

averaged with the responsibilities :math:`r_k(x_t)\propto\pi_k\mathcal N(x_t;\alpha_t m_k, v_k)`.
Every target of :mod:`gmtext.diffusion.parameterization` is linear in :math:`(x_0, \varepsilon)`, so
its minimum-mean-squared-error prediction is the same linear map of these two means: the optimal
:math:`\varepsilon`-network, the score :math:`\nabla\log q_t` (Tweedie), the optimal :math:`v` and the
flow-matching velocity come from one computation. Derived in chapter 5 (the noised mixture's
score), chapter 6 (the optimal denoiser) and section 6.x (the marginal velocity).

Example:
    >>> import torch
    >>> from gmtext.data.toy import GaussianMixture
    >>> from gmtext.diffusion.schedules import VESchedule
    >>> p = GaussianMixture([[0.0]], 1.0)                   # N(0, 1): score of N(0, 1 + sigma^2)
    >>> score = mixture_model(p, VESchedule(0.5, 2.0), "score")
    >>> x = torch.tensor([[1.0]])
    >>> round(float(score(x, torch.tensor([0.0]))), 4)       # -x / (1 + 0.25)
    -0.8
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion.parameterization import check_prediction_type, coefficients, from_x0_and_epsilon
from gmtext.diffusion.process import Model
from gmtext.diffusion.schedules import Schedule

__all__ = ["mixture_posterior_means", "mixture_model"]


def mixture_posterior_means(mixture: GaussianMixture, schedule: Schedule, x_t: Tensor,
                            t: Tensor) -> tuple[Tensor, Tensor]:
    r""":math:`(\mathbb E[x_0\mid x_t], \mathbb E[\varepsilon\mid x_t])`, each float64 ``(N, D)`` (module docstring)."""
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture must be a gmtext.data.toy.GaussianMixture, got {type(mixture).__name__}")
    if not isinstance(x_t, Tensor) or x_t.ndim != 2 or x_t.shape[1] != mixture.dim:
        raise ValueError(f"x_t must have shape (N, {mixture.dim}), got "
                         f"{tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__}")
    x = x_t.double()
    t = torch.as_tensor(t, dtype=torch.float64)
    t = t.expand(x.shape[0]) if t.ndim == 0 else t
    a, s, _, _ = coefficients(schedule, t, x, derivatives=False)        # (N, 1) each
    a, s = a[:, :, None], s[:, :, None]                                 # (N, 1, 1)
    m = mixture.means.to(x.device)[None]                                # (1, K, D)
    var0 = mixture.stds.to(x.device).pow(2)[None]                       # (1, K, D)
    var_t = a.pow(2) * var0 + s.pow(2)                                  # (N, K, D)
    diff = x[:, None, :] - a * m                                        # (N, K, D)
    log_comp = (-0.5 * diff.pow(2) / var_t - 0.5 * var_t.log()).sum(-1) + mixture.weights.log().to(x.device)
    resp = torch.softmax(log_comp, dim=1)[:, :, None]                   # (N, K, 1)
    x0_hat = (resp * (m + a * var0 / var_t * diff)).sum(1)              # E[x0 | x_t]
    eps_hat = (resp * (s / var_t * diff)).sum(1)                        # E[eps | x_t]
    return x0_hat, eps_hat


def mixture_model(mixture: GaussianMixture, schedule: Schedule, prediction_type: str = "epsilon") -> Model:
    r"""``model(x_t, t)`` that returns the exact ``prediction_type`` of a Gaussian-mixture toy.

    Usable wherever a trained network is (an oracle): samplers, likelihoods, the flow-matching
    comparisons. ``"velocity"`` needs a continuous schedule.
    """
    check_prediction_type(prediction_type)

    def model(x_t: Tensor, t: Tensor, **condition: Any) -> Tensor:
        x0_hat, eps_hat = mixture_posterior_means(mixture, schedule, x_t, t)
        a, s, da, ds = coefficients(schedule, t, x0_hat, derivatives=prediction_type == "velocity")
        return from_x0_and_epsilon(x0_hat, eps_hat, prediction_type, a, s, da, ds).to(x_t.dtype)
    return model
