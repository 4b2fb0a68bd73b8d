r"""Looking into a trained VAE's latent space: KL per dimension, active units, rate and distortion,
interpolation and traversal.

The KL term of the ELBO, summed over examples, is the *rate*: how many nats the encoder transmits
about each image through :math:`z`; the expected negative reconstruction log-likelihood is the
*distortion* (chapter 2, eq. (2.19); Alemi et al. 2018, arXiv:1711.00464). A latent dimension whose
KL is near zero carries no information about :math:`x`: its posterior equals the prior. Counting the
*active units* (Burda et al. 2016) measures posterior collapse.

Every function here evaluates the model with dropout off and without gradients, and restores the
model's training mode afterwards.

Example:
    >>> import torch
    >>> from gmtext.nn import CategoricalDecoder, GaussianEncoder
    >>> from gmtext.vae import VAE
    >>> vae = VAE(GaussianEncoder(3), CategoricalDecoder(3))
    >>> x = torch.randint(0, 17, (20, 1, 8, 8))
    >>> kl_per_dimension(vae, x).shape, active_units(vae, x).shape
    (torch.Size([3]), torch.Size([3]))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from gmtext.vae import VAE

__all__ = ["posterior_means", "kl_per_dimension", "active_units", "rate_distortion",
           "interpolate", "traverse"]


@contextlib.contextmanager
def _evaluating(vae: VAE) -> Iterator[None]:
    if not isinstance(vae, VAE):
        raise TypeError(f"expected a gmtext.vae.VAE, got {type(vae).__name__}")
    was_training = vae.training
    vae.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        vae.train(was_training)


def posterior_means(vae: VAE, x: Tensor) -> Tensor:
    r"""The encoder's means :math:`\mu_\phi(x)`, ``(N, L)``: where each image lands in latent space.

    Example:
        >>> from gmtext.nn import CategoricalDecoder, GaussianEncoder
        >>> vae = VAE(GaussianEncoder(2), CategoricalDecoder(2))
        >>> posterior_means(vae, torch.zeros(4, 1, 8, 8, dtype=torch.long)).shape
        torch.Size([4, 2])
    """
    with _evaluating(vae):
        return vae.encoder(x)[0]


def kl_per_dimension(vae: VAE, x: Tensor) -> Tensor:
    r"""Average KL of every latent dimension over the images ``x``, ``(L,)`` nats.

    .. math::

        \mathrm{KL}_l = \frac1N\sum_n \mathrm{KL}\big(q_\phi(z_l\mid x_n)\,\|\,\mathcal N(0,1)\big)

    (eq. (2.5)). Their sum is the rate of eq. (2.19). Derived in chapter 2.
    """
    with _evaluating(vae):
        _, kl = vae.elbo_terms(x, torch.Generator().manual_seed(0))
    return kl.mean(0)


def active_units(vae: VAE, x: Tensor) -> Tensor:
    r"""Activity of every latent dimension, ``(L,)``: how much its posterior mean varies with x.

    .. math:: A_l = \operatorname{Var}_x\big(\mathbb E_{q_\phi(z\mid x)}[z_l]\big)


    A dimension whose posterior mean does not change with the image carries no information; Burda
    et al. (2016, arXiv:1509.00519) call a unit active when :math:`A_l > 0.01`. Derived in
    chapter 2, eq. (2.21).

    Raises:
        ValueError: if ``x`` holds fewer than two images.
    """
    if x.shape[0] < 2:
        raise ValueError(f"need at least two images to measure a variance, got {x.shape[0]}")
    return posterior_means(vae, x).var(0)


def rate_distortion(vae: VAE, x: Tensor, generator: torch.Generator,
                    samples: int = 10) -> tuple[float, float]:
    r"""Rate and distortion of ``vae`` on ``x`` in nats per image (eq. (2.19)).

    .. math::

        R = \mathbb E_x\,\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big), \qquad
        D = -\mathbb E_x\,\mathbb E_{q_\phi(z\mid x)}\log p_\theta(x\mid z),

    with :math:`D` averaged over ``samples`` draws of :math:`z`. :math:`-(D + R)` is the ELBO.
    Alemi et al. (2018). Derived in chapter 2.

    Raises:
        ValueError: if ``samples < 1``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    with _evaluating(vae):
        log_lik, kl = zip(*(vae.elbo_terms(x, generator) for _ in range(samples)), strict=True)
    return float(kl[0].sum(-1).mean()), -float(torch.stack(log_lik).mean())


def interpolate(z0: Tensor, z1: Tensor, steps: int, method: str = "linear") -> Tensor:
    r"""Points between two latent vectors, ``(steps, L)``, ends included.

    ``"linear"``: :math:`z_t = (1-t) z_0 + t z_1`. ``"spherical"`` (slerp): rotates at constant
    speed on the great circle, :math:`z_t = \frac{\sin((1-t)\Omega)}{\sin\Omega} z_0 +
    \frac{\sin(t\Omega)}{\sin\Omega} z_1` with :math:`\cos\Omega = \hat z_0\cdot\hat z_1`; under a
    Gaussian prior in many dimensions its points keep a typical norm, where linear midpoints are
    shorter than any typical sample. Derived in chapter 2.

    Raises:
        ValueError: on mismatched shapes, ``steps < 2`` or an unknown method.

    Example:
        >>> interpolate(torch.zeros(2), torch.ones(2), 3)
        tensor([[0.0000, 0.0000],
                [0.5000, 0.5000],
                [1.0000, 1.0000]])
    """
    if z0.ndim != 1 or z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must be vectors (L,) of one shape, got {tuple(z0.shape)}, "
                         f"{tuple(z1.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]   # (steps, 1)
    if method == "linear":
        return (1 - t) * z0 + t * z1
    if method != "spherical":
        raise ValueError(f"unknown method {method!r}; valid: 'linear', 'spherical'")
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def traverse(z: Tensor, dims: Sequence[int], values: Tensor) -> Tensor:
    r"""Latent traversal: copies of ``z`` with one dimension at a time set to each of ``values``.

    Row :math:`i \cdot V + j` of the result is :math:`z` with :math:`z_{d_i} = v_j`; decoding it
    shows what dimension :math:`d_i` controls. Returns ``(len(dims) * len(values), L)``. Derived in
    chapter 2.

    Raises:
        ValueError: if ``z`` is not a vector or a dimension is out of range.

    Example:
        >>> traverse(torch.zeros(2), [1], torch.tensor([-1.0, 1.0]))
        tensor([[ 0., -1.],
                [ 0.,  1.]])
    """
    if z.ndim != 1:
        raise ValueError(f"z must be a vector (L,), got shape {tuple(z.shape)}")
    bad = [d for d in dims if not 0 <= d < z.shape[0]]
    if bad:
        raise ValueError(f"dims {bad} out of range for a latent of dimension {z.shape[0]}")
    out = z.repeat(len(dims) * len(values), 1)                          # (len(dims) V, L)
    for i, d in enumerate(dims):
        out[i * len(values):(i + 1) * len(values), d] = values
    return out
