r"""Likelihoods of a trained diffusion model: exact through the probability-flow ODE, and DDPM's ELBO.

The probability-flow ODE :math:`\mathrm{d}x/\mathrm{d}t = f(t)x - \tfrac12 g(t)^2 s_\theta(x, t)` is a
continuous normalizing flow, so the change of variables of :func:`gmtext.ode.log_prob_by_ode`
gives the exact log-density of the model it defines (Song et al., 2021, arXiv:2011.13456, Sec. 4.3;
Chen et al., 2018; Grathwohl et al., 2019):

.. math:: \log p_{t_{\min}}(x) = \log \mathcal N(x_1; 0, \sigma_1^2 I) + \int_{t_{\min}}^{1} \nabla\!\cdot v(x_t, t)\,\mathrm{d}t.

The discrete-time ELBO of DDPM (:func:`elbo_terms`) is a bound on a different model (the
stochastic chain); both are reported in nats. Derived in chapter 6, eqs. (6.4) and (6.12).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gmtext.diffusion.parameterization import check_prediction_type, to_x0_and_epsilon
from gmtext.diffusion.process import Model, _alpha_sigma, posterior_coefficients, q_sample
from gmtext.diffusion.samplers import time_grid
from gmtext.diffusion.ddpm import DiscreteSchedule
from gmtext.diffusion.schedules import Schedule
from gmtext.diffusion.sde import probability_flow_velocity
from gmtext.distributions import LOG_2PI, standard_normal_log_prob
from gmtext.divergences import kl_normal
from gmtext.ode import log_prob_by_ode


def ode_log_likelihood(model: Model, schedule: Schedule, x: Tensor, num_steps: int = 100,
                       prediction_type: str = "epsilon", method: str = "rk4", trace: str | None = None,
                       generator: torch.Generator | None = None, t_min: float = 1e-3,
                       batch_size: int = 4096,
                       prior_log_prob: Callable[[Tensor], Tensor] | None = None,
                       spacing: str = "quadratic") -> Tensor:
    r"""Exact :math:`\log p(x)` (nats, per example) of the probability-flow ODE of ``model``.

    The density is that of the model's marginal at ``t_min`` (the ODE stops there, where the
    noise :math:`\sigma_{t_{\min}}` is negligible), with the prior :math:`\mathcal N(0, \sigma_1^2 I)`.

    Args:
        model: the network, ``model(x_t, t)``.
        schedule: the continuous schedule it was trained with.
        x: points ``(B, D...)``.
        num_steps: solver steps on :math:`[t_{\min}, 1]` (RK4: 4 model calls and divergences each).
        prediction_type: what ``model`` predicts.
        method: ODE method (see :data:`gmtext.ode.METHODS`).
        trace: ``"exact"`` or ``"hutchinson"``; by default exact up to 2 dimensions, else Hutchinson.
        generator: Hutchinson's probes.
        t_min: the data end of the ODE.
        batch_size: points per solve (bounds memory).
        spacing: the solver's time grid, see :func:`gmtext.diffusion.samplers.time_grid`.
        prior_log_prob: the base density at :math:`t = 1`; :math:`\mathcal N(0, \sigma_1^2 I)` by default
            (an oracle may pass the exact :math:`q_1`).

    Returns:
        Tensor ``(B,)`` of log-densities.
    """
    check_prediction_type(prediction_type)
    if trace is None:
        trace = "exact" if x[0].numel() <= 2 else "hutchinson"
    velocity = probability_flow_velocity(model, schedule, prediction_type)
    times = time_grid(num_steps, t_min, spacing, dtype=x.dtype)
    sigma_1 = schedule.prior_std

    def gaussian_prior(z: Tensor) -> Tensor:                # log N(z; 0, sigma_1^2 I)
        return standard_normal_log_prob(z / sigma_1) - z[0].numel() * math.log(sigma_1)

    prior = gaussian_prior if prior_log_prob is None else prior_log_prob
    return torch.cat([log_prob_by_ode(velocity, chunk, times, prior, method, trace, generator)
                      for chunk in x.split(batch_size)])


def elbo_terms(model: Model, schedule: DiscreteSchedule, x0: Tensor,
               prediction_type: str = "epsilon", seed: int = 0) -> dict[str, Tensor]:
    r"""The terms of DDPM's negative ELBO per example, in nats (Ho et al., eq. (5)).

    .. math:: -\log p(x_0) \le \underbrace{\mathrm{KL}(q(x_T|x_0)\|\mathcal N(0, I))}_{\text{prior}}
              + \underbrace{\sum_{k=2}^{T}\mathrm{KL}\big(q(x_{k-1}|x_k,x_0)\,\|\,p_\theta(x_{k-1}|x_k)\big)}_{\text{diffusion}}
              \underbrace{-\ \log p_\theta(x_0|x_1)}_{\text{reconstruction}}

    :math:`p_\theta(x_{k-1}|x_k)` is the posterior with :math:`\hat x_0` in place of :math:`x_0`
    (same variance), so each KL is :math:`\|\tilde\mu(x_0) - \tilde\mu(\hat x_0)\|^2 / 2\tilde\sigma_k^2`.
    The decoder of continuous data is :math:`\mathcal N(x_0;\ \hat x_0(x_1),\ \beta_1 I)`, Ho et al.'s
    choice :math:`\sigma_1^2 = \beta_1`. Evaluates the network at all T steps (one forward pass each).

    Each KL term is estimated with one draw of :math:`x_k \\sim q(x_k|x_0)` (seeded by ``seed``).

    Returns:
        dict of ``(B,)`` tensors: ``prior``, ``diffusion``, ``reconstruction`` and ``total`` (= -ELBO).
    """
    if not isinstance(schedule, DiscreteSchedule):
        raise TypeError(f"elbo_terms needs a DiscreteSchedule, got {type(schedule).__name__}")
    gen = torch.Generator().manual_seed(seed)            # the noise of each x_k (one draw per step)
    a_T, s_T = _alpha_sigma(schedule, 1.0, x0)
    prior = kl_normal(a_T * x0, (2 * s_T.log()).expand_as(x0)).flatten(1).sum(1)   # KL(q(x_T|x0) || N(0, I))
    diffusion = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
    T = schedule.num_steps
    with torch.no_grad():
        for k in range(1, T + 1):
            t = torch.full((x0.shape[0],), k / T, dtype=x0.dtype, device=x0.device)
            x_k = q_sample(schedule, x0, k / T, generator=gen)
            a, s = _alpha_sigma(schedule, k / T, x0)
            x0_hat, _ = to_x0_and_epsilon(model(x_k, t), prediction_type, x_k, a, s)
            if k == 1:
                var = float(schedule.betas[1])
                recon = 0.5 * (x0 - x0_hat) ** 2 / var + 0.5 * (LOG_2PI + math.log(var))
                reconstruction = recon.flatten(1).sum(1)
            else:
                _, c_x0, var = posterior_coefficients(schedule, k / T, (k - 1) / T)
                diffusion += (float(c_x0) ** 2 * (x0 - x0_hat) ** 2 / (2 * float(var))).flatten(1).sum(1)
    return {"prior": prior, "diffusion": diffusion, "reconstruction": reconstruction,
            "total": prior + diffusion + reconstruction}


__all__ = ["ode_log_likelihood", "elbo_terms"]
