r"""Fixed-step ODE integrators and the continuous change of variables.

A *velocity field* ``velocity(x, t)`` defines the ODE :math:`\mathrm{d}x/\mathrm{d}t = v(x, t)`.
Diffusion models (the probability-flow ODE) and flow matching both sample by integrating one,
and both evaluate a likelihood by integrating its divergence along the path
(Chen et al., 2018, arXiv:1806.07366; Grathwohl et al., 2019, FFJORD, arXiv:1810.01367):

.. math:: \frac{\mathrm{d}}{\mathrm{d}t}\log p_t(x_t) = -\nabla\!\cdot v(x_t, t).

Conventions: ``x`` has shape ``(B, D...)`` (a batch of points or images); ``velocity`` receives
``x`` and ``t`` of shape ``(B,)`` (every example at the same time) and returns a tensor shaped
like ``x``. ``times`` is a 1-D tensor of strictly increasing *or* strictly decreasing time points;
each interval between two consecutive points is one solver step, so the number of velocity
evaluations (NFE) is ``(len(times) - 1)`` times 1 (Euler), 2 (Heun) or 4 (RK4).

Derived in chapter 6, eq. (6.12).

Example:
    >>> import torch
    >>> x = torch.ones(3, 2)
    >>> ts = torch.linspace(0.0, 1.0, 21)
    >>> y = odeint(lambda x, t: -x, x, ts)        # x(1) = e^{-1} x(0)
    >>> bool(torch.allclose(y, x * torch.exp(torch.tensor(-1.0)), atol=1e-6))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

#: ``velocity(x, t) -> dx/dt`` with ``x`` of shape ``(B, D...)`` and ``t`` of shape ``(B,)``.
Velocity = Callable[[Tensor, Tensor], Tensor]
#: The fixed-step methods :func:`odeint` accepts, and their velocity evaluations per step.
METHODS: dict[str, int] = {"euler": 1, "heun": 2, "rk4": 4}
#: The trace estimators :func:`divergence` accepts.
TRACES: tuple[str, ...] = ("exact", "hutchinson")

_State = tuple[Tensor, ...]
_Field = Callable[[_State, float], _State]


def odeint(velocity: Velocity, x: Tensor, times: Tensor, method: str = "rk4",
           return_path: bool = False) -> Tensor:
    r"""Integrate :math:`\mathrm{d}x/\mathrm{d}t = v(x, t)` from ``times[0]`` to ``times[-1]``.

    One step per interval :math:`[t_k, t_{k+1}]` with :math:`h = t_{k+1} - t_k` (negative when
    ``times`` decreases):

    - ``"euler"``: :math:`x_{k+1} = x_k + h\,v(x_k, t_k)` (error :math:`O(h)`);
    - ``"heun"``: Euler predictor, trapezoidal corrector (error :math:`O(h^2)`);
    - ``"rk4"``: classical fourth-order Runge-Kutta (error :math:`O(h^4)`).

    Runs without building an autograd graph unless ``x`` requires grad.

    Args:
        velocity: the field ``v(x, t)``; ``t`` is passed as a ``(B,)`` tensor.
        x: the state at ``times[0]``, shape ``(B, D...)``.
        times: 1-D tensor of at least two strictly monotone time points.
        method: one of :data:`METHODS`.
        return_path: return the states at every time point, shape ``(len(times), B, D...)``.

    Returns:
        The state at ``times[-1]`` (or the whole path).

    Example:
        >>> ts = torch.linspace(0.0, 1.0, 11)
        >>> odeint(lambda x, t: torch.ones_like(x), torch.zeros(2, 1), ts, "euler").flatten().tolist()
        [1.0, 1.0]
    """
    _check_x(x)
    grid = _check_times(times)
    _check_method(method)
    if not callable(velocity):
        raise TypeError(f"velocity must be callable as velocity(x, t), got {type(velocity).__name__}")

    def field(state: _State, t: float) -> _State:
        return (_call(velocity, state[0], t),)

    with torch.set_grad_enabled(x.requires_grad):
        path = _integrate(field, (x,), grid, method, keep_path=return_path)
    return torch.stack([s[0] for s in path]) if return_path else path[-1][0]


def divergence(velocity: Velocity, x: Tensor, t: Tensor | float, method: str = "exact",
               generator: torch.Generator | None = None) -> Tensor:
    r"""The divergence :math:`\nabla\!\cdot v(x, t) = \mathrm{tr}\,\partial v/\partial x` per example.

    - ``"exact"``: one backward pass per dimension, :math:`\sum_i \partial v_i/\partial x_i`
      (cost grows with the dimension D; the book uses it in 2-D).
    - ``"hutchinson"``: :math:`\varepsilon^\top (\partial v/\partial x)\, \varepsilon` with one
      Rademacher probe :math:`\varepsilon \in \{-1, 1\}^D` per example, an unbiased estimate since
      :math:`\mathbb{E}[\varepsilon\varepsilon^\top] = I` (Hutchinson, 1989; used by FFJORD).
      One vector-Jacobian product whatever D.

    The result is detached from the graph (this function evaluates, it does not train).

    Args:
        velocity: the field ``v(x, t)``.
        x: points, shape ``(B, D...)``.
        t: a number or a ``(B,)`` tensor of times.
        method: one of :data:`TRACES`.
        generator: draws the Rademacher probes (``"hutchinson"`` only).

    Returns:
        Tensor of shape ``(B,)``.

    Example:
        >>> a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> divergence(lambda x, t: x @ a.T, torch.randn(3, 2), 0.0).tolist()   # tr A = 5
        [5.0, 5.0, 5.0]
    """
    _check_x(x)
    if method not in TRACES:
        raise ValueError(f"unknown trace method {method!r}; valid: {', '.join(TRACES)}")
    probe = _rademacher(x, generator) if method == "hutchinson" else None
    t_batch = _time_batch(t, x)
    _, div = _velocity_and_divergence(velocity, x, t_batch, probe)
    return div


def log_prob_by_ode(velocity: Velocity, x: Tensor, times: Tensor,
                    base_log_prob: Callable[[Tensor], Tensor], method: str = "rk4",
                    trace: str = "exact", generator: torch.Generator | None = None) -> Tensor:
    r"""Exact log-density of ``x`` under the flow of ``velocity`` (continuous change of variables).

    Derivation (the sign). Let :math:`x_t` solve :math:`\dot x_t = v(x_t, t)` and let
    :math:`p_t` be the density transported by the flow. The continuity equation
    :math:`\partial_t p_t = -\nabla\!\cdot(p_t v)` gives, along a trajectory,

    .. math:: \frac{\mathrm{d}}{\mathrm{d}t}\log p_t(x_t)
              = \frac{\partial_t p_t + v\cdot\nabla p_t}{p_t} = -\nabla\!\cdot v(x_t, t).

    Integrating from :math:`t_0` = ``times[0]`` (data side, :math:`x_{t_0} = x`) to :math:`t_1` =
    ``times[-1]`` (base side) and solving for the data side:

    .. math:: \log p_{t_0}(x) = \log p_{t_1}(x_{t_1}) + \int_{t_0}^{t_1} \nabla\!\cdot v(x_t, t)\,\mathrm{d}t.

    The integral is signed: it holds whether time runs up (diffusion: data at 0, noise at 1) or
    down (flow matching: noise at 0, data at 1, so ``times`` runs from 1 to 0). It is computed by
    integrating the augmented state :math:`(x_t, \ell_t)` with :math:`\dot\ell_t = \nabla\!\cdot v`,
    :math:`\ell_{t_0} = 0`, with the same solver, so every RK4 stage uses the divergence at its
    own stage point (keeping only one end point's divergence is a classic bug). With
    ``trace="hutchinson"`` one Rademacher probe per example is drawn once and kept for the whole
    path, as in FFJORD, which keeps the estimate of the log-density unbiased.

    Args:
        velocity: the field ``v(x, t)``.
        x: data points at ``times[0]``, shape ``(B, D...)``.
        times: 1-D tensor of time points from the data side to the base side.
        base_log_prob: log-density of the base distribution at ``times[-1]``, ``(B, D...) -> (B,)``.
        method: one of :data:`METHODS`.
        trace: ``"exact"`` or ``"hutchinson"`` (see :func:`divergence`).
        generator: draws the probes for ``"hutchinson"``.

    Returns:
        ``log p(x)``, shape ``(B,)``, detached.

    Example:
        >>> # v(x, t) = x stretches space by e over [0, 1]: log p_0(x) = log N(e x; 0, 1) + 1
        >>> normal = torch.distributions.Normal(0.0, 1.0)
        >>> x = torch.tensor([[0.3]])
        >>> lp = log_prob_by_ode(lambda x, t: x, x, torch.linspace(0, 1, 51),
        ...                      lambda z: normal.log_prob(z).sum(-1))
        >>> exact = normal.log_prob(x * torch.e).sum(-1) + 1.0
        >>> bool(torch.allclose(lp, exact, atol=1e-5))
        True
    """
    _check_x(x)
    grid = _check_times(times)
    _check_method(method)
    if trace not in TRACES:
        raise ValueError(f"unknown trace method {trace!r}; valid: {', '.join(TRACES)}")
    if not callable(base_log_prob):
        raise TypeError(f"base_log_prob must be callable, got {type(base_log_prob).__name__}")
    probe = _rademacher(x, generator) if trace == "hutchinson" else None

    def field(state: _State, t: float) -> _State:
        v, div = _velocity_and_divergence(velocity, state[0], _time_batch(t, state[0]), probe)
        return v, div

    start = (x.detach(), torch.zeros(x.shape[0], dtype=x.dtype, device=x.device))
    with torch.no_grad():
        x_end, integral = _integrate(field, start, grid, method, keep_path=False)[-1]
        base = base_log_prob(x_end)
    if base.shape != integral.shape:
        raise ValueError(f"base_log_prob must return shape {tuple(integral.shape)}, "
                         f"got {tuple(base.shape)}")
    log_p = base + integral
    if not bool(torch.isfinite(log_p).all()):
        raise ValueError("log_prob_by_ode produced non-finite values; try more steps or check the field")
    return log_p


# ----------------------------------------------------------------------------------- internals
def _integrate(field: _Field, state: _State, times: Sequence[float], method: str,
               keep_path: bool) -> list[_State]:
    """Fixed-step integration of a tuple-valued state; returns the last state (or all of them)."""
    path = [state]
    for t0, t1 in zip(times[:-1], times[1:]):
        h = t1 - t0
        if method == "euler":
            k1 = field(state, t0)
            state = _axpy(state, h, k1)
        elif method == "heun":
            k1 = field(state, t0)
            k2 = field(_axpy(state, h, k1), t1)
            state = tuple(s + 0.5 * h * (a + b) for s, a, b in zip(state, k1, k2))
        else:  # rk4
            k1 = field(state, t0)
            k2 = field(_axpy(state, 0.5 * h, k1), t0 + 0.5 * h)
            k3 = field(_axpy(state, 0.5 * h, k2), t0 + 0.5 * h)
            k4 = field(_axpy(state, h, k3), t1)
            state = tuple(s + h / 6.0 * (a + 2 * b + 2 * c + d)
                          for s, a, b, c, d in zip(state, k1, k2, k3, k4))
        path = path + [state] if keep_path else [state]
    return path


def _axpy(state: _State, h: float, slope: _State) -> _State:
    return tuple(s + h * k for s, k in zip(state, slope))


def _velocity_and_divergence(velocity: Velocity, x: Tensor, t: Tensor,
                             probe: Tensor | None) -> tuple[Tensor, Tensor]:
    """``v(x, t)`` and its divergence (exact when ``probe`` is None), both detached."""
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        v = _call(velocity, xr, t)
        if probe is not None:
            (vjp,) = torch.autograd.grad(v, xr, probe, allow_unused=True)
            vjp = torch.zeros_like(xr) if vjp is None else vjp
            div = (vjp * probe).flatten(1).sum(1)                       # eps^T J eps, (B,)
        else:
            v_flat = v.flatten(1)                                       # (B, D)
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for i in range(v_flat.shape[1]):
                (g,) = torch.autograd.grad(v_flat[:, i].sum(), xr, retain_graph=True,
                                           allow_unused=True)
                if g is not None:
                    div = div + g.flatten(1)[:, i]                      # dv_i/dx_i, (B,)
    return v.detach(), div.detach()


def _call(velocity: Velocity, x: Tensor, t: Tensor | float) -> Tensor:
    t_batch = t if isinstance(t, Tensor) else _time_batch(t, x)
    v = velocity(x, t_batch)
    if not isinstance(v, Tensor) or v.shape != x.shape:
        got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"velocity(x, t) must return a tensor shaped like x {tuple(x.shape)}, got {got}")
    return v


def _time_batch(t: Tensor | float, x: Tensor) -> Tensor:
    if isinstance(t, Tensor):
        if t.ndim == 0:
            return t.to(x.dtype).expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be a number or have shape ({x.shape[0]},), got {tuple(t.shape)}")
        return t
    return torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)


def _rademacher(x: Tensor, generator: torch.Generator | None) -> Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    bits = torch.randint(0, 2, x.shape, generator=generator, device=gen_device)
    return (2 * bits - 1).to(dtype=x.dtype, device=x.device)


def _check_x(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, D...), got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (B, D...) with B >= 1, got {tuple(x.shape)} "
                         "(use x.unsqueeze(0) for a single point)")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got {x.dtype}")


def _check_times(times: Tensor) -> list[float]:
    if not isinstance(times, Tensor):
        raise TypeError(f"times must be a 1-D torch.Tensor of time points, got {type(times).__name__}")
    if times.ndim != 1 or times.numel() < 2:
        raise ValueError(f"times must be 1-D with at least 2 points, got shape {tuple(times.shape)}")
    if not bool(torch.isfinite(times).all()):
        raise ValueError("times contains NaN or infinite values")
    steps = times[1:] - times[:-1]
    if not (bool((steps > 0).all()) or bool((steps < 0).all())):
        raise ValueError("times must be strictly increasing or strictly decreasing")
    return [float(s) for s in times.double()]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown ODE method {method!r}; valid: {', '.join(METHODS)}")


__all__ = ["odeint", "divergence", "log_prob_by_ode", "METHODS", "TRACES", "Velocity"]
