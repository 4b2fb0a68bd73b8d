r"""Pictures of a diffusion process: the reverse process as an animation, 2-D points or image grids.

Used in chapter 6 with ``gmtext.viz.animation.animation_html``.

Example:
    >>> import torch
    >>> path = torch.randn(5, 100, 2)                      # (frames, points, 2)
    >>> anim = reverse_animation(path, torch.linspace(1, 0, 5))
    >>> isinstance(anim, matplotlib.animation.FuncAnimation)
    True
"""

from __future__ import annotations

import math

import matplotlib.animation
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gmtext.viz.plot import image_grid


def select_frames(path: Tensor, times: Tensor, frames: int) -> tuple[Tensor, Tensor]:
    """Keep ``frames`` entries of a sampling path ``(S, ...)`` and its times ``(S,)``, always the first and last."""
    if path.shape[0] != times.shape[0]:
        raise ValueError(f"path has {path.shape[0]} states but times has {times.shape[0]} entries")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    idx = torch.linspace(0, path.shape[0] - 1, min(frames, path.shape[0])).round().long().unique()
    return path[idx], times[idx]


def reverse_animation(path: Tensor, times: Tensor, *, bounds: tuple[float, float] = (-4.5, 4.5),
                      title: str = "reverse process", interval: int = 150,
                      nrow: int | None = None, to_image=None) -> matplotlib.animation.FuncAnimation:
    r"""Animate the states :math:`x_t` of a sampler, from noise (:math:`t = 1`) to data.

    Args:
        path: ``(F, N, 2)`` points or ``(F, N, C, H, W)`` images, one frame per state.
        times: ``(F,)`` the time of each frame (shown in the title).
        bounds: axis limits of a 2-D plot.
        title: the title's prefix.
        interval: milliseconds per frame.
        nrow: images per row of a grid.
        to_image: maps a frame of images to the values drawn (e.g. back to 0..16 for the digits).
    """
    if path.ndim not in (3, 5) or (path.ndim == 3 and path.shape[-1] != 2):
        raise ValueError(f"path must be (F, N, 2) points or (F, N, C, H, W) images, got {tuple(path.shape)}")
    if times.shape != (path.shape[0],):
        raise ValueError(f"times must have shape ({path.shape[0]},), got {tuple(times.shape)}")
    size = (3.8, 3.8)
    if path.ndim == 5:                  # a grid of images: a canvas of the grid's shape
        cols = nrow or math.ceil(math.sqrt(path.shape[1]))
        rows = math.ceil(path.shape[1] / cols)
        size = (0.6 * cols + 0.4, 0.6 * rows + 0.6)
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    if path.ndim == 3:
        points = path.detach().cpu().numpy()
        dots = ax.scatter(points[0, :, 0], points[0, :, 1], s=2, linewidths=0, alpha=0.6)
        ax.set(xlim=bounds, ylim=bounds, aspect="equal", xticks=[], yticks=[])

        def update(k: int):
            dots.set_offsets(points[k])
            ax.set_title(f"{title}, t = {float(times[k]):.3f}")
            return (dots,)
    else:
        frames = [to_image(f) if to_image is not None else f for f in path.detach().cpu()]
        vmax = float(frames[-1].max())
        image_grid(frames[0], nrow=nrow, ax=ax, vmax=vmax)
        picture = ax.images[0]

        def update(k: int):
            scratch = Figure()                                   # render the grid, keep its pixels
            image_grid(frames[k], nrow=nrow, ax=scratch.add_subplot(), vmax=vmax)
            picture.set_data(np.asarray(scratch.axes[0].images[0].get_array()))
            ax.set_title(f"{title}, t = {float(times[k]):.3f}")
            return (picture,)
    return matplotlib.animation.FuncAnimation(fig, update, frames=path.shape[0], interval=interval,
                                              blit=False)


__all__ = ["select_frames", "reverse_animation"]
