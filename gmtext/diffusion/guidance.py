r"""Guidance: classifier and classifier-free, as wrappers of a model, never as a new sampler.

Bayes' rule for the noised data, :math:`p_t(x_t\mid c) = p_t(x_t)\,p_t(c\mid x_t)/p(c)`, is a sum of
scores, and with :math:`\nabla\log p_t = -\varepsilon/\sigma_t` a sum of noise predictions:

.. math:: \varepsilon(x_t, t, c) - \varepsilon(x_t, t, \varnothing) = -\sigma_t\,\nabla_{x_t}\log p_t(c\mid x_t).

Guidance multiplies the classifier term by a weight :math:`w` (chapter 8):

- **classifier-free guidance** (Ho & Salimans 2022, arXiv:2207.12598, eq. (6)): one network
  learns both :math:`\varepsilon(\cdot, c)` and :math:`\varepsilon(\cdot, \varnothing)` (labels
  dropped to :math:`\varnothing` with probability :math:`p_\text{uncond}`, :func:`drop_labels`) and

  .. math:: \tilde\varepsilon = (1 + w)\,\varepsilon(x_t, t, c) - w\,\varepsilon(x_t, t, \varnothing);

  diffusers' ``guidance_scale`` is :math:`s = 1 + w` (:math:`s = 1`: no guidance);
- **classifier guidance** (Dhariwal & Nichol 2021, arXiv:2105.05233, Algorithm 2 in
  :math:`\varepsilon` form): an unconditional network and a classifier of noisy data,

  .. math:: \hat\varepsilon = \varepsilon(x_t, t) - \gamma\,\sigma_t\,\nabla_{x_t}\log p_\phi(c\mid x_t, t).

With exact ingredients the two agree for :math:`\gamma = 1 + w`. Both wrap a model as
``model(x, t, labels=c)``, the call every sampler of :mod:`gmtext.diffusion.samplers` makes, so any
sampler samples the guided model. The combination is affine with weights summing to one, so it is
the same whether the network predicts :math:`\varepsilon`, :math:`x_0`, :math:`v` or the score.
Neither samples :math:`p(x\mid c)\,p(c\mid x)^w` (Chidambaram et al. 2024, arXiv:2409.13074): the
guided scores of the noisy marginals are not the scores of the noised tilted density. Derived in
chapter 8. The exact two-class oracle of that chapter is :class:`ClassMixture`.

Example:
    >>> import torch
    >>> eps_c, eps_u = torch.ones(2, 3), torch.zeros(2, 3)
    >>> guided_epsilon(eps_c, eps_u, 2.0)[0].tolist()
    [3.0, 3.0, 3.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion.oracles import mixture_model
from gmtext.diffusion.parameterization import coefficients
from gmtext.diffusion.schedules import Schedule
from gmtext.nn.conditional import check_labels

__all__ = ["check_guidance_weight", "guided_epsilon", "classifier_guided_epsilon", "drop_labels",
           "GuidedModel", "classifier_free_guidance", "class_log_prob_grad", "ClassifierGuidedModel",
           "ClassMixture", "class_axis"]


def check_guidance_weight(w: float, name: str = "guidance weight w") -> float:
    """``w`` must be a finite real number (NaN or inf would turn every sample into NaN)."""
    if isinstance(w, bool) or not isinstance(w, (int, float, Tensor)):
        raise TypeError(f"{name} must be a real number, got {type(w).__name__}")
    if isinstance(w, Tensor) and w.numel() != 1:
        raise ValueError(f"{name} must be one number, got a tensor of shape {tuple(w.shape)}")
    if not math.isfinite(float(w)):
        raise ValueError(f"{name} must be finite, got {float(w)}")
    return float(w)


def guided_epsilon(eps_cond: Tensor, eps_uncond: Tensor, w: float) -> Tensor:
    r"""Ho & Salimans' combination :math:`\tilde\varepsilon = (1 + w)\varepsilon_c - w\varepsilon_\varnothing`.

    :math:`w = 0` is the conditional model, :math:`w = -1` the unconditional one; diffusers'
    ``guidance_scale`` is :math:`s = 1 + w`, i.e.
    :math:`\varepsilon_\varnothing + s(\varepsilon_c - \varepsilon_\varnothing)`.
    Chapter 8, eq. (8.4).
    """
    w = check_guidance_weight(w)
    if not isinstance(eps_cond, Tensor) or not isinstance(eps_uncond, Tensor) or eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"eps_cond and eps_uncond must be tensors of one shape, got "
                         f"{getattr(eps_cond, 'shape', type(eps_cond))} and "
                         f"{getattr(eps_uncond, 'shape', type(eps_uncond))}")
    return (1 + w) * eps_cond - w * eps_uncond


def classifier_guided_epsilon(eps: Tensor, grad_log_prob: Tensor, sigma: Tensor | float, scale: float) -> Tensor:
    r""":math:`\hat\varepsilon = \varepsilon - \gamma\,\sigma_t\,\nabla_{x_t}\log p(c\mid x_t)` (Dhariwal & Nichol 2021, Alg. 2).

    ``sigma`` is :math:`\sigma_t`, a number or a tensor that broadcasts against ``eps``
    (e.g. ``(B, 1, 1, 1)``). Chapter 8, eq. (8.3).
    """
    scale = check_guidance_weight(scale, "classifier scale")
    if not isinstance(grad_log_prob, Tensor) or grad_log_prob.shape != eps.shape:
        raise ValueError(f"grad_log_prob must have the shape of eps, {tuple(eps.shape)}, got "
                         f"{getattr(grad_log_prob, 'shape', type(grad_log_prob))}")
    return eps - scale * sigma * grad_log_prob


def drop_labels(labels: Tensor, p_uncond: float, null_class: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Replace each label by the null class :math:`\varnothing` with probability ``p_uncond`` (Ho & Salimans, Alg. 1).

    Training on these labels teaches one network :math:`p(x\mid c)` and :math:`p(x)`.

    Example:
        >>> y = drop_labels(torch.zeros(10000, dtype=torch.long), 0.15, 10, torch.Generator().manual_seed(0))
        >>> round(float((y == 10).double().mean()), 2)
        0.15
    """
    if not isinstance(p_uncond, (int, float)) or isinstance(p_uncond, bool) or not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must be a probability in [0, 1], got {p_uncond!r}")
    labels = check_labels(labels, labels.shape[0] if isinstance(labels, Tensor) and labels.ndim else -1,
                          null_class, allow_null=True)
    drop = torch.rand(labels.shape, generator=generator) < p_uncond
    return torch.where(drop.to(labels.device), torch.full_like(labels, null_class), labels)


class GuidedModel(nn.Module):
    r"""Classifier-free guidance as a model: ``GuidedModel(net, w)(x, t, labels=c)`` returns :math:`\tilde\varepsilon`.

    One batched call of ``net`` on ``(x, x)`` with labels ``(c, null_class)`` gives both
    predictions (one network evaluation of twice the batch, as in practice). ``w = 0`` skips the
    unconditional half.

    Args:
        model: ``model(x, t, labels=...)`` that accepts ``null_class`` as a label.
        w: the guidance weight (any finite number; Ho & Salimans use :math:`w \ge 0`).
        null_class: the label of :math:`\varnothing` (default: ``model.null_class``).
    """

    def __init__(self, model: nn.Module | Callable[..., Tensor], w: float, null_class: int | None = None) -> None:
        super().__init__()
        self.model, self.w = model, check_guidance_weight(w)
        null_class = getattr(model, "null_class", None) if null_class is None else null_class
        if isinstance(null_class, bool) or not isinstance(null_class, int) or null_class < 1:
            raise ValueError(f"null_class must be the int label of the unconditional model (>= 1), got {null_class!r}")
        self.null_class = null_class

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        """Guided prediction at ``x`` ``(B, ...)``, times ``t`` ``(B,)``, requested ``labels`` ``(B,)`` in 0..K-1."""
        labels = check_labels(labels, x.shape[0], self.null_class, allow_null=False)
        if self.w == 0:
            return self.model(x, t, labels=labels)
        null = torch.full_like(labels, self.null_class)
        out = self.model(torch.cat([x, x]), torch.cat([t, t]), labels=torch.cat([labels, null]))
        eps_cond, eps_uncond = out.chunk(2)                      # (B, ...) each
        return guided_epsilon(eps_cond, eps_uncond, self.w)


def classifier_free_guidance(model: nn.Module | Callable[..., Tensor], w: float,
                             null_class: int | None = None) -> GuidedModel:
    r"""The model :math:`\tilde\varepsilon(x, t, c) = (1 + w)\varepsilon(x, t, c) - w\varepsilon(x, t, \varnothing)`.

    A :class:`GuidedModel`; eq. (8.4) of chapter 8 (Ho & Salimans 2022, eq. (6)).
    """
    return GuidedModel(model, w, null_class)


def class_log_prob_grad(classifier: Callable[[Tensor, Tensor], Tensor], x_t: Tensor, t: Tensor,
                        labels: Tensor) -> Tensor:
    r""":math:`\nabla_{x_t}\log p_\phi(c\mid x_t, t)` by autograd, the shape of ``x_t``.

    ``classifier(x_t, t)`` returns logits ``(B, K)`` (log-probabilities are logits too).
    """
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        logits = classifier(x, t)
        if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"the classifier must return logits (B, K), got {tuple(logits.shape)}")
        labels = check_labels(labels, x.shape[0], logits.shape[1], allow_null=False)
        log_p = torch.log_softmax(logits, dim=1).gather(1, labels[:, None].to(x.device))
        grad, = torch.autograd.grad(log_p.sum(), x)             # rows are independent: sum is fine
    return grad


class ClassifierGuidedModel(nn.Module):
    r"""Classifier guidance as a model, :math:`\varepsilon(x_t, t) - \gamma\sigma_t\nabla\log p_\phi(c\mid x_t, t)` (eq. (8.3)).

    Args:
        model: the unconditional ``model(x, t)`` (an :math:`\varepsilon`-network; for the class-conditional
            networks of :mod:`gmtext.nn.conditional`, ``labels=None`` is :math:`\varnothing`).
        classifier: ``classifier(x_t, t)`` returning logits ``(B, K)``, trained on noisy data.
        schedule: the path (for :math:`\sigma_t`).
        scale: :math:`\gamma` (finite; :math:`\gamma = 1` is the exact Bayes rule).
    """

    def __init__(self, model: nn.Module | Callable[..., Tensor], classifier: nn.Module | Callable[..., Tensor],
                 schedule: Schedule, scale: float) -> None:
        super().__init__()
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a gmtext.diffusion Schedule, got {type(schedule).__name__}")
        self.model, self.classifier, self.schedule = model, classifier, schedule
        self.scale = check_guidance_weight(scale, "classifier scale")

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        eps = self.model(x, t)
        if self.scale == 0:
            return eps
        _, sigma, _, _ = coefficients(self.schedule, t, x, derivatives=False)     # (B, 1, ...)
        grad = class_log_prob_grad(self.classifier, x, t, labels)
        return classifier_guided_epsilon(eps, grad, sigma.to(x.dtype), self.scale)


class ClassMixture:
    r"""A labelled Gaussian mixture: class :math:`c` has prior :math:`\pi_c` and a mixture density :math:`p(x\mid c)`.

    Everything guidance needs is exact (chapter 8): the marginal :math:`p = \sum_c\pi_c p(\cdot\mid c)`,
    the class posterior of the *noised* data :math:`\log p_t(c\mid x_t)` on any path, the exact
    conditional and unconditional :math:`\varepsilon`-models (:func:`gmtext.diffusion.oracles.mixture_model`),
    and the tilted density :math:`p(x\mid c)\,p(c\mid x)^w` with samples from it.

    Args:
        classes: one :class:`~gmtext.data.toy.GaussianMixture` per class, same dimension.
        weights: the class priors :math:`\pi_c` (normalised; equal when None).
    """

    def __init__(self, classes: Sequence[GaussianMixture], weights: Sequence[float] | None = None) -> None:
        if len(classes) < 2 or not all(isinstance(c, GaussianMixture) for c in classes):
            raise TypeError("classes must be two or more gmtext.data.toy.GaussianMixture objects")
        if len({c.dim for c in classes}) != 1:
            raise ValueError(f"all classes need one dimension, got {[c.dim for c in classes]}")
        pi = torch.ones(len(classes), dtype=torch.float64) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float64)
        if pi.shape != (len(classes),) or not bool((pi > 0).all()):
            raise ValueError(f"weights must be {len(classes)} positive numbers, got {weights!r}")
        self.classes, self.priors, self.num_classes = list(classes), pi / pi.sum(), len(classes)
        self.marginal = GaussianMixture(torch.cat([c.means for c in classes]), torch.cat([c.stds for c in classes]),
                                        torch.cat([p * c.weights for p, c in zip(self.priors, classes)]), "marginal")

    def class_log_prob(self, x_t: Tensor, t: Tensor | float, schedule: Schedule) -> Tensor:
        r""":math:`\log p_t(c\mid x_t)` for every class, ``(N, K)``: Bayes' rule on the noised classes (differentiable)."""
        a, s = (float(v) for v in schedule.alpha_sigma(torch.as_tensor(t, dtype=torch.float64)))
        log_joint = torch.stack([c.noised(s, a).log_prob(x_t) + p.log() for c, p in zip(self.classes, self.priors)], 1)
        return torch.log_softmax(log_joint, dim=1)

    def model(self, schedule: Schedule, prediction_type: str = "epsilon") -> Callable[..., Tensor]:
        r"""The exact ``model(x_t, t, labels=None)``: each row's class's prediction; the marginal's for :math:`\varnothing = K`."""
        per_class = [mixture_model(c, schedule, prediction_type) for c in self.classes]
        per_class.append(mixture_model(self.marginal, schedule, prediction_type))

        def model(x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
            labels = (torch.full((x_t.shape[0],), self.num_classes) if labels is None
                      else check_labels(labels, x_t.shape[0], self.num_classes))
            out = torch.empty_like(x_t)
            for c in labels.unique().tolist():
                rows = labels == c
                out[rows] = per_class[c](x_t[rows], t[rows])
            return out
        model.null_class = self.num_classes                     # type: ignore[attr-defined]
        return model

    def tilted_log_prob(self, x: Tensor, label: int, w: float) -> Tensor:
        r""":math:`\log p(x\mid c) + w\log p(c\mid x)` at the data (``t = 0``), unnormalised, ``(N,)``."""
        w = check_guidance_weight(w)
        check_labels(torch.tensor([label]), 1, self.num_classes, allow_null=False)
        log_joint = torch.stack([c.log_prob(x) + p.log() for c, p in zip(self.classes, self.priors)], 1)
        return self.classes[label].log_prob(x) + w * torch.log_softmax(log_joint, 1)[:, label]

    def tilted_sample(self, n: int, label: int, w: float, generator: torch.Generator | None = None,
                      proposals: int = 200_000) -> Tensor:
        r"""``n`` draws of :math:`\propto p(x\mid c)\,p(c\mid x)^w` by importance resampling from :math:`p(x\mid c)`.

        The weights :math:`p(c\mid x)^w \le 1` are bounded (:math:`w \ge 0`), so resampling ``proposals``
        draws is consistent and well behaved.
        """
        if check_guidance_weight(w) < 0:
            raise ValueError(f"tilted_sample needs w >= 0 (bounded importance weights), got {w}")
        x = self.classes[label].sample(proposals, generator).double()
        log_w = self.tilted_log_prob(x, label, w) - self.classes[label].log_prob(x)
        pick = torch.multinomial(torch.softmax(log_w, 0), n, replacement=True, generator=generator)
        return x[pick].float()


def class_axis(x: Tensor, towards: Tensor, away: Tensor) -> Tensor:
    r"""The coordinate of each point of ``x`` ``(N, D)`` along the class axis, float64 ``(N,)``.

    .. math:: s(x) = \Big(x - \frac{m_+ + m_-}{2}\Big)\cdot\frac{m_+ - m_-}{\|m_+ - m_-\|}

    with :math:`m_+` = ``towards`` (the requested class's centre) and :math:`m_-` = ``away``: 0 on the
    midpoint, growing as a sample moves away from the other class. Its mean over samples is the
    separation that guidance increases (chapter 8).
    """
    towards, away = torch.as_tensor(towards, dtype=torch.float64), torch.as_tensor(away, dtype=torch.float64)
    if towards.shape != away.shape or towards.ndim != 1 or not isinstance(x, Tensor) or x.ndim != 2 \
            or x.shape[1] != towards.shape[0]:
        raise ValueError(f"need points (N, D) and two centres (D,), got {getattr(x, 'shape', type(x))}, "
                         f"{tuple(towards.shape)}, {tuple(away.shape)}")
    if bool(torch.equal(towards, away)):
        raise ValueError("the two centres coincide: no class axis")
    u = (towards - away) / (towards - away).norm()
    return (x.double() - (towards + away) / 2) @ u
