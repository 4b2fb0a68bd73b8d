"""Chapter 4: normalizing flows, measured against the truth on the toys and on the digits.

Toys (fresh samples, paired with the exact density): ``kl`` = KL(p || q) in nats with its
standard error (``se``) on ``flows.n_test`` samples, for a rational-quadratic spline flow on
``grid25_wide``, ``ring8`` and ``grid25`` and for the affine RealNVP with coordinate swaps and with
rotations on ``grid25_wide`` (the chapter's failure case); ``train_s`` is the training wall time.

Digits (test split, DATA.md units): ``test_nll`` of the chapter's ``digits_flow`` (dropout 0.5,
early stopping on val) in nats/image and bits/dim on uniformly dequantized data, an upper bound
on the discrete NLL; ``train_s``; ``sample_ms`` per generated image.
"""

from __future__ import annotations

import time

import torch

from gmtext import config
from gmtext.data import toy
from gmtext.data.images import digits
from gmtext.flows import digits_flow, mean_nll, realnvp, spline_flow, train_flow
from gmtext.metrics import bits_per_dim, kl_mc

#: (toy, model name, builder, learning rate)
TOY_RUNS = (
    ("grid25_wide", "spline-swap", lambda g: spline_flow(2, 2, bins=32, mixing="swap", generator=g),
     5e-3),
    ("ring8", "spline-rotation",
     lambda g: spline_flow(2, 4, bins=16, bound=4.0, mixing="rotation", generator=g), 5e-3),
    ("grid25", "spline-swap", lambda g: spline_flow(2, 2, bins=32, mixing="swap", generator=g),
     5e-3),
    ("grid25_wide", "affine-swap", lambda g: realnvp(2, 8, mixing="swap", generator=g), 1e-3),
    ("grid25_wide", "affine-rotation", lambda g: realnvp(2, 8, mixing="rotation", generator=g),
     1e-3),
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
    n_train = config.budget("flows.n_train", profile)
    n_test = config.budget("flows.n_test", profile)
    for name, model, build, lr in TOY_RUNS:
        gen = config.seed_everything(0)
        p = toy.load(name)
        flow = build(gen)
        hist = train_flow(flow, p.sample(n_train, generator=gen), steps, generator=gen,
                          batch_size=512, lr=lr, max_seconds=seconds, anneal=True,
                          progress=False)
        kl, se = kl_mc(p, flow.log_prob, n_test, gen)
        rows.append(_row(profile, model, name, "kl", kl, "nats", hist.wall_s, se=round(se, 5),
                         steps=len(hist.loss)))
        rows.append(_row(profile, model, name, "train_s", hist.wall_s, "s", hist.wall_s))
    return rows


def _digits(profile: str) -> list[dict]:
    gen = config.seed_everything(0)
    x_train, x_val, x_test = (digits(s).reshape(-1, 64) for s in ("train", "val", "test"))
    flow = digits_flow(dropout=0.5, generator=gen)
    hist = train_flow(flow, x_train, config.budget("flows.digits_steps", profile), generator=gen,
                      batch_size=128, lr=1e-3, dequantize_data=True, val=x_val, every=50,
                      patience=10, max_seconds=config.budget("flows.digits_seconds", profile),
                      progress=False)
    eval_gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    nll = sum(mean_nll(flow, x_test, eval_gen, True) for _ in range(4)) / 4
    eval_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        flow.sample(1000, generator=gen)
    sample_ms = 1e3 * (time.perf_counter() - start) / 1000
    return [
        _row(profile, "realnvp-dropout", "digits", "test_nll", nll, "nats/image", eval_s,
             kind="dequantized upper bound", steps=len(hist.loss)),
        _row(profile, "realnvp-dropout", "digits", "test_nll", bits_per_dim(nll, 64), "bits/dim",
             eval_s, kind="dequantized upper bound"),
        _row(profile, "realnvp-dropout", "digits", "train_s", hist.wall_s, "s", hist.wall_s),
        _row(profile, "realnvp-dropout", "digits", "sample_ms", sample_ms, "ms/image",
             sample_ms),
    ]


def run(profile: str) -> list[dict]:
    """All rows of the flow benchmark for ``profile`` (quick | default | full)."""
    torch.set_num_threads(1)
    return _toys(profile) + _digits(profile)      # one thread: faster on a shared machine
