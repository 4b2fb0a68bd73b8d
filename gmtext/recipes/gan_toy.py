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
Coverage is measured with :func:`gmtext.gan.sampling.generator_coverage` on 2,500 samples (VEEGAN/PacGAN
protocol, the book's conventions page, section Mode coverage). Every run tracks both the last
iterate and the average, so the effect of averaging is measured on the same training run.

:data:`RECIPES` names each method's settings on top of :data:`COMMON` (networks, optimiser,
steps). Chapter 3, section "Mode collapse"; the animation of these runs is
:func:`gmtext.viz.gan.training_animation`.

Example:
    >>> sorted(RECIPES)
    ['pacgan2_ema', 'vanilla']
    >>> RECIPES[FIX]["pack"], RECIPES[FIX]["sample_average"]
    (2, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gmtext.data import toy
from gmtext.gan.sampling import generator_coverage, sample_latent
from gmtext.gan.training import GANHistory, train_gan
from gmtext.nn.dcgan import toy_discriminator, toy_generator
from gmtext.train import TrainConfig

__all__ = ["COMMON", "RECIPES", "FIX", "GridRun", "train_grid_gan"]

#: Settings shared by all methods (3x128 MLPs, z in R^2, Adam(1e-3, betas (0.5, 0.9)), batch 256,
#: constant learning rate (decaying it linearly to zero covered fewer modes in our runs), and an
#: EMA of the generator with ``ema_decay`` tracked beside the last iterate in every run; the EMA
#: has no warm-up: after thousands of steps the initialisation weighs 0.999^steps, nothing).
COMMON: dict[str, object] = {"hidden": 128, "layers": 3, "latent_dim": 2, "batch_size": 256,
                             "lr": 1e-3, "betas": (0.5, 0.9), "lr_schedule": "constant",
                             "pack": 1, "minibatch_std": 0, "ema_decay": 0.999,
                             "ema_warmup": False, "sample_average": False}
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


def train_grid_gan(method: str, steps: int, seed: int = 0, *, data: str = "grid25",
                   frames: int = 0, max_seconds: float | None = None,
                   device: torch.device | str = "cpu", progress: bool = True) -> GridRun:
    r"""Train the non-saturating GAN of ``method`` (a key of :data:`RECIPES`) on a 2-D toy.

    The losses are those of chapter 3, eqs. (3.1) and (3.6); PacGAN is eq. (3.11), the weight
    average eq. (3.12), and :class:`gmtext.nn.dcgan.MinibatchStd` (``minibatch_std`` in a
    recipe) eq. (3.13).

    Args:
        method: ``"vanilla"`` or :data:`FIX`.
        steps: generator updates (one discriminator update each).
        seed: seeds the weight initialisation (torch's global generator is seeded with it
            inside :func:`torch.random.fork_rng`, so the caller's random state is left as it
            was) and the explicit generator of data, latents and penalties.
        frames: snapshots of 1,000 samples from fixed latents for an animation (0: none); they
            show the generator the recipe samples.
        max_seconds: wall-time cap.

    Raises:
        ValueError: for an unknown method, a negative number of frames or a negative seed.
    """
    if method not in RECIPES:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(RECIPES)}")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
        raise ValueError(f"frames must be an int >= 0 (0: no animation), got {frames!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    p = toy.load(data)
    c = {**COMMON, **RECIPES[method]}
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):          # seeded initialisation, caller's RNG kept
        torch.manual_seed(seed)
        g = toy_generator(c["latent_dim"], c["hidden"], c["layers"]).to(device)
        d = toy_discriminator(c["hidden"], c["layers"], pack=c["pack"],
                              minibatch_std=c["minibatch_std"]).to(device)
    z_fixed = sample_latent(1000, c["latent_dim"], torch.Generator().manual_seed(seed + 1))
    config = TrainConfig(steps, lr=c["lr"], lr_schedule=c["lr_schedule"],
                         ema_decay=c["ema_decay"], ema_warmup=c["ema_warmup"],
                         max_seconds=max_seconds, progress=progress, desc=method)
    hist = train_gan(g, d, lambda step: p.sample(c["batch_size"], generator=gen), config,
                     latent_dim=c["latent_dim"], generator=gen, betas=c["betas"],
                     snapshot_every=max(1, steps // frames) if frames else 0, snapshot_z=z_fixed,
                     snapshot_average=c["sample_average"])
    last = generator_coverage(g, p, latent_dim=c["latent_dim"])
    average = generator_coverage(hist.ema, p, latent_dim=c["latent_dim"])
    if c["sample_average"]:
        return GridRun(hist.ema, hist, average, g, last, average)
    return GridRun(g, hist, last, g, last, average)
