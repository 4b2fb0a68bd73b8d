"""Chapter 2: test log-likelihood and sample quality of the chapter's VAEs on the 8x8 digits.

Both models are built by ``gmtext.vae.digits_vae`` and trained by ``gmtext.vae.fit_vae`` with the
budgets of the profile (``vae.steps``, ``vae.patience``; early stopping on the val split), seeded as
in ``notebooks/02_vae.ipynb``, so that the book prints the numbers this benchmark computes:

- ``categorical``: the plain VAE, MLP encoder and decoder, independent categorical pixels;
- ``local_ar``: the same encoder, a decoder conditioning every pixel on its 12 earlier neighbours.

Rows (test split, in the units of the book's conventions page):

- ``test_nll (negative ELBO)`` and ``test_nll (IWAE K=...)`` (``vae.iwae_k`` importance samples;
  K >= 1000 in the default profile; the same words in the key ``kind``) in nats/image (``se``
  over test images) and bits/dim;
  ``wall_s`` is the training wall time.
- ``frechet_distance`` of ``vae.samples`` generated digits to the test digits in the shared digit
  classifier's feature space, with the training digits as the floor.

Training runs on one CPU thread: these networks are small, and a second thread gains little while
it slows training down badly when another process competes for the cores.
"""

from __future__ import annotations

import math
import time

import torch

from gmtext import config
from gmtext.data.images import digits
from gmtext.metrics import bits_per_dim, digits_frechet_distance
from gmtext.vae import digits_vae, fit_vae, iwae_bounds

MODELS: dict[str, str] = {"categorical": "VAE (plain: MLP, categorical pixels)",
                          "local_ar": "VAE (local autoregressive decoder)"}


def _row(profile: str, model: str, metric: str, value: float, unit: str, wall_s: float,
         device: str, **extra: object) -> dict:
    return {"benchmark": "vae", "model": model, "dataset": "digits", "metric": metric,
            "value": round(float(value), 4), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": device, **extra}


def run(profile: str) -> list[dict]:
    """All rows of the chapter-2 benchmark for ``profile`` (``quick``, ``default`` or ``full``).

    Raises:
        ValueError: for an unknown profile (from ``gmtext.config.budget``).
    """
    steps, patience, k = (config.budget(key, profile)
                          for key in ("vae.steps", "vae.patience", "vae.iwae_k"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                  # see the module docstring
    try:
        return _rows(profile, steps, patience, k)
    finally:
        torch.set_num_threads(threads)


def _rows(profile: str, steps: int, patience: int, k: int) -> list[dict]:
    n_samples = config.budget("vae.samples", profile)
    train, val, test = digits("train"), digits("val"), digits("test")
    sample_generator = torch.Generator().manual_seed(4)        # as in the notebook
    rows: list[dict] = []
    for decoder, name in MODELS.items():
        generator = config.seed_everything(1)
        vae = digits_vae(decoder, latent_dim=16)
        history = fit_vae(vae, train, val, steps, patience=patience, generator=generator,
                          progress=False)
        vae.eval()
        start = time.perf_counter()
        with torch.no_grad():
            weights = vae.log_weights(test, k, torch.Generator().manual_seed(2))   # (K, 447)
        bounds = -iwae_bounds(weights, [1, k])                                     # (2, 447)
        eval_s = time.perf_counter() - start
        wall = history.wall_s
        for kind, per_image in (("negative ELBO", bounds[0]), (f"IWAE K={k}", bounds[1])):
            nll, se = float(per_image.mean()), float(per_image.std() / math.sqrt(len(per_image)))
            extra = {"kind": kind, "steps": len(history.loss), "eval_s": round(eval_s, 2)}
            metric = f"test_nll ({kind})"
            rows.append(_row(profile, name, metric, nll, "nats/image", wall, "cpu",
                             se=round(se, 4), **extra))
            rows.append(_row(profile, name, metric, bits_per_dim(nll, 64), "bits/dim", wall,
                             "cpu", se=round(bits_per_dim(se, 64), 5), **extra))
        start = time.perf_counter()
        samples = vae.sample(n_samples, sample_generator)
        rows.append(_row(profile, name, "frechet_distance", digits_frechet_distance(samples),
                         "FD (digit classifier)", time.perf_counter() - start, "cpu",
                         samples=n_samples))
    rows.append(_row(profile, "training digits (floor)", "frechet_distance",
                     digits_frechet_distance(train), "FD (digit classifier)", 0.0, "cpu"))
    return rows
