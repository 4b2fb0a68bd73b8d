"""A multilayer perceptron, the default network of the 1-D/2-D chapters and of small image models.

Example:
    >>> import torch
    >>> net = MLP(2, 1, hidden=32, layers=2)
    >>> net(torch.zeros(5, 2)).shape
    torch.Size([5, 1])
"""

from __future__ import annotations

from torch import Tensor, nn

from gmtext._validate import check_float32

#: The activation names :class:`MLP` accepts, and their modules.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU,
}


class MLP(nn.Sequential):
    """``layers`` hidden layers of width ``hidden``: Linear -> activation (-> Dropout), then Linear.

    Args:
        in_features: input size.
        out_features: output size.
        hidden: width of each hidden layer.
        layers: number of hidden layers (0 gives a single linear map).
        activation: one of :data:`ACTIVATIONS`.
        dropout: dropout probability after each hidden activation (0 disables it).
        zero_last: initialise the output layer to zero, so the network starts as the zero map
            (a coupling layer then starts as the identity).
    """

    def __init__(self, in_features: int, out_features: int, hidden: int = 128, layers: int = 2,
                 activation: str = "silu", dropout: float = 0.0, zero_last: bool = False) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("hidden", hidden)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if layers < 0 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"need layers >= 0 and 0 <= dropout < 1, got {layers}, {dropout}")
        modules: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            modules += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
            width = hidden
        last = nn.Linear(width, out_features)
        if zero_last:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        super().__init__(*modules, last)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor) -> Tensor:
        check_float32(x, "MLP", self[-1].weight.dtype)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP expects inputs with last dimension {self.in_features}, "
                             f"got shape {tuple(x.shape)}")
        return super().forward(x)
