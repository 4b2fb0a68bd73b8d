r"""GAN objectives: the minimax game, the non-saturating and Wasserstein losses, and penalties.

All losses take the discriminator's **logits** :math:`\ell = \operatorname{logit} D(x)`, so
:math:`\log D = \log\sigma(\ell) = -\operatorname{softplus}(-\ell)` and
:math:`\log(1 - D) = -\operatorname{softplus}(\ell)` are evaluated without overflow.

- ``"minimax"``: the game of Goodfellow et al. (2014, arXiv:1406.2661), chapter 3, eq. (3.1):
  :math:`\max_D \mathbb E[\log D(x)] + \mathbb E[\log(1 - D(G(z)))]`, generator minimises the
  second term (the *saturating* loss).
- ``"non_saturating"``: the same discriminator, generator minimises
  :math:`-\mathbb E[\log D(G(z))]` (same paper, section 3), chapter 3, eq. (3.6).
- ``"wasserstein"``: the critic loss of Arjovsky et al. (2017, arXiv:1701.07875),
  :math:`\mathbb E[f(G(z))] - \mathbb E[f(x)]`, generator minimises :math:`-\mathbb E[f(G(z))]`.

Penalties: :func:`gradient_penalty` (WGAN-GP, Gulrajani et al. 2017, arXiv:1704.00028) and
:func:`r1_penalty` (Mescheder et al. 2018, arXiv:1801.04406).

Example:
    >>> import torch
    >>> zero = torch.zeros(4)                              # D = 1/2 everywhere
    >>> round(float(discriminator_loss(zero, zero)), 4)    # 2 log 2
    1.3863
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "discriminator_loss", "generator_loss", "gradient_penalty", "r1_penalty"]

#: The loss names :func:`discriminator_loss` and :func:`generator_loss` accept.
LOSSES: tuple[str, ...] = ("minimax", "non_saturating", "wasserstein")


def _check(kind: str, **logits: Tensor) -> None:
    """One logit per sample, ``(N,)`` or ``(N, 1)``, no NaN; anything else is refused."""
    if kind not in LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; valid: {', '.join(LOSSES)}")
    for name, value in logits.items():
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor of logits, got "
                            f"{value.dtype if isinstance(value, Tensor) else type(value).__name__}")
        if value.numel() == 0:
            raise ValueError(f"{name} is empty")
        if value.ndim not in (1, 2) or (value.ndim == 2 and value.shape[1] != 1):
            raise ValueError(f"{name} must hold one logit per sample, shape (N,) or (N, 1), got "
                             f"{tuple(value.shape)}")
        if bool(torch.isnan(value).any()):
            raise ValueError(f"{name} holds NaN values")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor,
                       kind: str = "non_saturating") -> Tensor:
    r"""The discriminator's (critic's) loss, to be minimised.

    .. math::

        L_D = -\mathbb E_{x}[\log D(x)] - \mathbb E_{z}[\log(1 - D(G(z)))]
            = \mathbb E[\operatorname{softplus}(-\ell_\text{real})]
              + \mathbb E[\operatorname{softplus}(\ell_\text{fake})]

    for ``"minimax"`` and ``"non_saturating"`` (the two differ only in the generator's loss), i.e.
    :math:`-V(D, G)` of chapter 3, eq. (3.1). For ``"wasserstein"`` the critic loss
    :math:`L_f = \mathbb E[f(G(z))] - \mathbb E[f(x)]` (Arjovsky et al. 2017, eq. (3)), where the
    inputs are the critic values :math:`f`, not logits. Derived in chapter 3, eq. (3.1).

    Args:
        real_logits: discriminator outputs on data, ``(N,)`` or ``(N, 1)``.
        fake_logits: discriminator outputs on generated samples, ``(M,)`` or ``(M, 1)``.
        kind: one of :data:`gmtext.gan.losses.LOSSES`.

    Raises:
        ValueError: for an unknown ``kind``, empty input, another shape (a discriminator with
            several outputs per sample is a bug, not something to average) or NaN.
        TypeError: for inputs that are not floating-point tensors.

    Example:
        >>> discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0]), "wasserstein")
        tensor(-3.)
    """
    _check(kind, real_logits=real_logits, fake_logits=fake_logits)
    if kind == "wasserstein":
        return fake_logits.mean() - real_logits.mean()
    # -log sigma(l) = softplus(-l);  -log(1 - sigma(l)) = softplus(l)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor, kind: str = "non_saturating") -> Tensor:
    r"""The generator's loss, to be minimised.

    .. math::

        L_G^\text{minimax} = \mathbb E_z[\log(1 - D(G(z)))]
        = -\mathbb E[\operatorname{softplus}(\ell)],
        \qquad
        L_G^\text{NS} = -\mathbb E_z[\log D(G(z))] = \mathbb E[\operatorname{softplus}(-\ell)],
        \qquad
        L_G^\text{W} = -\mathbb E_z[f(G(z))].

    The minimax loss *saturates*: its gradient with respect to the logit is :math:`-D(G(z))`,
    which vanishes when the discriminator confidently rejects the samples (:math:`D \to 0`), exactly
    early in training. The non-saturating loss has gradient :math:`-(1 - D(G(z)))`, largest there
    (Goodfellow et al. 2014, section 3). Derived in chapter 3, eqs. (3.5)-(3.6).

    Example:
        >>> round(float(generator_loss(torch.zeros(3), "minimax")), 4)        # log(1/2)
        -0.6931
        >>> round(float(generator_loss(torch.zeros(3), "non_saturating")), 4)  # -log(1/2)
        0.6931
    """
    _check(kind, fake_logits=fake_logits)
    if kind == "wasserstein":
        return -fake_logits.mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def _input_gradient(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Gradient of ``critic(x).sum()`` in ``x``, kept in the graph, flattened to (N, -1).

    The sum separates into per-sample gradients only if each sample reaches one value: one value
    per sample, or per pack of samples (a PacGAN critic), never several.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = critic(x)
        if (not isinstance(out, Tensor) or out.ndim not in (1, 2) or len(out) == 0
                or (out.ndim == 2 and out.shape[1] != 1) or len(x) % len(out)):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"the critic must return one value per sample (or per pack), "
                             f"(M,) or (M, 1) with M dividing {len(x)}, got {got}")
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(len(x), -1)


def _check_pair(real: Tensor, fake: Tensor) -> None:
    for name, value in (("real", real), ("fake", fake)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor (N, ...), got "
                            f"{value.dtype if isinstance(value, Tensor) else type(value).__name__}")
    if real.shape != fake.shape or real.ndim < 2:
        raise ValueError(f"real and fake must have the same shape (N, ...), got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    for name, value in (("real", real), ("fake", fake)):
        if bool(torch.isnan(value).any()):
            raise ValueError(f"{name} holds NaN values")


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    r"""The WGAN-GP two-sided gradient penalty (without its weight :math:`\lambda`).

    .. math::

        \mathrm{GP} = \mathbb E_{\hat x}\big[(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2\big],
        \qquad \hat x = \epsilon x + (1 - \epsilon)\,\tilde x,\;
        \epsilon \sim U[0, 1] \text{ per sample},

    with :math:`x` real and :math:`\tilde x` generated. The optimal 1-Lipschitz critic has gradient
    norm 1 almost everywhere on lines between coupled points (Gulrajani et al. 2017,
    arXiv:1704.00028, Proposition 1 and eq. (3)); the paper adds :math:`\lambda\,\mathrm{GP}` with
    :math:`\lambda = 10` to the critic loss. Derived in chapter 3, eq. (3.9).

    Args:
        critic: maps ``(N, ...)`` to ``(N,)`` or ``(N, 1)`` values.
        real: ``(N, ...)`` data; ``fake``: generated samples of the same shape.
        generator: draws :math:`\epsilon` (a CPU generator; moved to the device of ``real``).

    Raises:
        TypeError: for non-float inputs.
        ValueError: for mismatched inputs, NaN, or a critic with more than one value per sample.

    Example:
        >>> w = torch.tensor([3.0, 4.0])                      # f(x) = w.x: |grad f| = 5 everywhere
        >>> float(gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2)))
        16.0
    """
    _check_pair(real, fake)
    eps = torch.rand(len(real), *([1] * (real.ndim - 1)), generator=generator,
                     dtype=real.dtype).to(real.device)                            # (N, 1, ...)
    mixed = eps * real.detach() + (1 - eps) * fake.detach()
    norms = _input_gradient(critic, mixed).norm(dim=1)                            # (N,)
    return (norms - 1).pow(2).mean()


def r1_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    r"""The R1 penalty: the squared gradient norm of the discriminator on the data.

    .. math:: R_1 = \mathbb E_{x \sim p_\text{data}}\big[\|\nabla_x \ell(x)\|_2^2\big]

    added as :math:`\frac{\gamma}{2} R_1` to the discriminator's loss. It pushes the discriminator
    to be flat on the data, which makes the game converge locally where the unregularised one
    oscillates (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
    arXiv:1801.04406, eq. (9)). Derived in chapter 3, eq. (3.10).

    Example:
        >>> w = torch.tensor([3.0, 4.0])
        >>> float(r1_penalty(lambda x: x @ w, torch.randn(8, 2)))
        25.0
    """
    _check_pair(real, real)
    return _input_gradient(discriminator, real).pow(2).sum(dim=1).mean()
