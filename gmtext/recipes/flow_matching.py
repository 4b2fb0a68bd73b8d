r"""Section 6.x's comparison of a flow-matching and a diffusion network at equal numbers of network calls.

Shared by the chapter and its benchmark: both networks start from the same noise, and each is
sampled by its usual first- and second-order samplers at the same NFE.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gmtext.diffusion.ddpm import DiscreteSchedule
from gmtext.diffusion.process import Model
from gmtext.diffusion.samplers import DDIMSampler, sample, time_grid
from gmtext.diffusion.schedules import Schedule
from gmtext.diffusion.sde import probability_flow_velocity
from gmtext.ode import odeint

__all__ = ["equal_nfe_samples"]


def equal_nfe_samples(velocity_model: Model, diffusion_model: Model, schedule: Schedule, noise: Tensor,
                      nfes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> dict[str, dict[int, Tensor]]:
    r"""Samples of a flow-matching and a diffusion network from the *same* noise at equal NFE.

    - ``"FM Euler"``: :math:`x \leftarrow x + h\,u_\theta(x, s)` from :math:`s = 0` to 1;
    - ``"FM Heun"``: Heun's method, 2 network calls per step (even NFE only);
    - ``"DDIM"``: deterministic DDIM (:math:`\eta = 0`) on the 1,000-step grid of ``schedule``,
      the usual first-order sampler of an :math:`\varepsilon`-network;
    - ``"PF-ODE Heun"``: the probability-flow ODE with Heun's method (even NFE only).

    ``noise`` ``(N, D)`` is the starting point of every sampler (:math:`s = 0` of the flow,
    :math:`t = 1` of the diffusion). Returns ``{sampler: {nfe: samples (N, D)}}``.
    """
    ddim = DDIMSampler(DiscreteSchedule.from_continuous(schedule, 1000), eta=0.0)
    pf_field = probability_flow_velocity(diffusion_model, schedule)
    out: dict[str, dict[int, Tensor]] = {"FM Euler": {}, "FM Heun": {}, "DDIM": {}, "PF-ODE Heun": {}}
    with torch.no_grad():
        for n in nfes:
            out["FM Euler"][n] = odeint(velocity_model, noise, torch.linspace(0, 1, n + 1), "euler")
            out["DDIM"][n] = sample(diffusion_model, ddim, tuple(noise.shape), n, x_init=noise)
            if n % 2 == 0:
                out["FM Heun"][n] = odeint(velocity_model, noise, torch.linspace(0, 1, n // 2 + 1), "heun")
                out["PF-ODE Heun"][n] = odeint(pf_field, noise, time_grid(n // 2).flip(0).to(noise.dtype),
                                               "heun")
    return out
