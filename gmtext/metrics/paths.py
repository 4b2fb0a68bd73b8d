r"""How straight a sampler's trajectories are: the measures of rectified flow.

A trajectory ``(K+1, N, D)`` holds :math:`N` paths of :math:`K` steps from noise to data (or back).
Straight paths traversed at constant speed are what make one Euler step exact (Liu et al., "Flow
Straight and Fast", ICLR 2023, arXiv:2209.03003). Chapter 6.x compares the paths of flow matching
and diffusion; chapter 10 straightens them by reflow.

Example:
    >>> import torch
    >>> line = torch.linspace(0, 1, 5)[:, None, None] * torch.ones(1, 3, 2)    # (5, 3, 2)
    >>> round(float(path_length_ratio(line)), 6), float(straightness(line, torch.linspace(0, 1, 5)))
    (1.0, 0.0)
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["straightness", "path_length_ratio"]


def straightness(trajectory: Tensor, times: Tensor) -> Tensor:
    r"""Liu et al. (2023)'s straightness :math:`S = \int_0^1 \mathbb E\|(x_1 - x_0) - \dot x_t\|^2 dt`, a scalar.

    Estimated from a trajectory ``(K+1, N, D)`` at ``times`` ``(K+1,)`` with finite differences;
    :math:`S = 0` exactly when every path is a straight line traversed at constant speed, and
    then one Euler step is exact.
    """
    if trajectory.ndim != 3 or times.shape != (trajectory.shape[0],) or trajectory.shape[0] < 2:
        raise ValueError(f"need a trajectory (K+1, N, D) and times (K+1,), got "
                         f"{tuple(trajectory.shape)} and {tuple(times.shape)}")
    span = times[-1] - times[0]
    chord = (trajectory[-1] - trajectory[0]) / span                        # (N, D)
    dt = times.diff().to(trajectory)                                       # (K,)
    speed = trajectory.diff(dim=0) / dt[:, None, None]                     # (K, N, D)
    err = (chord - speed).pow(2).sum(-1).mean(-1)                          # (K,)
    return (err * dt.abs()).sum() / span.abs()


def path_length_ratio(trajectory: Tensor) -> Tensor:
    r"""Total path length over total end-to-end distance of trajectories ``(K+1, N, D)``:
    :math:`\sum_n \sum_k\|x^n_{k+1} - x^n_k\| / \sum_n\|x^n_K - x^n_0\|`, 1 when every path is straight.

    A ratio of sums, not a mean of ratios, so that a path whose end points almost coincide cannot
    dominate. Chapter 6.x, "Straight paths".
    """
    if trajectory.ndim != 3 or trajectory.shape[0] < 2:
        raise ValueError(f"need a trajectory (K+1, N, D), got {tuple(trajectory.shape)}")
    length = trajectory.diff(dim=0).norm(dim=-1).sum()
    chord = (trajectory[-1] - trajectory[0]).norm(dim=-1).sum()
    if float(chord) == 0.0:
        raise ValueError("every trajectory ends where it starts: the ratio is undefined")
    return length / chord
