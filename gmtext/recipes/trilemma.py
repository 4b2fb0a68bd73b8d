r"""Chapter 10's few-step samplers: a digit teacher and its progressive distillation, a grid25 teacher, reflow.

Shared by the chapter and ``benchmarks/trilemma.py``; every trained network goes through the model
store (:mod:`gmtext.store`), so a chapter loads them and still reports how long each took to train.

- :func:`digit_teacher`: a time-conditioned MLP (the architecture of chapter 9's prior,
  :func:`gmtext.recipes.inverse.digit_prior`) trained on the train digits, scaled by
  ``scale_digits(x, "signed_bins")``, on the cosine path with the :math:`v` target. Chapter 9's prior
  predicts :math:`\varepsilon` on the VP path, and an :math:`\varepsilon`-network has no
  :math:`\hat x_0` at :math:`\alpha_1 = 0`, the first step of a one-step sampler; progressive
  distillation needs :math:`v` or :math:`x_0` (Salimans & Ho 2022, arXiv:2202.00512, section 4).
- :func:`digit_students`: :func:`gmtext.diffusion.distillation.progressive_distillation` of that
  teacher from ``trilemma.distil_from`` DDIM steps down to one.
- :func:`grid_teacher`, :func:`grid_students`: the same on ``grid25`` (points scaled by
  :data:`GRID_SCALE`), and :func:`grid_reflow`: reflow (Liu et al. 2023, arXiv:2209.03003) of the
  *exact* ``grid25`` velocity (:func:`gmtext.diffusion.flow_matching.mixture_velocity`).

Samplers: :func:`gmtext.diffusion.distillation.distilled_sampler` (deterministic DDIM on the uniform
grid ending at t = 0, :math:`\hat x_0` clamped to the data range for the digits).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import Tensor, nn

from gmtext import config, store
from gmtext.data import toy
from gmtext.data.images import digits, scale_digits, unscale_digits
from gmtext.diffusion import distillation, training
from gmtext.diffusion.flow_matching import mixture_velocity
from gmtext.diffusion.samplers import sample
from gmtext.diffusion.schedules import CosineSchedule
from gmtext.nn import ConditionalMLP
from gmtext.nn.unet import FlatImageModel

__all__ = ["SCHEDULE", "SEED", "GRID_SCALE", "digit_teacher", "digit_students", "digit_samples",
           "grid_teacher", "grid_students", "grid_reflow", "grid_samples"]

SCHEDULE = CosineSchedule()     #: the path of every diffusion network here (v target)
SEED = 0
GRID_SCALE = 0.5                #: grid25 points are modelled as y = GRID_SCALE * x
_VERSION = [sys.modules[__name__], distillation, training]


def _seeded(build: Any) -> Any:
    with torch.random.fork_rng(devices=[]):                      # seeded init, caller's RNG kept
        torch.manual_seed(SEED)
        return build()


def _digit_net() -> nn.Module:
    return _seeded(lambda: FlatImageModel(ConditionalMLP(64, 64, hidden=512, layers=3), (1, 8, 8)))


def _grid_net() -> nn.Module:
    return _seeded(lambda: ConditionalMLP(2, hidden=256, layers=3))


def _signed(x: Tensor, g: torch.Generator) -> Tensor:
    return scale_digits(x, "signed_bins", g).y


def _teacher(name: str, build: Any, data: Any, steps: int, transform: Any, profile: str | None,
             progress: bool) -> tuple[nn.Module, store.StoreRecord]:
    def train(module: nn.Module) -> dict:
        gen = torch.Generator().manual_seed(SEED)
        with torch.enable_grad():
            ema, history = training.train_diffusion(module, SCHEDULE, data, steps, gen, batch_size=128,
                                                    lr=2e-3, prediction_type="v_prediction", transform=transform,
                                                    progress=progress, desc=name)
        module.load_state_dict(ema.state_dict())
        return {"steps_done": len(history.loss)}

    model, record = store.cached(name, build, train, args={"steps": steps, "seed": SEED}, profile=profile,
                                 version_of=[sys.modules[__name__], training])
    return model.eval().requires_grad_(False), record


def _students(name: str, teacher: nn.Module, build: Any, data: Any, start: int, stage_steps: int, lr: float,
              clip: float | None, transform: Any, profile: str | None,
              progress: bool) -> tuple[dict[int, nn.Module], store.StoreRecord]:
    halvings = start.bit_length() - 1                             # start = 2^halvings

    def train(students: nn.ModuleList) -> dict:
        with torch.enable_grad():
            stages = distillation.progressive_distillation(
                teacher, SCHEDULE, data, start, stage_steps, torch.Generator().manual_seed(SEED), lr=lr,
                clip_sample=clip, transform=transform, batch_size=128, progress=progress)
        for module, stage in zip(students, stages):
            module.load_state_dict(stage.student.state_dict())
        return {"stage_seconds": {str(s.num_steps): round(s.seconds, 3) for s in stages}}

    modules, record = store.cached(name, lambda: nn.ModuleList(build() for _ in range(halvings)), train,
                                   args={"teacher_key": getattr(teacher, "_store_key", ""), "from": start,
                                         "stage_steps": stage_steps, "lr": lr, "seed": SEED},
                                   profile=profile, version_of=_VERSION)
    modules.eval().requires_grad_(False)
    return {start >> (i + 1): m for i, m in enumerate(modules)}, record


def digit_teacher(profile: str | None = None, progress: bool = True) -> tuple[nn.Module, store.StoreRecord]:
    """The digit :math:`v`-network (module docstring), eval mode, frozen; budget ``trilemma.teacher_steps``."""
    model, record = _teacher("trilemma_digit_teacher", _digit_net, digits("train"),
                             int(config.budget("trilemma.teacher_steps", profile)), _signed, profile, progress)
    model._store_key = record.key
    return model, record


def digit_students(teacher: nn.Module, profile: str | None = None,
                   progress: bool = True) -> tuple[dict[int, nn.Module], store.StoreRecord]:
    """``{num_steps: student}`` for num_steps = N/2, ..., 1 (N = ``trilemma.distil_from``), and the store record
    (``record.info["stage_seconds"]``: the training time of each halving)."""
    return _students("trilemma_digit_students", teacher, _digit_net, digits("train"),
                     int(config.budget("trilemma.distil_from", profile)),
                     int(config.budget("trilemma.stage_steps", profile)), 5e-4, 1.0, _signed, profile, progress)


def digit_samples(model: nn.Module, n: int, num_steps: int, generator: torch.Generator) -> Tensor:
    """``n`` digits ``(n, 1, 8, 8)`` on the 0..16 scale from ``num_steps`` DDIM steps of a teacher or student."""
    y = sample(model, distillation.distilled_sampler(SCHEDULE, clip_sample=1.0), (n, 1, 8, 8), num_steps,
               generator)
    return unscale_digits(y)


def _grid_points(n: int, generator: torch.Generator) -> Tensor:
    return GRID_SCALE * toy.load("grid25").sample(n, generator=generator).float()


def grid_teacher(profile: str | None = None, progress: bool = True) -> tuple[nn.Module, store.StoreRecord]:
    """A :math:`v`-network on ``grid25`` (scaled by :data:`GRID_SCALE`); budget ``trilemma.toy_teacher_steps``."""
    model, record = _teacher("trilemma_grid_teacher", _grid_net, _grid_points,
                             int(config.budget("trilemma.toy_teacher_steps", profile)), None, profile, progress)
    model._store_key = record.key
    return model, record


def grid_students(teacher: nn.Module, profile: str | None = None,
                  progress: bool = True) -> tuple[dict[int, nn.Module], store.StoreRecord]:
    """Progressive distillation of :func:`grid_teacher` from ``trilemma.toy_from`` steps to one."""
    return _students("trilemma_grid_students", teacher, _grid_net, _grid_points,
                     int(config.budget("trilemma.toy_from", profile)),
                     int(config.budget("trilemma.toy_stage_steps", profile)), 1e-3, None, None, profile, progress)


def grid_reflow(profile: str | None = None, progress: bool = True) -> tuple[nn.Module, store.StoreRecord]:
    """A flow network :math:`u(y, s)` trained by reflow on pairs (noise, endpoint of the exact ``grid25`` flow).

    The exact velocity of the scaled grid is integrated with ``trilemma.reflow_ode_steps`` Euler steps
    from ``trilemma.reflow_pairs`` noise draws; the network trains ``trilemma.reflow_steps`` steps.
    """
    n_pairs, ode_steps = int(config.budget("trilemma.reflow_pairs", profile)), int(config.budget(
        "trilemma.reflow_ode_steps", profile))
    steps = int(config.budget("trilemma.reflow_steps", profile))
    grid = toy.load("grid25")
    scaled = toy.GaussianMixture(GRID_SCALE * grid.means, GRID_SCALE * grid.stds, grid.weights, "grid25 scaled")

    def train(module: nn.Module) -> dict:
        gen = torch.Generator().manual_seed(SEED)
        noise = torch.randn(n_pairs, 2, generator=gen)
        ends = distillation.flow_trajectory(lambda y, s: mixture_velocity(scaled, y, s), noise, ode_steps)[0][-1]
        with torch.enable_grad():
            ema, history = distillation.reflow(module, noise, ends, steps, gen, progress=progress)
        module.load_state_dict(ema.state_dict())
        return {"steps_done": len(history.loss)}

    model, record = store.cached("trilemma_grid_reflow", _grid_net, train, profile=profile, version_of=_VERSION,
                                 args={"pairs": n_pairs, "ode_steps": ode_steps, "steps": steps, "seed": SEED})
    return model.eval().requires_grad_(False), record


def grid_samples(model: nn.Module, n: int, num_steps: int, generator: torch.Generator,
                 flow: bool = False) -> Tensor:
    """``n`` grid25 points ``(n, 2)`` (original scale) from ``num_steps`` calls: DDIM for a :math:`v`-network,
    Euler from noise for a flow network (``flow=True``)."""
    if flow:
        noise = torch.randn(n, 2, generator=generator)
        y = distillation.flow_trajectory(model, noise, num_steps)[0][-1]
    else:
        y = sample(model, distillation.distilled_sampler(SCHEDULE), (n, 2), num_steps, generator)
    return y / GRID_SCALE
