r"""Chapter 5's recipe for the 8×8 digits: a noise-conditional score model, its training and its sampler.

The digits (integer grey levels 0..16, the book's conventions page) are rescaled to
:math:`y = x/16\in[0, 1]`; the :math:`L = 10` noise levels run geometrically from
:math:`\sigma_{\max} = 3` (near the median distance between two training digits in these
units; the largest is about 4.8, chapter 5 measures both) to :math:`\sigma_{\min} = 0.05` (below the
grey-level spacing 1/16). Sampling starts from uniform noise on :math:`[0,1]^{64}`, runs annealed
Langevin dynamics with :math:`\epsilon = 0.1\,\sigma_{\min}^2` and ends with Tweedie's denoising step;
the result is mapped back to the 0..16 scale and clamped. Chapter 5, section "Digits".
:func:`stored_digit_score_model` is the same model through the model store (:mod:`gmtext.store`):
trained once per budget and code version, then loaded with its training time (chapter 10).

Example:
    >>> import torch
    >>> model = digit_score_model(channels=4, blocks=1)
    >>> x = sample_digits(model, 3, 1, torch.Generator().manual_seed(0))
    >>> tuple(x.shape), bool(x.min() >= 0), bool(x.max() <= 16)
    ((3, 1, 8, 8), True, True)
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor

from gmtext import store
from gmtext import train as train_module
from gmtext.data.images import LEVELS, digits, scale_digits
from gmtext.diffusion.schedules import geometric_sigmas
from gmtext.nn.score import ConvScoreNet, NoiseConditionalScore
from gmtext.score.langevin import annealed_langevin_dynamics
from gmtext.score import training as score_training
from gmtext.score.training import train_ncsn
from gmtext.train import History

__all__ = ["DIGIT_SIGMAS", "digit_score_model", "train_digit_score_model", "stored_digit_score_model",
           "sample_digits"]

#: The noise levels of the digit model, in units of the rescaled digits ``x / 16``.
DIGIT_SIGMAS: Tensor = geometric_sigmas(3.0, 0.05, 10)


def digit_score_model(channels: int = 32, blocks: int = 3) -> NoiseConditionalScore:
    r""":math:`s_\theta(y, \sigma) = f_\theta(y, \log\sigma)/\sigma` with a :class:`~gmtext.nn.score.ConvScoreNet` ``f``.

    Its initial weights come from torch's global generator: seed it first for a reproducible run.
    """
    return NoiseConditionalScore(ConvScoreNet((1, 8, 8), channels=channels, blocks=blocks))


def train_digit_score_model(model: NoiseConditionalScore, steps: int, generator: torch.Generator,
                            max_seconds: float | None = None, progress: bool = True) -> History:
    """Train ``model`` on the train split by eq. (5.11) (batch 128, Adam 2e-3, EMA 0.995); eval mode after."""
    y = scale_digits(digits("train").reshape(-1, 64), "unit").y                # (1000, 64) in [0, 1]
    history = train_ncsn(model, y, DIGIT_SIGMAS, steps, generator, batch_size=128, lr=2e-3,
                         ema_decay=0.995, max_seconds=max_seconds, progress=progress, desc="digits")
    model.eval().requires_grad_(False)
    return history


def stored_digit_score_model(steps: int, *, seed: int = 0, channels: int = 32, blocks: int = 3,
                             profile: str | None = None,
                             progress: bool = True) -> tuple[NoiseConditionalScore, store.StoreRecord]:
    """:func:`digit_score_model` initialised from ``seed`` and trained by :func:`train_digit_score_model`
    (generator seeded with ``seed``, no wall-time cap), through the model store: trained once per
    arguments, ``profile`` and code version, then loaded. Returns the model (eval mode, frozen) and
    the :class:`gmtext.store.StoreRecord` (``record.seconds``: its training time)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")

    def build() -> NoiseConditionalScore:
        with torch.random.fork_rng(devices=[]):                # seeded initialisation, caller's RNG kept
            torch.manual_seed(seed)
            return digit_score_model(channels, blocks)

    def train(model: NoiseConditionalScore) -> dict:
        with torch.enable_grad():
            history = train_digit_score_model(model, steps, torch.Generator().manual_seed(seed),
                                              progress=progress)
        return {"steps_done": len(history.loss), "final_loss": float(history.loss[-1])}

    model, record = store.cached("digit_score", build, train, profile=profile,
                                 args={"steps": steps, "seed": seed, "channels": channels, "blocks": blocks},
                                 version_of=[sys.modules[__name__], score_training, train_module])
    return model.eval().requires_grad_(False), record


def sample_digits(model: NoiseConditionalScore, n: int, steps_per_level: int,
                  generator: torch.Generator) -> Tensor:
    r"""``n`` digits ``(n, 1, 8, 8)`` on the 0..16 scale by annealed Langevin dynamics + Tweedie.

    NFE = ``10 * steps_per_level + 1``. Chapter 5, eqs. (5.12)-(5.13).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    y0 = torch.rand(n, 64, generator=generator)                               # uniform on [0,1]^64
    sigma_min = float(DIGIT_SIGMAS[-1])
    y = annealed_langevin_dynamics(model, y0, DIGIT_SIGMAS, 0.1 * sigma_min**2, steps_per_level,
                                   generator)
    top = LEVELS - 1                                                          # y = x / 16
    return (top * y).clamp(0, top).reshape(n, 1, 8, 8)        # back to the grey-level scale, unrounded
