r"""Embeddings of a scalar condition (a diffusion time, a noise level, a class) and an MLP that takes one.

Score networks, diffusion denoisers and flow-matching velocity fields all take a point ``x`` *and*
a scalar ``t`` (a time in [0, 1], a step index, or a log noise level). A raw scalar input is a poor
feature for a small network; the sinusoidal embedding of Vaswani et al. (2017), used for diffusion
time by Ho et al. (2020), maps it to many frequencies:

.. math:: \mathrm{emb}(t) = [\sin(\omega_1 t), \dots, \sin(\omega_{d/2} t),
          \cos(\omega_1 t), \dots, \cos(\omega_{d/2} t)],\quad
          \omega_k = s\cdot \text{max\_period}^{-(k-1)/(d/2-1)}.

Used from chapter 5 (noise-conditional score networks) onwards.

Example:
    >>> import torch
    >>> net = ConditionalMLP(2, 2, hidden=32, layers=2)
    >>> net(torch.zeros(5, 2), torch.rand(5)).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gmtext._validate import check_float32
from gmtext.nn.mlp import ACTIVATIONS


class SinusoidalEmbedding(nn.Module):
    """Fixed sinusoidal features of a scalar per example: ``(B,)`` -> ``(B, dim)``.

    Args:
        dim: number of features (even, >= 2).
        scale: multiplies ``t`` first; use about 1000 for ``t`` in [0, 1] so the fastest
            frequency resolves small time differences (a step index needs ``scale=1``).
        max_period: the slowest period, in units of ``scale * t``.
    """

    def __init__(self, dim: int, scale: float = 1000.0, max_period: float = 10000.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even int >= 2, got {dim}")
        half = dim // 2
        exponent = torch.arange(half, dtype=torch.float32) / max(half - 1, 1)
        self.register_buffer("frequencies", scale * max_period ** (-exponent), persistent=False)
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        t = _as_batch_scalar(t)
        angles = t[:, None].float() * self.frequencies[None, :]  # (B, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)   # (B, dim)


class ConditionalMLP(nn.Module):
    r"""An MLP ``f(x, t)``: every hidden layer adds a learned projection of the embedding of ``t``.

    .. math:: h_{l+1} = \phi\big(W_l h_l + b_l + U_l\,\mathrm{emb}(t)\big)

    Adding the condition to every layer (rather than concatenating it to the input once) lets a
    small network change its behaviour strongly with ``t``; this is how the time embedding enters
    the residual blocks of the DDPM U-Net (Ho et al., 2020).

    Args:
        in_features: size of ``x`` (also the output size unless ``out_features`` is given).
        out_features: output size.
        hidden: width of each hidden layer.
        layers: number of hidden layers (>= 1).
        emb_dim: size of the sinusoidal embedding of ``t``.
        scale: see :class:`SinusoidalEmbedding` (1000 for ``t`` in [0, 1]; 1 for a step index).
        activation: one of :data:`gmtext.nn.mlp.ACTIVATIONS`.
    """

    def __init__(self, in_features: int, out_features: int | None = None, hidden: int = 128,
                 layers: int = 3, emb_dim: int = 64, scale: float = 1000.0,
                 activation: str = "silu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if in_features < 1 or hidden < 1 or layers < 1:
            raise ValueError(f"need in_features, hidden, layers >= 1, got {in_features}, {hidden}, {layers}")
        out_features = in_features if out_features is None else out_features
        self.embed = nn.Sequential(SinusoidalEmbedding(emb_dim, scale=scale),
                                   nn.Linear(emb_dim, hidden), ACTIVATIONS[activation]())
        widths = [in_features] + [hidden] * layers
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.conds = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(hidden, out_features)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        """``x``: ``(B, in_features)``; ``t``: ``(B,)``, ``(B, 1)`` or a number (shared by the batch)."""
        check_float32(x, "ConditionalMLP", self.out.weight.dtype)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"ConditionalMLP expects x of shape (B, {self.in_features}), "
                             f"got {tuple(x.shape)}")
        t = _as_batch_scalar(t, batch=x.shape[0], device=x.device)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t has {t.shape[0]} entries for a batch of {x.shape[0]}")
        e = self.embed(t)                                    # (B, hidden)
        h = x
        for linear, cond in zip(self.linears, self.conds):
            h = self.act(linear(h) + cond(e))                # (B, hidden)
        return self.out(h)


def _as_batch_scalar(t: Tensor | float, batch: int | None = None,
                     device: torch.device | None = None) -> Tensor:
    """``t`` as a 1-D tensor of per-example scalars: a number is broadcast to ``batch`` entries."""
    if not isinstance(t, Tensor):
        if batch is None:
            raise TypeError(f"t must be a tensor of shape (B,), got {type(t).__name__}")
        return torch.full((batch,), float(t), device=device)
    if t.ndim == 0:
        return t.reshape(1).expand(batch or 1).to(device or t.device)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,) or (B, 1), got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("t contains NaN or infinite values")
    return t if device is None else t.to(device)


__all__ = ["SinusoidalEmbedding", "ConditionalMLP"]
