"""The backprop stepper's hand-written chain rule: the lecture's numbers, and autograd's.

The seed lessons are pinned to the slides' numbers (with seed 002's ∂f/∂x slip corrected);
the network lesson is compared with autograd on real nntui networks for every activation
and every loss, including the kinks, where the convention must be autograd's own.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import Tensor

from nntui.engine import activations, backprop
from nntui.engine.backprop import FloatArray, Lesson, NetworkGrads, NetworkInput
from nntui.engine.backprop.network import _update_line
from nntui.engine.model import MLP, build_mlp
from nntui.engine.steps import loss_function

CPU = torch.device("cpu")


def _all_text(lesson: Lesson) -> str:
    return "\n".join(line for node in lesson.nodes for line in node.lines())


def _close(got: object, want: object, tol: float = 1e-12) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64), rtol=0, atol=tol)


def _same(mine: FloatArray, autograd: Tensor) -> None:
    """Hand-written (numpy float64) against autograd (float64): a tight tolerance, a few ulps of room."""
    torch.testing.assert_close(torch.from_numpy(np.asarray(mine, dtype=np.float64)), autograd, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- the seeds


def test_scalar_lesson_pins_seed_002() -> None:
    lesson = backprop.scalar_lesson()
    r = lesson.results
    _close(r["q"], 3.0)
    _close(r["f"], -12.0)
    _close(r["df_dz"], 3.0)
    _close(r["df_dq"], -4.0)
    _close(r["df_dx"], -4.0)
    _close(r["df_dy"], -4.0)
    phases = [n.phase for n in lesson.nodes]
    assert phases == sorted(phases, key=["forward", "backward"].index), "all forward nodes before the backward ones"
    by_name = {n.name: n for n in lesson.nodes}
    _close(by_name["∂f/∂x"].value, -4.0)
    assert by_name["∂f/∂x"].product == "∂f/∂x = ∂f/∂q · ∂q/∂x = −4 · 1 = −4"
    assert by_name["∂f/∂x"].upstream == "∂f/∂q = −4" and by_name["∂f/∂x"].local == "∂q/∂x = 1"


def test_scalar_lesson_does_not_repeat_the_slides_slip() -> None:
    """Seed 002's text says ∂f/∂x = 3 (∂f/∂z's value); x reaches f through q, so it is −4."""
    text = _all_text(backprop.scalar_lesson())
    assert "∂f/∂x = 3" not in text and "∂f/∂x = ∂f/∂q · ∂q/∂x = −4 · 1 = −4" in text
    assert "f = 3 · (−4) = −12" in text and "∂f/∂z = ∂f/∂f · q = 1 · 3 = 3" in text


def test_vector_lesson_pins_seed_002() -> None:
    lesson = backprop.vector_lesson()
    r = lesson.results
    _close(r["q"], [0.22, 0.26])
    _close(r["f"], 0.116)
    _close(r["df_dq"], [0.44, 0.52])
    _close(r["df_dW"], [[0.088, 0.176], [0.104, 0.208]])
    _close(r["df_dx"], [-0.112, 0.636])
    text = _all_text(lesson)
    assert "∇W f = [[0.088, 0.176], [0.104, 0.208]]" in text
    assert "∇x f = [−0.112, 0.636]" in text and "f = 0.22² + 0.26² = 0.0484 + 0.0676 = 0.116" in text
    assert "0.1·0.44 + (−0.3)·0.52 = −0.112" in text, "the transpose: x1 feeds q2 through W21"


def test_vector_lesson_agrees_with_autograd() -> None:
    W = torch.tensor([[0.1, 0.5], [-0.3, 0.8]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.2, 0.4], dtype=torch.float64, requires_grad=True)
    (W @ x).pow(2).sum().backward()
    r = backprop.vector_lesson().results
    assert W.grad is not None and x.grad is not None
    _close(r["df_dW"], W.grad.numpy())
    _close(r["df_dx"], x.grad.numpy())


def test_slope_lesson_pins_seed_004_and_the_three_slopes_agree() -> None:
    lesson = backprop.slope_lesson()
    r = lesson.results
    _close(r["E"], 4.0)
    _close(r["dE_dw_chain"], 4.0)
    _close(r["dE_dw_calculus"], 4.0)
    _close(r["dE_dw_numeric"], 4.0, tol=1e-8)  # a central difference of a parabola: exact up to rounding
    _close(r["w_new"], 2.6)
    _close(r["E_new"], (2.6 - 1.0) ** 2)
    three = next(n for n in lesson.nodes if n.name == "three ways")
    assert three.value.shape == (3,)
    _close(three.value, [4.0, 4.0, 4.0], tol=1e-8)
    text = _all_text(lesson)
    assert "w = 3 − 0.1 · 4 = 2.6" in text and "E = 2² = 4" in text
    for way in ("numeric", "chain rule", "calculus"):
        assert way in text


def test_every_seed_node_is_filled_in() -> None:
    for lesson in backprop.seed_lessons():
        assert lesson.nodes and lesson.graph and lesson.intro and lesson.available
        for node in lesson.nodes:
            assert node.formula and node.lines()
            if node.phase == "backward" and node.upstream is not None:
                assert node.local is not None and node.product is not None


def test_backprop_module_imports_neither_torch_nor_textual() -> None:
    """The dashboard's UI process reads this module and must never load torch."""
    code = (
        "import sys, nntui.engine.backprop as b; b.seed_lessons(); "
        "bad = [m for m in ('torch', 'textual') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- against autograd


def test_every_nntui_activation_is_implemented() -> None:
    assert set(backprop.ACTIVATIONS) == set(activations.REGISTRY)


KINKS = torch.tensor([-3.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 3.0], dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(activations.REGISTRY))
def test_activation_and_its_derivative_match_autograd_at_the_kinks(name: str) -> None:
    """z = 0 and ±0.5 are the kinks (relu, leaky, elu, step, sign at 0; piecewise at ±0.5)."""
    if name == "maxout":
        # pieces (first half, second half) with ties, first winning and second winning
        z = torch.tensor([0.0, 1.0, -2.0, 0.5, 0.0, 0.5, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    else:
        z = KINKS.clone().requires_grad_(True)
    a = activations.get(name).fn(z)
    upstream = torch.linspace(0.5, 1.5, a.numel(), dtype=torch.float64)
    (a * upstream).sum().backward()
    assert z.grad is not None
    zn = z.detach().numpy()
    mine = backprop.activation_forward(name, zn)
    _same(mine, a.detach())
    spread = np.concatenate([upstream.numpy()] * 2) if name == "maxout" else upstream.numpy()
    got = spread * backprop.activation_local(name, zn, mine)
    _same(got, z.grad)


def _targets(loss: str, pred: Tensor, offset: float, cls: int) -> tuple[Tensor, FloatArray]:
    """The torch target (shaped as the trainer's) and the numpy one for the hand-written side."""
    if loss == "ce":
        return torch.tensor([cls]), np.array([float(cls)])
    if loss == "bce":
        t = float(cls % 2)
        return torch.tensor([[t]], dtype=torch.float64), np.array([t])
    # regression: near the prediction or far from it (huber's two branches, l1's sign either way)
    t = float(pred.detach().reshape(-1)[0]) + offset
    return torch.tensor([[t]], dtype=torch.float64), np.array([t])


def _weights(model: MLP) -> list[tuple[FloatArray, FloatArray | None]]:
    """What the app hands over: per layer (W, b or None) as numpy, nn.Linear's (out, in) layout."""
    return [
        (layer.weight.detach().numpy().copy(), None if layer.bias is None else layer.bias.detach().numpy().copy())
        for layer in model.layers
    ]


def _autograd_check(
    model: MLP, acts: tuple[str, ...], loss: str, x_row: FloatArray, offset: float = 0.4, cls: int = 1, lr: float = 0.05
) -> NetworkGrads:
    """Run autograd and one torch SGD step; assert the hand-written numbers match all of it."""
    model = model.double()
    weights = _weights(model)
    x = torch.from_numpy(x_row.reshape(1, -1)).double()

    # forward exactly as MLP.forward does, keeping z and a of every layer
    zs: list[Tensor] = []
    outs: list[Tensor] = []
    h = x
    for layer, act in zip(model.layers, (*acts, None)):
        z = layer(h)
        z.retain_grad()
        zs.append(z)
        h = z if act is None or act == "linear" else activations.get(act).fn(z)
        outs.append(h)
    pred = outs[-1]
    torch.testing.assert_close(pred, model(x), rtol=0, atol=0)
    y_t, y_np = _targets(loss, pred, offset, cls)
    value = loss_function(loss)(pred, y_t)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    value.backward()

    g = backprop.network_grads(weights, acts, loss, x_row, y_np, lr)
    _close(g.loss, value.item())
    _same(g.output, pred.detach()[0])
    assert len(g.layers) == len(model.layers)
    for mine, layer, z, a in zip(g.layers, model.layers, zs, outs):
        assert layer.weight.grad is not None and z.grad is not None
        _same(mine.z, z.detach()[0])
        _same(mine.a, a.detach()[0])
        _same(mine.dL_dz, z.grad[0])
        _same(mine.dW, layer.weight.grad)
        if layer.bias is None:
            assert mine.db is None and mine.b_new is None
        else:
            assert layer.bias.grad is not None and mine.db is not None
            _same(mine.db, layer.bias.grad)
    _same(g.dL_doutput, zs[-1].grad[0])  # type: ignore[index]

    optimizer.step()
    for mine, layer in zip(g.layers, model.layers):
        _same(mine.W_new, layer.weight.detach())
        if layer.bias is not None:
            assert mine.b_new is not None
            _same(mine.b_new, layer.bias.detach())
    return g


LOSS_CASES = [
    ("l1", 1, 0.4),
    ("l1", 1, -2.5),
    ("mse", 1, 0.4),
    ("huber", 1, 0.4),  # |ŷ − y| < 1: the quadratic branch
    ("huber", 1, -2.5),  # the linear branch
    ("bce", 1, 0.0),
    ("ce", 3, 0.0),
]


@pytest.mark.parametrize("act", sorted(activations.REGISTRY))
@pytest.mark.parametrize(("loss", "n_out", "offset"), LOSS_CASES)
def test_network_step_matches_autograd(act: str, loss: str, n_out: int, offset: float) -> None:
    acts = (act, act)
    model = build_mlp(3, (5, 4), acts, n_out, True, seed=7, device=CPU)
    rng = np.random.default_rng(11)
    for row in range(3):
        x = rng.normal(size=3)
        _autograd_check(model, acts, loss, x, offset=offset, cls=row % n_out)


@pytest.mark.parametrize("loss", ["l1", "mse", "huber"])
def test_network_without_bias_like_the_linreg_preset(loss: str) -> None:
    """linreg is y = w·x with bias=False and no hidden layer: one weight, one step."""
    model = build_mlp(1, (), (), 1, False, seed=3, device=CPU)
    g = _autograd_check(model, (), loss, np.array([1.7]), offset=-0.8)
    assert len(g.layers) == 1 and g.layers[0].b is None and g.layers[0].act is None


@pytest.mark.parametrize(("loss", "n_out"), [("mse", 1), ("bce", 1), ("ce", 3)])
def test_network_with_no_hidden_layer(loss: str, n_out: int) -> None:
    model = build_mlp(4, (), (), n_out, True, seed=5, device=CPU)
    _autograd_check(model, (), loss, np.array([0.3, -1.2, 0.8, 2.0]), offset=0.7, cls=2 % n_out)


def test_mixed_activations_without_bias_and_a_wide_maxout() -> None:
    acts = ("maxout", "gelu", "elu")
    model = build_mlp(2, (6, 5, 3), acts, 3, False, seed=9, device=CPU)
    _autograd_check(model, acts, "ce", np.array([0.4, -0.9]), cls=0)


@pytest.mark.parametrize("act", sorted(activations.REGISTRY))
def test_kinks_in_a_network_follow_autograd(act: str) -> None:
    """Zero first-layer weights put every hidden pre-activation exactly on a kink (z = 0, and
    z = ±0.5 for piecewise's bounds via the bias); maxout's two pieces then tie."""
    acts = (act,)
    model = build_mlp(2, (4,), acts, 1, True, seed=1, device=CPU).double()
    with torch.no_grad():
        first = model.layers[0]
        first.weight.zero_()
        assert first.bias is not None
        width = first.bias.numel()
        first.bias.copy_(torch.tensor([0.0, 0.5, -0.5, 0.0] * (width // 4), dtype=torch.float64))
    _autograd_check(model, acts, "mse", np.array([0.3, -0.6]), offset=0.9)


def test_losses_at_their_own_kinks_follow_torch() -> None:
    """l1 at ŷ = y has slope 0 (torch's sign(0)); huber at |ŷ − y| = 1 passes ±1."""
    pred = np.array([0.25])
    for loss, y, slope in (("l1", 0.25, 0.0), ("huber", 1.25, -1.0), ("huber", -0.75, 1.0)):
        p = torch.tensor([[0.25]], dtype=torch.float64, requires_grad=True)
        value = loss_function(loss)(p, torch.tensor([[y]], dtype=torch.float64))
        value.backward()
        assert p.grad is not None
        got_value, got_grad = backprop.loss_forward_backward(loss, pred, np.array([y]))
        _close(got_value, value.item())
        _close(got_grad, p.grad.numpy().ravel())
        _close(got_grad, [slope])


# ---------------------------------------------------------------------------- the network lesson


def _lecture_input(seed: int = 0) -> NetworkInput:
    model = build_mlp(1, (10, 6), ("relu", "relu"), 1, True, seed=seed, device=CPU)
    xs = np.linspace(-1.5, 1.5, 5).reshape(-1, 1)
    ys = 8 * xs**2 + 7 * xs + 3
    return NetworkInput(tuple(_weights(model)), ("relu", "relu"), "l1", 0.001, xs, ys, epoch=12)


def test_network_lesson_reads_forward_then_backward_then_the_update() -> None:
    net = _lecture_input()
    lesson = net.lesson(1)
    assert lesson.available and lesson.grads is not None
    phases = [n.phase for n in lesson.nodes]
    order = ["forward", "backward", "update"]
    assert phases == sorted(phases, key=order.index) and set(phases) == set(order)
    names = [n.name for n in lesson.nodes]
    assert names[:6] == ["x", "z¹", "a¹", "z²", "a²", "ŷ"] and names[6] == "L"
    assert names.index("∂L/∂ŷ") < names.index("∂L/∂W³, ∂L/∂b³") < names.index("∂L/∂z²") < names.index("∂L/∂z¹")
    text = _all_text(lesson)
    assert "showing 4 of 10 units" in text and "showing 4×4 of 6×10" in text
    assert "point 2 of 5 · weights from epoch 12" in lesson.intro
    # the loss node's value is the engine's, and the text carries it
    g = lesson.grads
    loss_node = next(n for n in lesson.nodes if n.name == "L")
    _close(loss_node.value, g.loss)
    assert backprop.num(g.loss) in loss_node.text


def test_network_lesson_numbers_follow_the_chosen_point() -> None:
    net = _lecture_input()
    a, b = net.lesson(0), net.lesson(3)
    assert a.grads is not None and b.grads is not None
    assert a.grads.x[0] != b.grads.x[0] and a.grads.loss != b.grads.loss
    assert _all_text(a) != _all_text(b)
    assert net.lesson(5).grads is not None and net.lesson(5).grads.x[0] == a.grads.x[0]  # type: ignore[union-attr]


def test_network_lesson_shows_a_readable_slice_of_wide_layers() -> None:
    model = build_mlp(3, (32,), ("tanh",), 1, True, seed=2, device=CPU)
    lesson = backprop.network_lesson(_weights(model), ("tanh",), "mse", np.array([0.1, 0.2, 0.3]), 0.5, 0.01)
    text = _all_text(lesson)
    assert "showing 4 of 32 units" in text and "showing 1×4 of 1×32" in text
    z1 = next(n for n in lesson.nodes if n.name == "z¹")
    assert z1.value.shape == (32,), "the node keeps the full numbers; only the text is cut"


def test_update_line_shows_the_change_even_at_a_small_learning_rate() -> None:
    line = _update_line("W[1,1]", 0.123456789, 0.5, 0.001)
    before, after = line.split(" = ")[1].split(" − ")[0], line.rsplit(" = ", 1)[1]
    assert before != after and "− 0.0005" in line
    assert "unchanged" in _update_line("b[1]", 0.25, 0.0, 0.1), "a dead unit: say so, not '+ 0'"


def test_bad_shapes_and_names_say_what_is_wrong() -> None:
    w = [(np.ones((2, 3)), np.zeros(2)), (np.ones((1, 2)), None)]
    with pytest.raises(ValueError, match="its input has 2 values"):
        backprop.network_grads(w, ("relu",), "mse", np.ones(2), 0.0, 0.1)
    with pytest.raises(ValueError, match="hidden activations"):
        backprop.network_grads(w, (), "mse", np.ones(3), 0.0, 0.1)
    with pytest.raises(ValueError, match="unknown loss"):
        backprop.network_grads(w, ("relu",), "hinge", np.ones(3), 0.0, 0.1)
    with pytest.raises(ValueError, match="class index"):
        backprop.network_grads([(np.ones((3, 2)), None)], (), "ce", np.ones(2), 3, 0.1)


def test_unavailable_lesson_says_why() -> None:
    lesson = backprop.unavailable_lesson("start or step a run first")
    assert not lesson.available and not lesson.nodes and "start or step a run first" in lesson.intro
