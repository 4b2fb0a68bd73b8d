r"""Mode collapse on ``grid25`` and its fix: one recipe for chapter 3 and the benchmark.

A GAN's generator is rewarded for samples the discriminator believes, not for covering the data:
nothing in :math:`\mathbb E_z[-\log D(G(z))]` asks for *all* modes, so the generator can chase a
few and the discriminator chases it back (Goodfellow 2016, arXiv:1701.00160, section 5.1.1).
The fix used here combines two levers, each measured alone in chapter 3:

- **PacGAN** (Lin et al. 2018, arXiv:1712.04086): the discriminator judges packs of ``m = 2``
  samples; a generator that repeats itself produces packs whose samples are too alike, which a
  packed discriminator can see and a single-sample one cannot. The batch is doubled to 512 so
  that the packed discriminator still makes 256 decisions per step, as the vanilla one does.
- **Averaging the generator's weights** (Yazici et al. 2019, arXiv:1806.04498): with a constant
  learning rate the game does not converge, it circles, and the last iterate is wherever the
  circling stopped. An exponential moving average :math:`\bar\theta_t = \beta\bar\theta_{t-1}
  + (1 - \beta)\theta_t`, :math:`\beta = 0.999` (:class:`gmtext.train.EMA`), sits near the
  centre of the orbit and is the generator that is sampled.

Averaging alone does not fix the vanilla GAN (it averages a generator that covers few modes), and
packing alone leaves the result to the stopping step; together they held on every seed tried
(0-4). Minibatch standard deviation (Karras et al. 2018, ``minibatch_std`` in a recipe) in
addition covered all 25 modes on some seeds but left the game unsettled on others, so it is an
option here, not part of the fix.
Coverage is measured with :func:`gmtext.metrics.mode_coverage` on 2,500 samples (VEEGAN/PacGAN
protocol, DATA.md). Every run tracks both the last iterate and the average, so the effect of
averaging is measured on the same training run.

:data:`RECIPES` names each method's settings on top of :data:`COMMON` (networks, optimiser,
steps). Chapter 3, section "Mode collapse".

Example:
    >>> sorted(RECIPES)
    ['pacgan2_ema', 'vanilla']
    >>> RECIPES[FIX]["pack"], RECIPES[FIX]["sample_average"]
    (2, True)
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
from gmtext.train import EMA

__all__ = ["COMMON", "RECIPES", "FIX", "GridRun", "train_grid_gan", "coverage",
           "training_animation"]

#: Settings shared by all methods (3x128 MLPs, z in R^2, Adam(1e-3, betas (0.5, 0.9)), batch 256,
#: constant learning rate (a linear decay, ``decay=True``, covered fewer modes in our runs), and
#: an EMA of the generator with ``ema_decay`` tracked beside the last iterate in every run).
COMMON: dict[str, object] = {"hidden": 128, "layers": 3, "latent_dim": 2, "batch_size": 256,
                             "lr": 1e-3, "betas": (0.5, 0.9), "decay": False, "pack": 1,
                             "minibatch_std": 0, "ema_decay": 0.999, "sample_average": False}
#: Method -> what differs from :data:`COMMON`. ``sample_average``: the run's generator is the
#: weight average (EMA) instead of the last iterate.
RECIPES: dict[str, dict[str, object]] = {
    "vanilla": {},
    "pacgan2_ema": {"pack": 2, "batch_size": 512, "sample_average": True},
}
#: The recipe chapter 3 and the benchmark present as the fix.
FIX = "pacgan2_ema"


@dataclass
class GridRun:
    """A trained generator, its training history and its coverage of the grid.

    ``generator`` is the one the recipe samples (the EMA for ``sample_average`` recipes, else
    the last iterate) and ``coverage`` its coverage; ``last_iterate`` is the trained network
    itself, and ``coverage_last`` and ``coverage_average`` are the coverages of the last iterate
    and of the EMA, measured on the same run.
    """

    generator: nn.Module
    history: GANHistory
    coverage: dict[str, object]
    last_iterate: nn.Module
    coverage_last: dict[str, object]
    coverage_average: dict[str, object]


def coverage(g: nn.Module, data: toy.GaussianMixture, n: int = 2500, seed: int = 12345,
             latent_dim: int = 2) -> dict[str, object]:
    """:func:`gmtext.metrics.mode_coverage` of ``n`` fresh samples of ``g`` (fixed seed).

    The protocol of VEEGAN and PacGAN (Lin et al. 2018, arXiv:1712.04086): a sample is high
    quality within 3 standard deviations of its nearest mean; a mode is covered by at least 20 of
    2,500 samples (DATA.md). Chapter 3, section "Mode collapse".
    """
    device = next(g.parameters()).device
    with torch.no_grad():
        x = g(sample_latent(n, latent_dim, torch.Generator().manual_seed(seed), device)).cpu()
    std = float(data.stds.max())
    return mode_coverage(x, data.means.float(), std=std, min_count=round(20 * n / 2500))


def train_grid_gan(method: str, steps: int, seed: int = 0, *, data: str = "grid25",
                   frames: int = 0, max_seconds: float | None = None,
                   device: torch.device | str = "cpu", progress: bool = True) -> GridRun:
    r"""Train the non-saturating GAN of ``method`` (a key of :data:`RECIPES`) on a 2-D toy.

    The losses are those of chapter 3, eqs. (3.1) and (3.6); PacGAN is eq. (3.11), the weight
    average eq. (3.12), and :class:`gmtext.gan.nets.MinibatchStd` (``minibatch_std`` in a
    recipe) eq. (3.13).

    Args:
        method: ``"vanilla"`` or :data:`FIX`.
        steps: generator updates (one discriminator update each).
        seed: seeds initialisation, data and latents.
        frames: snapshots of 1,000 samples from fixed latents for an animation (0: none); they
            show the generator the recipe samples.
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
    d = toy_discriminator(c["hidden"], c["layers"], pack=c["pack"],
                          minibatch_std=c["minibatch_std"]).to(device)
    ema = EMA(g, c["ema_decay"])
    z_fixed = sample_latent(1000, c["latent_dim"], torch.Generator().manual_seed(seed + 1))
    hist = train_gan(g, d, lambda step: p.sample(c["batch_size"], generator=gen), steps,
                     latent_dim=c["latent_dim"], generator=gen, lr_g=c["lr"], lr_d=c["lr"],
                     betas=c["betas"], decay=c["decay"], ema=ema,
                     snapshot_model=ema.shadow if c["sample_average"] else g,
                     snapshot_every=max(1, steps // frames) if frames else 0, snapshot_z=z_fixed,
                     max_seconds=max_seconds, progress=progress, desc=method)
    last = coverage(g, p, latent_dim=c["latent_dim"])
    average = coverage(ema.shadow, p, latent_dim=c["latent_dim"])
    if c["sample_average"]:
        return GridRun(ema.shadow, hist, average, g, last, average)
    return GridRun(g, hist, last, g, last, average)


def training_animation(runs: dict[str, GANHistory], means: Tensor, lim: float = 5.5,
                       size: float = 3.2) -> matplotlib.animation.FuncAnimation:
    """Side-by-side scatter plots of each run's snapshots over training, the modes as crosses.

    Chapter 3 shows the vanilla GAN hopping between modes beside the fix converging on all 25.
    """
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
