"""nntui.engine.optim against torch.optim: the same parameters, bit for bit, step after step.

What was found (torch 2.13, CPU): torch.optim's default for CPU tensors is its for-loop
("single tensor") implementation, and ``foreach=True`` runs ``_foreach_*`` ops whose CPU
kernels loop over the same per-tensor kernels. Ours issues the same kernels in the same
order, with the same Python-float scalars (Adam's bias correction included), so it agrees
with both to the bit, for all four optimizers, float32 and float64, with lr changes, weight
decay and skipped parameters. Every comparison here is therefore ``torch.equal``, no
tolerance. (On CUDA the foreach kernels fuse and may round differently; not tested here.)
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from nntui.engine import optim
from nntui.engine.config import TrainConfig
from nntui.engine.errors import CheckpointError, ConfigError
from nntui.engine.model import MLP, build_mlp
from nntui.engine.names import OPTIMIZERS
from nntui.engine.optim import make_optimizer

CPU = torch.device("cpu")
REPO = Path(__file__).resolve().parents[2]
STEPS = 50


def torch_optimizer(
    name: str, params: Iterable[Tensor], lr: float, foreach: bool | None = None
) -> torch.optim.Optimizer:
    """What the engine built before nntui.engine.optim (trainer.make_optimizer with torch.optim)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, foreach=foreach)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=foreach)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=foreach)
    assert name == "rmsprop"
    return torch.optim.RMSprop(params, lr=lr, foreach=foreach)


def lecture_data(n: int = 1000, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The lecture's problem: y = 8x² + 7x + 3 + noise on [-15, 15]."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, generator=gen, dtype=dtype) * 30 - 15
    y = 8 * x**2 + 7 * x + 3 + torch.randn(n, 1, generator=gen, dtype=dtype)
    return x, y


def lecture_model(seed: int = 3) -> MLP:
    return build_mlp(1, (10, 6), ("relu", "linear"), 1, True, seed, CPU)


def backward(model: MLP, x: Tensor, y: Tensor, loss: Callable[[Tensor, Tensor], Tensor] = F.l1_loss) -> None:
    loss(model(x), y).backward()


def autograd_step(model: MLP, opt: Any, x: Tensor, y: Tensor) -> None:
    opt.zero_grad()
    backward(model, x, y)
    opt.step()


def set_lr(lr: float, *opts: Any) -> None:
    for opt in opts:
        opt.param_groups[0]["lr"] = lr


def assert_same_params(ours: MLP, ref: MLP, when: str = "") -> None:
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q), f"{name} differs {when}: max |diff| {(p - q).abs().max().item():.3g}"


def assert_same_state(ours: dict[str, Any], ref: dict[str, Any]) -> None:
    """The same entries, names in the same order, equal tensors of the same dtype and device."""
    assert sorted(ours["state"]) == sorted(ref["state"])
    for key, entry in ref["state"].items():
        assert list(ours["state"][key]) == list(entry), f"state names of parameter {key}"
        for name, value in entry.items():
            mine = ours["state"][key][name]
            assert (mine.dtype, mine.device, mine.shape) == (value.dtype, value.device, value.shape), name
            assert torch.equal(mine, value), f"{name} of parameter {key}"
    (group,), (ref_group,) = ours["param_groups"], ref["param_groups"]
    assert list(group)[-1] == "params" and group["params"] == ref_group["params"]
    for key, value in group.items():
        assert ref_group[key] == value, f"param group {key}: ours {value!r}, torch {ref_group[key]!r}"


# ----------------------------------------------------------------------------- the same numbers


@pytest.mark.parametrize("foreach", [None, True], ids=["torch-default", "torch-foreach"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_bit_for_bit(name: str, foreach: bool | None) -> None:
    """The lecture model, full batch, 50 steps with the lr changed twice: equal after every step."""
    x, y = lecture_data()
    ours_model, ref_model = lecture_model(), lecture_model()
    start = [p.detach().clone() for p in ours_model.parameters()]
    ours, ref = (
        make_optimizer(name, ours_model.parameters(), 0.01),
        torch_optimizer(name, ref_model.parameters(), 0.01, foreach),
    )
    for step in range(STEPS):
        if step == 20:
            set_lr(0.003, ours, ref)
        elif step == 35:
            set_lr(0.02, ours, ref)
        autograd_step(ours_model, ours, x, y)
        autograd_step(ref_model, ref, x, y)
        assert_same_params(ours_model, ref_model, f"after step {step + 1}")
    assert all(not torch.equal(a, p) for a, p in zip(start, ours_model.parameters()))  # it trained
    assert_same_state(ours.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_float64_mini_batches_and_weight_decay(name: str) -> None:
    """Another shape and dtype: float64, three layers, mini-batches of several sizes; weight
    decay switched on half-way (the group is read on every step)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(90, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (90,), generator=gen)
    models = [build_mlp(3, (7, 5), ("tanh", "gelu"), 4, True, 11, CPU).double() for _ in range(2)]
    ours, ref = make_optimizer(name, models[0].parameters(), 0.05), torch_optimizer(name, models[1].parameters(), 0.05)
    opts: tuple[Any, Any] = (ours, ref)
    for step in range(STEPS):
        if step == 25:
            for opt in (ours, ref):
                opt.param_groups[0]["weight_decay"] = 0.01
        rows = slice((step * 32) % 90, (step * 32) % 90 + 32)  # 32, 32, 26, ... rows
        for model, opt in zip(models, opts):
            opt.zero_grad()
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
        assert_same_params(models[0], models[1], f"after step {step + 1}")
    assert_same_state(ours.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_parameters_without_grad_are_skipped_like_torch(name: str) -> None:
    """A parameter whose .grad is None is not touched: no state, no step counted (Adam's bias
    correction then differs per parameter, as in torch), and it never gets state if it never
    has a gradient."""
    x, y = lecture_data(200)
    models = [lecture_model(), lecture_model()]
    opts: list[Any] = [
        make_optimizer(name, models[0].parameters(), 0.01),
        torch_optimizer(name, models[1].parameters(), 0.01),
    ]
    opts[0].step()  # no gradients at all yet: nothing happens
    assert opts[0].state_dict()["state"] == {}
    for step in range(30):
        for model, opt in zip(models, opts):
            opt.zero_grad()
            backward(model, x, y)
            model.layers[0].bias.grad = None  # never a gradient
            if step % 3 == 0:
                model.layers[-1].weight.grad = None  # a gradient two steps in three
            opt.step()
        assert_same_params(models[0], models[1], f"after step {step + 1}")
    state = opts[0].state_dict()["state"]
    assert 1 not in state  # layers[0].bias is parameter 1
    assert_same_state(opts[0].state_dict(), opts[1].state_dict())
    if name in ("adam", "rmsprop"):
        assert state[4]["step"].item() == 20 and state[0]["step"].item() == 30


# ----------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip(name: str) -> None:
    """A state dict of ours, loaded into a fresh optimizer (other lr) of a copied model, continues exactly."""
    x, y = lecture_data()
    model = lecture_model()
    opt = make_optimizer(name, model.parameters(), 0.01)
    for _ in range(10):
        autograd_step(model, opt, x, y)
    saved = copy.deepcopy(opt.state_dict())
    twin = copy.deepcopy(model)
    twin_opt = make_optimizer(name, twin.parameters(), 0.5)
    twin_opt.load_state_dict(saved)
    assert_same_state(twin_opt.state_dict(), opt.state_dict())
    for step in range(15):
        if step == 7:
            set_lr(0.004, opt, twin_opt)
        autograd_step(model, opt, x, y)
        autograd_step(twin, twin_opt, x, y)
    assert_same_params(twin, model)
    assert_same_state(twin_opt.state_dict(), opt.state_dict())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_torch_state_dict_loads_and_continues(name: str) -> None:
    """A run trained with torch.optim, resumed with ours, matches torch resuming it."""
    x, y = lecture_data()
    ref_model = lecture_model()
    ref = torch_optimizer(name, ref_model.parameters(), 0.01)
    for _ in range(10):
        autograd_step(ref_model, ref, x, y)
    model = copy.deepcopy(ref_model)
    ours = make_optimizer(name, model.parameters(), 0.01)
    ours.load_state_dict(copy.deepcopy(ref.state_dict()))
    for step in range(20):
        if step == 10:
            set_lr(0.002, ours, ref)
        autograd_step(model, ours, x, y)
        autograd_step(ref_model, ref, x, y)
        assert_same_params(model, ref_model, f"after step {step + 1}")
    assert_same_state(ours.state_dict(), ref.state_dict())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_our_state_dict_loads_into_torch(name: str) -> None:
    """And the other way: torch.optim takes our state dict (its missing flags get torch's defaults)."""
    x, y = lecture_data()
    model = lecture_model()
    ours = make_optimizer(name, model.parameters(), 0.01)
    for _ in range(10):
        autograd_step(model, ours, x, y)
    ref_model = copy.deepcopy(model)
    ref = torch_optimizer(name, ref_model.parameters(), 0.01)
    ref.load_state_dict(copy.deepcopy(ours.state_dict()))
    for _ in range(10):
        autograd_step(model, ours, x, y)
        autograd_step(ref_model, ref, x, y)
    assert_same_params(model, ref_model)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_checkpoint_file_written_with_torch_optim_resumes(name: str, tmp_path: Path) -> None:
    """Through the safetensors checkpoint (one tensor per state entry, param groups as JSON):
    a file written by the torch.optim engine resumes with ours, and ours writes files that
    resume the same way."""
    from nntui.engine.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    x, y = lecture_data()
    ref_model = lecture_model()
    ref = torch_optimizer(name, ref_model.parameters(), 0.01)
    for _ in range(10):
        autograd_step(ref_model, ref, x, y)
    names = [n for n, _ in ref_model.named_parameters()]

    def save(rundir: Path, model: MLP, opt: Any) -> None:
        rundir.mkdir()
        weights = {n: p.detach().clone() for n, p in model.named_parameters()}
        save_checkpoint(rundir, Checkpoint(10, weights, opt.state_dict(), None, 0.01), TrainConfig(optimizer=name))

    def resume(rundir: Path) -> tuple[MLP, optim.Optimizer]:
        _, ck = load_checkpoint(rundir)
        model = lecture_model(seed=99)  # other weights: everything must come from the file
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(ck.model_state[n])
        opt = make_optimizer(name, model.parameters(), ck.lr)
        opt.load_state_dict(ck.optimizer_state)
        return model, opt

    save(tmp_path / "torch", ref_model, ref)
    model, ours = resume(tmp_path / "torch")
    assert [n for n, _ in model.named_parameters()] == names
    for _ in range(10):
        autograd_step(model, ours, x, y)
        autograd_step(ref_model, ref, x, y)
    assert_same_params(model, ref_model)

    save(tmp_path / "ours", model, ours)
    again, again_opt = resume(tmp_path / "ours")
    for _ in range(10):
        autograd_step(again, again_opt, x, y)
        autograd_step(ref_model, ref, x, y)
    assert_same_params(again, ref_model)
    assert_same_state(again_opt.state_dict(), ref.state_dict())


def test_state_dicts_that_do_not_fit_are_refused_whole() -> None:
    """Another parameter count, shape, optimizer or a setting we do not implement: CheckpointError, nothing changed."""
    x, y = lecture_data(100)
    model = lecture_model()
    adam = make_optimizer("adam", model.parameters(), 0.01)
    autograd_step(model, adam, x, y)
    good = adam.state_dict()
    before = copy.deepcopy(good)

    def refused(state_dict: dict[str, Any], match: str, opt: optim.Optimizer = adam) -> None:
        with pytest.raises(CheckpointError, match=match):
            opt.load_state_dict(state_dict)
        assert_same_state(adam.state_dict(), before)

    fewer = copy.deepcopy(good)
    fewer["param_groups"][0]["params"] = fewer["param_groups"][0]["params"][:-1]
    refused(fewer, "for 5 parameters; this model has 6")
    refused({**good, "param_groups": good["param_groups"] * 2}, "2 parameter groups")
    amsgrad = copy.deepcopy(good)
    amsgrad["param_groups"][0]["amsgrad"] = True
    refused(amsgrad, "amsgrad=True")
    shape = copy.deepcopy(good)
    shape["state"][0]["exp_avg"] = torch.zeros(3, 3)
    refused(shape, r"'exp_avg' \(3, 3\) of parameter 0")
    partial = copy.deepcopy(good)
    del partial["state"][2]["exp_avg_sq"]
    refused(partial, "parameter 2 lacks some of step, exp_avg, exp_avg_sq")
    stray = copy.deepcopy(good)
    stray["state"][17] = stray["state"][0]
    refused(stray, "parameter 17")
    refused(good, "does not fit SGD", opt=make_optimizer("momentum", model.parameters(), 0.01))  # Adam's state into SGD
    nesterov = make_optimizer("momentum", model.parameters(), 0.01).state_dict()
    nesterov["param_groups"][0]["nesterov"] = True
    with pytest.raises(CheckpointError, match="nesterov=True"):
        make_optimizer("momentum", model.parameters(), 0.01).load_state_dict(nesterov)


def test_old_torch_plain_sgd_state_loads() -> None:
    """Older torch kept {"momentum_buffer": None} per parameter for plain SGD; that is no state."""
    model = lecture_model()
    opt = make_optimizer("sgd", model.parameters(), 0.1)
    opt.load_state_dict(
        {
            "state": {i: {"momentum_buffer": None} for i in range(6)},
            "param_groups": [{"lr": 0.2, "params": list(range(6))}],
        }
    )
    assert opt.state_dict()["state"] == {} and opt.param_groups[0]["lr"] == 0.2


# ----------------------------------------------------------------------------- the rest of the interface


def test_make_optimizer_names_and_settings() -> None:
    """The config's names, torch's default hyper-parameters under torch's keys, a ConfigError otherwise."""
    for name in OPTIMIZERS:
        ours = make_optimizer(name, lecture_model().parameters(), 0.02)
        ref = torch_optimizer(name, lecture_model().parameters(), 0.02)
        group, ref_group = ours.param_groups[0], ref.param_groups[0]
        assert len(ours.param_groups) == 1 and group["lr"] == 0.02
        assert {k: v for k, v in group.items() if k != "params"} == {k: ref_group[k] for k in group if k != "params"}
    assert make_optimizer("momentum", lecture_model().parameters(), 0.1).param_groups[0]["momentum"] == 0.9
    with pytest.raises(ConfigError, match="choose sgd, momentum, adam or rmsprop") as info:
        make_optimizer("adamw", lecture_model().parameters(), 0.1)
    assert info.value.field == "optimizer" and info.value.value == "adamw"
    with pytest.raises(ValueError, match="empty parameter list"):
        make_optimizer("sgd", [], 0.1)
    with pytest.raises(ValueError, match="learning rate"):
        make_optimizer("sgd", lecture_model().parameters(), -1.0)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_zero_grad(name: str) -> None:
    """Default: the gradients become None (torch's default); set_to_none=False zeroes them in place."""
    x, y = lecture_data(100)
    model = lecture_model()
    opt = make_optimizer(name, model.parameters(), 0.01)
    backward(model, x, y)
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(model.parameters(), grads):
        assert p.grad is g and g is not None and not g.any()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    opt.zero_grad(set_to_none=False)  # nothing to zero: fine
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_step_never_reads_a_tensor_back(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .item(), float(), `if tensor` in step (each is a host-device sync on a GPU), first step included."""
    x, y = lecture_data(100)
    model = lecture_model()
    opt = make_optimizer(name, model.parameters(), 0.01)
    opt.param_groups[0]["weight_decay"] = 0.01
    backward(model, x, y)

    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("host read inside step")

    for attr in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy"):
        monkeypatch.setattr(Tensor, attr, host_read)
    for _ in range(3):
        opt.step()
    monkeypatch.undo()
    assert model.layers[0].weight.grad is not None


def test_a_fresh_process_never_imports_dynamo() -> None:
    """The point of this module: building and stepping every optimizer (autograd and the fast
    path), state dicts included, leaves torch._dynamo unimported (torch.optim imports it)."""
    code = textwrap.dedent(
        """
        import sys
        import torch
        import torch.nn.functional as F
        from nntui.engine import fastpath
        from nntui.engine.model import build_mlp
        from nntui.engine.names import OPTIMIZERS
        from nntui.engine.optim import make_optimizer

        x = torch.randn(64, 1)
        y = x * 3
        for name in OPTIMIZERS:
            for fast in (False, True):
                model = build_mlp(1, (10, 6), ("relu", "linear"), 1, True, 0, torch.device("cpu"))
                opt = make_optimizer(name, model.parameters(), 0.01)
                step = fastpath.build_step(model, "l1", opt, 1.0) if fast else None
                for _ in range(3):
                    if step is not None:
                        step(x, y)
                    else:
                        opt.zero_grad()
                        F.l1_loss(model(x), y).backward()
                        opt.step()
                opt.load_state_dict(opt.state_dict())
                opt.zero_grad(set_to_none=False)
        assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
