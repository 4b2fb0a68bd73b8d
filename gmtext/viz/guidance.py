r"""Figures of chapter 8: guidance on a 2-D toy, the guidance sweep on the digits, the slider over
:math:`w` as an offline animation, and SDEdit's faithfulness against realism.

The numbers are computed by :mod:`gmtext.diffusion.guidance` and :mod:`gmtext.recipes.conditional`;
these functions only draw them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.animation
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gmtext.viz.plot import image_grid

__all__ = ["toy_guidance_figure", "sweep_figure", "guided_grids", "guidance_animation", "sdedit_figure"]


def toy_guidance_figure(samples: Mapping[float, Tensor], tilted: Mapping[float, Tensor],
                        projection: Callable[[Tensor], Tensor], tilted_density: Callable[[float, Tensor], Tensor],
                        other: Tensor | None = None, bounds: tuple[float, float] = (-4.0, 4.0)) -> Figure:
    r"""Top row: guided samples on the plane, one panel per :math:`w`; bottom row: their histogram
    along the axis between the classes, beside samples and the exact marginal of :math:`p(x\mid c)p(c\mid x)^w`.

    Args:
        samples: ``w -> (N, 2)`` samples of classifier-free guidance.
        tilted: ``w -> (N, 2)`` samples of the tilted density.
        projection: ``(N, 2) -> (N,)`` the coordinate along the class axis.
        tilted_density: ``(w, s) -> density`` of that coordinate on a grid ``s`` (normalised).
        other: samples of the other class, drawn in grey for orientation.
    """
    weights = list(samples)
    fig = Figure(figsize=(2.3 * len(weights), 4.6), layout="constrained")
    axes = fig.subplots(2, len(weights), squeeze=False)
    grid = torch.linspace(*bounds, 400, dtype=torch.float64)
    for k, w in enumerate(weights):
        top, bottom = axes[0, k], axes[1, k]
        x = samples[w].detach().cpu().numpy()
        if other is not None:
            o = other.detach().cpu().numpy()
            top.scatter(o[:, 0], o[:, 1], s=1, alpha=0.3, linewidths=0, color="grey")
        top.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, linewidths=0, color="C0")
        top.set(xlim=bounds, ylim=bounds, aspect="equal", title=f"CFG, w = {w:g}", xticks=[], yticks=[])
        bins = np.linspace(*bounds, 60)
        bottom.hist(projection(samples[w]).numpy(), bins=bins, density=True, alpha=0.5, label="CFG samples")
        bottom.hist(projection(tilted[w]).numpy(), bins=bins, density=True, histtype="step", color="k",
                    label="tilted samples")
        bottom.plot(grid.numpy(), tilted_density(w, grid).numpy(), color="C3", lw=1.2,
                    label=r"$p(x|c)\,p(c|x)^w$")
        bottom.set(xlabel="position along the class axis", yticks=[])
    axes[1, 0].legend(fontsize=7, loc="upper left")
    return fig


def sweep_figure(sweep: Mapping[float, Mapping[str, float]], reference: Mapping[str, float] | None = None,
                 reference_label: str = "reference") -> Figure:
    """Label accuracy, Fréchet distance, precision/recall and per-class diversity against the guidance weight.

    ``reference`` (e.g. a conditional GAN's numbers, keys of the sweep) is drawn as dashed lines.
    """
    weights = list(sweep)
    fig = Figure(figsize=(10, 2.7), layout="constrained")
    panels = fig.subplots(1, 4)
    series = (("label_accuracy", "label accuracy"), ("fd", "Fréchet distance"),
              (("precision", "recall"), "precision / recall"), ("diversity", "per-class diversity"))
    for ax, (keys, title) in zip(panels, series):
        for key in (keys if isinstance(keys, tuple) else (keys,)):
            ax.plot(weights, [sweep[w][key] for w in weights], marker="o", label=key)
            if reference is not None and key in reference:
                ax.axhline(reference[key], ls="--", lw=1, color="grey",
                           label=f"{reference_label}" if key != "recall" else None)
        ax.set(xlabel="guidance weight w", title=title)
        if isinstance(keys, tuple) or (reference is not None and keys in reference):
            ax.legend(fontsize=7)
    return fig


def guided_grids(grids: Mapping[float, Tensor], nrow: int = 10) -> Figure:
    """One grid of digits per guidance weight, side by side (row ``c`` of each grid: class ``c``)."""
    fig = Figure(figsize=(2.6 * len(grids), 2.9), layout="constrained")
    for ax, (w, images) in zip(fig.subplots(1, len(grids), squeeze=False)[0], grids.items()):
        image_grid(images, nrow=nrow, vmax=16, ax=ax, title=f"w = {w:g}")
    return fig


def guidance_animation(frames: Sequence[Tensor], weights: Sequence[float], nrow: int = 10,
                       interval: int = 600) -> matplotlib.animation.FuncAnimation:
    """The digits of one fixed noise at each guidance weight, one frame per weight (the slider of the HTML book).

    Show it with :func:`gmtext.viz.animation.animation_html`, which plays offline.
    """
    if len(frames) != len(weights) or not frames:
        raise ValueError(f"need one frame per weight, got {len(frames)} frames and {len(weights)} weights")
    rows = -(-len(frames[0]) // nrow)
    fig = Figure(figsize=(0.33 * nrow + 0.4, 0.33 * rows + 0.6), layout="constrained")
    ax = fig.add_subplot()
    image_grid(frames[0], nrow=nrow, vmax=16, ax=ax)
    picture = ax.images[0]

    def update(k: int):
        scratch = Figure()                                       # render the grid, keep its pixels
        image_grid(frames[k], nrow=nrow, vmax=16, ax=scratch.add_subplot())
        picture.set_data(np.asarray(scratch.axes[0].images[0].get_array()))
        ax.set_title(f"guidance weight w = {weights[k]:g}")
        return (picture,)

    update(0)
    return matplotlib.animation.FuncAnimation(fig, update, frames=len(frames), interval=interval, blit=False)


def sdedit_figure(results: Mapping[str, Mapping[float, Mapping[str, float]]],
                  baseline: Mapping[str, float] | None = None, baseline_label: str = "CycleGAN") -> Figure:
    """Left: faithfulness (accuracy w.r.t. the source label) against the start time; middle: realism
    (Fréchet distance to the target domain); right: one against the other. ``baseline``: a point."""
    fig = Figure(figsize=(10, 3), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    for name, curve in results.items():
        times = list(curve)
        acc, fd = [curve[t]["accuracy"] for t in times], [curve[t]["fd"] for t in times]
        left.plot(times, acc, marker="o", label=name)
        middle.plot(times, fd, marker="o", label=name)
        right.plot(fd, acc, marker="o", label=name)
    if baseline is not None:
        left.axhline(baseline["accuracy"], ls="--", color="grey", label=baseline_label)
        middle.axhline(baseline["fd"], ls="--", color="grey", label=baseline_label)
        right.scatter([baseline["fd"]], [baseline["accuracy"]], marker="*", s=120, color="k", label=baseline_label,
                      zorder=3)
    left.set(xlabel="start time $t_0$", ylabel="accuracy w.r.t. source label", title="faithfulness")
    middle.set(xlabel="start time $t_0$", ylabel="Fréchet distance", title="realism")
    right.set(xlabel="Fréchet distance", ylabel="accuracy", title="the trade-off")
    left.legend(fontsize=7)
    return fig
