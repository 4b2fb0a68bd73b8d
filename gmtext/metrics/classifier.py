r"""The shared digit classifier: the feature space of every Fréchet distance on the 8x8 digits.

FID (Heusel et al. 2017) measures samples in the feature space of a fixed, pretrained classifier.
The digits are too small for Inception, so the book trains its own: a small convolutional network
(:class:`gmtext.nn.classifier.DigitClassifier`) on the train split, with random one-pixel
shifts as augmentation, dropout, label smoothing and early stopping on the val split (98.4% test
accuracy). It is trained once, with a fixed seed, on one CPU thread, in about 5 s, and cached at
``cache_dir() / "digit_classifier-v1.pt"``: every chapter and every run profile measures in the
same space, so FD numbers compare across chapters.

Scale of :func:`digits_frechet_distance` with the 447 test digits as reference (measured once;
1,000 samples unless stated):

=====================================================  ======
samples                                                FD
=====================================================  ======
train split (the floor a perfect model reaches)        1.5
val split (350 images, harder writers)                 2.2
train digits + Gaussian pixel noise, std 2 (clamped)   2.6
train digits + Gaussian pixel noise, std 4 (clamped)   7.2
train digits blurred (Gaussian, 0.5 pixel)             5.1
train digits of classes 0-4 only (half the modes)      13.5
independent pixels, each from its train marginal       19.2
train digits blurred (Gaussian, 1 pixel)               32.2
all 1s of the train split (one mode)                   49.6
blank images                                           56.3
=====================================================  ======

Example:
    >>> import torch
    >>> x = digits("test")[:10]
    >>> digit_features(x).shape
    torch.Size([10, 64])
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from gmtext import config
from gmtext.checkpoint import load_or_train
from gmtext.data.images import LEVELS, digits, scale_digits
from gmtext.metrics.frechet import frechet_distance
from gmtext.nn.classifier import DigitClassifier
from gmtext.train import TrainConfig, fit, minibatches

# DigitClassifier is imported for gmtext.metrics; it is documented where it is defined (gmtext.nn)
__all__ = ["digit_classifier", "digit_features", "predict_digits", "label_accuracy", "classifier_accuracy",
           "digits_frechet_distance", "CHECKPOINT", "SEED", "EPOCHS"]

CHECKPOINT = "digit_classifier-v1.pt"   # bump the version when the network or its training changes
SEED = 0
#: Epoch cap of the training (early stopping on val usually ends it first). A constant, not a
#: budget: the same network serves every run profile, so every profile measures in one space.
EPOCHS = 60
_BATCH = 64
_LOADED: dict[str, DigitClassifier] = {}


def _random_shift(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shift each image by -1, 0 or +1 pixel in each direction (zero padding)."""
    n = x.shape[0]
    padded = F.pad(x, (1, 1, 1, 1))                                             # (N, 1, 10, 10)
    shifted = torch.stack([padded[..., i:i + 8, j:j + 8]
                           for i in range(3) for j in range(3)])               # (9, N, 1, 8, 8)
    choice = torch.randint(0, 9, (n,), generator=generator)
    return shifted[choice, torch.arange(n)]                                     # (N, 1, 8, 8)


def _train(model: DigitClassifier) -> None:
    """Train on the train split with early stopping on val cross-entropy (CPU, seeded).

    AdamW (lr 2e-3, weight decay 1e-3), batches of 64, random one-pixel shifts, label smoothing
    0.1, at most :data:`EPOCHS` epochs; the weights of the epoch with the lowest val
    cross-entropy are kept.
    """
    generator = torch.Generator().manual_seed(SEED)
    x, y = digits("train", labels=True)
    x_val, y_val = digits("val", labels=True)
    x, x_val = scale_digits(x, "unit").y, scale_digits(x_val, "unit").y         # x / 16
    steps_per_epoch = len(x) // _BATCH
    config = TrainConfig(steps=EPOCHS * steps_per_epoch, lr=2e-3, optimizer="adamw",
                         weight_decay=1e-3, eval_every=steps_per_epoch, patience=15,
                         progress=False, desc="digit classifier")

    def loss_fn(batch: tuple[Tensor, Tensor]) -> Tensor:
        images, labels = batch
        logits = model(_random_shift(images, generator))
        return F.cross_entropy(logits, labels, label_smoothing=0.1)

    # one thread: float reductions then run in a fixed order, so the weights do not depend on
    # the number of cores of the machine that trains them
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad():          # the first call may come from inside no_grad
            fit(model, loss_fn, minibatches(x, y, batch_size=_BATCH, generator=generator), config,
                evaluate=lambda: F.cross_entropy(model(x_val), y_val).item())
    finally:
        torch.set_num_threads(threads)


def digit_classifier(device: str | torch.device | None = None) -> DigitClassifier:
    """The shared digit classifier in eval mode, trained once and cached on disk and in memory.

    The first call in a fresh cache trains it on the CPU (about 5-10 s, fixed seed
    ``SEED``, early stopping on the val split) and saves its ``state_dict`` to
    ``gmtext.config.cache_dir() / "digit_classifier-v1.pt"``; later calls load that file.
    Its parameters do not require gradients.

    Args:
        device: where to put the network (default: CPU).
    """
    dev = torch.device("cpu" if device is None else device)
    path = config.cache_dir() / CHECKPOINT
    key = f"{path}|{dev}"
    if key not in _LOADED:
        with torch.random.fork_rng(devices=[]):                # seeded init, global RNG untouched
            torch.manual_seed(SEED)
            model = DigitClassifier()
            load_or_train(model, path, _train, verbose=False)
        _LOADED[key] = model.eval().requires_grad_(False).to(dev)
    return _LOADED[key]


def digit_features(images: Tensor) -> Tensor:
    r"""Penultimate-layer features of the shared digit classifier.

    .. math:: \phi(x) = \mathrm{ReLU}(W\,h(x/16) + b) \in \mathbb R^{64}

    where :math:`h` is the convolutional body of :class:`gmtext.nn.classifier.DigitClassifier`.
    These are the features in which :func:`digits_frechet_distance` fits its Gaussians (Heusel
    et al. 2017, arXiv:1706.08500) and in which ``gmtext.metrics.precision_recall`` can compare
    digits.

    Args:
        images: ``(N, 1, 8, 8)`` (or ``(N, 8, 8)``) digits on the **0..16 scale**, integer or float.
            Clamp model samples to [0, 16] first.

    Returns:
        ``(N, 64)`` float32 features on the device of ``images``.

    Raises:
        TypeError: if ``images`` is not a tensor.
        ValueError: on another shape, NaN, or values outside [0, 16] (e.g. images on [-1, 1]).

    Warns:
        UserWarning: if no value exceeds 1 (images on [0, 1] passed by mistake).

    Example:
        >>> digit_features(torch.full((2, 1, 8, 8), 16.0)).shape
        torch.Size([2, 64])
    """
    x = _check_images(images)
    model = digit_classifier(x.device)
    with torch.no_grad():
        # samples are real-valued on 0..16: the same x / 16 as scale_digits(., "unit") of data
        out = [model.features(chunk / (LEVELS - 1)) for chunk in x.split(1024)]
    return torch.cat(out)


def classifier_accuracy(split: str = "test") -> float:
    """Accuracy of the shared digit classifier on a digits split.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.

    Raises:
        ValueError: for an unknown split.

    Example:
        >>> classifier_accuracy("test") > 0.95
        True
    """
    x, y = digits(split, labels=True)
    return label_accuracy(x, y)


def label_accuracy(images: Tensor, labels: Tensor) -> float:
    """The fraction of ``images`` (0..16 scale) that the shared digit classifier gives ``labels``.

    How well a class-conditional generator follows its labels (chapter 3.x), or how much of a
    digit's identity a translation keeps (CycleGAN's content preservation).
    """
    if not isinstance(labels, Tensor) or labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got "
                         f"{tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__}")
    return float((predict_digits(images) == labels.to(torch.long)).double().mean())


def predict_digits(images: Tensor) -> Tensor:
    r"""The classes :math:`\arg\max_c\,\mathrm{logit}_c(x/16)` the shared digit classifier gives.

    How a conditional generator is checked against the class it was asked for, and how much of
    the digit a translation keeps (chapter 3).

    Args:
        images: ``(N, 1, 8, 8)`` (or ``(N, 8, 8)``) digits on the **0..16 scale**, integer or
            float (model samples clamped to [0, 16]).

    Returns:
        ``(N,)`` int64 classes on the device of ``images``.

    Raises:
        TypeError, ValueError: as :func:`digit_features`.

    Example:
        >>> x, y = digits("test", labels=True)
        >>> float((predict_digits(x[:100]) == y[:100]).double().mean()) > 0.9
        True
    """
    x = _check_images(images)
    model = digit_classifier(x.device)
    with torch.no_grad():
        return torch.cat([model(chunk / (LEVELS - 1)).argmax(dim=1) for chunk in x.split(1024)])


def digits_frechet_distance(samples: Tensor, reference: str = "test") -> float:
    r"""Fréchet distance between digit samples and a digits split, in classifier features.

    .. math::

        \mathrm{FD} = \|\mu_s - \mu_r\|_2^2
        + \operatorname{tr}\big(\Sigma_s + \Sigma_r - 2(\Sigma_s\Sigma_r)^{1/2}\big)

    with means and covariances of :func:`digit_features` of the samples (s) and of the reference
    split (r): the digits analogue of FID (Heusel et al. 2017, arXiv:1706.08500). Lower is better.
    With the 447 test digits as reference, the train split scores about 1.5 (the practical
    floor) and independent per-pixel samples about 19; the module docstring gives the scale.
    The estimate depends on the number of samples: compare models with the same number
    (e.g. 1,000).

    Args:
        samples: ``(N, 1, 8, 8)`` digits on the 0..16 scale (N >= 2).
        reference: the split to compare with (``"test"``, ``"val"`` or ``"train"``).

    Raises:
        ValueError: for bad ``samples`` (see :func:`digit_features`) or an unknown split.

    Example:
        >>> digits_frechet_distance(digits("test"))
        0.0
    """
    feats = digit_features(samples)
    return frechet_distance(feats, digit_features(digits(reference)))


def _check_images(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, 1, 8, 8), "
                        f"got {type(images).__name__}")
    if images.ndim == 3 and tuple(images.shape[1:]) == (8, 8):
        images = images.unsqueeze(1)                                   # (N, 8, 8) -> (N, 1, 8, 8)
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 8, 8) or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, 1, 8, 8) with N >= 1, "
                         f"got {tuple(images.shape)}")
    x = images.detach().float()
    if bool(torch.isnan(x).any()):
        raise ValueError("images hold NaN values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > LEVELS - 1:
        raise ValueError(f"images must lie on the digits' 0..16 scale, got values in "
                         f"[{lo:.3g}, {hi:.3g}]; rescale (e.g. 16 * x for x on [0, 1]) or clamp "
                         "samples with x.clamp(0, 16)")
    if hi <= 1.0 and x.shape[0] > 1:
        warnings.warn(f"all {x.shape[0]} images have values <= 1: digit_features expects the "
                      "0..16 scale (multiply images on [0, 1] by 16)", stacklevel=3)
    return x
