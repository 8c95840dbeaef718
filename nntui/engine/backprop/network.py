"""The current network on one point, as a lesson.

`network_grads` works one SGD step out in numbers, layer by layer, with the chain rule
written by hand; `network_lesson` turns them into the stepper's nodes. `NetworkInput` is
what the app hands over from the run (numpy arrays, no torch in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from nntui.engine.backprop.derivatives import (
    ACTIVATION_FORMULAS,
    HUBER_DELTA,
    LOSSES,
    _class_index,
    _halves,
    _sigmoid,
    activation_forward,
    activation_local,
    loss_forward_backward,
)
from nntui.engine.backprop.lesson import (
    FloatArray,
    LayerGrads,
    Lesson,
    NetworkGrads,
    Node,
    _arr,
    block,
    block_note,
    num,
    showing,
    sup,
    term,
    vec,
)

# ---------------------------------------------------------------------------- the run's input


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
