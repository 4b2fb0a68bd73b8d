r"""Class-conditional networks of chapter 8: an :math:`\varepsilon`-network :math:`\varepsilon_\theta(x, t, c)`
and a classifier of noisy images :math:`p_\phi(c\mid x_t, t)`.

Both take the label the way the U-Net of chapter 6 takes the time: a learned embedding of the
class is *added* to the embedding of :math:`t`, and the sum enters every residual block
(:class:`gmtext.nn.unet.ResBlock`). One extra row of the label table, index ``num_classes``,
is the **null class** :math:`\varnothing`: classifier-free guidance (Ho & Salimans 2022,
arXiv:2207.12598) trains one network on :math:`(x, c)` pairs whose label is replaced by
:math:`\varnothing` with probability :math:`p_\text{uncond}`, so that
:math:`\varepsilon_\theta(x, t, \varnothing)` learns the unconditional model.

The networks know no objective: the label dropout and the guidance are in
:mod:`gmtext.diffusion.guidance`, the training in :mod:`gmtext.recipes.conditional`. Chapter 8.

Example:
    >>> import torch
    >>> net = ClassConditionalUNet8(num_classes=10, channels=8)
    >>> x, t = torch.zeros(3, 1, 8, 8), torch.rand(3)
    >>> net(x, t, labels=torch.tensor([0, 9, 10])).shape      # 10 is the null class
    torch.Size([3, 1, 8, 8])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gmtext._validate import check_float32
from gmtext.nn.embeddings import ConditionalMLP, SinusoidalEmbedding, _as_batch_scalar
from gmtext.nn.unet import ResBlock, UNet8, _norm

__all__ = ["ClassConditionalMLP", "ClassConditionalUNet8", "NoisyDigitClassifier", "check_labels"]


def check_labels(labels: Tensor, batch: int, num_classes: int, allow_null: bool = True) -> Tensor:
    """``labels`` must be an integer tensor ``(batch,)`` with values in ``0..num_classes``.

    The value ``num_classes`` is the null class (when ``allow_null``). Returns the labels as int64.

    Raises:
        TypeError: for a tensor of floats or a non-tensor.
        ValueError: for another shape or a value out of range (the message gives the range).
    """
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be an int64 tensor of shape ({batch},), got {type(labels).__name__}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold integer classes, got {labels.dtype} (use labels.long())")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), one class per image, got {tuple(labels.shape)}")
    top = num_classes if allow_null else num_classes - 1
    if batch and (int(labels.min()) < 0 or int(labels.max()) > top):
        null = f"; {num_classes} is the null class" if allow_null else ""
        raise ValueError(f"labels must lie in 0..{top}{null}, got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels.long()


class ClassConditionalMLP(ConditionalMLP):
    r"""An MLP :math:`\varepsilon_\theta(x, t, c)` on images: every hidden layer adds the time *and* class embeddings.

    .. math:: h_{l+1} = \phi\big(W_l h_l + b_l + U_l\,(\mathrm{MLP}(\mathrm{emb}(t)) + E_c)\big)

    :class:`gmtext.nn.embeddings.ConditionalMLP` with a learned table :math:`E` of :math:`K + 1`
    rows (the last is the null class :math:`\varnothing = K`); images ``(B, C, H, W)`` are
    flattened inside and the output has their shape. ``labels=None`` means :math:`\varnothing`.

    Args:
        num_classes: :math:`K` (10 for the digits).
        shape: the image shape ``(C, H, W)``.
        hidden, layers, emb_dim, scale, activation: as :class:`~gmtext.nn.embeddings.ConditionalMLP`.
    """

    def __init__(self, num_classes: int = 10, shape: tuple[int, int, int] = (1, 8, 8), hidden: int = 512,
                 layers: int = 4, emb_dim: int = 64, scale: float = 1000.0, activation: str = "silu") -> None:
        dim = math.prod(shape)
        super().__init__(dim, dim, hidden=hidden, layers=layers, emb_dim=emb_dim, scale=scale,
                         activation=activation)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        self.num_classes, self.shape = num_classes, tuple(shape)
        self.label_embed = nn.Embedding(num_classes + 1, hidden)            # row K: the null class
        nn.init.normal_(self.label_embed.weight, std=0.02)

    @property
    def null_class(self) -> int:
        """The label of the unconditional model, :math:`\\varnothing = K`."""
        return self.num_classes

    def forward(self, x: Tensor, t: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """``x``: ``(B, *shape)``; ``t``: ``(B,)`` in [0, 1]; ``labels``: int ``(B,)`` in ``0..K`` or None."""
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            shape = ", ".join(map(str, self.shape))
            raise ValueError(f"ClassConditionalMLP expects x of shape (B, {shape}), got {got}")
        check_float32(x, "ClassConditionalMLP", self.out.weight.dtype)
        labels = (torch.full((x.shape[0],), self.null_class, dtype=torch.long, device=x.device)
                  if labels is None else check_labels(labels, x.shape[0], self.num_classes))
        t = _as_batch_scalar(t, batch=x.shape[0], device=x.device)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t has {t.shape[0]} entries for a batch of {x.shape[0]}")
        e = self.embed(t) + self.label_embed(labels.to(x.device))           # (B, hidden)
        h = x.flatten(1)                                                    # (B, C*H*W)
        for linear, cond in zip(self.linears, self.conds):
            h = self.act(linear(h) + cond(e))                               # (B, hidden)
        return self.out(h).reshape(x.shape)                                 # (B, C, H, W)


class ClassConditionalUNet8(UNet8):
    r"""The U-Net of chapter 6 with a class embedding added to its time embedding: :math:`\varepsilon_\theta(x, t, c)`.

    .. math:: e = \mathrm{MLP}(\mathrm{emb}(t)) + E_c,\qquad c\in\{0, \dots, K-1\}\cup\{\varnothing\}

    with :math:`E` a learned table of :math:`K + 1` rows (the last is the null class
    :math:`\varnothing = K`). ``labels=None`` means :math:`\varnothing` for every image.

    Args:
        num_classes: :math:`K` (10 for the digits).
        in_channels, channels, dropout, scale: as :class:`gmtext.nn.unet.UNet8`.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, channels: int = 32,
                 dropout: float = 0.0, scale: float = 1000.0) -> None:
        super().__init__(in_channels, channels, dropout, scale)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        self.num_classes = num_classes
        self.label_embed = nn.Embedding(num_classes + 1, 4 * channels)      # row K: the null class
        nn.init.normal_(self.label_embed.weight, std=0.02)

    @property
    def null_class(self) -> int:
        """The label of the unconditional model, :math:`\\varnothing = K`."""
        return self.num_classes

    def forward(self, x: Tensor, t: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """``x``: ``(B, C, 8, 8)``; ``t``: ``(B,)`` in [0, 1]; ``labels``: int ``(B,)`` in ``0..K`` or None."""
        self._check_input(x)
        labels = (torch.full((x.shape[0],), self.null_class, dtype=torch.long, device=x.device)
                  if labels is None else check_labels(labels, x.shape[0], self.num_classes))
        t = _as_batch_scalar(t, batch=x.shape[0], device=x.device)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t has {t.shape[0]} entries for a batch of {x.shape[0]}")
        e = self.embed(t) + self.label_embed(labels.to(x.device))          # (B, 4c)
        h0 = self.enc(self.inp(x), e)                                       # (B, c, 8, 8)
        h = self.mid2(self.mid1(self.down(h0), e), e)                       # (B, 2c, 4, 4)
        return self.out(self.dec(torch.cat([self.up(h), h0], dim=1), e))   # (B, C, 8, 8)

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2:] != (8, 8):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects x of shape (B, {self.in_channels}, 8, 8), got {got}")
        if x.dtype != self.inp.weight.dtype:
            raise TypeError(f"{type(self).__name__} expects {self.inp.weight.dtype} input, got {x.dtype}")


class NoisyDigitClassifier(nn.Module):
    r"""A time-conditioned classifier :math:`p_\phi(c\mid x_t, t)` of noisy 8x8 images: logits ``(B, K)``.

    Classifier guidance (Dhariwal & Nichol 2021, arXiv:2105.05233) differentiates
    :math:`\log p_\phi(c\mid x_t, t)` with respect to :math:`x_t` at every sampling step, so the
    classifier must see the noisy images the sampler visits, at every :math:`t`. Two residual
    blocks at 8x8 and 4x4 conditioned on the time embedding, global average pooling, a linear
    head.

    Args:
        num_classes: :math:`K`.
        channels: feature maps at 8x8 (twice as many at 4x4).
        scale: see :class:`gmtext.nn.embeddings.SinusoidalEmbedding`.
    """

    def __init__(self, num_classes: int = 10, channels: int = 32, scale: float = 1000.0) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f"channels must be an even int >= 2, got {channels!r}")
        c, emb = channels, 4 * channels
        self.embed = nn.Sequential(SinusoidalEmbedding(c, scale=scale), nn.Linear(c, emb), nn.SiLU(),
                                   nn.Linear(emb, emb))                # the U-Net's time embedding
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.block1 = ResBlock(c, c, emb)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)   # 8x8 -> 4x4
        self.block2 = ResBlock(2 * c, 2 * c, emb)
        self.head = nn.Sequential(_norm(2 * c), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(2 * c, num_classes))
        self.num_classes = num_classes

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        """Class logits ``(B, K)`` of noisy images ``x`` ``(B, 1, 8, 8)`` at times ``t`` ``(B,)``."""
        if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"NoisyDigitClassifier expects x of shape (B, 1, 8, 8), got {got}")
        t = _as_batch_scalar(t, batch=x.shape[0], device=x.device)
        e = self.embed(t)                                        # (B, 4c)
        h = self.block1(self.inp(x), e)                          # (B, c, 8, 8)
        return self.head(self.block2(self.down(h), e))           # (B, K)
