"""The digit classifier network, whose penultimate features every digit Fréchet distance uses.

Only the network lives here; its training, its cache and the features it defines are
:mod:`gmtext.metrics.classifier` (the metric's reference network, trained once).

Example:
    >>> import torch
    >>> net = DigitClassifier()
    >>> net(torch.zeros(3, 1, 8, 8)).shape, net.features(torch.zeros(3, 1, 8, 8)).shape
    (torch.Size([3, 10]), torch.Size([3, 64]))
"""

from __future__ import annotations

from einops.layers.torch import Rearrange
from torch import Tensor, nn

__all__ = ["DigitClassifier", "FEATURES"]

#: The width of the penultimate layer, the dimension of the Fréchet-distance feature space.
FEATURES = 64


class DigitClassifier(nn.Module):
    """Conv(1->16) -> Conv(16->32) -> max-pool -> Linear(512->64) -> Linear(64->10).

    Inputs are digits scaled to [0, 1], shape ``(N, 1, 8, 8)``; :meth:`features` returns the
    64 penultimate activations (after ReLU), :meth:`forward` the 10 class logits.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),                 # (N, 16, 8, 8)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),                # (N, 32, 8, 8)
            nn.MaxPool2d(2), Rearrange("n c h w -> n (c h w)"),        # (N, 512)
            nn.Dropout(dropout),
            nn.Linear(32 * 4 * 4, FEATURES), nn.ReLU(),                # (N, 64)
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURES, 10))

    def _check(self, x: Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"x must have shape (N, 1, 8, 8) on [0, 1], got {tuple(x.shape)}")

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features ``(N, 64)`` of images ``(N, 1, 8, 8)`` on [0, 1]."""
        self._check(x)
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(N, 10)`` of images ``(N, 1, 8, 8)`` on [0, 1]."""
        self._check(x)
        return self.head(self.body(x))                                 # (N, 10) logits
