r"""Langevin dynamics and annealed Langevin dynamics: sampling with nothing but a score.

The unadjusted Langevin algorithm (Roberts & Tweedie 1996; Welling & Teh 2011) iterates

.. math:: x_{t+1} = x_t + \epsilon\,\nabla_x\log p(x_t) + \sqrt{2\epsilon}\,z_t,\qquad z_t\sim\mathcal N(0, I),

whose law tends to :math:`p` as :math:`\epsilon\to 0` and :math:`t\to\infty` (chapter 5, eq. (5.3)).
Annealed Langevin dynamics (Song & Ermon 2019, arXiv:1907.05600, Algorithm 1) runs it at a
decreasing ladder of noise levels with the step :math:`\alpha_i = \epsilon\,\sigma_i^2/\sigma_L^2`,
each level starting where the previous one stopped (chapter 5, eq. (5.12)), and can end with one
denoising step, Tweedie's formula :math:`\hat x = x + \sigma_L^2\,s_\theta(x, \sigma_L)`
(Efron 2011), which removes the last level's noise.

Samplers take the score function and an explicit ``torch.Generator``; they never own a network.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = langevin_dynamics(lambda v: -v, torch.zeros(20000, 1), 0.05, 300, g)  # N(0, 1)
    >>> abs(float(x.var()) - 1.0) < 0.05
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gmtext._validate import check_data as check_points
from gmtext._validate import check_positive_int as _check_positive_int
from gmtext.config import generator_device
from gmtext.diffusion.samplers import sample
from gmtext.diffusion.schedules import ladder_schedule
from gmtext.diffusion.sde import AnnealedLangevinSampler

__all__ = ["langevin_dynamics", "annealed_langevin_dynamics", "langevin_stationary_variance"]


def langevin_dynamics(score: Callable[[Tensor], Tensor], x0: Tensor, step_size: float, n_steps: int,
                      generator: torch.Generator, return_trajectory: bool = False,
                      every: int = 1) -> Tensor | tuple[Tensor, Tensor]:
    r"""Unadjusted Langevin dynamics with a fixed step.

    .. math:: x_{t+1} = x_t + \epsilon\, s(x_t) + \sqrt{2\epsilon}\, z_t

    Roberts & Tweedie (1996); Welling & Teh (2011). Chapter 5, eq. (5.3). Runs without gradients.

    Args:
        score: ``(N, D) -> (N, D)``, e.g. ``toy.load("ring8").score``.
        x0: ``(N, D)`` starting points.
        step_size: :math:`\epsilon > 0`.
        n_steps: number of steps (>= 1); one score evaluation each.
        generator: draws the noise :math:`z_t`.
        return_trajectory: also return the states every ``every`` steps (for animations).
        every: spacing of the stored states.

    Returns:
        The final ``(N, D)`` states, and with ``return_trajectory`` a ``(F, N, D)`` tensor of states
        (``x0`` first, the final state last).
    """
    x = check_points(x0).detach().clone()
    if not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size}")
    _check_positive_int("n_steps", n_steps)
    _check_positive_int("every", every)
    frames = [x.clone()]
    with torch.no_grad():
        for t in range(n_steps):
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator_device(generator)).to(x.device)
            s = score(x)
            if not isinstance(s, Tensor) or s.shape != x.shape:     # never broadcast an (N, 1) score
                raise ValueError(f"score must return the shape of x, {tuple(x.shape)}, got "
                                 f"{tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__}")
            x = x + step_size * s + (2 * step_size) ** 0.5 * z                # eq. (5.3)
            if return_trajectory and ((t + 1) % every == 0 or t + 1 == n_steps):
                frames.append(x.clone())
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"Langevin dynamics diverged (non-finite states): step_size={step_size} "
                         "is too large for this score")
    return (x, torch.stack(frames)) if return_trajectory else x


def annealed_langevin_dynamics(score_net: Callable[[Tensor, Tensor], Tensor], x0: Tensor,
                               sigmas: Tensor | Sequence[float], step_size: float,
                               steps_per_level: int, generator: torch.Generator,
                               denoise: bool = True, return_trajectory: bool = False
                               ) -> Tensor | tuple[Tensor, Tensor]:
    r"""Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1), optionally with a final denoising.

    For :math:`i = 1..L` (largest noise first), :math:`\alpha_i = \epsilon\,\sigma_i^2/\sigma_L^2` and
    ``steps_per_level`` steps of

    .. math:: x \leftarrow x + \alpha_i\, s_\theta(x, \sigma_i) + \sqrt{2\alpha_i}\, z,

    then, with ``denoise``, Tweedie's formula :math:`x \leftarrow x + \sigma_L^2 s_\theta(x, \sigma_L)`
    (one more evaluation). Chapter 5, eq. (5.12) and (5.13). NFE = ``L * steps_per_level`` (+1).
    This is the sampling loop of :mod:`gmtext.diffusion.samplers` with
    :class:`gmtext.diffusion.sde.AnnealedLangevinSampler` on the ladder's variance-exploding path.

    Args:
        score_net: ``(x (N, D), sigma (N,)) -> (N, D)``.
        x0: ``(N, D)`` starting points, e.g. uniform noise or :math:`\mathcal N(0, \sigma_1^2 I)`.
        sigmas: a decreasing geometric ladder (:func:`gmtext.diffusion.schedules.geometric_sigmas`).
        step_size: :math:`\epsilon`, the step at the smallest level.
        steps_per_level: :math:`T` Langevin steps per level.
        generator: draws the noise.
        denoise: apply Tweedie's formula at the end.
        return_trajectory: also return the state after every level, ``(L + 1 [+1], N, D)``.

    Raises:
        ValueError: on sigmas that are not a decreasing geometric ladder, a non-positive
            ``step_size``, a score of the wrong shape, or a chain that diverges.
    """
    x = check_points(x0).detach().clone()
    schedule, levels = ladder_schedule(sigmas), len(torch.as_tensor(sigmas))
    sampler = AnnealedLangevinSampler(schedule, step_size, steps_per_level, denoise=denoise)

    def model(x_t: Tensor, t: Tensor) -> Tensor:      # the network is conditioned on sigma, not t
        return score_net(x_t, schedule.alpha_sigma(t.double())[1].to(x_t.dtype))

    out = sample(model, sampler, tuple(x.shape), levels, generator, return_path=return_trajectory,
                 device=x.device, x_init=x)
    final = out[-1] if return_trajectory else out
    if not bool(torch.isfinite(final).all()):
        raise ValueError(f"annealed Langevin dynamics diverged: step_size={step_size} is too large")
    if not return_trajectory:
        return out
    keep = [k * steps_per_level for k in range(levels + 1)] + ([len(out) - 1] if denoise else [])
    return final, out[keep]                                     # the state after every level


def langevin_stationary_variance(variance: float, step_size: float) -> float:
    r"""Stationary variance of the *discretised* Langevin chain for a Gaussian target :math:`\mathcal N(\mu, v)`.

    With :math:`s(x) = -(x - \mu)/v` the chain is :math:`x' - \mu = a(x - \mu) + \sqrt{2\epsilon}z`,
    :math:`a = 1 - \epsilon/v`, an AR(1) process with stationary variance

    .. math:: v_\epsilon = \frac{2\epsilon}{1 - a^2} = \frac{v}{1 - \epsilon/(2v)} > v,

    the bias of the unadjusted algorithm, which vanishes as :math:`\epsilon\to 0` (chapter 5,
    exercise). Requires :math:`0 < \epsilon < 2v` (else the chain diverges).

    Example:
        >>> langevin_stationary_variance(1.0, 0.1)
        1.0526315789473684
    """
    if not variance > 0 or not 0 < step_size < 2 * variance:
        raise ValueError(f"need variance > 0 and 0 < step_size < 2 * variance, got "
                         f"variance={variance}, step_size={step_size}")
    return variance / (1 - step_size / (2 * variance))
