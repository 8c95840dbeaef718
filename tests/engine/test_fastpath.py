"""The fast path against autograd: same losses, gradients and parameters, step after step.

Each test builds two identical models (same seed); one trains with `fastpath.build_step`, the
other with the loop a user writes (zero_grad, F.<loss>, backward, [clip], step), and every
loss, gradient and parameter is compared with float32-rounding tolerances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nntui.engine import fastpath
from nntui.engine.model import MLP, build_mlp
from nntui.engine.names import ACTIVATIONS, OPTIMIZERS
from nntui.engine.optim import make_optimizer

CPU = torch.device("cpu")
LOSSES = ("l1", "mse", "huber", "bce", "ce")
LOSS_FN: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "huber": F.huber_loss,
    "bce": F.binary_cross_entropy_with_logits,
    "ce": F.cross_entropy,
}
# Float32 rounding, not "close enough": float32's epsilon is 1.19e-7.
TOL: dict[str, float] = {"rtol": 1e-6, "atol": 1e-8}
N_CLASSES = 3


def data(loss: str, n: int = 48, n_in: int = 2, seed: int = 1) -> tuple[Tensor, Tensor]:
    """Inputs and targets shaped as the trainer hands them over for this loss."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=gen) * 2
    if loss == "ce":
        return x, torch.randint(0, N_CLASSES, (n,), generator=gen)
    if loss == "bce":
        return x, torch.randint(0, 2, (n, 1), generator=gen).float()
    return x, (x.sum(1, keepdim=True) ** 2 + torch.randn(n, 1, generator=gen)) / 4


class Pair:
    """Two identical models and optimizers: `fast` trains with the fast path, `ref` with autograd."""

    def __init__(
        self,
        loss: str,
        hidden: tuple[int, ...] = (5, 4),
        acts: tuple[str, ...] = ("relu", "relu"),
        optimizer: str = "sgd",
        lr: float = 0.05,
        bias: bool = True,
        clip: float = 0.0,
        n_in: int = 2,
    ) -> None:
        n_out = N_CLASSES if loss == "ce" else 1
        self.loss, self.clip = loss, clip
        self.fast = build_mlp(n_in, hidden, acts, n_out, bias, 7, CPU)
        self.ref = build_mlp(n_in, hidden, acts, n_out, bias, 7, CPU)
        self.fast_opt = make_optimizer(optimizer, self.fast.parameters(), lr)
        self.ref_opt = make_optimizer(optimizer, self.ref.parameters(), lr)
        step = fastpath.build_step(self.fast, loss, self.fast_opt, clip)
        assert step is not None, f"no fast path for {acts} / {loss} / {optimizer}"
        self.step = step

    def ref_step(self, x: Tensor, y: Tensor) -> Tensor:
        self.ref_opt.zero_grad()
        loss = LOSS_FN[self.loss](self.ref(x), y)
        loss.backward()
        if self.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.ref.parameters(), self.clip)
        self.ref_opt.step()
        return loss.detach()

    def both(self, x: Tensor, y: Tensor) -> None:
        """One step of each; losses and gradients must agree."""
        fast_loss = self.step(x, y)
        ref_loss = self.ref_step(x, y)
        torch.testing.assert_close(fast_loss, ref_loss, **TOL)
        self.assert_grads()

    def assert_grads(self) -> None:
        for (name, p), q in zip(self.fast.named_parameters(), self.ref.parameters(), strict=True):
            assert p.grad is not None and q.grad is not None
            torch.testing.assert_close(p.grad, q.grad, **TOL, msg=lambda m, name=name: f"grad of {name}: {m}")

    def assert_params(self) -> None:
        for (name, p), q in zip(self.fast.named_parameters(), self.ref.parameters(), strict=True):
            torch.testing.assert_close(p.detach(), q.detach(), **TOL, msg=lambda m, name=name: f"{name}: {m}")


# ----------------------------------------------------------------------------- every combination


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_matches_autograd(act: str, loss: str, optimizer: str) -> None:
    """Every activation (in both hidden layers) x loss x optimizer: 4 steps, everything compared."""
    pair = Pair(loss, acts=(act, act), optimizer=optimizer, lr=0.02)
    x, y = data(loss)
    for _ in range(4):
        pair.both(x, y)
        pair.assert_params()
    if act not in ("step", "sign"):
        # The run must move the first layer, or the comparison above proved little.
        first = build_mlp(2, (5, 4), (act, act), pair.fast.layers[-1].out_features, True, 7, CPU).layers[0].weight
        assert not torch.equal(pair.fast.layers[0].weight.detach(), first.detach())


@pytest.mark.parametrize("loss", LOSSES)
def test_no_hidden_layers(loss: str) -> None:
    """hidden=(): one Linear, the input's gradient never needed."""
    pair = Pair(loss, hidden=(), acts=(), optimizer="momentum", lr=0.05)
    x, y = data(loss)
    for _ in range(5):
        pair.both(x, y)
    pair.assert_params()


@pytest.mark.parametrize(("act", "loss"), [("relu", "l1"), ("maxout", "mse"), ("tanh", "ce"), ("linear", "bce")])
@pytest.mark.parametrize("hidden", [(), (6,), (5, 4, 3)])
def test_without_bias(act: str, loss: str, hidden: tuple[int, ...]) -> None:
    pair = Pair(loss, hidden=hidden, acts=(act,) * len(hidden), optimizer="adam", lr=0.01, bias=False)
    assert all(layer.bias is None for layer in pair.fast.layers)
    x, y = data(loss)
    for _ in range(4):
        pair.both(x, y)
    pair.assert_params()


def test_mixed_activations_and_depth() -> None:
    """Each layer its own activation, maxout between others: buffers of different widths line up."""
    acts = ("maxout", "gelu", "linear", "piecewise", "maxout")
    pair = Pair("ce", hidden=(6, 5, 4, 7, 3), acts=acts, optimizer="rmsprop", lr=0.01, n_in=3)
    x, y = data("ce", n=40, n_in=3)
    for _ in range(4):
        pair.both(x, y)
    pair.assert_params()


# ----------------------------------------------------------------------------- kinks and ties


def _at_kinks(model: MLP, act: str) -> None:
    """Weights that put pre-activations exactly on the activation's kink for rows with x = 0."""
    with torch.no_grad():
        for layer in model.layers[:-1]:
            assert layer.bias is not None
            if act == "piecewise":
                # z + 0.5 lands on both bounds of the clamp: s = 0 and s = 1.
                layer.bias.copy_(torch.tensor([-0.5, 0.5]).repeat(layer.out_features)[: layer.out_features])
            else:
                layer.bias.zero_()
            if act == "maxout":
                # Both pieces identical: every unit is a tie, which where() gives to the first piece.
                k = layer.out_features // 2
                layer.weight[k:] = layer.weight[:k]
                layer.bias[k:] = layer.bias[:k]


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "elu", "piecewise", "maxout", "step", "sign", "gelu"])
@pytest.mark.parametrize("loss", ["l1", "huber"])
def test_subgradients_at_kinks(act: str, loss: str) -> None:
    """Autograd's conventions where the derivative is undefined: relu'(0) = 0, leaky'(0) = 0.1,
    clamp passes the gradient at its bounds, l1'(0) = 0, maxout ties go to the first piece."""
    pair = Pair(loss, hidden=(4, 4), acts=(act, act), optimizer="sgd", lr=0.05)
    _at_kinks(pair.fast, act)
    _at_kinks(pair.ref, act)
    x, _ = data(loss, n=32)
    x[:12] = 0.0  # every hidden pre-activation of these rows is exactly its bias
    with torch.no_grad():
        y = pair.ref(x)
    y[:12] += 1.5  # the x = 0 rows have an error, so a gradient reaches their kinks
    y[20:] -= 1.5  # rows 12-19 have exactly zero error: the l1 kink
    pair.both(x, y)
    pair.assert_params()


# ----------------------------------------------------------------------------- clipping, batches, lr


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("clip", [0.05, 1e4])
def test_clip_grad(optimizer: str, clip: float) -> None:
    """The same result as clip_grad_norm_, whether it clips (0.05) or not (1e4)."""
    pair = Pair("mse", hidden=(8, 6), acts=("tanh", "relu"), optimizer=optimizer, lr=0.02, clip=clip)
    x, y = data("mse")
    for _ in range(4):
        pair.both(x, y)
    pair.assert_params()
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in pair.fast.parameters()]))  # type: ignore[union-attr]
    if clip < 1:
        assert norm <= clip * 1.0001  # it did clip
    else:
        assert norm > 0.05  # the big limit left the gradient alone


@pytest.mark.parametrize("loss", LOSSES)
def test_changing_batch_size(loss: str) -> None:
    """Mini-batches of several sizes, the last one short, then the full batch again."""
    pair = Pair(loss, hidden=(6, 5), acts=("silu", "maxout"), optimizer="momentum", lr=0.05)
    x, y = data(loss, n=50)
    for start, stop in [(0, 16), (16, 32), (32, 48), (48, 50), (0, 50), (3, 19), (0, 1)]:
        pair.both(x[start:stop], y[start:stop])
    pair.assert_params()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_learning_rate_change(optimizer: str) -> None:
    """Setting param_groups[0]['lr'] between steps applies at the next step."""
    pair = Pair("l1", hidden=(10, 6), acts=("relu", "linear"), optimizer=optimizer, lr=0.001)
    x, y = data("l1")
    pair.both(x, y)
    for lr in (0.1, 0.0, 0.03):
        before = [p.detach().clone() for p in pair.fast.parameters()]
        for opt in (pair.fast_opt, pair.ref_opt):
            opt.param_groups[0]["lr"] = lr
        pair.both(x, y)
        pair.assert_params()
        moved = any(not torch.equal(b, p) for b, p in zip(before, pair.fast.parameters(), strict=True))
        assert moved == (lr > 0)


def test_plain_sgd_update_is_exact_and_follows_lr() -> None:
    """Plain SGD's update: p - lr * grad, the same bits as torch.optim.SGD, lr read each step."""
    pair = Pair("l1", hidden=(10, 6), acts=("relu", "linear"), optimizer="sgd", lr=0.001, n_in=1)
    x, y = data("l1", n=200, n_in=1)
    for lr in (0.001, 0.25, 0.001):
        for opt in (pair.fast_opt, pair.ref_opt):
            opt.param_groups[0]["lr"] = lr
        before = [p.detach().clone() for p in pair.fast.parameters()]
        pair.both(x, y)
        for b, p in zip(before, pair.fast.parameters(), strict=True):
            assert p.grad is not None
            assert torch.equal(p.detach(), b.add(p.grad, alpha=-lr))
        for p, q in zip(pair.fast.parameters(), pair.ref.parameters(), strict=True):
            assert torch.equal(p, q)


def test_state_dict_round_trip_keeps_working() -> None:
    """load_state_dict replaces the param groups: later lr changes must still reach the step."""
    for optimizer in OPTIMIZERS:
        pair = Pair("mse", optimizer=optimizer, lr=0.01)
        x, y = data("mse")
        pair.both(x, y)
        pair.both(x, y)
        for opt in (pair.fast_opt, pair.ref_opt):
            opt.load_state_dict(opt.state_dict())
            opt.param_groups[0]["lr"] = 0.05
        for _ in range(3):
            pair.both(x, y)
        pair.assert_params()
        fast_state, ref_state = pair.fast_opt.state_dict()["state"], pair.ref_opt.state_dict()["state"]
        for key, values in ref_state.items():
            for name, value in values.items():
                torch.testing.assert_close(fast_state[key][name], value, **TOL)


# ----------------------------------------------------------------------------- the step's contract


def test_lecture_workload_is_bitwise_identical() -> None:
    """The lecture's model, loss and optimizer: on the CPU the fast path runs autograd's own kernels."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1000, 1, generator=gen) * 30 - 15
    y = 8 * x**2 + 7 * x + 3 + torch.randn(1000, 1, generator=gen)
    pair = Pair("l1", hidden=(10, 6), acts=("relu", "linear"), optimizer="sgd", lr=0.001, n_in=1)
    for _ in range(30):
        assert torch.equal(pair.step(x, y), pair.ref_step(x, y))
    for p, q in zip(pair.fast.parameters(), pair.ref.parameters(), strict=True):
        assert torch.equal(p, q) and torch.equal(p.grad, q.grad)  # type: ignore[arg-type]


def test_returns_detached_fresh_loss() -> None:
    """The trainer keeps every step's loss tensor and stacks them later: each must be its own."""
    pair = Pair("mse")
    x, y = data("mse")
    first, second = pair.step(x, y), pair.step(x, y)
    assert first.shape == () and not first.requires_grad and first.device == x.device
    assert first.data_ptr() != second.data_ptr()
    assert not torch.equal(first, second)


def test_gradients_live_in_place() -> None:
    """`.grad` is allocated once and overwritten; a zero_grad(set_to_none=True) in between is survived."""
    pair = Pair("huber", optimizer="momentum")
    x, y = data("huber")
    pair.both(x, y)
    grads = [p.grad for p in pair.fast.parameters()]
    pair.both(x, y)
    assert all(p.grad is g for p, g in zip(pair.fast.parameters(), grads, strict=True))
    pair.fast_opt.zero_grad(set_to_none=True)
    pair.both(x, y)  # the momentum optimizer would skip parameters whose .grad is None
    pair.assert_params()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_no_host_reads_inside_step(monkeypatch: pytest.MonkeyPatch, optimizer: str) -> None:
    """No .item(), .tolist(), float() or `if tensor:` in a step: each is a host-device sync on a GPU.

    (Adam's bias correction too: nntui.engine.optim counts steps in Python, not in a tensor.)
    """
    pair = Pair("l1", optimizer=optimizer, clip=0.1)
    x, y = data("l1")
    pair.step(x, y)  # buffers for this batch size exist now

    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("host read inside step")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    for _ in range(3):
        pair.step(x, y)
    monkeypatch.undo()
    for _ in range(4):
        pair.ref_step(x, y)
    pair.assert_params()


def test_tolerance_catches_a_rounding_sized_error() -> None:
    """The comparison itself can fail: one gradient off by 2.5 millionths (~20 float32 ulps) is caught."""
    pair = Pair("mse", optimizer="sgd")
    x, y = data("mse")
    pair.both(x, y)
    w = pair.fast.layers[0].weight.grad
    assert w is not None and w.abs().max() > 1e-2  # so that rtol, not atol, decides
    w.view(-1)[w.abs().argmax()] *= 1 + 2.5e-6
    with pytest.raises(AssertionError):
        pair.assert_grads()


def test_wrong_target_shape_is_refused() -> None:
    pair = Pair("mse")
    x, y = data("mse")
    with pytest.raises(ValueError, match="needs y of shape"):
        pair.step(x, y[:, 0])
    with pytest.raises(ValueError, match="x must be"):
        pair.step(x[:, :1], y)


def test_none_where_there_is_no_fast_path() -> None:
    """Anything the fast path cannot honour falls back to autograd (None), never runs wrongly."""
    model = build_mlp(2, (4,), ("relu",), 1, True, 0, CPU)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert fastpath.build_step(model, "auto", opt) is None  # unresolved loss
    assert fastpath.build_step(model, "nll", opt) is None
    seq = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    assert fastpath.build_step(seq, "mse", torch.optim.SGD(seq.parameters(), lr=0.1)) is None  # type: ignore[arg-type]

    odd = build_mlp(2, (4,), ("relu",), 1, True, 0, CPU)
    odd.acts = ("swish",)  # an activation the fast path does not know
    assert fastpath.build_step(odd, "mse", torch.optim.SGD(odd.parameters(), lr=0.1)) is None

    frozen = build_mlp(2, (4,), ("relu",), 1, True, 0, CPU)
    frozen.layers[0].weight.requires_grad_(False)
    assert fastpath.build_step(frozen, "mse", torch.optim.SGD(frozen.parameters(), lr=0.1)) is None

    hooked = build_mlp(2, (4,), ("relu",), 1, True, 0, CPU)
    hooked.layers[1].register_forward_hook(lambda module, args, out: out * 2)
    assert fastpath.build_step(hooked, "mse", torch.optim.SGD(hooked.parameters(), lr=0.1)) is None

    double = build_mlp(2, (4,), ("relu",), 1, True, 0, CPU).double()  # float64 is fine
    assert fastpath.build_step(double, "mse", torch.optim.SGD(double.parameters(), lr=0.1)) is not None


def test_sgd_with_settings_or_a_wrapped_step_uses_the_real_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weight decay set later, or a step wrapped after build_step (as an LR scheduler or a
    profiler does), goes through optimizer.step() and still matches."""
    pair = Pair("mse", optimizer="sgd", lr=0.05)
    x, y = data("mse")
    pair.both(x, y)
    for opt in (pair.fast_opt, pair.ref_opt):
        opt.param_groups[0]["weight_decay"] = 0.1
    pair.both(x, y)
    pair.assert_params()
    calls: list[int] = []
    step = pair.fast_opt.step

    def counted() -> None:
        step()
        calls.append(1)

    monkeypatch.setattr(pair.fast_opt, "step", counted)
    pair.both(x, y)
    assert calls == [1]
    pair.assert_params()
