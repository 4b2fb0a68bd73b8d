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

__all__ = ["langevin_dynamics", "annealed_langevin_dynamics", "langevin_stationary_variance"]


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


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
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            x = x + step_size * score(x) + (2 * step_size) ** 0.5 * z        # eq. (5.3)
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

    Args:
        score_net: ``(x (N, D), sigma (N,)) -> (N, D)``.
        x0: ``(N, D)`` starting points, e.g. uniform noise or :math:`\mathcal N(0, \sigma_1^2 I)`.
        sigmas: decreasing positive noise levels (:func:`gmtext.score.noise.geometric_sigmas`).
        step_size: :math:`\epsilon`, the step at the smallest level.
        steps_per_level: :math:`T` Langevin steps per level.
        generator: draws the noise.
        denoise: apply Tweedie's formula at the end.
        return_trajectory: also return the state after every level, ``(L + 1 [+1], N, D)``.

    Raises:
        ValueError: on non-decreasing or non-positive ``sigmas``, a non-positive ``step_size``, or
            a chain that diverges.
    """
    x = check_points(x0).detach().clone()
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype).to(x.device)
    if sigmas.ndim != 1 or len(sigmas) == 0 or not bool((sigmas > 0).all()):
        raise ValueError(f"sigmas must be a non-empty 1-D sequence of positive numbers, got {sigmas}")
    if len(sigmas) > 1 and not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise ValueError("sigmas must be strictly decreasing (largest noise first)")
    if not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size}")
    _check_positive_int("steps_per_level", steps_per_level)
    frames = [x.clone()]
    with torch.no_grad():
        for sigma in sigmas:
            alpha = step_size * (sigma / sigmas[-1]) ** 2                    # alpha_i, eq. (5.12)
            level = sigma.expand(x.shape[0])                                 # (N,)
            for _ in range(steps_per_level):
                z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
                x = x + alpha * score_net(x, level) + (2 * alpha).sqrt() * z
            frames.append(x.clone())
        if denoise:                                                          # Tweedie, eq. (5.13)
            x = x + sigmas[-1] ** 2 * score_net(x, sigmas[-1].expand(x.shape[0]))
            frames.append(x.clone())
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"annealed Langevin dynamics diverged: step_size={step_size} is too large")
    return (x, torch.stack(frames)) if return_trajectory else x


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
