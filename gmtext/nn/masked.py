r"""Autoregressive networks over pixels: MADE's masked layers, NADE's shared weights, pixel codes.

An autoregressive model factorises :math:`p(x) = \prod_{d} p(x_{o_d} \mid x_{o_1}, \dots,
x_{o_{d-1}})` along an ordering :math:`o` (section 1.x). One network can output all
:math:`D` conditionals in one pass if output :math:`o_d` never sees inputs :math:`o_d, o_{d+1},
\dots`. Both networks here get that property from masks that zero weights:

- :class:`MADE` (Germain et al. 2015, arXiv:1502.03509): every unit gets a *degree*; a hidden unit
  of degree :math:`m` may see inputs of degree :math:`\le m`, an output of degree :math:`d` only
  units of degree :math:`< d` (:func:`made_masks`). With no hidden layer it is the fully visible
  sigmoid (here: softmax) belief net, a logistic autoregression.
- :class:`gmtext.nn.pixelcnn.PixelCNN` (van den Oord et al. 2016, arXiv:1601.06759): masked
  convolutions, in their own module.

:class:`NADE` (Larochelle and Murray 2011) shares one weight matrix between all conditionals.
All read integer images ``(B, 1, H, W)`` with grey levels ``0 .. levels - 1``, encode each pixel
(:func:`encode_levels`: one-hot, or the thermometer code :math:`[x > k]`; a float tensor
``(B, D, E)`` that autograd can differentiate) and return logits ``(B, D, levels)`` of the
:math:`D = HW` categorical conditionals. They know no objective (``gmtext.autoregressive`` owns the
likelihood and the samplers).

Example:
    >>> import torch
    >>> x = torch.randint(0, 17, (2, 1, 8, 8))
    >>> tuple(MADE(hidden=(32,))(x).shape), tuple(NADE(hidden=8)(x).shape)
    ((2, 64, 17), (2, 64, 17))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gmtext.nn.coders import scale_images
from gmtext.nn.mlp import ACTIVATIONS

__all__ = ["ENCODINGS", "encode_levels", "made_masks", "hidden_degrees", "MaskedLinear", "MADE",
           "NADE"]

#: The ways a grey level enters a network, ``onehot`` (V numbers) or ``thermometer`` (V - 1 numbers).
ENCODINGS: tuple[str, ...] = ("onehot", "thermometer")


def encode_levels(x: Tensor, levels: int, shape: tuple[int, ...], encoding: str) -> Tensor:
    r"""Integer images ``(B, *shape)`` to per-pixel codes ``(B, D, E)``, after checking them.

    ``"onehot"``: :math:`e_{dk} = [x_d = k]`, :math:`E = V`. ``"thermometer"``:
    :math:`e_{dk} = [x_d > k]` for :math:`k < V - 1`, :math:`E = V - 1`: neighbouring grey levels
    share all but one code, so what a network learns about level 9 carries over to level 10. For a
    first layer that is linear with a bias the two span the same functions; they differ in what
    gradient descent finds first (section 1.x).

    Raises:
        TypeError: for float or boolean images (pass the grey levels as loaded, not rescaled).
        ValueError: for another shape, values outside ``0 .. levels - 1``, or an unknown encoding.

    Example:
        >>> encode_levels(torch.tensor([[[[2]]]]), 4, (1, 1, 1), "thermometer").tolist()
        [[[1.0, 1.0, 0.0]]]
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
    scale_images(x, levels, shape)                                            # validates x
    flat = x.reshape(x.shape[0], -1)                                          # (B, D)
    if encoding == "onehot":
        return F.one_hot(flat, levels).float()                               # (B, D, V)
    return (flat[..., None] > torch.arange(levels - 1, device=x.device)).float()   # (B, D, V-1)


def _code_size(levels: int, encoding: str) -> int:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
    return levels if encoding == "onehot" else levels - 1


def made_masks(in_degrees: Tensor, hidden: Sequence[Tensor], out_degrees: Tensor) -> list[Tensor]:
    r"""MADE's masks, one ``(out, in)`` 0/1 matrix per layer, from the degrees of the units.

    .. math::

        M^{(l)}_{kj} = [\,m^{l}(k) \ge m^{l-1}(j)\,] \ \text{(hidden layers)}, \qquad
        M^{\text{out}}_{dk} = [\,m^{\text{out}}(d) > m^{L}(k)\,] \ \text{(output layer)}.

    The product of the masks along any path is zero unless the degrees strictly increase from an
    input to an output, so output :math:`d` depends on inputs of degree :math:`< d` only. With no
    hidden layer the one mask is strictly lower-triangular in the ordering. Germain et al. (2015),
    eqs. (12)-(13); derived in section 1.x.

    Args:
        in_degrees: ``(n_in,)`` degrees of the inputs (1..D, the position in the ordering).
        hidden: the ``(width,)`` degrees of each hidden layer (see :func:`hidden_degrees`).
        out_degrees: ``(n_out,)`` degrees of the outputs.

    Example:
        >>> made_masks(torch.tensor([1, 2, 3]), [], torch.tensor([1, 2, 3]))[0]
        tensor([[0., 0., 0.],
                [1., 0., 0.],
                [1., 1., 0.]])
    """
    masks, previous = [], in_degrees
    for degrees in hidden:
        masks.append((degrees[:, None] >= previous[None, :]).float())        # (width, n_prev)
        previous = degrees
    masks.append((out_degrees[:, None] > previous[None, :]).float())         # (n_out, n_prev)
    return masks


def hidden_degrees(width: int, dims: int) -> Tensor:
    """Degrees ``1 .. dims - 1`` assigned to ``width`` hidden units in turn (deterministic MADE).

    Degree ``dims`` would feed no output, degree 0 would see nothing, so both are left out.

    Example:
        >>> hidden_degrees(5, 3).tolist()
        [1, 2, 1, 2, 1]
    """
    return torch.arange(width) % max(1, dims - 1) + 1


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` ``(out, in)``."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float())

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def _check_order(order: Tensor | None, dims: int) -> Tensor:
    if order is None:
        return torch.arange(dims)
    order = torch.as_tensor(order)
    if order.shape != (dims,) or not torch.equal(order.sort().values, torch.arange(dims)):
        raise ValueError(f"order must be a permutation of 0..{dims - 1}, got {order.tolist()}")
    return order


class MADE(nn.Module):
    r"""Masked autoencoder for distribution estimation over categorical pixels.

    Input: the one-hot codes of the :math:`D` pixels (:math:`DV` units, each with the degree of
    its pixel); hidden layers with :func:`hidden_degrees`; output: :math:`V` logits per pixel.
    ``hidden=()`` is the fully visible softmax belief net, logistic regression of each pixel on the
    earlier ones (Frey 1998; Bengio and Bengio 2000). Derived in section 1.x.

    Args:
        shape: image shape ``(1, H, W)``.
        levels: grey levels :math:`V`.
        hidden: widths of the hidden layers.
        order: the ordering :math:`o`, a permutation of ``0 .. D - 1`` (default: raster order).
        activation: one of :data:`gmtext.nn.mlp.ACTIVATIONS`.
        dropout: dropout after each hidden activation.
        encoding: one of ``ENCODINGS``.
        direct: add the masked linear map of the fully visible net to the output, the direct
            input-to-output connections of Germain et al. (2015), section 4.
    """

    def __init__(self, shape: tuple[int, ...] = (1, 8, 8), levels: int = 17,
                 hidden: Sequence[int] = (512,), order: Tensor | None = None,
                 activation: str = "relu", dropout: float = 0.0,
                 encoding: str = "thermometer", direct: bool = False) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        self.shape, self.levels, self.dims = tuple(shape), levels, math.prod(shape)
        self.encoding, code = encoding, _code_size(levels, encoding)
        self.register_buffer("order", _check_order(order, self.dims), persistent=False)
        degree = torch.empty(self.dims, dtype=torch.long)
        degree[self.order] = torch.arange(1, self.dims + 1)                   # m(o_d) = d
        inputs, outputs = degree.repeat_interleave(code), degree.repeat_interleave(levels)
        masks = made_masks(inputs, [hidden_degrees(w, self.dims) for w in hidden], outputs)
        strict = made_masks(inputs, [], outputs)[0]                          # the FVSBN's mask
        self.direct = MaskedLinear(strict) if direct and hidden else None
        layers: list[nn.Module] = []
        for mask in masks[:-1]:
            layers += [MaskedLinear(mask), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers, MaskedLinear(masks[-1]))

    def encode(self, x: Tensor) -> Tensor:
        """Codes ``(B, D, E)`` of integer images ``(B, *shape)``: :func:`encode_levels`."""
        return encode_levels(x, self.levels, self.shape, self.encoding)

    def forward_encoded(self, e: Tensor) -> Tensor:
        """Logits ``(B, D, levels)`` from codes ``e`` ``(B, D, E)`` (any floats)."""
        flat = e.flatten(1)                                                   # (B, D E)
        out = self.net(flat) if self.direct is None else self.net(flat) + self.direct(flat)
        return out.view(e.shape[0], self.dims, self.levels)

    def forward(self, x: Tensor) -> Tensor:
        r"""Logits ``(B, D, levels)`` of :math:`p(x_{o_d} \mid x_{o_{<d}})` for every pixel."""
        return self.forward_encoded(self.encode(x))


class NADE(nn.Module):
    r"""The neural autoregressive distribution estimator, for categorical pixels.

    .. math::

        h_d = \sigma\Big(c + \sum_{j < d} W_{:, o_j}\, e(x_{o_j})\Big), \qquad
        p(x_{o_d} \mid x_{o_{<d}}) = \operatorname{softmax}(U_{o_d} h_d + b_{o_d}).

    Every conditional reads the same :math:`W`; the running sum costs :math:`O(DH)` for all
    :math:`D` hidden vectors together instead of :math:`O(D^2 H)`. Larochelle and Murray (2011),
    eqs. (3)-(4), with a softmax output; derived in section 1.x.

    Args:
        shape, levels, order, encoding: as in :class:`MADE`.
        hidden: :math:`H`.
    """

    def __init__(self, shape: tuple[int, ...] = (1, 8, 8), levels: int = 17, hidden: int = 256,
                 order: Tensor | None = None, encoding: str = "thermometer") -> None:
        super().__init__()
        self.shape, self.levels, self.dims = tuple(shape), levels, math.prod(shape)
        self.encoding, code = encoding, _code_size(levels, encoding)
        self.register_buffer("order", _check_order(order, self.dims), persistent=False)
        self.weight = nn.Parameter(torch.randn(self.dims, code, hidden) / math.sqrt(self.dims))
        self.bias = nn.Parameter(torch.zeros(hidden))                          # c
        self.out_weight = nn.Parameter(torch.randn(self.dims, hidden, levels) / math.sqrt(hidden))
        self.out_bias = nn.Parameter(torch.zeros(self.dims, levels))

    def encode(self, x: Tensor) -> Tensor:
        """Codes ``(B, D, E)`` of integer images ``(B, *shape)``: :func:`encode_levels`."""
        return encode_levels(x, self.levels, self.shape, self.encoding)

    def forward_encoded(self, e: Tensor) -> Tensor:
        """Logits ``(B, D, levels)`` from codes ``e`` ``(B, D, E)`` (any floats)."""
        o = self.order
        terms = torch.einsum("bde,deh->bdh", e[:, o], self.weight[o])        # W_{:, o_j} e_j
        # sum over j < d as a cumulative sum of the shifted terms; cumsum(1) - terms would let
        # x_{o_d} into its own conditional through rounding
        before = torch.cat([torch.zeros_like(terms[:, :1]), terms[:, :-1]], 1).cumsum(1)
        h = torch.sigmoid(self.bias + before)                                # (B, D, H)
        logits = torch.einsum("bdh,dhv->bdv", h, self.out_weight[o]) + self.out_bias[o]
        return logits[:, torch.argsort(o)]                                   # back to pixel order

    def forward(self, x: Tensor) -> Tensor:
        r"""Logits ``(B, D, levels)`` of :math:`p(x_{o_d} \mid x_{o_{<d}})` for every pixel."""
        return self.forward_encoded(self.encode(x))

