"""Chapter 6: digits test NLL bound of a continuous-time variational diffusion model (VDM).

Test split, in the units of the book's conventions page: ``test_nll`` is the negative ELBO on the
*discrete* 17-level data (no dequantization, no Jacobian) in nats/image and bits/dim, averaged over
``vdm.repeats`` x 2 Monte Carlo
repeats per image, for

- ``vdm-discrete``: the denoiser outputs per-pixel logits over the 17 levels (plus the pixel's own
  Gaussian likelihood) turned into the posterior mean (``gmtext.diffusion.discrete.DiscreteDenoiser``);
- ``vdm-epsilon``: the same VDM with a plain epsilon-prediction MLP of the same size;
- ``per-pixel-categorical``: independent categoricals fitted by counts (exact NLL), the floor any
  deep model must beat.

Each VDM is trained ``vdm.bench_seeds`` times (seeds 0, 1, ...) with Adam, an EMA of the weights
and early stopping on the validation bound, for at most ``vdm.steps`` steps (a wall-time cap of
``vdm.bench_seconds`` is only a safety net); ``se`` is the standard error over seeds.
``train_s`` is the training wall time, ``train_cpu_s`` the CPU time of the (single-threaded)
training process: on a shared machine the wall time includes waiting for a core, and the CPU time
is what the training costs on a machine of its own.
"""

from __future__ import annotations

import math
import statistics
import time

import torch

from benchmarks import with_targets
from gmtext import config
from gmtext.data.images import digits
from gmtext.diffusion.discrete import DiscreteDenoiser, EpsilonDenoiser
from gmtext.diffusion.vdm import VDM, LinearLogSNR, train_vdm
from gmtext.metrics import bits_per_dim
from gmtext.mle import categorical_log_prob, categorical_mle

#: The chapter's target: a bound <= 92 nats (stretch: <= 88) with <= 120 s of training.
TARGETS = {("vdm-discrete", "digits", "test_nll", "nats/image"): "<= 92",
           ("vdm-discrete", "digits", "train_s", "s"): "<= 120"}

DENOISERS = {"vdm-discrete": lambda: DiscreteDenoiser(hidden=512, layers=3),
             "vdm-epsilon": lambda: EpsilonDenoiser(hidden=512, layers=3)}


def _row(profile: str, model: str, metric: str, value: float, unit: str, wall_s: float,
         **extra: object) -> dict:
    return {"benchmark": "diffusion_nll", "model": model, "dataset": "digits", "metric": metric,
            "value": round(float(value), 4), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def _fit(name: str, seed: int, profile: str) -> tuple[float, float, float, int]:
    gen = config.seed_everything(seed)
    model = VDM(DENOISERS[name](), LinearLogSNR(-10.0, 6.0))
    cpu = time.process_time()
    hist = train_vdm(model, digits("train"), digits("val"), config.budget("vdm.steps", profile),
                     generator=gen, patience=config.budget("vdm.patience", profile),
                     max_seconds=config.budget("vdm.bench_seconds", profile), progress=False)
    cpu = time.process_time() - cpu
    repeats = 2 * config.budget("vdm.repeats", profile)
    nll = float(model.nll_bound(digits("test"), torch.Generator().manual_seed(1), repeats).mean())
    return nll, hist.wall_s, cpu, len(hist.loss)


def run(profile: str) -> list[dict]:
    """All rows of the digits NLL benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    rows = []
    for name in DENOISERS:
        runs = [_fit(name, seed, profile) for seed in range(config.budget("vdm.bench_seeds", profile))]
        nlls = [r[0] for r in runs]
        se = statistics.stdev(nlls) / math.sqrt(len(nlls)) if len(nlls) > 1 else None
        wall = statistics.mean(r[1] for r in runs)
        kind = "negative ELBO on the discrete data"
        rows += [
            _row(profile, name, "test_nll", statistics.mean(nlls), "nats/image", wall, se=se,
                 kind=kind, seeds=len(nlls), per_seed=[round(v, 3) for v in nlls],
                 steps=[r[3] for r in runs]),
            _row(profile, name, "test_nll", bits_per_dim(statistics.mean(nlls), 64), "bits/dim",
                 wall, kind=kind),
            _row(profile, name, "train_s", wall, "s", wall, per_seed=[round(r[1], 1) for r in runs]),
            _row(profile, name, "train_cpu_s", statistics.mean(r[2] for r in runs), "s", wall,
                 per_seed=[round(r[2], 1) for r in runs]),
        ]
    table = categorical_mle(digits("train").reshape(-1, 64), levels=17)
    exact = -float(categorical_log_prob(digits("test").reshape(-1, 64), table).mean())
    rows.append(_row(profile, "per-pixel-categorical", "test_nll", exact, "nats/image", 0.0,
                     kind="exact"))
    return with_targets(rows, TARGETS)
