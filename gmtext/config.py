"""Run profile, device choice and seeding: the one place that sets training budgets.

``GMTEXT_PROFILE`` selects a column of :data:`BUDGETS`:

- ``quick``: smoke run, every notebook in about 30 s on 2 CPU cores;
- ``default``: what a reader, CI and the book build get, every notebook in at most 180 s on 2 CPU cores;
- ``full``: for a GPU, bigger budgets and the best figures.

Chapters read their budgets with :func:`budget`, never with their own ``if profile == ...``
branches, so one table says what every profile costs.

Example:
    >>> from gmtext import config
    >>> config.budget("density.gd_steps", profile="quick")
    300
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

#: The run profiles, in the order of the columns of :data:`BUDGETS`.
PROFILES: tuple[str, ...] = ("quick", "default", "full")

#: Training budgets, one row ``name -> (quick, default, full)`` each. Chapters add their rows here.
BUDGETS: dict[str, tuple[int | float, int | float, int | float]] = {
    # chapter 1: density estimation
    "density.gd_steps": (300, 2000, 4000),        # gradient-ascent steps for Gaussian / mixture MLE
    "density.em_iters": (30, 200, 400),           # EM iterations
    "density.n_train": (2000, 5000, 20000),       # training samples drawn from a toy
    "density.n_test": (5000, 20000, 100000),      # fresh test samples for KL estimates (DATA.md: >= 1e4)
    "density.em_restarts": (2, 3, 5),             # k-means restarts of EM and of mixture starts
    "density.anim_frames": (10, 30, 40),          # EM iterations shown in the chapter's animation
    "density.digits_em_iters": (50, 100, 200),    # EM iterations per mixture on the 64-D digits
    "density.digits_k_max": (100, 100, 150),      # largest number of components tried on the digits
    # chapter 2: variational autoencoders (early stopping on val ends training before the cap)
    "vae.steps": (200, 20000, 40000),             # step cap of the chapter's digit VAEs
    "vae.beta_steps": (100, 1500, 20000),         # step cap of each beta-VAE (rate-distortion)
    "vae.map_steps": (150, 1500, 20000),          # step cap of the VAE with a 2-D latent
    "vae.patience": (3, 20, 30),                  # val checks (every 50 steps) without gain
    "vae.iwae_k": (100, 1000, 5000),              # importance samples of the test IWAE bound
    "vae.samples": (200, 1000, 2000),             # generated digits for the Frechet distance
    "vae.grad_samples": (1000, 20000, 100000),    # single-sample gradient estimates per estimator
    "vae.anim_frames": (6, 24, 40),               # frames of the interpolation animation
    # chapter 4: normalizing flows (steps are caps; the *_seconds rows bound wall time on 2 cores)
    "flows.toy_steps": (150, 3000, 20000),        # Adam steps of each 2-D flow
    "flows.toy_seconds": (2, 15, 120),            # wall-time cap of each 2-D flow fit
    "flows.n_train": (5000, 50000, 200000),       # training samples drawn from a toy
    "flows.n_test": (10000, 20000, 100000),       # fresh samples of each KL estimate (DATA.md: >= 1e4)
    "flows.digits_steps": (200, 20000, 50000),    # step cap of the digit flows (early stopping ends them)
    "flows.digits_seconds": (6, 55, 300),         # wall-time cap of the regularised digit flow
    "flows.overfit_seconds": (3, 10, 60),         # wall-time cap of the unregularised digit flow
    "flows.anim_points": (500, 2000, 4000),       # base samples in the layer-by-layer animations
    "flows.anim_steps": (1, 3, 4),                # interpolated frames between two layers
    "flows.bench_toy_steps": (300, 20000, 50000), # Adam steps of each 2-D flow in benchmarks/flows.py
    "flows.bench_toy_seconds": (5, 60, 300),      # wall-time cap of each benchmark 2-D flow fit
    # chapter 3: generative adversarial networks
    # chapter 5: score matching
    # chapter 6: diffusion models
    # chapter 6, flow matching and discrete likelihood section
    # shared digit classifier behind the Frechet distance (metrics)
    "classifier.epochs": (60, 60, 60),            # the same network in every profile: one cached file
}


def profile() -> str:
    """The active run profile, from the ``GMTEXT_PROFILE`` environment variable (default ``default``).

    Raises:
        ValueError: if the variable names no known profile.
    """
    name = os.environ.get("GMTEXT_PROFILE", "default").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"GMTEXT_PROFILE={name!r} is not a profile; expected one of {PROFILES}")
    return name


def budget(key: str, profile: str | None = None) -> int | float:
    """The budget ``key`` for ``profile`` (the active profile when ``None``).

    Raises:
        KeyError: for an unknown key, listing the known ones.
        ValueError: for an unknown profile.
    """
    if key not in BUDGETS:
        raise KeyError(f"unknown budget {key!r}; known budgets: {sorted(BUDGETS)}")
    name = _profile_or_active(profile)
    return BUDGETS[key][PROFILES.index(name)]


def _profile_or_active(name: str | None) -> str:
    if name is None:
        return profile()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of {PROFILES}")
    return name


def device(prefer: str | None = None) -> torch.device:
    """The device to compute on: CUDA when present, else CPU.

    ``prefer`` (or the ``GMTEXT_DEVICE`` environment variable) forces a choice, e.g. ``"cpu"``.

    Raises:
        ValueError: if a CUDA device is requested on a machine without one.
    """
    choice = prefer or os.environ.get("GMTEXT_DEVICE")
    if choice is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(choice)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} requested but CUDA is not available; use 'cpu'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a fresh CPU ``torch.Generator`` seeded with ``seed``.

    gmtext functions take the returned generator explicitly; the global seeds only make
    third-party code (weight initialisation, dropout) reproducible as well.

    Example:
        >>> a = torch.rand(3, generator=seed_everything(0))
        >>> b = torch.rand(3, generator=seed_everything(0))
        >>> torch.equal(a, b)
        True
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cache_dir() -> Path:
    """Folder for cached checkpoints: ``GMTEXT_CACHE`` or ``~/.cache/gmtext`` (created on demand)."""
    path = Path(os.environ.get("GMTEXT_CACHE", Path.home() / ".cache" / "gmtext")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
