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
    "density.n_test": (5000, 20000, 100000),      # fresh samples per KL estimate (conventions: >= 1e4)
    "density.em_restarts": (2, 3, 5),             # k-means restarts of EM and of mixture starts
    "density.anim_frames": (10, 30, 40),          # EM iterations shown in the chapter's animation
    "density.digits_em_iters": (50, 100, 200),    # EM iterations per mixture on the 64-D digits
    "density.digits_k_max": (100, 100, 150),      # largest number of components tried on the digits
    # section 1.x: autoregressive models (cosine schedule over the epochs; best val epoch kept)
    "autoregressive.epochs": (1, 20, 40),         # epochs of the PixelCNN on the digits
    "autoregressive.shallow_epochs": (1, 10, 30), # epochs of the FVSBN, NADE and MADE
    "autoregressive.seconds": (10, 600, 900),     # safety cap of each fit (the epochs decide)
    "autoregressive.samples": (16, 100, 400),     # digits drawn for the grid and the timing
    # chapter 2: variational autoencoders (early stopping on val ends training before the cap)
    "vae.steps": (200, 20000, 40000),             # step cap of the chapter's digit VAEs
    "vae.beta_steps": (100, 1500, 20000),         # step cap of each beta-VAE (rate-distortion)
    "vae.map_steps": (150, 1500, 20000),          # step cap of the VAE with a 2-D latent
    "vae.patience": (3, 20, 30),                  # val checks (every 50 steps) without gain
    "vae.iwae_k": (100, 1000, 5000),              # importance samples of the test IWAE bound
    "vae.samples": (200, 1000, 1000),             # digits per Frechet distance (sets of equal size)
    "vae.grad_samples": (1000, 20000, 100000),    # single-sample gradient estimates per estimator
    "vae.anim_frames": (6, 24, 40),               # frames of the interpolation animation
    # chapter 4: normalizing flows (steps are caps; the *_seconds rows bound wall time on 2 cores)
    "flows.toy_steps": (150, 1000, 10000),        # Adam steps of each 2-D spline flow (fresh samples each)
    "flows.ring_steps": (150, 800, 10000),        # Adam steps of the ring8 spline flow (6 layers: slower)
    "flows.affine_steps": (100, 600, 5000),       # Adam steps of each 2-D affine flow (the failure case)
    "flows.toy_seconds": (4, 240, 300),            # safety cap on each 2-D flow fit (steps decide)
    "flows.n_train": (5000, 50000, 200000),       # samples for the best single Gaussian on a toy
    "flows.n_test": (10000, 20000, 100000),       # samples per KL estimate (conventions: >= 1e4)
    "flows.digits_steps": (200, 20000, 50000),    # step cap of the digit flows (early stopping ends them)
    "flows.digits_seconds": (6, 55, 300),         # wall-time cap of the regularised digit flow
    "flows.overfit_seconds": (3, 10, 60),         # wall-time cap of the unregularised digit flow
    "flows.anim_points": (500, 2000, 4000),       # base samples in the layer-by-layer animations
    "flows.anim_steps": (1, 3, 4),                # interpolated frames between two layers
    "flows.bench_toy_steps": (300, 3000, 10000),  # Adam steps of each 2-D flow in benchmarks/flows.py
    "flows.bench_toy_seconds": (5, 300, 600),     # safety cap on each benchmark 2-D flow fit
    "flows.iw_samples": (8, 64, 256),             # noise draws of the importance-weighted bound
    "flows.bench_digits_seconds": (6, 90, 300),   # wall-time cap of each benchmark digit flow
    # chapter 3: generative adversarial networks
    "gan.dstar_steps": (600, 1500, 3000),         # Adam steps of the 1-D discriminator (vs D*)
    "gan.grid_steps": (400, 10000, 10000),        # generator steps of each grid25 GAN (more != better)
    "gan.grid_seconds": (30, 300, 1200),          # safety cap of each grid25 GAN (the steps decide)
    "gan.grid_min_modes": (0, 20, 20),            # modes of 25 the fix must cover (quick: untrained)
    "gan.anim_frames": (4, 25, 40),               # snapshots in the grid25 training animation
    "gan.bench_seeds": (1, 3, 5),                 # seeds of the grid25 benchmark
    "gan.digits_steps": (100, 2000, 6000),        # generator steps of the DCGAN
    "gan.cond_steps": (100, 1200, 6000),          # generator steps of the conditional GAN (learns faster)
    "gan.cycle_steps": (60, 600, 3000),           # steps of the CycleGAN
    "gan.cycle_ablation_steps": (60, 600, 3000),  # steps of the CycleGAN without its cycle term
    "gan.samples": (200, 1000, 1000),             # digits per Frechet distance (sets of equal size)
    # chapter 5: score matching
    "score.n_train": (5000, 20000, 100000),       # training samples drawn from a 2-D toy
    "score.n_eval": (50000, 50000, 200000),       # samples of each Monte Carlo identity check
    "score.particles": (500, 2500, 10000),        # Langevin particles on a toy (2,500: conventions)
    "score.langevin_steps": (100, 500, 2000),     # Langevin steps with the exact ring8 score
    "score.toy_steps": (150, 600, 5000),          # Adam steps of the implicit / sliced 2-D score models
    "score.dsm_steps": (600, 2000, 5000),         # Adam steps of the single-level 2-D DSM model
    "score.ncsn_steps": (300, 3000, 10000),       # Adam steps of each 2-D noise-conditional model
    "score.toy_seconds": (4, 22, 120),            # wall-time cap of each 2-D fit
    "score.steps_per_level": (10, 50, 100),       # annealed Langevin steps per noise level, toys
    "score.digits_steps": (100, 1100, 8000),      # Adam steps of the digit score network
    "score.digits_seconds": (8, 150, 600),        # safety cap of the digit score network (steps decide)
    "score.digits_samples": (100, 500, 2000),     # generated digits for the Frechet distance
    "score.digits_steps_per_level": (5, 20, 40),  # annealed Langevin steps per level, digits
    # chapter 6: diffusion models
    "diffusion.toy_steps": (300, 2600, 20000),        # Adam steps of each 2-D epsilon-network
    "diffusion.toy_seconds": (4, 240, 300),            # safety cap of each 2-D fit (steps decide)
    "diffusion.digits_steps": (200, 1400, 20000),     # Adam steps of the digit epsilon-network
    "diffusion.digits_seconds": (5, 300, 600),         # safety cap of the digit fit (steps decide)
    "diffusion.n_test": (2000, 10000, 20000),         # samples per PF-ODE KL (conventions: >= 1e4)
    "diffusion.ode_steps": (20, 25, 100),             # RK4 steps of the PF-ODE likelihood
    "diffusion.bench_ode_steps": (20, 100, 200),      # RK4 steps of the benchmark PF-ODE likelihood
    "diffusion.n_samples": (200, 1000, 2000),         # generated digits per Frechet distance
    "diffusion.ref_steps": (100, 250, 1000),          # DDPM steps of the notebook reference (benchmark: 1000)
    "diffusion.anim_frames": (6, 30, 50),             # frames of the reverse-process animations
    "diffusion.bench_toy_steps": (300, 30000, 50000), # Adam steps of each benchmark 2-D fit
    "diffusion.bench_toy_seconds": (5, 900, 1800),    # safety cap of each benchmark 2-D fit (steps decide)
    "diffusion.bench_digits_steps": (200, 5000, 40000),   # Adam steps of the benchmark digit fit
    "diffusion.bench_digits_seconds": (5, 600, 1800),  # safety cap of the benchmark digit fit
    # chapter 6, flow matching and discrete likelihood section
    "fm.toy_steps": (300, 1500, 10000),           # Adam steps of each 2-D velocity / epsilon network
    "fm.toy_seconds": (4, 240, 300),               # safety wall-time cap of each 2-D fit
    "fm.n_samples": (500, 2000, 5000),            # samples per sampler and NFE on the toy (MMD)
    "fm.n_test": (1000, 4000, 20000),             # fresh points of the ODE-likelihood KL
    "fm.ode_steps": (20, 50, 100),                # RK4 steps of the ODE likelihood
    "fm.bench_n_test": (1000, 10000, 20000),      # benchmark KL test points (conventions: >= 1e4)
    "fm.digits_steps": (150, 1500, 20000),        # Adam steps of the digit velocity / epsilon nets
    "fm.digits_seconds": (4, 240, 300),            # safety wall-time cap of each digit fit
    "fm.digit_samples": (300, 1000, 2000),        # generated digits per sampler and NFE (Frechet)
    "vdm.steps": (60, 1000, 5000),                # step cap of the discrete-aware VDM (early stopping)
    "vdm.seconds": (6, 400, 600),                 # safety wall-time cap of the discrete-aware VDM
    "vdm.eps_steps": (40, 500, 5000),             # step cap of the plain epsilon VDM
    "vdm.eps_seconds": (3, 240, 300),              # safety wall-time cap of the plain epsilon VDM
    "vdm.patience": (2, 3, 6),                    # val checks (every 100 steps) without gain
    "vdm.repeats": (2, 8, 32),                    # Monte Carlo repeats of the test bound per image
    "vdm.bench_seconds": (10, 600, 1200),         # safety wall-time cap of each benchmark VDM fit
    "vdm.bench_seeds": (1, 3, 5),                 # seeds of the benchmark VDM fits
    # chapter 7: the unified perspective (exact mixture oracles everywhere but one small network)
    "unified.elbo_points": (100, 1000, 2000),     # data points of the hierarchical-ELBO estimators
    "unified.elbo_repeats": (4, 8, 16),           # draws per point (the variance given the point)
    "unified.elbo_steps": (20, 100, 200),         # latent steps T of the hierarchical ELBO
    "unified.mc_n": (50000, 1000000, 4000000),    # samples of each continuous-loss estimate
    "unified.lt_points": (300, 5000, 20000),      # points of the L_T sequence (common noise)
    "unified.toy_steps": (300, 4000, 10000),      # Adam steps of the one trained ring8 network
    "unified.toy_seconds": (6, 240, 300),          # safety cap of that fit (steps decide)
    "unified.n_samples": (500, 2000, 5000),       # samples drawn through every view of the network
    # chapter 8: conditional generation (one cached class-conditional digit model, shared later)
    "conditional.steps": (100, 3000, 20000),      # Adam steps of the class-conditional epsilon-network
    "conditional.samples": (200, 1000, 2000),     # samples per guidance weight (Frechet distance, P/R)
    "conditional.sample_steps": (10, 20, 100),    # DDIM steps per sample (guidance sweep, SDEdit)
    "conditional.classifier_steps": (50, 800, 5000),    # AdamW steps of the noisy-digit classifier
    "conditional.cg_samples": (50, 500, 2000),    # samples per classifier-guidance scale
    "conditional.toy_samples": (500, 2000, 20000),   # samples per guidance weight on the 2-D toy
    "conditional.toy_steps": (30, 100, 500),      # DDPM / DDIM steps on the 2-D toy (exact epsilons)
    "conditional.frames": (3, 9, 17),             # guidance weights in the slider and its animation
    # chapter 9: inverse problems (one cached digit prior shared with later chapters)
    "inverse.prior_steps": (150, 1000, 20000),    # Adam steps of the digit diffusion prior (cached)
    "inverse.prior_seconds": (8, 400, 600),        # safety cap of the prior's fit (steps decide)
    "inverse.n_test": (8, 32, 447),               # test digits per task
    "inverse.k_samples": (4, 8, 32),              # posterior samples per test digit
    "inverse.steps": (20, 100, 1000),             # sampler steps on the 1,000-step grid
    "inverse.exact_n": (1000, 4000, 20000),       # (x, y) pairs of the exact Gaussian check
    "inverse.exact_steps": (30, 100, 500),        # sampler steps in the exact Gaussian check
    # chapter 10: the trilemma (few-step samplers; every network cached in the model store)
    "trilemma.teacher_steps": (200, 1500, 20000),     # Adam steps of the digit v-teacher
    "trilemma.distil_from": (8, 64, 128),             # DDIM steps of the teacher the first student halves
    "trilemma.stage_steps": (40, 400, 4000),          # Adam steps of each halving (digits)
    "trilemma.samples": (200, 1000, 2000),            # digits per Frechet distance
    "trilemma.toy_teacher_steps": (300, 3000, 20000), # Adam steps of the grid25 v-teacher
    "trilemma.toy_from": (4, 16, 64),                 # DDIM steps of the grid25 teacher the first student halves
    "trilemma.toy_stage_steps": (50, 600, 4000),      # Adam steps of each halving (grid25)
    "trilemma.reflow_pairs": (2000, 20000, 100000),   # (noise, endpoint) pairs of the exact grid25 flow
    "trilemma.reflow_ode_steps": (50, 200, 500),      # Euler steps of the exact flow that makes the pairs
    "trilemma.reflow_steps": (200, 3000, 20000),      # Adam steps of the reflow network
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


def generator(seed: int, device: str | torch.device | None = None) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` (CPU when ``None``) seeded with ``seed``.

    Noise in gmtext is drawn on the generator's device and then moved to the data's device, so a
    CPU generator gives the same numbers whether the model runs on the CPU or on a GPU (at the cost
    of one copy per draw); a generator on the GPU saves the copy but draws another stream.

    Example:
        >>> generator(0).device.type, torch.equal(torch.rand(2, generator=generator(0)),
        ...                                       torch.rand(2, generator=generator(0)))
        ('cpu', True)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator(device=torch.device("cpu") if device is None else device).manual_seed(seed)


def generator_device(generator: torch.Generator | None) -> torch.device:
    """Where ``generator`` draws: its device, or the CPU for ``None`` (torch's default generator).

    Pass it as ``device=`` of every ``torch.rand*`` call that takes ``generator=``, then move the
    draw to the data with ``.to(x.device)``: the rule that keeps CPU and GPU runs on one stream.
    """
    return torch.device("cpu") if generator is None else generator.device


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
