r"""Autoregressive models: exact log-likelihood by the chain rule, sequential sampling, causality.

Any distribution over :math:`D` variables factorises along an ordering :math:`o` of them,

.. math::

    p(x) = \prod_{d=1}^{D} p\big(x_{o_d} \mid x_{o_1}, \dots, x_{o_{d-1}}\big),

with no latent variable and no approximation (section 1.x). A network that outputs
the logits of every conditional in one pass (:mod:`gmtext.nn.masked`, :mod:`gmtext.nn.pixelcnn`)
gives the exact :math:`\log p(x)` in one call (:func:`log_prob`); sampling must follow the
ordering, one network call per variable (:func:`sample`). Both are correct only if output
:math:`o_d` ignores inputs :math:`o_d, o_{d+1}, \dots`; :func:`dependency_matrix` measures that
with autograd.

The networks here follow one interface: ``net.encode(x)`` checks integer images and returns float
codes ``(B, D, E)``; ``net.forward_encoded(e)`` returns logits ``(B, D, V)``; ``net(x)`` is both;
``net.order`` is the ordering and ``net.shape``, ``net.levels`` the data's shape and levels.

Example:
    >>> import torch
    >>> from gmtext.nn.masked import MADE
    >>> net = MADE(hidden=(16,))
    >>> x = sample(net, 3, torch.Generator().manual_seed(0))
    >>> tuple(x.shape), tuple(log_prob(net, x).shape)
    ((3, 1, 8, 8), (3,))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gmtext._validate import check_positive_int

__all__ = ["log_prob", "sample", "complete", "dependency_matrix", "rank_in_order"]


def log_prob(net: nn.Module, x: Tensor) -> Tensor:
    r"""Exact :math:`\log p(x) = \sum_d \log p(x_{o_d} \mid x_{o_{<d}})` of images, ``(N,)``.

    One network call scores all :math:`D` conditionals (teacher forcing): the categorical
    log-probability of each observed grey level under its logits, summed over pixels. In nats;
    :math:`-\log p(x)` is the exact negative log-likelihood the book reports. Derived in
    section 1.x (the chain rule).

    Raises:
        TypeError, ValueError: for float images, a wrong shape or levels out of range (from
            ``net.encode``).
    """
    logits = net(x)                                                          # (N, D, V)
    picked = logits.log_softmax(-1).gather(-1, x.reshape(x.shape[0], -1, 1))  # (N, D, 1)
    return picked[..., 0].sum(-1)


def _check_temperature(temperature: float) -> float:
    value = float(temperature)
    if isinstance(temperature, bool) or not value > 0 or value == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return value


@torch.no_grad()
def complete(net: nn.Module, x: Tensor, known: Tensor, generator: torch.Generator | None = None,
             temperature: float = 1.0) -> Tensor:
    r"""Fill in the pixels of ``x`` where ``known`` is False, one at a time along ``net.order``.

    Pixel :math:`o_d` is drawn from :math:`\operatorname{softmax}(\ell_{o_d}/T)`, with the logits
    :math:`\ell` of the network applied to the current image; known pixels keep their value.
    :math:`T = 1` samples the model; :math:`T < 1` sharpens every conditional. If every known
    pixel comes before every unknown one in the ordering (the top half of an image in raster
    order), this is exact sampling of :math:`p(x_\text{unknown}\mid x_\text{known})`; otherwise
    the known pixels after an unknown one are ignored when it is drawn (section 1.x). Costs
    :math:`D` network calls, the sequential price of an autoregressive model.

    Args:
        net: an autoregressive network (module docstring).
        x: integer images ``(N, *net.shape)``; the unknown pixels may hold any valid level.
        known: boolean ``(N, *net.shape)`` or ``net.shape`` (the same pixels for every image).
        generator: the source of randomness.
        temperature: :math:`T > 0`.

    Raises:
        ValueError: for a bad temperature or a ``known`` mask of another shape.
    """
    temperature = _check_temperature(temperature)
    net.encode(x)                                                            # validates x
    if not isinstance(known, Tensor) or known.dtype != torch.bool:
        raise TypeError("known must be a boolean tensor (True where the pixel is given)")
    known = known.expand_as(x) if known.shape == x.shape[1:] else known
    if known.shape != x.shape:
        raise ValueError(f"known must have shape {tuple(x.shape)} or {tuple(x.shape[1:])}, "
                         f"got {tuple(known.shape)}")
    x, known = x.clone(), known.reshape(x.shape[0], -1)                      # (N, D)
    flat = x.view(x.shape[0], -1)                                            # shares memory
    for d in net.order.tolist():
        if bool(known[:, d].all()):
            continue
        probs = (net(x)[:, d] / temperature).softmax(-1)                      # (N, V)
        if generator is not None and generator.device != probs.device:
            probs = probs.to(generator.device)                               # a CPU generator
        draw = torch.multinomial(probs, 1, generator=generator)[:, 0].to(flat.device)
        flat[:, d] = torch.where(known[:, d], flat[:, d], draw)
    return x


def sample(net: nn.Module, n: int, generator: torch.Generator | None = None,
           temperature: float = 1.0) -> Tensor:
    """``n`` images drawn pixel by pixel along ``net.order`` (:func:`complete` with nothing known).

    Example:
        >>> from gmtext.nn.masked import MADE
        >>> sample(MADE(hidden=()), 2, torch.Generator().manual_seed(0)).dtype
        torch.int64
    """
    check_positive_int("n", n)
    device = next(net.parameters()).device
    x = torch.zeros(n, *net.shape, dtype=torch.long, device=device)
    known = torch.zeros(net.shape, dtype=torch.bool, device=device)
    return complete(net, x, known, generator, temperature)


def rank_in_order(order: Tensor) -> Tensor:
    """The position of every variable in the ordering: ``rank[order[d]] = d``.

    Example:
        >>> rank_in_order(torch.tensor([2, 0, 1])).tolist()
        [1, 2, 0]
    """
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=order.device)
    return rank


def dependency_matrix(net: nn.Module, x: Tensor) -> Tensor:
    r"""How strongly each output depends on each input pixel, by autograd at ``x``: ``(D, D)``.

    .. math:: J_{ij} = \max_{v, k}\ \Big|\frac{\partial \ell_{i v}}{\partial e_{j k}}\Big|,

    the largest entry of the Jacobian of output pixel :math:`i`'s logits with respect to input
    pixel :math:`j`'s code, at one image (float codes, so that any input can be differentiated).
    An autoregressive network must give :math:`J_{ij} = 0` exactly whenever
    :math:`\operatorname{rank}(j) \ge \operatorname{rank}(i)` in its ordering; the non-zero
    pattern below that shows what each conditional can see (PixelCNN's blind spot, section 1.x).
    Computed in eval mode (dropout off).

    Args:
        net: an autoregressive network (module docstring).
        x: one image ``(1, *net.shape)``, integer levels, or float codes ``(1, D, E)``.

    Example:
        >>> from gmtext.nn.masked import MADE
        >>> J = dependency_matrix(MADE(hidden=()), torch.randint(0, 17, (1, 1, 8, 8)))
        >>> before = torch.ones(64, 64, dtype=torch.bool).tril(-1)       # j before i, raster
        >>> bool((J[~before] == 0).all()), bool((J[before] > 0).all())
        (True, True)
    """
    codes = x if x.is_floating_point() and x.ndim == 3 else net.encode(x)
    if codes.shape[0] != 1:
        raise ValueError(f"dependency_matrix takes one image, got a batch of {codes.shape[0]}")
    was_training = net.training
    net.eval()
    try:
        jac = torch.autograd.functional.jacobian(net.forward_encoded, codes.detach(),
                                                 vectorize=True)             # (1, D, V, 1, D, E)
    finally:
        net.train(was_training)
    return jac[0, :, :, 0].abs().amax(dim=(1, 3))                            # (D, D)
