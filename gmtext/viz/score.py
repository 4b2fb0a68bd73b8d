r"""Pictures of chapter 5: particles moving under Langevin dynamics, and score fields.

Example:
    >>> import torch
    >>> traj = torch.randn(3, 50, 2, generator=torch.Generator().manual_seed(0))
    >>> anim = particle_animation(traj, bounds=(-3, 3, -3, 3))
    >>> "<img" in anim.to_jshtml()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.animation
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

__all__ = ["particle_animation", "score_field"]


def particle_animation(trajectory: Tensor, *, bounds: tuple[float, float, float, float],
                       log_prob: Callable[[Tensor], Tensor] | None = None,
                       labels: Sequence[str] | None = None, resolution: int = 150,
                       interval: int = 150) -> matplotlib.animation.FuncAnimation:
    r"""A ``FuncAnimation`` of 2-D particles ``trajectory`` ``(F, N, 2)``, one frame per stored state.

    Used for Langevin dynamics (eq. (5.3)) and annealed Langevin dynamics (eq. (5.12)) in chapter 5;
    display it with :func:`gmtext.viz.animation.animation_html`.

    Args:
        trajectory: ``(F, N, 2)`` states, e.g. from ``langevin_dynamics(..., return_trajectory=True)``.
        bounds: ``(x_min, x_max, y_min, y_max)`` of the view.
        log_prob: the target's log-density, drawn as a grey background (optional).
        labels: one title per frame (default ``"step k"``).
        resolution: grid points per axis of the background.
        interval: milliseconds between frames.
    """
    if not isinstance(trajectory, Tensor) or trajectory.ndim != 3 or trajectory.shape[2] != 2:
        shape = tuple(trajectory.shape) if isinstance(trajectory, Tensor) else type(trajectory).__name__
        raise ValueError(f"trajectory must be a (frames, N, 2) tensor, got {shape}")
    frames = trajectory.detach().cpu().numpy()
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"need one label per frame ({len(frames)}), got {len(labels)}")
    fig = Figure(figsize=(3.8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    if log_prob is not None:
        x0, x1, y0, y1 = bounds
        xs, ys = torch.linspace(x0, x1, resolution), torch.linspace(y0, y1, resolution)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")                       # (R, R), row = y
        with torch.no_grad():
            dens = log_prob(torch.stack([gx, gy], -1).reshape(-1, 2)).exp().reshape(resolution, -1)
        ax.imshow(dens.numpy(), origin="lower", extent=bounds, cmap="Greys", aspect="equal",
                  alpha=0.6)
    dots = ax.scatter(frames[0][:, 0], frames[0][:, 1], s=2, color="tab:orange", linewidths=0)
    ax.set(xlim=bounds[:2], ylim=bounds[2:], xlabel="$x_1$", ylabel="$x_2$")
    titles = list(labels) if labels is not None else [f"step {k}" for k in range(len(frames))]
    ax.set_title(titles[0])

    def update(k: int):
        dots.set_offsets(frames[k])
        ax.set_title(titles[k])
        return (dots,)

    return matplotlib.animation.FuncAnimation(fig, update, frames=len(frames), interval=interval,
                                              blit=False)


def score_field(score: Callable[[Tensor], Tensor], ax: Axes, *,
                bounds: tuple[float, float, float, float], n: int = 21, color: str = "black") -> None:
    r"""Draw the vector field :math:`s(x)` on an ``n`` x ``n`` grid as arrows of normalised length.

    The arrows show the direction of steepest ascent of :math:`\log p`; their lengths are
    compressed (:math:`s/\sqrt{\|s\|}`) so that both small and large scores stay visible.
    """
    x0, x1, y0, y1 = bounds
    gy, gx = torch.meshgrid(torch.linspace(y0, y1, n), torch.linspace(x0, x1, n), indexing="ij")
    points = torch.stack([gx, gy], -1).reshape(-1, 2)                        # (n*n, 2)
    with torch.no_grad():
        s = score(points)
    s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-8).sqrt()
    ax.quiver(points[:, 0], points[:, 1], s[:, 0], s[:, 1], color=color, angles="xy", width=0.004)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal")
