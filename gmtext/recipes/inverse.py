r"""Chapter 9's digit experiments: one cached diffusion prior, four inverse problems, three samplers, baselines.

Shared by the chapter and ``benchmarks/inverse.py``. The prior is the 8x8-digit
:math:`\varepsilon`-network of chapter 6 (a time-conditioned MLP on the VP path, digits scaled
by ``scale_digits(x, "signed_bins")``), trained once per budget and kept in the model store (:mod:`gmtext.store`, keyed by the budget
and the source of this recipe and of the network); later chapters may load
it with :func:`digit_prior`. Weights are initialised under ``torch.random.fork_rng`` with seed
``SEED``, and training draws from its own generator, so the caller's random state is untouched.

The tasks (``TASKS``), all with Gaussian measurement noise ``SIGMA_Y`` on the signed scale:
``inpaint`` (the bottom half unseen), ``uncrop`` (only the centre 4x4 seen), ``superres``
(2x2 average pooling), ``deblur`` (5x5 Gaussian kernel of std 1, circular boundary,
pseudo-inverse cut-off ``rcond`` 0.05). The classical baseline of each task is the best of its
candidates (and their parameters) on 64 validation digits.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch
from torch import Tensor, nn

from gmtext import config, store
from gmtext.data.images import digits, scale_digits
from gmtext.diffusion.ddpm import DiscreteSchedule
from gmtext.diffusion.process import Model
from gmtext.diffusion.schedules import VPSchedule
from gmtext.diffusion.training import train_diffusion
from gmtext.inverse import Blur, Crop, DDNMSampler, Downsample, DPSSampler, Mask, ReplacementSampler, gaussian_kernel
from gmtext.inverse.evaluate import BASELINES, classical_reconstruction, consistency, pixel_std, ssim, to_grey_levels
from gmtext.inverse.posterior import posterior_sample
from gmtext.metrics import psnr
from gmtext.nn import ConditionalMLP
from gmtext.nn.unet import FlatImageModel

__all__ = ["VERSION", "SEED", "TASKS", "SIGMA_Y", "METHODS", "digit_prior", "task_operator", "measure",
           "best_baseline", "run_task"]

VERSION = "v1"            #: bump when the prior's network or recipe changes (a new cache file)
SEED = 0
TASKS: tuple[str, ...] = ("inpaint", "uncrop", "superres", "deblur")
SIGMA_Y = 0.02            #: measurement noise std on the signed [-1, 1] scale (a sixth of a grey level)
METHODS: tuple[str, ...] = ("RePaint", "DDNM", "DPS")
DPS_ZETA = 1.0            #: DPS step size (Chung et al.'s zeta'), chosen on the inpainting task


def digit_prior(profile: str | None = None, progress: bool = True) -> tuple[nn.Module, VPSchedule, dict[str, Any]]:
    """The digit diffusion prior (module docstring): ``(model, schedule, info)``, model in eval mode
    with frozen weights; ``info`` says whether it was loaded, where from, and the training budget."""
    steps = config.budget("inverse.prior_steps", profile)
    seconds = config.budget("inverse.prior_seconds", profile)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = FlatImageModel(ConditionalMLP(64, 64, hidden=512, layers=3), (1, 8, 8))
    schedule, info = VPSchedule(), {"steps": steps}

    def train(module: nn.Module) -> None:
        gen = torch.Generator().manual_seed(SEED)
        with torch.enable_grad():
            ema, history = train_diffusion(module, schedule, digits("train"), steps, gen, batch_size=128,
                                           lr=2e-3, transform=lambda x, g: scale_digits(x, "signed_bins", g).y,
                                           max_seconds=seconds, progress=progress, desc="digit prior")
        module.load_state_dict(ema.state_dict())
        return {"steps_done": len(history.loss)}

    _, record = store.cached("inverse_prior", lambda: net, train, args={"steps": steps, "seed": SEED, "version": VERSION},
                             version_of=[sys.modules[__name__]])
    info.update(loaded=record.loaded, path=record.path, wall_s=record.seconds, **record.info)
    return net.eval().requires_grad_(False), schedule, info


def task_operator(task: str) -> Any:
    """The operator of ``task`` on 8x8 digits (module docstring)."""
    if task == "inpaint":
        mask = torch.ones(8, 8)
        mask[4:] = 0
        return Mask(mask)
    if task == "uncrop":
        return Crop((8, 8), (4, 4))
    if task == "superres":
        return Downsample(2)
    if task == "deblur":
        return Blur(gaussian_kernel(5, 1.0), "circular", rcond=0.05)
    raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")


def measure(operator: Any, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Signed truths (bin centres) of integer digits ``x`` and their measurements ``A(x) + SIGMA_Y n``."""
    truth = scale_digits(x, "signed_bins").y
    y = operator.forward(truth)
    return truth, y + SIGMA_Y * torch.randn(y.shape, generator=generator)


def _grid(method: str) -> list[dict[str, Any]]:
    if method == "wiener":
        return [{"balance": b} for b in (0.003, 0.01, 0.03, 0.1, 0.3)]
    if method == "richardson_lucy":
        return [{"iterations": n} for n in (5, 10, 30)]
    return [{}]


def best_baseline(task: str, generator: torch.Generator, n_val: int = 64) -> tuple[str, dict[str, Any], float]:
    """The classical baseline (method, parameters) of ``task`` with the best PSNR on ``n_val`` validation digits."""
    operator = task_operator(task)
    x = digits("val")[:n_val]
    truth, y = measure(operator, x, generator)
    scores = [(psnr(to_grey_levels(classical_reconstruction(operator, y, m, **p)), x.float(), 16.0), m, p)
              for m in BASELINES[type(operator).__name__] for p in _grid(m)]
    score, method, params = max(scores, key=lambda s: s[0])
    return method, params, score


def _sampler(method: str, schedule: DiscreteSchedule, operator: Any, y: Tensor) -> Any:
    if method == "RePaint":
        return ReplacementSampler(schedule, operator, y, resample=3, clip_sample=1.0)
    if method == "DDNM":
        return DDNMSampler(schedule, operator, y, clip_sample=1.0)
    if method == "DPS":
        return DPSSampler(schedule, operator, y, zeta=DPS_ZETA, clip_sample=1.0)
    raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


def run_task(model: Model, task: str, x: Tensor, k: int, steps: int, generator: torch.Generator,
             methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    """Posterior samples of every method and the best classical baseline on test digits ``x`` (integers).

    Returns a dict: ``truth`` and ``y`` (signed), ``baseline`` (name, parameters, image), ``samples``
    ``{method: (k, N, 1, 8, 8)}`` and ``rows``, one dict of measures per method and one for the
    baseline (PSNR and SSIM on the 0..16 scale of the mean and of single samples, consistency, diversity).
    """
    operator = task_operator(task)
    schedule = DiscreteSchedule.from_continuous(VPSchedule(), 1000)
    name, params, _ = best_baseline(task, generator)
    truth, y = measure(operator, x, generator)
    ref = x.float()
    base = classical_reconstruction(operator, y, name, **params)
    rows = [{"method": f"baseline ({name})", "psnr_mean": psnr(to_grey_levels(base), ref, 16.0),
             "ssim_mean": ssim(to_grey_levels(base), ref, 16.0),
             "consistency": float(consistency(operator, base, y).mean()), "wall_s": 0.0}]
    samples = {}
    for method in methods:
        start = time.perf_counter()
        y_rep = y.repeat(k, 1, 1, 1)                                   # (k N, ...): sample-major
        out = posterior_sample(model, _sampler(method, schedule, operator, y_rep), tuple(truth.repeat(k, 1, 1, 1).shape),
                               steps, generator).reshape(k, *truth.shape)
        samples[method] = out
        mean, grey = out.mean(0), to_grey_levels(out)
        rows.append({"method": method, "psnr_mean": psnr(to_grey_levels(mean), ref, 16.0),
                     "psnr_sample": psnr(grey[0], ref, 16.0), "ssim_mean": ssim(to_grey_levels(mean), ref, 16.0),
                     "ssim_sample": ssim(grey[0], ref, 16.0), "consistency": float(consistency(operator, mean, y).mean()),
                     "diversity": float(pixel_std(grey).mean()), "wall_s": time.perf_counter() - start})
    return {"task": task, "operator": operator, "truth": truth, "y": y, "baseline": (name, params, base),
            "samples": samples, "rows": rows}
