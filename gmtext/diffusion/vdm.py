r"""Continuous-time variational diffusion model (VDM) with an exact ELBO on discrete data.

Kingma, Salimans, Poole and Ho, "Variational Diffusion Models", NeurIPS 2021 (arXiv:2107.00630).
The data :math:`x \in \{0..16\}^{64}` are placed at :math:`y = 2x/16 - 1` and noised by the
variance-preserving process :math:`q(z_t\mid y) = \mathcal N(\alpha_t y, \sigma_t^2 I)` with
:math:`\alpha_t^2 = \operatorname{sigmoid}(-\gamma(t))`, :math:`\sigma_t^2 =
\operatorname{sigmoid}(\gamma(t))` and a monotone log-noise-to-signal ratio :math:`\gamma(t)`
(:class:`LinearLogSNR`). The negative ELBO in nats per image has three terms (Kingma et al.,
eqs. (11)-(17)):

.. math::

    -\log P(x) \le \underbrace{\mathrm{KL}\big(q(z_1\mid y)\,\|\,\mathcal N(0, I)\big)}_{\text{prior}}
    + \underbrace{\mathbb E_{q(z_0\mid y)}[-\log p(x\mid z_0)]}_{\text{reconstruction}}
    + \underbrace{\tfrac12\,\mathbb E_{t\sim U(0,1),\,\varepsilon}\big[\gamma'(t)\,
      e^{-\gamma(t)}\,\|y - \hat y(z_t, \gamma_t)\|^2\big]}_{\text{diffusion}} .

The diffusion term is the continuous-time limit :math:`T\to\infty` of the DDPM sum over steps,
:math:`-\tfrac12\int_0^1 \mathrm{SNR}'(t)\,\|y - \hat y\|^2 dt` with
:math:`\mathrm{SNR} = e^{-\gamma}`; in the noise parameterization it reads
:math:`\tfrac12\int_0^1 \gamma'(t)\,\|\varepsilon - \hat\varepsilon\|^2 dt`.

**Units, and why no Jacobian.** The decoder :math:`p(x\mid z_0)` is a categorical over the 17
levels (:func:`gmtext.diffusion.discrete.decoder_log_probs`), so the model defines a probability
*mass* :math:`P(x) = \int p(x\mid z_0)\,p(z_0)\,dz_0` on the discrete images, and the bound above
is a bound on :math:`-\log P(x)` in nats per image, directly comparable with the book's other
digit likelihoods (the book's conventions page, section Likelihood units).
The map :math:`x\mapsto y` only relabels a finite set of levels; the continuous latents appear in
every term as ratios of densities of the *same* variable (a KL divergence, a likelihood ratio),
whose Jacobians cancel. A Jacobian term :math:`-64\ln|a|` is needed only when a *density* of the
rescaled data is reported, as for a flow on dequantized pixels (chapter 4).
Derived in chapter 6 (section "Flow matching and the likelihood of discrete data").

Example:
    >>> import torch
    >>> from gmtext.diffusion.discrete import DiscreteDenoiser
    >>> model = VDM(DiscreteDenoiser(hidden=32, layers=1))
    >>> x = torch.randint(0, 17, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    >>> terms = model.elbo_terms(x, torch.Generator().manual_seed(1))
    >>> sorted(terms), tuple(terms["total"].shape)
    (['diffusion', 'prior', 'reconstruction', 'total'], (4,))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gmtext.config import generator_device
from gmtext.data.images import scale_digits
from gmtext.divergences import kl_normal
from gmtext.diffusion.discrete import alpha_sigma, discrete_log_likelihood
from gmtext.diffusion.losses import denoising_loss
from gmtext.diffusion.schedules import Schedule
from gmtext.train import History, TrainConfig, fit, minibatches

__all__ = ["LinearLogSNR", "VDM", "prior_kl", "stratified_times", "train_vdm"]


class LinearLogSNR(nn.Module, Schedule):
    r"""The linear schedule :math:`\gamma(t) = \gamma_0 + (\gamma_1 - \gamma_0)\,t`, optionally learnt.

    A :class:`~gmtext.diffusion.schedules.Schedule` like every other path (``alpha_sigma``,
    ``log_snr``, ``derivatives``); calling it returns Kingma et al.'s :math:`\gamma(t)`, the
    *negative* log-SNR: :math:`\lambda_t = -\gamma(t)`, :math:`\alpha_t^2 = \operatorname{sigmoid}(\lambda_t)`,
    :math:`\sigma_t^2 = \operatorname{sigmoid}(-\lambda_t)`. :math:`\gamma` rises from :math:`\gamma_0` (almost clean data) to
    :math:`\gamma_1` (almost pure noise). With ``learned=True`` the endpoints are parameters
    trained by the ELBO, as in Kingma et al. (2021), sec. 5; the width is kept positive as
    :math:`\gamma_1 - \gamma_0 = \operatorname{softplus}(w)`, so the schedule stays monotone.
    The continuous-time diffusion loss does not depend on the path between the endpoints (their
    eq. (18)); only :math:`\gamma_0` and :math:`\gamma_1` matter.

    Example:
        >>> s = LinearLogSNR(-6.0, 6.0)
        >>> s(torch.tensor([0.0, 0.5, 1.0])).tolist(), s.derivative().item()
        ([-6.0, 0.0, 6.0], 12.0)
    """

    def __init__(self, gamma_min: float = -7.0, gamma_max: float = 6.0,
                 learned: bool = True) -> None:
        super().__init__()
        if not gamma_min < gamma_max:
            raise ValueError(f"need gamma_min < gamma_max, got {gamma_min}, {gamma_max}")
        width = math.log(math.expm1(gamma_max - gamma_min))               # softplus^{-1}
        start, raw = torch.tensor(float(gamma_min)), torch.tensor(width)
        if learned:
            self.start, self.raw_width = nn.Parameter(start), nn.Parameter(raw)
        else:
            self.register_buffer("start", start)
            self.register_buffer("raw_width", raw)

    def derivative(self) -> Tensor:
        r""":math:`\gamma'(t) = \gamma_1 - \gamma_0` (a scalar tensor)."""
        return F.softplus(self.raw_width)

    def forward(self, t: Tensor) -> Tensor:
        if not isinstance(t, Tensor):
            raise TypeError(f"t must be a tensor of times in [0, 1], got {type(t).__name__}")
        if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
            raise ValueError(f"times must lie in [0, 1], got [{float(t.min())}, {float(t.max())}]")
        return self.start + self.derivative() * t

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        return alpha_sigma(self(torch.as_tensor(t)))

    def log_snr(self, t: Tensor | float) -> Tensor:
        return -self(torch.as_tensor(t))

    def d_log_snr(self, t: Tensor | float) -> Tensor:
        return -self.derivative().expand_as(torch.as_tensor(t))

    def derivatives(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r""":math:`\dot\alpha = -\tfrac12\alpha\sigma^2\gamma'`, :math:`\dot\sigma = \tfrac12\sigma\alpha^2\gamma'`."""
        a, s = self.alpha_sigma(t)
        g = self.derivative()
        return -0.5 * a * s**2 * g, 0.5 * s * a**2 * g


def prior_kl(y: Tensor, gamma1: Tensor) -> Tensor:
    r"""The prior term :math:`\mathrm{KL}(\mathcal N(\alpha_1 y, \sigma_1^2 I)\,\|\,\mathcal N(0, I))`, ``(B,)``.

    .. math:: \tfrac12\sum_d\big(\sigma_1^2 + \alpha_1^2 y_d^2 - 1 - \log\sigma_1^2\big)

    Example:
        >>> float(prior_kl(torch.zeros(1, 3), torch.tensor(50.0))) < 1e-12   # sigma_1 -> 1
        True
    """
    alpha, _ = alpha_sigma(gamma1)
    log_var = F.logsigmoid(torch.as_tensor(gamma1)).expand_as(y)          # log sigma_1^2, stably
    return kl_normal(alpha * y, log_var).sum(-1)


def stratified_times(n: int, generator: torch.Generator | None = None,
                     device: torch.device | None = None) -> Tensor:
    r"""``n`` times in [0, 1), one in each interval :math:`[i/n, (i+1)/n)` shifted by one uniform draw.

    .. math:: t_i = (u + i/n) \bmod 1,\quad u\sim U(0, 1)

    The strata are handed out in a random order, so each :math:`t_i` on its own is uniform and the
    diffusion-loss estimate of *every* image stays unbiased (not only the batch mean); the batch
    covers [0, 1) evenly, which lowers its variance (the "low-discrepancy sampler" of
    Kingma et al. 2021, appendix I.1).

    Example:
        >>> t = stratified_times(4, torch.Generator().manual_seed(0))
        >>> sorted((4 * t).floor().int().tolist())
        [0, 1, 2, 3]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    u = torch.rand((), generator=generator, device=generator_device(generator)).cpu()
    order = torch.randperm(n, generator=generator, device=generator_device(generator)).cpu()   # random order: every t_i alone is U(0, 1)
    return ((u + order / n) % 1.0).to(device)


class VDM(nn.Module):
    r"""A VDM on discrete images: a schedule :class:`LinearLogSNR` and a denoiser :math:`\hat y(z, \gamma)`.

    The denoiser is any module ``denoiser(z, gamma) -> y_hat`` with ``z`` ``(B, D)`` and ``gamma``
    ``(B,)``, e.g. :class:`gmtext.diffusion.discrete.DiscreteDenoiser` or
    :class:`gmtext.diffusion.discrete.EpsilonDenoiser`.

    Args:
        denoiser: the network.
        schedule: the log-SNR schedule (default: learnt linear, :math:`\gamma\in[-7, 6]`).
        levels: the number of grey levels of the data.
    """

    def __init__(self, denoiser: nn.Module, schedule: LinearLogSNR | None = None,
                 levels: int = 17) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.schedule = LinearLogSNR() if schedule is None else schedule
        self.levels = levels

    def diffusion_loss(self, y: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        r"""The integrand :math:`\tfrac12\gamma'(t)e^{-\gamma(t)}\|y - \hat y(z_t,\gamma_t)\|^2`, ``(B,)``.

        Evaluated at the given times ``t`` ``(B,)`` and noises ``eps`` ``(B, D)``, with
        :math:`z_t = \alpha_t y + \sigma_t\varepsilon`; its mean over :math:`t\sim U(0,1)` and
        :math:`\varepsilon\sim\mathcal N(0, I)` is the diffusion term of the ELBO.
        """
        def model(z: Tensor, t: Tensor) -> Tensor:                         # the denoiser sees gamma
            return self.denoiser(z, self.schedule(t))

        return denoising_loss(model, self.schedule, y, t=t, noise=eps, prediction_type="sample",
                              weighting="elbo", reduction="sum")

    def elbo_terms(self, x: Tensor, generator: torch.Generator | None = None,
                   times: Tensor | None = None) -> dict[str, Tensor]:
        r"""The three terms of the negative ELBO and their sum, each ``(B,)`` in nats per image.

        One Monte Carlo sample of :math:`z_0`, of :math:`t` (stratified over the batch unless
        ``times`` is given) and of :math:`\varepsilon` per image: an unbiased estimate.
        """
        y = scale_digits(x, "signed_levels").y.reshape(x.shape[0], -1)     # (B, D) in [-1, 1]
        b = y.shape[0]
        ends = self.schedule(torch.tensor([0.0, 1.0], device=y.device))   # gamma_0, gamma_1
        noise = torch.randn(2, *y.shape, generator=generator, device=generator_device(generator)).to(y.device)
        alpha0, sigma0 = alpha_sigma(ends[0])
        recon = -discrete_log_likelihood(x, alpha0 * y + sigma0 * noise[0], ends[0], self.levels)
        t = stratified_times(b, generator, y.device) if times is None else times
        diffusion = self.diffusion_loss(y, t, noise[1])
        prior = prior_kl(y, ends[1])
        return {"prior": prior, "reconstruction": recon, "diffusion": diffusion,
                "total": prior + recon + diffusion}

    def loss(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The mean negative ELBO of a batch (nats per image): the training loss."""
        return self.elbo_terms(x, generator)["total"].mean()

    @torch.no_grad()
    def nll_bound(self, x: Tensor, generator: torch.Generator, repeats: int = 8,
                  batch_size: int = 512) -> Tensor:
        r"""Per-image negative ELBO ``(N,)`` averaged over ``repeats`` independent estimates."""
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a positive int, got {repeats!r}")
        out = torch.zeros(x.shape[0])
        for _ in range(repeats):
            for start in range(0, x.shape[0], batch_size):
                chunk = x[start:start + batch_size]
                out[start:start + batch_size] += self.elbo_terms(chunk, generator)["total"].cpu()
        return out / repeats


def train_vdm(model: VDM, x_train: Tensor, x_val: Tensor, steps: int, *,
              generator: torch.Generator, batch_size: int = 128, lr: float = 1e-3,
              ema_decay: float = 0.995, every: int = 100, patience: int = 3,
              max_seconds: float | None = None, val_repeats: int = 4,
              progress: bool = True) -> History:
    r"""Minimise the negative ELBO with Adam, early-stopping on the validation bound of the EMA weights.

    The validation bound is evaluated on an exponential moving average of the weights
    (:class:`gmtext.train.EMA`) with the *same* noise at every check (a fixed seed), so successive
    checks differ only by the weights. Returns the :class:`gmtext.train.History`; afterwards
    ``model`` holds the best averaged weights seen. ``generator`` draws the minibatches, times and
    noise; the initial weights (and dropout masks) come from torch's global generator: seed it first.
    """
    config = TrainConfig(steps, lr=lr, ema_decay=ema_decay, ema_warmup=False, max_seconds=max_seconds,
                         eval_every=every, patience=patience, progress=progress, desc="VDM")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))   # linear, 100 steps
    batches = minibatches(x_train, batch_size=batch_size, generator=generator)

    def evaluate() -> float:            # fit evaluates the weight average (loaded into model)
        return float(model.nll_bound(x_val, torch.Generator().manual_seed(123), val_repeats).mean())

    history = fit(model, lambda x: model.loss(x, generator), batches, config, evaluate=evaluate,
                  optimizer=opt, callbacks=[lambda *args: warmup.step()])
    model.load_state_dict(history.ema.state_dict())      # the best averaged weights
    return history

