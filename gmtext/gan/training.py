r"""The alternating GAN training loop, built on :func:`gmtext.train.fit`.

One *step* is ``d_steps`` discriminator (critic) updates followed by one generator update, the
algorithm of Goodfellow et al. (2014, arXiv:1406.2661, Algorithm 1). :func:`gmtext.train.fit`
drives the generator's optimiser (progress bar, wall-time cap, NaN check, learning-rate schedule,
clipping) from a :class:`gmtext.train.TrainConfig`; the discriminator's updates run inside the
generator's loss function, which is the one place that sees a fresh batch, with their own
optimiser settings (a second ``TrainConfig``, by default the generator's).

A batch is either a tensor ``x`` or a pair ``(x, labels)``; with labels both networks are called
class-conditionally, ``G(z, labels)`` and ``D(x, labels)``, and the fake batch reuses the real
batch's labels (the conditional GAN of Mirza and Osindero 2014, arXiv:1411.1784).

Example:
    >>> import torch
    >>> from gmtext.nn import MLP
    >>> g, d = MLP(2, 2, 16, 1), MLP(2, 1, 16, 1)
    >>> data = lambda step: torch.randn(32, 2, generator=torch.Generator().manual_seed(step))
    >>> rng = torch.Generator().manual_seed(0)
    >>> config = TrainConfig(steps=3, lr=2e-4, progress=False)
    >>> hist = train_gan(g, d, data, config, latent_dim=2, generator=rng)
    >>> len(hist.loss), len(hist.d_loss)
    (3, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gmtext.gan.losses import (LOSSES, discriminator_loss, generator_loss, gradient_penalty,
                               r1_penalty)
from gmtext.gan.sampling import sample_latent
from gmtext.train import (EMA, Callback, History, TrainConfig, batch_source, descend, fit,
                          make_lr_scheduler, make_optimizer)

__all__ = ["GANHistory", "train_gan", "check_weight", "player_optimizer", "player_configs"]


@dataclass
class GANHistory(History):
    """:class:`gmtext.train.History` (generator losses in ``loss``) plus the discriminator's side.

    ``snapshots`` holds ``(step, samples)`` pairs taken every ``snapshot_every`` steps from a fixed
    latent batch, for animations of training.
    """

    d_loss: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, Tensor]] = field(default_factory=list)


def check_weight(name: str, value: float) -> None:
    """A loss weight must be a finite number >= 0 (0 switches its term off)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _split(batch: Any, device: torch.device) -> tuple[Tensor, tuple[Tensor, ...]]:
    if isinstance(batch, Tensor):
        x, cond = batch, ()
    elif isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], Tensor):
        x, cond = batch[0], (batch[1].to(device),)
    else:
        raise TypeError(f"a batch must be a tensor x or a pair (x, labels), "
                        f"got {type(batch).__name__}")
    if bool(torch.isnan(x).any()):
        raise ValueError(f"a real batch of shape {tuple(x.shape)} holds NaN values")
    return x.to(device).float(), cond


def player_configs(config: TrainConfig, d_config: TrainConfig | None
                   ) -> tuple[TrainConfig, TrainConfig]:
    """The generator's and the discriminator's configurations of a game, checked.

    ``d_config`` (default: ``config``) sets the discriminator's optimiser, learning rate, weight
    decay, schedule and clipping; the game's length, time cap and progress bar are ``config``'s
    (the discriminator's schedule runs over ``config.steps``). Early stopping has no meaning in a
    game, and a weight average is the generator's.

    Raises:
        TypeError: if a configuration is not a :class:`gmtext.train.TrainConfig`.
        ValueError: for ``eval_every`` in either, or ``ema_decay`` in ``d_config``.
    """
    d_config = config if d_config is None else d_config
    for name, value in (("config", config), ("d_config", d_config)):
        if not isinstance(value, TrainConfig):
            raise TypeError(f"{name} must be a gmtext.train.TrainConfig, got "
                            f"{type(value).__name__}")
        if value.eval_every is not None:
            raise ValueError(f"{name}.eval_every must be None: a GAN's losses do not measure "
                             "progress, so there is nothing to stop early on")
    if d_config is not config and d_config.ema_decay is not None:
        raise ValueError("d_config.ema_decay must be None: the weight average is the "
                         "generator's (config.ema_decay)")
    return config, dataclasses.replace(d_config, steps=config.steps, ema_decay=None)


def player_optimizer(params: Iterable[Tensor], config: TrainConfig,
                     betas: tuple[float, float]) -> torch.optim.Optimizer:
    r""":func:`gmtext.train.make_optimizer` with Adam's :math:`(\beta_1, \beta_2)` set to ``betas``.

    GANs lower :math:`\beta_1` (DCGAN: 0.5; WGAN-GP: 0): momentum tuned for a fixed objective
    overshoots in a game whose objective moves every step (Radford et al. 2016, section 4).
    Optimisers without betas (SGD) ignore them.
    """
    if len(betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    optimizer = make_optimizer(params, config)
    if "betas" in optimizer.defaults:
        for group in optimizer.param_groups:
            group["betas"] = (float(betas[0]), float(betas[1]))
    return optimizer


def train_gan(g: nn.Module, d: nn.Module, batches: Iterable[Any] | Callable[[int], Any],
              config: TrainConfig, *, latent_dim: int, generator: torch.Generator,
              d_config: TrainConfig | None = None, betas: tuple[float, float] = (0.5, 0.999),
              loss: str = "non_saturating", d_steps: int = 1, gp_weight: float = 0.0,
              r1_weight: float = 0.0, snapshot_every: int = 0, snapshot_z: Tensor | None = None,
              snapshot_average: bool = False,
              callbacks: Sequence[Callback] = ()) -> GANHistory:
    r"""Train generator ``g`` against discriminator ``d`` for ``config.steps`` generator updates.

    Each step: ``d_steps`` times minimise
    :math:`L_D + \lambda\,\mathrm{GP} + \frac{\gamma}{2} R_1` over :math:`D` on a fresh real batch
    and fresh fakes, then minimise :math:`L_G` over :math:`G` (:mod:`gmtext.gan.losses`; chapter 3,
    eqs. (3.1), (3.6), (3.9), (3.10)). Adam for both, as in DCGAN (Radford et al. 2016,
    arXiv:1511.06434: lr 2e-4, betas (0.5, 0.999)); WGAN-GP uses betas (0, 0.9) and
    ``d_steps=5`` (Gulrajani et al. 2017, Algorithm 1).

    With ``config.ema_decay`` :math:`\beta` the averaged generator :math:`\bar\theta_t =
    \beta\bar\theta_{t-1} + (1-\beta)\theta_t` (Yazici et al. 2019, arXiv:1806.04498), which damps
    the oscillation of the game, is kept after every generator step and returned as
    ``history.ema``.

    Args:
        g: ``g(z)`` or ``g(z, labels)`` -> samples.
        d: ``d(x)`` or ``d(x, labels)`` -> logits ``(N,)`` or ``(N, 1)``.
        batches: real batches (an iterable, restarted when exhausted, or ``step -> batch``);
            the discriminator draws ``d_steps`` of them per step.
        config: the generator's :class:`gmtext.train.TrainConfig` and the game's length
            (``steps`` generator updates), time cap and progress bar.
        latent_dim: size of :math:`z`.
        generator: the random-number generator of latents and penalties (CPU). It and the
            initial weights of ``g`` and ``d`` decide the run: seed the initialisation.
        d_config: the discriminator's optimiser settings (:func:`player_configs`).
        betas: Adam's betas of both players (:func:`player_optimizer`).
        loss: one of :data:`gmtext.gan.losses.LOSSES`.
        gp_weight: :math:`\lambda` of the gradient penalty (0: off).
        r1_weight: :math:`\gamma` of the R1 penalty (0: off).
        snapshot_every: store ``g(snapshot_z)`` every this many steps (0: never).
        snapshot_average: the snapshots render the weight average instead of ``g``.
        callbacks: passed to :func:`gmtext.train.fit` (``cb(step, g_loss, history) -> stop?``).

    Raises:
        ValueError: for an unknown loss, invalid counts or weights, NaN in a real batch, a
            discriminator output that is not one logit per sample, or a non-finite loss.
    """
    config, d_config = player_configs(config, d_config)
    if loss not in LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")
    if isinstance(d_steps, bool) or not isinstance(d_steps, int) or d_steps < 1:
        raise ValueError(f"d_steps must be an int >= 1, got {d_steps!r}")
    if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) \
            or snapshot_every < 0:
        raise ValueError(f"snapshot_every must be an int >= 0 (0: none), got {snapshot_every!r}")
    check_weight("gp_weight", gp_weight)
    check_weight("r1_weight", r1_weight)
    if snapshot_every and snapshot_z is None:
        raise ValueError("snapshot_every needs snapshot_z, the fixed latents to render")
    if snapshot_average and config.ema_decay is None:
        raise ValueError("snapshot_average needs config.ema_decay, the weight average to render")
    device = next(g.parameters()).device
    draw = batch_source(batches)
    opt_g = player_optimizer(g.parameters(), config, betas)
    opt_d = player_optimizer(d.parameters(), d_config, betas)
    schedule_d = make_lr_scheduler(opt_d, d_config)
    # the average is kept here, not by fit, so that snapshots can render it while training
    ema = EMA(g, config.ema_decay, config.ema_warmup) if config.ema_decay is not None else None
    history = GANHistory()
    counter = {"draws": 0}

    def next_batch() -> tuple[Tensor, tuple[Tensor, ...]]:
        counter["draws"] += 1
        return _split(draw(counter["draws"] - 1), device)

    def generator_step() -> Tensor:
        for _ in range(d_steps):                                  # 1. discriminator updates
            real, cond = next_batch()
            with torch.no_grad():
                fake = g(sample_latent(len(real), latent_dim, generator, device), *cond)
            l_d = discriminator_loss(_logits(d, real, cond), _logits(d, fake, cond), loss)
            critic = (lambda x: _logits(d, x, cond))
            if gp_weight > 0:
                l_d = l_d + gp_weight * gradient_penalty(critic, real, fake, generator)
            if r1_weight > 0:
                l_d = l_d + 0.5 * r1_weight * r1_penalty(critic, real)
            descend(l_d, opt_d, d.parameters(), d_config.clip_grad_norm)
        schedule_d.step()
        history.d_loss.append(l_d.item())
        d.requires_grad_(False)                                   # 2. generator loss, D frozen
        fake = g(sample_latent(len(real), latent_dim, generator, device), *cond)
        l_g = generator_loss(_logits(d, fake, cond), loss)
        d.requires_grad_(True)
        return l_g

    def average(step: int, _loss: float, _hist: History) -> bool:
        if ema is not None:                                       # after fit's optimiser step
            ema.update(g)
        return False

    shown = ema.shadow if snapshot_average else g

    def snapshot(step: int, _loss: float, _hist: History) -> bool:
        if snapshot_every and step % snapshot_every == 0:
            with torch.no_grad():
                history.snapshots.append((step, shown(snapshot_z.to(device)).cpu()))
        return False

    inner = fit(g, generator_step, None, dataclasses.replace(config, ema_decay=None),
                callbacks=[average, snapshot, *callbacks], optimizer=opt_g)
    history.loss, history.wall_s = inner.loss, inner.wall_s
    history.logs, history.stopped_early = inner.logs, inner.stopped_early
    history.ema = None if ema is None else ema.shadow
    return history


def _logits(d: nn.Module, x: Tensor, cond: tuple[Tensor, ...]) -> Tensor:
    """``d``'s logits as ``(B,)``: one per sample (or per pack of a PacGAN discriminator)."""
    out = d(x, *cond)
    if out.ndim == 2 and out.shape[1] == 1:
        return out.squeeze(1)
    if out.ndim != 1:
        raise ValueError(f"the discriminator must return one logit per sample (or pack), shape "
                         f"(B,) or (B, 1), got {tuple(out.shape)} for a batch {tuple(x.shape)}")
    return out
