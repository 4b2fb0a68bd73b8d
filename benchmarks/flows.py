"""Chapter 4: normalizing flows, measured against the truth on the toys and on the digits.

Toys: each flow trains for ``flows.bench_toy_steps`` Adam steps on fresh samples (a new batch
every step, cosine learning-rate decay; ``flows.bench_toy_seconds`` is only a safety cap), then
``kl`` = KL(p || q) in nats with its standard error (``se``) on ``flows.n_test`` fresh samples
paired with the exact density, for a rational-quadratic spline flow on
``grid25_wide``, ``ring8`` and ``grid25`` and for the affine RealNVP with coordinate swaps and with
rotations on ``grid25_wide`` (the chapter's failure case; log-scale bound b = 1, and once with
b = 3, where single batches can blow the loss up: ``max_batch_nll`` is the largest batch loss of
each fit); ``train_s`` is the training wall time.

Digits (test split, in the units of the book's conventions page): ``test_nll`` of the chapter's
``digits_flow`` (dropout 0.5, early stopping on val, at most ``flows.bench_digits_seconds`` of
training) in nats/image and
bits/dim on uniformly dequantized data, an upper bound on the discrete NLL; ``test_nll_iw``, the
importance-weighted bound of the same flow with ``flows.iw_samples`` noise draws per image
(tighter, still an upper bound); ``train_s``; ``sample_ms`` per generated image. The same rows
for ``digits_flow(mixing="linear")`` (Glow's learned invertible mixing instead of fixed
permutations) show whether that lever helps.
"""

from __future__ import annotations

import time

import torch

from benchmarks import with_targets
from gmtext import config
from gmtext.data import toy
from gmtext.data.images import digits
from gmtext.flows import digits_flow, mean_nll, realnvp, spline_flow, train_flow
from gmtext.metrics import bits_per_dim, kl_mc

#: The chapter's targets: KL <= 0.02 nats on grid25_wide and ring8 (stretch: <= 0.01), the
#: stretch <= 0.05 on grid25; a dequantized digits bound <= 97 nats (stretch: <= 94) within 90 s.
TARGETS = {("spline-swap", "grid25_wide", "kl", "nats"): "<= 0.02",
           ("spline-rotation", "ring8", "kl", "nats"): "<= 0.02",
           ("spline-swap", "grid25", "kl", "nats"): "<= 0.05",
           ("*", "digits", "test_nll", "nats/image"): "<= 97",
           ("*", "digits", "test_nll_iw", "nats/image"): "<= 97",
           ("*", "digits", "train_s", "s"): "<= 90"}

#: (toy, model name, builder, learning rate)
TOY_RUNS = (
    ("grid25_wide", "spline-swap", lambda g: spline_flow(2, 4, bins=32, mixing="swap", generator=g),
     5e-3),
    ("ring8", "spline-rotation",
     lambda g: spline_flow(2, 6, bins=16, bound=3.0, mixing="rotation", generator=g), 1e-2),
    ("grid25", "spline-swap", lambda g: spline_flow(2, 4, bins=32, mixing="swap", generator=g),
     5e-3),
    ("grid25_wide", "affine-swap",
     lambda g: realnvp(2, 8, mixing="swap", scale_bound=1.0, generator=g), 1e-3),
    ("grid25_wide", "affine-rotation",
     lambda g: realnvp(2, 8, mixing="rotation", scale_bound=1.0, generator=g), 1e-3),
    # the digit flow's log-scale bound b = 3: one tail batch can blow the loss up (max_batch_nll)
    ("grid25_wide", "affine-rotation-b3",
     lambda g: realnvp(2, 8, mixing="rotation", scale_bound=3.0, generator=g), 1e-3),
)


def _row(profile: str, model: str, dataset: str, metric: str, value: float, unit: str,
         wall_s: float, **extra: object) -> dict:
    return {"benchmark": "flows", "model": model, "dataset": dataset, "metric": metric,
            "value": round(float(value), 5), "unit": unit, "wall_s": round(wall_s, 2),
            "profile": profile, "device": "cpu", **extra}


def _toys(profile: str) -> list[dict]:
    rows = []
    steps = config.budget("flows.bench_toy_steps", profile)
    seconds = config.budget("flows.bench_toy_seconds", profile)
    n_test = config.budget("flows.n_test", profile)
    for name, model, build, lr in TOY_RUNS:
        gen = config.seed_everything(0)
        p = toy.load(name)
        flow = build(gen)
        # fresh samples every step (the toy samples without limit): nothing to overfit
        hist = train_flow(flow, p, steps, generator=gen, batch_size=512, lr=lr,
                          max_seconds=seconds, anneal=True, progress=False)
        kl, se = kl_mc(p, flow.log_prob, n_test, gen)
        rows.append(_row(profile, model, name, "kl", kl, "nats", hist.wall_s, se=round(se, 5),
                         steps=len(hist.loss), max_batch_nll=round(max(hist.loss), 1)))
        rows.append(_row(profile, model, name, "train_s", hist.wall_s, "s", hist.wall_s))
    return rows


def _digits(profile: str, mixing: str) -> list[dict]:
    gen = config.seed_everything(0)
    x_train, x_val, x_test = (digits(s).reshape(-1, 64) for s in ("train", "val", "test"))
    flow = digits_flow(dropout=0.5, mixing=mixing, generator=gen)
    hist = train_flow(flow, x_train, config.budget("flows.digits_steps", profile), generator=gen,
                      batch_size=128, lr=1e-3, dequantize_data=True, val=x_val, every=50,
                      patience=10, max_seconds=config.budget("flows.bench_digits_seconds", profile),
                      progress=False)
    model = "realnvp-dropout" if mixing == "permutation" else f"realnvp-dropout-{mixing}"
    eval_gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    nll = sum(mean_nll(flow, x_test, eval_gen, True) for _ in range(4)) / 4
    eval_s = time.perf_counter() - start
    k = config.budget("flows.iw_samples", profile)
    start = time.perf_counter()
    nll_iw = mean_nll(flow, x_test, eval_gen, True, samples=k)
    iw_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        flow.sample(1000, generator=gen)
    sample_ms = 1e3 * (time.perf_counter() - start) / 1000
    bound, iw_bound = "dequantized upper bound", f"importance-weighted dequantized bound, K={k}"
    return [
        _row(profile, model, "digits", "test_nll", nll, "nats/image", eval_s, kind=bound,
             steps=len(hist.loss)),
        _row(profile, model, "digits", "test_nll", bits_per_dim(nll, 64), "bits/dim", eval_s,
             kind=bound),
        _row(profile, model, "digits", "test_nll_iw", nll_iw, "nats/image", iw_s, kind=iw_bound),
        _row(profile, model, "digits", "test_nll_iw", bits_per_dim(nll_iw, 64), "bits/dim",
             iw_s, kind=iw_bound),
        _row(profile, model, "digits", "train_s", hist.wall_s, "s", hist.wall_s),
        _row(profile, model, "digits", "sample_ms", sample_ms, "ms/image", sample_ms),
    ]


def run(profile: str) -> list[dict]:
    """All rows of the flow benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    # one thread: faster on a shared machine
    rows = _toys(profile) + _digits(profile, "permutation") + _digits(profile, "linear")
    return with_targets(rows, TARGETS)
