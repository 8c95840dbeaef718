"""The backprop stepper: one gradient step taken apart as a computational graph.

A `Lesson` is an ordered list of `Node`s, one per key press: first the forward values,
then, going backwards, "upstream gradient × local gradient = the gradient at each input",
and last the update w ← w − lr·g. Every number in the text is computed here with a
hand-written chain rule in numpy, never typed in: the lecture's slides have slips (seed
002 says ∂f/∂x = 3 where it is −4), and a stepper that only replays typed numbers would
repeat them. The tests compare these hand-written gradients with autograd's.

numpy only: the dashboard's UI process never imports torch, and this module is read there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Phase = Literal["forward", "backward", "update"]
"""forward values, backward gradients, then the gradient-descent step they lead to."""

LEAKY_SLOPE = 0.1
"""The lecture's Leaky ReLU is max(0.1x, x) (as nntui.engine.activations)."""
ELU_ALPHA = 1.0
HUBER_DELTA = 1.0
"""torch's huber_loss default, which the trainer uses."""
NUMERIC_H = 1e-4
"""The nudge of the numeric slope: small enough for 4 digits, large enough for float64."""

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


@dataclass(frozen=True)
class NetworkInput:
    """Everything the stepper needs about the current run, with no torch in it.

    The app builds it from the trainer's weights (numpy arrays) when the stepper opens.
    """

    weights: tuple[tuple[FloatArray, FloatArray | None], ...]
    """(W, b or None) per Linear layer, torch's layout: W has shape (out, in)."""
    acts: tuple[str, ...]
    """One activation per hidden layer (len(weights) − 1 of them)."""
    loss: str
    lr: float
    points_x: FloatArray
    """Candidate training points, shape (n, n_in), as the model sees them (scaled)."""
    points_y: FloatArray
    """Their targets, shape (n,) or (n, 1): values, 0/1 for bce, class indices for ce."""
    epoch: int
    """The epoch the weights are from (said in the lesson's title)."""
    note: str = ""
    """Anything the user should know about the points (e.g. "x and y are standardized")."""

    @property
    def n_points(self) -> int:
        return int(np.asarray(self.points_x).shape[0])

    def lesson(self, point: int, max_units: int = 4) -> Lesson:
        """The network lesson on candidate point `point` (wrapped into range)."""
        n = self.n_points
        if n == 0:
            return unavailable_lesson("there are no training points to step through")
        i = point % n
        px = np.asarray(self.points_x, dtype=np.float64)
        py = np.asarray(self.points_y, dtype=np.float64).reshape(n, -1)
        label = f"point {i + 1} of {n} · weights from epoch {self.epoch}"
        lesson = network_lesson(
            self.weights, self.acts, self.loss, px[i], py[i], self.lr, max_units, label=label
        )
        return replace(lesson, intro=f"{lesson.intro}\n{self.note}") if self.note else lesson


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


def _mat(m: FloatArray) -> str:
    """A small matrix on one line: [[a, b], [c, d]]."""
    return "[" + ", ".join(vec(row) for row in m) + "]"


def _arr(v: object) -> FloatArray:
    return np.asarray(v, dtype=np.float64)


# ---------------------------------------------------------------------------- seed 002: scalar


def scalar_lesson() -> Lesson:
    """Seed 002: f = (x + y)·z at x = −2, y = 5, z = −4, gate by gate."""
    x, y, z = np.float64(-2.0), np.float64(5.0), np.float64(-4.0)
    # forward
    q = x + y
    f = q * z
    # backward: each gate multiplies the gradient from above by its own local derivative
    df_df = np.float64(1.0)
    dq_dx, dq_dy = np.float64(1.0), np.float64(1.0)  # + gate: passes the gradient unchanged
    df_dz_local, df_dq_local = q, z  # × gate: each input's local derivative is the other input
    df_dz = df_df * df_dz_local
    df_dq = df_df * df_dq_local
    df_dx = df_dq * dq_dx
    df_dy = df_dq * dq_dy

    nodes = (
        Node("forward", "inputs", "x, y, z", _arr([x, y, z]), f"x = {num(x)}, y = {num(y)}, z = {num(z)}"),
        Node("forward", "q", "q = x + y", _arr(q), f"q = {num(x)} + {term(y)} = {num(q)}"),
        Node("forward", "f", "f = q · z", _arr(f), f"f = {num(q)} · {term(z)} = {num(f)}"),
        Node(
            "backward", "∂f/∂f", "start at the output: its gradient with respect to itself", _arr(df_df), "",
            product=f"∂f/∂f = {num(df_df)}",
            note="Every backward pass starts here.",
        ),
        Node(
            "backward", "∂f/∂z", "∂f/∂z = ∂f/∂f · ∂f/∂z(local)", _arr(df_dz), "",
            upstream=f"∂f/∂f = {num(df_df)}",
            local=f"∂(q·z)/∂z = q = {num(q)}",
            product=f"∂f/∂z = ∂f/∂f · q = {num(df_df)} · {term(q)} = {num(df_dz)}",
            note="A × gate swaps its inputs: z's local gradient is the other input, q.",
        ),
        Node(
            "backward", "∂f/∂q", "∂f/∂q = ∂f/∂f · ∂f/∂q(local)", _arr(df_dq), "",
            upstream=f"∂f/∂f = {num(df_df)}",
            local=f"∂(q·z)/∂q = z = {num(z)}",
            product=f"∂f/∂q = ∂f/∂f · z = {num(df_df)} · {term(z)} = {num(df_dq)}",
        ),
        Node(
            "backward", "∂f/∂x", "∂f/∂x = ∂f/∂q · ∂q/∂x", _arr(df_dx), "",
            upstream=f"∂f/∂q = {num(df_dq)}",
            local=f"∂q/∂x = {num(dq_dx)}",
            product=f"∂f/∂x = ∂f/∂q · ∂q/∂x = {num(df_dq)} · {term(dq_dx)} = {num(df_dx)}",
            note=(
                "A + gate hands the upstream gradient to both inputs unchanged. "
                f"(The slide's text gives {num(df_dz)} here, which is ∂f/∂z's value; "
                f"x reaches f through q, so its gradient is ∂f/∂q · 1 = {num(df_dx)}.)"
            ),
        ),
        Node(
            "backward", "∂f/∂y", "∂f/∂y = ∂f/∂q · ∂q/∂y", _arr(df_dy), "",
            upstream=f"∂f/∂q = {num(df_dq)}",
            local=f"∂q/∂y = {num(dq_dy)}",
            product=f"∂f/∂y = ∂f/∂q · ∂q/∂y = {num(df_dq)} · {term(dq_dy)} = {num(df_dy)}",
        ),
    )
    graph = "\n".join(
        (
            "x ─┐",
            "   (+)── q ──┐",
            "y ─┘         (×)── f",
            "z ───────────┘",
        )
    )
    return Lesson(
        title="chain rule: f = (x + y)·z",
        intro=(
            "Seed 002's first example. Forward: compute q, then f. Backward: start from ∂f/∂f = 1 and at "
            "each gate multiply the upstream gradient by the gate's local gradient."
        ),
        nodes=nodes,
        graph=graph,
        results={
            "x": _arr(x), "y": _arr(y), "z": _arr(z), "q": _arr(q), "f": _arr(f),
            "df_dz": _arr(df_dz), "df_dq": _arr(df_dq), "df_dx": _arr(df_dx), "df_dy": _arr(df_dy),
        },
    )


# ---------------------------------------------------------------------------- seed 002: vectorized


def vector_lesson() -> Lesson:
    """Seed 002: f = ‖W·x‖² with a 2×2 W: the same chain rule with vectors and a transpose."""
    W = _arr([[0.1, 0.5], [-0.3, 0.8]])
    x = _arr([0.2, 0.4])
    q = W @ x
    f = np.float64(np.sum(q * q))
    df_df = np.float64(1.0)
    local_q = 2.0 * q  # ∂(Σ qᵢ²)/∂qᵢ = 2qᵢ
    df_dq = df_df * local_q
    df_dW = np.outer(df_dq, x)  # ∂qᵢ/∂Wᵢⱼ = xⱼ
    df_dx = W.T @ df_dq  # ∂qᵢ/∂xⱼ = Wᵢⱼ: summed over i, hence the transpose

    q_rows = "\n".join(
        f"q{i + 1} = {num(W[i, 0])}·{term(x[0])} + {term(W[i, 1])}·{term(x[1])} = {num(q[i])}" for i in range(2)
    )
    dW_rows = "\n".join(
        f"∂f/∂W{i + 1}{j + 1} = ∂f/∂q{i + 1} · x{j + 1} = {num(df_dq[i])} · {term(x[j])} = {num(df_dW[i, j])}"
        for i in range(2)
        for j in range(2)
    )
    dx_rows = "\n".join(
        f"∂f/∂x{j + 1} = W1{j + 1}·∂f/∂q1 + W2{j + 1}·∂f/∂q2 = {num(W[0, j])}·{term(df_dq[0])} + "
        f"{term(W[1, j])}·{term(df_dq[1])} = {num(df_dx[j])}"
        for j in range(2)
    )
    nodes = (
        Node("forward", "inputs", "W (2×2), x (2)", np.concatenate([W.ravel(), x]), f"W = {_mat(W)}\nx = {vec(x)}"),
        Node("forward", "q", "q = W·x", q, f"{q_rows}\nq = {vec(q)}"),
        Node(
            "forward", "f", "f = ‖q‖² = q1² + q2²", _arr(f),
            f"f = {num(q[0])}² + {num(q[1])}² = {num(q[0] ** 2)} + {term(q[1] ** 2)} = {num(f)}",
        ),
        Node(
            "backward", "∂f/∂f", "start at the output: its gradient with respect to itself", _arr(df_df), "",
            product=f"∂f/∂f = {num(df_df)}",
        ),
        Node(
            "backward", "∇q f", "∇q f = ∂f/∂f · 2q", df_dq, "",
            upstream=f"∂f/∂f = {num(df_df)}",
            local=f"∂f/∂qᵢ = 2qᵢ = 2·{vec(q)} = {vec(local_q)}",
            product=f"∇q f = {num(df_df)} · {vec(local_q)} = {vec(df_dq)}",
        ),
        Node(
            "backward", "∇W f", "∂f/∂Wᵢⱼ = ∂f/∂qᵢ · xⱼ   (∇W f = ∇q f · xᵀ)", df_dW, "",
            upstream=f"∇q f = {vec(df_dq)}",
            local=f"∂qᵢ/∂Wᵢⱼ = xⱼ, x = {vec(x)}",
            product=f"{dW_rows}\n∇W f = {_mat(df_dW)}",
            note="A × gate again: W's local gradient is the other input, x.",
        ),
        Node(
            "backward", "∇x f", "∂f/∂xⱼ = Σᵢ Wᵢⱼ · ∂f/∂qᵢ   (∇x f = Wᵀ · ∇q f)", df_dx, "",
            upstream=f"∇q f = {vec(df_dq)}",
            local=f"∂qᵢ/∂xⱼ = Wᵢⱼ, W = {_mat(W)}",
            product=f"{dx_rows}\n∇x f = {vec(df_dx)}",
            note="Mind the transpose: x1 feeds q1 through W11 = 0.1 and q2 through W21 = −0.3.",
        ),
    )
    graph = "\n".join(
        (
            "W ─┐",
            "   (·)── q ──(‖·‖²)── f",
            "x ─┘",
        )
    )
    return Lesson(
        title="vectorized: f = ‖W·x‖²",
        intro=(
            "Seed 002's second example: the same chain rule with a matrix. The gradient of f with respect to W "
            "has W's shape, and the one with respect to x needs Wᵀ."
        ),
        nodes=nodes,
        graph=graph,
        results={"W": W, "x": x, "q": q, "f": _arr(f), "df_dq": df_dq, "df_dW": df_dW, "df_dx": df_dx},
    )


# ---------------------------------------------------------------------------- seed 004: the slope three ways


def slope_lesson() -> Lesson:
    """Seed 004: E = (wx − y)² at (x, y) = (1, 1), w = 3, the slope three ways, one step at lr 0.1."""
    x, y, w, lr = np.float64(1.0), np.float64(1.0), np.float64(3.0), np.float64(0.1)

    def energy(wv: np.float64) -> np.float64:
        return np.float64((wv * x - y) ** 2)

    h = w * x
    e = h - y
    E = e * e
    dE_dE = np.float64(1.0)
    dE_de = dE_dE * (2.0 * e)
    dE_dh = dE_de * 1.0  # e = h − y: ∂e/∂h = 1
    dE_dw = dE_dh * x  # h = w·x: ∂h/∂w = x
    step = np.float64(NUMERIC_H)
    numeric = (energy(w + step) - energy(w - step)) / (2.0 * step)
    calculus = 2.0 * (w * x - y) * x
    w_new = w - lr * dE_dw
    E_new = energy(w_new)
    slopes = _arr([numeric, dE_dw, calculus])

    nodes = (
        Node(
            "forward", "inputs", "(x, y) = (1, 1), w = 3", _arr([x, y, w]), f"x = {num(x)}, y = {num(y)}, w = {num(w)}"
        ),
        Node("forward", "h", "h = w · x   (the neuron's output)", _arr(h), f"h = {num(w)} · {term(x)} = {num(h)}"),
        Node("forward", "e", "e = h − y   (the error)", _arr(e), f"e = {num(h)} − {term(y)} = {num(e)}"),
        Node(
            "forward", "E", "E = e²", _arr(E), f"E = {num(e)}² = {num(E)}",
            note="E is large: change w so that it shrinks. Which way, and how much? The slope ∂E/∂w says.",
        ),
        Node(
            "backward", "∂E/∂E", "start at the error: its gradient with respect to itself", _arr(dE_dE), "",
            product=f"∂E/∂E = {num(dE_dE)}",
        ),
        Node(
            "backward", "∂E/∂e", "∂E/∂e = ∂E/∂E · 2e", _arr(dE_de), "",
            upstream=f"∂E/∂E = {num(dE_dE)}",
            local=f"∂(e²)/∂e = 2e = 2·{term(e)} = {num(2.0 * e)}",
            product=f"∂E/∂e = {num(dE_dE)} · {term(2.0 * e)} = {num(dE_de)}",
        ),
        Node(
            "backward", "∂E/∂h", "∂E/∂h = ∂E/∂e · ∂e/∂h", _arr(dE_dh), "",
            upstream=f"∂E/∂e = {num(dE_de)}",
            local="∂e/∂h = 1",
            product=f"∂E/∂h = {num(dE_de)} · 1 = {num(dE_dh)}",
        ),
        Node(
            "backward", "∂E/∂w", "∂E/∂w = ∂E/∂h · ∂h/∂w", _arr(dE_dw), "",
            upstream=f"∂E/∂h = {num(dE_dh)}",
            local=f"∂h/∂w = x = {num(x)}",
            product=f"∂E/∂w = {num(dE_dh)} · {term(x)} = {num(dE_dw)}",
            note="This is how w affects E: the chain rule along the graph.",
        ),
        Node(
            "backward", "three ways", "the slope ∂E/∂w three ways", slopes, (
                f"1. numeric: (E(w + h) − E(w − h)) / 2h, h = {num(step)}: "
                f"({num(energy(w + step), 8)} − {term(energy(w - step), 8)}) / {num(2.0 * step)} = {num(numeric)}\n"
                f"2. chain rule (the nodes above): {num(dE_dw)}\n"
                f"3. calculus: 2(wx − y)·x = 2·({num(w)}·{term(x)} − {term(y)})·{term(x)} = {num(calculus)}"
            ),
            note=(
                "All three agree. The numeric one costs two forward passes per weight; "
                "backprop gets them all at once."
            ),
        ),
        Node(
            "update", "w", "w ← w − α · ∂E/∂w", _arr(w_new),
            f"w = {num(w)} − {num(lr)} · {term(dE_dw)} = {num(w_new)}",
            note=f"One step of learning: E goes from {num(E)} to {num(E_new)}.",
        ),
    )
    graph = "\n".join(
        (
            "w ─┐",
            "   (×)── h ──┐",
            "x ─┘         (−)── e ──(²)── E",
            "y ───────────┘",
        )
    )
    return Lesson(
        title="slope: E = (wx − y)²",
        intro=(
            "Seed 004: one neuron, one point (x, y) = (1, 1), w starts at 3. Forward gives the error E; "
            "backward gives how w affects E; then w ← w − α·slope with α = 0.1."
        ),
        nodes=nodes,
        graph=graph,
        results={
            "h": _arr(h), "e": _arr(e), "E": _arr(E), "dE_dw_numeric": _arr(numeric), "dE_dw_chain": _arr(dE_dw),
            "dE_dw_calculus": _arr(calculus), "w_new": _arr(w_new), "E_new": _arr(E_new),
        },
    )


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


# ---------------------------------------------------------------------------- the network, by hand


def network_grads(
    weights: Sequence[tuple[FloatArray, FloatArray | None]],
    acts: Sequence[str],
    loss: str,
    x: FloatArray,
    y: FloatArray | float,
    lr: float,
) -> NetworkGrads:
    """Forward, loss, backward and one SGD step on one point, every derivative written out.

    Same network as nntui.engine.model.MLP: Linear → act per hidden layer, then a Linear
    output with no activation.
    """
    if len(acts) != len(weights) - 1:
        raise ValueError(f"{len(weights)} layers need {len(weights) - 1} hidden activations, got {len(acts)}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: one of {', '.join(LOSSES)}")
    Ws = [np.asarray(W, dtype=np.float64) for W, _ in weights]
    bs = [None if b is None else np.asarray(b, dtype=np.float64) for _, b in weights]
    a = np.asarray(x, dtype=np.float64).ravel()
    yv = np.asarray(y, dtype=np.float64).ravel()

    # forward: keep every layer's input, pre-activation and activation for the way back
    inputs: list[FloatArray] = []
    zs: list[FloatArray] = []
    outs: list[FloatArray] = []
    locals_: list[FloatArray] = []
    names: list[str | None] = [*acts, None]
    for W, b, act in zip(Ws, bs, names):
        if W.ndim != 2 or W.shape[1] != a.size:
            raise ValueError(f"layer {len(zs) + 1}: W has shape {W.shape}, its input has {a.size} values")
        inputs.append(a)
        z = W @ a + (0.0 if b is None else b)
        out = z if act is None else activation_forward(act, z)
        locals_.append(np.ones_like(z) if act is None else activation_local(act, z, out))
        zs.append(z)
        outs.append(out)
        a = out
    value, dL_dout = loss_forward_backward(loss, a, yv)

    # backward: upstream at a layer's output × the activation's f′ = dL/dz; dL/dz ⊗ input = dL/dW
    n = len(Ws)
    dL_da: list[FloatArray] = [np.empty(0)] * n
    dL_dz: list[FloatArray] = [np.empty(0)] * n
    dWs: list[FloatArray] = [np.empty(0)] * n
    upstream = dL_dout
    for i in range(n - 1, -1, -1):
        dL_da[i] = upstream
        # maxout's z is twice as wide: each half gets the upstream where its piece won
        spread = np.concatenate([upstream, upstream]) if names[i] == "maxout" else upstream
        dL_dz[i] = spread * locals_[i]
        dWs[i] = np.outer(dL_dz[i], inputs[i])
        upstream = Ws[i].T @ dL_dz[i]

    layers: list[LayerGrads] = []
    for i in range(n):
        b = bs[i]
        layers.append(
            LayerGrads(
                index=i + 1, act=names[i], W=Ws[i], b=b, a_in=inputs[i], z=zs[i], a=outs[i], local=locals_[i],
                dL_da=dL_da[i], dL_dz=dL_dz[i], dW=dWs[i], db=None if b is None else dL_dz[i].copy(),
                W_new=Ws[i] - lr * dWs[i], b_new=None if b is None else b - lr * dL_dz[i],
            )
        )
    return NetworkGrads(
        x=inputs[0], y=yv, loss_name=loss, loss=float(value), output=outs[-1], dL_doutput=dL_dout,
        dL_dx=upstream, layers=tuple(layers), lr=float(lr),
    )


def _sub(name: str, i: int) -> str:
    return f"{name}[{i + 1}]"


def _unit_sum(
    W: FloatArray, b: FloatArray | None, a_in: FloatArray, z: FloatArray, row: int, k: int, out_name: str
) -> str:
    """One unit worked out: z[1] = W[1,1]·x[1] + … + b[1] = the number (first k terms)."""
    cols = a_in.size
    terms = [f"{term(W[row, j]) if j else num(W[row, j])}·{term(a_in[j])}" for j in range(min(cols, k))]
    if cols > k:
        terms.append("…")
    if b is not None:
        terms.append(term(b[row]))
    return f"{_sub(out_name, row)} = {' + '.join(terms)} = {num(z[row])}"


def _update_line(name: str, old: float, grad: float, lr: float) -> str:
    """old − lr·g = new, with digits enough to see the change (lr 0.001 moves the 6th digit)."""
    new = old - lr * grad
    if grad == 0.0:
        return f"{name} = {num(old, 6)} − {num(lr)} · 0 = {num(old, 6)}  (no gradient: unchanged)"
    digits = 6
    while digits < 15 and new != old and num(new, digits) == num(old, digits):
        digits += 1
    before = num(old, digits)
    return f"{name} = {before} − {num(lr)} · {term(grad)} = {before} {_signed(-lr * grad)} = {num(new, digits)}"


def _signed(v: float) -> str:
    """"+ 0.4" or "− 0.4": a term added to what came before."""
    s = num(abs(v))
    return f"− {s}" if v < 0 else f"+ {s}"


def _loss_text(loss: str, out: FloatArray, y: FloatArray, value: float) -> tuple[str, str]:
    """(formula, worked-out line) of the loss on this point."""
    if loss == "ce":
        t = _class_index(y, out.size)
        m = float(np.max(out))
        p = np.exp(out - m) / np.sum(np.exp(out - m))
        return (
            "L = −log softmax(ŷ)[y]   (cross-entropy on the logits)",
            f"softmax(ŷ) = {vec(p)}, y = class {t}\nL = −log {num(p[t])} = {num(value)}",
        )
    o, yv = float(out[0]), float(y[0])
    d = o - yv
    if loss == "l1":
        return "L = |ŷ − y|", f"L = |{num(o)} − {term(yv)}| = {num(value)}"
    if loss == "mse":
        return "L = (ŷ − y)²", f"L = ({num(o)} − {term(yv)})² = {num(value)}"
    if loss == "huber":
        huber = "L = ½(ŷ − y)² if |ŷ − y| < 1, else |ŷ − y| − ½"
        if abs(d) < HUBER_DELTA:
            return huber, f"|ŷ − y| = {num(abs(d))} < 1: L = ½·{term(d)}² = {num(value)}"
        return huber, f"|ŷ − y| = {num(abs(d))} ≥ 1: L = {num(abs(d))} − ½ = {num(value)}"
    p = float(_sigmoid(_arr([o]))[0])
    return (
        "L = −[y·log p + (1 − y)·log(1 − p)], p = σ(ŷ)   (bce on the logit)",
        f"p = σ({num(o)}) = {num(p)}, y = {num(yv)}\n"
        f"L = −[{num(yv)}·log {num(p)} + {term(1.0 - yv)}·log {num(1.0 - p)}] = {num(value)}",
    )


def _loss_local(loss: str, out: FloatArray, y: FloatArray, grad: FloatArray) -> str:
    """The loss's own derivative, worked out."""
    if loss == "ce":
        t = _class_index(y, out.size)
        return f"∂L/∂ŷ = softmax(ŷ) − onehot(y = {t}) = {vec(grad)}"
    o, yv = float(out[0]), float(y[0])
    d = o - yv
    if loss == "l1":
        return f"∂|ŷ − y|/∂ŷ = sign(ŷ − y) = sign({num(d)}) = {num(grad[0])}"
    if loss == "mse":
        return f"∂(ŷ − y)²/∂ŷ = 2(ŷ − y) = 2·{term(d)} = {num(grad[0])}"
    if loss == "huber":
        return f"∂L/∂ŷ = ŷ − y clamped to [−1, 1] = clamp({num(d)}) = {num(grad[0])}"
    return f"∂L/∂ŷ = σ(ŷ) − y = {num(float(_sigmoid(_arr([o]))[0]))} − {term(yv)} = {num(grad[0])}"


def network_lesson(
    weights: Sequence[tuple[FloatArray, FloatArray | None]],
    acts: Sequence[str],
    loss: str,
    x: FloatArray,
    y: FloatArray | float,
    lr: float,
    max_units: int = 4,
    *,
    label: str = "",
) -> Lesson:
    """The current network on one point: forward layer by layer, backward layer by layer, the SGD step.

    Wide layers show their first `max_units` units (a max_units×max_units block of a
    matrix) and say so; the numbers in `grads` are the full ones.
    """
    g = network_grads(weights, acts, loss, x, y, lr)
    k = max(1, int(max_units))
    L = len(g.layers)
    nodes: list[Node] = []

    def in_name(layer: LayerGrads) -> str:
        return "x" if layer.index == 1 else f"a{sup(layer.index - 1)}"

    def z_name(layer: LayerGrads) -> str:
        return "ŷ" if layer.act is None else f"z{sup(layer.index)}"

    def note_for(n: int, what: str = "units") -> str:
        return showing(n, k, what)

    target = f"class {_class_index(g.y, g.output.size)}" if loss == "ce" else num(float(g.y[0]))
    nodes.append(
        Node(
            "forward", "x", "x (one training point) and its target y", g.x,
            f"x = {vec(g.x, k)}\ny = {target}", note=note_for(g.x.size, "inputs"),
        )
    )
    for layer in g.layers:
        ln, zn, up = sup(layer.index), z_name(layer), in_name(layer)
        bias = f" + b{ln}" if layer.b is not None else ""
        maxout = layer.act == "maxout"
        z_text = [_unit_sum(layer.W, layer.b, layer.a_in, layer.z, 0, k, zn)]
        if maxout:
            first, second = _halves(layer.z)
            z_text.append(f"piece 1: {vec(first, k)}\npiece 2: {vec(second, k)}")
            shown = note_for(first.size)
        else:
            z_text.append(f"{zn} = {vec(layer.z, k)}")
            shown = note_for(layer.z.size)
        nodes.append(
            Node(
                "forward", zn,
                f"{zn} = W{ln}·{up}{bias}" + ("   (the output: no activation)" if layer.act is None else ""),
                layer.z, "\n".join(z_text), note=shown,
            )
        )
        if layer.act is not None:
            an = f"a{ln}"
            what = ACTIVATION_FORMULAS[layer.act][0]
            fn = "max of the two pieces of " if layer.act == "maxout" else layer.act
            nodes.append(
                Node(
                    "forward", an, f"{an} = {fn}({zn})", layer.a, f"{what}\n{an} = {vec(layer.a, k)}",
                    note=note_for(layer.a.size),
                )
            )
    loss_formula, loss_worked = _loss_text(loss, g.output, g.y, g.loss)
    nodes.append(Node("forward", "L", loss_formula, _arr(g.loss), loss_worked))

    # backward, from the loss down to the first layer
    nodes.append(
        Node(
            "backward", "∂L/∂ŷ", "∂L/∂ŷ = ∂L/∂L · ∂L/∂ŷ(local)", g.dL_doutput, "",
            upstream="∂L/∂L = 1",
            local=_loss_local(loss, g.output, g.y, g.dL_doutput),
            product=f"∂L/∂ŷ = 1 · {vec(g.dL_doutput, k)} = {vec(g.dL_doutput, k)}",
            note=note_for(g.dL_doutput.size, "outputs"),
        )
    )
    for layer in reversed(g.layers):
        ln, zn, up = sup(layer.index), z_name(layer), in_name(layer)
        if layer.act is not None:
            an = f"a{ln}"
            fprime = ACTIVATION_FORMULAS[layer.act][1]
            if layer.act == "maxout":
                first, _ = _halves(layer.z)
                winners = ["1" if w else "2" for w in layer.local[: first.size] > 0]
                h = first.size
                product = "\n".join(
                    f"{_sub(an, i)}: piece {winners[i]} won, so it gets {num(layer.dL_da[i])}, the other 0"
                    for i in range(min(h, k))
                )
                local_text = f"winning piece per unit: {', '.join(winners[:k])}{', …' if h > k else ''}"
                note = note_for(h)
            else:
                product = "\n".join(
                    f"{_sub('∂L/∂' + zn, i)} = {num(layer.dL_da[i])} · {term(layer.local[i])} = {num(layer.dL_dz[i])}"
                    for i in range(min(layer.z.size, k))
                )
                local_text = f"{fprime}: {vec(layer.local, k)}"
                note = note_for(layer.z.size)
            if layer.act in ("step", "sign"):
                note = (note + "\n" if note else "") + (
                    f"{layer.act}′ is 0: no gradient gets below this layer, so nothing under it learns."
                )
            nodes.append(
                Node(
                    "backward", f"∂L/∂{zn}", f"∂L/∂{zn} = ∂L/∂{an} ⊙ f′({zn})", layer.dL_dz, "",
                    upstream=f"∂L/∂{an} = {vec(layer.dL_da, k)}",
                    local=local_text,
                    product=f"{product}\n∂L/∂{zn} = {vec(layer.dL_dz, k)}",
                    note=note,
                )
            )
        # weights and bias of this layer
        dw_first = (
            f"∂L/∂W{ln}[1,1] = ∂L/∂{zn}[1] · {up}[1] = {num(layer.dL_dz[0])} · {term(layer.a_in[0])} "
            f"= {num(layer.dW[0, 0])}"
        )
        lines = [dw_first, f"∂L/∂W{ln} =", *block(layer.dW, k)]
        name = f"∂L/∂W{ln}"
        formula = f"∂L/∂W{ln}[i,j] = ∂L/∂{zn}[i] · {up}[j]   (∂L/∂{zn} · {up}ᵀ)"
        if layer.db is not None:
            lines.append(f"∂L/∂b{ln} = ∂L/∂{zn} · 1 = {vec(layer.db, k)}")
            name += f", ∂L/∂b{ln}"
            formula += f";  ∂L/∂b{ln} = ∂L/∂{zn}"
        nodes.append(
            Node(
                "backward", name, formula, layer.dW, "",
                upstream=f"∂L/∂{zn} = {vec(layer.dL_dz, k)}",
                local=f"∂{zn}[i]/∂W{ln}[i,j] = {up}[j], {up} = {vec(layer.a_in, k)}"
                + (f"; ∂{zn}/∂b{ln} = 1" if layer.b is not None else ""),
                product="\n".join(lines),
                note=block_note(layer.dW, k),
            )
        )
        if layer.index > 1:
            below = g.layers[layer.index - 2]
            an = f"a{sup(below.index)}"
            terms = [
                f"{term(layer.W[i, 0]) if i else num(layer.W[i, 0])}·{term(layer.dL_dz[i])}"
                for i in range(min(layer.z.size, k))
            ]
            if layer.z.size > k:
                terms.append("…")
            nodes.append(
                Node(
                    "backward", f"∂L/∂{an}", f"∂L/∂{an}[j] = Σᵢ W{ln}[i,j] · ∂L/∂{zn}[i]   (W{ln}ᵀ · ∂L/∂{zn})",
                    below.dL_da, "",
                    upstream=f"∂L/∂{zn} = {vec(layer.dL_dz, k)}",
                    local=f"∂{zn}[i]/∂{an}[j] = W{ln}[i,j]",
                    product=f"∂L/∂{an}[1] = {' + '.join(terms)} = {num(below.dL_da[0])}\n"
                    f"∂L/∂{an} = {vec(below.dL_da, k)}",
                    note=note_for(below.dL_da.size),
                )
            )

    # the update, layer by layer
    for layer in g.layers:
        ln = sup(layer.index)
        worked = _update_line(f"W{ln}[1,1]", float(layer.W[0, 0]), float(layer.dW[0, 0]), g.lr)
        lines = [worked, f"W{ln} after the step =", *block(layer.W_new, k, 6)]
        formula = f"W{ln} ← W{ln} − lr · ∂L/∂W{ln}"
        if layer.b is not None and layer.b_new is not None and layer.db is not None:
            lines.append(_update_line(f"b{ln}[1]", float(layer.b[0]), float(layer.db[0]), g.lr))
            lines.append(f"b{ln} after the step = {vec(layer.b_new, k, 6)}")
            formula += f";  b{ln} ← b{ln} − lr · ∂L/∂b{ln}"
        nodes.append(
            Node("update", f"W{ln}", formula, layer.W_new, "\n".join(lines), note=block_note(layer.W, k))
        )

    arch = [f"x({g.x.size})"]
    for layer in g.layers:
        ln = sup(layer.index)
        params = f"[W{ln}, b{ln}]" if layer.b is not None else f"[W{ln}]"
        if layer.act is None:
            arch.append(f"{params} → ŷ({layer.z.size})")
        else:
            arch.append(f"{params} → z{ln} → {layer.act} → a{ln}({layer.a.size})")
    arch.append(f"{loss} → L")
    title = f"this network: {loss} loss, lr {num(g.lr)}"
    intro = (
        "The current weights on one training point: forward layer by layer, then the chain rule back "
        f"from the loss, then one plain SGD step w ← w − lr·g on this point alone (the run itself averages over "
        f"its batch and may use another optimizer). {L} layer{'s' if L != 1 else ''}."
    )
    if label:
        intro = f"{label}\n{intro}"
    return Lesson(
        title=title,
        intro=intro,
        nodes=tuple(nodes),
        graph=" → ".join(arch),
        results={"loss": _arr(g.loss), "output": g.output, "dL_doutput": g.dL_doutput, "dL_dx": g.dL_dx},
        grads=g,
    )


def unavailable_lesson(reason: str) -> Lesson:
    """The network lesson's stand-in when there are no weights to step through."""
    return Lesson(title="this network", intro=f"Not available: {reason}.", nodes=(), available=False)


def seed_lessons() -> tuple[Lesson, Lesson, Lesson]:
    """The three lecture lessons, in the order the stepper offers them."""
    return scalar_lesson(), vector_lesson(), slope_lesson()
