r"""Mixing layers (permutations, rotations, a learned invertible linear map), ActNorm, logit map.

Coupling layers (chapter 4, eq. (4.10)) leave part of the input unchanged, so between them the
coordinates must be mixed: a permutation (RealNVP, Dinh et al. 2017, arXiv:1605.08803) or a
rotation, both with :math:`|\det| = 1`, or Glow's learned invertible linear map in LU form
(:class:`InvertibleLinear`). ActNorm (Kingma & Dhariwal 2018, arXiv:1807.03039) is a
per-dimension affine map initialised from the data.

Example:
    >>> x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    >>> y, log_det = Rotation(3, generator=torch.Generator().manual_seed(1))(x)
    >>> bool(torch.allclose(y.norm(dim=1), x.norm(dim=1), atol=1e-5)), log_det.abs().max().item()
    (True, 0.0)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gmtext.flows.base import Transform

__all__ = ["Permutation", "Reverse", "Rotation", "InvertibleLinear", "ActNorm", "Logit"]


def _check_dim(dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    return dim


class Permutation(Transform):
    r"""Reorder coordinates, :math:`y_i = x_{\pi(i)}`; :math:`\log|\det| = 0`.

    Derived in chapter 4, eq. (4.11) (Dinh et al. 2017, arXiv:1605.08803).

    Example:
        >>> Permutation(torch.tensor([2, 0, 1]))(torch.tensor([[1.0, 2.0, 3.0]]))[0]
        tensor([[3., 1., 2.]])
    """

    def __init__(self, permutation: Tensor) -> None:
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        d = permutation.numel()
        if permutation.ndim != 1 or not torch.equal(permutation.sort().values, torch.arange(d)):
            raise ValueError("permutation must be a reordering of 0..D-1, "
                             f"got {permutation.tolist()}")
        self.dim = d
        self.register_buffer("perm", permutation)
        self.register_buffer("inv_perm", torch.argsort(permutation))

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[:, self.perm], z.new_zeros(z.shape[0])

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:, self.inv_perm], x.new_zeros(x.shape[0])


class Reverse(Permutation):
    """Reverse the coordinates (the permutation of RealNVP's alternating couplings).

    Derived in chapter 4, eq. (4.11) (Dinh et al. 2017, arXiv:1605.08803).

    Example:
        >>> Reverse(2)(torch.tensor([[1.0, 2.0]]))[0]
        tensor([[2., 1.]])
    """

    def __init__(self, dim: int) -> None:
        super().__init__(torch.arange(_check_dim(dim) - 1, -1, -1))


class Rotation(Transform):
    r"""A fixed random rotation :math:`y = Qx`, :math:`Q^\top Q = I`, so :math:`\log|\det Q| = 0`.

    Between 2-D couplings a rotation lets each coupling see a mixture of both coordinates; with
    plain swaps a coupling flow cannot use the correlations of a factorised grid (chapter 4,
    section on the toys). Drawn from the Haar measure by a QR decomposition.
    Derived in chapter 4, eq. (4.11).

    Args:
        dim: dimension.
        generator: the source of randomness for ``Q``.

    Example:
        >>> q = Rotation(2, generator=torch.Generator().manual_seed(0)).matrix
        >>> bool(torch.allclose(q @ q.T, torch.eye(2), atol=1e-6))
        True
    """

    def __init__(self, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        a = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))             # unique Haar-distributed Q
        self.register_buffer("matrix", q.float())

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z @ self.matrix.T.to(z.dtype), z.new_zeros(z.shape[0])

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x @ self.matrix.to(x.dtype), x.new_zeros(x.shape[0])


class InvertibleLinear(Transform):
    r"""A learned invertible linear map :math:`x = Wz` in Glow's LU form.

    .. math:: W = P\,L\,\big(U + \operatorname{diag}(\sigma \odot e^{v})\big),\qquad
              \log|\det W| = \textstyle\sum_d v_d,

    with a fixed permutation :math:`P`, unit lower-triangular :math:`L`, strictly upper-triangular
    :math:`U`, fixed signs :math:`\sigma` and learned :math:`v`: the log-determinant costs
    :math:`O(D)`, the inverse two triangular solves, and :math:`W` is invertible for every value of
    the parameters. Glow's invertible :math:`1\times1` convolution is this map applied at every
    pixel to the :math:`C` channels (Kingma & Dhariwal 2018, arXiv:1807.03039, section 3.2); on a
    flat vector it mixes all coordinates, a learned replacement of the fixed permutations.
    Initialised at a random rotation. Derived in chapter 4, eq. (4.11).

    Args:
        dim: dimension :math:`D`.
        generator: randomness of the initial rotation.

    Example:
        >>> layer = InvertibleLinear(3, generator=torch.Generator().manual_seed(0))
        >>> x, log_det = layer(torch.ones(2, 3))
        >>> bool(torch.allclose(layer.inverse(x)[0], torch.ones(2, 3), atol=1e-5))
        True
    """

    def __init__(self, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        a = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        perm, lower, upper = torch.linalg.lu(torch.linalg.qr(a)[0])         # Q = P L U
        diag = torch.diagonal(upper)
        self.register_buffer("perm", perm.float())
        self.register_buffer("sign", torch.sign(diag).float())
        self.register_buffer("eye", torch.eye(dim))
        self.lower = nn.Parameter(torch.tril(lower, -1).float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_diag = nn.Parameter(diag.abs().log().float())

    def factors(self) -> tuple[Tensor, Tensor]:
        """The triangular factors ``(L, U + diag(sign * exp(v)))``, each ``(D, D)``."""
        lower = torch.tril(self.lower, -1) + self.eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * self.log_diag.exp())
        return lower, upper

    def matrix(self) -> Tensor:
        """The weight :math:`W = PLU`, ``(D, D)``."""
        lower, upper = self.factors()
        return self.perm @ lower @ upper

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        w = self.matrix().to(z.dtype)
        return z @ w.T, self.log_diag.sum().to(z.dtype).expand(z.shape[0])

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        lower, upper = (f.to(x.dtype) for f in self.factors())
        y = x @ self.perm.to(x.dtype)                                       # rows of P^T x
        a = torch.linalg.solve_triangular(lower, y.T, upper=False, unitriangular=True)
        z = torch.linalg.solve_triangular(upper, a, upper=True).T          # (N, D)
        return z, (-self.log_diag.sum()).to(x.dtype).expand(x.shape[0])


class ActNorm(Transform):
    r"""Per-dimension affine map :math:`y = e^{s}\odot z + b`, :math:`\log|\det| = \sum_d s_d`.

    Data-dependent initialisation (Kingma & Dhariwal 2018, arXiv:1807.03039): the first call to
    ``inverse`` in training mode sets :math:`s, b` so that the data batch leaves it with zero mean
    and unit variance per dimension. Derived in chapter 4, eq. (4.13).

    Example:
        >>> layer = ActNorm(2)
        >>> z, _ = layer.inverse(torch.tensor([[0.0, 10.0], [2.0, 30.0]]))
        >>> z.detach().round().tolist()
        [[-1.0, -1.0], [1.0, 1.0]]
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.shift = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        std = x.std(0, unbiased=False).clamp_min(1e-3) if x.shape[0] > 1 else torch.ones_like(x[0])
        self.log_scale.copy_(std.log())
        self.shift.copy_(x.mean(0))
        self.initialized.fill_(True)

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z * self.log_scale.exp() + self.shift, self.log_scale.sum().expand(z.shape[0])

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self._initialize(x)
        return (x - self.shift) * torch.exp(-self.log_scale), \
            (-self.log_scale.sum()).expand(x.shape[0])


class Logit(Transform):
    r"""Map :math:`\mathbb R^D` onto a box around :math:`[0, c]^D` by a scaled logistic function.

    .. math:: x = c\,(\sigma(z) - \alpha)/(1-2\alpha)

    The inverse is RealNVP's logit preprocessing (Dinh et al. 2017, arXiv:1605.08803),
    :math:`z = \operatorname{logit}(\alpha + (1-2\alpha)x/c)`, with log-determinant

    .. math:: \log\Big|\frac{dz}{dx}\Big| = \sum_d \log\frac{1-2\alpha}{c} - \log p_d - \log(1-p_d),
              \quad p_d = \alpha + (1-2\alpha)\frac{x_d}{c}.

    Because it is part of the flow, ``Flow.log_prob`` is a density on the data's own scale (for
    the digits, dequantized values in :math:`[0, 17)`, see the book's conventions page) with the
    Jacobian included. Derived in chapter 4, eq. (4.16).

    Args:
        dim: dimension.
        scale: :math:`c`, the upper end of the data box.
        alpha: :math:`\alpha \in (0, 1/2)` keeps the logit away from :math:`\pm\infty`.

    Example:
        >>> f = Logit(1, scale=17.0)
        >>> f.inverse(torch.tensor([[8.5]]))[0]
        tensor([[0.]])
    """

    def __init__(self, dim: int, scale: float = 1.0, alpha: float = 0.05) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        if not scale > 0 or not 0 < alpha < 0.5:
            raise ValueError(f"need scale > 0 and 0 < alpha < 0.5, got {scale}, {alpha}")
        self.scale, self.alpha = float(scale), float(alpha)

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x, log_det = self._inverse_of(z)
        return x, log_det

    def _inverse_of(self, z: Tensor) -> tuple[Tensor, Tensor]:
        c, a = self.scale, self.alpha
        x = c * (torch.sigmoid(z) - a) / (1 - 2 * a)
        # dx/dz = c sigma(z)(1 - sigma(z)) / (1 - 2 alpha)
        log_det = (nn.functional.logsigmoid(z) + nn.functional.logsigmoid(-z)).sum(-1) \
            + self.dim * math.log(c / (1 - 2 * a))
        return x, log_det

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        c, a = self.scale, self.alpha
        p = a + (1 - 2 * a) * x / c
        if bool((p <= 0).any()) or bool((p >= 1).any()):
            lo, hi = -c * a / (1 - 2 * a), c * (1 - a) / (1 - 2 * a)
            raise ValueError(f"Logit.inverse needs values in ({lo:.3g}, {hi:.3g}) (data on "
                             f"[0, {c:g}]), got range [{float(x.min()):.3g}, {float(x.max()):.3g}]")
        z = torch.log(p) - torch.log1p(-p)
        log_det = (-torch.log(p) - torch.log1p(-p)).sum(-1) + self.dim * math.log((1 - 2 * a) / c)
        return z, log_det
