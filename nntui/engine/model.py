"""The MLP: Linear layers with one activation after each hidden layer."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from nntui.engine import activations


class MLP(nn.Module):
    """`Linear → act → … → Linear`. A maxout layer's Linear is twice as wide (two pieces)."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], acts: tuple[str, ...], n_out: int, bias: bool = True):
        super().__init__()
        self.acts = tuple(acts)
        self.widths = (n_in, *hidden, n_out)
        layers = []
        width = n_in
        for size, act in zip(hidden, self.acts):
            layers.append(nn.Linear(width, size * 2 if act == "maxout" else size, bias=bias))
            width = size
        layers.append(nn.Linear(width, n_out, bias=bias))
        self.layers = nn.ModuleList(layers)
        self.linears: list[nn.Linear] = layers
        """The same layers, typed (ModuleList items read as plain Modules)."""
        # (layer, activation function or None for linear): looked up once, not per step
        self._plan = [(layer, None if act == "linear" else activations.get(act).fn) for layer, act in zip(layers, acts)]

    def forward(self, x: Tensor) -> Tensor:
        for layer, fn in self._plan:
            x = layer(x) if fn is None else fn(layer(x))
        out: Tensor = self.linears[-1](x)
        return out

    def hidden_outputs(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(pre-activation, output) of every hidden layer: network-health statistics."""
        out = []
        for layer, act in zip(self.linears, self.acts):
            z = layer(x)
            x = activations.get(act).fn(z)
            out.append((z, x))
        return out

    @torch.no_grad()
    def reset_parameters(self, seed: int) -> None:
        """nn.Linear's own init, U(±1/√fan_in), from a private generator: same seed, same weights.

        A private CPU generator (not the global one) keeps this thread-safe and the same on
        every device.
        """
        gen = torch.Generator().manual_seed(seed)
        for layer in self.linears:
            bound = 1.0 / math.sqrt(layer.in_features)
            w = torch.empty(layer.weight.shape).uniform_(-bound, bound, generator=gen)
            layer.weight.copy_(w)
            if layer.bias is not None:
                layer.bias.copy_(torch.empty(layer.bias.shape).uniform_(-bound, bound, generator=gen))


def build_mlp(
    n_in: int, hidden: tuple[int, ...], acts: tuple[str, ...], n_out: int, bias: bool, seed: int, device: torch.device
) -> MLP:
    model = MLP(n_in, hidden, acts, n_out, bias)
    model.reset_parameters(seed)
    return model.to(device)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
