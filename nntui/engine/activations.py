"""The lecture's activation functions, each with its hand-written derivative.

Every activation is a pair: the forward function (autograd can differentiate it) and
`grad(z, a)`, the derivative da/dz written out from the pre-activation z and the output a.
The gallery draws `grad`, and a test checks it equals what autograd computes, for every
activation. (The fast path calls autograd's own backward kernels instead, to get the
same bits as autograd without allocating.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nntui.engine.names import ACTIVATIONS, ZERO_GRAD_ACTIVATIONS

LEAKY_SLOPE = 0.1  # the lecture's Leaky ReLU is max(0.1x, x)
ELU_ALPHA = 1.0


@dataclass(frozen=True)
class Activation:
    name: str
    label: str
    fn: Callable[[Tensor], Tensor]
    """Forward: elementwise, except maxout, which halves its input's width."""
    grad: Callable[[Tensor, Tensor], Tensor]
    """Derivative da/dz from pre-activation z and output a (elementwise activations)."""
    formula: str
    note: str
    """One line from the lecture, for the gallery."""

    @property
    def zero_grad(self) -> bool:
        return self.name in ZERO_GRAD_ACTIVATIONS


def _step(z: Tensor) -> Tensor:
    # sign has a zero derivative in autograd; heaviside has none at all. 0.5 at 0.
    return torch.sign(z) * 0.5 + 0.5


def _piecewise(z: Tensor) -> Tensor:
    return torch.clamp(z + 0.5, 0.0, 1.0)


def _piecewise_grad(z: Tensor, a: Tensor) -> Tensor:
    # autograd's clamp passes the gradient where min <= input <= max, bounds included.
    s = z + 0.5
    return ((s >= 0) & (s <= 1)).to(z.dtype)


def _maxout(z: Tensor) -> Tensor:
    """Max of two linear pieces: the layer before is twice as wide; halves are the pieces."""
    h = z.shape[-1] // 2
    first, second = z[..., :h], z[..., h:]
    # where (not maximum) so a tie sends the whole gradient to the first piece, as the fast path does
    return torch.where(first >= second, first, second)


def maxout_curve(x: Tensor) -> Tensor:
    """The gallery's example of a maxout unit: max(x, −0.5x), two linear pieces."""
    return torch.where(x >= -0.5 * x, x, -0.5 * x)


def _maxout_curve_grad(z: Tensor, a: Tensor) -> Tensor:
    return torch.where(z >= -0.5 * z, torch.ones_like(z), torch.full_like(z, -0.5))


def _gelu_grad(z: Tensor, a: Tensor) -> Tensor:
    cdf = 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))
    pdf = torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))
    return cdf + z * pdf


def _silu_grad(z: Tensor, a: Tensor) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def _zero(z: Tensor, a: Tensor) -> Tensor:
    return torch.zeros_like(z)


def _one(z: Tensor, a: Tensor) -> Tensor:
    return torch.ones_like(z)


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "step", "Step", _step, _zero, "1 if x > 0, 0.5 at 0, else 0",
            "Heaviside step: its gradient is zero almost everywhere, so backprop has nothing to pass.",
        ),
        Activation(
            "sign", "Sign", torch.sign, _zero, "+1 if x > 0, 0 at 0, else −1",
            "Sign: like the step, flat everywhere but 0 — the loss will not move through it.",
        ),
        Activation(
            "linear", "Linear", lambda z: z, _one, "x",
            "Identity: stacking linear layers is still one linear map; it cannot bend.",
        ),
        Activation(
            "piecewise", "Piecewise linear", _piecewise, _piecewise_grad, "clamp(x + ½, 0, 1)",
            "Piecewise linear: a ramp between two flat parts; gradient 1 on the ramp, 0 outside.",
        ),
        Activation(
            "sigmoid", "Sigmoid", torch.sigmoid, lambda z, a: a * (1.0 - a), "1 / (1 + e^−x)",
            "Sigmoid saturates: for large |x| its gradient vanishes and deep nets learn slowly.",
        ),
        Activation(
            "tanh", "Tanh", torch.tanh, lambda z, a: 1.0 - a * a, "(eˣ − e^−x) / (eˣ + e^−x)",
            "Tanh is zero-centred but saturates like the sigmoid at both ends.",
        ),
        Activation(
            "relu", "ReLU", F.relu, lambda z, a: (z > 0).to(z.dtype), "max(0, x)",
            "ReLU is the default because gradients pass well: slope 1 wherever the unit is on.",
        ),
        Activation(
            "leaky_relu", "Leaky ReLU", lambda z: F.leaky_relu(z, LEAKY_SLOPE),
            lambda z, a: torch.where(z > 0, torch.ones_like(z), torch.full_like(z, LEAKY_SLOPE)),
            "max(0.1x, x)",
            "Leaky ReLU keeps a small slope (0.1) below zero so units cannot die.",
        ),
        Activation(
            "elu", "ELU", lambda z: F.elu(z, ELU_ALPHA),
            lambda z, a: torch.where(z > 0, torch.ones_like(z), a + ELU_ALPHA),
            "x if x ≥ 0 else α(eˣ − 1)",
            "ELU: smooth below zero, outputs closer to zero mean than ReLU.",
        ),
        Activation(
            "maxout", "Maxout", _maxout, _maxout_curve_grad, "max(w₁x + b₁, w₂x + b₂)",
            "Maxout takes the max of two linear pieces: it learns its own convex activation.",
        ),
        Activation(
            "gelu", "GELU", F.gelu, _gelu_grad, "x · Φ(x)",
            "GELU: a smooth ReLU used in transformers; weighs x by how likely it is positive.",
        ),
        Activation(
            "silu", "SiLU", F.silu, _silu_grad, "x · σ(x)",
            "SiLU (swish): smooth, slightly negative dip, gradients pass like ReLU's.",
        ),
    )
}

assert tuple(REGISTRY) == ACTIVATIONS, "config.ACTIVATIONS and the registry disagree"


def get(name: str) -> Activation:
    return REGISTRY[name]


def curve(name: str, x: Tensor) -> Tensor:
    """The scalar curve the gallery draws (maxout as max(x, −0.5x))."""
    if name == "maxout":
        return maxout_curve(x)
    return REGISTRY[name].fn(x)


def derivative(name: str, x: Tensor) -> Tensor:
    """The hand-written derivative of `curve` at x."""
    return REGISTRY[name].grad(x, curve(name, x))
