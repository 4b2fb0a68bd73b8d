r"""Mode collapse on ``grid25`` and its fix: one recipe for chapter 3 and the benchmark.

A GAN's generator is rewarded for samples the discriminator believes, not for covering the data:
nothing in :math:`\mathbb E_z[-\log D(G(z))]` asks for *all* modes, so the generator can chase a
few and the discriminator chases it back (Goodfellow 2016, arXiv:1701.00160, section 5.1.1).
The fix used here is **PacGAN** (Lin et al. 2018, arXiv:1712.04086): the discriminator judges
packs of ``m`` samples; a generator that repeats itself produces packs whose samples are too alike,
which a packed discriminator can see and a single-sample one cannot. Coverage is measured with
:func:`gmtext.metrics.mode_coverage` on 2,500 samples (VEEGAN/PacGAN protocol, DATA.md).

:data:`RECIPES` names each method's settings; both share the networks, optimiser and budget, so
the comparison isolates the method. Chapter 3, section "Mode collapse".

Example:
    >>> sorted(RECIPES)
    ['pacgan2', 'vanilla']
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.animation
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from gmtext import config
from gmtext.data import toy
from gmtext.gan.nets import toy_discriminator, toy_generator
from gmtext.gan.training import GANHistory, sample_latent, train_gan
from gmtext.metrics import mode_coverage

__all__ = ["RECIPES", "GridRun", "train_grid_gan", "coverage", "training_animation"]

#: Settings shared by all methods: 3x128 MLPs, z in R^2, Adam(1e-3, betas (0.5, 0.9)), batch 256,
#: constant learning rate (a linear decay, ``decay=True``, covered fewer modes in our runs).
COMMON: dict[str, object] = {"hidden": 128, "layers": 3, "latent_dim": 2, "batch_size": 256,
                             "lr": 1e-3, "betas": (0.5, 0.9), "decay": False}
#: Method -> what differs from ``COMMON``.
RECIPES: dict[str, dict[str, object]] = {"vanilla": {"pack": 1}, "pacgan2": {"pack": 2}}


@dataclass
class GridRun:
    """A trained generator, its training history and its coverage of the grid."""

    generator: nn.Module
    history: GANHistory
    coverage: dict[str, object]


def coverage(g: nn.Module, data: toy.GaussianMixture, n: int = 2500, seed: int = 12345,
             latent_dim: int = 2) -> dict[str, object]:
    """:func:`gmtext.metrics.mode_coverage` of ``n`` fresh samples of ``g`` (fixed seed)."""
    device = next(g.parameters()).device
    with torch.no_grad():
        x = g(sample_latent(n, latent_dim, torch.Generator().manual_seed(seed), device)).cpu()
    std = float(data.stds.max())
    return mode_coverage(x, data.means.float(), std=std, min_count=round(20 * n / 2500))


def train_grid_gan(method: str, steps: int, seed: int = 0, *, data: str = "grid25",
                   frames: int = 0, max_seconds: float | None = None,
                   device: torch.device | str = "cpu", progress: bool = True) -> GridRun:
    r"""Train the non-saturating GAN of ``method`` (a key of :data:`RECIPES`) on a 2-D toy.

    Args:
        method: ``"vanilla"`` or ``"pacgan2"``.
        steps: generator updates (one discriminator update each).
        seed: seeds initialisation, data and latents.
        frames: snapshots of 1,000 samples from fixed latents for an animation (0: none).
        max_seconds: wall-time cap.

    Raises:
        ValueError: for an unknown method.
    """
    if method not in RECIPES:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(RECIPES)}")
    p = toy.load(data)
    c = {**COMMON, **RECIPES[method]}
    gen = config.seed_everything(seed)
    g = toy_generator(c["latent_dim"], c["hidden"], c["layers"]).to(device)
    d = toy_discriminator(c["hidden"], c["layers"], pack=c["pack"]).to(device)
    z_fixed = sample_latent(1000, c["latent_dim"], torch.Generator().manual_seed(seed + 1))
    hist = train_gan(g, d, lambda step: p.sample(c["batch_size"], generator=gen), steps,
                     latent_dim=c["latent_dim"], generator=gen, lr_g=c["lr"], lr_d=c["lr"],
                     betas=c["betas"], decay=c["decay"],
                     snapshot_every=max(1, steps // frames) if frames else 0, snapshot_z=z_fixed,
                     max_seconds=max_seconds, progress=progress, desc=method)
    return GridRun(g, hist, coverage(g, p, latent_dim=c["latent_dim"]))


def training_animation(runs: dict[str, GANHistory], means: Tensor, lim: float = 5.5,
                       size: float = 3.2) -> matplotlib.animation.FuncAnimation:
    """Side-by-side scatter plots of each run's snapshots over training, the modes as crosses."""
    names = list(runs)
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
