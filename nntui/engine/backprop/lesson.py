"""What a lesson is made of, and how its numbers are written.

`Node`, `Lesson` and the per-layer numbers of the network lesson (`LayerGrads`,
`NetworkGrads`), then the number text every lesson shares: few digits, a real minus sign,
negatives in parentheses after the first term, and an honest "showing 4 of 32 units".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Phase = Literal["forward", "backward", "update"]
"""forward values, backward gradients, then the gradient-descent step they lead to."""


# ---------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Node:
    """One key press of the stepper: a forward value, a backward gradient or an update."""

    phase: Phase
    name: str
    """What this node computes, e.g. "q" or "∂f/∂x"."""
    formula: str
    """One line, symbols only: "q = x + y"."""
    value: FloatArray
    """The computed number(s), full size (the text may show a slice)."""
    text: str
    """The value worked out with numbers, e.g. "q = −2 + 5 = 3"; may span lines."""
    upstream: str | None = None
    """Backward nodes: the gradient arriving from above, e.g. "∂f/∂q = −4"."""
    local: str | None = None
    """Backward nodes: this gate's own derivative, e.g. "∂q/∂x = 1"."""
    product: str | None = None
    """Backward nodes: upstream × local, e.g. "∂f/∂x = ∂f/∂q · ∂q/∂x = −4 · 1 = −4"."""
    note: str = ""
    """Why it matters, or what is left out ("showing 4 of 32 units")."""

    def lines(self) -> list[str]:
        """The node as a person reads it, one string per line (the screen adds the styling)."""
        out = [self.formula]
        if self.upstream is not None:
            out.append(f"upstream  {self.upstream}")
        if self.local is not None:
            out.append(f"local     {self.local}")
        if self.product is not None:
            out.extend(self.product.splitlines())
        if self.text:
            out.extend(self.text.splitlines())
        if self.note:
            out.extend(self.note.splitlines())
        return out


@dataclass(frozen=True)
class LayerGrads:
    """One Linear layer (and the activation after it) on one point, forward and backward."""

    index: int
    """1-based, as the text writes it (W¹ is the first layer)."""
    act: str | None
    """The activation after this layer; None for the output layer."""
    W: FloatArray
    b: FloatArray | None
    a_in: FloatArray
    """The layer's input: x for the first layer, the previous activation after that."""
    z: FloatArray
    """Pre-activation W·a_in + b (twice the width of `a` for maxout)."""
    a: FloatArray
    """Activation f(z); the output layer has none, so a = z there."""
    local: FloatArray
    """f′(z), shape of z: what the activation multiplies the upstream gradient by (for
    maxout 1 on the winning piece, 0 on the other)."""
    dL_da: FloatArray
    """Upstream gradient at this layer's output a."""
    dL_dz: FloatArray
    dW: FloatArray
    db: FloatArray | None
    W_new: FloatArray
    """After one plain SGD step on this point: W − lr·dW."""
    b_new: FloatArray | None


@dataclass(frozen=True)
class NetworkGrads:
    """The whole step on one point, as numbers (what the network lesson's text shows)."""

    x: FloatArray
    y: FloatArray
    """The target: the value (regression, bce) or the class index as a float (ce)."""
    loss_name: str
    loss: float
    output: FloatArray
    """ŷ: the network's output (logits for bce and ce)."""
    dL_doutput: FloatArray
    dL_dx: FloatArray
    layers: tuple[LayerGrads, ...]
    lr: float


@dataclass(frozen=True)
class Lesson:
    """A title, why it is worth stepping through, the graph and its nodes in order."""

    title: str
    intro: str
    nodes: tuple[Node, ...]
    graph: str = ""
    """The computational graph as a small text drawing (the nodes' names on it)."""
    results: Mapping[str, FloatArray] = field(default_factory=dict)
    """The computed numbers by name, for tests and anyone who wants the values, not text."""
    grads: NetworkGrads | None = None
    """The network lesson's numbers."""
    available: bool = True
    """False when the lesson cannot be built (no run yet); `intro` then says why."""


# ---------------------------------------------------------------------------- number text


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def num(v: float, digits: int = 4) -> str:
    """A number as the slides write it: few digits, a real minus sign, no "-0"."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0.0:
        return "0"
    s = f"{v:.{digits}g}"
    if "e" in s:
        mantissa, exp = s.split("e")
        s = f"{mantissa}e{int(exp)}"
    return s.replace("-", "−")


def term(v: float, digits: int = 4) -> str:
    """A number used as a factor or addend after the first: negatives in parentheses."""
    s = num(v, digits)
    return f"({s})" if s.startswith("−") else s


def sup(i: int) -> str:
    return str(i).translate(SUPERSCRIPTS)


def vec(v: FloatArray, k: int | None = None, digits: int = 4) -> str:
    """[a, b, c, …]: the first k entries (all if k is None)."""
    flat = np.asarray(v, dtype=np.float64).ravel()
    shown = flat if k is None else flat[:k]
    more = ", …" if k is not None and flat.size > k else ""
    return "[" + ", ".join(num(t, digits) for t in shown) + more + "]"


def showing(n: int, k: int, what: str = "units") -> str:
    """The honest "showing 4 of 32 units" when a slice is shown; empty when all are."""
    return f"showing {k} of {n} {what}" if n > k else ""


def block(m: FloatArray, k: int, digits: int = 4) -> list[str]:
    """A matrix's top-left k×k block, columns aligned, one row a line."""
    rows, cols = m.shape
    r, c = min(rows, k), min(cols, k)
    cells = [[num(m[i, j], digits) for j in range(c)] for i in range(r)]
    width = max((len(s) for row in cells for s in row), default=1)
    lines = []
    for i, row in enumerate(cells):
        tail = "  …" if cols > c else ""
        lines.append("  [" + "  ".join(s.rjust(width) for s in row) + tail + "]")
        if i == r - 1 and rows > r:
            lines.append("  ⋮")
    return lines


def block_note(m: FloatArray, k: int) -> str:
    rows, cols = m.shape
    if rows <= k and cols <= k:
        return ""
    return f"showing {min(rows, k)}×{min(cols, k)} of {rows}×{cols}"


def _arr(v: object) -> FloatArray:
    return np.asarray(v, dtype=np.float64)
