r"""Animate a 2-D flow layer by layer: base samples pushed through :math:`f_1, f_2, \dots, f_K`.

Each frame shows the points :math:`z_i = f_i(z_{i-1})` (chapter 4, eq. (4.5)), linearly
interpolated between consecutive layers so that the motion is visible.

Example:
    >>> from gmtext.flows import realnvp
    >>> flow = realnvp(2, n_layers=2, generator=torch.Generator().manual_seed(0))
    >>> from gmtext.viz.animation import animation_html
    >>> anim = layer_animation(flow, torch.randn(50, 2), steps_per_layer=1)
    >>> "<script" in animation_html(anim).data            # an offline HTML player
    True
"""

from __future__ import annotations

import matplotlib.animation
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gmtext.flows.base import Flow

__all__ = ["layer_animation"]


def layer_animation(flow: Flow, z: Tensor, *, steps_per_layer: int = 4,
                    bounds: tuple[float, float, float, float] = (-5.0, 5.0, -5.0, 5.0),
                    title: str = "", interval: int = 120) -> matplotlib.animation.FuncAnimation:
    r"""A ``FuncAnimation`` of base samples ``z`` ``(N, 2)`` moving through the layers of ``flow``.

    Args:
        flow: a 2-D :class:`~gmtext.flows.base.Flow`.
        z: base points ``(N, 2)``, e.g. ``torch.randn(n, 2, generator=g)``.
        steps_per_layer: interpolated frames between two layers (>= 1).
        bounds: ``(x_min, x_max, y_min, y_max)`` of the axes.
        title: prefix of the per-frame title.
        interval: milliseconds between frames.

    Returns:
        The animation; convert it with :func:`gmtext.viz.animation.animation_html`.
    """
    if not isinstance(flow, Flow) or flow.dim != 2:
        raise ValueError("layer_animation needs a 2-D gmtext.flows.Flow")
    if isinstance(steps_per_layer, bool) or not isinstance(steps_per_layer, int) \
            or steps_per_layer < 1:
        raise ValueError(f"steps_per_layer must be a positive int, got {steps_per_layer!r}")
    with torch.no_grad():
        layers = [p.cpu() for p in flow.eval().trajectory(z)]          # K+1 tensors (N, 2)
    frames: list[tuple[Tensor, int]] = []
    for i in range(len(layers) - 1):
        for j in range(steps_per_layer):
            w = j / steps_per_layer
            frames.append(((1 - w) * layers[i] + w * layers[i + 1], i))
    frames += [(layers[-1], len(layers) - 1)] * steps_per_layer         # rest on the result
    fig = Figure(figsize=(3.8, 3.8), layout="constrained")
    ax = fig.add_subplot()
    colour = torch.atan2(layers[0][:, 1], layers[0][:, 0]).numpy()    # colour by base angle
    dots = ax.scatter(layers[0][:, 0], layers[0][:, 1], c=colour, cmap="hsv", s=2, linewidths=0)
    ax.set(xlim=bounds[:2], ylim=bounds[2:], aspect="equal", xticks=[], yticks=[])
    names = ["base"] + [type(t).__name__ for t in getattr(flow.transform, "transforms",
                                                            [flow.transform])]

    def update(k: int):
        points, layer = frames[k]
        dots.set_offsets(points.numpy())
        ax.set_title(f"{title} after layer {layer}: {names[layer]}", fontsize=9)
        return (dots,)

    return matplotlib.animation.FuncAnimation(fig, update, frames=len(frames), interval=interval,
                                              blit=False)
