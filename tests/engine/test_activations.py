"""Each activation's values and gradients against the lecture's formulas and autograd."""

from __future__ import annotations

import math

import pytest
import torch

from nntui.engine import activations
from nntui.engine.names import ACTIVATIONS

X = torch.tensor([-3.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 3.0], dtype=torch.float64)


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


FORMULAS = {
    "step": lambda v: 1.0 if v > 0 else (0.5 if v == 0 else 0.0),
    "sign": lambda v: 1.0 if v > 0 else (0.0 if v == 0 else -1.0),
    "linear": lambda v: v,
    "piecewise": lambda v: min(max(v + 0.5, 0.0), 1.0),
    "sigmoid": _sig,
    "tanh": math.tanh,
    "relu": lambda v: max(0.0, v),
    "leaky_relu": lambda v: max(0.1 * v, v),
    "elu": lambda v: v if v >= 0 else math.exp(v) - 1,
    "maxout": lambda v: max(v, -0.5 * v),
    "gelu": lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))),
    "silu": lambda v: v * _sig(v),
}
DERIVATIVES = {
    "step": lambda v: 0.0,
    "sign": lambda v: 0.0,
    "linear": lambda v: 1.0,
    "piecewise": lambda v: 1.0 if -0.5 <= v <= 0.5 else 0.0,
    "sigmoid": lambda v: _sig(v) * (1 - _sig(v)),
    "tanh": lambda v: 1 - math.tanh(v) ** 2,
    "relu": lambda v: 1.0 if v > 0 else 0.0,
    "leaky_relu": lambda v: 1.0 if v > 0 else 0.1,
    "elu": lambda v: 1.0 if v > 0 else math.exp(v),
    "maxout": lambda v: 1.0 if v >= -0.5 * v else -0.5,
    "gelu": lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi),
    "silu": lambda v: _sig(v) * (1 + v * (1 - _sig(v))),
}


def test_all_lecture_activations_are_there() -> None:
    assert set(FORMULAS) == set(ACTIVATIONS) == set(activations.REGISTRY)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_values_match_the_lecture(name: str) -> None:
    got = activations.curve(name, X)
    want = torch.tensor([FORMULAS[name](float(v)) for v in X], dtype=torch.float64)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_hand_written_derivative_matches_formula_and_autograd(name: str) -> None:
    x = X.clone().requires_grad_(True)
    y = activations.curve(name, x)
    (auto,) = torch.autograd.grad(y.sum(), x, allow_unused=True) if y.requires_grad else (torch.zeros_like(x),)
    hand = activations.derivative(name, X)
    want = torch.tensor([DERIVATIVES[name](float(v)) for v in X], dtype=torch.float64)
    torch.testing.assert_close(hand, want)
    torch.testing.assert_close(hand, auto)


def test_step_and_sign_are_flagged_zero_gradient() -> None:
    flagged = {n for n, a in activations.REGISTRY.items() if a.zero_grad}
    assert flagged == {"step", "sign"}
    for name in ACTIVATIONS:
        assert activations.REGISTRY[name].note
