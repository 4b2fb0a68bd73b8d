r"""The alternating GAN training loop, built on :func:`gmtext.train.fit`.

One *step* is ``d_steps`` discriminator (critic) updates followed by one generator update, the
algorithm of Goodfellow et al. (2014, arXiv:1406.2661, Algorithm 1). :func:`gmtext.train.fit`
drives the generator's optimiser (progress bar, wall-time cap, NaN check); the discriminator's
updates run inside the generator's loss function, which is the one place that sees a fresh batch.

A batch is either a tensor ``x`` or a pair ``(x, labels)``; with labels both networks are called
class-conditionally, ``G(z, labels)`` and ``D(x, labels)``, and the fake batch reuses the real
batch's labels (the conditional GAN of Mirza and Osindero 2014, arXiv:1411.1784).

Example:
    >>> import torch
    >>> from gmtext.nn import MLP
    >>> g, d = MLP(2, 2, 16, 1), MLP(2, 1, 16, 1)
    >>> data = lambda step: torch.randn(32, 2, generator=torch.Generator().manual_seed(step))
    >>> rng = torch.Generator().manual_seed(0)
    >>> hist = train_gan(g, d, data, steps=3, latent_dim=2, generator=rng, progress=False)
    >>> len(hist.loss), len(hist.d_loss)
    (3, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gmtext.gan.losses import (LOSSES, discriminator_loss, generator_loss, gradient_penalty,
                               r1_penalty)
from gmtext.train import EMA, Callback, History, batch_source, fit

__all__ = ["GANHistory", "train_gan", "sample_latent"]


@dataclass
class GANHistory(History):
    """:class:`gmtext.train.History` (generator losses in ``loss``) plus the discriminator's side.

    ``snapshots`` holds ``(step, samples)`` pairs taken every ``snapshot_every`` steps from a fixed
    latent batch, for animations of training.
    """

    d_loss: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, Tensor]] = field(default_factory=list)


def sample_latent(n: int, latent_dim: int, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> Tensor:
    r"""Draw ``n`` latent vectors :math:`z \sim \mathcal N(0, I_{d})`, shape ``(n, latent_dim)``.

    The noise is drawn on the CPU with ``generator`` (so a seed gives the same samples on every
    device) and moved to ``device``.
    """
    if n < 1 or latent_dim < 1:
        raise ValueError(f"need n >= 1 and latent_dim >= 1, got {n} and {latent_dim}")
    return torch.randn(n, latent_dim, generator=generator).to(device)


def _split(batch: Any, device: torch.device) -> tuple[Tensor, tuple[Tensor, ...]]:
    if isinstance(batch, Tensor):
        return batch.to(device).float(), ()
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0].to(device).float(), (batch[1].to(device),)
    raise TypeError(f"a batch must be a tensor x or a pair (x, labels), got {type(batch).__name__}")


def train_gan(g: nn.Module, d: nn.Module,
              batches: Iterable[Any] | Callable[[int], Any], steps: int, *, latent_dim: int,
              generator: torch.Generator, loss: str = "non_saturating", lr_g: float = 2e-4,
              lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), d_steps: int = 1,
              gp_weight: float = 0.0, r1_weight: float = 0.0, decay: bool = False,
              snapshot_every: int = 0,
              snapshot_z: Tensor | None = None, snapshot_model: nn.Module | None = None,
              ema: EMA | None = None,
              callbacks: Sequence[Callback] = (),
              max_seconds: float | None = None,
              progress: bool = True, desc: str = "GAN") -> GANHistory:
    r"""Train generator ``g`` against discriminator ``d`` for ``steps`` generator updates.

    Each step: ``d_steps`` times minimise
    :math:`L_D + \lambda\,\mathrm{GP} + \frac{\gamma}{2} R_1` over :math:`D` on a fresh real batch
    and fresh fakes, then minimise :math:`L_G` over :math:`G` (:mod:`gmtext.gan.losses`; chapter 3,
    eqs. (3.1), (3.6), (3.9), (3.10)). Adam for both, as in DCGAN (Radford et al. 2016,
    arXiv:1511.06434: lr 2e-4, betas (0.5, 0.999)); WGAN-GP uses betas (0, 0.9) and
    ``d_steps=5`` (Gulrajani et al. 2017, Algorithm 1).

    Args:
        g: ``g(z)`` or ``g(z, labels)`` -> samples.
        d: ``d(x)`` or ``d(x, labels)`` -> logits ``(N,)`` or ``(N, 1)``.
        batches: real batches (an iterable, restarted when exhausted, or ``step -> batch``);
            the discriminator draws ``d_steps`` of them per step.
        steps: generator updates.
        latent_dim: size of :math:`z`.
        generator: the random-number generator of latents and penalties (CPU).
        loss: one of :data:`gmtext.gan.losses.LOSSES`.
        gp_weight: :math:`\lambda` of the gradient penalty (0: off).
        r1_weight: :math:`\gamma` of the R1 penalty (0: off).
        decay: decay both learning rates linearly to zero over ``steps`` (sharper final samples).
        snapshot_every: store ``g(snapshot_z)`` every this many steps (0: never).
        snapshot_model: the module the snapshots render instead of ``g`` (e.g. ``ema.shadow``).
        ema: a :class:`gmtext.train.EMA` of ``g``, updated after every generator step; its
            ``shadow`` is the averaged generator :math:`\bar\theta_t = \beta\bar\theta_{t-1}
            + (1-\beta)\theta_t` (Yazici et al. 2019, arXiv:1806.04498), which damps the
            oscillation of the game.
        callbacks: passed to :func:`gmtext.train.fit` (``cb(step, g_loss, history) -> stop?``).
        max_seconds: wall-time cap.

    Raises:
        ValueError: for an unknown loss or invalid counts, or a non-finite loss.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")
    if isinstance(d_steps, bool) or not isinstance(d_steps, int) or d_steps < 1:
        raise ValueError(f"d_steps must be a positive int, got {d_steps!r}")
    if gp_weight < 0 or r1_weight < 0:
        raise ValueError(f"penalty weights must be >= 0, got {gp_weight} and {r1_weight}")
    if snapshot_every and snapshot_z is None:
        raise ValueError("snapshot_every needs snapshot_z, the fixed latents to render")
    device = next(g.parameters()).device
    draw = batch_source(batches)
    betas = (float(betas[0]), float(betas[1]))
    opt_g = torch.optim.Adam(g.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr_d, betas=betas)
    history = GANHistory()
    counter = {"draws": 0}

    def next_batch() -> tuple[Tensor, tuple[Tensor, ...]]:
        counter["draws"] += 1
        return _split(draw(counter["draws"] - 1), device)

    def generator_step() -> Tensor:
        if decay:
            frac = 1.0 - len(history.d_loss) / steps                   # 1 -> 1/steps
            for opt, lr in ((opt_g, lr_g), (opt_d, lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr * frac
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
            opt_d.zero_grad(set_to_none=True)
            l_d.backward()
            opt_d.step()
        history.d_loss.append(l_d.item())
        d.requires_grad_(False)                                   # 2. generator loss, D frozen
        fake = g(sample_latent(len(real), latent_dim, generator, device), *cond)
        l_g = generator_loss(_logits(d, fake, cond), loss)
        d.requires_grad_(True)
        return l_g

    shown = g if snapshot_model is None else snapshot_model

    def snapshot(step: int, _loss: float, _hist: History) -> bool:
        if snapshot_every and step % snapshot_every == 0:
            with torch.no_grad():
                history.snapshots.append((step, shown(snapshot_z.to(device)).cpu()))
        return False

    inner = fit(generator_step, opt_g, None, steps, model=g, ema=ema,
                callbacks=[snapshot, *callbacks],
                max_seconds=max_seconds, progress=progress, desc=desc)
    history.loss, history.wall_s = inner.loss, inner.wall_s
    history.stopped_early = inner.stopped_early
    return history


def _logits(d: nn.Module, x: Tensor, cond: tuple[Tensor, ...]) -> Tensor:
    out = d(x, *cond)
    return out.reshape(len(out), -1).squeeze(-1) if out.ndim > 1 else out
