r"""Chapter 8: a class-conditional diffusion model of the digits, guided two ways, and SDEdit with it.

Shared by the chapter, ``benchmarks/conditional.py`` and later chapters (caption-to-image,
generative classifiers, the trilemma), which load the same cached network:

- :func:`conditional_digit_model`: the class-conditional :math:`\varepsilon`-network
  :class:`gmtext.nn.conditional.ClassConditionalUNet8` (16 channels) on the VP path, trained with labels dropped to
  the null class with probability :data:`P_UNCOND` (classifier-free guidance, Ho & Salimans 2022),
  Adam with a cosine learning rate and an EMA of the weights (:func:`gmtext.diffusion.training.gaussian_path_config`),
  digits scaled by ``scale_digits(., "signed_bins")`` with fresh dequantization noise. Cached as a
  ``state_dict`` in the model store (:mod:`gmtext.store`), keyed by the budget, the seed and the
  source of this recipe and of the network;
- :func:`guided_digits`, :func:`evaluate_digits`, :func:`guidance_sweep`: samples at a guidance
  weight :math:`w` (DDIM, :math:`\hat x_0` clipped to the data range) and their label accuracy,
  Fréchet distance, precision, recall and per-class diversity in the shared classifier's features;
- :func:`noisy_classifier`, :func:`classifier_guided_digits`: classifier guidance with a classifier
  of noisy digits (Dhariwal & Nichol 2021);
- :func:`sdedit_translation`: SDEdit (Meng et al. 2022) from the bold negatives of chapter 3 to
  plain digits with this model as the prior; :func:`cyclegan_reference` trains chapter 3's
  CycleGAN with its own budget, for comparison.

Seeding: each network's initial weights are drawn inside :func:`torch.random.fork_rng` after
``torch.manual_seed(seed)`` (the caller's random state is left alone), batches and noise from an
explicit generator. Derived in chapter 8.
"""

from __future__ import annotations

import sys

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gmtext import config, store
from gmtext.data.images import digits, scale_digits, unscale_digits
from gmtext.data.styles import unpaired_domains
from gmtext.diffusion import DDIMSampler, VPSchedule, denoising_loss, q_sample, sample
from gmtext.diffusion.guidance import ClassifierGuidedModel, classifier_free_guidance, drop_labels
from gmtext.diffusion.sdedit import sdedit
from gmtext.diffusion.training import gaussian_path_config
from gmtext.gan.sampling import translate
from gmtext.metrics import digit_features, digits_frechet_distance, precision_recall
from gmtext.metrics.classifier import label_accuracy
from gmtext.nn.conditional import ClassConditionalUNet8, NoisyDigitClassifier
from gmtext.train import History, TrainConfig, fit, minibatches

__all__ = ["VERSION", "P_UNCOND", "NUM_CLASSES", "PATH", "conditional_digit_model", "guided_digits",
           "evaluate_digits", "per_class_diversity", "guidance_sweep", "noisy_classifier",
           "classifier_guided_digits", "sdedit_translation", "cyclegan_reference"]

#: Bump when the network, its training or the data scaling changes (the cache key holds it).
VERSION = "v1"
#: Probability that a training label is replaced by the null class (Ho & Salimans use 0.1-0.2).
P_UNCOND = 0.15
NUM_CLASSES = 10
#: The Gaussian path of every model of the chapter.
PATH = VPSchedule()
_CHANNELS, _BATCH, _LR = 16, 64, 2e-3       # batches of 64: half the cost of 128 for nearly the same digits


def _seeded(seed: int, build: Any) -> Any:
    with torch.random.fork_rng(devices=[]):                     # seeded init, caller's RNG kept
        torch.manual_seed(seed)
        return build()


def _fit_on_train_digits(module: torch.nn.Module, loss: Callable[[Tensor, Tensor, torch.Generator], Tensor],
                         seed: int, train_config: TrainConfig) -> History:
    """:func:`gmtext.train.fit` of ``loss(images, labels, generator)`` on seeded minibatches of the train digits."""
    gen = torch.Generator().manual_seed(seed)
    x, y = digits("train", labels=True)
    module.train()
    return fit(module, lambda batch: loss(*batch, gen), minibatches(x, y, batch_size=_BATCH, generator=gen),
               train_config)


def conditional_digit_model(profile: str | None = None, *, seed: int = 0,
                            progress: bool = True) -> tuple[ClassConditionalUNet8, dict[str, Any]]:
    r"""The class-conditional :math:`\varepsilon_\theta(x, t, c)` of the digits, trained once per budget and cached.

    Budget ``conditional.steps``. Returns the averaged network (eval mode) and
    ``{"loaded": bool, "steps": int, "history": History or None, "path": Path}``.
    """
    steps = int(config.budget("conditional.steps", profile))
    net = _seeded(seed, lambda: ClassConditionalUNet8(NUM_CLASSES, channels=_CHANNELS))
    info: dict[str, Any] = {"steps": steps, "history": None}

    def train(module: ClassConditionalUNet8) -> None:
        def loss(images: Tensor, labels: Tensor, gen: torch.Generator) -> Tensor:
            labels = drop_labels(labels, P_UNCOND, NUM_CLASSES, gen)           # c -> null w.p. P_UNCOND
            x0 = scale_digits(images, "signed_bins", gen).y                   # 2(x + u)/17 - 1
            return denoising_loss(module, PATH, x0, gen, condition={"labels": labels}).mean()

        history = _fit_on_train_digits(module, loss, seed, gaussian_path_config(
            steps, _LR, progress=progress, desc="class-conditional diffusion"))
        module.load_state_dict(history.ema.state_dict())                      # keep the average
        info["history"] = history

    _stored("conditional_digits", net, train, info, {"steps": steps, "seed": seed, "channels": _CHANNELS,
                                                     "batch": _BATCH, "version": VERSION})
    return net.eval().requires_grad_(False), info


def _stored(name: str, net: torch.nn.Module, train: Callable[[torch.nn.Module], None],
            info: dict[str, Any], args: dict[str, Any]) -> None:
    """Load ``net`` from the model store (:func:`gmtext.store.cached`) or ``train`` it there; the
    store's key holds ``args`` and the source of this recipe and of the network. Fills ``info``
    with ``loaded``, ``path`` and ``wall_s`` (the training time, also after a load)."""
    with torch.enable_grad():
        _, record = store.cached(name, lambda: net, train, args=args, version_of=[sys.modules[__name__]])
    info.update(loaded=record.loaded, path=record.path, wall_s=record.seconds)


def guided_digits(model: torch.nn.Module, w: float, labels: Tensor, num_steps: int,
                  generator: torch.Generator | None = None) -> Tensor:
    """Digits (0..16, ``(N, 1, 8, 8)``) of the requested ``labels`` by DDIM on classifier-free guidance at ``w``."""
    sampler = DDIMSampler(PATH, clip_sample=1.0)
    y = sample(classifier_free_guidance(model, w), sampler, (len(labels), 1, 8, 8), num_steps,
               generator=generator, condition={"labels": labels})
    return unscale_digits(y)


def per_class_diversity(images: Tensor, labels: Tensor) -> float:
    r"""Mean over classes of the mean pairwise feature distance among samples of a class, over the same for test digits.

    1 is the diversity of the data within a class; guidance that collapses each class towards its
    most typical digit drives it towards 0.
    """
    feats, (x_test, y_test) = digit_features(images), digits("test", labels=True)
    ref = digit_features(x_test)
    ratios = []
    for c in labels.unique().tolist():
        own, real = feats[labels == c], ref[y_test == c]
        if len(own) > 1 and len(real) > 1:
            ratios.append(float(F.pdist(own.double()).mean() / F.pdist(real.double()).mean()))
    return sum(ratios) / len(ratios)


def evaluate_digits(images: Tensor, labels: Tensor) -> dict[str, float]:
    """Label accuracy, Fréchet distance, precision, recall (k = 3, test features) and per-class diversity."""
    pr = precision_recall(digit_features(digits("test")), digit_features(images))
    return {"label_accuracy": label_accuracy(images, labels), "fd": digits_frechet_distance(images),
            "precision": pr["precision"], "recall": pr["recall"],
            "diversity": per_class_diversity(images, labels)}


def guidance_sweep(model: torch.nn.Module, weights: Sequence[float], profile: str | None = None,
                   seed: int = 1) -> dict[float, dict[str, Any]]:
    """Samples and :func:`evaluate_digits` at each guidance weight (budgets ``conditional.samples``,
    ``conditional.sample_steps``); the same initial noise for every ``w``, equal numbers of each class."""
    n = int(config.budget("conditional.samples", profile))
    steps = int(config.budget("conditional.sample_steps", profile))
    labels = torch.arange(n) % NUM_CLASSES
    out = {}
    for w in weights:
        images = guided_digits(model, w, labels, steps, torch.Generator().manual_seed(seed))
        out[w] = {"images": images, "labels": labels, **evaluate_digits(images, labels)}
    return out


def noisy_classifier(profile: str | None = None, *, seed: int = 0, progress: bool = True
                     ) -> tuple[NoisyDigitClassifier, dict[str, Any]]:
    r""":math:`p_\phi(c\mid x_t, t)` trained by cross-entropy on noised train digits, :math:`t\sim U(10^{-3}, 1)`, cached.

    Budget ``conditional.classifier_steps``; AdamW, cosine learning rate. Returns the network
    (eval mode, no gradients for its weights) and ``{"loaded", "steps", "history", "path"}``.
    """
    steps = int(config.budget("conditional.classifier_steps", profile))
    net = _seeded(seed, lambda: NoisyDigitClassifier(NUM_CLASSES, channels=16))
    info: dict[str, Any] = {"steps": steps, "history": None}

    def train(module: NoisyDigitClassifier) -> None:
        def loss(images: Tensor, labels: Tensor, gen: torch.Generator) -> Tensor:
            t = 1e-3 + (1 - 1e-3) * torch.rand(len(images), generator=gen)
            x_t = q_sample(PATH, scale_digits(images, "signed_bins", gen).y, t, generator=gen)
            return F.cross_entropy(module(x_t, t), labels)

        info["history"] = _fit_on_train_digits(module, loss, seed, TrainConfig(
            steps, lr=2e-3, optimizer="adamw", weight_decay=1e-4, lr_schedule="cosine", progress=progress,
            desc="noisy classifier"))

    _stored("noisy_digit_classifier", net, train, info, {"steps": steps, "seed": seed, "batch": _BATCH,
                                                         "version": VERSION})
    return net.eval().requires_grad_(False), info


def classifier_guided_digits(model: torch.nn.Module, classifier: torch.nn.Module, scale: float, labels: Tensor,
                             num_steps: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Digits of ``labels`` by DDIM on :math:`\varepsilon(x_t, t, \varnothing) - \gamma\sigma_t\nabla\log p_\phi(c\mid x_t, t)`."""
    guided = ClassifierGuidedModel(model, classifier, PATH, scale)
    sampler = DDIMSampler(PATH, clip_sample=1.0)
    return unscale_digits(sample(guided, sampler, (len(labels), 1, 8, 8), num_steps, generator=generator,
                                 condition={"labels": labels}))


def sdedit_translation(model: torch.nn.Module, t_starts: Sequence[float], profile: str | None = None,
                       seed: int = 0) -> dict[str, dict[float, dict[str, float]]]:
    r"""SDEdit from domain B (bold negatives, test split) to plain digits, for each :math:`t_0` in ``t_starts``.

    Three variants: ``"negative"``: the source as it is, unconditional prior; ``"inverted"``: the
    source with its tones inverted, :math:`16 - b`, unconditional prior; ``"inverted, class"``:
    the same, prior conditioned on the source's class. Each gives the classifier's accuracy with
    respect to the source's label (faithfulness) and the Fréchet distance to the test digits
    (realism), and ``"images"`` (the first 12 translations). DDIM with ``conditional.sample_steps``
    steps from :math:`t = 1`, i.e. :math:`\lceil t_0\cdot\text{steps}\rfloor` (at least 2) from :math:`t_0`.
    """
    steps = int(config.budget("conditional.sample_steps", profile))
    _, (b, labels) = unpaired_domains("test", seed=seed)
    sources = {"negative": b, "inverted": 16 - b, "inverted, class": 16 - b}
    out: dict[str, dict[float, dict[str, Any]]] = {}
    for name, source in sources.items():
        out[name] = {}
        condition = {"labels": labels} if name.endswith("class") else None
        for t0 in t_starts:
            y = sdedit(model, PATH, scale_digits(source, "signed_bins").y, t0, max(2, round(steps * t0)),
                       generator=torch.Generator().manual_seed(seed), condition=condition, clip_sample=1.0)
            images = unscale_digits(y)
            out[name][t0] = {"accuracy": label_accuracy(images, labels), "fd": digits_frechet_distance(images),
                             "images": images[:12]}
    return out


def cyclegan_reference(profile: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Chapter 3's CycleGAN (``gan.cycle_steps``, :func:`gmtext.recipes.gan_digits.train_style_cyclegan`), cached,
    on the same test images: the accuracy of :math:`F(b)` w.r.t. the source labels, its Fréchet
    distance to the test digits, and the first 12 translations."""
    from gmtext.gan.cyclegan import CycleGAN
    from gmtext.recipes.gan_digits import train_style_cyclegan

    steps = int(config.budget("gan.cycle_steps", profile))
    model = CycleGAN(channels=16, blocks=2)                   # train_style_cyclegan's defaults

    def train(module: CycleGAN) -> None:
        module.load_state_dict(train_style_cyclegan(steps, seed=seed, progress=False)[0].state_dict())

    _stored("style_cyclegan", model, train, {}, {"steps": steps, "seed": seed, "version": VERSION})
    _, (b, labels) = unpaired_domains("test", seed=seed)
    images = translate(model.eval().g_ba, b)
    return {"accuracy": label_accuracy(images, labels), "fd": digits_frechet_distance(images), "images": images[:12]}
