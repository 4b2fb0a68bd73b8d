r"""A diffusion model is a Markovian hierarchical VAE: its ELBO two ways, and its bound for T steps and in the limit.

The latents :math:`x_1, \dots, x_T` live on the grid :math:`t_k = k/T` of a Gaussian path with data at
:math:`t = 0` (:math:`\alpha_0 = 1, \sigma_0 = 0`); the encoder is the fixed forward chain
:math:`q(x_k\mid x_{k-1}) = \mathcal N(\alpha_{k|k-1}x_{k-1}, \sigma^2_{k|k-1}I)`, the decoder the
reverse chain :math:`p_\theta(x_{k-1}\mid x_k) = q(x_{k-1}\mid x_k, \hat x_0(x_k))` with the
posterior variance, :math:`p_\theta(x_0\mid x_1) = \mathcal N(\hat x_0(x_1), \sigma_{t_1}^2 I)` and
:math:`p(x_T) = \mathcal N(0, \sigma_1^2 I)` (Luo, 2022, arXiv:2208.11970, eqs. (34)-(58)).
The one quantity :math:`\mathbb E_q[\log p(x_{0:T}) - \log q(x_{1:T}\mid x_0)]` can be estimated

- ``"consistency"``: along one forward chain, every latent drawn, as
  :math:`\log p_\theta(x_0|x_1) + \log\frac{p(x_T)}{q(x_T|x_{T-1})}
  + \sum_{k=1}^{T-1}\log\frac{p_\theta(x_k|x_{k+1})}{q(x_k|x_{k-1})}` (chapter 7, eq. (7.3));
- ``"denoising"``: conditioned on :math:`x_0`, with every KL in closed form and one draw of
  :math:`x_k\sim q(x_k|x_0)` per term, :math:`\log p_\theta(x_0|x_1) - \mathrm{KL}(q(x_T|x_0)\|p(x_T))
  - \sum_{k=2}^{T}\mathrm{KL}(q(x_{k-1}|x_k,x_0)\|p_\theta(x_{k-1}|x_k))` (eq. (7.4)).

Both have the same mean; the second has far smaller variance. The denoising terms are
:math:`\tfrac12(\mathrm{SNR}(s) - \mathrm{SNR}(t))\|x_0 - \hat x_0\|^2` (chapter 6, eq. (6.5)), whence the
diffusion loss of :math:`T` steps between fixed end points, :func:`discrete_diffusion_loss`, and its
limit :math:`\tfrac12\int e^\lambda\|x_0 - \hat x_\lambda\|^2\mathrm d\lambda`,
:func:`continuous_diffusion_loss` (Kingma et al., 2021, arXiv:2107.00630, eqs. (13)-(18)).
Derived in chapter 7, eqs. (7.1)-(7.7). All results are per example, in nats.

Example:
    >>> import torch
    >>> from gmtext.data.toy import GaussianMixture
    >>> from gmtext.diffusion.oracles import mixture_model
    >>> from gmtext.diffusion.schedules import VPSchedule
    >>> p, vp = GaussianMixture([[0.0, 0.0]], 1.0), VPSchedule()
    >>> x0 = p.sample(4, torch.Generator().manual_seed(0)).double()
    >>> terms = hierarchical_elbo(mixture_model(p, vp), vp, x0, 10, torch.Generator().manual_seed(1))
    >>> sorted(terms), tuple(terms["total"].shape)
    (['matching', 'prior', 'reconstruction', 'total'], (4,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from gmtext.config import generator_device
from gmtext.diffusion.losses import denoising_loss
from gmtext.diffusion.parameterization import coefficients, to_x0_and_epsilon
from gmtext.diffusion.process import Model, noise_like, posterior_coefficients
from gmtext.diffusion.schedules import Schedule
from gmtext.distributions import LOG_2PI

__all__ = ["ESTIMATORS", "hierarchical_elbo", "discrete_diffusion_loss", "continuous_diffusion_loss",
           "conditional_variance"]

#: The two estimators of the hierarchical ELBO (module docstring).
ESTIMATORS: tuple[str, ...] = ("denoising", "consistency")


def _gaussian_kl(mean_q: Tensor, var_q: float, mean_p: Tensor, var_p: float) -> Tensor:
    r""":math:`\mathrm{KL}(\mathcal N(\mu_q, v_q I)\,\|\,\mathcal N(\mu_p, v_p I))` per example ``(B,)``."""
    d = mean_q[0].numel()
    sq = (mean_q - mean_p).pow(2).flatten(1).sum(1)
    return 0.5 * (d * (var_q / var_p - 1 - math.log(var_q / var_p)) + sq / var_p)


def _log_normal(x: Tensor, mean: Tensor, var: float) -> Tensor:
    r""":math:`\log\mathcal N(x; \mu, vI)` per example ``(B,)``."""
    d = x[0].numel()
    return -0.5 * ((x - mean).pow(2).flatten(1).sum(1) / var + d * (LOG_2PI + math.log(var)))


def _check_x0(x0: Tensor) -> None:
    if not isinstance(x0, Tensor) or x0.ndim < 2 or x0.shape[0] == 0:
        raise ValueError(f"x0 must be a tensor (B, ...) with B >= 1, got "
                         f"{tuple(x0.shape) if isinstance(x0, Tensor) else type(x0).__name__}")
    if not bool(torch.isfinite(x0).all()):
        raise ValueError("x0 contains NaN or infinite values")


def _check_steps(num_steps: int, smallest: int = 1) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < smallest:
        raise ValueError(f"num_steps must be an int >= {smallest}, got {num_steps!r}")


def _x0_hat(model: Model, schedule: Schedule, x_t: Tensor, t: float, prediction_type: str) -> Tensor:
    t_batch = torch.full((x_t.shape[0],), t, dtype=x_t.dtype, device=x_t.device)
    out = model(x_t, t_batch)
    if not isinstance(out, Tensor) or out.shape != x_t.shape:
        raise ValueError(f"the model output must have the shape of x_t, {tuple(x_t.shape)}, got "
                         f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"the model returned NaN or inf at t = {t:.4g}")
    return to_x0_and_epsilon(out.to(x_t.dtype), prediction_type, x_t,
                             *coefficients(schedule, t, x_t, derivatives=prediction_type == "velocity"))[0]


def _coef(schedule: Schedule, t: float) -> tuple[float, float]:
    a, s = schedule.alpha_sigma(torch.tensor(t, dtype=torch.float64))
    return float(a), float(s)


def hierarchical_elbo(model: Model, schedule: Schedule, x0: Tensor, num_steps: int,
                      generator: torch.Generator | None = None, *, prediction_type: str = "epsilon",
                      estimator: str = "denoising") -> dict[str, Tensor]:
    r"""One-sample estimates of the negative ELBO of the :math:`T`-step chain, per example (nats).

    Args:
        model: ``model(x_t, t)`` returning a ``prediction_type``; it defines every decoder step.
        schedule: a path with data at :math:`t = 0` (:math:`\sigma_0 = 0`: VP, linear, cosine, DDPM).
        x0: data ``(B, ...)``.
        num_steps: :math:`T \ge 2`, latents at :math:`t_k = k/T` (a divisor of a discrete schedule's T).
        generator: the noise of every latent.
        prediction_type: what ``model`` outputs.
        estimator: ``"denoising"`` (eq. (7.4)) or ``"consistency"`` (eq. (7.3)).

    Returns:
        dict of ``(B,)`` tensors ``reconstruction`` (:math:`-\log p_\theta(x_0|x_1)`), ``prior``,
        ``matching`` (the sum over the middle steps) and ``total`` (= -ELBO), each the negative of
        that form's terms, so that ``total`` has the same expectation for both estimators.

    Raises:
        ValueError: for an unknown estimator (the valid ones listed), ``num_steps < 2``, a path whose
            :math:`\sigma_0 \ne 0`, bad ``x0``, or a model output of the wrong shape or with NaN.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")
    _check_steps(num_steps, 2)
    _check_x0(x0)
    a0, s0 = _coef(schedule, 0.0)
    if s0 != 0.0 or a0 != 1.0:
        raise ValueError(f"the hierarchical VAE needs a path with data at t = 0 (alpha_0 = 1, sigma_0 = 0), "
                         f"got alpha_0 = {a0:.3g}, sigma_0 = {s0:.3g} (a variance-exploding path starts "
                         "at sigma_min); use VP, linear, cosine or a DDPM grid")
    times = [k / num_steps for k in range(num_steps + 1)]
    var_dec = _coef(schedule, times[1])[1] ** 2                    # p(x0|x1) = N(x0_hat, sigma_{t1}^2)
    var_prior = schedule.prior_std ** 2                            # p(x_T) = N(0, sigma_1^2 I)
    steps = [posterior_coefficients(schedule, t, s) for s, t in zip(times[:-1], times[1:])]
    # q(x_k | x_{k-1}): mean factor alpha_{k|k-1} and variance sigma^2_{k|k-1}
    fwd = []
    for s, t in zip(times[:-1], times[1:]):
        (a_s, s_s), (a_t, s_t) = _coef(schedule, s), _coef(schedule, t)
        fwd.append((a_t / a_s, s_t**2 - (a_t / a_s) ** 2 * s_s**2))
    zero = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
    with torch.no_grad():
        if estimator == "denoising":
            x1 = fwd[0][0] * x0 + math.sqrt(fwd[0][1]) * noise_like(x0, generator)
            recon = -_log_normal(x0, _x0_hat(model, schedule, x1, times[1], prediction_type), var_dec)
            a_T, s_T = _coef(schedule, 1.0)
            prior = _gaussian_kl(a_T * x0, s_T**2, torch.zeros_like(x0), var_prior)
            matching = zero.clone()
            for k in range(2, num_steps + 1):                      # KL(q(x_{k-1}|x_k,x0) || p(x_{k-1}|x_k))
                a_t, s_t = _coef(schedule, times[k])
                x_k = a_t * x0 + s_t * noise_like(x0, generator)
                c_xt, c_x0, var = (float(v) for v in steps[k - 1])
                x0_hat = _x0_hat(model, schedule, x_k, times[k], prediction_type)
                matching += c_x0**2 * (x0 - x0_hat).pow(2).flatten(1).sum(1) / (2 * var)
        else:
            def chain(k: int) -> Tensor:                          # x_k ~ q(x_k | x_0), one fresh draw
                a, s = _coef(schedule, times[k])
                return a * x0 + s * noise_like(x0, generator)

            def step(x: Tensor, k: int) -> Tensor:                # x_k ~ q(x_k | x_{k-1} = x)
                return fwd[k - 1][0] * x + math.sqrt(fwd[k - 1][1]) * noise_like(x0, generator)

            x1 = chain(1)
            recon = -_log_normal(x0, _x0_hat(model, schedule, x1, times[1], prediction_type), var_dec)
            x_prev = chain(num_steps - 1)                          # log q(x_T|x_{T-1}) - log p(x_T)
            x_T = step(x_prev, num_steps)
            prior = (_log_normal(x_T, fwd[-1][0] * x_prev, fwd[-1][1])
                     - _log_normal(x_T, torch.zeros_like(x0), var_prior))
            matching = zero.clone()
            for k in range(1, num_steps):                          # log q(x_k|x_{k-1}) - log p(x_k|x_{k+1})
                x_prev = x0 if k == 1 else chain(k - 1)            # a fresh triple for every term
                x_k = step(x_prev, k)
                x_next = step(x_k, k + 1)
                c_xt, c_x0, var = (float(v) for v in steps[k])     # the posterior between t_k and t_{k+1}
                mean_p = c_xt * x_next + c_x0 * _x0_hat(model, schedule, x_next, times[k + 1], prediction_type)
                matching += (_log_normal(x_k, fwd[k - 1][0] * x_prev, fwd[k - 1][1])
                             - _log_normal(x_k, mean_p, var))
    return {"reconstruction": recon, "prior": prior, "matching": matching, "total": recon + prior + matching}


def _time_range(t_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in t_range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"t_range must be (lo, hi) with 0 <= lo < hi <= 1, got {t_range!r}")
    return lo, hi


def discrete_diffusion_loss(model: Model, schedule: Schedule, x0: Tensor, num_steps: int | Sequence[int],
                            generator: torch.Generator | None = None, *, prediction_type: str = "epsilon",
                            t_range: tuple[float, float] = (1e-3, 1.0),
                            noise: Tensor | None = None) -> dict[int, Tensor]:
    r"""The diffusion loss of :math:`T` steps between fixed end points, per example, for each ``num_steps``.

    .. math:: \mathcal L_T(x_0) = \frac12\sum_{i=1}^{T}\big(\mathrm{SNR}(s_i) - \mathrm{SNR}(t_i)\big)
              \,\|x_0 - \hat x_0(\alpha_{t_i}x_0 + \sigma_{t_i}\varepsilon,\ t_i)\|^2,

    :math:`t_i = t_{lo} + (t_{hi} - t_{lo})\,i/T`, :math:`s_i = t_{i-1}`: the matching terms of
    :func:`hierarchical_elbo` with the reconstruction and prior at fixed times (Kingma et al., 2021,
    eq. (13)). One :math:`\varepsilon` per example serves every time and every :math:`T` (common random
    numbers, so that the :math:`\mathcal L_T` of different :math:`T` compare closely); a time shared
    by several grids is evaluated once. Chapter 7, eq. (7.5).

    Returns:
        ``{T: (B,) tensor}`` for each ``T`` in ``num_steps``.
    """
    sizes = [num_steps] if isinstance(num_steps, int) else list(num_steps)
    if not sizes:
        raise ValueError("num_steps must hold at least one number of steps")
    for n in sizes:
        _check_steps(n)
    _check_x0(x0)
    lo, hi = _time_range(t_range)
    noise = noise_like(x0, generator) if noise is None else noise
    if noise.shape != x0.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, x0 has {tuple(x0.shape)}")
    errors: dict[tuple[int, int], Tensor] = {}                     # time i/T as the reduced fraction
    out = {}
    with torch.no_grad():
        for n in sizes:
            total = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
            for i in range(1, n + 1):
                g = math.gcd(i, n)
                key = (i // g, n // g)
                if key not in errors:
                    t = lo + (hi - lo) * i / n
                    a, s = _coef(schedule, t)
                    x0_hat = _x0_hat(model, schedule, a * x0 + s * noise, t, prediction_type)
                    errors[key] = (x0 - x0_hat).pow(2).flatten(1).sum(1)
                lam_s = float(schedule.log_snr(torch.tensor(lo + (hi - lo) * (i - 1) / n, dtype=torch.float64)))
                lam_t = float(schedule.log_snr(torch.tensor(lo + (hi - lo) * i / n, dtype=torch.float64)))
                total += 0.5 * (math.exp(lam_s) - math.exp(lam_t)) * errors[key]
            out[n] = total
    return out


def continuous_diffusion_loss(model: Model, schedule: Schedule, x0: Tensor,
                              generator: torch.Generator | None = None, *, prediction_type: str = "epsilon",
                              t_range: tuple[float, float] = (1e-3, 1.0)) -> Tensor:
    r"""One-sample estimates ``(B,)`` of the continuous diffusion loss :math:`T\to\infty`.

    .. math:: \mathcal L_\infty(x_0) = \frac12\int_{\lambda_{hi}}^{\lambda_{lo}} e^{\lambda}\,
              \mathbb E_\varepsilon\|x_0 - \hat x_\lambda\|^2\,\mathrm d\lambda
              \approx (t_{hi} - t_{lo})\big(-\tfrac12\dot\lambda_t e^{\lambda_t}\big)\|x_0 - \hat x_0(x_t, t)\|^2,
              \quad t \sim U(t_{lo}, t_{hi}),

    Kingma et al. (2021), eqs. (15)-(18): for the exact denoiser it depends on the path only
    through :math:`\lambda` at the two ends. Needs a continuous schedule. Chapter 7, eqs. (7.6)-(7.7).
    """
    _check_x0(x0)
    lo, hi = _time_range(t_range)
    if not getattr(schedule, "continuous", False):
        raise ValueError(f"the continuous loss needs a continuous schedule, got {type(schedule).__name__}")
    t = lo + (hi - lo) * torch.rand(x0.shape[0], generator=generator, dtype=torch.float64,
                                   device=generator_device(generator)).cpu()
    with torch.no_grad():
        loss = denoising_loss(model, schedule, x0, generator, prediction_type=prediction_type, target="sample",
                              weighting="elbo", reduction="sum", t=t.to(x0.device))
    return (hi - lo) * loss


def conditional_variance(values: Tensor, repeats: int) -> float:
    r"""The variance of an estimator given its data point, averaged over the data.

    ``values`` holds ``repeats`` consecutive estimates per point (as produced from
    ``x0.repeat_interleave(repeats, 0)``): :math:`\frac1N\sum_n \widehat{\mathrm{Var}}(v_{n,1..R})`.
    The spread of the data itself (which both estimators share) is left out.

    Example:
        >>> conditional_variance(torch.tensor([1.0, 3.0, 10.0, 10.0]), 2)
        1.0
    """
    _check_steps(repeats, 2)
    if not isinstance(values, Tensor) or values.ndim != 1 or values.numel() % repeats:
        raise ValueError(f"values must be a 1-D tensor whose length is a multiple of repeats={repeats}, got "
                         f"{tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError("values contain NaN or infinite entries")
    return float(values.reshape(-1, repeats).var(1).mean())
