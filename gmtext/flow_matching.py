r"""Conditional flow matching: learn the velocity of a path of densities from noise to data.

Lipman et al., "Flow Matching for Generative Modeling", ICLR 2023 (arXiv:2210.02747); Liu et al.,
"Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow", ICLR 2023
(arXiv:2209.03003); Albergo and Vanden-Eijnden, "Building Normalizing Flows with Stochastic
Interpolants", ICLR 2023 (arXiv:2209.15571).

Convention of this module (that of the flow-matching papers, *opposite* to the diffusion
chapters): :math:`t = 0` is noise, :math:`x_0 \sim \mathcal N(0, I)`, and :math:`t = 1` is data,
:math:`x_1 \sim p_{\text{data}}`. An affine path (:class:`AffinePath`) interpolates

.. math:: x_t = \alpha_t x_1 + \sigma_t x_0, \qquad
          u_t(x_0, x_1) = \frac{d x_t}{dt} = \dot\alpha_t x_1 + \dot\sigma_t x_0,

with :math:`\alpha_0 = 0, \sigma_0 = 1` and :math:`\alpha_1 = 1, \sigma_1 = 0`. The linear
("rectified flow") path has :math:`\alpha_t = t, \sigma_t = 1 - t` and the constant target
:math:`u = x_1 - x_0`. The conditional flow-matching loss

.. math:: \mathcal L_{\mathrm{CFM}}(\theta) = \mathbb E_{t, x_0, x_1}
          \big\|v_\theta(x_t, t) - u_t(x_0, x_1)\big\|^2

has the same gradient as a regression on the *marginal* velocity
:math:`v^\star(x, t) = \mathbb E[u_t(x_0, x_1) \mid x_t = x]`, which is therefore its minimiser;
the ODE :math:`\dot x = v^\star(x, t)` carries :math:`\mathcal N(0, I)` at :math:`t=0` to the data
at :math:`t=1`. Derived in chapter 6 (section "Flow matching and the likelihood of discrete data").

Example:
    >>> import torch
    >>> path = linear_path()
    >>> x0, x1 = torch.zeros(1, 2), torch.ones(1, 2)
    >>> path.sample(x0, x1, torch.tensor([0.25])), path.target(x0, x1, torch.tensor([0.25]))
    (tensor([[0.2500, 0.2500]]), tensor([[1., 1.]]))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion.samplers import DDIMSampler, sample_ode
from gmtext.diffusion.schedules import DiscreteSchedule, VPSchedule
from gmtext.ode import odeint
from gmtext.train import EMA, History, fit

__all__ = ["AffinePath", "linear_path", "cosine_path", "cfm_loss", "train_flow_matching",
           "mixture_velocity", "equal_nfe_samples", "straightness", "path_length_ratio"]

Schedule = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class AffinePath:
    r"""The path :math:`x_t = \alpha_t x_1 + \sigma_t x_0` with its time derivatives.

    Attributes:
        alpha, sigma: :math:`t \mapsto \alpha_t, \sigma_t` on tensors of times ``(B,)``.
        d_alpha, d_sigma: their derivatives :math:`\dot\alpha_t, \dot\sigma_t`.
        name: a label.
    """

    alpha: Schedule
    sigma: Schedule
    d_alpha: Schedule
    d_sigma: Schedule
    name: str = "affine"

    def _coefficients(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        t = _check_times(t, x)[:, None]                                    # (B, 1)
        return self.alpha(t), self.sigma(t), self.d_alpha(t), self.d_sigma(t)

    def sample(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        r""":math:`x_t = \alpha_t x_1 + \sigma_t x_0` for noise ``x0``, data ``x1`` ``(B, D)``, times ``(B,)``."""
        _check_pair(x0, x1)
        a, s, _, _ = self._coefficients(t, x1)
        return a * x1 + s * x0

    def target(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        r"""The conditional velocity :math:`u_t = \dot\alpha_t x_1 + \dot\sigma_t x_0`, ``(B, D)``."""
        _check_pair(x0, x1)
        _, _, da, ds = self._coefficients(t, x1)
        return da * x1 + ds * x0

    def velocity_to_data(self, v: Tensor, x: Tensor, t: Tensor) -> Tensor:
        r"""The data prediction :math:`\hat x_1` of a velocity :math:`v` at :math:`(x_t, t)`.

        Solving :math:`x = \alpha\hat x_1 + \sigma\hat x_0`, :math:`v = \dot\alpha\hat x_1 +
        \dot\sigma\hat x_0` for :math:`\hat x_1`: :math:`\hat x_1 = (\dot\sigma x - \sigma v)/
        (\alpha\dot\sigma - \sigma\dot\alpha)`; for the linear path :math:`\hat x_1 = x + (1-t)v`.
        """
        a, s, da, ds = self._coefficients(t, x)
        return (ds * x - s * v) / (a * ds - s * da)

    def velocity_to_noise(self, v: Tensor, x: Tensor, t: Tensor) -> Tensor:
        r"""The noise prediction :math:`\hat x_0 = (\alpha v - \dot\alpha x)/(\alpha\dot\sigma -
        \sigma\dot\alpha)` (the diffusion chapters' :math:`\hat\varepsilon`); linear path: :math:`x - tv`."""
        a, s, da, ds = self._coefficients(t, x)
        return (a * v - da * x) / (a * ds - s * da)

    def data_to_velocity(self, x1_hat: Tensor, x: Tensor, t: Tensor) -> Tensor:
        r""":math:`v = \dot\alpha\hat x_1 + \dot\sigma(x - \alpha\hat x_1)/\sigma` (needs :math:`\sigma_t > 0`)."""
        a, s, da, ds = self._coefficients(t, x)
        return da * x1_hat + ds * (x - a * x1_hat) / s

    def noise_to_velocity(self, x0_hat: Tensor, x: Tensor, t: Tensor) -> Tensor:
        r""":math:`v = \dot\alpha(x - \sigma\hat x_0)/\alpha + \dot\sigma\hat x_0` (needs :math:`\alpha_t > 0`)."""
        a, s, da, ds = self._coefficients(t, x)
        return da * (x - s * x0_hat) / a + ds * x0_hat

    def velocity_to_score(self, v: Tensor, x: Tensor, t: Tensor) -> Tensor:
        r"""The score :math:`\nabla\log p_t(x) = -\hat x_0/\sigma_t` (Tweedie; needs :math:`\sigma_t > 0`)."""
        _, s, _, _ = self._coefficients(t, x)
        return -self.velocity_to_noise(v, x, t) / s


def linear_path() -> AffinePath:
    r"""The rectified-flow / optimal-transport path :math:`x_t = t\,x_1 + (1-t)\,x_0`, target :math:`x_1 - x_0`."""
    return AffinePath(alpha=lambda t: t, sigma=lambda t: 1 - t,
                      d_alpha=torch.ones_like, d_sigma=lambda t: -torch.ones_like(t),
                      name="linear")


def cosine_path() -> AffinePath:
    r"""A variance-preserving path :math:`\alpha_t = \sin(\pi t/2)`, :math:`\sigma_t = \cos(\pi t/2)`.

    :math:`\alpha_t^2 + \sigma_t^2 = 1` as in a VP diffusion (the "trigonometric interpolant" of
    Albergo and Vanden-Eijnden 2023); its trajectories are curved.
    """
    h = math.pi / 2
    return AffinePath(alpha=lambda t: torch.sin(h * t), sigma=lambda t: torch.cos(h * t),
                      d_alpha=lambda t: h * torch.cos(h * t), d_sigma=lambda t: -h * torch.sin(h * t),
                      name="cosine")


def cfm_loss(model: nn.Module, x1: Tensor, generator: torch.Generator | None = None,
             path: AffinePath | None = None, x0: Tensor | None = None) -> Tensor:
    r"""The conditional flow-matching loss of a batch of data ``x1`` ``(B, D)``, a scalar.

    .. math:: \frac1B\sum_b \big\|v_\theta(x_{t_b}, t_b) - u_{t_b}(x_{0,b}, x_{1,b})\big\|^2,
              \quad t_b \sim U(0, 1),\ x_{0,b}\sim\mathcal N(0, I)

    Lipman et al. (2023), eq. (9). ``x0`` may be given (a coupling, as in reflow: Liu et al. 2023);
    by default it is fresh noise. ``model(x, t)`` returns the velocity ``(B, D)``.
    """
    path = linear_path() if path is None else path
    if not isinstance(x1, Tensor) or x1.ndim != 2:
        raise ValueError(f"x1 must be a tensor (B, D) of data, got "
                         f"{tuple(x1.shape) if isinstance(x1, Tensor) else type(x1).__name__}")
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator).to(x1)
    t = torch.rand(x1.shape[0], generator=generator).to(x1)
    xt = path.sample(x0, x1, t)                                            # (B, D)
    return (model(xt, t) - path.target(x0, x1, t)).pow(2).sum(-1).mean()


def train_flow_matching(model: nn.Module, data: Tensor, steps: int, *,
                        generator: torch.Generator, path: AffinePath | None = None,
                        batch_size: int = 256, lr: float = 2e-3, ema_decay: float = 0.999,
                        max_seconds: float | None = None,
                        progress: bool = True) -> tuple[nn.Module, History]:
    r"""Minimise :func:`cfm_loss` over ``data`` ``(N, D)`` with Adam (cosine-decayed learning rate).

    The same recipe as :func:`gmtext.diffusion.training.train_diffusion` (batches drawn with
    replacement, cosine decay to lr/20, an EMA of the weights), so that a flow-matching and a
    diffusion network trained for the same steps compare fairly.

    Returns:
        ``(ema_model, history)``: the averaged network in eval mode and the loss history.
    """
    if not isinstance(data, Tensor) or data.ndim != 2 or data.shape[0] < batch_size:
        raise ValueError(f"data must be a tensor (N, D) with N >= batch_size={batch_size}, got "
                         f"{tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
    ema = EMA(model, ema_decay)
    draw = lambda step: data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)]  # noqa: E731
    history = fit(lambda x1: cfm_loss(model, x1, generator, path), opt, draw, steps, model=model,
                  ema=ema, callbacks=[lambda *args: decay.step()], max_seconds=max_seconds,
                  progress=progress, desc=f"flow matching ({(path or linear_path()).name})")
    return ema.shadow.eval(), history


def mixture_velocity(mixture: GaussianMixture, x: Tensor, t: Tensor,
                     path: AffinePath | None = None) -> Tensor:
    r"""The exact marginal velocity :math:`v^\star(x, t) = \mathbb E[\dot\alpha x_1 + \dot\sigma x_0\mid x_t = x]`
    when the data are a Gaussian mixture, ``(N, D)``.

    Given component :math:`k` (mean :math:`m_k`, variances :math:`s_k^2`), :math:`x_t` is Gaussian
    with mean :math:`\alpha m_k` and variance :math:`v_k = \alpha^2 s_k^2 + \sigma^2`, and

    .. math:: \mathbb E[x_1\mid x_t, k] = m_k + \frac{\alpha s_k^2}{v_k}(x_t - \alpha m_k), \qquad
              \mathbb E[x_0\mid x_t, k] = \frac{\sigma}{v_k}(x_t - \alpha m_k),

    averaged with the responsibilities :math:`r_k(x_t) \propto \pi_k\mathcal N(x_t;\alpha m_k, v_k)`.
    This is the ground truth that the minimiser of :func:`cfm_loss` must match.
    """
    path = linear_path() if path is None else path
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture must be a gmtext.data.toy.GaussianMixture, got {type(mixture).__name__}")
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != mixture.dim:
        raise ValueError(f"x must have shape (N, {mixture.dim}), got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    a, s, da, ds = path._coefficients(t, x)                                # (N, 1) each
    a, s, da, ds = (c.double()[:, :, None] for c in (a, s, da, ds))        # (N, 1, 1)
    m, var1 = mixture.means[None], mixture.stds.pow(2)[None]               # (1, K, D)
    var_t = a.pow(2) * var1 + s.pow(2)                                     # (N, K, D)
    diff = x.double()[:, None, :] - a * m                                  # (N, K, D)
    log_comp = (-0.5 * diff.pow(2) / var_t - 0.5 * var_t.log()).sum(-1) + mixture.weights.log()
    resp = torch.softmax(log_comp, dim=1)[:, :, None]                      # (N, K, 1)
    x1_hat = m + a * var1 / var_t * diff                                   # E[x1 | x_t, k]
    x0_hat = s / var_t * diff                                              # E[x0 | x_t, k]
    return (resp * (da * x1_hat + ds * x0_hat)).sum(1).to(x.dtype)


def equal_nfe_samples(velocity_model: nn.Module, diffusion_model: nn.Module,
                      schedule: VPSchedule, noise: Tensor,
                      nfes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> dict[str, dict[int, Tensor]]:
    r"""Samples of a flow-matching and a diffusion network from the *same* noise at equal NFE.

    - ``"FM Euler"``: :math:`x \leftarrow x + h\,v_\theta(x, t)` from :math:`t = 0` to 1;
    - ``"FM Heun"``: Heun's method, 2 network calls per step (even NFE only);
    - ``"DDIM"``: deterministic DDIM (:math:`\eta = 0`) on the 1,000-step grid of ``schedule``,
      the usual first-order sampler of an :math:`\varepsilon`-network;
    - ``"PF-ODE Heun"``: the probability-flow ODE with Heun's method (even NFE only).

    ``noise`` ``(N, D)`` is the starting point of every sampler (:math:`t = 0` of the flow,
    :math:`t = 1` of the diffusion). Returns ``{sampler: {nfe: samples (N, D)}}``.
    """
    discrete = DiscreteSchedule.from_continuous(schedule, 1000)
    out: dict[str, dict[int, Tensor]] = {"FM Euler": {}, "FM Heun": {}, "DDIM": {}, "PF-ODE Heun": {}}
    with torch.no_grad():
        for n in nfes:
            out["FM Euler"][n] = odeint(velocity_model, noise, torch.linspace(0, 1, n + 1), "euler")
            ddim = DDIMSampler(discrete, eta=0.0)
            ddim.set_timesteps(n)
            x = noise
            for t in ddim.timesteps:
                x = ddim.step(diffusion_model(x, t.float().expand(x.shape[0])), t, x)
            out["DDIM"][n] = x
            if n % 2 == 0:
                out["FM Heun"][n] = odeint(velocity_model, noise, torch.linspace(0, 1, n // 2 + 1),
                                           "heun")
                out["PF-ODE Heun"][n] = sample_ode(diffusion_model, schedule, noise, n // 2,
                                                   method="heun")
    return out


def straightness(trajectory: Tensor, times: Tensor) -> Tensor:
    r"""Liu et al. (2023)'s straightness :math:`S = \int_0^1 \mathbb E\|(x_1 - x_0) - \dot x_t\|^2 dt`, a scalar.

    Estimated from a trajectory ``(K+1, N, D)`` at ``times`` ``(K+1,)`` with finite differences;
    :math:`S = 0` exactly when every path is a straight line traversed at constant speed, and
    then one Euler step is exact.
    """
    if trajectory.ndim != 3 or times.shape != (trajectory.shape[0],) or trajectory.shape[0] < 2:
        raise ValueError(f"need a trajectory (K+1, N, D) and times (K+1,), got "
                         f"{tuple(trajectory.shape)} and {tuple(times.shape)}")
    span = times[-1] - times[0]
    chord = (trajectory[-1] - trajectory[0]) / span                        # (N, D)
    dt = times.diff().to(trajectory)                                       # (K,)
    speed = trajectory.diff(dim=0) / dt[:, None, None]                     # (K, N, D)
    err = (chord - speed).pow(2).sum(-1).mean(-1)                          # (K,)
    return (err * dt.abs()).sum() / span.abs()


def path_length_ratio(trajectory: Tensor) -> Tensor:
    r"""Total path length over total end-to-end distance of trajectories ``(K+1, N, D)``:
    :math:`\sum_n \sum_k\|x^n_{k+1} - x^n_k\| / \sum_n\|x^n_K - x^n_0\|`, 1 when every path is straight.

    A ratio of sums, not a mean of ratios, so that a path whose end points almost coincide cannot
    dominate. Chapter 6.x, "Straight paths".
    """
    if trajectory.ndim != 3 or trajectory.shape[0] < 2:
        raise ValueError(f"need a trajectory (K+1, N, D), got {tuple(trajectory.shape)}")
    length = trajectory.diff(dim=0).norm(dim=-1).sum()
    chord = (trajectory[-1] - trajectory[0]).norm(dim=-1).sum()
    if float(chord) == 0.0:
        raise ValueError("every trajectory ends where it starts: the ratio is undefined")
    return length / chord


def _check_pair(x0: Tensor, x1: Tensor) -> None:
    if not isinstance(x0, Tensor) or not isinstance(x1, Tensor):
        raise TypeError("x0 (noise) and x1 (data) must be tensors (B, D)")
    if x0.shape != x1.shape or x1.ndim != 2:
        raise ValueError(f"x0 and x1 must have the same shape (B, D), got {tuple(x0.shape)} "
                         f"and {tuple(x1.shape)}")


def _check_times(t: Tensor | float, x: Tensor) -> Tensor:
    if not isinstance(t, Tensor):
        t = torch.full((x.shape[0],), float(t))
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must have shape ({x.shape[0]},) (one time per point), got {tuple(t.shape)}")
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"times must lie in [0, 1], got [{float(t.min())}, {float(t.max())}]")
    return t.to(x)
