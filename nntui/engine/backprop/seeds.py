"""The lecture's worked examples as lessons: seed 002's chain rule (scalar, then with a
matrix) and seed 004's slope three ways.

Every number is computed here, never typed in: seed 002's slide says ∂f/∂x = 3 where it
is −4, and a lesson that replayed the slide would repeat the slip.
"""

from __future__ import annotations

import numpy as np

from nntui.engine.backprop.lesson import FloatArray, Lesson, Node, _arr, num, term, vec

NUMERIC_H = 1e-4
"""The nudge of the numeric slope: small enough for 4 digits, large enough for float64."""


def _mat(m: FloatArray) -> str:
    """A small matrix on one line: [[a, b], [c, d]]."""
    return "[" + ", ".join(vec(row) for row in m) + "]"


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


def seed_lessons() -> tuple[Lesson, Lesson, Lesson]:
    """The three lecture lessons, in the order the stepper offers them."""
    return scalar_lesson(), vector_lesson(), slope_lesson()
