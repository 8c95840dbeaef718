"""Activations and losses by hand: f(z) and f′(z), the loss and ∂L/∂ŷ, in numpy.

They follow nntui.engine.activations and torch's losses, autograd's conventions at the
kinks included, so the tests can hold them against autograd; the formulas shown for each
activation sit beside the code they describe.
"""

from __future__ import annotations

import math

import numpy as np

from nntui.engine.backprop.lesson import FloatArray, _arr, num

LEAKY_SLOPE = 0.1
"""The lecture's Leaky ReLU is max(0.1x, x) (as nntui.engine.activations)."""
ELU_ALPHA = 1.0
HUBER_DELTA = 1.0
"""torch's huber_loss default, which the trainer uses."""

ACTIVATION_FORMULAS: dict[str, tuple[str, str]] = {
    # name: (a = f(z), f′(z)); the text shown, kept beside the numpy code it describes
    "step": ("step(z): 1 if z > 0, ½ at 0, else 0", "step′(z) = 0 everywhere"),
    "sign": ("sign(z): +1 if z > 0, 0 at 0, else −1", "sign′(z) = 0 everywhere"),
    "linear": ("z (no activation)", "1"),
    "piecewise": ("clamp(z + ½, 0, 1)", "1 where −½ ≤ z ≤ ½, else 0"),
    "sigmoid": ("σ(z) = 1 / (1 + e^−z)", "σ′(z) = a·(1 − a)"),
    "tanh": ("tanh(z)", "tanh′(z) = 1 − a²"),
    "relu": ("relu(z) = max(0, z)", "relu′(z) = 1 if z > 0, else 0"),
    "leaky_relu": ("leaky(z) = max(0.1z, z)", "leaky′(z) = 1 if z > 0, else 0.1"),
    "elu": ("elu(z) = z if z > 0, else eᶻ − 1", "elu′(z) = 1 if z > 0, else eᶻ"),
    "maxout": ("max(piece 1, piece 2): the layer is twice as wide", "1 for the winning piece, 0 for the other"),
    "gelu": ("gelu(z) = z·Φ(z)", "gelu′(z) = Φ(z) + z·φ(z)"),
    "silu": ("silu(z) = z·σ(z)", "silu′(z) = σ(z)·(1 + z·(1 − σ(z)))"),
}
ACTIVATIONS = tuple(ACTIVATION_FORMULAS)
LOSSES = ("l1", "mse", "huber", "bce", "ce")


# ---------------------------------------------------------------------------- activations and losses


def _erf(v: FloatArray) -> FloatArray:
    # numpy has no erf; the arrays here are one layer wide, so math.erf per element is cheap
    return np.asarray(np.vectorize(math.erf, otypes=[np.float64])(v), dtype=np.float64)


def _sigmoid(v: FloatArray) -> FloatArray:
    # e^−|v| never overflows; both halves of the usual formula from it
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activation_forward(name: str, z: FloatArray) -> FloatArray:
    """a = f(z) as nntui.engine.activations defines it (maxout halves the width)."""
    if name == "step":
        return np.sign(z) * 0.5 + 0.5
    if name == "sign":
        return np.sign(z)
    if name == "linear":
        return z.copy()
    if name == "piecewise":
        return np.clip(z + 0.5, 0.0, 1.0)
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "elu":
        return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "maxout":
        first, second = _halves(z)
        # ties go to the first piece, as activations._maxout's torch.where does
        return np.where(first >= second, first, second)
    if name == "gelu":
        return z * 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    if name == "silu":
        return z * _sigmoid(z)
    raise ValueError(f"unknown activation {name!r}: one of {', '.join(ACTIVATIONS)}")


def activation_local(name: str, z: FloatArray, a: FloatArray) -> FloatArray:
    """f′(z), shape of z, with autograd's conventions at the kinks.

    relu′(0) = 0, leaky′(0) = 0.1, elu′(0) = 1, piecewise passes at both bounds
    (clamp's backward is inclusive), step and sign are 0 (sign's backward), maxout routes
    to the first piece on a tie.
    """
    if name in ("step", "sign"):
        return np.zeros_like(z)
    if name == "linear":
        return np.ones_like(z)
    if name == "piecewise":
        s = z + 0.5
        return ((s >= 0.0) & (s <= 1.0)).astype(np.float64)
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE)
    if name == "elu":
        return np.where(z > 0, 1.0, ELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    if name == "maxout":
        first, second = _halves(z)
        wins = first >= second
        return np.concatenate([wins, ~wins]).astype(np.float64)
    if name == "gelu":
        cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return cdf + z * pdf
    if name == "silu":
        s = _sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    raise ValueError(f"unknown activation {name!r}: one of {', '.join(ACTIVATIONS)}")


def _halves(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    if z.shape[-1] % 2:
        raise ValueError(f"a maxout layer needs an even width (two pieces per unit), got {z.shape[-1]}")
    h = z.shape[-1] // 2
    return z[:h], z[h:]


def loss_forward_backward(name: str, out: FloatArray, y: FloatArray) -> tuple[float, FloatArray]:
    """The loss on one row (mean reduction = the row's loss) and dL/d(output), torch's conventions."""
    if name == "ce":
        t = _class_index(y, out.size)
        m = float(np.max(out))
        lse = m + math.log(float(np.sum(np.exp(out - m))))
        p = np.exp(out - lse)
        onehot = np.zeros_like(out)
        onehot[t] = 1.0
        return lse - float(out[t]), p - onehot
    if out.size != 1:
        raise ValueError(f"{name} needs one output, the network has {out.size}")
    yv = float(np.asarray(y, dtype=np.float64).ravel()[0])
    o = float(out[0])
    d = o - yv
    if name == "l1":
        return abs(d), _arr([float(np.sign(d))])  # sign(0) = 0, as torch's l1 backward
    if name == "mse":
        return d * d, _arr([2.0 * d])
    if name == "huber":
        loss = 0.5 * d * d if abs(d) < HUBER_DELTA else HUBER_DELTA * (abs(d) - 0.5 * HUBER_DELTA)
        return loss, _arr([min(max(d, -HUBER_DELTA), HUBER_DELTA)])
    if name == "bce":
        # with logits: max(o, 0) − o·y + log(1 + e^−|o|), never overflowing
        loss = max(o, 0.0) - o * yv + math.log1p(math.exp(-abs(o)))
        return loss, _arr([float(_sigmoid(_arr([o]))[0]) - yv])
    raise ValueError(f"unknown loss {name!r}: one of {', '.join(LOSSES)}")


def _class_index(y: FloatArray | float, n_classes: int) -> int:
    v = float(np.asarray(y, dtype=np.float64).ravel()[0])
    t = round(v)
    if t != v or not 0 <= t < n_classes:
        raise ValueError(f"ce needs a class index in 0..{n_classes - 1}, got {num(v)}")
    return t
