r"""Ready-made flows: RealNVP-style affine coupling flows and rational-quadratic spline flows.

Each builder stacks ``n_layers`` couplings with alternating masks and a mixing layer between
them (chapter 4, eq. (4.11)):

- ``mixing="swap"``: reverse the coordinates (RealNVP's alternation; in 2-D each coupling sees
  only the *other* coordinate);
- ``mixing="rotation"``: a fixed random rotation, so later couplings see mixed coordinates;
- ``mixing="permutation"``: a fixed random permutation (for images);
- ``mixing="linear"``: a learned invertible linear map in LU form, Glow's :math:`1\times1`
  convolution on a flat vector (:class:`~gmtext.flows.layers.InvertibleLinear`).

Example:
    >>> flow = spline_flow(2, n_layers=2, generator=torch.Generator().manual_seed(0))
    >>> flow.sample(4, generator=torch.Generator().manual_seed(1)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import torch

from gmtext.flows.base import Compose, Flow, Transform
from gmtext.flows.coupling import AffineCoupling, checkerboard_mask
from gmtext.flows.layers import ActNorm, InvertibleLinear, Logit, Permutation, Reverse, Rotation
from gmtext.flows.spline import SplineCoupling

__all__ = ["realnvp", "spline_flow", "digits_flow", "MIXINGS"]

#: The mixing layers a builder can put between couplings.
MIXINGS: tuple[str, ...] = ("swap", "rotation", "permutation", "linear")


def _mixing(kind: str, dim: int, generator: torch.Generator | None) -> Transform:
    if kind == "swap":
        return Reverse(dim)
    if kind == "rotation":
        return Rotation(dim, generator=generator)
    if kind == "permutation":
        return Permutation(torch.randperm(dim, generator=generator))
    if kind == "linear":
        return InvertibleLinear(dim, generator=generator)
    raise ValueError(f"unknown mixing {kind!r}; valid: {', '.join(MIXINGS)}")


def _stack(dim: int, n_layers: int, make_coupling, mixing: str, actnorm: bool,
           data_scale: float | None, generator: torch.Generator | None) -> Flow:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"a coupling flow needs dim >= 2, got {dim!r}")
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be a positive int, got {n_layers!r}")
    layers: list[Transform] = []
    for i in range(n_layers):                     # generative order: base -> ... -> data
        if i > 0:
            layers.append(_mixing(mixing, dim, generator))
        # the mixing layer alternates which coordinates change; the mask stays the same
        layers.append(make_coupling(checkerboard_mask(dim, 0)))
        if actnorm:
            layers.append(ActNorm(dim))
    if data_scale is not None:
        layers.append(Logit(dim, scale=data_scale))
    return Flow(Compose(layers))


def realnvp(dim: int, n_layers: int = 8, hidden: int = 64, depth: int = 2, dropout: float = 0.0,
            mixing: str = "rotation", actnorm: bool = False, scale_bound: float = 3.0,
            data_scale: float | None = None, generator: torch.Generator | None = None) -> Flow:
    r"""A RealNVP-style flow of :class:`~gmtext.flows.coupling.AffineCoupling` layers.

    Args:
        dim: data dimension ``D >= 2``.
        n_layers: number of couplings.
        hidden, depth, dropout: each conditioner MLP's width, hidden layers and dropout.
        mixing: one of :data:`~gmtext.flows.build.MIXINGS`.
        actnorm: add an :class:`~gmtext.flows.layers.ActNorm` after each coupling.
        scale_bound: soft bound on each log-scale (eq. (4.12)).
        data_scale: if given, end with :class:`~gmtext.flows.layers.Logit` onto
            :math:`(0, c)^D` (images on their own scale).
        generator: randomness of the rotations / permutations.

    Derived in chapter 4, eq. (4.10) (Dinh et al. 2017, arXiv:1605.08803).

    Example:
        >>> realnvp(4, n_layers=3, mixing="swap").log_prob(torch.zeros(2, 4)).shape
        torch.Size([2])
    """
    return _stack(dim, n_layers, lambda m: AffineCoupling(m, hidden, depth, dropout, scale_bound),
                  mixing, actnorm, data_scale, generator)


def spline_flow(dim: int, n_layers: int = 6, bins: int = 8, bound: float = 5.0, hidden: int = 64,
                depth: int = 2, dropout: float = 0.0, mixing: str = "rotation",
                actnorm: bool = False, data_scale: float | None = None,
                generator: torch.Generator | None = None) -> Flow:
    r"""A neural spline flow of :class:`~gmtext.flows.spline.SplineCoupling` layers.

    Args:
        dim: data dimension ``D >= 2``.
        n_layers: number of couplings.
        bins, bound: spline bins ``K`` and interval :math:`[-B, B]` (eq. (4.14)).
        hidden, depth, dropout: the conditioner MLPs.
        mixing: one of :data:`~gmtext.flows.build.MIXINGS`.
        actnorm: add an ActNorm after each coupling.
        data_scale: if given, end with a Logit onto :math:`(0, c)^D`.
        generator: randomness of the rotations / permutations.

    Derived in chapter 4, eq. (4.14) (Durkan et al. 2019, arXiv:1906.04868).

    Example:
        >>> spline_flow(2, n_layers=1).log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
    """
    return _stack(dim, n_layers, lambda m: SplineCoupling(m, bins, bound, hidden, depth, dropout),
                  mixing, actnorm, data_scale, generator)


def digits_flow(dropout: float = 0.5, mixing: str = "permutation",
                generator: torch.Generator | None = None) -> Flow:
    r"""The chapter's flow for the 8x8 digits: a RealNVP-style affine coupling flow on 64 pixels.

    Eight affine couplings (conditioners with two hidden layers of 128 units and ``dropout``)
    with a mixing layer between them (a fixed random permutation, or ``mixing="linear"``, Glow's
    learned invertible linear map) and ActNorm after each, ending in the
    :class:`~gmtext.flows.layers.Logit` map onto the data scale :math:`[0, 17]`, so ``log_prob``
    is a density of uniformly dequantized digits on their own scale (the book's conventions page,
    section Likelihood units). The chapter and ``benchmarks/flows.py`` train the same model.
    Derived in chapter 4, eqs. (4.10), (4.16).

    Example:
        >>> digits_flow(generator=torch.Generator().manual_seed(0)).dim
        64
    """
    return realnvp(64, n_layers=8, hidden=128, depth=2, dropout=dropout, mixing=mixing,
                   actnorm=True, data_scale=17.0, generator=generator)
