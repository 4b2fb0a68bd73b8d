"""Figures of the GAN chapter: the grid25 training animation and the StyleGAN schematic.

- :func:`training_animation`: snapshots of generators over training, side by side (chapter 3,
  "Mode collapse");
- :func:`architecture_figure`: StyleGAN's generator, mapping network and styles (chapter 3,
  "What complex GANs add").

Example:
    >>> len(architecture_figure().axes[0].patches)    # z, f, w, constant, 3 x (block, A), image
    11
"""

from __future__ import annotations

import matplotlib.animation
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import Tensor

from gmtext.gan.training import GANHistory

__all__ = ["training_animation", "architecture_figure"]


def training_animation(runs: dict[str, GANHistory], means: Tensor, lim: float = 5.5,
                       size: float = 3.2) -> matplotlib.animation.FuncAnimation:
    """Side-by-side scatter plots of each run's snapshots over training, the modes as crosses.

    ``runs`` maps a title to a :class:`gmtext.gan.training.GANHistory` trained with snapshots
    (``frames > 0`` in :func:`gmtext.recipes.gan_toy.train_grid_gan`); ``means`` ``(K, 2)`` are
    the modes. Chapter 3 shows the vanilla GAN hopping between modes beside the fix converging
    on all 25.

    Raises:
        ValueError: if ``runs`` is empty or a history holds no snapshots.
    """
    names = list(runs)
    if not names:
        raise ValueError("runs is empty: pass {title: GANHistory}")
    n_frames = min(len(runs[k].snapshots) for k in names)
    if n_frames == 0:
        raise ValueError("the histories hold no snapshots: train with frames > 0")
    fig = Figure(figsize=(size * len(names), size), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    dots = []
    for ax, name in zip(axes, names):
        ax.scatter(means[:, 0], means[:, 1], marker="x", color="black", s=20)
        dots.append(ax.scatter([], [], s=2, alpha=0.4))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])

    def draw(i: int) -> list:
        for ax, dot, name in zip(axes, dots, names):
            step, x = runs[name].snapshots[i]
            dot.set_offsets(x.numpy())
            ax.set_title(f"{name}, step {step}", fontsize=9)
        return dots

    draw(0)
    return matplotlib.animation.FuncAnimation(fig, draw, frames=n_frames, interval=200, blit=False)


def architecture_figure() -> Figure:
    """A schematic of StyleGAN's generator: mapping network, affine styles, AdaIN in each block.

    Karras et al. (2019, arXiv:1812.04948), figure 1(b), drawn for chapter 3, section "What complex
    GANs add"; the blocks themselves are :mod:`gmtext.nn.style`.
    """
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xlim=(0, 10), ylim=(0, 5.2))
    ax.axis("off")

    def box(x: float, y: float, w: float, h: float, text: str, color: str) -> None:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", facecolor=color,
                                    edgecolor="black"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->"})

    box(0.2, 4.3, 1.2, 0.6, r"$z \sim N(0, I)$", "white")
    box(0.2, 1.2, 1.2, 2.6, "mapping\nnetwork $f$\n(8 FC layers)", "#dde8f5")
    box(0.2, 0.2, 1.2, 0.6, r"$w = f(z)$", "white")
    arrow(0.8, 4.3, 0.8, 3.85)
    arrow(0.8, 1.2, 0.8, 0.85)
    box(3.0, 4.3, 1.6, 0.6, "constant 4x4", "white")
    for i, y in enumerate((3.0, 1.6, 0.2)):
        box(3.0, y, 1.6, 0.9, f"conv, noise,\nAdaIN (block {i + 1})", "#f5e6d3")
        box(1.9, y + 0.2, 0.6, 0.5, "A", "#e3f0dc")
        arrow(1.4, 0.5, 1.9, y + 0.45)
        arrow(2.5, y + 0.45, 3.0, y + 0.45)
    arrow(3.8, 4.3, 3.8, 3.95)
    arrow(3.8, 3.0, 3.8, 2.55)
    arrow(3.8, 1.6, 3.8, 1.15)
    arrow(4.6, 0.65, 5.4, 0.65)
    box(5.4, 0.35, 1.0, 0.6, "image", "white")
    ax.text(5.2, 3.6, r"$\mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)}"
            r" + y_{b,i}$", fontsize=10)
    ax.text(5.2, 2.7, "A: learned affine map $w \\mapsto y = (y_s, y_b)$,\none style per block",
            fontsize=8)
    ax.text(5.2, 1.7, "coarse blocks: pose, shape;\nfine blocks: texture, colour", fontsize=8)
    return fig
