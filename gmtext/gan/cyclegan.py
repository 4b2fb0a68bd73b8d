r"""CycleGAN: unpaired image-to-image translation with two generators and two discriminators.

Generators :math:`G: A \to B` and :math:`F: B \to A`, discriminators :math:`D_B` (real B vs
:math:`G(a)`) and :math:`D_A`. The generators minimise (Zhu et al. 2017, arXiv:1703.10593, eqs.
(1)-(3), and section 5.2 for the identity term)

.. math::

    L = L_\text{GAN}(G, D_B) + L_\text{GAN}(F, D_A)
        + \lambda_\text{cyc}\,\big(\mathbb E\|F(G(a)) - a\|_1 + \mathbb E\|G(F(b)) - b\|_1\big)
        + \lambda_\text{id}\,\big(\mathbb E\|G(b) - b\|_1 + \mathbb E\|F(a) - a\|_1\big).

The adversarial terms make translations look like the target domain; the cycle term makes the
translation keep enough of the input to undo it, which is what preserves content without pairs.
Here the adversarial terms use the non-saturating loss (the paper uses least squares); the cycle
weight :math:`\lambda_\text{cyc} = 10` is the paper's, the identity weight is
:math:`0.5\,\lambda_\text{cyc}` in the paper, a knob here. Derived in chapter 3, eq. (3.15).

The networks are :class:`gmtext.nn.translator.Translator` and
:class:`gmtext.nn.dcgan.DigitDiscriminator`; the recipe that trains them between the two digit
styles of :mod:`gmtext.data.styles` is :mod:`gmtext.recipes.gan_digits`.

Example:
    >>> import torch
    >>> model = CycleGAN(channels=8)
    >>> model.g_ab(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gmtext.gan.losses import discriminator_loss, generator_loss
from gmtext.gan.training import check_weight, player_configs, player_optimizer
from gmtext.nn.dcgan import DigitDiscriminator
from gmtext.nn.translator import Translator
from gmtext.train import History, TrainConfig, batch_source, descend, fit, make_lr_scheduler

__all__ = ["CycleGAN", "cycle_loss", "identity_loss", "train_cyclegan", "CycleHistory"]


def _l1(x: Tensor, y: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.shape != y.shape:
        raise ValueError(f"{name}: expected two tensors of the same shape, got "
                         f"{getattr(x, 'shape', type(x))} and {getattr(y, 'shape', type(y))}")
    if bool(torch.isnan(x).any() | torch.isnan(y).any()):
        raise ValueError(f"{name}: the images hold NaN values")
    return (x - y).abs().mean()


def cycle_loss(x: Tensor, reconstruction: Tensor) -> Tensor:
    r"""Cycle-consistency loss :math:`\mathbb E\|F(G(x)) - x\|_1` (mean absolute error per pixel).

    Zhu et al. (2017), eq. (2). Derived in chapter 3, eq. (3.14).

    Example:
        >>> cycle_loss(torch.zeros(2, 3), torch.ones(2, 3))
        tensor(1.)
    """
    return _l1(reconstruction, x, "cycle_loss")


def identity_loss(x: Tensor, translated: Tensor) -> Tensor:
    r"""Identity loss :math:`\mathbb E\|G(b) - b\|_1`: a target-domain image should pass unchanged.

    Zhu et al. (2017), section 5.2 (from Taigman et al. 2017); it stops the generators from
    changing what already looks right, e.g. the overall tone. Derived in chapter 3, eq. (3.15).
    """
    return _l1(translated, x, "identity_loss")


class CycleGAN(nn.Module):
    """The four networks: ``g_ab``, ``g_ba`` (:class:`~gmtext.nn.translator.Translator`), ``d_a``, ``d_b``."""

    def __init__(self, channels: int = 32, blocks: int = 3) -> None:
        super().__init__()
        self.g_ab, self.g_ba = Translator(channels, blocks), Translator(channels, blocks)
        self.d_a, self.d_b = DigitDiscriminator(channels), DigitDiscriminator(channels)

    def generator_objective(self, a: Tensor, b: Tensor, cycle_weight: float = 10.0,
                            identity_weight: float = 5.0) -> dict[str, Tensor]:
        """All terms of the generators' loss on batches ``a``, ``b`` (on [-1, 1]), and their sum.

        Raises:
            ValueError: for a weight that is negative or not finite.
        """
        check_weight("cycle_weight", cycle_weight)
        check_weight("identity_weight", identity_weight)
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        terms = {
            "adversarial": generator_loss(self.d_b(fake_b)) + generator_loss(self.d_a(fake_a)),
            "cycle": cycle_loss(a, self.g_ba(fake_b)) + cycle_loss(b, self.g_ab(fake_a)),
        }
        total = terms["adversarial"] + cycle_weight * terms["cycle"]
        if identity_weight > 0:
            terms["identity"] = identity_loss(b, self.g_ab(b)) + identity_loss(a, self.g_ba(a))
            total = total + identity_weight * terms["identity"]
        terms["total"] = total
        return terms

    def discriminator_objective(self, a: Tensor, b: Tensor) -> Tensor:
        """:math:`L_{D_A} + L_{D_B}` on real batches and (detached) fresh translations."""
        with torch.no_grad():
            fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        return (discriminator_loss(self.d_b(b), self.d_b(fake_b))
                + discriminator_loss(self.d_a(a), self.d_a(fake_a)))


@dataclass
class CycleHistory(History):
    """:class:`gmtext.train.History` of the generators' total loss, plus each term per step."""

    terms: dict[str, list[float]] = field(default_factory=dict)


def train_cyclegan(model: CycleGAN, batches: Iterable[tuple[Tensor, Tensor]] | Callable[[int], Any],
                   config: TrainConfig, *, d_config: TrainConfig | None = None,
                   betas: tuple[float, float] = (0.5, 0.999), cycle_weight: float = 10.0,
                   identity_weight: float = 5.0) -> CycleHistory:
    r"""Alternate one discriminator update and one generator update per pair of batches ``(a, b)``.

    ``batches`` yields unpaired pairs of image batches on [-1, 1] (same batch size), e.g.
    ``zip(minibatches(a, ...), minibatches(b, ...))`` or a function ``step -> (a, b)``.
    ``config`` is the generators' :class:`gmtext.train.TrainConfig` and the length of the game,
    ``d_config`` the discriminators' optimiser settings (default: ``config``;
    :func:`gmtext.gan.training.player_configs`); the paper uses Adam with lr 2e-4 and betas
    (0.5, 0.999). Derived in chapter 3, eq. (3.15).

    Raises:
        ValueError: for a weight that is negative or not finite, or a configuration a game
            cannot use.
    """
    config, d_config = player_configs(config, d_config)
    check_weight("cycle_weight", cycle_weight)
    check_weight("identity_weight", identity_weight)
    device = next(model.parameters()).device
    draw = batch_source(batches)
    translators = nn.ModuleList([model.g_ab, model.g_ba])
    discriminators = nn.ModuleList([model.d_a, model.d_b])
    opt_g = player_optimizer(translators.parameters(), config, betas)
    opt_d = player_optimizer(discriminators.parameters(), d_config, betas)
    schedule_d = make_lr_scheduler(opt_d, d_config)
    history = CycleHistory()

    def step_loss(step: int) -> Tensor:
        a, b = (t.to(device).float() for t in draw(step))
        l_d = model.discriminator_objective(a, b)
        descend(l_d, opt_d, discriminators.parameters(), d_config.clip_grad_norm)
        schedule_d.step()
        discriminators.requires_grad_(False)
        terms = model.generator_objective(a, b, cycle_weight, identity_weight)
        discriminators.requires_grad_(True)
        for key, value in {"discriminator": l_d, **terms}.items():
            history.terms.setdefault(key, []).append(float(value.detach()))
        return terms["total"]

    inner = fit(translators, step_loss, lambda step: step, config, optimizer=opt_g)
    history.loss, history.wall_s = inner.loss, inner.wall_s
    history.ema, history.stopped_early = inner.ema, inner.stopped_early
    return history
